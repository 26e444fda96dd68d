package eventpause.bench;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicBoolean;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.utils.Bytes;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.KeyValue;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler;
import org.apache.kafka.streams.processor.PunctuationType;
import org.apache.kafka.streams.processor.api.Processor;
import org.apache.kafka.streams.processor.api.ProcessorContext;
import org.apache.kafka.streams.processor.api.Record;
import org.apache.kafka.streams.state.KeyValueIterator;
import org.apache.kafka.streams.state.KeyValueStore;
import org.apache.kafka.streams.state.Stores;

/**
 * The benchmark's Kafka Streams peer: event-pause's topology (the original design) on Kafka
 * Streams, so `npm run bench` can run both on the same workloads. See README.md.
 *
 *   events (--input) and resume commands (--trigger) -> one processor ("pause")
 *   status topic (--status)                           -> a global store (GlobalKTable-like)
 *   buffer store (RocksDB, changelogged)              -> the held events per key
 *   dirty store (RocksDB, changelogged)               -> the keys holding events
 *   wall-clock punctuator every second                -> drains ACTIVE keys' stranded events
 */
public final class Peer {
  static final String STATUS_STORE = "status";
  static final String BUFFER_STORE = "buffer";
  static final String DIRTY_STORE = "dirty";
  static final byte[] PAUSED = "\"PAUSED\"".getBytes(StandardCharsets.UTF_8);

  private Peer() {}

  /** Command-line options; see usage(). */
  static final class Options {
    String bootstrap = "127.0.0.1:9092";
    String applicationId;
    String input;
    String trigger;
    String status;
    String output;
    String guarantee = "exactly_once";
    int threads = 1;
    String stateDir = "/tmp/kstreams-peer";
    long commitIntervalMs = 100;
    String layout = "seq";
    int drainBatch = 2000;
    long drainContinueMs = 0;
    final Map<String, String> props = new LinkedHashMap<>();
  }

  static String usage() {
    return String.join("\n",
        "usage: java -jar kstreams-peer.jar --application-id ID --input T --trigger T --status T --output T [options]",
        "",
        "The event-pause topology on Kafka Streams (benchmark peer). Prints READY when running.",
        "",
        "  --bootstrap HOSTS          bootstrap servers (default 127.0.0.1:9092)",
        "  --application-id ID        application.id (consumer group, state directory, changelog prefix)",
        "  --input T                  events topic",
        "  --trigger T                resume commands topic (co-partitioned with --input)",
        "  --status T                 status topic (compacted; \"PAUSED\" / \"ACTIVE\" / tombstone)",
        "  --output T                 output topic",
        "  --guarantee G              exactly_once (exactly_once_v2) or at_least_once (default exactly_once)",
        "  --threads N                num.stream.threads (default 1)",
        "  --state-dir DIR            state.dir (default /tmp/kstreams-peer)",
        "  --commit-interval-ms N     commit.interval.ms (default 100)",
        "  --buffer-layout L          seq: an entry per event (default); list: the original's list per key",
        "  --drain-batch N            events per key one punctuation drains (default 2000)",
        "  --drain-continue-ms N      0: drain only at each 1 s punctuation; N > 0: also every N ms while",
        "                             stranded events remain (1 = as fast as the task loop allows)",
        "  --prop K=V                 any StreamsConfig / client property, repeatable",
        "  --help                     this text",
        "");
  }

