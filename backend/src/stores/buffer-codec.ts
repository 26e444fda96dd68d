/**
 * Byte layout of one buffer entry. The same bytes are the store's (key, value) and the changelog
 * record's (key, value), so a changelog can be replayed into any store.
 *
 * Entry key:   [u32 BE byte length of the UTF-8 key][UTF-8 key][u64 BE seq]
 *   - Byte order of entry keys = (key length, key bytes, seq) order, so all entries of one key form
 *     one contiguous range (the key prefix `[len][key]`), ordered by seq inside it. The length
 *     prefix is what keeps "a" and "ab" apart: without it, "a"+seq would interleave with "ab"+seq.
 *   - seq is a non-negative safe integer (an input offset), written as two u32 halves.
 *
 * Entry value: [u8 format = 1][f64 BE timestamp][u32 BE header count]
 *              header*: [u32 BE key length][UTF-8 key][i32 BE value length][value bytes]
 *              [i32 BE value length, -1 = null][value bytes]
 *   - f64 keeps any JS number timestamp exactly. The format byte lets a later layout coexist with
 *     records already in a changelog topic.
 *
 * Decoding returns views (subarray) into the value buffer, not copies: the caller hands over a
 * buffer it will not mutate afterwards (lmdb returns a fresh copy per entry; Kafka a fresh buffer
 * per record).
 */
import type { BufferedEvent, DrainMark, Header } from '../runtime/ports.ts';

export const ENTRY_FORMAT = 1;
/** Bytes an entry key adds around the UTF-8 key: u32 length + u64 seq. */
export const ENTRY_KEY_OVERHEAD = 12;

const TWO_POW_32 = 0x1_0000_0000;
/** Highest value of the seq's upper u32 half that keeps seq within Number.MAX_SAFE_INTEGER. */
const MAX_SEQ_HIGH = 0x1f_ffff;
const VALUE_FIXED_BYTES = 1 + 8 + 4 + 4;
const EMPTY_HEADERS: readonly Header[] = Object.freeze([]);

/** Throws unless `seq` is a non-negative safe integer (anything else would break the byte order). */
export function assertSeq(seq: number): void {
  if (!(seq >= 0 && Number.isSafeInteger(seq))) {
    throw new RangeError(`buffer entry seq must be a non-negative safe integer, got ${seq}`);
  }
}

/** `[u32 len][UTF-8 key]`: every entry key of `key` starts with these bytes, and no other's does. */
export function keyPrefix(key: string): Buffer {
  const length = Buffer.byteLength(key, 'utf8');
  const buf = Buffer.allocUnsafe(4 + length);
  buf.writeUInt32BE(length, 0);
  if (length > 0) buf.write(key, 4, 'utf8');
  return buf;
}

/**
 * The smallest byte string greater than every string starting with `prefix`: the exclusive end of
 * the prefix's range. (A key prefix never ends in 0xff, as UTF-8 has no 0xff byte and an empty key's
 * prefix ends in its length 0, but the carry is handled anyway.)
 */
export function prefixEnd(prefix: Buffer): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i] !== 0xff) {
      end[i] = end[i]! + 1;
      return end.subarray(0, i + 1);
    }
  }
  throw new RangeError('prefix of only 0xff bytes has no end');
}

function writeSeq(buf: Buffer, offset: number, seq: number): void {
  const high = Math.floor(seq / TWO_POW_32);
  buf.writeUInt32BE(high, offset);
  buf.writeUInt32BE(seq - high * TWO_POW_32, offset + 4);
}

export function encodeEntryKey(key: string, seq: number): Buffer {
  assertSeq(seq);
  const length = Buffer.byteLength(key, 'utf8');
  const buf = Buffer.allocUnsafe(length + ENTRY_KEY_OVERHEAD);
  buf.writeUInt32BE(length, 0);
  if (length > 0) buf.write(key, 4, 'utf8');
  writeSeq(buf, 4 + length, seq);
  return buf;
}

/** `encodeEntryKey` for a key whose prefix (`keyPrefix(key)`) is already at hand. */
export function encodeEntryKeyWithPrefix(prefix: Buffer, seq: number): Buffer {
  assertSeq(seq);
  const buf = Buffer.allocUnsafe(prefix.length + 8);
  buf.set(prefix, 0);
  writeSeq(buf, prefix.length, seq);
  return buf;
}

/** Throws unless `buf` has the shape of an entry key (its length field matches its size). */
export function checkEntryKey(buf: Uint8Array): void {
  if (buf.length < ENTRY_KEY_OVERHEAD || readU32(buf, 0) !== buf.length - ENTRY_KEY_OVERHEAD) {
    throw new RangeError(`malformed buffer entry key (${buf.length} bytes)`);
  }
}

/** The seq of an entry key (its last 8 bytes); does not check the rest. */
export function entryKeySeq(buf: Uint8Array): number {
  const at = buf.length - 8;
  const high = readU32(buf, at);
  if (high > MAX_SEQ_HIGH || at < 4) throw new RangeError('malformed buffer entry key: seq out of range');
  return high * TWO_POW_32 + readU32(buf, at + 4);
}

export function decodeEntryKey(buf: Buffer): { key: string; seq: number } {
  checkEntryKey(buf);
  return { key: buf.toString('utf8', 4, buf.length - 8), seq: entryKeySeq(buf) };
}

