/**
 * In-memory buffer store: the embedded engine's store, and the one the deterministic simulation
 * creates thousands of times (construction allocates one Map and nothing else).
 *
 * Per key, a seq-sorted array with a moving head: appends normally land at the end (seqs are input
 * offsets, so they grow), a drained slice is removed by advancing the head, and the array is
 * compacted once the dead head is the larger part. Events are kept by reference, not copied: they
 * are immutable by contract (`BufferedEvent` is readonly throughout).
 */
import { EventPauseError, MAX_BUFFERED_KEY_BYTES } from '../model/errors.ts';
import type { BufferedEvent, DrainMark } from '../runtime/ports.ts';
import { assertSeq, decodeEntry, decodeEntryKey, decodeMark, decodeMarkKey, isMarkKey } from './buffer-codec.ts';
import { assertCheckpoint, type RestorableBufferStore } from './restorable.ts';

interface KeyQueue {
  /** Sorted by seq; entries before `head` are removed. A queue in the map is never empty. */
  events: BufferedEvent[];
  head: number;
}

/** Compact only past this many dead entries, so small queues never copy. */
const COMPACT_MIN_HEAD = 1024;

/** Undo records kept at most after a commit checkpoint (the lmdb store's write limit): past it the checkpoint is dropped. */
const MAX_UNDO = 16_384;

/** What an entry or a mark was before a write since the commit checkpoint. */
type Undo = { readonly key: string; readonly seq: number; readonly before: BufferedEvent | undefined } | { readonly key: string; readonly mark: DrainMark | undefined };

export class MemoryBufferStore implements RestorableBufferStore {
  readonly #queues = new Map<string, KeyQueue>();
  readonly #marks = new Map<string, DrainMark>();
  #checkpoint: number | undefined = undefined;
  /** The commit checkpoint: with `#undo`, models what the lmdb store keeps through a crash. */
  #commitCheckpoint: number | undefined = undefined;
  #undo: Undo[] = [];
  #rollingBack = false;
  #closed = false;

