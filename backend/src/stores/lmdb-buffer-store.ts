/**
 * Durable buffer store on LMDB (the `lmdb` package), one environment per task directory:
 *
 *   <dir>/data.mdb, <dir>/lock.mdb   the entries: entry key -> entry value (buffer-codec.ts layout)
 *   <dir>/checkpoint                  changelog offset the store is complete up to (clean close only)
 *
 * Synchronous, read-your-writes. Writes are queued in memory and applied in ONE LMDB write
 * transaction (transactionSync) when the queue reaches `writeBatchSize` entries or
 * `writeBatchBytes`, on `flush()`, on a checkpoint, on close, and before a read that could see
 * them: a read of one key (`read`, `count`, `seqsFrom`) commits the queue only when it holds a
 * write of that key (each key's entries are a range of their own), a read of every key (`keys`,
 * `drainMarks`) when it holds any write of its kind. A read therefore always sees every earlier
 * write, exactly as if each write were committed on its own, at a fraction of the cost; and a
 * drain of many keys (a mass resume: read a key, remove what was forwarded, next key) no longer
 * costs one LMDB transaction per key (bench/store-bench.ts: one commit per append
 * ~20 µs; batched 2-10 µs, the spread of appends over many keys setting the B-tree's cost). The
 * batch size trades throughput for the longest stall a single commit causes (a commit of 16384
 * appends spread over 10k keys took up to ~0.25 s). lmdb's own asynchronous `put` batching is not used: its writes become visible
 * only after an asynchronous commit.
 *
 * Flags: `noSync` (no fsync per commit; implies no meta sync). The changelog topic is the durable
 * copy, so the local store only needs to be right when a checkpoint vouches for it:
 *   - a process crash (kill -9) loses nothing LMDB committed (the pages are in the OS cache) and at
 *     most the queued batch; either way no checkpoint exists then, so the store is wiped and
 *     restored from the changelog;
 *   - `writeCheckpoint(offset)` first commits the queue and fsyncs data.mdb, then writes the
 *     checkpoint file atomically (tmp + fsync + rename + directory fsync), so a checkpoint is
 *     never on disk ahead of the data it vouches for, even across a power loss;
 *   - an OS crash may leave a noSync environment corrupt, which is why `clear()` deletes the files
 *     instead of walking the tree, and why the engine should delete the checkpoint as soon as it
 *     has read it (before restoring or processing changes the store again).
 * The map starts small and lmdb grows it automatically, so 200 stores open cheaply.
 */
import { EventPauseError, MAX_BUFFERED_KEY_BYTES } from '../model/errors.ts';
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { open, type RootDatabase } from 'lmdb';
import type { BufferedEvent, DrainMark } from '../runtime/ports.ts';
import {
  ENTRY_KEY_OVERHEAD,
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
  /** Queued writes applied per LMDB transaction at most (default 16384). 1 = commit every write. */
  readonly writeBatchSize?: number;
  /** Queued value bytes that force a commit (default 16 MiB). */
  readonly writeBatchBytes?: number;
  /**
   * Every LMDB commit synced to disk (LMDB's default) instead of `noSync`: for a standby store,
   * whose checkpoint stays on disk while it changes (standby.ts), so that not even an OS crash can
   * leave a checkpoint beside a corrupt environment. Default false.
   */
  readonly durable?: boolean;
}

const DATA_FILES = ['data.mdb', 'lock.mdb'] as const;
const CHECKPOINT_FILE = 'checkpoint';

type Db = RootDatabase<Buffer, Buffer>;

export class LmdbBufferStore implements RestorableBufferStore {
  readonly dir: string;
  readonly #writeBatchSize: number;
  readonly #writeBatchBytes: number;
  readonly #durable: boolean;
  #db: Db | undefined;
  /** Queued writes, in order: a null value is a delete. */
  #pendingKeys: Buffer[] = [];
  #pendingValues: (Buffer | null)[] = [];
  #pendingBytes = 0;
  /** Keys with a queued entry write; `undefined` once a write of unknown key is queued (restore). */
  #pendingKeysOf: Set<string> | undefined = new Set();
  /** Whether a drain mark write is queued. */
  #pendingMark = false;
  #writeTransactions = 0;

