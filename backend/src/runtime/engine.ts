/**
 * The port an engine (Kafka, embedded) offers to everything above the runtime: the service's
 * entry point, the HTTP control plane, tests. The API never knows which engine runs below.
 */
import type { FlowDefinition } from '../config/config.ts';
import type { BufferView, Header, KeyStatus, ProcessingEvent, Processor } from './ports.ts';
import type { StatusChange, StatusView } from './status-table.ts';

/**
 * Makes the processor of one task. Every engine takes one, so what a library user tests with the
 * driver or the embedded engine runs unchanged on Kafka.
 */
export type ProcessorFactory = (flow: FlowDefinition, partition: number) => Processor;

export interface EngineInfo {
  readonly kind: 'kafka' | 'embedded';
  /** Whether flows' data (topics, buffers, statuses) survives a restart of the process. */
  readonly durable: boolean;
  /** One line for logs and the dashboard, e.g. "Kafka at 127.0.0.1:9092". */
  readonly description: string;
}

/** A record as the API shows it. */
export interface StoredRecord {
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
  readonly key: string | null;
  readonly value: Buffer | null;
  readonly headers: readonly Header[];
  readonly timestamp: number;
}

/** Narrows `recent` to one partition, one key, or the records before an offset. */
export interface RecentScope {
  readonly partition?: number;
  /** Only this key's records (looked for among the last KEY_SCAN_RECORDS of each partition read). */
  readonly key?: string;
  /** Only records below this offset (with `partition`). */
  readonly before?: number;
}

/** How far back `recent` looks for one key's records, per partition. */
export const KEY_SCAN_RECORDS = 20_000;

export interface ProduceRequest {
  readonly key: string;
  readonly value: Buffer | null;
  readonly headers?: readonly Header[];
  readonly timestamp?: number;
}

/** Where the task of a partition lives: here, on another instance, or nowhere yet. */
export type PartitionOwner =
  | { readonly kind: 'local' }
  | { readonly kind: 'remote'; readonly url: string }
  | { readonly kind: 'unassigned' };

/** Everything an engine reports: processing events plus status changes. */
export type EngineEvent =
  | ({ readonly flowId: string } & ProcessingEvent)
  | ({ readonly flowId: string; readonly type: 'status-changed' } & StatusChange);

export interface EngineMetrics {
  readonly flows: ReadonlyArray<{
    readonly flowId: string;
    readonly bufferedEvents: number;
    readonly pausedKeys: number;
    readonly drainedEvents: number;
    readonly deadLettered: number;
    readonly processedEvents: number;
    /** Input events put into a buffer (their key was paused or still draining) by this instance. */
    readonly heldEvents: number;
    /** Handler mode: events a flow's handler took, and keys it parked (failed after its retries). */
    readonly handledEvents?: number;
    readonly handlerParked?: number;
    /** Input records not yet processed (end offset minus position), summed over local tasks. */
    readonly consumerLag: number;
    /** STANDBY_REPLICAS=1: changelog records the standby stores of this instance have not applied yet. */
    readonly standbyLag?: number;
    /** Partition assignments this instance received for the flow (each group rebalance it took part in ends with one). */
    readonly assignments?: number;
  }>;
  /** Latency of recent commits in ms (for the histogram). */
  readonly commitLatenciesMs: readonly number[];
  readonly commits: number;
}

export interface Readiness {
  readonly ready: boolean;
  /** Empty when ready. */
  readonly reasons: readonly string[];
}

export interface FlowEngine {
  readonly info: EngineInfo;
  readonly flows: readonly FlowDefinition[];
  /** Starts every flow; resolves when status tables are caught up and tasks restored. */
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Status tables caught up and every assigned task restored. */
  isReady(): boolean;
  /** isReady, with what keeps the engine from being ready (a restore, a member that is stuck). */
  readiness(): Readiness;

  produce(topic: string, record: ProduceRequest): Promise<{ partition: number; offset: number }>;
  /** The last `limit` records of a topic over all partitions, newest last. */
  recent(topic: string, limit: number, scope?: RecentScope): Promise<StoredRecord[]>;
  /** Partition count of a topic as the engine knows it. */
  partitions(topic: string): number;

  /** The flow's status table, to read (only its status follower writes it). */
  statusTable(flowId: string): StatusView;
  /** The Java-compatible murmur2 partition of a key in the flow's main topic. */
  partitionFor(flowId: string, key: string): number;
  /** Who owns a partition's task, e.g. from the consumer group's members (may ask the broker). */
  owner(flowId: string, partition: number): Promise<PartitionOwner>;
  /** The buffer store of a task this instance owns, for queries; undefined when not local. */
  localBuffer(flowId: string, partition: number): BufferView | undefined;
  /** Partitions of a flow this instance owns. */
  localPartitions(flowId: string): number[];
  /** URLs of every instance of this application (itself included), for fan-out queries. */
  instances(): Promise<string[]>;

  metrics(): EngineMetrics;
  subscribe(listener: (event: EngineEvent) => void): () => void;
}

export type { KeyStatus };
