/**
 * Change logging around any restorable store, like Kafka Streams' ChangeLoggingKeyValueBytesStore:
 * every append is written to the inner store, then logged as (entry key, entry value); every
 * removal is applied, then logged as a tombstone (entry key, null). Replaying the log, in order,
 * into an empty store through `restore` rebuilds the same content.
 *
 * `restore`, `clear`, `close` and the checkpoint pass straight through WITHOUT logging: restoring
 * replays the log (it must not write to it again), and clearing is local (before a full restore).
 *
 * It also keeps an index of the keys holding entries and their counts (`forEachKey`), so that key
 * search never scans the store: built from the store on first use, then kept by append and
 * remove. An append at a seq not above the key's last one may overwrite an entry (re-buffering a
 * replayed record is idempotent), so it recounts that key from the store instead of adding one.
 */
import type { BufferedEvent, DrainMark } from '../runtime/ports.ts';
import { encodeEntryKeyWithPrefix, encodeEntryKey, encodeEntryValue, encodeMark, encodeMarkKey, keyPrefix } from './buffer-codec.ts';
import type { RestorableBufferStore } from './restorable.ts';

/** Receives each changelog record; a null value is a tombstone. Called synchronously, in order. */
export type ChangelogSink = (entryKey: Buffer, entryValue: Buffer | null) => void;

interface IndexEntry {
  count: number;
  /** Highest seq appended; -1: unknown (recount on the next append). */
  maxSeq: number;
}

export class LoggedBufferStore implements RestorableBufferStore {
  readonly #inner: RestorableBufferStore;
  readonly #sink: ChangelogSink;
  /** Keys holding entries; undefined until first asked for (and after a restore or clear). */
  #index: Map<string, IndexEntry> | undefined;

  constructor(inner: RestorableBufferStore, sink: ChangelogSink) {
    this.#inner = inner;
    this.#sink = sink;
  }

  get inner(): RestorableBufferStore {
    return this.#inner;
  }

  append(event: BufferedEvent): void {
    this.#inner.append(event);
    this.#sink(encodeEntryKey(event.key, event.seq), encodeEntryValue(event));
    const index = this.#index;
    if (index === undefined) return;
    const entry = index.get(event.key);
    if (entry === undefined) index.set(event.key, { count: 1, maxSeq: event.seq });
    else if (event.seq > entry.maxSeq && entry.maxSeq >= 0) {
      entry.count++;
      entry.maxSeq = event.seq;
    } else {
      entry.count = this.#inner.count(event.key);
      entry.maxSeq = Math.max(entry.maxSeq, event.seq);
    }
  }

  read(key: string, limit: number): BufferedEvent[] {
    return this.#inner.read(key, limit);
  }

  remove(key: string, seqs: readonly number[]): void {
    if (seqs.length === 0) return;
    this.#inner.remove(key, seqs);
    const prefix = keyPrefix(key);
    for (const seq of seqs) this.#sink(encodeEntryKeyWithPrefix(prefix, seq), null);
    const entry = this.#index?.get(key);
    if (entry === undefined) return;
    entry.count -= seqs.length;
    // Seqs that were not there would make the count drift: a key that looks empty is checked.
    if (entry.count <= 0) {
      entry.count = this.#inner.count(key);
      if (entry.count === 0) this.#index!.delete(key);
    }
  }

  forEachKey(visit: (key: string, count: number) => void): void {
    let index = this.#index;
    if (index === undefined) {
      index = new Map();
      for (const key of this.#inner.keys()) index.set(key, { count: this.#inner.count(key), maxSeq: -1 });
      this.#index = index;
    }
    for (const [key, entry] of index) visit(key, entry.count);
  }

  count(key: string): number {
    return this.#inner.count(key);
  }

  keys(): string[] {
    return this.#inner.keys();
  }

  seqsFrom(key: string, fromSeq: number): number[] {
    return this.#inner.seqsFrom(key, fromSeq);
  }

  setDrainMark(key: string, mark: DrainMark | undefined): void {
    this.#inner.setDrainMark(key, mark);
    this.#sink(encodeMarkKey(key), mark === undefined ? null : encodeMark(mark));
  }

  drainMarks(): Array<[string, DrainMark]> {
    return this.#inner.drainMarks();
  }

  restore(entryKey: Buffer, entryValue: Buffer | null): void {
    this.#index = undefined;
    this.#inner.restore(entryKey, entryValue);
  }

  clear(): void {
    this.#index = undefined;
    this.#inner.clear();
  }

  close(): void {
    this.#inner.close();
  }

  abandon(): void {
    this.#inner.abandon();
  }

  readCheckpoint(): number | undefined {
    return this.#inner.readCheckpoint();
  }

  writeCheckpoint(offset: number | undefined): void {
    this.#inner.writeCheckpoint(offset);
  }

  commitCheckpoint(offset: number): void {
    this.#inner.commitCheckpoint(offset);
  }
}
