/**
 * Wire formats, compatible with the original Java system so that its producers and tools keep
 * working: event `{"id","data","timestamp"}`, status the JSON string `"ACTIVE"`/`"PAUSED"`
 * (tombstone = ACTIVE), resume command `{"action":"RESUME"}`, keys UTF-8 strings.
 */
import type { Header, KeyStatus } from './record.ts';

export interface Event {
  readonly id: string;
  readonly data: unknown;
  readonly timestamp?: number;
}

/** Header names event-pause adds. Values stay wire-compatible; metadata travels in headers. */
export const HEADERS = {
  reason: 'ep-reason',
  actor: 'ep-actor',
  dlqReason: 'ep-dlq-reason',
  dlqMessage: 'ep-dlq-message',
  sourceTopic: 'ep-source-topic',
  sourcePartition: 'ep-source-partition',
  sourceOffset: 'ep-source-offset',
  /**
   * On a resume command: the offset of the ACTIVE status record written just before it for the
   * same key. A PAUSED at a higher offset was written after the command and outranks it.
   */
  statusOffset: 'ep-status-offset',
  /**
   * On a status record: the key's earlier status changes, oldest first, as JSON (encodeHistory).
   * The audit trail travels with the key's latest status record, so the compacted status topic,
   * which keeps that record, keeps the trail; the value stays the original's "PAUSED"/"ACTIVE".
   */
  history: 'ep-history',
  /** On a PAUSED status record its handler wrote (library mode): the error's whole stack (at most 8 KiB). */
  handlerError: 'ep-handler-error',
} as const;

/** One status change of a key's audit trail (the ep-history header). */
export interface HistoryEntry {
  readonly status: KeyStatus;
  readonly reason: string | undefined;
  readonly actor: string | undefined;
  /** The status record's timestamp, partition and offset. */
  readonly timestamp: number;
  readonly partition: number;
  readonly offset: number;
}

/** Earlier changes one status record carries at most: with the record itself, 50. */
export const HISTORY_TRAIL_ENTRIES = 49;
/** Bytes the ep-history header takes at most: the oldest entries are left out past it. */
export const HISTORY_TRAIL_BYTES = 16 * 1024;

type WireHistoryEntry = { s: KeyStatus; r?: string; a?: string; t: number; p: number; o: number };

/**
 * The ep-history header: the newest HISTORY_TRAIL_ENTRIES entries (oldest first) that fit in
 * HISTORY_TRAIL_BYTES; undefined when there is nothing to carry.
 */
export function encodeHistory(entries: readonly HistoryEntry[]): Buffer | undefined {
  const wire: string[] = [];
  let bytes = 2;
  for (let i = entries.length - 1; i >= 0 && wire.length < HISTORY_TRAIL_ENTRIES; i--) {
    const e = entries[i]!;
    const item: WireHistoryEntry = { s: e.status, t: e.timestamp, p: e.partition, o: e.offset };
    if (e.reason !== undefined) item.r = e.reason;
    if (e.actor !== undefined) item.a = e.actor;
    const text = JSON.stringify(item);
    const size = Buffer.byteLength(text) + 1;
    if (bytes + size > HISTORY_TRAIL_BYTES) break;
    bytes += size;
    wire.push(text);
  }
  return wire.length === 0 ? undefined : Buffer.from(`[${wire.reverse().join(',')}]`);
}

/** The entries of an ep-history header; a header that cannot be read gives none (it is only a trail). */
export function decodeHistory(value: Buffer | undefined): HistoryEntry[] {
  if (value === undefined || value.length === 0) return [];
  let parsed: unknown;
  try {
    parsed = JSON.parse(value.toString('utf8'));
  } catch {
    return [];
  }
  if (!Array.isArray(parsed)) return [];
  const entries: HistoryEntry[] = [];
  for (const item of parsed as Array<Partial<WireHistoryEntry> | null>) {
    if (item === null || typeof item !== 'object') continue;
    if ((item.s !== 'PAUSED' && item.s !== 'ACTIVE') || typeof item.t !== 'number' || typeof item.p !== 'number' || typeof item.o !== 'number') continue;
    entries.push({
      status: item.s,
      reason: typeof item.r === 'string' ? item.r : undefined,
      actor: typeof item.a === 'string' ? item.a : undefined,
      timestamp: item.t,
      partition: item.p,
      offset: item.o,
    });
  }
  return entries;
}

