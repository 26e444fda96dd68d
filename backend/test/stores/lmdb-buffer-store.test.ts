import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, describe, it } from 'node:test';
import { LMDB_MAX_KEY_BYTES, LmdbBufferStore, openLmdbBufferStore } from '../../src/stores/lmdb-buffer-store.ts';
import { LoggedBufferStore } from '../../src/stores/logged-buffer-store.ts';
import { bufferStoreContract, dump, event } from './buffer-store-contract.ts';

const root = mkdtempSync(join(tmpdir(), 'lmdb-buffer-store-'));
after(() => rmSync(root, { recursive: true, force: true }));
let dirs = 0;
const newDir = (): string => join(root, `task.${dirs++}`); // a dot in the name: still a directory

bufferStoreContract('LmdbBufferStore', { create: () => openLmdbBufferStore(newDir()) });
bufferStoreContract('LmdbBufferStore, one commit per write', { create: () => openLmdbBufferStore(newDir(), { writeBatchSize: 1 }) });

describe('LmdbBufferStore', () => {
  it('creates its directory and keeps data across close and reopen', () => {
    const dir = join(newDir(), 'nested', 'deeper');
    const store = openLmdbBufferStore(dir);
    for (let seq = 0; seq < 100; seq++) store.append(event(seq % 2 ? 'odd' : 'even', seq));
    store.remove('odd', [1, 3]);
    const before = dump(store);
    store.writeCheckpoint(99);
    store.close();
    assert.ok(existsSync(join(dir, 'data.mdb')));

    const reopened = openLmdbBufferStore(dir);
    assert.equal(reopened.readCheckpoint(), 99);
    assert.deepEqual(dump(reopened), before);
    assert.equal(reopened.count('odd'), 48);
    reopened.close();
  });

  it('keeps queued writes across close even without a checkpoint', () => {
    const dir = newDir();
    const store = new LmdbBufferStore(dir, { writeBatchSize: 1_000_000 });
    store.append(event('k', 1));
    store.close();
    const reopened = openLmdbBufferStore(dir);
    assert.equal(reopened.readCheckpoint(), undefined);
    assert.deepEqual(reopened.read('k', 10).map((e) => e.seq), [1]);
    reopened.close();
  });

  it('reads see queued writes at once', () => {
    const store = new LmdbBufferStore(newDir(), { writeBatchSize: 1_000_000 });
    store.append(event('k', 2));
    assert.equal(store.count('k'), 1);
    store.remove('k', [2]);
    assert.deepEqual(store.keys(), []);
    store.append(event('k', 3));
    assert.deepEqual(store.read('k', 10).map((e) => e.seq), [3]);
    store.close();
  });

  it('a read commits the queue only when it holds a write of that key, so a drain of many keys is one LMDB transaction', () => {
    const store = new LmdbBufferStore(newDir(), { writeBatchSize: 1_000_000 });
    for (let k = 0; k < 200; k++) for (let seq = 0; seq < 5; seq++) store.append(event(`key-${k}`, k * 10 + seq));
    store.setDrainMark('key-0', { statusPosition: 1, stopBeforeSeq: null });
    store.flush();
    const before = store.writeTransactions;
    // A mass resume: read a key's events, remove them, go to the next key.
    for (let k = 0; k < 200; k++) {
      const key = `key-${k}`;
      const slice = store.read(key, 100);
      assert.equal(slice.length, 5, key);
      store.remove(key, slice.map((e) => e.seq));
      assert.equal(store.count(`key-${k + 1}`), k === 199 ? 0 : 5);
    }
    assert.equal(store.writeTransactions, before, 'no read of another key committed the queue');
    // Reads of a key with queued writes, of every key, and of the marks still see them.
    store.append(event('key-7', 999));
    assert.deepEqual(store.read('key-7', 10).map((e) => e.seq), [999]);
    assert.equal(store.writeTransactions, before + 1);
    store.remove('key-7', [999]);
    assert.deepEqual(store.keys(), []);
    store.setDrainMark('key-0', undefined);
    assert.deepEqual(store.drainMarks(), []);
    store.close();
  });

  it('reads after a restore see every restored record, marks included', () => {
    const records: Array<[Buffer, Buffer | null]> = [];
    const source = new LoggedBufferStore(new LmdbBufferStore(newDir(), { writeBatchSize: 1_000_000 }), (entryKey, entryValue) => records.push([entryKey, entryValue]));
    for (let seq = 0; seq < 20; seq++) source.append(event(seq % 2 === 0 ? 'a' : 'b', seq));
    source.remove('b', [1, 3]);
    source.setDrainMark('a', { statusPosition: 3, stopBeforeSeq: 8 });
    const copy = new LmdbBufferStore(newDir(), { writeBatchSize: 1_000_000 });
    for (const [entryKey, entryValue] of records) copy.restore(entryKey, entryValue);
    assert.deepEqual(copy.read('a', 100).map((e) => e.seq), [0, 2, 4, 6, 8, 10, 12, 14, 16, 18]);
    assert.equal(copy.count('b'), 8);
    assert.deepEqual(copy.drainMarks(), [['a', { statusPosition: 3, stopBeforeSeq: 8 }]]);
    assert.deepEqual(dump(copy), dump(source));
    source.close();
    copy.close();
  });

  it('after kill -9 keeps what was committed, and leaves no checkpoint behind', () => {
    const dir = newDir();
    const seed = openLmdbBufferStore(dir);
    seed.append(event('k', 0));
    seed.writeCheckpoint(1); // a previous clean close
    seed.close();
    const module = pathToFileURL(join(import.meta.dirname, '../../src/stores/lmdb-buffer-store.ts')).href;
    const child = spawnSync(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `import { openLmdbBufferStore } from ${JSON.stringify(module)};
         const store = openLmdbBufferStore(${JSON.stringify(dir)}, { writeBatchSize: 1000 });
         if (store.readCheckpoint() !== 1) process.exit(3);
         store.writeCheckpoint(undefined); // processing starts
         const e = (seq) => ({ seq, key: 'k', value: Buffer.from('v' + seq), headers: [], timestamp: seq });
         for (let seq = 1; seq <= 100; seq++) store.append(e(seq));
         store.flush();
         store.remove('k', [0, 1]);
         store.append(e(101)); // queued, never committed
         process.kill(process.pid, 'SIGKILL');`,
      ],
      { encoding: 'utf8' },
    );
    assert.equal(child.signal, 'SIGKILL', child.stderr);
    const store = openLmdbBufferStore(dir);
    assert.equal(store.readCheckpoint(), undefined, 'an unclean stop leaves no checkpoint: the engine wipes and restores');
    assert.deepEqual(store.read('k', 1000).map((e) => e.seq), Array.from({ length: 101 }, (_, i) => i), 'LMDB is consistent after the kill');
    store.clear();
    assert.deepEqual(store.keys(), []);
    store.close();
  });

  it('clear deletes the files and checkpoint and leaves a usable empty store', () => {
    const dir = newDir();
    const store = openLmdbBufferStore(dir);
    for (let seq = 0; seq < 1000; seq++) store.append(event(`k${seq % 10}`, seq));
    store.writeCheckpoint(5);
    store.clear();
    assert.deepEqual(readdirSync(dir).sort(), ['data.mdb', 'lock.mdb']);
    assert.deepEqual(store.keys(), []);
    store.append(event('k1', 1));
    store.close();
    const reopened = openLmdbBufferStore(dir);
    assert.deepEqual(dump(reopened).map(([key, events]) => [key, events.length]), [['k1', 1]]);
    reopened.close();
  });

  it('treats a damaged checkpoint file as no checkpoint', () => {
    const dir = newDir();
    const store = openLmdbBufferStore(dir);
    writeFileSync(join(dir, 'checkpoint'), 'garbage');
    assert.equal(store.readCheckpoint(), undefined);
    writeFileSync(join(dir, 'checkpoint'), '12\n');
    assert.equal(store.readCheckpoint(), 12);
    store.close();
  });

  it('limits keys to LMDB_MAX_KEY_BYTES of UTF-8, with a clear error past it', () => {
    const store = openLmdbBufferStore(newDir());
    const longest = 'k'.repeat(LMDB_MAX_KEY_BYTES);
    store.append(event(longest, 1));
    assert.deepEqual(store.keys(), [longest]);
    assert.throws(() => store.append(event(`${longest}k`, 1)), { code: 'KEY_TOO_LARGE', message: /exceeds the limit of 1966/ });
    assert.throws(() => store.append(event('é'.repeat(LMDB_MAX_KEY_BYTES / 2 + 1), 1)), { code: 'KEY_TOO_LARGE' });
    assert.equal(store.count(`${longest}k`), 0);
    assert.deepEqual(store.read(`${longest}k`, 1), []);
    assert.deepEqual(store.keys(), [longest], 'a rejected append leaves nothing behind');
    store.close();
  });

  it('opens 200 stores side by side (one per task), each independent', () => {
    const stores = Array.from({ length: 200 }, () => openLmdbBufferStore(newDir()));
    stores.forEach((store, i) => store.append(event('k', i)));
    stores.forEach((store, i) => assert.deepEqual(store.read('k', 10).map((e) => e.seq), [i]));
    for (const store of stores) store.close();
  });
});
