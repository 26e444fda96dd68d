import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MemoryBufferStore } from '../../src/stores/memory-buffer-store.ts';
import { bufferStoreContract, event } from './buffer-store-contract.ts';

bufferStoreContract('MemoryBufferStore', { create: () => new MemoryBufferStore() });

describe('MemoryBufferStore', () => {
  it('lists keys in first-append order', () => {
    const store = new MemoryBufferStore();
    for (const key of ['c', 'a', 'b', 'a']) store.append(event(key, 1));
    assert.deepEqual(store.keys(), ['c', 'a', 'b']);
  });

  it('drains a large buffer in slices and keeps order across compactions', () => {
    const store = new MemoryBufferStore();
    for (let seq = 0; seq < 200_000; seq++) store.append(event('hot', seq, null));
    let expected = 0;
    for (;;) {
      const slice = store.read('hot', 2000);
      if (slice.length === 0) break;
      for (const e of slice) assert.equal(e.seq, expected++);
      store.remove('hot', slice.map((e) => e.seq));
      // an older seq arriving mid-drain (a replay) lands in order
      if (expected === 100_000) store.append(event('hot', 150_000, 'again', []));
    }
    assert.equal(expected, 200_000);
  });

  it('inserts out-of-order seqs after a partial drain in the right place', () => {
    const store = new MemoryBufferStore();
    for (const seq of [10, 20, 30, 40]) store.append(event('k', seq));
    store.remove('k', [10, 20]);
    store.append(event('k', 5));
    store.append(event('k', 35));
    store.append(event('k', 30, 'over'));
    assert.deepEqual(store.read('k', 10).map((e) => [e.seq, e.value?.toString()]), [[5, 'v5'], [30, 'over'], [35, 'v35'], [40, 'v40']]);
    store.remove('k', [40, 5]);
    assert.deepEqual(store.read('k', 10).map((e) => e.seq), [30, 35]);
  });
});
