/**
 * Durable buffer store on LMDB (the `lmdb` package), one environment per task directory:
 *
 *   <dir>/data.mdb, <dir>/lock.mdb   the entries: entry key -> entry value (buffer-codec.ts layout),
 *                                    the drain marks, and the commit checkpoint (META_KEY)
 *   <dir>/checkpoint                  changelog offset the store is complete up to (clean close only)
 *
 * Synchronous, read-your-writes. Writes since the last LMDB commit are kept in memory per key
 * (the overlay) and every read merges them over LMDB, so LMDB changes only in whole steps:
 *   - `commitCheckpoint(offset)`: after a Kafka commit, the task's writes go to LMDB in ONE write
 *     transaction together with the changelog offset they amount to. After a kill -9 the store
 *     opens at exactly that content and a restore reads the changelog from `offset` on, instead
 *     of wiping the store and reading it all (Kafka Streams wipes an exactly-once store then).
 *   - past `writeBatchSize` writes or `writeBatchBytes` since the last commit (or on `flush()`,
 *     `close()`), the writes go to LMDB without a checkpoint, and the commit checkpoint is
 *     removed in the same transaction: a crash before the next `commitCheckpoint` leaves no
 *     checkpoint, so the store is wiped and restored in full. Correct either way; only slower.
 * A drain reads a key's head and removes it; the key's overlay then remembers that LMDB holds
 * nothing live below the removed slice (`floor`), so the next read starts its range after it
 * instead of stepping over removed entries one by one.
 *
 * Flags: `noSync` (no fsync per commit; implies no meta sync). A process crash loses nothing
 * LMDB committed (the pages are in the OS cache); an OS crash may leave a `noSync` environment
 * torn, so a commit checkpoint carries the machine's boot id and one from an earlier boot is not
 * trusted (the store is wiped: `clear()` deletes the files instead of walking the tree). The
 * clean-close checkpoint file is written after the data is synced (tmp + fsync + rename +
 * directory fsync), so it is never on disk ahead of the data it vouches for.
 * The map starts small and lmdb grows it automatically, so 200 stores open cheaply.
 */
import { EventPauseError, MAX_BUFFERED_KEY_BYTES } from '../model/errors.ts';
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { open, type RootDatabase } from 'lmdb';
import type { BufferedEvent, DrainMark } from '../runtime/ports.ts';
import {
  ENTRY_KEY_OVERHEAD,
  assertSeq,
  checkEntryKey,
  decodeEntryKey,
  decodeEntryValue,
  decodeMark,
  decodeMarkKey,
  encodeEntryKey,
  encodeEntryKeyWithPrefix,
  encodeEntryValue,
  encodeMark,
  encodeMarkKey,
  entryKeySeq,
  isMarkKey,
  keyPrefix,
  MARK_KEY_FIRST_BYTE,
  prefixEnd,
} from './buffer-codec.ts';
import { assertCheckpoint, type RestorableBufferStore } from './restorable.ts';

/** lmdb-js's key size limit with the default page size. */
export const LMDB_MAX_ENTRY_KEY_BYTES = 1978;
/** Longest record key (UTF-8 bytes) the lmdb store can buffer; longer keys throw KEY_TOO_LARGE. */
export const LMDB_MAX_KEY_BYTES = LMDB_MAX_ENTRY_KEY_BYTES - ENTRY_KEY_OVERHEAD;
if (LMDB_MAX_KEY_BYTES !== MAX_BUFFERED_KEY_BYTES) throw new Error('MAX_BUFFERED_KEY_BYTES must be the lmdb store\'s key limit');

export interface LmdbBufferStoreOptions {
  /** Writes kept in memory at most before they go to LMDB without a checkpoint (default 16384). 1 = commit every write. */
  readonly writeBatchSize?: number;
  /** Bytes of writes kept in memory at most (default 16 MiB). */
  readonly writeBatchBytes?: number;
  /**
   * Every LMDB commit synced to disk (LMDB's default) instead of `noSync`: for a standby store,
   * whose checkpoint stays on disk while it changes (standby.ts), so that not even an OS crash can
   * leave a checkpoint beside a corrupt environment. Default false.
   */
  readonly durable?: boolean;
  /**
   * A checkpoint (either kind) older than this vouches for nothing (default 12 h): a compacted
   * changelog drops tombstones after `delete.retention.ms` (24 h by default), and a restore from an
   * older offset would miss them and keep entries already drained.
   */
  readonly maxCheckpointAgeMs?: number;
}

