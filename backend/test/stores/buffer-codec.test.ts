import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { BufferedEvent } from '../../src/runtime/ports.ts';
import {
  decodeEntry,
  decodeEntryKey,
  encodeEntryKey,
  encodeEntryKeyWithPrefix,
  encodeEntryValue,
  entryKeySeq,
  keyPrefix,
  prefixEnd,
} from '../../src/stores/buffer-codec.ts';
import { LoggedBufferStore } from '../../src/stores/logged-buffer-store.ts';
import { MemoryBufferStore } from '../../src/stores/memory-buffer-store.ts';
import { AWKWARD_KEYS, event, prng } from './buffer-store-contract.ts';

describe('buffer codec', () => {
  it('lays out the entry key as [u32 BE length][UTF-8 key][u64 BE seq]', () => {
    assert.deepEqual(
      [...encodeEntryKey('é', 2 ** 32 + 5)],
      [0, 0, 0, 2, 0xc3, 0xa9, 0, 0, 0, 1, 0, 0, 0, 5],
    );
    assert.deepEqual([...encodeEntryKey('', 0)], [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    assert.deepEqual(keyPrefix('é'), Buffer.from([0, 0, 0, 2, 0xc3, 0xa9]));
    assert.deepEqual(encodeEntryKeyWithPrefix(keyPrefix('é'), 7), encodeEntryKey('é', 7));
  });

  it('round-trips keys and seqs, up to MAX_SAFE_INTEGER', () => {
    for (const key of AWKWARD_KEYS) {
      for (const seq of [0, 1, 255, 2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 40 + 3, Number.MAX_SAFE_INTEGER]) {
        const buf = encodeEntryKey(key, seq);
        assert.deepEqual(decodeEntryKey(buf), { key, seq });
        assert.equal(entryKeySeq(buf), seq);
      }
    }
    assert.throws(() => encodeEntryKey('k', -1), RangeError);
    assert.throws(() => encodeEntryKey('k', 2 ** 53), RangeError);
    assert.throws(() => encodeEntryKey('k', 0.5), RangeError);
  });

  it('orders entry keys by seq within a key, each key one contiguous prefix range', () => {
    const random = prng(3);
    const entries: { key: string; seq: number; buf: Buffer }[] = [];
    for (let i = 0; i < 3000; i++) {
      const key = AWKWARD_KEYS[Math.floor(random() * AWKWARD_KEYS.length)]!;
      const seq = random() < 0.5 ? Math.floor(random() * 1000) : Math.floor(random() * Number.MAX_SAFE_INTEGER);
      entries.push({ key, seq, buf: encodeEntryKey(key, seq) });
    }
    entries.sort((x, y) => Buffer.compare(x.buf, y.buf));
    const seen = new Set<string>();
    for (let i = 0; i < entries.length; i++) {
      const { key, seq, buf } = entries[i]!;
      const previous = entries[i - 1];
      if (previous !== undefined && previous.key === key) assert.ok(previous.seq <= seq, 'seq order within a key');
      else {
        assert.ok(!seen.has(key), `entries of ${JSON.stringify(key)} are contiguous`);
        seen.add(key);
      }
      const prefix = keyPrefix(key);
      assert.ok(buf.subarray(0, prefix.length).equals(prefix));
      assert.ok(Buffer.compare(buf, prefixEnd(prefix)) < 0, 'inside the prefix range');
      for (const other of AWKWARD_KEYS) {
        if (other === key) continue;
        const otherPrefix = keyPrefix(other);
        const inside = Buffer.compare(buf, otherPrefix) >= 0 && Buffer.compare(buf, prefixEnd(otherPrefix)) < 0;
        assert.ok(!inside, `${JSON.stringify(key)} entry outside ${JSON.stringify(other)} range`);
      }
    }
  });

  it('computes the exclusive end of a prefix range', () => {
    assert.deepEqual(prefixEnd(Buffer.from([0, 0, 0, 0])), Buffer.from([0, 0, 0, 1]));
    assert.deepEqual(prefixEnd(Buffer.from([1, 0xff, 0xff])), Buffer.from([2]));
    assert.throws(() => prefixEnd(Buffer.from([0xff])), RangeError);
  });

  it('round-trips events: value, null value, empty value, repeated and empty headers, timestamp', () => {
    const events: BufferedEvent[] = [
      event('k', 1),
      event('k', 2, null),
      event('k', 3, ''),
      {
        seq: 4,
        key: '🙂',
        value: Buffer.from([0, 1, 2]),
        headers: [
          { key: 'h', value: Buffer.from('1') },
          { key: 'h', value: Buffer.from('2') },
          { key: '', value: Buffer.alloc(0) },
          { key: 'ключ', value: Buffer.alloc(300, 9) },
        ],
        timestamp: -12.25,
      },
    ];
    for (const e of events) {
      const decoded = decodeEntry(encodeEntryKey(e.key, e.seq), encodeEntryValue(e));
      assert.deepEqual(decoded, e);
    }
    const value = encodeEntryValue(event('k', 1, 'abc'));
    assert.equal(value.length, 1 + 8 + 4 + 4 + 3, 'compact: no bytes beyond the layout');
  });

  it('rejects malformed input with a RangeError instead of misreading it', () => {
    const key = encodeEntryKey('k', 1);
    const value = encodeEntryValue({ ...event('k', 1), headers: [{ key: 'h', value: Buffer.from('x') }] });
    assert.throws(() => decodeEntryKey(key.subarray(0, 11)), RangeError);
    assert.throws(() => decodeEntryKey(Buffer.concat([key, Buffer.from([0])])), RangeError);
    for (let cut = 0; cut < value.length; cut++) {
      assert.throws(() => decodeEntry(key, value.subarray(0, cut)), RangeError, `cut at ${cut}`);
    }
    assert.throws(() => decodeEntry(key, Buffer.concat([value, Buffer.from([0])])), RangeError);
    const badFormat = Buffer.from(value);
    badFormat[0] = 2;
    assert.throws(() => decodeEntry(key, badFormat), /unknown format/);
    const hugeCount = Buffer.from(value);
    hugeCount.writeUInt32BE(0xffffffff, 9);
    assert.throws(() => decodeEntry(key, hugeCount), /header count/);
  });
});

describe('LoggedBufferStore', () => {
  it('logs an append as (entry key, entry value) and a removal as a tombstone per seq', () => {
    const log: [Buffer, Buffer | null][] = [];
    const store = new LoggedBufferStore(new MemoryBufferStore(), (key, value) => log.push([key, value]));
    const e = event('ab', 9, 'x', [{ key: 'h', value: Buffer.from('v') }]);
    store.append(e);
    store.remove('ab', [9, 10]);
    store.remove('ab', []);
    assert.deepEqual(log, [
      [encodeEntryKey('ab', 9), encodeEntryValue(e)],
      [encodeEntryKey('ab', 9), null],
      [encodeEntryKey('ab', 10), null],
    ]);
  });

  it('logs nothing when the inner store rejects a write', () => {
    const log: unknown[] = [];
    const store = new LoggedBufferStore(new MemoryBufferStore(), (key, value) => log.push([key, value]));
    assert.throws(() => store.append(event('k', -1)));
    assert.deepEqual(log, []);
  });
});
