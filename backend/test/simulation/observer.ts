/**
 * Watches the processor from inside, to check the rules that the output alone cannot show.
 *
 * `ObservedProcessor` sits between the runtime and the processor under test and sees every call
 * and every effect through the context (status reads, appends, forwards, dead letters). For each
 * it knows the truth the processor was given: the status table's value at that moment, and when
 * each buffered event was appended. It checks, as things happen:
 *   rule 2: an event processed while its key's table shows PAUSED is appended (or dead-lettered
 *           as BUFFER_FULL), never forwarded; and a buffered event leaves the buffer only while its
 *           key is ACTIVE, or on a resume command processed after it was buffered (status
 *           unchanged since the command);
 *   rule 7: one call forwards at most one slice (plus the event itself), drainStep returns what it
 *           forwarded, and nothing is dead-lettered as BUFFER_FULL below the capacity;
 * and, when its runtime is idle (`checkIdle`):
 *   rule 3: a resume command left nothing of what was buffered before it, unless the key's status
 *           was written since;
 *   rule 4: a key ACTIVE in the table holds nothing once a punctuation ran after it became ACTIVE
 *           (and after the task started).
 * A task's memory dies with a crash, except a resume command's grant: the processor keeps it in
 * the store as a drain mark, so a restored mark is a grant of the new incarnation, covering the
 * restored events below the bound the observer itself noted when commands came (not the mark's
 * own). The restored buffer counts as appended before anything the new incarnation does.
 */
import { decodeEvent, decodeResumeCommand, HEADERS, headerValue } from '../../src/model/wire.ts';
import type {
  BufferedEvent,
  BufferStore,
  DeadLetterReason,
  InputKind,
  InputRecord,
  OutputRecord,
  Processor,
  ProcessorContext,
  StatusEntry,
} from '../../src/runtime/ports.ts';

/** A valid event the simulation wrote to the main topic. */
export interface SentEvent {
  readonly id: string;
  readonly key: string;
  readonly partition: number;
  readonly offset: number;
  readonly value: Buffer;
  readonly headers: OutputRecord['headers'];
  readonly timestamp: number;
}

export interface ObserverLimits {
  readonly drainSliceSize: number;
  readonly maxBufferPerKey: number;
}

interface Grant {
  readonly tick: number;
  /** The key's status position when the command came; a newer status write ends the grant. */
  readonly position: number;
  /** Events at or past this seq are not covered (a restored grant: buffered after its command). */
  readonly stopBeforeSeq: number;
}

/**
 * Rule 3's last clause, as SEMANTICS.md states it: a resume command grants nothing when the key's
 * status is a PAUSED written after it. "After": at a higher offset than the ACTIVE record the
 * command names (header ep-status-offset), or, for a command that names none, stamped later.
 * Otherwise the command grants up to the newer of the status it names and the one the table shows.
 */
function grantPosition(command: InputRecord, status: StatusEntry): number | undefined {
  const named = headerValue(command.headers, HEADERS.statusOffset);
  if (named !== undefined) {
    const offset = Number(named);
    if (status.status === 'PAUSED' && status.position > offset) return undefined;
    return Math.max(offset, status.position);
  }
  if (status.status === 'PAUSED' && status.timestamp > command.timestamp) return undefined;
  return status.position;
}

function covers(grant: Grant, appendedTick: number | undefined, seq: number): boolean {
  return appendedTick !== undefined && appendedTick < grant.tick && seq < grant.stopBeforeSeq;
}

/** One life of one task: from init to close or crash. */
interface Incarnation {
  readonly runtime: string;
  readonly partition: number;
  readonly initTick: number;
  readonly buffer: BufferStore;
  readonly status: (key: string) => StatusEntry;
  /** `${key}\0${seq}` -> tick of the first append seen (-1: restored). */
  readonly appended: Map<string, number>;
  /** Restored entries the input has not reached yet (at-least-once: store ahead of positions). */
  readonly ahead: Set<string>;
  readonly grants: Map<string, Grant>;
  lastPunctuation: number;
  alive: boolean;
}

interface Call {
  readonly kind: 'event' | 'command' | 'punctuate' | 'drainStep';
  readonly record: InputRecord | undefined;
  readonly statusBefore: StatusEntry | undefined;
  forwards: number;
  appendedSeq: Set<number>;
  bufferFull: Set<number>;
}

