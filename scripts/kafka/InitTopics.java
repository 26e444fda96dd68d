// Creates the Kafka topics of every flow in config/flows.json in one JVM and one admin client
// (starting a CLI JVM per topic would take ~1 s each). Run by scripts/init_topics.sh with Java's
// source launcher against Kafka's own jars, which also provide Jackson for the JSON.
//
// Per flow <id>: <id>-in, <id>-resume, <id>-status (compacted), <id>-out, <id>-dlq, unless the
// flow names its own mainTopic/triggerTopic/statusTopic/outputTopic/dlqTopic, plus the buffer
// store's changelog <applicationId>-<id>-buffer-changelog (compacted, as many partitions as -in).
// Existing topics are left alone. Exit 1 when a flow's -in and -resume (or changelog) partition
// counts differ, because the pause layer relies on a key landing on the same partition number
// in each.
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.File;
import java.util.*;
import java.util.concurrent.ExecutionException;
import org.apache.kafka.clients.admin.*;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.config.TopicConfig;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.errors.UnknownTopicOrPartitionException;

public class InitTopics {
  record Topic(String flow, String name, int partitions, boolean compact) {}

  public static void main(String[] args) throws Exception {
    String bootstrap = "127.0.0.1:9092", configPath = "config/flows.json";
    Integer partitionsOverride = null;
    // Empty: the broker's default.replication.factor / min.insync.replicas.
    Optional<Short> replication = Optional.empty();
    String minInsync = null;
    for (int i = 0; i < args.length; i++) {
      switch (args[i]) {
        case "--bootstrap-server" -> bootstrap = args[++i];
        case "--config" -> configPath = args[++i];
        case "--partitions" -> partitionsOverride = Integer.valueOf(args[++i]);
        case "--replication-factor" -> replication = Optional.of(Short.valueOf(args[++i]));
        case "--min-insync-replicas" -> minInsync = args[++i];
        default -> throw new IllegalArgumentException("unknown argument " + args[i]);
      }
    }

    JsonNode root = new ObjectMapper().readTree(new File(configPath));
    // Same default as the service (backend/src/config/config.ts).
    String appId = root.path("applicationId").asText("event-pause");
    if (appId.isEmpty()) fail(configPath + ": applicationId must not be empty");
    int defaultPartitions = root.path("partitions").asInt(6);

    // Topic names per flow, in the order in, resume, status, out, dlq, changelog.
    Map<String, List<String>> names = new LinkedHashMap<>();
    Map<String, Integer> configured = new HashMap<>();
    for (JsonNode flow : root.path("flows")) {
      String id = flow.path("id").asText("");
      if (id.isEmpty() || names.containsKey(id)) fail(configPath + ": flow id missing or repeated: '" + id + "'");
      configured.put(id, partitionsOverride != null ? partitionsOverride : flow.path("partitions").asInt(defaultPartitions));
      names.put(id, List.of(flow.path("mainTopic").asText(id + "-in"), flow.path("triggerTopic").asText(id + "-resume"),
          flow.path("statusTopic").asText(id + "-status"), flow.path("outputTopic").asText(id + "-out"),
          flow.path("dlqTopic").asText(id + "-dlq"), appId + "-" + id + "-buffer-changelog"));
    }
    Properties props = new Properties();
    props.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
    props.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "30000");
    props.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, "10000");
    props.put(AdminClientConfig.CLIENT_ID_CONFIG, "init-topics");
    boolean ok = true;
    int created = 0, existed = 0;
    try (Admin admin = Admin.create(props)) {
      Set<String> existing = new HashSet<>(admin.listTopics().names().get());
      Set<String> wanted = new LinkedHashSet<>();
      names.values().forEach(wanted::addAll);
      existing.retainAll(wanted);
      Map<String, Integer> before = partitionCounts(admin, existing);

      List<Topic> topics = new ArrayList<>();
      names.forEach((id, t) -> {
        int n = configured.get(id);
        for (int i = 0; i < 5; i++) topics.add(new Topic(id, t.get(i), n, i == 2));
        // The changelog must follow the input topic as it actually is, not as configured.
        topics.add(new Topic(id, t.get(5), before.getOrDefault(t.get(0), n), true));
      });

      // One CreateTopics request for every missing topic (a name shared by two flows once).
      Map<String, NewTopic> toCreate = new LinkedHashMap<>();
      for (Topic t : topics) {
        if (existing.contains(t.name()) || toCreate.containsKey(t.name())) continue;
        NewTopic nt = new NewTopic(t.name(), Optional.of(t.partitions()), replication);
        Map<String, String> configs = new HashMap<>();
        if (t.compact()) configs.put(TopicConfig.CLEANUP_POLICY_CONFIG, TopicConfig.CLEANUP_POLICY_COMPACT);
        if (minInsync != null) configs.put(TopicConfig.MIN_IN_SYNC_REPLICAS_CONFIG, minInsync);
        nt.configs(configs);
        toCreate.put(t.name(), nt);
      }
      Map<String, String> errors = new HashMap<>();
      Set<String> raced = new HashSet<>();
      if (!toCreate.isEmpty()) {
        admin.createTopics(toCreate.values()).values().forEach((name, future) -> {
          try {
            future.get();
          } catch (ExecutionException e) {
            if (e.getCause() instanceof TopicExistsException) raced.add(name);
            else errors.put(name, e.getCause().toString());
          } catch (InterruptedException e) {
            throw new RuntimeException(e);
          }
        });
      }

      // Report what is really on the broker now: partition counts and cleanup policies.
      Set<String> all = new LinkedHashSet<>(wanted);
      all.removeAll(errors.keySet());
      Map<String, Integer> actual = partitionCounts(admin, all);
      Map<String, Integer> replicas = replicationFactors(admin, all);
      Map<String, String> policies = topicConfigs(admin, all, TopicConfig.CLEANUP_POLICY_CONFIG);
      Map<String, String> insync = topicConfigs(admin, all, TopicConfig.MIN_IN_SYNC_REPLICAS_CONFIG);

      String currentFlow = null;
      for (Topic t : topics) {
        if (!t.flow().equals(currentFlow)) System.out.println("flow " + (currentFlow = t.flow()) + ":");
        String name = t.name();
        if (errors.containsKey(name)) {
          System.out.printf("  %-8s %-40s %s%n", "FAILED", name, errors.get(name));
          ok = false;
          continue;
        }
        boolean isNew = toCreate.containsKey(name) && !raced.contains(name);
        if (isNew) created++; else existed++;
        String policy = policies.getOrDefault(name, "?");
        String warn = t.compact() && !policy.contains("compact") ? "  WARNING: expected cleanup.policy=compact" : "";
        int rf = replicas.getOrDefault(name, -1);
        if (replication.isPresent() && rf < replication.get()) warn += "  WARNING: replication factor " + rf + " < " + replication.get() + " asked (an existing topic keeps its own)";
        if (minInsync != null && !minInsync.equals(insync.get(name))) warn += "  WARNING: min.insync.replicas " + insync.get(name) + ", " + minInsync + " asked";
        System.out.printf("  %-8s %-40s partitions=%d replication.factor=%d min.insync.replicas=%s cleanup.policy=%s%s%n",
            isNew ? "created" : "exists", name, actual.getOrDefault(name, -1), rf, insync.getOrDefault(name, "?"), policy, warn);
      }

      // Same-partition invariant between a flow's input, resume trigger and buffer changelog.
      for (int i = 0; i < topics.size(); i += 6) {
        Topic in = topics.get(i), resume = topics.get(i + 1), changelog = topics.get(i + 5);
        for (Topic other : List.of(resume, changelog)) {
          Integer a = actual.get(in.name()), b = actual.get(other.name());
          if (a != null && b != null && !a.equals(b)) {
            System.out.printf("ERROR flow %s: %s has %d partitions but %s has %d; they must match%n",
                in.flow(), in.name(), a, other.name(), b);
            ok = false;
          }
        }
      }
    }
    System.out.printf("%d created, %d existed%s%n", created, existed, ok ? "" : ", with errors");
    System.exit(ok ? 0 : 1);
  }

  // Retries briefly: a topic just created may not be in the broker's metadata cache yet.
  static Map<String, Integer> partitionCounts(Admin admin, Collection<String> names) throws Exception {
    Map<String, Integer> out = new HashMap<>();
    if (names.isEmpty()) return out;
    for (int attempt = 1; ; attempt++) {
      try {
        admin.describeTopics(names).allTopicNames().get()
            .forEach((name, d) -> out.put(name, d.partitions().size()));
        return out;
      } catch (ExecutionException e) {
        if (!(e.getCause() instanceof UnknownTopicOrPartitionException) || attempt == 20) throw e;
        Thread.sleep(250);
      }
    }
  }

  /** The fewest replicas of any partition of each topic. */
  static Map<String, Integer> replicationFactors(Admin admin, Collection<String> names) throws Exception {
    Map<String, Integer> out = new HashMap<>();
    if (names.isEmpty()) return out;
    admin.describeTopics(names).allTopicNames().get().forEach((name, d) ->
        out.put(name, d.partitions().stream().mapToInt(p -> p.replicas().size()).min().orElse(0)));
    return out;
  }

  static Map<String, String> topicConfigs(Admin admin, Collection<String> names, String key) throws Exception {
    Map<String, String> out = new HashMap<>();
    if (names.isEmpty()) return out;
    List<ConfigResource> resources = names.stream()
        .map(n -> new ConfigResource(ConfigResource.Type.TOPIC, n)).toList();
    admin.describeConfigs(resources).all().get().forEach((res, config) -> {
      ConfigEntry e = config.get(key);
      out.put(res.name(), e == null ? "?" : e.value());
    });
    return out;
  }

  static void fail(String message) {
    System.err.println("[topics] error: " + message);
    System.exit(2);
  }
}
