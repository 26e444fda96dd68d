/**
 * The replicated status table (rule 10): every instance folds the whole status topic into this
 * table, caught up before any task processes, then kept current. It may lag the event stream;
 * the processor's drain-first rules make that safe.
 *
 * Compact, because a status topic may hold millions of keys: only PAUSED keys are kept, each as a
 * slot in typed arrays (position, timestamp, partition) plus its reason and actor (strings shared
 * between keys paused with the same ones). Once `setPartitions` says how many partitions the status
 * topic has, a key that goes ACTIVE (or is tombstoned) is forgotten, and `get` answers ACTIVE with
 * the highest offset applied so far in the key's partition (murmur2, as every writer places keys).
 *
 * Why that position is as good as the key's own (rule 3): the processor reads positions only to
 * order a resume command against a PAUSED. (a) A PAUSED the table shows later was applied later, so
 * its offset is above everything applied in its partition before, the answer given to the command
 * included: it outranks the command, as it must. (b) A PAUSED older than the key's ACTIVE (a table
 * still catching up after a restart) has an offset below the ACTIVE's, which is at most the answer:
 * the command's drain goes on, as it must. -1 (the answer for a key never seen) would break (b):
 * the fault simulation found it. A status record in a partition other than its key's murmur2 one
 * (a custom partitioner) keeps its key's exact position instead, so (a) and (b) hold for it too.
 * Until `setPartitions` is called, ACTIVE keys keep their exact positions (nothing is forgotten).
 *
 * History (the audit trail: who paused or resumed a key, why, when) must survive restarts and
 * partition moves. Every status record our API writes carries the key's earlier changes in its
 * `ep-history` header (model/wire.ts), so the key's latest record, the one a compacted status
 * topic keeps, holds the trail; the value stays the original's "PAUSED"/"ACTIVE", which its
 * dashboard and scripts read. Why there rather than in an audit topic of its own: every instance
 * already reads the whole status topic before it processes (rule 10), so the trail comes back with
 * the table after a restart or a move, with no other topic to create, size, retain and read, and
 * compaction cannot cut a key's trail short (a retention-based audit topic would lose a key paused
 * longer than its retention). The cost: each status record carries up to 49 earlier changes
 * (at most 16 KiB), and a concurrent write from another instance the writer had not seen yet is
 * missing from the trail once compaction drops its own record.
 *
 * In memory: the keys changed most recently (their changes seen, at most HISTORY_PER_KEY, and the
 * raw trail of their latest record; at most HISTORY_RING changes over all of them), and the trail
 * of every PAUSED key that has one. Trails are parsed only when a history is asked for, so reading
 * millions of status records at startup parses none. An ACTIVE key that fell out of the recent
 * keys shows no history (its trail is on the status topic, read again at the next restart).
 */
import { decodeHistory, decodeStatus, HEADERS, headerBuffer, headerValue, type HistoryEntry } from '../model/wire.ts';
import { partitionForKey } from './partitioner.ts';
import type { InputRecord, KeyStatus, StatusEntry } from './ports.ts';

export interface StatusChange {
  readonly key: string;
  readonly status: KeyStatus;
  readonly version: number;
  /** Offset of the status record: the same on every instance and after a restart. */
  readonly position: number;
  readonly reason: string | undefined;
  readonly actor: string | undefined;
  /** Timestamp of the status record. */
  readonly timestamp: number;
  readonly partition: number;
  readonly offset: number;
}

const ACTIVE: StatusEntry = Object.freeze({ status: 'ACTIVE', version: 0, position: -1, timestamp: -1 });
/** Changes kept in memory for history, over all recently changed keys. */
export const HISTORY_RING = 10_000;
/** Bytes of raw trails (ep-history headers) kept for recently changed keys. */
const HISTORY_TRAIL_MEMORY = 32 * 1024 * 1024;

/** A recently changed key: the changes this table applied, and the trail of the latest record that had one. */
interface RecentKey {
  changes: StatusChange[];
  trail: Buffer | undefined;
}
/** Changes of one key history() returns at most. */
export const HISTORY_PER_KEY = 50;
/** Distinct reason/actor strings shared at most (a bulk pause of a million keys has one reason). */
const SHARED_STRINGS = 4096;

/** What a reader of the status table may use: everything but `apply`. */
export type StatusView = Omit<StatusTable, 'apply'>;

