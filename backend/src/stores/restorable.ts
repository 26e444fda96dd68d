/**
 * A buffer store that can be rebuilt from its changelog. Records are the byte layout of
 * `buffer-codec.ts`: key = entry key, value = entry value, null value = tombstone.
 *
 * Checkpoint protocol (as Kafka Streams does for exactly-once state): on task open, a checkpoint
 * means the store is complete up to that changelog offset and restore resumes there; no
 * checkpoint means the store is untrusted: `clear()` it and restore the whole changelog. The
 * checkpoint is deleted (`writeCheckpoint(undefined)`) before the store changes again, and
 * written only on clean close after a commit, so a crash never leaves one behind.
 */
import type { BufferStore } from '../runtime/ports.ts';

export interface RestorableBufferStore extends BufferStore {
  /** Seqs of the key's entries at or after `fromSeq`, in order (entries ahead of an input offset). */
  seqsFrom(key: string, fromSeq: number): number[];
  /** Applies one changelog record while restoring: a value puts, null deletes. */
  restore(entryKey: Buffer, entryValue: Buffer | null): void;
  /** Drops everything (e.g. before a full restore after an unclean shutdown), checkpoint included. */
  clear(): void;
  close(): void;
  /** Changelog offset up to which the store is known to be complete, written on clean close. */
  readCheckpoint(): number | undefined;
  writeCheckpoint(offset: number | undefined): void;
}

/**
 * Removes the entries buffered from input records at or after `offset` (the committed input
 * offset): the input is replayed from there, so those records will be processed again. Under
 * at_least_once the changelog can run ahead of the committed offsets; left in place, such an entry
 * would be drained ahead of an older replayed event of its key (rule 1). Returns how many it removed.
 */
export function trimAhead(store: RestorableBufferStore, offset: number): number {
  let removed = 0;
  for (const key of store.keys()) {
    const seqs = store.seqsFrom(key, offset);
    if (seqs.length === 0) continue;
    store.remove(key, seqs);
    removed += seqs.length;
  }
  return removed;
}

/** Throws unless `offset` is a valid checkpoint (a non-negative safe integer). */
export function assertCheckpoint(offset: number): void {
  if (!(offset >= 0 && Number.isSafeInteger(offset))) {
    throw new RangeError(`checkpoint offset must be a non-negative safe integer, got ${offset}`);
  }
}
