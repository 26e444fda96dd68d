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

export class MemoryBufferStore implements RestorableBufferStore {
  readonly #queues = new Map<string, KeyQueue>();
  readonly #marks = new Map<string, DrainMark>();
  #checkpoint: number | undefined = undefined;
  #closed = false;

  append(event: BufferedEvent): void {
    this.#checkOpen();
    const seq = event.seq;
    assertSeq(seq);
    // The same key limit as the lmdb store: a flow behaves the same on every engine.
    if (Buffer.byteLength(event.key) > MAX_BUFFERED_KEY_BYTES) {
      throw new EventPauseError('KEY_TOO_LARGE', `buffer key of ${Buffer.byteLength(event.key)} UTF-8 bytes exceeds the limit of ${MAX_BUFFERED_KEY_BYTES}`);
    }
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
  }

  close(): void {
    this.#closed = true;
  }

  readCheckpoint(): number | undefined {
    this.#checkOpen();
    return this.#checkpoint;
  }

  writeCheckpoint(offset: number | undefined): void {
    this.#checkOpen();
    if (offset !== undefined) assertCheckpoint(offset);
    this.#checkpoint = offset;
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

  open(dir: string): RestorableBufferStore {
    let store = this.#stores.get(dir);
    if (store === undefined) this.#stores.set(dir, (store = new MemoryBufferStore()));
    return handle(store);
  }
}

function handle(store: MemoryBufferStore): RestorableBufferStore {
  let closed = false;
  const open = (): MemoryBufferStore => {
    if (closed) throw new Error('buffer store is closed');
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
    close: () => {
      closed = true;
    },
  };
}
