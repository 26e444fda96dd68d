/**
 * The contract every RestorableBufferStore keeps, as a node:test suite parameterised by a factory.
 * Each store test file calls `bufferStoreContract` with its own factory.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import type { BufferedEvent, Header } from '../../src/runtime/ports.ts';
import { LoggedBufferStore } from '../../src/stores/logged-buffer-store.ts';
import { encodeEntryKey, encodeEntryValue } from '../../src/stores/buffer-codec.ts';
import { type RestorableBufferStore, trimAhead } from '../../src/stores/restorable.ts';

export interface StoreFactory {
  /** A fresh, empty store. */
  create(): RestorableBufferStore;
  /** Called once after the suite (e.g. to delete temporary directories). */
  dispose?(): void;
}

export function event(key: string, seq: number, value: string | null = `v${seq}`, headers: readonly Header[] = []): BufferedEvent {
  return { seq, key, value: value === null ? null : Buffer.from(value), headers, timestamp: 1_700_000_000_000 + seq };
}

/** Everything in a store, keys sorted, as plain comparable data. */
export function dump(store: RestorableBufferStore): [string, BufferedEvent[]][] {
  return store
    .keys()
    .sort()
    .map((key) => [key, store.read(key, Number.MAX_SAFE_INTEGER)]);
}

/** Keys chosen to break naive encodings: prefixes of each other, empty, NUL, multi-byte UTF-8. */
export const AWKWARD_KEYS: readonly string[] = [
  '',
  'a',
  'ab',
  'abc',
  'b',
  'a\u0000',
  '\u0000',
  'ü',
  'u\u0308',
  '日本語',
  '🙂',
  '🙂🙂',
  '\uFFFD',
  ' ',
  'x'.repeat(1000),
  'x'.repeat(999),
];