  static Options parse(String[] args) {
    Options o = new Options();
    for (int i = 0; i < args.length; i++) {
      String name = args[i];
      if (name.equals("--help") || name.equals("-h")) {
        System.out.print(usage());
        System.exit(0);
      }
      if (i + 1 >= args.length) throw new IllegalArgumentException(name + " needs a value");
      String value = args[++i];
      switch (name) {
        case "--bootstrap" -> o.bootstrap = value;
        case "--application-id" -> o.applicationId = value;
        case "--input" -> o.input = value;
        case "--trigger" -> o.trigger = value;
        case "--status" -> o.status = value;
        case "--output" -> o.output = value;
        case "--guarantee" -> o.guarantee = value;
        case "--threads" -> o.threads = positive(name, value);
        case "--state-dir" -> o.stateDir = value;
        case "--commit-interval-ms" -> o.commitIntervalMs = positive(name, value);
        case "--buffer-layout" -> o.layout = value;
        case "--drain-batch" -> o.drainBatch = positive(name, value);
        case "--drain-continue-ms" -> o.drainContinueMs = Long.parseLong(value);
        case "--prop" -> {
          int eq = value.indexOf('=');
          if (eq <= 0) throw new IllegalArgumentException("--prop takes K=V, got " + value);
          o.props.put(value.substring(0, eq), value.substring(eq + 1));
        }
        default -> throw new IllegalArgumentException("unknown option " + name + " (see --help)");
      }
    }
    for (String[] required : new String[][] {{"--application-id", o.applicationId}, {"--input", o.input}, {"--trigger", o.trigger}, {"--status", o.status}, {"--output", o.output}}) {
      if (required[1] == null) throw new IllegalArgumentException(required[0] + " is required (see --help)");
    }
    if (!o.guarantee.equals("exactly_once") && !o.guarantee.equals("at_least_once")) {
      throw new IllegalArgumentException("--guarantee takes exactly_once or at_least_once, got " + o.guarantee);
    }
    if (!o.layout.equals("seq") && !o.layout.equals("list")) {
      throw new IllegalArgumentException("--buffer-layout takes seq or list, got " + o.layout);
    }
    if (o.drainContinueMs < 0) throw new IllegalArgumentException("--drain-continue-ms must be >= 0");
    return o;
  }

  static int positive(String name, String value) {
    int n = Integer.parseInt(value);
    if (n < 1) throw new IllegalArgumentException(name + " must be >= 1, got " + value);
    return n;
  }

  static Topology topology(Options o) {
    Topology t = new Topology();
    t.addGlobalStore(
        Stores.keyValueStoreBuilder(Stores.persistentKeyValueStore(STATUS_STORE), Serdes.String(), Serdes.ByteArray()).withLoggingDisabled(),
        "status-source", Serdes.String().deserializer(), Serdes.ByteArray().deserializer(), o.status,
        "status-applier", StatusApplier::new);
    t.addSource("events", Serdes.String().deserializer(), Serdes.ByteArray().deserializer(), o.input);
    t.addSource("commands", Serdes.String().deserializer(), Serdes.ByteArray().deserializer(), o.trigger);
    t.addProcessor("pause", () -> new PauseProcessor(o), "events", "commands");
    t.addStateStore(Stores.keyValueStoreBuilder(Stores.persistentKeyValueStore(BUFFER_STORE), Serdes.Bytes(), Serdes.ByteArray()), "pause");
    t.addStateStore(Stores.keyValueStoreBuilder(Stores.persistentKeyValueStore(DIRTY_STORE), Serdes.String(), Serdes.Long()), "pause");
    t.addSink("out", o.output, Serdes.String().serializer(), Serdes.ByteArray().serializer(), "pause");
    return t;
  }

  /** Keeps the global status store: PAUSED is stored, anything else (ACTIVE, tombstone) removes the key. */
  static final class StatusApplier implements Processor<String, byte[], Void, Void> {
    private KeyValueStore<String, byte[]> store;

    @Override
    public void init(ProcessorContext<Void, Void> context) {
      store = context.getStateStore(STATUS_STORE);
    }

    @Override
    public void process(Record<String, byte[]> record) {
      if (record.key() == null) return;
      if (record.value() != null && Arrays.equals(record.value(), PAUSED)) store.put(record.key(), PAUSED);
      else store.delete(record.key());
    }
  }