export class StatusTable {
  /** PAUSED key -> slot. */
  readonly #slots = new Map<string, number>();
  #position = new Float64Array(1024);
  #timestamp = new Float64Array(1024);
  #version = new Float64Array(1024);
  #partition = new Int32Array(1024);
  #reason: Array<string | undefined> = [];
  #actor: Array<string | undefined> = [];
  /** Raw ep-history trail of a PAUSED key's latest record, by slot. */
  #trail: Array<Buffer | undefined> = [];
  readonly #free: number[] = [];
  #used = 0;
  readonly #shared = new Map<string, string>();
  /** Recently changed keys, least recent first (a Map keeps insertion order). */
  readonly #recent = new Map<string, RecentKey>();
  #recentChanges = 0;
  #recentTrailBytes = 0;
  readonly #listeners = new Set<(change: StatusChange) => void>();
  /** Status-topic partitions; undefined until known. */
  #partitions: number | undefined;
  /** Highest offset applied, per status partition. */
  readonly #applied: number[] = [];
  /** Exact positions of ACTIVE keys the partition's answer cannot stand for (see above). */
  readonly #exact = new Map<string, number>();
  #changes = 0;
  #rejected = 0;

  /** Folds one status-topic record in. Returns an error message for a value it cannot read. */
  apply(record: InputRecord): string | undefined {
    if (record.key === null) {
      this.#rejected++;
      return 'status record has no key';
    }
    const decoded = decodeStatus(record.value);
    if (!decoded.ok) {
      this.#rejected++;
      return decoded.error;
    }
    const key = record.key.toString('utf8');
    const version = ++this.#changes;
    if (record.offset > (this.#applied[record.partition] ?? -1)) this.#applied[record.partition] = record.offset;
    const reason = this.#share(headerValue(record.headers, HEADERS.reason));
    const actor = this.#share(headerValue(record.headers, HEADERS.actor));
    const header = headerBuffer(record.headers, HEADERS.history);
    // A copy: the header may be a view into a large fetch buffer that must not stay pinned.
    const trail = header === undefined || header.length === 0 ? undefined : Buffer.from(header);
    if (decoded.value === 'PAUSED') {
      let slot = this.#slots.get(key);
      if (slot === undefined) {
        slot = this.#allocate();
        this.#slots.set(key, slot);
        this.#exact.delete(key);
      }
      this.#position[slot] = record.offset;
      this.#timestamp[slot] = record.timestamp;
      this.#version[slot] = version;
      this.#partition[slot] = record.partition;
      this.#reason[slot] = reason;
      this.#actor[slot] = actor;
      this.#trail[slot] = trail;
    } else {
      if (this.#partitions === undefined || partitionForKey(record.key, this.#partitions) !== record.partition) this.#exact.set(key, record.offset);
      else this.#exact.delete(key);
      const slot = this.#slots.get(key);
      if (slot !== undefined) {
        this.#slots.delete(key);
        this.#reason[slot] = undefined;
        this.#actor[slot] = undefined;
        this.#trail[slot] = undefined;
        this.#free.push(slot);
      }
    }
    const listening = this.#listeners.size > 0;
    const change: StatusChange = {
      key,
      status: decoded.value,
      version,
      position: record.offset,
      reason,
      actor,
      timestamp: record.timestamp,
      partition: record.partition,
      offset: record.offset,
    };
    this.#remember(change, trail);
    if (listening) for (const listener of this.#listeners) listener(change);
    return undefined;
  }

  /**
   * The status topic's partition count: from now on ACTIVE keys are forgotten (their answer is
   * their partition's highest applied offset). ACTIVE keys applied before keep their exact positions
   * (the status follower calls this before it reads anything).
   */
  setPartitions(partitions: number): void {
    if (!Number.isSafeInteger(partitions) || partitions < 1) throw new RangeError(`partitions must be a positive integer, got ${partitions}`);
    if (this.#partitions === partitions) return;
    if (this.#partitions !== undefined) throw new Error(`the status topic had ${this.#partitions} partitions, now ${partitions}: partitions cannot change`);
    this.#partitions = partitions;
  }

  get(key: string): StatusEntry {
    const slot = this.#slots.get(key);
    if (slot === undefined) {
      const exact = this.#exact.get(key);
      if (exact !== undefined) return { status: 'ACTIVE', version: 0, position: exact, timestamp: -1 };
      if (this.#partitions === undefined) return ACTIVE;
      const applied = this.#applied[partitionForKey(key, this.#partitions)];
      return applied === undefined ? ACTIVE : { status: 'ACTIVE', version: 0, position: applied, timestamp: -1 };
    }
    return { status: 'PAUSED', version: this.#version[slot]!, position: this.#position[slot]!, timestamp: this.#timestamp[slot]! };
  }

  /** The latest change seen for a key, with its reason and actor (undefined for an ACTIVE key no longer among the recent ones). */
  latest(key: string): StatusChange | undefined {
    const slot = this.#slots.get(key);
    if (slot !== undefined) return this.#change(key, slot);
    return this.#recent.get(key)?.changes.at(-1);
  }

  /**
   * Status changes of a key, oldest first, at most HISTORY_PER_KEY: the trail its latest record
   * carries (ep-history) merged with the changes this table applied, so a history survives a
   * restart and compaction. A PAUSED key no longer among the recent ones still shows its pause
   * and its trail; an ACTIVE one shows nothing (see the class comment).
   */
  history(key: string): readonly StatusChange[] {
    const recent = this.#recent.get(key);
    const slot = this.#slots.get(key);
    if (recent !== undefined) return mergeHistory(key, decodeHistory(recent.trail), recent.changes);
    if (slot !== undefined) return mergeHistory(key, decodeHistory(this.#trail[slot]), [this.#change(key, slot)]);
    return [];
  }

  /** The PAUSED keys, in no particular order. */
  pausedKeyNames(): Iterable<string> {
    return this.#slots.keys();
  }

  *pausedKeys(): Iterable<StatusChange> {
    for (const [key, slot] of this.#slots) yield this.#change(key, slot);
  }

  get pausedCount(): number {
    return this.#slots.size;
  }

  /** Status records that could not be read (bad value or no key); they are skipped. */
  get rejectedCount(): number {
    return this.#rejected;
  }

  onChange(listener: (change: StatusChange) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #change(key: string, slot: number): StatusChange {
    const position = this.#position[slot]!;
    return {
      key,
      status: 'PAUSED',
      version: this.#version[slot]!,
      position,
      reason: this.#reason[slot],
      actor: this.#actor[slot],
      timestamp: this.#timestamp[slot]!,
      partition: this.#partition[slot]!,
      offset: position,
    };
  }

  #allocate(): number {
    const reused = this.#free.pop();
    if (reused !== undefined) return reused;
    const slot = this.#used++;
    if (slot >= this.#position.length) {
      const size = this.#position.length * 2;
      this.#position = grow(this.#position, new Float64Array(size));
      this.#timestamp = grow(this.#timestamp, new Float64Array(size));
      this.#version = grow(this.#version, new Float64Array(size));
      this.#partition = grow(this.#partition, new Int32Array(size));
    }
    return slot;
  }

  /** Puts a change at the front of the recent keys, then evicts the least recent past the bounds. */
  #remember(change: StatusChange, trail: Buffer | undefined): void {
    const key = change.key;
    let recent = this.#recent.get(key);
    if (recent === undefined) {
      recent = { changes: [], trail: undefined };
    } else {
      this.#recent.delete(key);
    }
    this.#recent.set(key, recent);
    recent.changes.push(change);
    this.#recentChanges++;
    if (recent.changes.length > HISTORY_PER_KEY) {
      recent.changes.shift();
      this.#recentChanges--;
    }
    // A record without a trail (written by the original's producers) keeps the earlier one: it is still the key's past.
    if (trail !== undefined) {
      this.#recentTrailBytes += trail.length - (recent.trail?.length ?? 0);
      recent.trail = trail;
    }
    while (this.#recentChanges > HISTORY_RING || this.#recentTrailBytes > HISTORY_TRAIL_MEMORY) {
      const oldest = this.#recent.entries().next().value;
      if (oldest === undefined) break;
      const [oldestKey, evicted] = oldest;
      this.#recent.delete(oldestKey);
      this.#recentChanges -= evicted.changes.length;
      this.#recentTrailBytes -= evicted.trail?.length ?? 0;
    }
  }

  /** One string object for equal reasons/actors (bounded: past SHARED_STRINGS distinct ones, it starts over). */
  #share(value: string | undefined): string | undefined {
    if (value === undefined) return undefined;
    const known = this.#shared.get(value);
    if (known !== undefined) return known;
    if (this.#shared.size >= SHARED_STRINGS) this.#shared.clear();
    this.#shared.set(value, value);
    return value;
  }
}

function grow<T extends Float64Array | Int32Array>(from: T, to: T): T {
  to.set(from);
  return to;
}

/**
 * A key's history from the trail of its latest record and the changes applied here: one entry per
 * status record (partition, offset), oldest first (offset order within a partition, else time),
 * the newest HISTORY_PER_KEY.
 */
export function mergeHistory(key: string, trail: readonly HistoryEntry[], seen: readonly StatusChange[]): StatusChange[] {
  const byRecord = new Map<string, StatusChange>();
  for (const entry of trail) {
    byRecord.set(`${entry.partition}:${entry.offset}`, { key, version: 0, position: entry.offset, ...entry });
  }
  for (const change of seen) byRecord.set(`${change.partition}:${change.offset}`, change);
  const merged = [...byRecord.values()].sort((a, b) =>
    a.partition === b.partition ? a.offset - b.offset : a.timestamp - b.timestamp || a.offset - b.offset,
  );
  return merged.slice(-HISTORY_PER_KEY);
}