/** A tiny deterministic PRNG (mulberry32), so failures replay. */
export function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function bufferStoreContract(name: string, factory: StoreFactory): void {
  describe(`${name}: BufferStore contract`, () => {
    const opened: RestorableBufferStore[] = [];
    const create = (): RestorableBufferStore => {
      const store = factory.create();
      opened.push(store);
      return store;
    };
    after(() => {
      for (const store of opened) {
        try {
          store.close();
        } catch {
          // already closed
        }
      }
      factory.dispose?.();
    });

    it('starts empty', () => {
      const store = create();
      assert.deepEqual(store.keys(), []);
      assert.equal(store.count('a'), 0);
      assert.deepEqual(store.read('a', 10), []);
      assert.equal(store.readCheckpoint(), undefined);
    });

    it('reads oldest first by seq, whatever the append order, at most `limit`', () => {
      const store = create();
      for (const seq of [5, 1, 3, 9, 7, 2]) store.append(event('k', seq));
      assert.deepEqual(store.read('k', 100).map((e) => e.seq), [1, 2, 3, 5, 7, 9]);
      assert.deepEqual(store.read('k', 2).map((e) => e.seq), [1, 2]);
      assert.deepEqual(store.read('k', 0), []);
      assert.deepEqual(store.read('other', 10), []);
    });

    it('keeps every field of an event faithfully', () => {
      const store = create();
      const headers: Header[] = [
        { key: 'trace', value: Buffer.from('abc') },
        { key: 'trace', value: Buffer.from('second, same key') },
        { key: '', value: Buffer.alloc(0) },
        { key: 'ünï', value: Buffer.from([0, 255, 1]) },
      ];
      const events: BufferedEvent[] = [
        { seq: 0, key: 'k', value: Buffer.from('{"id":"1"}'), headers, timestamp: 1_700_000_000_123 },
        { seq: 1, key: 'k', value: null, headers: [], timestamp: 0 },
        { seq: 2, key: 'k', value: Buffer.alloc(0), headers: [], timestamp: -1 },
        { seq: 2 ** 40 + 7, key: 'k', value: Buffer.alloc(70_000, 7), headers: [], timestamp: 1.5 },
        { seq: Number.MAX_SAFE_INTEGER, key: 'k', value: Buffer.from('max'), headers: [], timestamp: 8.64e15 },
      ];
      for (const e of events) store.append(e);
      assert.deepEqual(store.read('k', 10), events);
      assert.equal(store.read('k', 10)[2]!.value?.length, 0, 'empty value stays empty, not null');
    });

    it('rejects a seq that is not a non-negative safe integer', () => {
      const store = create();
      for (const seq of [-1, 1.5, Number.NaN, 2 ** 53]) assert.throws(() => store.append(event('k', seq)), RangeError);
    });

    it('overwrites an existing (key, seq): re-buffering a replayed record is idempotent', () => {
      const store = create();
      store.append(event('k', 1, 'first'));
      store.append(event('k', 2, 'two'));
      store.append(event('k', 3, 'three'));
      store.append(event('k', 2, 'two again'));
      store.append(event('k', 3, 'three again'));
      store.append(event('k', 1, 'first again'));
      assert.equal(store.count('k'), 3);
      assert.deepEqual(
        store.read('k', 10).map((e) => e.value?.toString()),
        ['first again', 'two again', 'three again'],
      );
    });

    it('removes given seqs (a drained slice, scattered ones, unknown ones)', () => {
      const store = create();
      for (let seq = 0; seq < 50; seq++) store.append(event('k', seq));
      store.append(event('other', 3));
      store.remove('k', [0, 1, 2, 3, 4]);
      assert.deepEqual(store.read('k', 3).map((e) => e.seq), [5, 6, 7]);
      store.remove('k', [10, 7, 30, 1000, 2]);
      assert.equal(store.count('k'), 42);
      assert.deepEqual(store.read('k', 5).map((e) => e.seq), [5, 6, 8, 9, 11]);
      store.remove('k', Array.from({ length: 40 }, (_, i) => 49 - i));
      assert.deepEqual(store.read('k', 10).map((e) => e.seq), [5, 6, 8, 9]);
      store.remove('k', []);
      store.remove('missing', [1, 2]);
      store.remove('k', [9, 5, 8, 6]);
      assert.equal(store.count('k'), 0);
      assert.deepEqual(store.read('k', 10), []);
      assert.deepEqual(store.keys(), ['other']);
      assert.equal(store.count('other'), 1);
      store.append(event('k', 1));
      assert.deepEqual(store.read('k', 10).map((e) => e.seq), [1], 'a drained key can buffer again, even an older seq');
    });

    it('drains a long buffer in slices, in order, while new events join the back', () => {
      const store = create();
      let next = 0;
      for (; next < 5000; next++) store.append(event('hot', next));
      const drained: number[] = [];
      for (;;) {
        const slice = store.read('hot', 700);
        if (slice.length === 0) break;
        drained.push(...slice.map((e) => e.seq));
        store.remove('hot', slice.map((e) => e.seq));
        if (next < 6000) store.append(event('hot', next++));
      }
      assert.deepEqual(drained, Array.from({ length: next }, (_, i) => i));
      assert.deepEqual(store.keys(), []);
    });

    it('seqsFrom lists a key\'s seqs at or after a bound; trimAhead removes them for every key, logged', () => {
      const logged: [string, boolean][] = [];
      const store = new LoggedBufferStore(factory.create(), (entryKey, entryValue) => logged.push([entryKey.toString('hex'), entryValue === null]));
      for (const [key, seqs] of [['a', [1, 5, 9]], ['b', [2, 3]], ['', [10, 11]], ['ab', [7]]] as const) {
        for (const seq of seqs) store.append(event(key, seq));
      }
      assert.deepEqual(store.seqsFrom('a', 5), [5, 9]);
      assert.deepEqual(store.seqsFrom('a', 10), []);
      assert.deepEqual(store.seqsFrom('nope', 0), []);
      logged.length = 0;
      assert.equal(trimAhead(store, 7), 4);
      assert.deepEqual(dump(store).map(([key, events]) => [key, events.map((e) => e.seq)]), [['a', [1, 5]], ['b', [2, 3]]]);
      assert.equal(logged.length, 4);
      assert.ok(logged.every(([, tombstone]) => tombstone), 'each removal is a changelog tombstone');
      store.close();
    });

    it('the logged store\'s key index (forEachKey) matches keys() and count() through appends, overwrites, removals and restores', () => {
      const store = new LoggedBufferStore(factory.create(), () => undefined);
      const random = prng(7);
      const indexed = (): [string, number][] => {
        const found: [string, number][] = [];
        store.forEachKey((key, count) => found.push([key, count]));
        return found.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
      };
      const scanned = (): [string, number][] =>
        store
          .keys()
          .map((key): [string, number] => [key, store.count(key)])
          .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
      const next = new Map<string, number>();
      for (let round = 0; round < 2000; round++) {
        const key = ['a', 'b', 'c', 'ü', ''][Math.floor(random() * 5)]!;
        const roll = random();
        if (roll < 0.5) {
          const seq = (next.get(key) ?? 0) + 1;
          next.set(key, seq);
          store.append(event(key, seq));
        } else if (roll < 0.6) {
          // Re-buffering a replayed record: the same (key, seq) again overwrites.
          const seq = Math.max(1, Math.floor(random() * (next.get(key) ?? 1)));
          store.append(event(key, seq));
        } else {
          const head = store.read(key, 1 + Math.floor(random() * 3));
          store.remove(key, head.map((e) => e.seq));
        }
        // A restore goes around the index (it drops it; rebuilt from the store on next use).
        if (round === 1000) store.restore(encodeEntryKey('zz', 1), encodeEntryValue(event('zz', 1)));
        if (round % 97 === 0) assert.deepEqual(indexed(), scanned(), `round ${round}`);
      }
      assert.deepEqual(indexed(), scanned());
      store.close();
    });

    it('keeps drain marks apart from entries, logs them, restores them, and clear drops them', () => {
      const log: [Buffer, Buffer | null][] = [];
      const store = new LoggedBufferStore(factory.create(), (entryKey, entryValue) => log.push([entryKey, entryValue]));
      for (const key of AWKWARD_KEYS) store.append(event(key, 3));
      store.setDrainMark('a', { statusPosition: 7, stopBeforeSeq: null });
      store.setDrainMark('', { statusPosition: -1, stopBeforeSeq: 12 });
      store.setDrainMark('ü', { statusPosition: 1, stopBeforeSeq: 2 });
      store.setDrainMark('ü', undefined);
      assert.deepEqual(
        store.drainMarks().sort(([a], [b]) => (a < b ? -1 : 1)),
        [['', { statusPosition: -1, stopBeforeSeq: 12 }], ['a', { statusPosition: 7, stopBeforeSeq: null }]],
      );
      assert.deepEqual(store.keys().sort(), [...AWKWARD_KEYS].sort(), 'a mark is not a key with entries');
      assert.deepEqual(store.read('a', 10).map((e) => e.seq), [3], 'a mark is not read as an event');
      assert.equal(store.count('a'), 1);
      assert.deepEqual(store.seqsFrom('a', 0), [3]);

      const restored = factory.create();
      for (const [entryKey, entryValue] of log) restored.restore(entryKey, entryValue);
      assert.deepEqual(restored.drainMarks().sort(([a], [b]) => (a < b ? -1 : 1)), store.drainMarks().sort(([a], [b]) => (a < b ? -1 : 1)));
      assert.deepEqual(dump(restored), dump(store));
      restored.clear();
      assert.deepEqual(restored.drainMarks(), []);
      restored.close();
      store.close();
    });

    it('counts per key', () => {
      const store = create();
      for (let seq = 0; seq < 300; seq++) store.append(event(seq % 3 === 0 ? 'a' : 'ab', seq));
      assert.equal(store.count('a'), 100);
      assert.equal(store.count('ab'), 200);
      assert.equal(store.count('abc'), 0);
      assert.equal(store.count(''), 0);
    });

    it('keeps awkward keys apart: empty, prefixes of each other, NUL, multi-byte UTF-8', () => {
      const store = create();
      AWKWARD_KEYS.forEach((key, i) => {
        for (let j = 0; j <= i; j++) store.append(event(key, 1000 * j + i, `${i}/${j}`));
      });
      assert.deepEqual(store.keys().sort(), [...AWKWARD_KEYS].sort());
      AWKWARD_KEYS.forEach((key, i) => {
        assert.equal(store.count(key), i + 1, `count of ${JSON.stringify(key)}`);
        const read = store.read(key, 1000);
        assert.deepEqual(read.map((e) => e.key), Array<string>(i + 1).fill(key));
        assert.deepEqual(read.map((e) => e.value?.toString()), Array.from({ length: i + 1 }, (_, j) => `${i}/${j}`));
      });
      store.remove('a', [1]);
      assert.equal(store.count('a'), 1);
      assert.equal(store.count('ab'), 3);
      store.remove('a', [1001]);
      assert.ok(!store.keys().includes('a'));
      assert.ok(store.keys().includes('ab') && store.keys().includes('a\u0000'));
    });

    it('keys() lists each key once however many entries it has', () => {
      const store = create();
      for (let i = 0; i < 2000; i++) store.append(event(`key-${i % 37}`, i));
      assert.deepEqual(
        store.keys().sort(),
        Array.from({ length: 37 }, (_, i) => `key-${i}`).sort(),
      );
    });

    it('matches a reference model under random operations', () => {
      const random = prng(42);
      const store = create();
      const model = new Map<string, Map<number, string>>();
      const keys = ['', 'a', 'ab', 'b', 'ü', 'long-'.repeat(20)];
      for (let step = 0; step < 3000; step++) {
        const key = keys[Math.floor(random() * keys.length)]!;
        const entries = model.get(key) ?? new Map<number, string>();
        const op = random();
        // Commit checkpoints now and then: the lmdb store's reads merge its writes since the last
        // one over what LMDB holds, a drained head included (its floor).
        if (op < 0.03) store.commitCheckpoint(step);
        if (op < 0.55) {
          const seq = Math.floor(random() * 400);
          store.append(event(key, seq, `s${step}`));
          entries.set(seq, `s${step}`);
          model.set(key, entries);
        } else if (op < 0.8) {
          const sorted = [...entries.keys()].sort((x, y) => x - y);
          const seqs = random() < 0.5 ? sorted.slice(0, 1 + Math.floor(random() * 30)) : sorted.filter(() => random() < 0.3);
          if (random() < 0.2) seqs.push(9999);
          store.remove(key, seqs);
          for (const seq of seqs) entries.delete(seq);
          if (entries.size === 0) model.delete(key);
        } else {
          const limit = Math.floor(random() * 50);
          const expected = [...entries.entries()].sort(([x], [y]) => x - y).slice(0, limit);
          assert.deepEqual(
            store.read(key, limit).map((e) => [e.seq, e.value?.toString()]),
            expected,
            `step ${step}`,
          );
          assert.equal(store.count(key), entries.size, `count at step ${step}`);
        }
      }
      assert.deepEqual(store.keys().sort(), [...model.keys()].sort());
    });

    it('restores the same content from the changelog LoggedBufferStore recorded', () => {
      const changelog: [Buffer, Buffer | null][] = [];
      const source = create();
      const logged = new LoggedBufferStore(source, (key, value) => changelog.push([key, value]));
      const random = prng(7);
      const keys = [...AWKWARD_KEYS, 'k1', 'k2'];
      for (let step = 0; step < 2000; step++) {
        const key = keys[Math.floor(random() * keys.length)]!;
        if (random() < 0.7) {
          const headers = random() < 0.3 ? [{ key: 'h', value: Buffer.from([step & 255]) }] : [];
          logged.append(event(key, Math.floor(random() * 300), random() < 0.1 ? null : `s${step}`, headers));
        } else {
          logged.remove(key, logged.read(key, Math.floor(random() * 10)).map((e) => e.seq));
        }
      }
      logged.remove('k1', logged.read('k1', 1000).map((e) => e.seq));
      assert.ok(changelog.some(([, value]) => value === null), 'removals are logged as tombstones');

      const restored = create();
      for (const [key, value] of changelog) restored.restore(key, value);
      assert.deepEqual(dump(restored), dump(source));
      assert.ok(!restored.keys().includes('k1'));
      assert.deepEqual(dump(logged), dump(source), 'reads pass through');
    });

    it('restore does not log, clear drops everything including the checkpoint', () => {
      const changelog: unknown[] = [];
      const store = create();
      const logged = new LoggedBufferStore(store, (key, value) => changelog.push([key, value]));
      logged.append(event('a', 1));
      logged.append(event('b', 2));
      logged.writeCheckpoint(17);
      assert.equal(changelog.length, 2);
      const [[key, value]] = changelog as [[Buffer, Buffer]];
      logged.restore(key, value);
      logged.clear();
      assert.equal(changelog.length, 2);
      assert.deepEqual(store.keys(), []);
      assert.equal(store.count('a'), 0);
      assert.equal(store.readCheckpoint(), undefined);
      logged.append(event('a', 3));
      assert.deepEqual(store.read('a', 10).map((e) => e.seq), [3], 'usable after clear');
    });

    it('round-trips the checkpoint', () => {
      const store = create();
      assert.equal(store.readCheckpoint(), undefined);
      store.writeCheckpoint(0);
      assert.equal(store.readCheckpoint(), 0);
      store.writeCheckpoint(123_456_789_012);
      assert.equal(store.readCheckpoint(), 123_456_789_012);
      store.writeCheckpoint(undefined);
      assert.equal(store.readCheckpoint(), undefined);
      store.writeCheckpoint(undefined);
      assert.equal(store.readCheckpoint(), undefined);
      assert.throws(() => store.writeCheckpoint(-1), RangeError);
      assert.throws(() => store.writeCheckpoint(0.5), RangeError);
    });

    it('refuses use after close', () => {
      const store = create();
      store.append(event('a', 1));
      store.close();
      assert.throws(() => store.read('a', 1));
      assert.throws(() => store.append(event('a', 2)));
      store.close();
    });
  });
}