  /** The seed's decision tree: resume -> drain; PAUSED -> buffer; ACTIVE with a buffer -> drain, then forward. */
  static final class PauseProcessor implements Processor<String, byte[], String, byte[]> {
    private static final ObjectMapper JSON = new ObjectMapper();
    private final Options o;
    private final boolean list;
    private ProcessorContext<String, byte[]> context;
    private KeyValueStore<String, byte[]> status;
    private KeyValueStore<Bytes, byte[]> buffer;
    private KeyValueStore<String, Long> dirty;
    /** Whether the last punctuation left stranded events behind (drain-continue). */
    private boolean strandedLeft;

    PauseProcessor(Options o) {
      this.o = o;
      this.list = o.layout.equals("list");
    }

    @Override
    public void init(ProcessorContext<String, byte[]> context) {
      this.context = context;
      status = context.getStateStore(STATUS_STORE);
      buffer = context.getStateStore(BUFFER_STORE);
      dirty = context.getStateStore(DIRTY_STORE);
      context.schedule(Duration.ofSeconds(1), PunctuationType.WALL_CLOCK_TIME, now -> punctuate());
      if (o.drainContinueMs > 0) {
        context.schedule(Duration.ofMillis(o.drainContinueMs), PunctuationType.WALL_CLOCK_TIME, now -> {
          if (strandedLeft) punctuate();
        });
      }
    }

    @Override
    public void process(Record<String, byte[]> record) {
      String key = record.key();
      if (key == null) return;
      String topic = context.recordMetadata().map(m -> m.topic()).orElse("");
      if (topic.equals(o.trigger)) {
        // A resume command drains the key's buffer at once (the original: all of it).
        if (isCommand(record.value()) && dirty.get(key) != null) drain(key, Integer.MAX_VALUE);
        return;
      }
      if (!isEvent(record.value())) return; // event-pause dead-letters these; the bench sends none
      if (status.get(key) != null) {
        long offset = context.recordMetadata().map(m -> m.offset()).orElse(-1L);
        append(key, offset, record);
        return;
      }
      if (dirty.get(key) != null) drain(key, Integer.MAX_VALUE); // drain first, then forward
      context.forward(record);
    }

    /** Stranded events: every dirty key that is ACTIVE gets up to --drain-batch events drained. */
    private void punctuate() {
      List<String> keys = new ArrayList<>();
      try (KeyValueIterator<String, Long> it = dirty.all()) {
        while (it.hasNext()) keys.add(it.next().key);
      }
      boolean left = false;
      for (String key : keys) {
        if (status.get(key) != null) continue;
        if (!drain(key, o.drainBatch)) left = true;
      }
      strandedLeft = left;
    }

    private static boolean isCommand(byte[] value) {
      try {
        JsonNode node = JSON.readTree(value);
        return node != null && node.isObject() && "RESUME".equals(node.path("action").asText(null));
      } catch (Exception e) {
        return false;
      }
    }

    private static boolean isEvent(byte[] value) {
      if (value == null) return false;
      try {
        JsonNode node = JSON.readTree(value);
        if (node == null || !node.isObject()) return false;
        JsonNode id = node.get("id");
        JsonNode ts = node.get("timestamp");
        return id != null && id.isTextual() && !id.asText().isEmpty() && (ts == null || ts.isNull() || ts.isNumber());
      } catch (Exception e) {
        return false;
      }
    }

    private void append(String key, long offset, Record<String, byte[]> record) {
      byte[] value = record.value();
      if (list) {
        // The original's layout: the key's whole list is read, extended and written back per event.
        Bytes k = prefix(key, 0);
        byte[] old = buffer.get(k);
        int oldLength = old == null ? 0 : old.length;
        ByteBuffer b = ByteBuffer.allocate(oldLength + 12 + value.length);
        if (old != null) b.put(old);
        b.putLong(record.timestamp()).putInt(value.length).put(value);
        buffer.put(k, b.array());
      } else {
        ByteBuffer b = ByteBuffer.allocate(8 + value.length);
        b.putLong(record.timestamp()).put(value);
        buffer.put(entry(key, offset), b.array());
      }
      dirty.put(key, 1L);
    }

