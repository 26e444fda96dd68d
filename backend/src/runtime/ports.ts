/**
 * The runtime's ports: everything the pause logic may know about the world below it.
 *
 * The processor sees a `ProcessorContext` and nothing else (like Kafka Streams' Processor API).
 * Engines (Kafka, embedded) implement `FlowEngine`; the HTTP layer talks to `FlowEngine` only.
 * Imports point one way: processor -> runtime ports; adapters -> ports; api -> ports.
 */

import type { Header, KeyStatus } from '../model/record.ts';

export type { Header, KeyStatus };

/** A record as read from an input topic. Immutable. */
export interface InputRecord {
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
  readonly key: Buffer | null;
  readonly value: Buffer | null;
  readonly headers: readonly Header[];
  /** Record timestamp (ms since epoch) as stored in the log. */
  readonly timestamp: number;
}

/** A record to write. `partition` unset means: the Java-compatible murmur2 partitioner picks. */
export interface OutputRecord {
  readonly key: Buffer | null;
  readonly value: Buffer | null;
  readonly headers: readonly Header[];
  readonly timestamp: number;
  readonly partition?: number;
  /** A drained event's buffer seq (its input offset); a passed-through input record has `offset`. */
  readonly seq?: number;
}

/** What the processor knows of a key's status; `version` changes on every status write seen. */
export interface StatusEntry {
  readonly status: KeyStatus;
  /** Monotonic per table; 0 when the key was never written. */
  readonly version: number;
  /**
   * Offset of the status record in the status topic (-1: never written). Names the same write on
   * every instance and after a restart, unlike `version`.
   */
  readonly position: number;
  /** Timestamp of the status record (-1: never written): orders it against a resume command. */
  readonly timestamp: number;
}

/**
 * A resume command's drain under way, kept in the buffer store (and its changelog) so that it
 * goes on after a restart or a move even while the status table still shows PAUSED (rule 3).
 */
export interface DrainMark {
  /** `StatusEntry.position` when the command came: a newer status write ends the command's drain. */
  readonly statusPosition: number;
  /** Events buffered after the command (seq at or above this) are not the command's to drain. */
  readonly stopBeforeSeq: number | null;
}

/** One event held in a buffer. `seq` is its input offset: a natural, replay-stable sequence. */
export interface BufferedEvent {
  readonly seq: number;
  readonly key: string;
  readonly value: Buffer | null;
  readonly headers: readonly Header[];
  readonly timestamp: number;
}

/**
 * A task's durable per-key queue. Synchronous by design: the task thread never awaits the store.
 * Entries of one key are ordered by `seq`; writing an existing (key, seq) overwrites it, which makes
 * re-buffering a replayed input record idempotent.
 */
/** What a query may do with a task's buffer: look, never change it. */
export interface BufferView {
  /** Oldest first, at most `limit` entries. */
  read(key: string, limit: number): BufferedEvent[];
  count(key: string): number;
  /** Keys holding at least one entry. */
  keys(): string[];
  drainMarks(): Array<[string, DrainMark]>;
  /**
   * Each key holding entries with its count, from an index kept in memory (no store scan), for
   * key search. Optional: without it a query falls back to keys() and count().
   */
  forEachKey?(visit: (key: string, count: number) => void): void;
}

export interface BufferStore extends BufferView {
  append(event: BufferedEvent): void;
  /** Oldest first, at most `limit` entries. */
  read(key: string, limit: number): BufferedEvent[];
  /** Removes the given entries (typically a drained slice). */
  remove(key: string, seqs: readonly number[]): void;
  count(key: string): number;
  /** Keys holding at least one entry, found by scanning the store (used to rebuild the dirty set). */
  keys(): string[];
  /** Records (a mark) or forgets (undefined) a resume command's drain of the key. */
  setDrainMark(key: string, mark: DrainMark | undefined): void;
  drainMarks(): Array<[string, DrainMark]>;
}

/** Reasons a record is routed to the dead-letter topic. A closed list: dashboards filter on it. */
export type DeadLetterReason =
  | 'MISSING_KEY'
  | 'INVALID_EVENT'
  | 'INVALID_COMMAND'
  | 'BUFFER_FULL'
  | 'RECORD_TOO_LARGE'
  | 'KEY_TOO_LARGE'
  /** Handler mode: the event a handler failed on, skipped by an operator ({"action":"SKIP"}). */
  | 'SKIPPED';

/** What a task reports as it works; feeds metrics and the live event stream. */
export type ProcessingEvent =
  | { readonly type: 'processed'; readonly key: string; readonly partition: number }
  | { readonly type: 'buffered'; readonly key: string; readonly partition: number }
  | { readonly type: 'drained'; readonly key: string; readonly partition: number; readonly count: number; readonly remaining: number }
  | { readonly type: 'dead-lettered'; readonly key: string | null; readonly partition: number; readonly reason: DeadLetterReason }
  /** Handler mode: events the handler took, over one commit. */
  | { readonly type: 'handled'; readonly partition: number; readonly count: number }
  /** Handler mode: an operator's SKIP dead-lettered the key's first held event (seq). */
  | { readonly type: 'skipped'; readonly key: string; readonly partition: number; readonly seq: number; readonly reason: string | null; readonly actor: string | null }
  /** Handler mode: a key parked after its handler failed. */
  | { readonly type: 'handler-parked'; readonly key: string; readonly partition: number; readonly error: string };

/** The narrow view of the runtime that the pause logic gets. */
export interface ProcessorContext {
  readonly partition: number;
  /** The input topic the task reads (source of dead letters made from buffered events). */
  readonly inputTopic?: string;
  readonly buffer: BufferStore;
  status(key: string): StatusEntry;
  /** Sends a record to the flow's output topic, in the task's current transaction. */
  forward(record: OutputRecord): void;
  /** Sends a record to the flow's dead-letter topic with reason and source in headers. */
  deadLetter(record: InputRecord, reason: DeadLetterReason, message: string): void;
  report(event: ProcessingEvent): void;
}

/** Which input a record came from. */
export type InputKind = 'event' | 'command';

export interface Processor {
  init(context: ProcessorContext): void;
  process(record: InputRecord, kind: InputKind): void;
  /** Wall-clock punctuation: the safety net for stranded events (rule 4). */
  punctuate(now: number): void;
  /**
   * Continues unfinished drains, forwarding at most `budget` events in all. Returns how many it
   * forwarded; 0 means no drain is pending. The runtime calls it between input batches so that a
   * huge buffer never stalls the task longer than one slice (rule 7).
   */
  drainStep(budget: number): number;
  /**
   * Handler mode: the runtime put `added` events of the key back into its buffer (a handler
   * failed on the first of them) and is writing a PAUSED status for it. Until the status table
   * shows a status newer than now, the key is treated as paused: its events are buffered and
   * nothing drains it. Optional: processors without it cannot run with a handler.
   */
  hold?(key: string, added: number): void;
  close(): void;
}