const DATA_FILES = ['data.mdb', 'lock.mdb'] as const;
const CHECKPOINT_FILE = 'checkpoint';

type Db = RootDatabase<Buffer, Buffer>;

interface KeyOverlay {
  readonly prefix: Buffer;
  /** seq -> the event written since the last commit to LMDB, or null: removed since. */
  readonly writes: Map<number, BufferedEvent | null>;
  /** The seqs of `writes`, ascending. */
  readonly sorted: number[];
  /**
   * Every LMDB entry of the key with a seq below this has a write in `writes` (which decides):
   * reads start their LMDB range here instead of skipping a drained head entry by entry.
   */
  floor: number;
}

export class LmdbBufferStore implements RestorableBufferStore {
  readonly dir: string;
  readonly #writeBatchSize: number;
  readonly #writeBatchBytes: number;
  readonly #durable: boolean;
  readonly #maxCheckpointAgeMs: number;
  #db: Db | undefined;
  /** Writes since the last LMDB commit, per key: what reads merge over LMDB. */
  #overlay = new Map<string, KeyOverlay>();
  /** Drain marks written since the last LMDB commit (null: removed). */
  #marks = new Map<string, DrainMark | null>();
  /** Restored changelog records not committed yet, in order (null value: a delete). */
  #rawKeys: Buffer[] = [];
  #rawValues: (Buffer | null)[] = [];
  #pendingWrites = 0;
  #pendingBytes = 0;
  /** Whether LMDB holds a commit checkpoint (META_KEY). */
  #metaOnDisk: boolean;
  /** The last read of one key: a removal of its head lets that key's reads skip it (floor). */
  #lastRead: { readonly key: string; readonly events: readonly BufferedEvent[] } | undefined;
  #writeTransactions = 0;

  constructor(dir: string, options: LmdbBufferStoreOptions = {}) {
    this.dir = dir;
    this.#writeBatchSize = Math.max(1, options.writeBatchSize ?? 16_384);
    this.#writeBatchBytes = Math.max(1, options.writeBatchBytes ?? 16 * 1024 * 1024);
    this.#durable = options.durable === true;
    this.#maxCheckpointAgeMs = options.maxCheckpointAgeMs ?? 12 * 60 * 60 * 1000;
    mkdirSync(dir, { recursive: true });
    this.#db = openEnv(dir, this.#durable);
    this.#metaOnDisk = this.#db.getBinary(META_KEY) !== undefined;
  }

  append(event: BufferedEvent): void {
    this.#open();
    assertSeq(event.seq);
    const prefixBytes = 4 + Buffer.byteLength(event.key, 'utf8');
    if (prefixBytes + 8 > LMDB_MAX_ENTRY_KEY_BYTES) checkKeySize(encodeEntryKey(event.key, event.seq));
    this.#write(this.#overlayOf(event.key), event.seq, event, 64 + (event.value?.length ?? 0));
    this.#checkSize();
  }

  read(key: string, limit: number): BufferedEvent[] {
    const events = this.#read(key, limit);
    this.#lastRead = { key, events };
    return events;
  }

  remove(key: string, seqs: readonly number[]): void {
    this.#open();
    const lastRead = this.#lastRead;
    this.#lastRead = undefined;
    if (seqs.length === 0) return;
    if (4 + Buffer.byteLength(key, 'utf8') + 8 > LMDB_MAX_ENTRY_KEY_BYTES) return;
    const overlay = this.#overlayOf(key);
    // The drain's case: the slice removed is the head the last read of this key returned. Every
    // LMDB entry up to its last seq then has a write here (read merged them all in seq order).
    let head = lastRead !== undefined && lastRead.key === key && seqs.length <= lastRead.events.length;
    for (let i = 0; head && i < seqs.length; i++) head = seqs[i] === lastRead!.events[i]!.seq;
    const floor = head ? seqs[seqs.length - 1]! + 1 : -1;
    for (const seq of seqs) this.#write(overlay, seq, null, 16);
    if (floor > overlay.floor) overlay.floor = floor;
    this.#checkSize();
  }

