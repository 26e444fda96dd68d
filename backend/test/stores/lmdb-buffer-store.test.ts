import assert from 'node:assert/strict';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
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

/** Runs `body` in a child process that opens the store at `dir`, then kills itself with SIGKILL. */
function killedChild(dir: string, body: string): SpawnSyncReturns<string> {
  const module = pathToFileURL(join(import.meta.dirname, '../../src/stores/lmdb-buffer-store.ts')).href;
  return spawnSync(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      `import { openLmdbBufferStore } from ${JSON.stringify(module)};
       const dir = ${JSON.stringify(dir)};
       const e = (key, seq) => ({ seq, key, value: Buffer.from('v' + seq), headers: [], timestamp: seq });
       ${body}
       process.kill(process.pid, 'SIGKILL');`,
    ],
    { encoding: 'utf8' },
  );
}

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

  it('reads merge the writes since the last commit, so a drain of many keys commits nothing until the commit checkpoint', () => {
    const store = new LmdbBufferStore(newDir(), { writeBatchSize: 1_000_000 });
    for (let k = 0; k < 200; k++) for (let seq = 0; seq < 5; seq++) store.append(event(`key-${k}`, k * 10 + seq));
    store.setDrainMark('key-0', { statusPosition: 1, stopBeforeSeq: null });
    store.commitCheckpoint(10);
    const before = store.writeTransactions;
    // A mass resume: read a key's events, remove them, go to the next key.
    for (let k = 0; k < 200; k++) {
      const key = `key-${k}`;
      const slice = store.read(key, 100);
      assert.equal(slice.length, 5, key);
      store.remove(key, slice.map((e) => e.seq));
      assert.equal(store.count(key), 0);
      assert.equal(store.count(`key-${k + 1}`), k === 199 ? 0 : 5);
    }
    store.append(event('key-7', 999));
    assert.deepEqual(store.read('key-7', 10).map((e) => e.seq), [999]);
    assert.deepEqual(store.seqsFrom('key-7', 0), [999]);
    assert.deepEqual(store.keys(), ['key-7']);
    store.setDrainMark('key-0', undefined);
    assert.deepEqual(store.drainMarks(), []);
    assert.equal(store.writeTransactions, before, 'no read committed anything');
    assert.equal(store.readCheckpoint(), undefined, 'writes since the checkpoint: it no longer describes the content');
    store.commitCheckpoint(20);
    assert.equal(store.writeTransactions, before + 1);
    assert.equal(store.readCheckpoint(), 20);
    assert.deepEqual(dump(store).map(([key, events]) => [key, events.map((e) => e.seq)]), [['key-7', [999]]]);
    store.close();
  });

  it('a drained head is skipped by the next read without walking it (floor), also past later appends', () => {
    const store = new LmdbBufferStore(newDir(), { writeBatchSize: 1_000_000 });
    for (let seq = 0; seq < 10_000; seq++) store.append(event('k', seq));
    store.commitCheckpoint(1);
    const drained: number[] = [];
    for (;;) {
      const slice = store.read('k', 700);
      if (slice.length === 0) break;
      drained.push(...slice.map((e) => e.seq));
      store.remove('k', slice.map((e) => e.seq));
      if (drained.length === 2100) store.append(event('k', 10_000)); // a new event joins the back
    }
    assert.deepEqual(drained, Array.from({ length: 10_001 }, (_, i) => i));
    assert.equal(store.count('k'), 0);
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

  it('after kill -9 opens at the last commit checkpoint: the writes since are gone, the checkpoint stays', () => {
    const dir = newDir();
    const child = killedChild(dir, `
      const store = openLmdbBufferStore(dir, { writeBatchSize: 1000 });
      for (let seq = 0; seq < 100; seq++) store.append(e('k', seq));
      store.setDrainMark('k', { statusPosition: 4, stopBeforeSeq: null });
      store.commitCheckpoint(42);
      store.remove('k', [0, 1, 2]);
      store.append(e('k', 100));
      store.append(e('other', 7));
      store.setDrainMark('k', undefined);
      if (store.count('k') !== 98) process.exit(4);`);
    assert.equal(child.signal, 'SIGKILL', child.stderr);
    const store = openLmdbBufferStore(dir);
    assert.equal(store.readCheckpoint(), 42);
    assert.deepEqual(store.read('k', 1000).map((e) => e.seq), Array.from({ length: 100 }, (_, i) => i));
    assert.deepEqual(store.keys(), ['k']);
    assert.deepEqual(store.drainMarks(), [['k', { statusPosition: 4, stopBeforeSeq: null }]]);
    store.close();
  });

  it('abandon() leaves the store as kill -9 does: reopened at the last commit checkpoint, the writes since gone', () => {
    const dir = newDir();
    const e = event;
    const store = openLmdbBufferStore(dir, { writeBatchSize: 1000 });
    for (let seq = 0; seq < 100; seq++) store.append(e('k', seq));
    store.commitCheckpoint(42);
    store.remove('k', [0, 1, 2]);
    store.append(e('other', 7));
    store.abandon();
    assert.throws(() => store.count('k'), /closed/);
    const reopened = openLmdbBufferStore(dir);
    assert.equal(reopened.readCheckpoint(), 42);
    assert.equal(reopened.count('k'), 100);
    assert.deepEqual(reopened.keys(), ['k']);
    // Past the write limit since the checkpoint, LMDB holds writes no checkpoint vouches for: none.
    const small = openLmdbBufferStore(newDir(), { writeBatchSize: 50 });
    small.append(e('k', 0));
    small.commitCheckpoint(7);
    for (let seq = 1; seq < 100; seq++) small.append(e('k', seq));
    small.abandon();
    const again = openLmdbBufferStore(small.dir);
    assert.equal(again.readCheckpoint(), undefined);
    reopened.close();
    again.close();
  });

  it('after kill -9 past the write limit since the checkpoint: no checkpoint (wiped and restored in full)', () => {
    const dir = newDir();
    const child = killedChild(dir, `
      const store = openLmdbBufferStore(dir, { writeBatchSize: 50 });
      for (let seq = 0; seq < 10; seq++) store.append(e('k', seq));
      store.commitCheckpoint(42);
      for (let seq = 10; seq < 100; seq++) store.append(e('k', seq));`);
    assert.equal(child.signal, 'SIGKILL', child.stderr);
    const store = openLmdbBufferStore(dir);
    assert.equal(store.readCheckpoint(), undefined);
    store.close();
  });

  it('the clean-close checkpoint file wins over a commit checkpoint; writeCheckpoint(undefined) drops both', () => {
    const dir = newDir();
    const store = openLmdbBufferStore(dir);
    store.append(event('k', 1));
    store.commitCheckpoint(5);
    assert.equal(store.readCheckpoint(), 5);
    store.writeCheckpoint(9);
    assert.equal(store.readCheckpoint(), 9);
    store.commitCheckpoint(11);
    assert.equal(store.readCheckpoint(), 11, 'a commit checkpoint removes the older file');
    store.writeCheckpoint(undefined);
    assert.equal(store.readCheckpoint(), undefined);
    store.close();
    const reopened = openLmdbBufferStore(dir);
    assert.equal(reopened.readCheckpoint(), undefined);
    assert.deepEqual(reopened.read('k', 10).map((e) => e.seq), [1]);
    reopened.close();
  });

  it('a checkpoint older than maxCheckpointAgeMs vouches for nothing (tombstones may be compacted away since)', async () => {
    const dir = newDir();
    const store = openLmdbBufferStore(dir, { maxCheckpointAgeMs: 50 });
    store.append(event('k', 1));
    store.commitCheckpoint(5);
    assert.equal(store.readCheckpoint(), 5);
    await new Promise((resolve) => setTimeout(resolve, 80));
    assert.equal(store.readCheckpoint(), undefined, 'commit checkpoint too old');
    store.writeCheckpoint(7);
    assert.equal(store.readCheckpoint(), 7);
    await new Promise((resolve) => setTimeout(resolve, 80));
    assert.equal(store.readCheckpoint(), undefined, 'checkpoint file too old');
    store.close();
    const fresh = openLmdbBufferStore(dir);
    assert.equal(fresh.readCheckpoint(), 7, 'within the default age');
    fresh.close();
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
