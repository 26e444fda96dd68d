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
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.Headers;
import org.apache.kafka.common.header.internals.RecordHeaders;
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
  static final String STATUS_OFFSET_HEADER = "ep-status-offset";
  static final long CLOSE_TIMEOUT_SECONDS = 30;
  static final byte[] PAUSED = "\"PAUSED\"".getBytes(StandardCharsets.UTF_8);
  static final byte[] ACTIVE = "\"ACTIVE\"".getBytes(StandardCharsets.UTF_8);
  static final ObjectMapper JSON = new ObjectMapper();

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

  /**
   * Keeps the global status store. Only PAUSED keys are kept, as [offset][timestamp] of their status
   * record (a resume command compares them with its own position, as event-pause does); ACTIVE and
   * tombstones remove the key; a record that is no status (not "ACTIVE"/"PAUSED") is ignored, as
   * event-pause's status table ignores it.
   */
  static final class StatusApplier implements Processor<String, byte[], Void, Void> {
    private ProcessorContext<Void, Void> context;
    private KeyValueStore<String, byte[]> store;

    @Override
    public void init(ProcessorContext<Void, Void> context) {
      this.context = context;
      store = context.getStateStore(STATUS_STORE);
    }

    @Override
    public void process(Record<String, byte[]> record) {
      if (record.key() == null) return;
      Boolean paused = decodeStatus(record.value());
      if (paused == null) return;
      if (paused) {
        long offset = context.recordMetadata().map(m -> m.offset()).orElse(-1L);
        store.put(record.key(), ByteBuffer.allocate(16).putLong(offset).putLong(record.timestamp()).array());
      } else {
        store.delete(record.key());
      }
    }
  }

  /** true: PAUSED; false: ACTIVE (or a tombstone); null: not a status. As wire.ts decodeStatus. */
  static Boolean decodeStatus(byte[] value) {
    if (value == null || value.length == 0 || Arrays.equals(value, ACTIVE)) return false;
    if (Arrays.equals(value, PAUSED)) return true;
    try {
      JsonNode node = JSON.readTree(value);
      if (node != null && node.isTextual() && node.asText().equals("PAUSED")) return true;
      if (node != null && node.isTextual() && node.asText().equals("ACTIVE")) return false;
    } catch (Exception e) {
      // not JSON: not a status
    }
    return null;
  }

  /** The seed's decision tree: resume -> drain; PAUSED -> buffer; ACTIVE with a buffer -> drain, then forward. */
  static final class PauseProcessor implements Processor<String, byte[], String, byte[]> {
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
        // A resume command drains the key's buffer at once (the original: all of it), unless a
        // pause written after it is already in the status store (event-pause: rule 3).
        if (isCommand(record.value()) && dirty.get(key) != null && !outranked(key, record)) drain(key, Integer.MAX_VALUE);
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

    /**
     * Whether the key's status is a PAUSED written after this command. Our service names the
     * offset of the ACTIVE record it wrote just before the command (header ep-status-offset); a
     * command without it is placed by timestamps. The same test as event-pause's commandPosition.
     */
    private boolean outranked(String key, Record<String, byte[]> command) {
      byte[] paused = status.get(key);
      if (paused == null || paused.length < 16) return false;
      ByteBuffer b = ByteBuffer.wrap(paused);
      long pausedOffset = b.getLong();
      long pausedTimestamp = b.getLong();
      Header named = command.headers().lastHeader(STATUS_OFFSET_HEADER);
      if (named != null && named.value() != null) {
        try {
          long offset = Long.parseLong(new String(named.value(), StandardCharsets.UTF_8));
          if (offset >= 0) return pausedOffset > offset;
        } catch (NumberFormatException e) {
          // not a position: fall back to timestamps
        }
      }
      return pausedTimestamp > command.timestamp();
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
      byte[] event = encodeEvent(record);
      if (list) {
        // The original's layout: the key's whole list is read, extended and written back per event.
        Bytes k = prefix(key, 0);
        byte[] old = buffer.get(k);
        int oldLength = old == null ? 0 : old.length;
        ByteBuffer b = ByteBuffer.allocate(oldLength + 4 + event.length);
        if (old != null) b.put(old);
        b.putInt(event.length).put(event);
        buffer.put(k, b.array());
      } else {
        buffer.put(entry(key, offset), event);
      }
      dirty.put(key, 1L);
    }

    /** [timestamp][header count]([name length][name][value length or -1][value])*[value]: what the output record needs. */
    private static byte[] encodeEvent(Record<String, byte[]> record) {
      Header[] headers = record.headers().toArray();
      int size = 8 + 4 + record.value().length;
      byte[][] names = new byte[headers.length][];
      for (int i = 0; i < headers.length; i++) {
        names[i] = headers[i].key().getBytes(StandardCharsets.UTF_8);
        size += 8 + names[i].length + (headers[i].value() == null ? 0 : headers[i].value().length);
      }
      ByteBuffer b = ByteBuffer.allocate(size).putLong(record.timestamp()).putInt(headers.length);
      for (int i = 0; i < headers.length; i++) {
        byte[] v = headers[i].value();
        b.putInt(names[i].length).put(names[i]).putInt(v == null ? -1 : v.length);
        if (v != null) b.put(v);
      }
      return b.put(record.value()).array();
    }

    /** The record encodeEvent stored, read from `b` up to `end`. */
    private static Record<String, byte[]> decodeEvent(String key, ByteBuffer b, int end) {
      long ts = b.getLong();
      int count = b.getInt();
      Headers headers = new RecordHeaders();
      for (int i = 0; i < count; i++) {
        byte[] name = new byte[b.getInt()];
        b.get(name);
        int length = b.getInt();
        byte[] v = null;
        if (length >= 0) {
          v = new byte[length];
          b.get(v);
        }
        headers.add(new String(name, StandardCharsets.UTF_8), v);
      }
      byte[] value = new byte[end - b.position()];
      b.get(value);
      return new Record<>(key, value, ts, headers);
    }

    /** Forwards up to `limit` of the key's events, oldest first, and removes them; true when none is left. */
    private boolean drain(String key, int limit) {
      if (list) {
        Bytes k = prefix(key, 0);
        byte[] all = buffer.get(k);
        if (all != null) {
          ByteBuffer b = ByteBuffer.wrap(all);
          while (b.hasRemaining()) {
            int length = b.getInt();
            context.forward(decodeEvent(key, b, b.position() + length));
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
          context.forward(decodeEvent(key, ByteBuffer.wrap(e.value), e.value.length));
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
    // --prop last: it may override any of the above. Client properties (session.timeout.ms, ...)
    // go to every client Kafka Streams makes; prefix them (consumer., producer., ...) to aim.
    p.putAll(o.props);

    KafkaStreams streams;
    try {
      streams = new KafkaStreams(topology(o), p);
    } catch (Exception e) {
      System.err.println("kstreams-peer: cannot start Kafka Streams: " + e.getMessage());
      System.exit(2);
      return;
    }
    CountDownLatch stop = new CountDownLatch(1);
    AtomicBoolean ready = new AtomicBoolean();
    AtomicBoolean failed = new AtomicBoolean();
    streams.setStateListener((now, before) -> {
      if (now == KafkaStreams.State.RUNNING && ready.compareAndSet(false, true)) {
        System.out.println("READY");
        System.out.flush();
      }
      if (now == KafkaStreams.State.ERROR) {
        failed.set(true);
        stop.countDown();
      }
    });
    streams.setUncaughtExceptionHandler(e -> {
      System.err.println("kstreams-peer: stream thread failed: " + e);
      e.printStackTrace();
      return StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse.SHUTDOWN_CLIENT;
    });
    // SIGTERM / SIGINT: close here, on the main thread, and exit 0 (a JVM ended by a shutdown
    // hook exits 143). The handlers replace the JVM's, so no shutdown hook runs for them.
    for (String signal : new String[] {"TERM", "INT"}) {
      sun.misc.Signal.handle(new sun.misc.Signal(signal), s -> stop.countDown());
    }
    try {
      streams.start();
    } catch (Exception e) {
      System.err.println("kstreams-peer: cannot start Kafka Streams: " + e);
      System.exit(1);
      return;
    }
    stop.await();
    boolean closed = streams.close(Duration.ofSeconds(CLOSE_TIMEOUT_SECONDS));
    if (failed.get()) {
      System.err.println("kstreams-peer: Kafka Streams is in state ERROR (see the log above); exiting 1");
      System.exit(1);
    }
    if (!closed) {
      System.err.println("kstreams-peer: Kafka Streams did not close within " + CLOSE_TIMEOUT_SECONDS + " s; exiting 1");
      System.exit(1);
    }
    System.exit(0);
  }
}
