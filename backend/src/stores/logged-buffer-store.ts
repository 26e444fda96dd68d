/**
 * Change logging around any restorable store, like Kafka Streams' ChangeLoggingKeyValueBytesStore:
 * every append is written to the inner store, then logged as (entry key, entry value); every
 * removal is applied, then logged as a tombstone (entry key, null). Replaying the log, in order,
 * into an empty store through `restore` rebuilds the same content.
 *
 * `restore`, `clear`, `close` and the checkpoint pass straight through WITHOUT logging: restoring
 * replays the log (it must not write to it again), and clearing is local (before a full restore).
 */
import type { BufferedEvent, DrainMark } from '../runtime/ports.ts';
import { encodeEntryKeyWithPrefix, encodeEntryKey, encodeEntryValue, encodeMark, encodeMarkKey, keyPrefix } from './buffer-codec.ts';
import type { RestorableBufferStore } from './restorable.ts';

/** Receives each changelog record; a null value is a tombstone. Called synchronously, in order. */
export type ChangelogSink = (entryKey: Buffer, entryValue: Buffer | null) => void;

export class LoggedBufferStore implements RestorableBufferStore {
  readonly #inner: RestorableBufferStore;
  readonly #sink: ChangelogSink;

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
  }

  read(key: string, limit: number): BufferedEvent[] {
    return this.#inner.read(key, limit);
  }

  remove(key: string, seqs: readonly number[]): void {
    if (seqs.length === 0) return;
    this.#inner.remove(key, seqs);
    const prefix = keyPrefix(key);
    for (const seq of seqs) this.#sink(encodeEntryKeyWithPrefix(prefix, seq), null);
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
    this.#inner.restore(entryKey, entryValue);
  }

  clear(): void {
    this.#inner.clear();
  }

  close(): void {
    this.#inner.close();
  }

  readCheckpoint(): number | undefined {
    return this.#inner.readCheckpoint();
  }

  writeCheckpoint(offset: number | undefined): void {
    this.#inner.writeCheckpoint(offset);
  }
}
