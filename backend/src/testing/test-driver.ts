/**
 * Runs one flow synchronously, with no broker and no timers, like Kafka Streams'
 * TopologyTestDriver: pipe events, commands and statuses in, read what was forwarded and
 * dead-lettered, look into buffers, and move the wall clock to fire punctuators.
 *
 * Underneath is the stream runtime's synchronous core (engines/stream/flow-tasks.ts: the tasks,
 * their change-logged stores, the trim on restore and the write routing of the guarantee, the
 * code FlowMember runs on Kafka) on an in-memory cluster, with the same status table. After every
 * call the driver has processed what was piped and committed, so the output is readable at once.
 */
import { DEFAULT_MAX_EVENT_BYTES, parseFlowsFile, type FlowDefinition, type ProcessingGuarantee } from '../config/config.ts';
import { ManualClock } from '../engines/embedded/clock.ts';
import { EmbeddedCluster, type GroupPosition, type LogRecord, type TopicWrite } from '../engines/embedded/cluster.ts';
import { createFlowTopics } from '../engines/embedded/topics.ts';
import { FlowTasks } from '../engines/stream/flow-tasks.ts';
import { decodeEvent, encodeEvent, encodeStatus, headerValue, HEADERS, RESUME_COMMAND, type Event } from '../model/wire.ts';
import type { BufferedEvent, DeadLetterReason, Header, InputKind, KeyStatus, OutputRecord, Processor } from '../runtime/ports.ts';
import { StatusTable } from '../runtime/status-table.ts';
import { MemoryBufferStore } from '../stores/memory-buffer-store.ts';

export interface FlowTestDriverOptions {
  /** The flow to run (e.g. from the flows file). Default: flow "test", 1 partition, default topic names. */
  readonly flow?: FlowDefinition;
  readonly processingGuarantee?: ProcessingGuarantee;
  /** Default 1000 ms. */
  readonly punctuateIntervalMs?: number;
  /** Default 2000. */
  readonly drainSliceSize?: number;
  /** Default 0 (unlimited). */
  readonly maxBufferPerKey?: number;
  /** Default 960000, as in production (MAX_EVENT_BYTES). */
  readonly maxEventBytes?: number;
  /** A status write reaches the status table this long after it was written (default 0: at once). */
  readonly statusLagMs?: number;
  /**
   * Drain steps run after each piped record (default Infinity: until no drain is pending). Set a
   * small number to watch a big drain proceed in slices (rule 7); advanceWallClock finishes it.
   */
  readonly drainStepsPerInput?: number;
  /** Wall-clock time the driver starts at (default 0); piped records default to the current time. */
  readonly startTime?: number;
  /** A custom processor per task instead of the pause-aware processor. */
  readonly processor?: (flow: FlowDefinition, partition: number) => Processor;
}

/** A record the flow wrote. */
export interface DriverRecord {
  readonly key: string | null;
  readonly value: Buffer | null;
  readonly headers: readonly Header[];
  readonly timestamp: number;
  readonly partition: number;
  readonly offset: number;
  /** The value decoded as an event, if it is one. */
  readonly event: Event | undefined;
}

/** A record on the dead-letter topic, with why and where from (rule 8). */
export interface DeadLetterRecord extends DriverRecord {
  readonly reason: DeadLetterReason;
  readonly message: string;
  readonly source: { readonly topic: string; readonly partition: number; readonly offset: number };
}

export interface PipeOptions {
  readonly headers?: readonly Header[];
  /** Record timestamp; default the driver's clock. */
  readonly timestamp?: number;
}

const APPLICATION_ID = 'test-driver';

export class FlowTestDriver {
  readonly flow: FlowDefinition;
  readonly #clock: ManualClock;
  readonly #cluster: EmbeddedCluster;
  readonly #options: FlowTestDriverOptions;
  readonly #drainStepsPerInput: number;
  readonly #read = new Map<string, number[]>();
  #instance: DriverInstance;