export function headerBuffer(headers: readonly Header[], key: string): Buffer | undefined {
  for (let i = headers.length - 1; i >= 0; i--) {
    const header = headers[i];
    if (header !== undefined && header.key === key) return header.value;
  }
  return undefined;
}

export type Decoded<T> = { ok: true; value: T } | { ok: false; error: string };

function parseJson(value: Buffer | null): Decoded<unknown> {
  if (value === null) return { ok: false, error: 'value is null' };
  try {
    return { ok: true, value: JSON.parse(value.toString('utf8')) };
  } catch (error) {
    return { ok: false, error: `value is not JSON: ${(error as Error).message}` };
  }
}

export function decodeEvent(value: Buffer | null): Decoded<Event> {
  const parsed = parseJson(value);
  if (!parsed.ok) return parsed;
  const event = parsed.value as Record<string, unknown>;
  if (typeof event !== 'object' || event === null || Array.isArray(event)) {
    return { ok: false, error: 'event must be a JSON object {"id","data","timestamp"}' };
  }
  if (typeof event.id !== 'string' || event.id === '') return { ok: false, error: 'event.id must be a non-empty string' };
  if (event.timestamp !== undefined && event.timestamp !== null && typeof event.timestamp !== 'number') {
    return { ok: false, error: 'event.timestamp must be a number (ms since epoch)' };
  }
  return { ok: true, value: event as unknown as Event };
}

/**
 * Why `value` is not a valid event, or undefined when it is: the same verdict and message as
 * `decodeEvent`, without building the string and the object tree for the valid ones (the
 * pass-through path forwards the bytes and never looks inside). A byte scanner checks exactly
 * what `decodeEvent` checks: the whole value is JSON (RFC 8259, as JSON.parse takes it after a
 * UTF-8 decode that replaces malformed sequences), the top level is an object, its last `id` is
 * a non-empty string and its last `timestamp`, if any, a number or null. Whatever the scanner
 * does not accept (invalid input, an escaped top-level key) goes to `decodeEvent`, which decides
 * and says why; test/processor/event-validation.test.ts compares both on edge and random inputs.
 */
export function eventError(value: Buffer | null): string | undefined {
  if (value !== null && isPlainValidEvent(value)) return undefined;
  const decoded = decodeEvent(value);
  return decoded.ok ? undefined : decoded.error;
}

/**
 * True only for a value `decodeEvent` accepts. False for everything else and for the rare valid
 * forms it leaves to `decodeEvent` (a top-level key written with escapes). Exported for tests.
 */
export function isPlainValidEvent(b: Uint8Array): boolean {
  const n = b.length;
  let i = skipSpace(b, 0);
  if (b[i] !== OPEN_BRACE) return false;
  i = skipSpace(b, i + 1);
  let idOk = false;
  let timestampOk = true;
  for (;;) {
    if (b[i] !== QUOTE) return false;
    const keyStart = i + 1;
    i = scanString(b, i);
    if (i < 0) return false;
    const keyLength = i - 1 - keyStart;
    let field = FIELD_OTHER;
    for (let k = keyStart; k < i - 1; k++) if (b[k] === BACKSLASH) return false; // decodeEvent reads the key
    if (keyLength === 2 && b[keyStart] === 0x69 && b[keyStart + 1] === 0x64) field = FIELD_ID;
    else if (keyLength === 9 && matches(b, keyStart, TIMESTAMP)) field = FIELD_TIMESTAMP;
    i = skipSpace(b, i);
    if (b[i] !== COLON) return false;
    i = skipSpace(b, i + 1);
    const first = b[i];
    const start = i;
    i = scanValue(b, i);
    if (i < 0) return false;
    // Duplicate keys: JSON.parse keeps the last value, so the last one decides.
    if (field === FIELD_ID) idOk = first === QUOTE && i - start > 2;
    else if (field === FIELD_TIMESTAMP) timestampOk = first === MINUS || (first !== undefined && first >= DIGIT_0 && first <= DIGIT_9) || first === 0x6e;
    i = skipSpace(b, i);
    if (b[i] === COMMA) {
      i = skipSpace(b, i + 1);
      continue;
    }
    if (b[i] !== CLOSE_BRACE) return false;
    return skipSpace(b, i + 1) === n && idOk && timestampOk;
  }
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const COLON = 0x3a;
const COMMA = 0x2c;
const MINUS = 0x2d;
const DIGIT_0 = 0x30;
const DIGIT_9 = 0x39;
const FIELD_OTHER = 0;
const FIELD_ID = 1;
const FIELD_TIMESTAMP = 2;
const TIMESTAMP = Buffer.from('timestamp');
const TRUE = Buffer.from('true');
const FALSE = Buffer.from('false');
const NULL = Buffer.from('null');
/** Open containers of the value being scanned (1 object, 2 array); grows for deep nesting. */
let containers = new Uint8Array(64);

function matches(b: Uint8Array, at: number, word: Uint8Array): boolean {
  if (at + word.length > b.length) return false;
  for (let k = 0; k < word.length; k++) if (b[at + k] !== word[k]) return false;
  return true;
}

/** JSON whitespace is these four characters only. */
function skipSpace(b: Uint8Array, i: number): number {
  for (;;) {
    const c = b[i];
    if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) i++;
    else return i;
  }
}

