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
import { encodeStatus, HEADERS } from '../../model/wire.ts';
import type { Header, InputKind, InputRecord, OutputRecord, ProcessingEvent, StatusEntry } from '../../runtime/ports.ts';
import { encodeEntryKey } from '../../stores/buffer-codec.ts';
import { deadLetterRecord, StreamTask } from '../../runtime/stream-task.ts';
import { LoggedBufferStore } from '../../stores/logged-buffer-store.ts';
import { type RestorableBufferStore, trimAhead } from '../../stores/restorable.ts';
import { type Guarantee, GUARANTEES } from './guarantees.ts';

/** One event a handler gets: its key, value (the event's bytes), headers and coordinates. */
export interface HandlerEvent {
  readonly flowId: string;
  readonly key: string;
  readonly value: Buffer | null;
  readonly headers: readonly Header[];
  readonly timestamp: number;
  /** The input partition and offset it came from. */
  readonly partition: number;
  readonly offset: number;
  /** 1 on the first call for this event, 2 on the first retry, ... */
  readonly attempt: number;
}

/**
 * A flow's handler (library mode): called for each event in place of writing it to the output
 * topic, per key in order, never twice at once for one key, keys concurrently up to
 * `concurrency`; at least once. A call that still fails after `retries` retries parks the key:
 * the event and the key's later ones go back to its buffer, in order, and the key is paused
 * with the error as the reason (actor "handler"), in the same transaction.
 */
export interface FlowHandler {
  handle(event: HandlerEvent): Promise<void>;
  readonly retries: number;
  /** Wait before retry n: backoffMs * 2^(n-1). */
  readonly backoffMs: number;
  readonly concurrency: number;
  /** A call that takes longer fails. */
  readonly timeoutMs: number;
}

/** What the runtime writes on a key a handler failed on. */
export const HANDLER_ACTOR = 'handler';
export const HANDLER_ERROR_HEADER = HEADERS.handlerError;

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
  /**
   * Buffered events in the task's store (kept from the task's reports, for metrics); undefined
   * until first asked: counting a large store (80 ms for 1,000,000 events) would hold up the
   * task's first records after a restart, and the processor counts them too.
   */
  buffered: number | undefined;
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
  /** Library mode: events go to this handler instead of the output topic. */
  readonly handler?: FlowHandler;
  /** Waits (the member's clock), for the handler's backoff and deadline; rejects when aborted. */
  readonly sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

interface PendingCall {
  readonly partition: number;
  readonly key: string;
  readonly seq: number;
  readonly record: OutputRecord;
}

