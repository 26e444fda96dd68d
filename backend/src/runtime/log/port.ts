/**
 * The log-client port: all the stream runtime needs of a Kafka-like log (consume in a group with
 * rebalance callbacks, read partitions by hand, produce, transactions whose offsets carry the
 * consumer's group metadata, offsets, end offsets, group and topic metadata). Two adapters: the
 * librdkafka one (engines/kafka/client.ts) and the in-memory cluster (engines/embedded).
 *
 * Calls fail with LogClientError (./errors.ts). Records come as InputRecords; offsets use
 * Kafka's logical values (OFFSET_BEGINNING, OFFSET_INVALID) where a position is not a number yet.
 */
import type { Header, InputRecord } from '../ports.ts';

export const OFFSET_BEGINNING = -2;
/** No offset (nothing committed, nothing consumed yet). */
export const OFFSET_INVALID = -1001;

export interface TopicPartition {
  readonly topic: string;
  readonly partition: number;
}

export interface TopicPartitionOffset extends TopicPartition {
  readonly offset: number;
}

/** A position that may not be known yet (undefined or OFFSET_INVALID). */
export interface TopicPartitionPosition extends TopicPartition {
  readonly offset?: number | undefined;
}

export interface ConsumedBatch {
  readonly messages: InputRecord[];
  /** Partitions that reached their end offset during this call (readers only). */
  readonly eofs: TopicPartitionOffset[];
}

/** `lost`: the partitions were taken away (session expired, poll interval exceeded), not handed back. */
export type RebalanceKind = 'assign' | 'revoke' | 'lost';

export interface LogConsumer {
  /** Not closing or closed. */
  readonly open: boolean;
  connect(): Promise<void>;
  subscribe(topics: string[]): void;
  /** Without an offset: from the group's committed offset, else the beginning. */
  assign(partitions: readonly TopicPartitionPosition[]): void;
  unassign(): void;
  /** Waits at most `timeoutMs` for the first record, then takes what is ready, up to `max`. */
  consume(max: number, timeoutMs: number): Promise<ConsumedBatch>;
  seek(partition: TopicPartitionOffset): Promise<void>;
  /** Next offset to read per partition (past transaction markers); all assigned when omitted. */
  position(partitions?: TopicPartition[]): TopicPartitionPosition[];
  /** The group's committed offsets (stable: pending transactional offsets are waited for). */
  committed(partitions: TopicPartition[], timeoutMs?: number): Promise<TopicPartitionPosition[]>;
  /**
   * Resolves once the group coordinator has taken the offsets, checked against this member's
   * generation; rejects with its answer otherwise (GENERATION: the group moved on). The runtime
   * takes a resolved commit for proof that it owned its partitions when it asked.
   */
  commit(offsets: TopicPartitionOffset[]): Promise<void>;
  /** High watermark seen by the last fetches, undefined when not known yet. */
  cachedEndOffset(topic: string, partition: number): number | undefined;
  /** Leaves the group (if any) and closes; false when the client was abandoned. */
  disconnect(): Promise<boolean>;
}

export interface LogProducer {
  readonly open: boolean;
  readonly connected: boolean;
  connect(): Promise<void>;
  /** Queues a record (per-partition order kept); throws QUEUE_FULL when the queue is full. */
  produce(topic: string, partition: number | undefined, key: Buffer | null, value: Buffer | null, timestamp: number, headers: readonly Header[]): void;
  /** Produces one record and resolves with where it landed. */
  send(topic: string, partition: number | undefined, key: Buffer | null, value: Buffer | null, timestamp: number | undefined, headers: readonly Header[]): Promise<TopicPartitionOffset>;
  /** Failed deliveries since the last call (producers with delivery reports). */
  takeDeliveryErrors(): number;
  /** Serves delivery reports. */
  poll(): void;
  flush(timeoutMs?: number): Promise<void>;
  initTransactions(timeoutMs?: number): Promise<void>;
  beginTransaction(): Promise<void>;
  /** Adds offsets with the consumer's group metadata to the transaction (fenced by generation). */
  sendOffsets(offsets: TopicPartitionOffset[], consumer: LogConsumer): Promise<void>;
  commitTransaction(timeoutMs?: number): Promise<void>;
  abortTransaction(timeoutMs?: number): Promise<void>;
  disconnect(timeoutMs?: number): Promise<boolean>;
}

export interface TopicInfo {
  readonly name: string;
  /** undefined: the topic does not exist. */
  readonly partitions: number | undefined;
  /** The fewest replicas of any of its partitions (undefined: not known). */
  readonly replicationFactor?: number;
}

export interface GroupInfo {
  readonly members: ReadonlyArray<{ readonly clientId: string; readonly assignment: readonly TopicPartition[] }>;
}

/** An admin client that renews itself when its view of the cluster goes stale. */
export interface LogAdmin {
  /** End offsets (read_committed: the last stable offset) or start offsets; `timeoutMs`: the adapter's default when omitted. */
  listOffsets(partitions: readonly TopicPartition[], which: 'earliest' | 'latest', readCommitted: boolean, timeoutMs?: number): Promise<TopicPartitionOffset[]>;
  describeTopics(names: readonly string[]): Promise<TopicInfo[]>;
  describeGroup(groupId: string): Promise<GroupInfo | undefined>;
  disconnect(): Promise<boolean>;
}

export type OffsetsAdmin = Pick<LogAdmin, 'listOffsets'>;

export interface GroupConsumerOptions {
  /** client.id: other instances find this member by it (its advertised URL). */
  readonly clientId: string;
  readonly groupId: string;
  /** Static membership (KIP-345): a stable id per instance; a restart within the session timeout causes no rebalance. */
  readonly groupInstanceId?: string;
  readonly sessionTimeoutMs: number;
  /** Called at any await of the owner: queue, do not act. */
  readonly onRebalance: (kind: RebalanceKind, partitions: TopicPartition[]) => void;
  readonly onError?: (error: unknown) => void;
  /** False: this member never calls commit (exactly_once commits through the producer's transaction). Default true. */
  readonly commits?: boolean;
}

export interface ReaderOptions {
  readonly clientId: string;
  /** Adapter-specific tuning (librdkafka properties), applied last. */
  readonly tuning?: Readonly<Record<string, string | number | boolean>>;
}

export interface ProducerOptions {
  readonly clientId: string;
  /** Set: a transactional producer (exactly-once) with this id and transaction timeout. */
  readonly transactional?: { readonly id: string; readonly timeoutMs: number };
  /**
   * true: count failed deliveries (takeDeliveryErrors) and resolve `send`. 'errors': only count
   * failed deliveries (no report per delivered record crosses into JavaScript; `send` unusable).
   */
  readonly deliveryReports?: boolean | 'errors';
  /** Largest record the producer must be able to send. */
  readonly maxMessageBytes?: number;
  /** How long records wait to be batched (default: the adapter's). */
  readonly lingerMs?: number;
  /** A failed record is given up after this long (default: the adapter's). */
  readonly messageTimeoutMs?: number;
  readonly onError?: (error: unknown) => void;
}

/** Makes the clients of one process (one set of connection settings). */
export interface LogClients {
  /** A member of a consumer group, read_committed, rebalancing by hand (range assignor). */
  groupConsumer(options: GroupConsumerOptions): LogConsumer;
  /** A group-less read_committed consumer of assigned partitions, with end-of-partition events. */
  reader(options: ReaderOptions): LogConsumer;
  producer(options: ProducerOptions): LogProducer;
  admin(options: { readonly clientId: string; readonly onRenew?: (error: unknown) => void }): LogAdmin;
}
