/**
 * The replicated status table (rule 10): every instance folds the whole status topic into this
 * map, caught up before any task processes, then kept current. It may lag the event stream;
 * the processor's drain-first rules make that safe.
 */
import { decodeStatus, HEADERS, headerValue } from '../model/wire.ts';
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

const ACTIVE: StatusEntry = { status: 'ACTIVE', version: 0, position: -1, timestamp: -1 };
const HISTORY_PER_KEY = 50;

/** What a reader of the status table may use: everything but `apply`. */
export type StatusView = Omit<StatusTable, 'apply'>;

export class StatusTable {
  readonly #entries = new Map<string, StatusChange>();
  readonly #history = new Map<string, StatusChange[]>();
  readonly #listeners = new Set<(change: StatusChange) => void>();
  #version = 0;
  #paused = 0;
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
    const change: StatusChange = {
      key,
      status: decoded.value,
      version: ++this.#version,
      position: record.offset,
      reason: headerValue(record.headers, HEADERS.reason),
      actor: headerValue(record.headers, HEADERS.actor),
      timestamp: record.timestamp,
      partition: record.partition,
      offset: record.offset,
    };
    const previous = this.#entries.get(key);
    if (previous?.status === 'PAUSED') this.#paused--;
    if (change.status === 'PAUSED') this.#paused++;
    this.#entries.set(key, change);
    let history = this.#history.get(key);
    if (history === undefined) this.#history.set(key, (history = []));
    history.push(change);
    if (history.length > HISTORY_PER_KEY) history.shift();
    for (const listener of this.#listeners) listener(change);
    return undefined;
  }

  get(key: string): StatusEntry {
    return this.#entries.get(key) ?? ACTIVE;
  }

  /** The latest change seen for a key, with its reason and actor. */
  latest(key: string): StatusChange | undefined {
    return this.#entries.get(key);
  }

  /** Status changes of a key seen by this instance, oldest first (at most the last 50). */
  history(key: string): readonly StatusChange[] {
    return this.#history.get(key) ?? [];
  }

  *pausedKeys(): Iterable<StatusChange> {
    for (const entry of this.#entries.values()) if (entry.status === 'PAUSED') yield entry;
  }

  get pausedCount(): number {
    return this.#paused;
  }

  /** Status records that could not be read (bad value or no key); they are skipped. */
  get rejectedCount(): number {
    return this.#rejected;
  }

  onChange(listener: (change: StatusChange) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
}
