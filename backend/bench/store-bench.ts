/**
 * Buffer store figures, both stores:
 *   node_modules/.bin/node backend/bench/store-bench.ts [events=1000000]
 *
 * 1. N appends round-robin over 10k keys (seq = input offset, so appends land at each key's end)
 * 2. count() of every key and keys() on those 10k keys (what init does to rebuild the dirty set)
 * 3. N appends to ONE key, then drain it in slices of 2000 (read + remove), the rule-7 path
 * plus, for lmdb: the same appends through LoggedBufferStore, restore of the recorded changelog,
 * and opening 200 stores.
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BufferedEvent, Header } from '../src/runtime/ports.ts';
import { encodeEntryKey, encodeEntryValue } from '../src/stores/buffer-codec.ts';
import { openLmdbBufferStore } from '../src/stores/lmdb-buffer-store.ts';
import { LoggedBufferStore } from '../src/stores/logged-buffer-store.ts';
import { MemoryBufferStore } from '../src/stores/memory-buffer-store.ts';
import type { RestorableBufferStore } from '../src/stores/restorable.ts';

const N = Number(process.argv[2] ?? 1_000_000);
const KEYS = 10_000;
const SLICE = 2000;
const root = mkdtempSync(join(tmpdir(), 'store-bench-'));
let dirs = 0;

const value = Buffer.from(JSON.stringify({ id: 'evt-00000000', data: { amount: 12.5, currency: 'EUR', note: 'x'.repeat(40) }, timestamp: 1_700_000_000_000 }));
const headers: readonly Header[] = [{ key: 'traceparent', value: Buffer.from('00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01') }];
const keyNames = Array.from({ length: KEYS }, (_, i) => `customer-${String(i).padStart(6, '0')}`);
const makeEvent = (seq: number, key: string): BufferedEvent => ({ seq, key, value, headers, timestamp: 1_700_000_000_000 + seq });

function time<T>(fn: () => T): [T, number] {
  const started = performance.now();
  const result = fn();
  return [result, performance.now() - started];
}

function line(label: string, ms: number, ops?: number): void {
  const rate = ops === undefined ? '' : `  ${(ops / (ms / 1000) / 1e6).toFixed(2)} M/s  ${((ms * 1000) / ops).toFixed(2)} µs/op`;
  console.log(`  ${label.padEnd(44)} ${ms.toFixed(0).padStart(7)} ms${rate}`);
}

function dirSize(dir: string): string {
  return `${(statSync(join(dir, 'data.mdb')).size / 2 ** 20).toFixed(0)} MiB`;
}

function bench(name: string, open: () => RestorableBufferStore, dirOf?: (store: RestorableBufferStore) => string): void {
  console.log(`${name}`);
  const spread = open();
  let worstAppend = 0;
  const [, appendMs] = time(() => {
    for (let i = 0; i < N; i++) {
      const started = performance.now();
      spread.append(makeEvent(i, keyNames[i % KEYS]!));
      worstAppend = Math.max(worstAppend, performance.now() - started);
    }
  });
  line(`${N} appends over ${KEYS} keys`, appendMs, N);
  console.log(`  worst single append (a batch commit): ${worstAppend.toFixed(1)} ms`);
  const [keys, keysMs] = time(() => spread.keys());
  line(`keys() on ${keys.length} keys (first call)`, keysMs);
  const [, keysAgainMs] = time(() => spread.keys());
  line(`keys() on ${keys.length} keys (again)`, keysAgainMs);
  const [total, countMs] = time(() => keys.reduce((sum, key) => sum + spread.count(key), 0));
  line(`count() of each of ${keys.length} keys (${total} entries)`, countMs, keys.length);
  if (dirOf) console.log(`  data.mdb after spread appends: ${dirSize(dirOf(spread))}`);
  spread.close();

  const hot = open();
  const [, hotAppendMs] = time(() => {
    for (let i = 0; i < N; i++) hot.append(makeEvent(i, 'hot-key'));
  });
  line(`${N} appends to one key`, hotAppendMs, N);
  let slices = 0;
  let worstSlice = 0;
  const [drained, drainMs] = time(() => {
    let count = 0;
    for (;;) {
      const started = performance.now();
      const slice = hot.read('hot-key', SLICE);
      if (slice.length === 0) return count;
      hot.remove('hot-key', slice.map((e) => e.seq));
      count += slice.length;
      slices++;
      worstSlice = Math.max(worstSlice, performance.now() - started);
    }
  });
  line(`drain ${drained} in ${slices} slices of ${SLICE} (read+remove)`, drainMs, drained);
  console.log(`  worst slice: ${worstSlice.toFixed(2)} ms; count after drain: ${hot.count('hot-key')}`);
  if (dirOf) console.log(`  data.mdb after drain: ${dirSize(dirOf(hot))}`);
  hot.close();
}

console.log(`buffer store bench: ${N} events, value ${value.length} B, 1 header; node ${process.version}`);

const [, codecMs] = time(() => {
  for (let i = 0; i < N; i++) {
    const e = makeEvent(i, keyNames[i % KEYS]!);
    encodeEntryKey(e.key, e.seq);
    encodeEntryValue(e);
  }
});
console.log('codec');
line(`encode ${N} entries (key + value)`, codecMs, N);

{
  // First, before the other runs leave the disk busy writing back gigabytes of dirty pages.
  console.log('LmdbBufferStore, 200 task stores');
  const [stores, openMs] = time(() => Array.from({ length: 200 }, () => openLmdbBufferStore(join(root, `s${dirs++}`))));
  line('open 200 new stores (mkdir + env)', openMs);
  const [, useMs] = time(() => stores.forEach((store, i) => (store.append(makeEvent(i, 'k')), store.read('k', 1))));
  line('one append + read on each', useMs);
  const [, closeMs] = time(() => {
    for (const store of stores) store.close();
  });
  line('close 200 stores', closeMs);
  const [reopened, reopenMs] = time(() => stores.map((store) => openLmdbBufferStore(store.dir)));
  line('reopen 200 existing stores', reopenMs);
  for (const store of reopened) store.close();
}

bench('MemoryBufferStore', () => new MemoryBufferStore());

const lmdbDirs = new Map<RestorableBufferStore, string>();
bench(
  'LmdbBufferStore (noSync, write batches of 16384)',
  () => {
    const dir = join(root, `s${dirs++}`);
    const store = openLmdbBufferStore(dir);
    lmdbDirs.set(store, dir);
    return store;
  },
  (store) => lmdbDirs.get(store)!,
);

console.log('LmdbBufferStore, other paths');
{
  const changelog: [Buffer, Buffer | null][] = [];
  const logged = new LoggedBufferStore(openLmdbBufferStore(join(root, `s${dirs++}`)), (k, v) => changelog.push([k, v]));
  const [, loggedMs] = time(() => {
    for (let i = 0; i < N; i++) logged.append(makeEvent(i, keyNames[i % KEYS]!));
  });
  line(`${N} appends through LoggedBufferStore`, loggedMs, N);
  logged.close();
  const target = openLmdbBufferStore(join(root, `s${dirs++}`));
  const [, restoreMs] = time(() => {
    for (const [k, v] of changelog) target.restore(k, v);
    target.flush();
  });
  line(`restore ${changelog.length} changelog records`, restoreMs, changelog.length);
  target.close();
  const memory = new MemoryBufferStore();
  const [, memRestoreMs] = time(() => {
    for (const [k, v] of changelog) memory.restore(k, v);
  });
  line(`(memory) restore ${changelog.length} changelog records`, memRestoreMs, changelog.length);

  const perCommit = openLmdbBufferStore(join(root, `s${dirs++}`), { writeBatchSize: 1 });
  const M = Math.min(N, 100_000);
  const [, perCommitMs] = time(() => {
    for (let i = 0; i < M; i++) perCommit.append(makeEvent(i, keyNames[i % KEYS]!));
  });
  line(`${M} appends, one LMDB commit each (batch 1)`, perCommitMs, M);
  perCommit.close();

}

rmSync(root, { recursive: true, force: true });
