/**
 * Key search over paused and buffered keys, from the service's own indexes: the status table
 * (replicated: every instance knows every paused key and since when) and the key index of each
 * task's buffer (LoggedBufferStore.forEachKey: counts kept in memory). Never a topic scan.
 *
 * Each instance answers for the buffers of its own tasks (`searchLocal`): how many of its keys
 * match, and its first `offset + limit` hits in the asked order. The instance asked by the client
 * merges those with the matching paused keys (`mergeSearch`). Under any total order the first
 * `offset + limit` of a union lie within the union of each part's first `offset + limit`, so the
 * page is exact. A paused key that no instance listed is either not buffered or buffered behind
 * at least `offset + limit` keys of one instance, so it can never land on the page with a wrong
 * count: its count is filled in only when it is on the page (`needsSummary`).
 */
import type { BufferView } from '../runtime/ports.ts';
import type { StatusView } from '../runtime/status-table.ts';

export const KEY_SORTS = ['key', 'oldest', 'most', 'paused-longest'] as const;
export type KeySort = (typeof KEY_SORTS)[number];
export type KeyState = 'all' | 'paused' | 'buffered';

export interface KeyQuery {
  /** Keys starting with this ('' matches every key). */
  readonly prefix: string;
  /** Only this key (exact lookup); overrides prefix. */
  readonly exact?: string;
  readonly state: KeyState;
  readonly sort: KeySort;
  readonly offset: number;
  readonly limit: number;
  /** Only keys holding at least this many events (buffered keys only). */
  readonly minCount?: number;
}

export interface KeyHit {
  readonly key: string;
  readonly partition: number;
  readonly status: 'ACTIVE' | 'PAUSED';
  /** When the key was paused (status record timestamp); null when ACTIVE. */
  readonly pausedSince: number | null;
  readonly bufferedCount: number;
  readonly oldestBufferedTimestamp: number | null;
}

/** What one instance answers for its own tasks' buffers. */
export interface LocalSearch {
  /** Its buffered keys that match (whatever their status, within `state`). */
  readonly bufferedMatching: number;
  /** Of those, the ones that are not PAUSED (counted apart so that totals never count a key twice). */
  readonly bufferedNotPaused: number;
  /** Its first offset + limit matching keys in the asked order. */
  hits: KeyHit[];
  /** Partitions whose buffers it searched. */
  partitions: number[];
}

export function matches(query: Pick<KeyQuery, 'prefix' | 'exact'>, key: string): boolean {
  return query.exact !== undefined ? key === query.exact : key.startsWith(query.prefix);
}

const byKey = (a: KeyHit, b: KeyHit): number => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0);
const nullsLast = (a: number | null, b: number | null): number => (a === b ? 0 : a === null ? 1 : b === null ? -1 : a - b);

export function compareHits(sort: KeySort): (a: KeyHit, b: KeyHit) => number {
  switch (sort) {
    case 'key':
      return byKey;
    case 'oldest':
      return (a, b) => nullsLast(a.oldestBufferedTimestamp, b.oldestBufferedTimestamp) || byKey(a, b);
    case 'most':
      return (a, b) => b.bufferedCount - a.bufferedCount || byKey(a, b);
    case 'paused-longest':
      return (a, b) => nullsLast(a.pausedSince, b.pausedSince) || byKey(a, b);
  }
}

function statusOf(table: StatusView, key: string): { status: 'ACTIVE' | 'PAUSED'; pausedSince: number | null } {
  const entry = table.get(key);
  return entry.status === 'PAUSED' ? { status: 'PAUSED', pausedSince: entry.timestamp } : { status: 'ACTIVE', pausedSince: null };
}

/** The matching buffered keys of these local buffers. */
export function searchLocal(buffers: ReadonlyArray<{ partition: number; buffer: BufferView }>, table: StatusView, query: KeyQuery): LocalSearch {
  const found: Array<{ key: string; partition: number; count: number; buffer: BufferView }> = [];
  let notPaused = 0;
  for (const { partition, buffer } of buffers) {
    const visit = (key: string, count: number): void => {
      if (count <= 0 || count < (query.minCount ?? 0) || !matches(query, key)) return;
      const paused = table.get(key).status === 'PAUSED';
      if (query.state === 'paused' && !paused) return;
      if (!paused) notPaused++;
      found.push({ key, partition, count, buffer });
    };
    if (query.exact !== undefined) visit(query.exact, buffer.count(query.exact));
    else if (buffer.forEachKey !== undefined) buffer.forEachKey(visit);
    else for (const key of buffer.keys()) visit(key, buffer.count(key));
  }
  const head = (entry: (typeof found)[number]): number | null => entry.buffer.read(entry.key, 1)[0]?.timestamp ?? null;
  const hit = (entry: (typeof found)[number], oldest: number | null): KeyHit => ({
    key: entry.key,
    partition: entry.partition,
    ...statusOf(table, entry.key),
    bufferedCount: entry.count,
    oldestBufferedTimestamp: oldest,
  });
  const want = query.offset + query.limit;
  let hits: KeyHit[];
  if (query.sort === 'oldest') {
    // Ordering by age needs every matching key's head: one store read each.
    hits = found.map((entry) => hit(entry, head(entry))).sort(compareHits('oldest')).slice(0, want);
  } else {
    // The other orders need no store read to choose the page; only its keys are read.
    const compare = compareHits(query.sort);
    const partial = found.map((entry) => ({ entry, probe: hit(entry, null) }));
    partial.sort((a, b) => compare(a.probe, b.probe));
    hits = partial.slice(0, want).map(({ entry }) => hit(entry, head(entry)));
  }
  return { bufferedMatching: found.length, bufferedNotPaused: notPaused, hits, partitions: buffers.map((b) => b.partition) };
}

export interface MergedSearch {
  readonly total: number;
  readonly hits: KeyHit[];
  /** Keys on the page that no instance listed: PAUSED keys whose buffer (if any) is still to be asked for. */
  readonly needsSummary: string[];
}

/** The page of the whole flow: the instances' answers and the matching paused keys. */
export function mergeSearch(
  locals: readonly LocalSearch[],
  pausedKeys: Iterable<string>,
  table: StatusView,
  partitionFor: (key: string) => number,
  query: KeyQuery,
): MergedSearch {
  const hits = new Map<string, KeyHit>();
  for (const local of locals) for (const hit of local.hits) hits.set(hit.key, hit);
  let pausedMatching = 0;
  if (query.state !== 'buffered') {
    const candidates = query.exact !== undefined ? [query.exact] : pausedKeys;
    for (const key of candidates) {
      if (!matches(query, key)) continue;
      const status = statusOf(table, key);
      if (status.status !== 'PAUSED') continue;
      pausedMatching++;
      if (!hits.has(key)) hits.set(key, { key, partition: partitionFor(key), ...status, bufferedCount: 0, oldestBufferedTimestamp: null });
    }
  }
  const listed = new Set<string>();
  for (const local of locals) for (const hit of local.hits) listed.add(hit.key);
  const sorted = [...hits.values()].sort(compareHits(query.sort));
  const page = sorted.slice(query.offset, query.offset + query.limit);
  const total =
    query.state === 'buffered'
      ? locals.reduce((sum, local) => sum + local.bufferedMatching, 0)
      : query.state === 'paused'
        ? pausedMatching
        : pausedMatching + locals.reduce((sum, local) => sum + local.bufferedNotPaused, 0);
  return { total, hits: page, needsSummary: page.filter((hit) => !listed.has(hit.key)).map((hit) => hit.key) };
}