  constructor(options: FlowTestDriverOptions = {}) {
    this.#options = options;
    this.flow = options.flow ?? parseFlowsFile({ partitions: 1, flows: [{ id: 'test' }] }, 'test driver').flows[0]!;
    this.#clock = new ManualClock(options.startTime ?? 0);
    this.#cluster = new EmbeddedCluster({ clock: this.#clock.now });
    this.#drainStepsPerInput = options.drainStepsPerInput ?? Infinity;
    createFlowTopics(this.#cluster, this.flow);
    this.#instance = this.#startInstance();
  }

  /** The driver's wall clock (ms). */
  get now(): number {
    return this.#clock.now();
  }

  /** Pipes an event `{id, data, timestamp}` into the main topic and processes it. */
  pipeEvent(key: string, event: { readonly id: string; readonly data?: unknown; readonly timestamp?: number }, options: PipeOptions = {}): void {
    const timestamp = options.timestamp ?? this.now;
    const value = encodeEvent({ id: event.id, data: event.data, timestamp: event.timestamp ?? timestamp });
    this.pipeRaw('main', key, value, options);
  }

  /** Pipes any bytes into the main or trigger topic (bad records included) and processes them. */
  pipeRaw(topic: 'main' | 'trigger', key: string | null, value: Buffer | string | null, options: PipeOptions = {}): void {
    this.#cluster.produce({
      topic: this.flow.topics[topic],
      key: key === null ? null : Buffer.from(key, 'utf8'),
      value: typeof value === 'string' ? Buffer.from(value, 'utf8') : value,
      headers: options.headers ?? [],
      timestamp: options.timestamp ?? this.now,
    });
    this.#process();
  }

  /** Pipes a resume command `{"action":"RESUME"}` for the key and processes it. */
  sendResume(key: string, options: PipeOptions = {}): void {
    this.pipeRaw('trigger', key, RESUME_COMMAND, options);
  }

  /**
   * Writes a status (null: a tombstone, which means ACTIVE). Like the real status topic it only
   * changes what later records see; buffered events of a key set ACTIVE wait for its next event,
   * a resume command or the punctuator (advanceWallClock).
   */
  setStatus(key: string, status: KeyStatus | null, options: Omit<PipeOptions, 'timestamp'> = {}): void {
    this.#cluster.produce({
      topic: this.flow.topics.status,
      key: Buffer.from(key, 'utf8'),
      value: status === null ? null : encodeStatus(status),
      headers: options.headers ?? [],
      timestamp: this.now,
    });
    this.#instance.pollStatus();
  }

  /** The key's status as the flow's status table sees it now. */
  status(key: string): KeyStatus {
    return this.#instance.table.get(key).status;
  }

  /** Records forwarded to the output topic since the last call, in the order they were written. */
  readOutput(): DriverRecord[] {
    return this.#consume(this.flow.topics.output).map(driverRecord);
  }

  /** Records sent to the dead-letter topic since the last call. */
  readDeadLetters(): DeadLetterRecord[] {
    return this.#consume(this.flow.topics.dlq).map((record) => {
      const headers = record.headers;
      return {
        ...driverRecord(record),
        reason: (headerValue(headers, HEADERS.dlqReason) ?? '') as DeadLetterReason,
        message: headerValue(headers, HEADERS.dlqMessage) ?? '',
        source: {
          topic: headerValue(headers, HEADERS.sourceTopic) ?? '',
          partition: Number(headerValue(headers, HEADERS.sourcePartition)),
          offset: Number(headerValue(headers, HEADERS.sourceOffset)),
        },
      };
    });
  }

  /** The key's buffered events, oldest first. */
  bufferedEvents(key: string): BufferedEvent[] {
    return this.#store(key)?.read(key, Number.MAX_SAFE_INTEGER) ?? [];
  }

  bufferCount(key: string): number {
    return this.#store(key)?.count(key) ?? 0;
  }

  /**
   * Moves the wall clock: status writes whose lag has passed become visible, a punctuation fires
   * if one is due (the safety net for stranded events, rule 4), and pending drains run to the end.
   */
  advanceWallClock(ms: number): void {
    this.#clock.advance(ms);
    const instance = this.#instance;
    instance.pollStatus();
    instance.tasks.punctuateDue(this.now);
    this.#drain(Infinity);
    instance.commit();
  }

  /**
   * A kill -9 and restart: the processor's memory is gone, the buffer is restored from its
   * changelog and the status table from the status topic (rules 4 and 5). Everything piped so far
   * was committed, so nothing is replayed.
   */
  restart(): void {
    this.#instance.crash();
    this.#instance = this.#startInstance();
  }

  close(): void {
    this.#instance.close();
  }

  #startInstance(): DriverInstance {
    const o = this.#options;
    return new DriverInstance(this.#cluster, this.flow, this.#clock.now, {
      statusLagMs: o.statusLagMs ?? 0,
      ...(o.processor === undefined ? {} : { processor: o.processor }),
      runtime: {
        processingGuarantee: o.processingGuarantee ?? 'exactly_once',
        punctuateIntervalMs: o.punctuateIntervalMs ?? 1000,
        drainSliceSize: o.drainSliceSize ?? 2000,
        maxBufferPerKey: o.maxBufferPerKey ?? 0,
        maxEventBytes: o.maxEventBytes ?? DEFAULT_MAX_EVENT_BYTES,
      },
    });
  }

  #process(): void {
    const instance = this.#instance;
    instance.pollStatus();
    while (instance.processNext()) this.#drain(this.#drainStepsPerInput);
    instance.commit();
  }

  #drain(steps: number): void {
    for (let i = 0; i < steps && this.#instance.tasks.drainStep() > 0; i++);
  }

  #store(key: string) {
    return this.#instance.tasks.get(this.#cluster.partitionFor(this.flow.topics.main, Buffer.from(key, 'utf8')))?.logged;
  }

  #consume(topic: string): LogRecord[] {
    const partitions = this.#cluster.partitions(topic);
    let positions = this.#read.get(topic);
    if (positions === undefined) this.#read.set(topic, (positions = new Array<number>(partitions).fill(0)));
    const records: LogRecord[] = [];
    for (let p = 0; p < partitions; p++) {
      records.push(...this.#cluster.read(topic, p, positions[p]!));
      positions[p] = this.#cluster.endOffset(topic, p);
    }
    return records.sort((a, b) => a.sequence - b.sequence);
  }
}

