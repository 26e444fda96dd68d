/**
 * The pause logic: the seed's decision tree, and nothing else.
 *
 *   resume command                      -> drain the key's buffer
 *   event, key PAUSED                   -> buffer it
 *   event, key ACTIVE, buffer not empty -> drain, then forward it
 *   event, key ACTIVE, buffer empty     -> forward it
 *   punctuation                         -> drain every buffered key that is ACTIVE (stranded events)
 *
 * Two additions keep the promises of SEMANTICS.md: drains run in bounded slices, and while a key
 * still has buffered events its new events join the back of the buffer (rules 3 and 7).
 */
import { MAX_BUFFERED_KEY_BYTES } from '../model/errors.ts';
import { decodeResumeCommand, eventError, HEADERS, headerValue } from '../model/wire.ts';
import type { BufferedEvent, InputKind, InputRecord, Processor, ProcessorContext, StatusEntry } from '../runtime/ports.ts';

export interface PauseAwareOptions {
  /** Most events forwarded by one drain slice. */
  readonly drainSliceSize: number;
  /** Per-key buffer capacity; 0 means unlimited. */
  readonly maxBufferPerKey: number;
  /** Largest record (key + value + headers) taken; larger ones are dead-lettered. Default unlimited. */
  readonly maxEventBytes?: number;
}

/**
 * A drain in progress. An ACTIVE-status drain goes on while the key stays ACTIVE. A drain ordered
 * by a resume command goes on even while the status table still shows PAUSED (it may lag), but
 * stops at events buffered after the command, and if the key's status is written again. A
 * command's drain is kept in the store as a DrainMark, so it outlives a restart.
 */
interface Drain {
  readonly byCommand: boolean;
  readonly statusPosition: number;
  stopBeforeSeq: number;
  /** Whether the store holds its mark (written only when a command's drain outlasts a slice). */
  marked: boolean;
}

const STATUS_DRAIN: Drain = Object.freeze({ byCommand: false, statusPosition: -1, stopBeforeSeq: Infinity, marked: false });

export class PauseAwareProcessor implements Processor {
  readonly #options: PauseAwareOptions;
  #context!: ProcessorContext;
  /** Dirty-key set: keys with buffered events and how many. Rebuilt from the store on init. */
  readonly #buffered = new Map<string, number>();
  readonly #drains = new Map<string, Drain>();
  /** Keys whose store count was checked and found at capacity. */
  readonly #full = new Set<string>();
  /** Keys held by the runtime (hold): the status position when held; a newer status releases them. */
  readonly #held = new Map<string, number>();
  /**
   * Events the input path may still drain inline (a resume command's first slice, an ACTIVE
   * event's drain) before the runtime's next drain step. Without it one poll batch holding many
   * resume commands drained a slice for each, all at once (a mass resume of 500 keys: 500 slices
   * in one step, 30 s and more of output queued ahead of every ACTIVE key's event, rule 7).
   * Refilled by each drain step, so between two steps the input path drains one slice at most.
   */
  #inlineBudget: number;

  constructor(options: PauseAwareOptions) {
    this.#options = options;
    this.#inlineBudget = options.drainSliceSize;
  }