/**
 * Drain marks share the store and the changelog with the entries under keys of their own:
 * [0xff][UTF-8 key]. An entry key starts with its key's u32 length, whose first byte is never
 * 0xff (keys are far shorter than 4 GiB), so marks sort after every entry and never mix with them.
 */
export const MARK_KEY_FIRST_BYTE = 0xff;

export function encodeMarkKey(key: string): Buffer {
  const length = Buffer.byteLength(key, 'utf8');
  const buf = Buffer.allocUnsafe(1 + length);
  buf[0] = MARK_KEY_FIRST_BYTE;
  if (length > 0) buf.write(key, 1, 'utf8');
  return buf;
}

export function isMarkKey(buf: Uint8Array): boolean {
  return buf.length > 0 && buf[0] === MARK_KEY_FIRST_BYTE;
}

export function decodeMarkKey(buf: Buffer): string {
  return buf.toString('utf8', 1);
}

export function encodeMark(mark: DrainMark): Buffer {
  return Buffer.from(JSON.stringify({ statusPosition: mark.statusPosition, stopBeforeSeq: mark.stopBeforeSeq }));
}

export function decodeMark(buf: Buffer): DrainMark {
  const parsed = JSON.parse(buf.toString('utf8')) as Partial<DrainMark>;
  if (typeof parsed.statusPosition !== 'number' || !(parsed.stopBeforeSeq === null || typeof parsed.stopBeforeSeq === 'number')) {
    throw new RangeError('malformed drain mark');
  }
  return { statusPosition: parsed.statusPosition, stopBeforeSeq: parsed.stopBeforeSeq };
}

function readU32(buf: Uint8Array, at: number): number {
  return ((buf[at]! << 24) | (buf[at + 1]! << 16) | (buf[at + 2]! << 8) | buf[at + 3]!) >>> 0;
}

export function encodeEntryValue(event: BufferedEvent): Buffer {
  const headers = event.headers;
  const value = event.value;
  const headerCount = headers.length;
  let size = VALUE_FIXED_BYTES + (value === null ? 0 : value.length);
  for (let i = 0; i < headerCount; i++) {
    const header = headers[i]!;
    size += 8 + Buffer.byteLength(header.key, 'utf8') + header.value.length;
  }
  const buf = Buffer.allocUnsafe(size);
  buf[0] = ENTRY_FORMAT;
  buf.writeDoubleBE(event.timestamp, 1);
  buf.writeUInt32BE(headerCount, 9);
  let at = 13;
  for (let i = 0; i < headerCount; i++) {
    const header = headers[i]!;
    const keyLength = header.key.length === 0 ? 0 : buf.write(header.key, at + 4, 'utf8');
    buf.writeUInt32BE(keyLength, at);
    at += 4 + keyLength;
    const headerValue = header.value;
    buf.writeInt32BE(headerValue.length, at);
    buf.set(headerValue, at + 4);
    at += 4 + headerValue.length;
  }
  if (value === null) {
    buf.writeInt32BE(-1, at);
  } else {
    buf.writeInt32BE(value.length, at);
    buf.set(value, at + 4);
  }
  return buf;
}

function malformed(what: string): never {
  throw new RangeError(`malformed buffer entry value: ${what}`);
}

/**
 * Decodes an entry value whose key and seq are already known (a store reading one key's range
 * decodes the key string once, not once per entry).
 */
export function decodeEntryValue(key: string, seq: number, buf: Buffer): BufferedEvent {
  const end = buf.length;
  if (end < VALUE_FIXED_BYTES) malformed(`${end} bytes`);
  if (buf[0] !== ENTRY_FORMAT) malformed(`unknown format ${buf[0]}`);
  const timestamp = buf.readDoubleBE(1);
  const headerCount = buf.readUInt32BE(9);
  let at = 13;
  let headers = EMPTY_HEADERS;
  if (headerCount > 0) {
    if (headerCount > (end - VALUE_FIXED_BYTES) / 8) malformed(`header count ${headerCount}`);
    const list = new Array<Header>(headerCount);
    for (let i = 0; i < headerCount; i++) {
      if (at + 8 > end) malformed('truncated header');
      const keyLength = buf.readUInt32BE(at);
      at += 4;
      if (at + keyLength + 4 > end) malformed('truncated header key');
      const headerKey = keyLength === 0 ? '' : buf.toString('utf8', at, at + keyLength);
      at += keyLength;
      const valueLength = buf.readInt32BE(at);
      at += 4;
      if (valueLength < 0 || at + valueLength > end) malformed('bad header value length');
      list[i] = { key: headerKey, value: buf.subarray(at, at + valueLength) };
      at += valueLength;
    }
    headers = list;
  }
  if (at + 4 > end) malformed('truncated value');
  const valueLength = buf.readInt32BE(at);
  at += 4;
  let value: Buffer | null = null;
  if (valueLength !== -1) {
    if (valueLength < 0 || at + valueLength !== end) malformed('bad value length');
    value = buf.subarray(at, end);
  } else if (at !== end) {
    malformed('trailing bytes');
  }
  return { seq, key, value, headers, timestamp };
}

export function decodeEntry(keyBuf: Buffer, valueBuf: Buffer): BufferedEvent {
  const { key, seq } = decodeEntryKey(keyBuf);
  return decodeEntryValue(key, seq, valueBuf);
}