  constructor(dir: string, options: LmdbBufferStoreOptions = {}) {
    this.dir = dir;
    this.#writeBatchSize = Math.max(1, options.writeBatchSize ?? 16_384);
    this.#writeBatchBytes = Math.max(1, options.writeBatchBytes ?? 16 * 1024 * 1024);
    this.#durable = options.durable === true;
    mkdirSync(dir, { recursive: true });
    this.#db = openEnv(dir, this.#durable);
  }

  append(event: BufferedEvent): void {
    this.#open();
    const entryKey = encodeEntryKey(event.key, event.seq);
    checkKeySize(entryKey);
    this.#queue(entryKey, encodeEntryValue(event));
    this.#pendingKeysOf?.add(event.key);
  }

  read(key: string, limit: number): BufferedEvent[] {
    const db = this.#flushedFor(key);
    if (!(limit > 0)) return [];
    const prefix = keyPrefix(key);
    if (prefix.length + 8 > LMDB_MAX_ENTRY_KEY_BYTES) return [];
    const events: BufferedEvent[] = [];
    for (const entry of db.getRange({ start: prefix, end: prefixEnd(prefix), limit })) {
      events.push(decodeEntryValue(key, entryKeySeq(entry.key), entry.value));
    }
    return events;
  }

  remove(key: string, seqs: readonly number[]): void {
    this.#open();
    if (seqs.length === 0) return;
    const prefix = keyPrefix(key);
    if (prefix.length + 8 > LMDB_MAX_ENTRY_KEY_BYTES) return;
    for (const seq of seqs) this.#queue(encodeEntryKeyWithPrefix(prefix, seq), null);
    this.#pendingKeysOf?.add(key);
  }

  count(key: string): number {
    const db = this.#flushedFor(key);
    const prefix = keyPrefix(key);
    if (prefix.length + 8 > LMDB_MAX_ENTRY_KEY_BYTES) return 0;
    return db.getCount({ start: prefix, end: prefixEnd(prefix) });
  }

  /**
   * Distinct keys in entry-key byte order (UTF-8 length, then bytes). A skip scan: one cursor
   * seek per distinct key, to the first entry at or after the end of the previous key's range,
   * so the cost is O(keys · log n), not O(entries).
   */
  keys(): string[] {
    const db = this.#flushedEntries();
    const keys: string[] = [];
    let start: Buffer = FIRST_KEY;
    for (;;) {
      let found: Buffer | undefined = undefined;
      for (const entryKey of db.getKeys({ start, end: MARKS_START, limit: 1 })) found = entryKey;
      if (found === undefined) return keys;
      keys.push(decodeEntryKey(found).key);
      start = prefixEnd(found.subarray(0, found.length - 8));
    }
  }

  seqsFrom(key: string, fromSeq: number): number[] {
    const db = this.#flushedFor(key);
    const prefix = keyPrefix(key);
    if (prefix.length + 8 > LMDB_MAX_ENTRY_KEY_BYTES) return [];
    const seqs: number[] = [];
    for (const entryKey of db.getKeys({ start: encodeEntryKeyWithPrefix(prefix, fromSeq), end: prefixEnd(prefix) })) {
      seqs.push(entryKeySeq(entryKey as Buffer));
    }
    return seqs;
  }

  setDrainMark(key: string, mark: DrainMark | undefined): void {
    this.#open();
    const markKey = encodeMarkKey(key);
    checkKeySize(markKey);
    this.#queue(markKey, mark === undefined ? null : encodeMark(mark));
    this.#pendingMark = true;
  }

  drainMarks(): Array<[string, DrainMark]> {
    const db = this.#flushedMarks();
    const marks: Array<[string, DrainMark]> = [];
    for (const entry of db.getRange({ start: MARKS_START })) marks.push([decodeMarkKey(entry.key), decodeMark(entry.value)]);
    return marks;
  }