  init(context: ProcessorContext): void {
    this.#context = context;
    this.#buffered.clear();
    this.#drains.clear();
    this.#full.clear();
    this.#held.clear();
    for (const key of context.buffer.keys()) this.#buffered.set(key, context.buffer.count(key));
    for (const [key, mark] of context.buffer.drainMarks()) {
      if (this.#buffered.has(key)) this.#drains.set(key, { byCommand: true, statusPosition: mark.statusPosition, stopBeforeSeq: mark.stopBeforeSeq ?? Infinity, marked: true });
      else context.buffer.setDrainMark(key, undefined);
    }
  }

  process(record: InputRecord, kind: InputKind): void {
    const ctx = this.#context;
    // First: any copy of an outsized record (even a dead letter with its value) would not fit.
    const size = recordBytes(record);
    if (size > (this.#options.maxEventBytes ?? Infinity)) {
      ctx.deadLetter(record, 'RECORD_TOO_LARGE', `${size} bytes (key + value + headers) exceed MAX_EVENT_BYTES=${this.#options.maxEventBytes}; the record stays on its source topic`);
      return;
    }
    if (record.key === null) {
      ctx.deadLetter(record, 'MISSING_KEY', 'record has no key');
      return;
    }
    const key = record.key.toString('utf8');

    if (kind === 'command') {
      const command = decodeResumeCommand(record.value);
      if (!command.ok) {
        ctx.deadLetter(record, 'INVALID_COMMAND', command.error);
        return;
      }
      // SKIP acts on the event it names and nothing else: the runtime then sets the key ACTIVE
      // (a status written before the command could let a drain hand that event out first).
      if (command.value.action === 'SKIP') {
        this.#skipHead(key, command.value.seq, record);
        return;
      }
      const statusPosition = commandPosition(record, ctx.status(key));
      // A pause written after the command outranks it, however late the command is processed:
      // it releases nothing (the pause holds every buffered event; the next resume drains them).
      if (statusPosition === undefined) return;
      // A held key: only a command that names a status written after the hold releases it.
      const heldAt = this.#held.get(key);
      if (heldAt !== undefined) {
        if (statusPosition <= heldAt) return;
        this.#held.delete(key);
      }

      if (this.#buffered.has(key)) {
        // A drain already under way goes on under this command's terms, in the runtime's steps.
        const underWay = this.#drains.get(key);
        const drain: Drain = { byCommand: true, statusPosition, stopBeforeSeq: Infinity, marked: underWay?.marked ?? false };
        this.#drains.set(key, drain);
        if (underWay === undefined) this.#drainInline(key);
        if (this.#drains.get(key) === drain) {
          drain.marked = true;
          ctx.buffer.setDrainMark(key, { statusPosition: drain.statusPosition, stopBeforeSeq: null });
        }
      }
      return;
    }

    // Validated without a parse: the event's bytes are forwarded or buffered as they came.
    const invalid = eventError(record.value);
    if (invalid !== undefined) {
      ctx.deadLetter(record, 'INVALID_EVENT', invalid);
      return;
    }
    if (this.#isHeld(key)) {
      this.#buffer(key, record);
      return;
    }
    if (ctx.status(key).status === 'PAUSED') {
      const drain = this.#drains.get(key);
      if (drain?.byCommand && record.offset < drain.stopBeforeSeq) {
        drain.stopBeforeSeq = record.offset;
        if (drain.marked) ctx.buffer.setDrainMark(key, { statusPosition: drain.statusPosition, stopBeforeSeq: record.offset });
      }
      this.#buffer(key, record);
      return;
    }
    if (this.#buffered.has(key)) {
      // Drain first. A drain already under way is not hurried: the event joins the back and the
      // runtime's drain steps continue, so a batch of input never costs more than one slice a key.
      // (Unless the buffer is at its capacity: then a slice makes room, as an ACTIVE key's events
      // must not be turned away as BUFFER_FULL.)
      const atCapacity = this.#options.maxBufferPerKey > 0 && (this.#buffered.get(key) ?? 0) >= this.#options.maxBufferPerKey;
      if (!this.#drains.has(key) || atCapacity) {
        if (!this.#drains.has(key)) this.#drains.set(key, STATUS_DRAIN);
        if (atCapacity) this.#drainSlice(key, this.#options.drainSliceSize);
        else this.#drainInline(key);
      }
      if (this.#buffered.has(key)) {
        this.#buffer(key, record);
        return;
      }
    }
    ctx.forward(record);
    ctx.report({ type: 'processed', key, partition: ctx.partition });
  }

  punctuate(_now: number): void {
    for (const key of this.#buffered.keys()) {
      if (!this.#drains.has(key) && !this.#isHeld(key) && this.#context.status(key).status === 'ACTIVE') this.#drains.set(key, STATUS_DRAIN);
    }
    this.drainStep(this.#options.drainSliceSize);
  }

  drainStep(budget: number): number {
    this.#inlineBudget = this.#options.drainSliceSize;
    let forwarded = 0;
    for (const key of [...this.#drains.keys()]) {
      if (forwarded >= budget) break;
      forwarded += this.#drainSlice(key, Math.min(budget - forwarded, this.#options.drainSliceSize));
      // Round robin: a key that still has events goes to the back, so a huge buffer never
      // starves another key's drain (rule 4 within one punctuation interval, rule 7).
      const drain = this.#drains.get(key);
      if (drain !== undefined) {
        this.#drains.delete(key);
        this.#drains.set(key, drain);
      }
    }
    return forwarded;
  }

  hold(key: string, added: number): void {
    this.#buffered.set(key, (this.#buffered.get(key) ?? 0) + added);
    if (this.#drains.get(key)?.marked) this.#context.buffer.setDrainMark(key, undefined);
    this.#drains.delete(key);
    this.#full.delete(key);
    this.#held.set(key, this.#context.status(key).position);
  }

  /**
   * SKIP: the key's first held event goes to the DLQ, if it is the one the command names (a
   * replayed or stale command skips nothing), and the runtime is told (report 'skipped') so that
   * it sets the key ACTIVE in the same transaction: the rest drains from there, in order.
   */
  #skipHead(key: string, seq: number, command: InputRecord): void {
    const ctx = this.#context;
    const head = ctx.buffer.read(key, 1)[0];
    if (head === undefined || head.seq !== seq) return; // skipped already (a replayed command)
    const reason = headerValue(command.headers, HEADERS.reason);
    const source: InputRecord = {
      topic: ctx.inputTopic ?? command.topic,
      partition: ctx.partition,
      offset: head.seq,
      key: command.key,
      value: head.value,
      headers: head.headers,
      timestamp: head.timestamp,
    };
    ctx.deadLetter(source, 'SKIPPED', `skipped by an operator${reason === undefined ? '' : `: ${reason}`}`);
    ctx.buffer.remove(key, [head.seq]);
    this.#held.delete(key);
    ctx.report({ type: 'skipped', key, partition: ctx.partition, seq, reason: reason ?? null, actor: headerValue(command.headers, HEADERS.actor) ?? null });
    // Rare (an operator's action): the store's own count.
    const remaining = ctx.buffer.count(key);
    if (remaining === 0) this.#buffered.delete(key);
    else this.#buffered.set(key, remaining);
  }

  /** Held and the status table has seen nothing newer than the hold. */
  #isHeld(key: string): boolean {
    const heldAt = this.#held.get(key);
    if (heldAt === undefined) return false;
    if (this.#context.status(key).position > heldAt) {
      this.#held.delete(key);
      return false;
    }
    return true;
  }

  close(): void {
    this.#buffered.clear();
    this.#drains.clear();
    this.#full.clear();
    this.#held.clear();
  }

  /** A slice from the input path, within what is left of the inline budget; the rest waits for the drain steps. */
  #drainInline(key: string): void {
    if (this.#inlineBudget <= 0) return;
    this.#inlineBudget -= this.#drainSlice(key, Math.min(this.#inlineBudget, this.#options.drainSliceSize));
  }

  #buffer(key: string, record: InputRecord): void {
    const ctx = this.#context;
    let count = this.#buffered.get(key) ?? 0;
    const capacity = this.#options.maxBufferPerKey;
    if (capacity > 0 && count >= capacity) {
      // The in-memory count may run high after a replay re-buffered records (an overwrite):
      // only the store's own count may turn an event away. Counted once: while the key stays
      // full nothing is added, so only a drain (which forgets the verdict) can lower it.
      if (!this.#full.has(key)) {
        count = ctx.buffer.count(key);
        this.#buffered.set(key, count);
        if (count >= capacity) this.#full.add(key);
      }
      if (this.#full.has(key)) {
        ctx.deadLetter(record, 'BUFFER_FULL', `key already holds ${count} buffered events (MAX_BUFFER_PER_KEY)`);
        return;
      }
    }
    // Every engine's buffer holds keys up to the same length: a longer one is routed, not fatal.
    if (Buffer.byteLength(key) > MAX_BUFFERED_KEY_BYTES) {
      ctx.deadLetter(record, 'KEY_TOO_LARGE', `a key of ${Buffer.byteLength(key)} UTF-8 bytes cannot be buffered (at most ${MAX_BUFFERED_KEY_BYTES})`);
      return;
    }
    const event: BufferedEvent = {
      seq: record.offset,
      key,
      value: record.value,
      headers: record.headers,
      timestamp: record.timestamp,
    };
    ctx.buffer.append(event);
    this.#buffered.set(key, count + 1);
    ctx.report({ type: 'buffered', key, partition: ctx.partition });
  }

  /** Forwards up to `limit` of the key's oldest buffered events, then removes them. */
  #drainSlice(key: string, limit: number): number {
    const ctx = this.#context;
    const drain = this.#drains.get(key);
    const stopBeforeSeq = drain === undefined ? undefined : this.#drainBound(key, drain);
    if (stopBeforeSeq === undefined) {
      this.#endDrain(key);
      return 0;
    }
    const read = ctx.buffer.read(key, limit);
    const slice = read.filter((event) => event.seq < stopBeforeSeq);
    for (const event of slice) {
      ctx.forward({ key: Buffer.from(event.key, 'utf8'), value: event.value, headers: event.headers, timestamp: event.timestamp, seq: event.seq });
    }
    ctx.buffer.remove(key, slice.map((event) => event.seq));

    // A short read is exact. A full read that used up the count asks the store: the count only
    // ever runs high (a replayed append overwrites), and a stale count would fake BUFFER_FULL.
    const estimate = (this.#buffered.get(key) ?? 0) - slice.length;
    const remaining = read.length < limit ? read.length - slice.length : estimate > 0 ? estimate : ctx.buffer.count(key);
    if (remaining === 0) this.#buffered.delete(key);
    else this.#buffered.set(key, remaining);
    if (remaining === 0 || slice.length < read.length) this.#endDrain(key);
    if (slice.length > 0) this.#full.delete(key);
    if (slice.length > 0) ctx.report({ type: 'drained', key, partition: ctx.partition, count: slice.length, remaining });
    return slice.length;
  }

  #endDrain(key: string): void {
    if (this.#drains.get(key)?.marked) this.#context.buffer.setDrainMark(key, undefined);
    this.#drains.delete(key);
  }

  /** Where the drain must stop (exclusive seq), or undefined when it must not go on at all. */
  #drainBound(key: string, drain: Drain): number | undefined {
    const status = this.#context.status(key);
    if (status.status === 'ACTIVE') return Infinity;
    // Positions are offsets in the key's status partition: a higher one is a newer write (a pause
    // after the command); a lower one is a table still catching up (after a restart).
    return drain.byCommand && status.position <= drain.statusPosition ? drain.stopBeforeSeq : undefined;
  }
}

/**
 * The status position a resume command stands for, or undefined when the key's status is a
 * PAUSED written after the command. Our API names the offset of the ACTIVE record it wrote just
 * before the command (header ep-status-offset); a command without it (the original's producers,
 * scripts) is placed by timestamps: a PAUSED record stamped after the command outranks it.
 */
function commandPosition(record: InputRecord, status: StatusEntry): number | undefined {
  const named = headerValue(record.headers, HEADERS.statusOffset);
  const offset = named === undefined ? NaN : Number(named);
  if (Number.isSafeInteger(offset) && offset >= 0) {
    if (status.status === 'PAUSED' && status.position > offset) return undefined;
    return Math.max(offset, status.position);
  }
  if (status.status === 'PAUSED' && status.timestamp > record.timestamp) return undefined;
  return status.position;
}

/** Bytes of key, value and headers, with the 8 bytes a header takes in a changelog entry. */
function recordBytes(record: InputRecord): number {
  let size = (record.key?.length ?? 0) + (record.value?.length ?? 0);
  for (const header of record.headers) size += Buffer.byteLength(header.key) + header.value.length + 8;
  return size;
}