function driverRecord(record: LogRecord): DriverRecord {
  const decoded = decodeEvent(record.value);
  return {
    key: record.key?.toString('utf8') ?? null,
    value: record.value,
    headers: record.headers,
    timestamp: record.timestamp,
    partition: record.partition,
    offset: record.offset,
    event: decoded.ok ? decoded.value : undefined,
  };
}

interface DriverInstanceOptions {
  readonly statusLagMs: number;
  readonly processor?: (flow: FlowDefinition, partition: number) => Processor;
  readonly runtime: ConstructorParameters<typeof FlowTasks>[0]['runtime'];
}

/**
 * One run of the flow on the driver's cluster, record by record: the status table, the tasks of
 * every partition (FlowTasks, restored from their changelogs), the input positions and one
 * transaction, committed after each driver call.
 */
class DriverInstance {
  readonly table = new StatusTable();
  readonly tasks: FlowTasks;
  readonly #cluster: EmbeddedCluster;
  readonly #flow: FlowDefinition;
  readonly #now: () => number;
  readonly #statusLagMs: number;
  readonly #exactlyOnce: boolean;
  readonly #statusPositions: number[];
  readonly #positions = new Map<string, number>();
  #transaction: TopicWrite[] = [];
  #uncommitted = false;

  constructor(cluster: EmbeddedCluster, flow: FlowDefinition, now: () => number, options: DriverInstanceOptions) {
    this.#cluster = cluster;
    this.#flow = flow;
    this.#now = now;
    this.#statusLagMs = options.statusLagMs;
    this.#exactlyOnce = options.runtime.processingGuarantee === 'exactly_once';
    this.#statusPositions = new Array<number>(cluster.partitions(flow.topics.status)).fill(0);
    this.table.setPartitions(cluster.partitions(flow.topics.status));
    // A status table is caught up before any task processes (rule 10), lag or not.
    this.pollStatus(Infinity);
    this.tasks = new FlowTasks({
      flow,
      runtime: options.runtime,
      status: (key) => this.table.get(key),
      write: (topic, partition, record) => this.#write(topic, partition, record),
      now,
      ...(options.processor === undefined ? {} : { processor: options.processor }),
      report: () => undefined,
    });
    const { main, trigger, changelog } = flow.topics;
    for (let partition = 0; partition < flow.partitions; partition++) {
      const store = new MemoryBufferStore();
      for (const record of cluster.read(changelog, partition, 0)) if (record.key !== null) store.restore(record.key, record.value);
      const committedMain = cluster.committed(APPLICATION_ID, main, partition);
      this.#positions.set(`${main}:${partition}`, committedMain ?? 0);
      this.#positions.set(`${trigger}:${partition}`, cluster.committed(APPLICATION_ID, trigger, partition) ?? 0);
      this.tasks.open(partition, store, committedMain);
    }
  }