/** How often the schedules reached the paths worth reaching. */
export interface Coverage {
  drained: number;
  /** Drained while the table still showed PAUSED, on a resume command's say-so (the lag race). */
  drainedByCommandWhilePaused: number;
  /** Events found in a task's buffer when it started (restored from the changelog). */
  restored: number;
  /** Resume commands' drains that outlived their task (restored drain marks). */
  restoredGrants: number;
  bufferFull: number;
  punctuations: number;
}

export class Observer {
  readonly violations: string[] = [];
  readonly coverage: Coverage = { drained: 0, drainedByCommandWhilePaused: 0, restored: 0, restoredGrants: 0, bufferFull: 0, punctuations: 0 };
  readonly limits: ObserverLimits;
  readonly #sent: ReadonlyMap<string, SentEvent>;
  readonly #incarnations: Incarnation[] = [];
  /**
   * Per partition and key, one past the highest seq buffered when any resume command came: what a
   * restored drain mark may cover at most. Kept here, not taken from the mark, so that a processor
   * saving a wrong bound is caught (events buffered after every command are never a mark's).
   */
  readonly #commandBounds = new Map<string, number>();

  noteCommand(partition: number, key: string, buffered: readonly BufferedEvent[]): void {
    const last = buffered.at(-1);
    if (last === undefined) return;
    const id = `${partition}\0${key}`;
    this.#commandBounds.set(id, Math.max(this.#commandBounds.get(id) ?? 0, last.seq + 1));
  }
  /** Per runtime, per key: tick at which its table last changed. */
  readonly #statusTicks = new Map<string, Map<string, number>>();
  #tick = 0;

  constructor(sent: ReadonlyMap<string, SentEvent>, limits: ObserverLimits) {
    this.#sent = sent;
    this.limits = limits;
  }

  tick(): number {
    return ++this.#tick;
  }

  violation(message: string): void {
    if (this.violations.length < 20) this.violations.push(`[tick ${this.#tick}] ${message}`);
  }

  sent(id: string): SentEvent | undefined {
    return this.#sent.get(id);
  }

  statusChanged(runtime: string, key: string): void {
    let ticks = this.#statusTicks.get(runtime);
    if (ticks === undefined) this.#statusTicks.set(runtime, (ticks = new Map()));
    ticks.set(key, this.tick());
  }

  begin(runtime: string, partition: number, context: ProcessorContext, committedMain: number): Incarnation {
    const incarnation: Incarnation = {
      runtime,
      partition,
      initTick: this.tick(),
      buffer: context.buffer,
      status: context.status,
      appended: new Map(),
      ahead: new Set(),
      grants: new Map(),
      lastPunctuation: -1,
      alive: true,
    };
    for (const [key, mark] of context.buffer.drainMarks()) {
      const bound = this.#commandBounds.get(`${partition}\0${key}`) ?? 0;
      incarnation.grants.set(key, { tick: incarnation.initTick, position: mark.statusPosition, stopBeforeSeq: Math.min(mark.stopBeforeSeq ?? Infinity, bound) });
      this.coverage.restoredGrants++;
    }
    for (const key of context.buffer.keys()) {
      for (const event of context.buffer.read(key, Number.MAX_SAFE_INTEGER)) {
        const id = entryId(key, event.seq);
        incarnation.appended.set(id, -1);
        this.coverage.restored++;
        if (event.seq >= committedMain) incarnation.ahead.add(id);
      }
    }
    this.#incarnations.push(incarnation);
    return incarnation;
  }

