/**
 * What a scenario needs from an engine. One scenario suite (scenarios.ts) runs against every
 * implementation: the embedded engine (in-process, deterministic clock) and real Kafka.
 */
import type { FlowDefinition, ProcessingGuarantee } from '../../src/config/config.ts';
import type { Header, KeyStatus } from '../../src/runtime/ports.ts';

export interface ScenarioOptions {
  readonly instances?: number;
  readonly guarantee?: ProcessingGuarantee;
  readonly drainSliceSize?: number;
  readonly punctuateIntervalMs?: number;
  readonly maxBufferPerKey?: number;
  readonly partitions?: number;
  /** Kafka only: STANDBY_REPLICAS of every instance (default 0). */
  readonly standbyReplicas?: number;
  /** Kafka only: STATIC_MEMBERSHIP of every instance (default false). */
  readonly staticMembership?: boolean;
  /** Kafka only: the group session timeout (default the harness's). */
  readonly sessionTimeoutMs?: number;
}

export interface OutRecord {
  readonly key: string | null;
  readonly value: Buffer | null;
  readonly headers: readonly Header[];
  readonly timestamp: number;
  readonly partition: number;
  readonly offset: number;
  /** The event id decoded from the value, when it is an event. */
  readonly id: string | undefined;
}

export interface ScenarioHarness {
  readonly engine: 'kafka' | 'embedded';
  /** A fresh flow (its own topics) per harness. */
  readonly flow: FlowDefinition;

  start(options?: ScenarioOptions): Promise<void>;
  sendEvent(key: string, id: string, extra?: { data?: unknown; headers?: readonly Header[]; timestamp?: number }): Promise<void>;
  sendRaw(topic: 'main' | 'trigger', key: string | null, value: Buffer | null): Promise<void>;
  /** Writes a status; null writes a tombstone. */
  setStatus(key: string, status: KeyStatus | null): Promise<void>;
  sendResume(key: string): Promise<void>;
  /** Waits until the output topic holds at least `count` records (read_committed); returns all. */
  waitForOutput(count: number, timeoutMs?: number): Promise<OutRecord[]>;
  waitForDeadLetters(count: number, timeoutMs?: number): Promise<OutRecord[]>;
  /** Everything on the output topic now (read_committed). */
  output(): Promise<OutRecord[]>;
  /** Lets wall-clock time pass so punctuators fire (embedded: advances its clock). */
  elapse(ms: number): Promise<void>;
  /** Buffered events of a key, as the owning instance reports it. */
  bufferCount(key: string): Promise<number>;
  /** kill -9 of an instance: no clean shutdown, uncommitted work lost. */
  crash(instance?: number): Promise<void>;
  restart(instance?: number): Promise<void>;
  /** Starts one more instance in the same group; returns its index. */
  addInstance(): Promise<number>;
  /** Clean shutdown of one instance (its partitions move to the others). */
  stopInstance(instance: number): Promise<void>;
  close(): Promise<void>;
}

export type HarnessFactory = () => Promise<ScenarioHarness>;