  restore(entryKey: Buffer, entryValue: Buffer | null): void {
    this.#open();
    if (isMarkKey(entryKey)) {
      if (entryValue !== null) decodeMark(entryValue);
      checkKeySize(entryKey);
      this.#queue(entryKey, entryValue);
      this.#pendingMark = true;
      return;
    }
    checkEntryKey(entryKey);
    checkKeySize(entryKey);
    this.#queue(entryKey, entryValue);
    this.#pendingKeysOf = undefined;
  }

  /** LMDB write transactions committed so far (each costs about as much as a few hundred queued writes). */
  get writeTransactions(): number {
    return this.#writeTransactions;
  }

  /** Commits the queued writes (one LMDB transaction). Reads do this themselves. */
  flush(): void {
    const db = this.#open();
    const keys = this.#pendingKeys;
    if (keys.length === 0) return;
    const values = this.#pendingValues;
    this.#writeTransactions++;
    db.transactionSync(() => {
      for (let i = 0; i < keys.length; i++) {
        const value = values[i]!;
        if (value === null) db.removeSync(keys[i]!);
        else db.putSync(keys[i]!, value);
      }
    });
    this.#resetQueue();
  }

  /** Deletes the checkpoint and the LMDB files (without reading them: they may be corrupt after an OS crash), then reopens empty. */
  clear(): void {
    const db = this.#open();
    this.writeCheckpoint(undefined);
    this.#resetQueue();
    this.#db = undefined;
    void db.close();
    for (const file of DATA_FILES) rmSync(join(this.dir, file), { force: true });
    this.#db = openEnv(this.dir, this.#durable);
  }

  /** Commits queued writes and closes the environment. Writes no checkpoint: call writeCheckpoint first. */
  close(): void {
    const db = this.#db;
    if (db === undefined) return;
    this.flush();
    this.#db = undefined;
    void db.close();
  }

  readCheckpoint(): number | undefined {
    this.#open();
    let text: string;
    try {
      text = readFileSync(join(this.dir, CHECKPOINT_FILE), 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
    // A damaged checkpoint vouches for nothing: report none, so the store gets fully restored.
    if (!/^\d{1,16}\n?$/.test(text)) return undefined;
    const offset = Number(text.trim());
    return Number.isSafeInteger(offset) ? offset : undefined;
  }

  writeCheckpoint(offset: number | undefined): void {
    this.#open();
    const path = join(this.dir, CHECKPOINT_FILE);
    if (offset === undefined) {
      try {
        unlinkSync(path);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
        throw error;
      }
      fsyncPath(this.dir);
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

  #queue(entryKey: Buffer, entryValue: Buffer | null): void {
    this.#pendingKeys.push(entryKey);
    this.#pendingValues.push(entryValue);
    if (entryValue !== null) this.#pendingBytes += entryValue.length;
    if (this.#pendingKeys.length >= this.#writeBatchSize || this.#pendingBytes >= this.#writeBatchBytes) this.flush();
  }

  #resetQueue(): void {
    this.#pendingKeys = [];
    this.#pendingValues = [];
    this.#pendingBytes = 0;
    this.#pendingKeysOf = new Set();
    this.#pendingMark = false;
  }

  /** The environment, with every queued write committed. */
  #flushed(): Db {
    const db = this.#open();
    if (this.#pendingKeys.length > 0) this.flush();
    return db;
  }

  /** The environment, with the queued writes committed if one of them is of `key`'s entries. */
  #flushedFor(key: string): Db {
    const db = this.#open();
    if (this.#pendingKeysOf === undefined || this.#pendingKeysOf.has(key)) this.#flushed();
    return db;
  }

  /** The environment, with the queued writes committed if one of them is an entry (not a mark). */
  #flushedEntries(): Db {
    const db = this.#open();
    if (this.#pendingKeysOf === undefined || this.#pendingKeysOf.size > 0) this.#flushed();
    return db;
  }

  /** The environment, with the queued writes committed if one of them is a drain mark. */
  #flushedMarks(): Db {
    const db = this.#open();
    if (this.#pendingMark) this.#flushed();
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
