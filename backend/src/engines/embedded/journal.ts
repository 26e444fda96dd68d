/**
 * Durability for the embedded cluster: one append-only file of framed entries,
 *
 *   [u32 BE payload length][u32 BE crc32 of payload][payload = v8-serialized ClusterEntry]
 *
 * Every mutation of the cluster (a produce, a whole transaction with its positions, a new topic)
 * is one frame, written before the cluster applies it, so a transaction is all-or-nothing across
 * a kill -9: a torn last frame fails its length or checksum and is cut off when the file is opened.
 * On open the file is replayed into the cluster, compaction and retention run, and the file is
 * rewritten as a snapshot of what is live; it is rewritten again when it grows past four times
 * that size. No fsync per frame: a process crash loses nothing written, an OS crash may lose the
 * last frames (the snapshot itself is fsynced before it replaces the file).
 *
 * A lock file keeps a second process off the same directory.
 */
import {
  closeSync,
  existsSync,
  fsyncSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  unlinkSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { deserialize, serialize } from 'node:v8';
import { crc32 } from 'node:zlib';
import type { ClusterEntry, ClusterJournal, EmbeddedCluster } from './cluster.ts';

const JOURNAL_FILE = 'journal';
const LOCK_FILE = 'LOCK';
const FRAME_HEADER = 8;
const SNAPSHOT_MIN_BYTES = 64 * 1024 * 1024;

export interface JournalOpenReport {
  readonly entries: number;
  /** Bytes of a torn or corrupt tail cut off (a crash mid-write). */
  readonly truncatedBytes: number;
}

export class FileJournal implements ClusterJournal {
  readonly dir: string;
  #fd: number;
  #size: number;
  #snapshotSize: number;

  private constructor(dir: string, fd: number, size: number) {
    this.dir = dir;
    this.#fd = fd;
    this.#size = size;
    this.#snapshotSize = size;
  }

  /** Locks `dir`, replays its journal into `cluster`, snapshots it and attaches itself to the cluster. */
  static open(dir: string, cluster: EmbeddedCluster): { journal: FileJournal; report: JournalOpenReport } {
    mkdirSync(dir, { recursive: true });
    lock(dir);
    try {
      const file = join(dir, JOURNAL_FILE);
      const report = existsSync(file) ? replay(file, cluster) : { entries: 0, truncatedBytes: 0 };
      cluster.maintain({ force: true });
      const size = writeSnapshot(dir, cluster);
      const journal = new FileJournal(dir, openSync(file, 'a'), size);
      cluster.attachJournal(journal);
      return { journal, report };
    } catch (error) {
      unlock(dir);
      throw error;
    }
  }

  write(entry: ClusterEntry): void {
    const frame = encodeFrame(entry);
    let written = 0;
    while (written < frame.length) written += writeSync(this.#fd, frame, written);
    this.#size += frame.length;
  }

  /** Rewrites the file from the cluster's live data once it has grown well past the last snapshot. */
  maybeSnapshot(cluster: EmbeddedCluster): boolean {
    if (this.#size < Math.max(SNAPSHOT_MIN_BYTES, 4 * this.#snapshotSize)) return false;
    closeSync(this.#fd);
    this.#size = writeSnapshot(this.dir, cluster);
    this.#snapshotSize = this.#size;
    this.#fd = openSync(join(this.dir, JOURNAL_FILE), 'a');
    return true;
  }

  close(): void {
    fsyncSync(this.#fd);
    closeSync(this.#fd);
    unlock(this.dir);
  }
}

function encodeFrame(entry: ClusterEntry): Buffer {
  const payload = serialize(entry);
  const frame = Buffer.allocUnsafe(FRAME_HEADER + payload.length);
  frame.writeUInt32BE(payload.length, 0);
  frame.writeUInt32BE(crc32(payload), 4);
  frame.set(payload, FRAME_HEADER);
  return frame;
}

function replay(file: string, cluster: EmbeddedCluster): JournalOpenReport {
  const data = readFileSync(file);
  let at = 0;
  let entries = 0;
  while (at + FRAME_HEADER <= data.length) {
    const length = data.readUInt32BE(at);
    const end = at + FRAME_HEADER + length;
    if (end > data.length) break;
    const payload = data.subarray(at + FRAME_HEADER, end);
    if (crc32(payload) !== data.readUInt32BE(at + 4)) break;
    cluster.apply(deserialize(payload) as ClusterEntry);
    entries++;
    at = end;
  }
  if (at < data.length) {
    const fd = openSync(file, 'r+');
    ftruncateSync(fd, at);
    closeSync(fd);
  }
  return { entries, truncatedBytes: data.length - at };
}

/** Writes the live data to a temporary file, fsyncs it and renames it over the journal. */
function writeSnapshot(dir: string, cluster: EmbeddedCluster): number {
  const tmp = join(dir, `${JOURNAL_FILE}.tmp`);
  const fd = openSync(tmp, 'w');
  let size = 0;
  try {
    for (const entry of cluster.entries()) {
      const frame = encodeFrame(entry);
      let written = 0;
      while (written < frame.length) written += writeSync(fd, frame, written);
      size += frame.length;
    }
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, join(dir, JOURNAL_FILE));
  const dirFd = openSync(dir, 'r');
  try {
    fsyncSync(dirFd);
  } finally {
    closeSync(dirFd);
  }
  return size;
}

function lock(dir: string): void {
  const file = join(dir, LOCK_FILE);
  try {
    writeFileSync(file, String(process.pid), { flag: 'wx' });
    return;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
  const holder = Number(readFileSync(file, 'utf8').trim());
  if (Number.isInteger(holder) && holder > 0 && holder !== process.pid && isAlive(holder)) {
    throw new Error(`the embedded engine's state directory ${dir} is in use by process ${holder} (set STATE_DIR to another directory)`);
  }
  writeFileSync(file, String(process.pid));
}

function unlock(dir: string): void {
  try {
    unlinkSync(join(dir, LOCK_FILE));
  } catch {
    // Already gone: nothing to release.
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