function isHex(c: number | undefined): boolean {
  return c !== undefined && ((c >= DIGIT_0 && c <= DIGIT_9) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66));
}

/**
 * `b[i]` is a quote: the index after the closing quote, or -1. Bytes from 0x80 up are taken as
 * they are: malformed UTF-8 decodes to U+FFFD, and no byte below 0x80 is ever part of a
 * multi-byte sequence, so a quote, a backslash or a control character is always itself.
 */
function scanString(b: Uint8Array, i: number): number {
  const n = b.length;
  for (i++; i < n; i++) {
    const c = b[i]!;
    if (c === QUOTE) return i + 1;
    if (c < 0x20) return -1;
    if (c === BACKSLASH) {
      const e = b[++i];
      if (e === 0x75) {
        if (!isHex(b[i + 1]) || !isHex(b[i + 2]) || !isHex(b[i + 3]) || !isHex(b[i + 4])) return -1;
        i += 4;
      } else if (!(e === QUOTE || e === BACKSLASH || e === 0x2f || e === 0x62 || e === 0x66 || e === 0x6e || e === 0x72 || e === 0x74)) {
        return -1;
      }
    }
  }
  return -1;
}

/** -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? from `i`: the index after it, or -1. */
function scanNumber(b: Uint8Array, i: number): number {
  if (b[i] === MINUS) i++;
  let c = b[i];
  if (c === DIGIT_0) i++;
  else if (c !== undefined && c > DIGIT_0 && c <= DIGIT_9) {
    do c = b[++i];
    while (c !== undefined && c >= DIGIT_0 && c <= DIGIT_9);
  } else return -1;
  if (b[i] === 0x2e) {
    c = b[++i];
    if (c === undefined || c < DIGIT_0 || c > DIGIT_9) return -1;
    do c = b[++i];
    while (c !== undefined && c >= DIGIT_0 && c <= DIGIT_9);
  }
  if (b[i] === 0x65 || b[i] === 0x45) {
    c = b[++i];
    if (c === 0x2b || c === MINUS) c = b[++i];
    if (c === undefined || c < DIGIT_0 || c > DIGIT_9) return -1;
    do c = b[++i];
    while (c !== undefined && c >= DIGIT_0 && c <= DIGIT_9);
  }
  return i;
}

/** One JSON value at `i` (no leading space), nested containers without recursion: the index after it, or -1. */
function scanValue(b: Uint8Array, i: number): number {
  let depth = 0;
  for (;;) {
    // A value starts at i.
    const c = b[i];
    let object = false;
    if (c === OPEN_BRACE || c === OPEN_BRACKET) {
      object = c === OPEN_BRACE;
      i = skipSpace(b, i + 1);
      if (b[i] === (object ? CLOSE_BRACE : CLOSE_BRACKET)) i++;
      else {
        if (depth === containers.length) {
          const grown = new Uint8Array(depth * 2);
          grown.set(containers);
          containers = grown;
        }
        containers[depth++] = object ? 1 : 2;
        if (object) {
          i = member(b, i);
          if (i < 0) return -1;
        }
        continue;
      }
    } else if (c === QUOTE) i = scanString(b, i);
    else if (c === MINUS || (c !== undefined && c >= DIGIT_0 && c <= DIGIT_9)) i = scanNumber(b, i);
    else if (c === 0x74) i = matches(b, i, TRUE) ? i + 4 : -1;
    else if (c === 0x66) i = matches(b, i, FALSE) ? i + 5 : -1;
    else if (c === 0x6e) i = matches(b, i, NULL) ? i + 4 : -1;
    else return -1;
    if (i < 0) return -1;
    // After a value: close what ends here, then the next element or member.
    for (;;) {
      if (depth === 0) return i;
      i = skipSpace(b, i);
      const inObject = containers[depth - 1] === 1;
      const d = b[i];
      if (d === COMMA) {
        i = skipSpace(b, i + 1);
        if (inObject) {
          i = member(b, i);
          if (i < 0) return -1;
        }
        break;
      }
      if (d !== (inObject ? CLOSE_BRACE : CLOSE_BRACKET)) return -1;
      depth--;
      i++;
    }
  }
}