  append(event: BufferedEvent): void {
    this.#checkOpen();
    const seq = event.seq;
    assertSeq(seq);
    // The same key limit as the lmdb store: a flow behaves the same on every engine.
    if (Buffer.byteLength(event.key) > MAX_BUFFERED_KEY_BYTES) {
      throw new EventPauseError('KEY_TOO_LARGE', `buffer key of ${Buffer.byteLength(event.key)} UTF-8 bytes exceeds the limit of ${MAX_BUFFERED_KEY_BYTES}`);
    }
    if (this.#recording) this.#noteUndo({ key: event.key, seq, before: this.#entry(event.key, seq) });
    const queue = this.#queues.get(event.key);
    if (queue === undefined) {
      this.#queues.set(event.key, { events: [event], head: 0 });
      return;
    }
    const events = queue.events;
    const lastSeq = events[events.length - 1]!.seq;
    if (seq > lastSeq) {
      events.push(event);
    } else if (seq === lastSeq) {
      events[events.length - 1] = event;
    } else {
      const at = lowerBound(events, queue.head, events.length, seq);
      if (events[at]!.seq === seq) events[at] = event;
      else events.splice(at, 0, event);
    }
  }

  read(key: string, limit: number): BufferedEvent[] {
    this.#checkOpen();
    const queue = this.#queues.get(key);
    if (queue === undefined || !(limit > 0)) return [];
    return queue.events.slice(queue.head, Math.min(queue.events.length, queue.head + limit));
  }

  remove(key: string, seqs: readonly number[]): void {
    this.#checkOpen();
    const queue = this.#queues.get(key);
    if (queue === undefined || seqs.length === 0) return;
    const events = queue.events;
    const head = queue.head;
    // The drain's case: the slice is exactly the oldest entries, in order.
    let matched = 0;
    while (matched < seqs.length && head + matched < events.length && events[head + matched]!.seq === seqs[matched]) matched++;
    if (this.#recording) {
      for (let i = 0; i < seqs.length; i++) {
        const before = i < matched ? events[head + i] : this.#entry(key, seqs[i]!);
        if (before !== undefined) this.#noteUndo({ key, seq: before.seq, before });
      }
    }
    if (matched === seqs.length) {
      queue.head = head + matched;
    } else if (seqs.length <= 16) {
      for (const seq of seqs) {
        const at = lowerBound(events, queue.head, events.length, seq);
        if (at < events.length && events[at]!.seq === seq) {
          if (at === queue.head) queue.head++;
          else events.splice(at, 1);
        }
      }
    } else {
      const doomed = new Set(seqs);
      queue.events = events.slice(head).filter((event) => !doomed.has(event.seq));
      queue.head = 0;
    }
    const size = queue.events.length;
    if (queue.head >= size) {
      this.#queues.delete(key);
    } else if (queue.head >= COMPACT_MIN_HEAD && queue.head * 2 >= size) {
      queue.events = queue.events.slice(queue.head);
      queue.head = 0;
    }
  }

  count(key: string): number {
    this.#checkOpen();
    const queue = this.#queues.get(key);
    return queue === undefined ? 0 : queue.events.length - queue.head;
  }

  /** Keys in the order they last became non-empty (deterministic for a given history). */
  keys(): string[] {
    this.#checkOpen();
    return [...this.#queues.keys()];
  }

  seqsFrom(key: string, fromSeq: number): number[] {
    this.#checkOpen();
    const queue = this.#queues.get(key);
    if (queue === undefined) return [];
    const { events } = queue;
    return events.slice(lowerBound(events, queue.head, events.length, fromSeq)).map((event) => event.seq);
  }

  setDrainMark(key: string, mark: DrainMark | undefined): void {
    this.#checkOpen();
    if (this.#recording) this.#noteUndo({ key, mark: this.#marks.get(key) });
    if (mark === undefined) this.#marks.delete(key);
    else this.#marks.set(key, mark);
  }

  drainMarks(): Array<[string, DrainMark]> {
    this.#checkOpen();
    return [...this.#marks];
  }

  restore(entryKey: Buffer, entryValue: Buffer | null): void {
    if (isMarkKey(entryKey)) {
      this.setDrainMark(decodeMarkKey(entryKey), entryValue === null ? undefined : decodeMark(entryValue));
      return;
    }
    if (entryValue === null) {
      const { key, seq } = decodeEntryKey(entryKey);
      this.remove(key, [seq]);
    } else {
      this.append(decodeEntry(entryKey, entryValue));
    }
  }

  clear(): void {
    this.#checkOpen();
    this.#queues.clear();
    this.#marks.clear();
    this.#checkpoint = undefined;
    this.#dropCommitCheckpoint();
  }

  close(): void {
    this.settle();
    this.#closed = true;
  }

  /** As a kill -9 leaves the lmdb store: back at the commit checkpoint (crash()), then closed. */
  abandon(): void {
    this.crash();
    this.#closed = true;
  }

  /** As the lmdb store's flush on close: what was written stays, so a commit checkpoint older than a write goes. */
  settle(): void {
    if (this.#undo.length > 0) this.#dropCommitCheckpoint();
  }

  readCheckpoint(): number | undefined {
    this.#checkOpen();
    return this.#checkpoint ?? (this.#undo.length === 0 ? this.#commitCheckpoint : undefined);
  }

  writeCheckpoint(offset: number | undefined): void {
    this.#checkOpen();
    if (offset !== undefined) assertCheckpoint(offset);
    else this.#dropCommitCheckpoint();
    if (this.#undo.length > 0) this.#dropCommitCheckpoint();
    this.#checkpoint = offset;
  }

  commitCheckpoint(offset: number): void {
    this.#checkOpen();
    assertCheckpoint(offset);
    this.#commitCheckpoint = offset;
    this.#undo = [];
    this.#checkpoint = undefined;
  }

  /**
   * A crash: the writes since the commit checkpoint are undone (the lmdb store had them in memory
   * only), so the store is back at the checkpoint's content. Without one, it stays as it is and
   * vouches for nothing.
   */
  crash(): void {
    const undo = this.#undo;
    this.#undo = [];
    this.#rollingBack = true;
    try {
      for (let i = undo.length - 1; i >= 0; i--) {
        const step = undo[i]!;
        if ('seq' in step) {
          this.remove(step.key, [step.seq]);
          if (step.before !== undefined) this.append(step.before);
        } else if (step.mark === undefined) this.#marks.delete(step.key);
        else this.#marks.set(step.key, step.mark);
      }
    } finally {
      this.#rollingBack = false;
    }
  }

  /** Writes are noted for a crash to undo: a commit checkpoint stands, and this is not the undo itself. */
  get #recording(): boolean {
    return this.#commitCheckpoint !== undefined && !this.#rollingBack;
  }

  #noteUndo(undo: Undo): void {
    this.#undo.push(undo);
    if (this.#undo.length > MAX_UNDO) this.#dropCommitCheckpoint();
  }

  #dropCommitCheckpoint(): void {
    this.#commitCheckpoint = undefined;
    this.#undo = [];
  }

  #entry(key: string, seq: number): BufferedEvent | undefined {
    const queue = this.#queues.get(key);
    if (queue === undefined) return undefined;
    const at = lowerBound(queue.events, queue.head, queue.events.length, seq);
    const found = queue.events[at];
    return found !== undefined && found.seq === seq ? found : undefined;
  }

  #checkOpen(): void {
    if (this.#closed) throw new Error('buffer store is closed');
  }
}

/** First index in [from, to) whose seq is >= `seq` (`to` if none). */
function lowerBound(events: readonly BufferedEvent[], from: number, to: number, seq: number): number {
  let low = from;
  let high = to;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if (events[mid]!.seq < seq) low = mid + 1;
    else high = mid;
  }
  return low;
}

/**
 * In-memory stores that outlive their handles, one per folder: a disk for the fault simulation,
 * where an instance restarted with the same state folder finds what its store held (as an lmdb
 * environment is found again in its folder). Each `open` is a handle of its own: closing it
 * leaves the content, and other handles, as they are.
 */
export class MemoryStoreFolders {
  readonly #stores = new Map<string, MemoryBufferStore>();
  /** Per folder, whether its last handle is still open. */
  readonly #openHandles = new Map<string, { closed: boolean }>();
  /** Stores reopened after a crash that kept a commit checkpoint (the simulation counts them). */
  reopenedAtCheckpoint = 0;
  /** Stores abandoned (RestorableBufferStore#abandon) with a commit checkpoint to reopen at. */
  abandonedAtCheckpoint = 0;

  /**
   * A new handle. When the folder's previous handle was never closed, its process died (kill -9):
   * that handle is cut off, and the store loses what it would have kept only in memory
   * (MemoryBufferStore#crash), as an lmdb environment reopened after a crash.
   */
  open(dir: string): RestorableBufferStore {
    let store = this.#stores.get(dir);
    if (store === undefined) this.#stores.set(dir, (store = new MemoryBufferStore()));
    const previous = this.#openHandles.get(dir);
    if (previous !== undefined && !previous.closed) {
      previous.closed = true;
      store.crash();
      if (store.readCheckpoint() !== undefined) this.reopenedAtCheckpoint++;
    }
    const state = { closed: false };
    this.#openHandles.set(dir, state);
    return handle(store, state, this);
  }
}

function handle(store: MemoryBufferStore, state: { closed: boolean }, folders: MemoryStoreFolders): RestorableBufferStore {
  const open = (): MemoryBufferStore => {
    if (state.closed) throw new Error('buffer store is closed');
    return store;
  };
  return {
    append: (event) => open().append(event),
    read: (key, limit) => open().read(key, limit),
    remove: (key, seqs) => open().remove(key, seqs),
    count: (key) => open().count(key),
    keys: () => open().keys(),
    seqsFrom: (key, fromSeq) => open().seqsFrom(key, fromSeq),
    setDrainMark: (key, mark) => open().setDrainMark(key, mark),
    drainMarks: () => open().drainMarks(),
    restore: (entryKey, entryValue) => open().restore(entryKey, entryValue),
    clear: () => open().clear(),
    readCheckpoint: () => open().readCheckpoint(),
    writeCheckpoint: (offset) => open().writeCheckpoint(offset),
    commitCheckpoint: (offset) => open().commitCheckpoint(offset),
    close: () => {
      if (state.closed) return;
      state.closed = true;
      store.settle();
    },
    abandon: () => {
      if (state.closed) return;
      state.closed = true;
      store.crash();
      if (store.readCheckpoint() !== undefined) folders.abandonedAtCheckpoint++;
    },
  };
}
