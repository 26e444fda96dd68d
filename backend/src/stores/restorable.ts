/**
 * A buffer store that can be rebuilt from its changelog. Records are the byte layout of
 * `buffer-codec.ts`: key = entry key, value = entry value, null value = tombstone.
 *
 * Checkpoint protocol: on task open, a checkpoint means the store is complete up to that
 * changelog offset and restore resumes there; no checkpoint means the store is untrusted:
 * `clear()` it and restore the whole changelog. Two kinds:
 *   - the clean-close checkpoint (`writeCheckpoint`), written after the last commit when the task
 *     closes, deleted (`writeCheckpoint(undefined)`) when the store is opened to change again;
 *   - the commit checkpoint (`commitCheckpoint`), recorded after a Kafka commit atomically with
 *     the store's content: it survives a process crash (kill -9), and a store that cannot keep
 *     its content at that point through a crash drops it the moment it changes for good.
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
  /**
   * Closes as a kill -9 would leave it: the writes since the last commit checkpoint are dropped,
   * so the next open finds the store at that checkpoint (a restore reads only the changelog after
   * it), or with no checkpoint at all. For a close whose writes may count for nothing (partitions
   * lost, a transaction aborted): close() would keep them, and without a checkpoint vouching for
   * them the next restore would have to start from the changelog's beginning.
   */
  abandon(): void;
  /** Changelog offset up to which the store is known to be complete (either kind), if any. */
  readCheckpoint(): number | undefined;
  /** The clean-close checkpoint; undefined: no checkpoint of either kind any more. */
  writeCheckpoint(offset: number | undefined): void;
  /**
   * The store's content is the changelog replayed up to `offset` (all its writes are in
   * committed changelog records below it, and nothing else wrote the changelog): after a crash it
   * reopens with this content and this checkpoint, until a later commit checkpoint.
   */
  commitCheckpoint(offset: number): void;
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