export class FlowTasks {
  readonly flow: FlowDefinition;
  readonly #o: FlowTasksOptions;
  readonly #routing: Pick<Guarantee, 'holds'>;
  readonly #tasks = new Map<number, OpenTask>();
  #held: PendingWrite[] = [];
  #heldBytes = 0;
  /** Handler mode: forwarded events not handed to the handler yet, in order. */
  #calls: PendingCall[] = [];

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
    for (const task of this.#tasks.values()) {
      if (task.buffered === undefined) {
        let count = 0;
        for (const key of task.store.keys()) count += task.store.count(key);
        task.buffered = count;
      }
      sum += task.buffered;
    }
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
      inputTopic: this.flow.topics.main,
      status: this.#o.status,
      sink: {
        output:
          this.#o.handler === undefined
            ? (record) => this.#send(output, record.partition, record)
            : (record) => {
                const key = record.key?.toString('utf8') ?? '';
                const seq = record.seq ?? (record as Partial<InputRecord>).offset ?? -1;
                this.#calls.push({ partition, key, seq, record });
              },
        deadLetter: (record) => this.#send(dlq, record.partition, record),
      },
      report: (id, event) => {
        this.#count(partition, event);
        if (event.type === 'skipped') this.#activate(event.key, event.reason, event.actor);
        this.#o.report(id, event);
      },
    });
    const open: OpenTask = { partition, store, logged, task, nextPunctuate: this.#o.now() + runtime.punctuateIntervalMs, buffered: undefined };
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
      // Without an end, what the store holds since its last commit checkpoint may count for
      // nothing (lost partitions, an aborted transaction): dropped, the store reopens at that
      // checkpoint and restores the changelog's tail, not all of it.
      if (end === undefined || end < 0) {
        open.store.abandon();
        continue;
      }
      try {
        open.store.writeCheckpoint(end);
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

  /** Handler mode: forwarded events wait for runHandlers. */
  get pendingCalls(): number {
    return this.#calls.length;
  }

  /**
   * Work only a commit completes: handler calls, or changelog records held for it (at_least_once).
   * The stores already show its changes, so until that commit no commit checkpoint may be taken.
   */
  get awaitingCommit(): boolean {
    return this.#calls.length > 0 || this.#held.length > 0;
  }

  /**
   * Handler mode: hands the forwarded events to the handler (per key in order, keys
   * concurrently), before the commit that counts them as processed. A key whose call still
   * fails after the retries is parked: that event and its later ones go back to the key's
   * buffer with their seqs, the processor holds the key, and a PAUSED status with the error is
   * written, all in the current transaction.
   */
  async runHandlers(): Promise<void> {
    const handler = this.#o.handler;
    if (handler === undefined || this.#calls.length === 0) return;
    const calls = this.#calls;
    this.#calls = [];
    const byKey = new Map<string, PendingCall[]>();
    for (const call of calls) {
      const id = `${call.partition}\u0000${call.key}`;
      const list = byKey.get(id);
      if (list === undefined) byKey.set(id, [call]);
      else list.push(call);
    }
    const chains = [...byKey.values()];
    const failures: Array<{ failed: PendingCall[]; error: unknown }> = [];
    let handled = 0;
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < chains.length) {
        const chain = chains[next++]!;
        for (let i = 0; i < chain.length; i++) {
          const error = await this.#call(handler, chain[i]!);
          if (error !== undefined) {
            failures.push({ failed: chain.slice(i), error });
            break;
          }
          handled++;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(handler.concurrency, chains.length) }, worker));
    for (const { failed, error } of failures) this.#park(failed, error);
    if (handled > 0) this.#o.report(this.flow.id, { type: 'handled', partition: -1, count: handled });
  }

  async #call(handler: FlowHandler, call: PendingCall): Promise<unknown> {
    const sleep = this.#o.sleep;
    if (sleep === undefined) throw new Error('a handler needs the runtime\'s clock (FlowTasksOptions.sleep)');
    let error: unknown;
    for (let attempt = 1; attempt <= handler.retries + 1; attempt++) {
      if (attempt > 1) await sleep(handler.backoffMs * 2 ** (attempt - 2));
      const event: HandlerEvent = {
        flowId: this.flow.id,
        key: call.key,
        value: call.record.value,
        headers: call.record.headers,
        timestamp: call.record.timestamp,
        partition: call.partition,
        offset: call.seq,
        attempt,
      };
      const deadline = new AbortController();
      try {
        const timeout = sleep(handler.timeoutMs, deadline.signal).then(() => {
          throw new Error(`the handler did not finish within ${handler.timeoutMs} ms`);
        });
        await Promise.race([Promise.resolve().then(() => handler.handle(event)), timeout]);
        return undefined;
      } catch (caught) {
        error = caught;
      } finally {
        deadline.abort();
      }
    }
    return error;
  }

  #park(failed: readonly PendingCall[], error: unknown): void {
    const first = failed[0]!;
    const open = this.#tasks.get(first.partition);
    if (open === undefined) return; // the partition moved away meanwhile: the work is redone there
    const { changelog, status } = this.flow.topics;
    // Drained entries removed in this batch go back under their seqs: under at_least_once their
    // tombstones are still held, and must not land after the entries written again.
    const again = new Set(failed.map((call) => encodeEntryKey(call.key, call.seq).toString('hex')));
    this.#held = this.#held.filter((w) => !(w.topic === changelog && w.record.value === null && w.record.key !== null && again.has(w.record.key.toString('hex'))));
    for (const call of failed) {
      open.logged.append({ seq: call.seq, key: call.key, value: call.record.value, headers: call.record.headers, timestamp: call.record.timestamp });
    }
    if (open.buffered !== undefined) open.buffered += failed.length;
    open.task.hold(first.key, failed.length);
    const message = error instanceof Error ? error.message : String(error);
    const stack = error instanceof Error && error.stack !== undefined ? error.stack : message;
    // The reason (what the console and the history show) names where it failed; the whole stack
    // travels in the status record's ep-handler-error header.
    const frame = stack
      .split('\n')
      .map((line) => line.trim())
      .find((line) => line.startsWith('at ') && !line.includes('node:internal'));
    const headers: Header[] = [
      { key: HEADERS.reason, value: Buffer.from(`handler failed: ${message}${frame === undefined ? '' : ` (${frame})`}`.slice(0, 500)) },
      { key: HEADERS.actor, value: Buffer.from(HANDLER_ACTOR) },
      { key: HANDLER_ERROR_HEADER, value: Buffer.from(stack.slice(0, 8192)) },
    ];
    this.#send(status, undefined, { key: Buffer.from(first.key), value: encodeStatus('PAUSED'), headers, timestamp: this.#o.now() });
    this.#o.logger?.warn({ key: first.key, partition: first.partition, offset: first.seq, held: failed.length, err: error }, 'handler failed: key paused, its events held');
    this.#o.report(this.flow.id, { type: 'handler-parked', key: first.key, partition: first.partition, error: message });
  }

  /** After a SKIP: the key ACTIVE (in the current transaction); punctuation drains the rest. */
  #activate(key: string, reason: string | null, actor: string | null): void {
    const headers: Header[] = [{ key: HEADERS.actor, value: Buffer.from(actor ?? 'api') }];
    headers.push({ key: HEADERS.reason, value: Buffer.from(`skipped the failed event${reason === null ? '' : `: ${reason}`}`.slice(0, 500)) });
    this.#send(this.flow.topics.status, undefined, { key: Buffer.from(key), value: encodeStatus('ACTIVE'), headers, timestamp: this.#o.now() });
  }

  #send(topic: string, partition: number | undefined, record: OutputRecord): void {
    this.#o.write(topic, partition, record);
  }

  #count(partition: number, event: ProcessingEvent): void {
    const task = this.#tasks.get(partition);
    // Not counted yet: the count, when asked, reads the store as it is then.
    if (task === undefined || task.buffered === undefined) return;
    if (event.type === 'buffered') task.buffered++;
    else if (event.type === 'drained') task.buffered = Math.max(0, task.buffered - event.count);
    else if (event.type === 'skipped') task.buffered = Math.max(0, task.buffered - 1);
  }
}
