/**
 * The synchronous core of a flow's runtime on one instance: the open tasks (one per partition:
 * its store with change logging, its processor, its punctuation schedule) and how their writes
 * are routed for the processing guarantee. FlowMember (the loop on Kafka and on the in-memory
 * log) drives it between polls and commits; FlowTestDriver drives it record by record, with no
 * broker and no timers: both run this code, as Kafka Streams' StreamThread and
 * TopologyTestDriver share StreamTask and RecordCollector.
 *
 * Routing, one object per guarantee (guarantees.ts, `holds`): under exactly_once every write goes in
 * the transaction as it happens. Under at_least_once output, dead letters and appends go at once,
 * while a drain's changelog tombstones and drain marks are held until the output they stand for
 * is delivered (`takeHeld`), so a crash never loses a drained event whose tombstone landed while
 * its output did not (rule 1). A trim's tombstones stand for no output and go at once, ahead of
 * the replay's appends.
 */
import type { Logger } from 'pino';
import type { FlowDefinition, RuntimeSettings } from '../../config/config.ts';
import { hasErrorCode } from '../../model/errors.ts';
import { PauseAwareProcessor } from '../../processor/pause-aware-processor.ts';
import type { ProcessorFactory } from '../../runtime/engine.ts';
import type { InputKind, InputRecord, OutputRecord, ProcessingEvent, StatusEntry } from '../../runtime/ports.ts';
import { deadLetterRecord, StreamTask } from '../../runtime/stream-task.ts';
import { LoggedBufferStore } from '../../stores/logged-buffer-store.ts';
import { type RestorableBufferStore, trimAhead } from '../../stores/restorable.ts';
import { type Guarantee, GUARANTEES } from './guarantees.ts';

/** Where the tasks' writes go: the member's producer (in its transaction), the driver's cluster. */
export type TaskWriter = (topic: string, partition: number | undefined, record: OutputRecord) => void;

/** A write that waits (at_least_once: a changelog tombstone or mark until its output is delivered). */
export interface PendingWrite {
  readonly topic: string;
  readonly partition: number | undefined;
  readonly record: OutputRecord;
}

export interface OpenTask {
  readonly partition: number;
  /** The store (without change logging). */
  readonly store: RestorableBufferStore;
  /** The store with change logging: what the processor and the queries see. */
  readonly logged: LoggedBufferStore;
  readonly task: StreamTask;
  nextPunctuate: number;
  /** Buffered events in the task's store (kept from the task's reports, for metrics). */
  buffered: number;
}

export interface FlowTasksOptions {
  readonly flow: FlowDefinition;
  readonly runtime: Pick<RuntimeSettings, 'processingGuarantee' | 'drainSliceSize' | 'punctuateIntervalMs' | 'maxBufferPerKey' | 'maxEventBytes'>;
  readonly status: (key: string) => StatusEntry;
  readonly write: TaskWriter;
  readonly now: () => number;
  /** The processor of each task (default: the pause-aware processor with the settings' limits). */
  readonly processor?: ProcessorFactory;
  readonly report: (flowId: string, event: ProcessingEvent) => void;
  readonly logger?: Logger;
}

export class FlowTasks {
  readonly flow: FlowDefinition;
  readonly #o: FlowTasksOptions;
  readonly #routing: Pick<Guarantee, 'holds'>;
  readonly #tasks = new Map<number, OpenTask>();
  #held: PendingWrite[] = [];
  #heldBytes = 0;

  constructor(options: FlowTasksOptions) {
    this.flow = options.flow;
    this.#o = options;
    this.#routing = GUARANTEES[options.runtime.processingGuarantee];
  }

  get size(): number {
    return this.#tasks.size;
  }

  get(partition: number): OpenTask | undefined {
    return this.#tasks.get(partition);
  }

