/**
 * The only module that touches the Kafka client (@confluentinc/kafka-javascript, librdkafka).
 * It uses the client's node-rdkafka API, which gives what the engine needs: transactions whose
 * offsets carry the consumer's group metadata (exactly-once v2), read_committed reads,
 * partition EOF events, awaited manual rebalancing (`rebalance_cb`) with the `range` assignor,
 * and per-partition seek. Everything here is promises over its callbacks, nothing more.
 */
import Kafka from '@confluentinc/kafka-javascript';
import type {
  Assignment,
  GroupDescription,
  IAdminClient,
  KafkaConsumer,
  LibrdKafkaError,
  Message,
  MessageHeader,
  Producer,
  TopicPartition,
  TopicPartitionOffset,
} from '@confluentinc/kafka-javascript';
import type { Header } from '../../runtime/ports.ts';

export type { GroupDescription, Message, TopicPartition, TopicPartitionOffset };

const ERR = Kafka.CODES.ERRORS;
/** librdkafka's logical offsets. */
export const OFFSET_BEGINNING = -2;
export const OFFSET_INVALID = -1001;
const TIMEOUT_MS = 30_000;

/** Settings passed to librdkafka as they are (see librdkafka's CONFIGURATION.md). */
export type ClientConfig = Record<string, string | number | boolean>;

export type ErrorKind = 'fatal' | 'abortable' | 'retriable' | 'other';

/** How the engine must react to a client error. */
export function errorKind(error: unknown): ErrorKind {
  const e = error as Partial<LibrdKafkaError> | undefined;
  if (e?.isFatal === true || e?.code === ERR.ERR__FENCED || e?.code === ERR.ERR_PRODUCER_FENCED) return 'fatal';
  if (e?.isTxnRequiresAbort === true) return 'abortable';
  if (e?.isRetriable === true) return 'retriable';
  return 'other';
}

export function isQueueFull(error: unknown): boolean {
  return (error as Partial<LibrdKafkaError> | undefined)?.code === ERR.ERR__QUEUE_FULL;
}

export function isUnknownTopic(error: unknown): boolean {
  const code = (error as Partial<LibrdKafkaError> | undefined)?.code;
  return code === ERR.ERR_UNKNOWN_TOPIC_OR_PART || code === ERR.ERR__UNKNOWN_TOPIC;
}

export function toClientHeaders(headers: readonly Header[]): MessageHeader[] | undefined {
  if (headers.length === 0) return undefined;
  return headers.map((h) => ({ [h.key]: h.value }));
}

export function fromClientHeaders(headers: MessageHeader[] | undefined): Header[] {
  if (headers === undefined) return [];
  const out: Header[] = [];
  for (const header of headers) {
    for (const key in header) {
      const value = header[key]!;
      out.push({ key, value: typeof value === 'string' ? Buffer.from(value) : value });
    }
  }
  return out;
}

function callback<T>(resolve: (value: T) => void, reject: (error: unknown) => void) {
  return (error: LibrdKafkaError | null | undefined, value?: T): void => {
    if (error) reject(error);
    else resolve(value as T);
  };
}

export interface ConsumedBatch {
  readonly messages: Message[];
  /** Partitions that reached their end offset during this call (requires enable.partition.eof). */
  readonly eofs: TopicPartitionOffset[];
}

/** `lost`: the partitions were taken away (session expired, poll interval exceeded), not handed back. */
export type RebalanceKind = 'assign' | 'revoke' | 'lost';

/** A consumer; with a group id and `onRebalance` it is a group member that rebalances by hand. */
export class ClientConsumer {
  readonly #consumer: KafkaConsumer;
  #eofs: TopicPartitionOffset[] = [];