  /** A crash: every task of the runtime dies without close. */
  crashed(runtime: string): void {
    for (const incarnation of this.#incarnations) if (incarnation.runtime === runtime) incarnation.alive = false;
  }

  /** Rules 3 and 4 on every live task of an idle runtime. */
  checkIdle(runtime: string): void {
    const statusTicks = this.#statusTicks.get(runtime);
    for (const inc of this.#incarnations) {
      if (!inc.alive || inc.runtime !== runtime) continue;
      for (const [key, grant] of inc.grants) {
        if (inc.status(key).position > grant.position) continue; // a newer status write ended it
        const left = inc.buffer.read(key, Number.MAX_SAFE_INTEGER).filter((event) => {
          const id = entryId(key, event.seq);
          return covers(grant, inc.appended.get(id), event.seq) && !inc.ahead.has(id);
        });
        if (left.length > 0) {
          this.violation(`rule 3: the resume command for ${key} (tick ${grant.tick}) left ${left.length} older buffered events (first seq ${left[0]!.seq}) on ${runtime} p${inc.partition}`);
        }
      }
      for (const key of inc.buffer.keys()) {
        const status = inc.status(key);
        if (status.status !== 'ACTIVE') continue;
        const since = Math.max(statusTicks?.get(key) ?? -1, inc.initTick);
        if (inc.lastPunctuation > since) {
          this.violation(`rule 4: ${key} is ACTIVE (since tick ${since}), punctuated at tick ${inc.lastPunctuation}, still holds ${inc.buffer.count(key)} events on ${runtime} p${inc.partition}`);
        }
      }
    }
  }

  /** Rule 4 at the end: nothing is left in any live task's buffer. */
  checkEmpty(runtime: string): void {
    for (const inc of this.#incarnations) {
      if (!inc.alive || inc.runtime !== runtime) continue;
      for (const key of inc.buffer.keys()) {
        this.violation(`rule 4: after settling, ${key} still holds ${inc.buffer.count(key)} events (status ${inc.status(key).status}) on ${runtime} p${inc.partition}`);
      }
    }
  }

  end(incarnation: Incarnation): void {
    incarnation.alive = false;
  }
}

/** The processor under test, observed. `runtime` names the instance (and its generation). */
export class ObservedProcessor implements Processor {
  readonly #inner: Processor;
  readonly #observer: Observer;
  readonly #runtime: string;
  readonly #committedMain: () => number;
  #context!: ProcessorContext;
  #incarnation!: Incarnation;
  #call: Call | undefined;

  constructor(inner: Processor, observer: Observer, runtime: string, committedMain: () => number) {
    this.#inner = inner;
    this.#observer = observer;
    this.#runtime = runtime;
    this.#committedMain = committedMain;
  }

  init(context: ProcessorContext): void {
    this.#context = context;
    this.#incarnation = this.#observer.begin(this.#runtime, context.partition, context, this.#committedMain());
    const buffer = context.buffer;
    const observed: ProcessorContext = {
      partition: context.partition,
      status: (key) => context.status(key),
      report: (event) => context.report(event),
      forward: (record) => this.#forward(record),
      deadLetter: (record, reason, message) => this.#deadLetter(record, reason, message),
      buffer: {
        append: (event) => this.#append(event),
        read: (key, limit) => buffer.read(key, limit),
        remove: (key, seqs) => buffer.remove(key, seqs),
        count: (key) => buffer.count(key),
        keys: () => buffer.keys(),
        setDrainMark: (key, mark) => buffer.setDrainMark(key, mark),
        drainMarks: () => buffer.drainMarks(),
      },
    };
    this.#inner.init(observed);
  }