  partitions(): number[] {
    return [...this.#tasks.keys()].sort((a, b) => a - b);
  }

  /** Buffered events over the open tasks. */
  get buffered(): number {
    let sum = 0;
    for (const task of this.#tasks.values()) sum += task.buffered;
    return sum;
  }

  /** at_least_once: bytes of the changelog records held for the next commit. */
  get heldBytes(): number {
    return this.#heldBytes;
  }

  /** The held changelog records, in order, to send once the output before them is delivered. */
  takeHeld(): PendingWrite[] {
    const held = this.#held;
    this.#held = [];
    this.#heldBytes = 0;
    return held;
  }

  /** Opens the task of a restored store. Entries ahead of `committedOffset` are trimmed first. */
  open(partition: number, store: RestorableBufferStore, committedOffset: number | undefined): OpenTask {
    const flowId = this.flow.id;
    const changelog = this.flow.topics.changelog;
    let trimming = false;
    const logged = new LoggedBufferStore(store, (entryKey, entryValue) => {
      const record = { key: entryKey, value: entryValue, headers: [], timestamp: this.#o.now() };
      if (!this.#routing.holds(entryKey, entryValue, trimming)) {
        this.#send(changelog, partition, record);
      } else {
        this.#held.push({ topic: changelog, partition, record });
        this.#heldBytes += entryKey.length + (entryValue?.length ?? 0);
      }
    });
    if (committedOffset !== undefined) {
      // Entries buffered from input at or after the committed offset are buffered again by the
      // replay; left in place one could drain ahead of an older replayed event (rule 1).
      trimming = true;
      const trimmed = trimAhead(logged, committedOffset);
      trimming = false;
      if (trimmed > 0) this.#o.logger?.info({ partition, trimmed, committedOffset }, 'dropped buffered entries ahead of the committed input offset; the replay buffers them again');
    }
    const { output, dlq } = this.flow.topics;
    const { runtime } = this.#o;
    const task = new StreamTask({
      flowId,
      partition,
      processor:
        this.#o.processor?.(this.flow, partition) ??
        new PauseAwareProcessor({ drainSliceSize: runtime.drainSliceSize, maxBufferPerKey: runtime.maxBufferPerKey, maxEventBytes: runtime.maxEventBytes }),
      buffer: logged,
      status: this.#o.status,
      sink: {
        output: (record) => this.#send(output, record.partition, record),
        deadLetter: (record) => this.#send(dlq, record.partition, record),
      },
      report: (id, event) => {
        this.#count(partition, event);
        this.#o.report(id, event);
      },
    });
    let buffered = 0;
    for (const key of store.keys()) buffered += store.count(key);
    const open: OpenTask = { partition, store, logged, task, nextPunctuate: this.#o.now() + runtime.punctuateIntervalMs, buffered };
    this.#tasks.set(partition, open);
    return open;
  }

  /**
   * Processes one input record in its partition's task; false when this instance has no task for
   * it. A key the store cannot hold (a processor of the user's own asked it to) is dead-lettered
   * as KEY_TOO_LARGE (rule 8) rather than fail the task on it for good.
   */
  process(record: InputRecord, kind: InputKind): boolean {
    const open = this.#tasks.get(record.partition);
    if (open === undefined) return false;
    try {
      open.task.process(record, kind);
    } catch (error) {
      if (!hasErrorCode(error, 'KEY_TOO_LARGE')) throw error;
      this.#send(this.flow.topics.dlq, undefined, deadLetterRecord(record, 'KEY_TOO_LARGE', error.message));
      this.#o.report(this.flow.id, { type: 'dead-lettered', key: record.key?.toString('utf8') ?? null, partition: record.partition, reason: 'KEY_TOO_LARGE' });
    }
    return true;
  }

  /** One drain slice per task; returns the events forwarded. */
  drainStep(): number {
    let forwarded = 0;
    for (const { task } of this.#tasks.values()) forwarded += task.drainStep(this.#o.runtime.drainSliceSize);
    return forwarded;
  }

  /** Punctuates the tasks whose time has come (stranded events, rule 4). */
  punctuateDue(now: number): void {
    for (const open of this.#tasks.values()) {
      if (now < open.nextPunctuate) continue;
      open.nextPunctuate = now + this.#o.runtime.punctuateIntervalMs;
      open.task.punctuate(now);
    }
  }

  /** Punctuates every task now (a driver's or a simulation's clock decides when). */
  punctuateAll(now: number): void {
    for (const open of this.#tasks.values()) {
      open.nextPunctuate = now + this.#o.runtime.punctuateIntervalMs;
      open.task.punctuate(now);
    }
  }

  /**
   * Closes every task and its store; a store with an end offset in `checkpoints` records that
   * its content matches its changelog up to there. Held writes are dropped (the work is redone).
   */
  closeAll(checkpoints: ReadonlyMap<number, number> = new Map()): void {
    for (const [partition, open] of this.#tasks) {
      open.task.close();
      const end = checkpoints.get(partition);
      try {
        if (end !== undefined && end >= 0) open.store.writeCheckpoint(end);
      } finally {
        open.store.close();
      }
    }
    this.#tasks.clear();
    this.takeHeld();
  }

  /** Closes one task and its store, without a checkpoint (a partition that moves away). */
  close(partition: number): void {
    const open = this.#tasks.get(partition);
    if (open === undefined) return;
    this.#tasks.delete(partition);
    open.task.close();
    open.store.close();
  }

  /** Closes one task without touching its store (an assignment that failed half-way). */
  drop(partition: number): void {
    this.#tasks.get(partition)?.task.close();
    this.#tasks.delete(partition);
  }

  #send(topic: string, partition: number | undefined, record: OutputRecord): void {
    this.#o.write(topic, partition, record);
  }

  #count(partition: number, event: ProcessingEvent): void {
    const task = this.#tasks.get(partition);
    if (task === undefined) return;
    if (event.type === 'buffered') task.buffered++;
    else if (event.type === 'drained') task.buffered = Math.max(0, task.buffered - event.count);
  }
}