  /** Folds the status records written at least `statusLagMs` before `now` into the table. */
  pollStatus(now: number = this.#now()): void {
    const visibleUntil = now - this.#statusLagMs;
    const topic = this.#flow.topics.status;
    this.#statusPositions.forEach((position, partition) => {
      for (const record of this.#cluster.read(topic, partition, position)) {
        if (record.appendTime > visibleUntil) break;
        this.table.apply(record);
        this.#statusPositions[partition] = record.offset + 1;
      }
    });
  }

  /** Processes the next input record of any partition (main and trigger in the order written); false when none is left. */
  processNext(): boolean {
    const { main, trigger } = this.#flow.topics;
    for (let partition = 0; partition < this.#flow.partitions; partition++) {
      const event = this.#cluster.recordAt(main, partition, this.#positions.get(`${main}:${partition}`)!);
      const command = this.#cluster.recordAt(trigger, partition, this.#positions.get(`${trigger}:${partition}`)!);
      if (event === undefined && command === undefined) continue;
      const kind: InputKind = event === undefined ? 'command' : command === undefined ? 'event' : event.sequence < command.sequence ? 'event' : 'command';
      const record = kind === 'event' ? event! : command!;
      this.#positions.set(`${record.topic}:${partition}`, record.offset + 1);
      this.#uncommitted = true;
      this.tasks.process(record, kind);
      return true;
    }
    return false;
  }

  /** exactly_once: the transaction with the input positions; at_least_once: the held changelog, then the positions. */
  commit(): void {
    for (const { topic, partition, record } of this.tasks.takeHeld()) this.#write(topic, partition, record);
    if (!this.#uncommitted) return;
    const positions: GroupPosition[] = [];
    for (const [id, offset] of this.#positions) {
      const at = id.lastIndexOf(':');
      positions.push({ group: APPLICATION_ID, topic: id.slice(0, at), partition: Number(id.slice(at + 1)), offset });
    }
    this.#cluster.commit(this.#transaction, positions);
    this.#transaction = [];
    this.#uncommitted = false;
  }

  /** kill -9: the transaction and the tasks' memory are gone. */
  crash(): void {
    this.#transaction = [];
    this.tasks.closeAll();
  }

  close(): void {
    this.commit();
    this.tasks.closeAll();
  }

  #write(topic: string, partition: number | undefined, record: OutputRecord): void {
    const { key, value, headers, timestamp } = record;
    const write: TopicWrite = { topic, partition: partition ?? this.#cluster.partitionFor(topic, key), key, value, headers, timestamp };
    if (this.#exactlyOnce) this.#transaction.push(write);
    else this.#cluster.produce(write);
    this.#uncommitted = true;
  }
}