/** `"name" :` and the space after: the index of the member's value, or -1. */
function member(b: Uint8Array, i: number): number {
  if (b[i] !== QUOTE) return -1;
  i = scanString(b, i);
  if (i < 0) return -1;
  i = skipSpace(b, i);
  if (b[i] !== COLON) return -1;
  return skipSpace(b, i + 1);
}

export function encodeEvent(event: Event): Buffer {
  return Buffer.from(JSON.stringify({ id: event.id, data: event.data, timestamp: event.timestamp }));
}

/**
 * A command on the trigger topic: the original's `{"action":"RESUME"}`, or (handler mode)
 * `{"action":"SKIP","seq":N}`: dead-letter the key's first held event if its seq is N (the
 * event a handler failed on), then resume. The seq makes a replayed SKIP skip nothing more.
 */
export type Command = { readonly action: 'RESUME' } | { readonly action: 'SKIP'; readonly seq: number };

export function decodeResumeCommand(value: Buffer | null): Decoded<Command> {
  const parsed = parseJson(value);
  if (!parsed.ok) return parsed;
  const command = parsed.value as Record<string, unknown> | null;
  if (typeof command === 'object' && command !== null && command.action === 'SKIP') {
    const seq = command.seq;
    if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 0) return { ok: false, error: 'a SKIP command names the seq of the event to skip: {"action":"SKIP","seq":N}' };
    return { ok: true, value: { action: 'SKIP', seq } };
  }
  if (typeof command !== 'object' || command === null || command.action !== 'RESUME') {
    return { ok: false, error: 'command must be {"action":"RESUME"}' };
  }
  return { ok: true, value: RESUME };
}

const RESUME: Command = Object.freeze({ action: 'RESUME' });

export function skipCommand(seq: number): Buffer {
  return Buffer.from(JSON.stringify({ action: 'SKIP', seq }));
}

export const RESUME_COMMAND: Buffer = Buffer.from('{"action":"RESUME"}');

/** A tombstone or missing value means ACTIVE. */
const STATUS_PAUSED: Decoded<KeyStatus> = Object.freeze({ ok: true, value: 'PAUSED' });
const STATUS_ACTIVE: Decoded<KeyStatus> = Object.freeze({ ok: true, value: 'ACTIVE' });
const PAUSED_BYTES = Buffer.from('"PAUSED"');
const ACTIVE_BYTES = Buffer.from('"ACTIVE"');

export function decodeStatus(value: Buffer | null): Decoded<KeyStatus> {
  if (value === null || value.length === 0) return STATUS_ACTIVE;
  // The encodings every writer uses, compared as bytes: no parse for millions of status records.
  if (value.equals(PAUSED_BYTES)) return STATUS_PAUSED;
  if (value.equals(ACTIVE_BYTES)) return STATUS_ACTIVE;
  const parsed = parseJson(value);
  if (!parsed.ok) return parsed;
  if (parsed.value === 'ACTIVE' || parsed.value === 'PAUSED') return { ok: true, value: parsed.value };
  return { ok: false, error: `status must be "ACTIVE" or "PAUSED", got ${JSON.stringify(parsed.value)}` };
}

export function encodeStatus(status: KeyStatus): Buffer {
  return Buffer.from(JSON.stringify(status));
}

export function headerValue(headers: readonly Header[], key: string): string | undefined {
  for (let i = headers.length - 1; i >= 0; i--) {
    const header = headers[i];
    if (header !== undefined && header.key === key) return header.value.toString('utf8');
  }
  return undefined;
}