  constructor(config: ClientConfig, onRebalance?: (kind: RebalanceKind, partitions: TopicPartition[]) => void, onError?: (error: LibrdKafkaError) => void) {
    const conf: ClientConfig & { rebalance_cb?: unknown } = { 'enable.auto.commit': false, ...config };
    if (onRebalance !== undefined) {
      conf.rebalance_cb = (error: LibrdKafkaError, partitions: TopicPartition[]) => {
        if (error.code === ERR.ERR__ASSIGN_PARTITIONS) onRebalance('assign', partitions);
        else onRebalance(this.#assignmentLost() ? 'lost' : 'revoke', partitions);
      };
    }
    this.#consumer = new Kafka.KafkaConsumer(conf as never, { 'auto.offset.reset': 'earliest' });
    // Waits up to the timeout for the first message only, then returns what is there.
    (this.#consumer as unknown as { setDefaultIsTimeoutOnlyForFirstMessage(v: boolean): void }).setDefaultIsTimeoutOnlyForFirstMessage(true);
    this.#consumer.on('partition.eof', (eof) => this.#eofs.push(eof));
    if (onError !== undefined) this.#consumer.on('event.error', onError);
  }

  /** librdkafka's rd_kafka_assignment_lost(); the binding has it, its typings do not. */
  #assignmentLost(): boolean {
    // The binding dereferences its handle without a check: never ask a closed consumer.
    if (!this.#consumer.isConnected()) return false;
    return (this.#consumer as unknown as { assignmentLost(): boolean }).assignmentLost();
  }

  /** The underlying client, for sendOffsetsToTransaction only. */
  get raw(): KafkaConsumer {
    return this.#consumer;
  }

  connect(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#consumer.connect({ timeout: TIMEOUT_MS }, (error) => (error ? reject(error) : resolve()));
    });
  }

  subscribe(topics: string[]): void {
    this.#consumer.subscribe(topics);
  }

  assign(partitions: Assignment[]): void {
    this.#consumer.assign(partitions);
  }

  unassign(): void {
    this.#consumer.unassign();
  }

  /** Waits at most `timeoutMs` for the first message, then takes what is ready, up to `max`. */
  consume(max: number, timeoutMs: number): Promise<ConsumedBatch> {
    this.#consumer.setDefaultConsumeTimeout(timeoutMs);
    return new Promise((resolve, reject) => {
      this.#consumer.consume(max, (error, messages) => {
        const eofs = this.#eofs;
        this.#eofs = [];
        if (error) reject(error);
        else resolve({ messages, eofs });
      });
    });
  }

  seek(partition: TopicPartitionOffset): Promise<void> {
    return new Promise((resolve, reject) => this.#consumer.seek(partition, TIMEOUT_MS, (error) => (error ? reject(error) : resolve())));
  }

  pause(partitions: TopicPartition[]): void {
    this.#consumer.pause(partitions);
  }

  resume(partitions: TopicPartition[]): void {
    this.#consumer.resume(partitions);
  }

  position(partitions?: TopicPartition[]): TopicPartitionOffset[] {
    return this.#consumer.position(partitions);
  }

  /** Committed offsets of the group (OFFSET_INVALID where none). */
  committed(partitions: TopicPartition[]): Promise<TopicPartitionOffset[]> {
    return new Promise((resolve, reject) => this.#consumer.committed(partitions, TIMEOUT_MS, callback(resolve, reject)));
  }

  commit(offsets: TopicPartitionOffset[]): Promise<void> {
    const consumer = this.#consumer as unknown as { commitCb(o: TopicPartitionOffset[], cb: (e: LibrdKafkaError | null) => void): void };
    return new Promise((resolve, reject) => consumer.commitCb(offsets, (error) => (error ? reject(error) : resolve())));
  }

  /** Cached high watermark (updated by fetches), or undefined when not known yet. */
  cachedEndOffset(topic: string, partition: number): number | undefined {
    try {
      const high = this.#consumer.getWatermarkOffsets(topic, partition).highOffset;
      return high >= 0 ? high : undefined;
    } catch {
      return undefined;
    }
  }

  /** Leaves the group (if any) and closes. */
  disconnect(): Promise<void> {
    if (!this.#consumer.isConnected()) return Promise.resolve();
    return new Promise((resolve) => this.#consumer.disconnect(() => resolve()));
  }
}

/** A producer; transactional when the config has a transactional.id. */
export class ClientProducer {
  readonly #producer: Producer;
  readonly #pending = new Map<number, { resolve: (r: TopicPartitionOffset) => void; reject: (e: unknown) => void }>();
  #nextOpaque = 1;
  #deliveryErrors = 0;

  constructor(config: ClientConfig, onError?: (error: LibrdKafkaError) => void) {
    this.#producer = new Kafka.Producer({ ...config } as never);
    this.#producer.on('delivery-report', (error, report) => {
      const opaque = report.opaque as number | undefined;
      if (opaque === undefined) {
        if (error) this.#deliveryErrors++;
        return;
      }
      const pending = this.#pending.get(opaque);
      if (pending === undefined) return;
      this.#pending.delete(opaque);
      if (error) pending.reject(error);
      else pending.resolve(report);
    });
    if (onError !== undefined) this.#producer.on('event.error', onError);
  }

  connect(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#producer.connect({ timeout: TIMEOUT_MS }, (error) => {
        if (error) return reject(error);
        this.#producer.setPollInterval(20);
        resolve();
      });
    });
  }

  /** Queues a record; throws the client's error (e.g. queue full, see isQueueFull). */
  produce(topic: string, partition: number | undefined, key: Buffer | null, value: Buffer | null, timestamp: number, headers: readonly Header[]): void {
    this.#producer.produce(topic, partition ?? -1, value, key, timestamp, undefined, toClientHeaders(headers));
  }

  /** Produces one record and resolves with where it landed (needs dr_cb in the config). */
  send(topic: string, partition: number | undefined, key: Buffer | null, value: Buffer | null, timestamp: number | undefined, headers: readonly Header[]): Promise<TopicPartitionOffset> {
    const opaque = this.#nextOpaque++;
    return new Promise((resolve, reject) => {
      this.#pending.set(opaque, { resolve, reject });
      try {
        this.#producer.produce(topic, partition ?? -1, value, key, timestamp ?? null, opaque, toClientHeaders(headers));
      } catch (error) {
        this.#pending.delete(opaque);
        reject(error);
      }
    });
  }

  /** Records that failed delivery since the last call (only counted with dr_cb in the config). */
  takeDeliveryErrors(): number {
    const errors = this.#deliveryErrors;
    this.#deliveryErrors = 0;
    return errors;
  }

  poll(): void {
    this.#producer.poll();
  }

  flush(timeoutMs = TIMEOUT_MS): Promise<void> {
    return new Promise((resolve, reject) => this.#producer.flush(timeoutMs, (error) => (error ? reject(error) : resolve())));
  }

  initTransactions(timeoutMs = TIMEOUT_MS): Promise<void> {
    return new Promise((resolve, reject) => this.#producer.initTransactions(timeoutMs, (error) => (error ? reject(error) : resolve())));
  }

  beginTransaction(): Promise<void> {
    return new Promise((resolve, reject) => this.#producer.beginTransaction((error) => (error ? reject(error) : resolve())));
  }

  /** Adds consumed offsets to the transaction, with the consumer's group metadata (fencing). */
  sendOffsets(offsets: TopicPartitionOffset[], consumer: ClientConsumer): Promise<void> {
    return new Promise((resolve, reject) =>
      this.#producer.sendOffsetsToTransaction(offsets, consumer.raw, TIMEOUT_MS, (error) => (error ? reject(error) : resolve())),
    );
  }

  commitTransaction(timeoutMs = TIMEOUT_MS): Promise<void> {
    return new Promise((resolve, reject) => this.#producer.commitTransaction(timeoutMs, (error) => (error ? reject(error) : resolve())));
  }

  abortTransaction(timeoutMs = TIMEOUT_MS): Promise<void> {
    return new Promise((resolve, reject) => this.#producer.abortTransaction(timeoutMs, (error) => (error ? reject(error) : resolve())));
  }

  disconnect(timeoutMs = 5000): Promise<void> {
    if (!this.#producer.isConnected()) return Promise.resolve();
    return new Promise((resolve) => this.#producer.disconnect(timeoutMs, () => resolve()));
  }
}

export interface TopicInfo {
  readonly name: string;
  /** Partition count, or undefined when the topic does not exist. */
  readonly partitions: number | undefined;
}

export interface NewTopic {
  readonly name: string;
  readonly partitions: number;
  readonly config?: Record<string, string>;
}

export class ClientAdmin {
  readonly #admin: IAdminClient;

  constructor(config: ClientConfig) {
    this.#admin = Kafka.AdminClient.create({ ...config } as never);
  }

  async createTopics(topics: readonly NewTopic[]): Promise<void> {
    for (const topic of topics) {
      await new Promise<void>((resolve, reject) =>
        this.#admin.createTopic(
          { topic: topic.name, num_partitions: topic.partitions, replication_factor: 1, config: topic.config ?? {} },
          TIMEOUT_MS,
          (error) => (error && error.code !== ERR.ERR_TOPIC_ALREADY_EXISTS ? reject(error) : resolve()),
        ),
      );
    }
  }

  async deleteTopics(names: readonly string[]): Promise<void> {
    for (const name of names) {
      await new Promise<void>((resolve, reject) =>
        this.#admin.deleteTopic(name, TIMEOUT_MS, (error) => (error && !isUnknownTopic(error) ? reject(error) : resolve())),
      );
    }
  }

  async describeTopics(names: readonly string[]): Promise<TopicInfo[]> {
    return Promise.all(
      names.map(
        (name) =>
          new Promise<TopicInfo>((resolve, reject) =>
            this.#admin.describeTopics([name], { timeout: TIMEOUT_MS }, (error, result) => {
              if (error) return isUnknownTopic(error) ? resolve({ name, partitions: undefined }) : reject(error);
              const description = result[0];
              if (description === undefined || (description.error && isUnknownTopic(description.error))) {
                return resolve({ name, partitions: undefined });
              }
              if (description.error) return reject(description.error);
              resolve({ name, partitions: description.partitions.length });
            }),
          ),
      ),
    );
  }

  /** End offsets (read_committed: the last stable offset) or start offsets of partitions. */
  listOffsets(partitions: readonly TopicPartition[], which: 'earliest' | 'latest', readCommitted: boolean): Promise<TopicPartitionOffset[]> {
    if (partitions.length === 0) return Promise.resolve([]);
    const spec = which === 'earliest' ? Kafka.OffsetSpec.EARLIEST : Kafka.OffsetSpec.LATEST;
    return new Promise((resolve, reject) =>
      this.#admin.listOffsets(
        partitions.map((p) => ({ topic: p.topic, partition: p.partition, offset: spec })),
        { timeout: TIMEOUT_MS, isolationLevel: readCommitted ? Kafka.IsolationLevel.READ_COMMITTED : Kafka.IsolationLevel.READ_UNCOMMITTED },
        (error, result) => {
          if (error) return reject(error);
          const failed = result.find((r) => r.error);
          if (failed?.error) return reject(failed.error);
          resolve(result.map((r) => ({ topic: r.topic, partition: r.partition, offset: r.offset })));
        },
      ),
    );
  }

  describeGroup(groupId: string): Promise<GroupDescription | undefined> {
    return new Promise((resolve, reject) =>
      this.#admin.describeGroups([groupId], { timeout: 10_000 }, (error, result) => (error ? reject(error) : resolve(result.groups[0]))),
    );
  }

  disconnect(): void {
    this.#admin.disconnect();
  }
}