  count(key: string): number {
    const db = this.#readable();
    const prefix = keyPrefix(key);
    if (prefix.length + 8 > LMDB_MAX_ENTRY_KEY_BYTES) return 0;
    const end = prefixEnd(prefix);
    const overlay = this.#overlay.get(key);
    if (overlay === undefined) return db.getCount({ start: prefix, end });
    let count = db.getCount({ start: encodeEntryKeyWithPrefix(prefix, overlay.floor), end });
    for (const [seq, event] of overlay.writes) {
      if (seq < overlay.floor) {
        if (event !== null) count++;
        continue;
      }
      const inLmdb = db.doesExist(encodeEntryKeyWithPrefix(prefix, seq));
      if (event !== null && !inLmdb) count++;
      else if (event === null && inLmdb) count--;
    }
    return count;
  }

  /**
   * Distinct keys holding entries. Keys with no write since the last LMDB commit come from a skip
   * scan of LMDB (one cursor seek per distinct key, in entry-key byte order); the others follow.
   */
  keys(): string[] {
    const db = this.#readable();
    const keys: string[] = [];
    let start: Buffer = FIRST_KEY;
    for (;;) {
      let found: Buffer | undefined = undefined;
      for (const entryKey of db.getKeys({ start, end: META_KEY, limit: 1 })) found = entryKey;
      if (found === undefined) break;
      const key = decodeEntryKey(found).key;
      if (!this.#overlay.has(key)) keys.push(key);
      start = prefixEnd(found.subarray(0, found.length - 8));
    }
    for (const key of this.#overlay.keys()) if (this.#read(key, 1).length > 0) keys.push(key);
    return keys;
  }

  seqsFrom(key: string, fromSeq: number): number[] {
    const db = this.#readable();
    const prefix = keyPrefix(key);
    if (prefix.length + 8 > LMDB_MAX_ENTRY_KEY_BYTES) return [];
    const overlay = this.#overlay.get(key);
    const lmdb: number[] = [];
    const from = overlay === undefined ? fromSeq : Math.max(fromSeq, overlay.floor);
    for (const entryKey of db.getKeys({ start: encodeEntryKeyWithPrefix(prefix, from), end: prefixEnd(prefix) })) {
      lmdb.push(entryKeySeq(entryKey as Buffer));
    }
    if (overlay === undefined) return lmdb;
    const seqs: number[] = [];
    const sorted = overlay.sorted;
    let i = lowerBound(sorted, fromSeq);
    let j = 0;
    while (i < sorted.length || j < lmdb.length) {
      const mine = i < sorted.length ? sorted[i]! : Infinity;
      const theirs = j < lmdb.length ? lmdb[j]! : Infinity;
      if (mine <= theirs) {
        if (overlay.writes.get(mine) !== null) seqs.push(mine);
        i++;
        if (mine === theirs) j++;
      } else {
        seqs.push(theirs);
        j++;
      }
    }
    return seqs;
  }

  setDrainMark(key: string, mark: DrainMark | undefined): void {
    this.#open();
    checkKeySize(encodeMarkKey(key));
    this.#marks.set(key, mark ?? null);
    this.#counted(32);
    this.#checkSize();
  }

  drainMarks(): Array<[string, DrainMark]> {
    const db = this.#readable();
    const marks: Array<[string, DrainMark]> = [];
    for (const entry of db.getRange({ start: MARKS_START })) {
      const key = decodeMarkKey(entry.key);
      if (!this.#marks.has(key)) marks.push([key, decodeMark(entry.value)]);
    }
    for (const [key, mark] of this.#marks) if (mark !== null) marks.push([key, mark]);
    return marks;
  }

  restore(entryKey: Buffer, entryValue: Buffer | null): void {
    this.#open();
    if (isMarkKey(entryKey)) {
      if (entryValue !== null) decodeMark(entryValue);
    } else {
      checkEntryKey(entryKey);
    }
    checkKeySize(entryKey);
    // Restored records come before any later write: what is queued for LMDB goes first.
    if (this.#overlay.size > 0 || this.#marks.size > 0) this.flush();
    this.#rawKeys.push(entryKey);
    this.#rawValues.push(entryValue);
    this.#counted(entryValue === null ? 16 : entryValue.length);
    this.#checkSize();
  }

  /** LMDB write transactions committed so far (each costs about as much as a few hundred queued writes). */
  get writeTransactions(): number {
    return this.#writeTransactions;
  }

  /**
   * Commits every write to LMDB (one transaction) without a checkpoint: from then on LMDB holds
   * writes no commit vouches for, so a commit checkpoint it held is removed in the same
   * transaction. Writes past the size limits do this themselves.
   */
  flush(): void {
    this.#commit(undefined);
  }

  /**
   * Records, in the same LMDB transaction as every write so far, that the store's content is the
   * changelog replayed up to `offset`: after a kill -9 (not an OS crash: `noSync`) the store
   * opens at that content, and a restore reads only the changelog from `offset` on.
   */
  commitCheckpoint(offset: number): void {
    assertCheckpoint(offset);
    this.#open();
    this.#commit(offset);
    removeFile(join(this.dir, CHECKPOINT_FILE), false);
  }

  /** Deletes the checkpoint and the LMDB files (without reading them: they may be corrupt after an OS crash), then reopens empty. */
  clear(): void {
    const db = this.#open();
    removeFile(join(this.dir, CHECKPOINT_FILE), true);
    this.#reset();
    this.#db = undefined;
    void db.close();
    for (const file of DATA_FILES) rmSync(join(this.dir, file), { force: true });
    this.#db = openEnv(this.dir, this.#durable);
    this.#metaOnDisk = false;
  }

  /** Commits every write (dropping a commit checkpoint if any write is new) and closes. Call writeCheckpoint first for a clean close. */
  close(): void {
    const db = this.#db;
    if (db === undefined) return;
    this.flush();
    this.#db = undefined;
    void db.close();
  }

  /** Closes without committing the writes since the last LMDB commit (see RestorableBufferStore#abandon). */
  abandon(): void {
    const db = this.#db;
    if (db === undefined) return;
    this.#reset();
    this.#db = undefined;
    void db.close();
  }

  /**
   * The clean-close checkpoint file when there is one, else a commit checkpoint written since the
   * machine last booted (an OS crash may leave a `noSync` environment torn; a process crash not).
   */
  readCheckpoint(): number | undefined {
    const db = this.#open();
    let text: string | undefined;
    const oldest = Date.now() - this.#maxCheckpointAgeMs;
    try {
      const path = join(this.dir, CHECKPOINT_FILE);
      text = readFileSync(path, 'utf8');
      if (statSync(path).mtimeMs < oldest) return undefined;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    if (text !== undefined) {
      // A damaged checkpoint vouches for nothing: report none, so the store gets fully restored.
      if (!/^\d{1,16}\n?$/.test(text)) return undefined;
      const offset = Number(text.trim());
      return Number.isSafeInteger(offset) ? offset : undefined;
    }
    if (!this.#metaOnDisk || this.#pendingWrites > 0) return undefined;
    return decodeMeta(db.getBinary(META_KEY), oldest);
  }

  /**
   * `offset`: a clean close's checkpoint file (written after every write is committed and synced,
   * atomically). `undefined`: no checkpoint of either kind any more.
   */
  writeCheckpoint(offset: number | undefined): void {
    this.#open();
    const path = join(this.dir, CHECKPOINT_FILE);
    if (offset === undefined) {
      if (this.#metaOnDisk) this.#commit(undefined, true);
      removeFile(path, true);
      return;
    }
    assertCheckpoint(offset);
    this.flush();
    fsyncPath(join(this.dir, 'data.mdb'));
    const tmp = `${path}.tmp`;
    const fd = openSync(tmp, 'w');
    try {
      writeSync(fd, `${offset}\n`);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
    fsyncPath(this.dir);
  }

  #overlayOf(key: string): KeyOverlay {
    let overlay = this.#overlay.get(key);
    if (overlay === undefined) this.#overlay.set(key, (overlay = { prefix: keyPrefix(key), writes: new Map(), sorted: [], floor: 0 }));
    return overlay;
  }

  #write(overlay: KeyOverlay, seq: number, event: BufferedEvent | null, bytes: number): void {
    if (!overlay.writes.has(seq)) {
      const sorted = overlay.sorted;
      if (sorted.length === 0 || seq > sorted[sorted.length - 1]!) sorted.push(seq);
      else sorted.splice(lowerBound(sorted, seq), 0, seq);
    }
    overlay.writes.set(seq, event);
    this.#counted(bytes);
  }

  #counted(bytes: number): void {
    this.#pendingWrites++;
    this.#pendingBytes += bytes;
  }

  /** Past the size limits, the writes go to LMDB (without a checkpoint). Called once a write is whole. */
  #checkSize(): void {
    if (this.#pendingWrites >= this.#writeBatchSize || this.#pendingBytes >= this.#writeBatchBytes) this.flush();
  }

  /** The key's first `limit` entries: its LMDB range merged with its writes since, in seq order. */
  #read(key: string, limit: number): BufferedEvent[] {
    const db = this.#readable();
    if (!(limit > 0)) return [];
    const prefix = keyPrefix(key);
    if (prefix.length + 8 > LMDB_MAX_ENTRY_KEY_BYTES) return [];
    const events: BufferedEvent[] = [];
    const overlay = this.#overlay.get(key);
    if (overlay === undefined) {
      for (const entry of db.getRange({ start: prefix, end: prefixEnd(prefix), limit })) {
        events.push(decodeEntryValue(key, entryKeySeq(entry.key), entry.value));
      }
      return events;
    }
    const { sorted, writes } = overlay;
    const range = db.getRange({ start: encodeEntryKeyWithPrefix(prefix, overlay.floor), end: prefixEnd(prefix) })[Symbol.iterator]();
    let i = 0;
    let lead = true; // no live LMDB entry seen yet: the floor may move past shadowed ones
    try {
      let next = range.next();
      while (events.length < limit) {
        const theirs = next.done === true ? Infinity : entryKeySeq(next.value.key);
        const mine = i < sorted.length ? sorted[i]! : Infinity;
        if (mine === Infinity && theirs === Infinity) break;
        if (mine <= theirs) {
          const event = writes.get(mine)!;
          if (event !== null) events.push(event);
          i++;
          if (mine === theirs) {
            if (lead) overlay.floor = theirs + 1;
            next = range.next();
          }
        } else {
          events.push(decodeEntryValue(key, theirs, next.value!.value));
          lead = false;
          next = range.next();
        }
      }
    } finally {
      range.return?.();
    }
    return events;
  }

  /**
   * One LMDB transaction: the restored records, then the writes since the last commit, then the
   * commit checkpoint (`checkpoint` set) or its removal (writes no commit vouches for, or `drop`).
   */
  #commit(checkpoint: number | undefined, drop = false): void {
    const db = this.#open();
    const writes = this.#pendingWrites > 0;
    if (!writes && checkpoint === undefined && !drop) return;
    const meta = checkpoint === undefined ? undefined : encodeMeta(checkpoint);
    const rawKeys = this.#rawKeys;
    const rawValues = this.#rawValues;
    const overlay = this.#overlay;
    const marks = this.#marks;
    const dropMeta = this.#metaOnDisk && meta === undefined;
    this.#writeTransactions++;
    db.transactionSync(() => {
      for (let i = 0; i < rawKeys.length; i++) {
        const value = rawValues[i]!;
        if (value === null) db.removeSync(rawKeys[i]!);
        else db.putSync(rawKeys[i]!, value);
      }
      for (const { prefix, writes } of overlay.values()) {
        for (const [seq, event] of writes) {
          const entryKey = encodeEntryKeyWithPrefix(prefix, seq);
          if (event === null) db.removeSync(entryKey);
          else db.putSync(entryKey, encodeEntryValue(event));
        }
      }
      for (const [key, mark] of marks) {
        if (mark === null) db.removeSync(encodeMarkKey(key));
        else db.putSync(encodeMarkKey(key), encodeMark(mark));
      }
      if (meta !== undefined) db.putSync(META_KEY, meta);
      else if (dropMeta) db.removeSync(META_KEY);
    });
    this.#metaOnDisk = meta !== undefined || (this.#metaOnDisk && !dropMeta);
    this.#reset();
  }

  #reset(): void {
    this.#overlay = new Map();
    this.#marks = new Map();
    this.#rawKeys = [];
    this.#rawValues = [];
    this.#pendingWrites = 0;
    this.#pendingBytes = 0;
    this.#lastRead = undefined;
  }

  /** The environment, with restored records committed (a restore's records are not merged by reads). */
  #readable(): Db {
    const db = this.#open();
    if (this.#rawKeys.length > 0) this.flush();
    return db;
  }

  #open(): Db {
    if (this.#db === undefined) throw new Error(`buffer store ${this.dir} is closed`);
    return this.#db;
  }
}

/** Opens (creating `dir` if needed) the lmdb buffer store of one task. */
export function openLmdbBufferStore(dir: string, options?: LmdbBufferStoreOptions): LmdbBufferStore {
  return new LmdbBufferStore(dir, options);
}

/**
 * Raw bytes in and out, as `keyEncoding`/`encoding: 'binary'`, but read back as copies into Node's
 * pooled buffer memory: lmdb's binary reads give every key and every value its own ArrayBuffer
 * (Uint8Array#slice), which costs more than the rest of a drain's read. Both hooks are lmdb's
 * documented `keyEncoder` and `encoder` options; the decoder gets lmdb's reused buffer (it is
 * volatile, hence the copy).
 */
const keyEncoder = {
  writeKey(key: Buffer, target: Buffer, start: number): number {
    target.set(key, start);
    return start + key.length;
  },
  readKey: (source: Buffer, start: number, end: number): Buffer => copyOut(source, start, end),
};
const valueEncoder = {
  encode: (value: Buffer): Buffer => value,
  decode: (bytes: Buffer, size: number): Buffer => copyOut(bytes, 0, size),
};

function copyOut(source: Buffer, start: number, end: number): Buffer {
  const out = Buffer.allocUnsafe(end - start);
  source.copy(out, 0, start, end);
  return out;
}

/** Start of the whole key space. Always passed explicitly: with a keyEncoder lmdb's default start is [5]. */
const FIRST_KEY = Buffer.from([0]);
/** Drain marks live after every entry (buffer-codec.ts). */
const MARKS_START = Buffer.from([MARK_KEY_FIRST_BYTE]);
/**
 * The commit checkpoint, between the entries (their first byte is 0: a key's u32 length) and the
 * drain marks (0xff). Never in a changelog: it describes this copy only.
 */
const META_KEY = Buffer.from([0xfe, ...Buffer.from('commit-checkpoint')]);

/** This boot of the machine (Linux), or undefined: commit checkpoints are then never trusted. */
const BOOT_ID: string | undefined = (() => {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
})();

function encodeMeta(offset: number): Buffer {
  return Buffer.from(JSON.stringify({ offset, boot: BOOT_ID ?? '', at: Date.now() }));
}

/** The offset of a commit checkpoint written during this boot, at or after `oldest`; undefined for anything else. */
function decodeMeta(bytes: Buffer | undefined, oldest: number): number | undefined {
  if (bytes === undefined || BOOT_ID === undefined) return undefined;
  try {
    const meta = JSON.parse(bytes.toString('utf8')) as { offset?: unknown; boot?: unknown; at?: unknown };
    if (meta.boot !== BOOT_ID || typeof meta.at !== 'number' || meta.at < oldest) return undefined;
    if (typeof meta.offset !== 'number' || !(meta.offset >= 0 && Number.isSafeInteger(meta.offset))) return undefined;
    return meta.offset;
  } catch {
    return undefined;
  }
}

/** First index of `sorted` whose value is >= `value`. */
function lowerBound(sorted: readonly number[], value: number): number {
  let low = 0;
  let high = sorted.length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if (sorted[mid]! < value) low = mid + 1;
    else high = mid;
  }
  return low;
}

/** Deletes a file if it is there; `sync`: and fsyncs its directory after. */
function removeFile(path: string, sync: boolean): void {
  try {
    unlinkSync(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  if (sync) fsyncPath(dirname(path));
}

function openEnv(dir: string, durable: boolean): Db {
  return open<Buffer, Buffer>({
    path: dir,
    noSubdir: false, // `dir` is a directory even if its name has a dot
    keyEncoding: 'binary',
    encoding: 'binary',
    keyEncoder,
    encoder: valueEncoder,
    noSync: !durable,
    // Not lmdb's default for synced environments: an environment opened with it cannot be
    // opened with noSync again (a standby store becomes a task's store and back).
    overlappingSync: false,
    cache: false,
    maxDbs: 1,
  });
}

function checkKeySize(entryKey: Buffer): void {
  if (entryKey.length > LMDB_MAX_ENTRY_KEY_BYTES) {
    throw new EventPauseError(
      'KEY_TOO_LARGE',
      `buffer key of ${entryKey.length - ENTRY_KEY_OVERHEAD} UTF-8 bytes exceeds the limit of ${LMDB_MAX_KEY_BYTES}`,
    );
  }
}

function fsyncPath(path: string): void {
  const fd = openSync(path, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