  process(record: InputRecord, kind: InputKind): void {
    const observer = this.#observer;
    const tick = observer.tick();
    const key = record.key?.toString('utf8');
    const statusBefore = key === undefined ? undefined : this.#context.status(key);
    if (kind === 'command' && key !== undefined && statusBefore !== undefined && decodeResumeCommand(record.value).ok) {
      const position = grantPosition(record, statusBefore);
      if (position !== undefined) {
        this.#incarnation.grants.set(key, { tick, position, stopBeforeSeq: Infinity });
        observer.noteCommand(this.#incarnation.partition, key, this.#context.buffer.read(key, Number.MAX_SAFE_INTEGER));
      }
    }
    const call = this.#begin(kind, record, statusBefore);
    this.#inner.process(record, kind);
    this.#call = undefined;

    const limit = observer.limits.drainSliceSize + 1;
    if (call.forwards > limit) observer.violation(`rule 7: processing one ${kind} forwarded ${call.forwards} events (slice ${limit - 1})`);
    if (kind === 'event' && key !== undefined && statusBefore?.status === 'PAUSED' && decodeEvent(record.value).ok) {
      if (!call.appendedSeq.has(record.offset) && !call.bufferFull.has(record.offset)) {
        observer.violation(`rule 2: event ${key}@${record.offset} was processed while PAUSED but not buffered`);
      }
    }
  }

  punctuate(now: number): void {
    this.#incarnation.lastPunctuation = this.#observer.tick();
    this.#observer.coverage.punctuations++;
    const call = this.#begin('punctuate', undefined, undefined);
    this.#inner.punctuate(now);
    this.#call = undefined;
    if (call.forwards > this.#observer.limits.drainSliceSize) {
      this.#observer.violation(`rule 7: a punctuation forwarded ${call.forwards} events (slice ${this.#observer.limits.drainSliceSize})`);
    }
  }

  drainStep(budget: number): number {
    this.#observer.tick();
    const call = this.#begin('drainStep', undefined, undefined);
    const forwarded = this.#inner.drainStep(budget);
    this.#call = undefined;
    if (call.forwards > budget) this.#observer.violation(`rule 7: a drain step forwarded ${call.forwards} events (budget ${budget})`);
    if (forwarded !== call.forwards) this.#observer.violation(`drainStep returned ${forwarded} but forwarded ${call.forwards}`);
    return forwarded;
  }

  close(): void {
    this.#observer.end(this.#incarnation);
    this.#inner.close();
  }

  #begin(kind: Call['kind'], record: InputRecord | undefined, statusBefore: StatusEntry | undefined): Call {
    if (this.#call !== undefined) this.#observer.violation(`re-entrant processor call (${kind} inside ${this.#call.kind})`);
    const call: Call = { kind, record, statusBefore, forwards: 0, appendedSeq: new Set(), bufferFull: new Set() };
    this.#call = call;
    return call;
  }

  #append(event: BufferedEvent): void {
    const id = entryId(event.key, event.seq);
    if (!this.#incarnation.appended.has(id)) this.#incarnation.appended.set(id, this.#observer.tick());
    this.#call?.appendedSeq.add(event.seq);
    this.#context.buffer.append(event);
  }

  #forward(record: OutputRecord): void {
    const observer = this.#observer;
    const call = this.#call;
    const decoded = decodeEvent(record.value);
    const sent = decoded.ok ? observer.sent(decoded.value.id) : undefined;
    if (sent === undefined) {
      observer.violation(`forwarded a record that is not an event the simulation sent: ${record.value?.toString('utf8')}`);
    } else if (call === undefined) {
      observer.violation(`forwarded ${sent.id} outside any processor call`);
    } else if (call.kind === 'event' && call.record?.offset === sent.offset && call.record.partition === sent.partition) {
      if (call.statusBefore?.status !== 'ACTIVE') observer.violation(`rule 2: ${sent.id} was forwarded straight through while its key was PAUSED`);
    } else {
      observer.coverage.drained++;
      const status = this.#context.status(sent.key);
      if (status.status !== 'ACTIVE') {
        observer.coverage.drainedByCommandWhilePaused++;
        const grant = this.#incarnation.grants.get(sent.key);
        const appended = this.#incarnation.appended.get(entryId(sent.key, sent.offset));
        if (grant === undefined || status.position > grant.position || !covers(grant, appended, sent.offset)) {
          observer.violation(`rule 2: buffered ${sent.id} was drained (${call.kind}) while ${sent.key} is PAUSED and no resume command ordered it`);
        }
      }
    }
    if (call !== undefined) call.forwards++;
    this.#context.forward(record);
  }

  #deadLetter(record: InputRecord, reason: DeadLetterReason, message: string): void {
    if (reason === 'BUFFER_FULL') {
      this.#observer.coverage.bufferFull++;
      const key = record.key?.toString('utf8') ?? '';
      const capacity = this.#observer.limits.maxBufferPerKey;
      const held = this.#context.buffer.count(key);
      if (capacity === 0) this.#observer.violation(`rule 7: ${key}@${record.offset} dropped as BUFFER_FULL with no capacity configured`);
      else if (held < capacity) this.#observer.violation(`rule 7: ${key}@${record.offset} dead-lettered as BUFFER_FULL with ${held} of ${capacity} held`);
      this.#call?.bufferFull.add(record.offset);
    }
    this.#context.deadLetter(record, reason, message);
  }
}

function entryId(key: string, seq: number): string {
  return `${key}\0${seq}`;
}