    /** Forwards up to `limit` of the key's events, oldest first, and removes them; true when none is left. */
    private boolean drain(String key, int limit) {
      if (list) {
        Bytes k = prefix(key, 0);
        byte[] all = buffer.get(k);
        if (all != null) {
          ByteBuffer b = ByteBuffer.wrap(all);
          while (b.hasRemaining()) {
            long ts = b.getLong();
            byte[] value = new byte[b.getInt()];
            b.get(value);
            context.forward(new Record<>(key, value, ts));
          }
          buffer.delete(k);
        }
        dirty.delete(key);
        return true;
      }
      boolean done = true;
      int drained = 0;
      while (drained < limit) {
        int batch = Math.min(limit - drained, 10_000);
        List<KeyValue<Bytes, byte[]>> entries = new ArrayList<>(Math.min(batch, 1024));
        try (KeyValueIterator<Bytes, byte[]> it = buffer.range(entry(key, 0), entry(key, Long.MAX_VALUE))) {
          while (it.hasNext() && entries.size() < batch) entries.add(it.next());
          done = !it.hasNext();
        }
        for (KeyValue<Bytes, byte[]> e : entries) {
          ByteBuffer b = ByteBuffer.wrap(e.value);
          long ts = b.getLong();
          byte[] value = new byte[b.remaining()];
          b.get(value);
          context.forward(new Record<>(key, value, ts));
          buffer.delete(e.key);
        }
        drained += entries.size();
        if (done) break;
      }
      if (done) dirty.delete(key);
      return done;
    }

    /** [key length][key UTF-8] then, for seq entries, the input offset big-endian: a key's entries sort by offset. */
    private static Bytes prefix(String key, int extra) {
      byte[] k = key.getBytes(StandardCharsets.UTF_8);
      return Bytes.wrap(ByteBuffer.allocate(4 + k.length + extra).putInt(k.length).put(k).array());
    }

    private static Bytes entry(String key, long offset) {
      byte[] k = key.getBytes(StandardCharsets.UTF_8);
      return Bytes.wrap(ByteBuffer.allocate(4 + k.length + 8).putInt(k.length).put(k).putLong(offset).array());
    }

    @Override
    public void close() {}
  }

  public static void main(String[] args) throws Exception {
    Options o;
    try {
      o = parse(args);
    } catch (IllegalArgumentException e) {
      System.err.println("kstreams-peer: " + e.getMessage());
      System.exit(2);
      return;
    }
    Properties p = new Properties();
    p.put(StreamsConfig.APPLICATION_ID_CONFIG, o.applicationId);
    p.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, o.bootstrap);
    p.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, o.guarantee.equals("exactly_once") ? StreamsConfig.EXACTLY_ONCE_V2 : StreamsConfig.AT_LEAST_ONCE);
    p.put(StreamsConfig.NUM_STREAM_THREADS_CONFIG, o.threads);
    p.put(StreamsConfig.STATE_DIR_CONFIG, o.stateDir);
    p.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, o.commitIntervalMs);
    p.putAll(o.props);

    KafkaStreams streams = new KafkaStreams(topology(o), p);
    CountDownLatch stopped = new CountDownLatch(1);
    AtomicBoolean ready = new AtomicBoolean();
    AtomicBoolean failed = new AtomicBoolean();
    streams.setStateListener((now, before) -> {
      if (now == KafkaStreams.State.RUNNING && ready.compareAndSet(false, true)) {
        System.out.println("READY");
        System.out.flush();
      }
      if (now == KafkaStreams.State.ERROR) {
        failed.set(true);
        stopped.countDown();
      }
    });
    streams.setUncaughtExceptionHandler(e -> {
      System.err.println("kstreams-peer: stream thread failed: " + e);
      e.printStackTrace();
      return StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse.SHUTDOWN_CLIENT;
    });
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      streams.close(Duration.ofSeconds(30));
      stopped.countDown();
    }));
    streams.start();
    stopped.await();
    if (failed.get()) {
      streams.close(Duration.ofSeconds(10));
      System.exit(1);
    }
  }
}
