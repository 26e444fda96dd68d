/**
 * The compact status table: only PAUSED keys are kept; forgetting an ACTIVE key must not change
 * any answer the processor's rules rely on (rule 3's positions, rule 10's table); history is bounded.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { encodeHistory, encodeStatus, HEADERS, type HistoryEntry } from '../../src/model/wire.ts';
import type { InputRecord, KeyStatus } from '../../src/runtime/ports.ts';
import { partitionForKey } from '../../src/runtime/partitioner.ts';
import { HISTORY_PER_KEY, HISTORY_RING, StatusTable } from '../../src/runtime/status-table.ts';

let offset = 0;
function status(key: string, value: KeyStatus | null, meta: { reason?: string; actor?: string; partition?: number; trail?: readonly HistoryEntry[] } = {}): InputRecord {
  const headers = [];
  if (meta.reason !== undefined) headers.push({ key: HEADERS.reason, value: Buffer.from(meta.reason) });
  if (meta.actor !== undefined) headers.push({ key: HEADERS.actor, value: Buffer.from(meta.actor) });
  const trail = meta.trail === undefined ? undefined : encodeHistory(meta.trail);
  if (trail !== undefined) headers.push({ key: HEADERS.history, value: trail });
  return {
    topic: 'status',
    partition: meta.partition ?? 0,
    offset: offset++,
    key: Buffer.from(key),
    value: value === null ? null : encodeStatus(value),
    headers,
    timestamp: 1_000 + offset,
  } as InputRecord;
}

describe('status table', () => {
  test('PAUSED keys are kept with position, timestamp, reason and actor; ACTIVE and tombstones forget them', () => {
    const table = new StatusTable();
    table.setPartitions(4);
    const pause = status('k', 'PAUSED', { reason: 'fraud review', actor: 'ops', partition: 3 });
    assert.equal(table.apply(pause), undefined);
    assert.deepEqual(table.get('k'), { status: 'PAUSED', version: 1, position: pause.offset, timestamp: pause.timestamp });
    assert.equal(table.latest('k')?.reason, 'fraud review');
    assert.equal(table.latest('k')?.actor, 'ops');
    assert.equal(table.latest('k')?.partition, 3);
    assert.equal(table.pausedCount, 1);
    table.apply(status('k', 'ACTIVE'));
    assert.equal(table.get('k').status, 'ACTIVE');
    assert.equal(table.pausedCount, 0);
    table.apply(status('k', 'PAUSED'));
    table.apply(status('k', null));
    assert.equal(table.get('k').status, 'ACTIVE');
    assert.deepEqual([...table.pausedKeyNames()], []);
  });

  const P = 3;
  const home = (key: string) => partitionForKey(key, P);

  test('a PAUSED applied after a forgotten ACTIVE outranks any command that saw the ACTIVE (rule 3a)', () => {
    const table = new StatusTable();
    table.setPartitions(P);
    table.apply(status('k', 'PAUSED', { partition: home('k') }));
    table.apply(status('k', 'ACTIVE', { partition: home('k') }));
    table.apply(status('other', 'PAUSED', { partition: home('k') })); // the partition moves on
    const seenByCommand = table.get('k').position; // what a command processed now stands for
    table.apply(status('k', 'PAUSED', { partition: home('k') }));
    assert.ok(table.get('k').position > seenByCommand, 'the newer pause has the higher position');
  });

  test('an older PAUSED shown by a table catching up does not outrank a command that saw the ACTIVE (rule 3b)', () => {
    // The fault simulation's case: a command's drain outlives a restart; the rebuilt table shows
    // the key's older pause for a while. Answered -1 for the forgotten ACTIVE, the drain stopped.
    const first = new StatusTable();
    first.setPartitions(P);
    const oldPause = status('k', 'PAUSED', { partition: home('k') });
    const active = status('k', 'ACTIVE', { partition: home('k') });
    first.apply(oldPause);
    first.apply(active);
    const seenByCommand = first.get('k').position;
    assert.ok(seenByCommand >= active.offset, 'the answer stands for the ACTIVE at least');
    const rebuilt = new StatusTable();
    rebuilt.setPartitions(P);
    rebuilt.apply(oldPause);
    assert.equal(rebuilt.get('k').status, 'PAUSED');
    assert.ok(rebuilt.get('k').position <= seenByCommand, 'the older pause does not outrank the command');
  });

  test('a key written to another partition than its murmur2 one keeps its exact position', () => {
    const table = new StatusTable();
    table.setPartitions(P);
    const elsewhere = (home('k') + 1) % P;
    const active = status('k', 'ACTIVE', { partition: elsewhere });
    table.apply(active);
    for (let i = 0; i < 5; i++) table.apply(status(`x${i}`, 'PAUSED', { partition: home('k') }));
    assert.equal(table.get('k').position, active.offset);
  });

  test('until the partition count is known, ACTIVE keys keep their exact positions', () => {
    const table = new StatusTable();
    const active = status('k', 'ACTIVE');
    table.apply(active);
    assert.equal(table.get('k').position, active.offset);
    assert.equal(table.get('never-seen').position, -1);
  });

  test('bad values and keyless records are rejected and counted, and change nothing', () => {
    const table = new StatusTable();
    table.apply(status('k', 'PAUSED'));
    assert.match(table.apply({ ...status('k', 'ACTIVE'), value: Buffer.from('"MAYBE"') })!, /ACTIVE.*PAUSED/);
    assert.match(table.apply({ ...status('k', 'ACTIVE'), key: null })!, /no key/);
    assert.equal(table.get('k').status, 'PAUSED');
    assert.equal(table.rejectedCount, 2);
  });

  test('history: oldest first, at most 50 per key, from a ring of the last 10,000 changes', () => {
    const table = new StatusTable();
    for (let i = 0; i < 60; i++) table.apply(status('h', i % 2 === 0 ? 'PAUSED' : 'ACTIVE', { reason: `r${i}` }));
    const history = table.history('h');
    assert.equal(history.length, HISTORY_PER_KEY);
    assert.deepEqual(history.map((c) => c.reason).slice(0, 2), ['r10', 'r11']);
    assert.equal(history.at(-1)?.reason, 'r59');
    // Push h's changes out of the ring: its history is gone, its status is not.
    table.apply(status('h', 'PAUSED', { reason: 'last' }));
    for (let i = 0; i < HISTORY_RING; i++) table.apply(status(`other-${i}`, 'ACTIVE'));
    assert.equal(table.get('h').status, 'PAUSED');
    assert.deepEqual(table.history('h').map((c) => c.reason), ['last'], 'a paused key still shows its pause');
    table.apply(status('h', 'ACTIVE', { reason: 'done' }));
    for (let i = 0; i < HISTORY_RING; i++) table.apply(status(`other-${i}`, 'ACTIVE'));
    assert.deepEqual(table.history('h'), []);
    assert.equal(table.latest('h'), undefined);
  });

  test('history survives a rebuild from a compacted topic: the latest record carries the trail (ep-history)', () => {
    const first = new StatusTable();
    const r1 = status('k', 'PAUSED', { reason: 'r1', actor: 'a' });
    const r2 = status('k', 'ACTIVE', { reason: 'r2', actor: 'b' });
    first.apply(r1);
    first.apply(r2);
    // The writer puts what the table holds of the key into the next record's header.
    const trail: HistoryEntry[] = first.history('k').map(({ status: s, reason, actor, timestamp, partition, offset: o }) => ({ status: s, reason, actor, timestamp, partition, offset: o }));
    const r3 = status('k', 'PAUSED', { reason: 'r3', actor: 'c', trail });
    first.apply(r3);
    assert.deepEqual(first.history('k').map((c) => c.reason), ['r1', 'r2', 'r3'], 'no entry twice: trail and seen changes merge by record');

    const rebuilt = new StatusTable(); // a restart on a compacted topic: only r3 is left
    rebuilt.apply(r3);
    const history = rebuilt.history('k');
    assert.deepEqual(history.map((c) => [c.status, c.reason, c.actor]), [['PAUSED', 'r1', 'a'], ['ACTIVE', 'r2', 'b'], ['PAUSED', 'r3', 'c']]);
    assert.deepEqual(history.map((c) => c.offset), [r1.offset, r2.offset, r3.offset]);
    assert.deepEqual(history.map((c) => c.timestamp), [r1.timestamp, r2.timestamp, r3.timestamp]);

    // A record without a trail (the original's producers) keeps the trail already known.
    rebuilt.apply(status('k', 'ACTIVE'));
    assert.deepEqual(rebuilt.history('k').map((c) => c.reason), ['r1', 'r2', 'r3', undefined]);
    // A paused key pushed out of the recent keys keeps its trail with its slot.
    rebuilt.apply(status('k', 'PAUSED', { reason: 'r5', trail: rebuilt.history('k') }));
    for (let i = 0; i < HISTORY_RING + 1; i++) rebuilt.apply(status(`other-${i}`, 'ACTIVE'));
    assert.deepEqual(rebuilt.history('k').map((c) => c.reason), ['r1', 'r2', 'r3', undefined, 'r5']);
    // A trail that cannot be read is ignored: it is only a trail.
    const bad = new StatusTable();
    const z = status('z', 'PAUSED', { reason: 'z' });
    bad.apply({ ...z, headers: [...z.headers, { key: HEADERS.history, value: Buffer.from('not json') }] });
    assert.deepEqual(bad.history('z').map((c) => c.reason), ['z']);
  });

  test('the trail a record carries is bounded: 49 earlier changes, 16 KiB', () => {
    const entries: HistoryEntry[] = Array.from({ length: 80 }, (_, i) => ({ status: 'PAUSED', reason: `r${i}`, actor: 'x', timestamp: i, partition: 0, offset: i }));
    const table = new StatusTable();
    table.apply(status('k', 'PAUSED', { reason: 'now', trail: entries }));
    const history = table.history('k');
    assert.equal(history.length, HISTORY_PER_KEY);
    assert.deepEqual([history[0]?.reason, history.at(-2)?.reason, history.at(-1)?.reason], ['r31', 'r79', 'now']);
    const big = encodeHistory(entries.map((e) => ({ ...e, reason: 'é'.repeat(500) })));
    assert.ok(big !== undefined && big.length <= 16 * 1024);
  });

  test('many keys: slots are reused, every answer stays right', () => {
    const table = new StatusTable();
    table.setPartitions(1);
    const n = 50_000;
    for (let i = 0; i < n; i++) table.apply(status(`key-${i}`, 'PAUSED', { reason: 'bulk' }));
    for (let i = 0; i < n; i += 2) table.apply(status(`key-${i}`, 'ACTIVE'));
    for (let i = 0; i < n; i += 4) table.apply(status(`key-${i}`, 'PAUSED', { reason: 'again' }));
    let paused = 0;
    for (let i = 0; i < n; i++) {
      const expected = i % 4 === 0 ? 'again' : i % 2 === 1 ? 'bulk' : undefined;
      const entry = table.get(`key-${i}`);
      assert.equal(entry.status, expected === undefined ? 'ACTIVE' : 'PAUSED', `key-${i}`);
      if (expected !== undefined) {
        paused++;
        assert.equal(table.latest(`key-${i}`)?.reason, expected);
      }
    }
    assert.equal(table.pausedCount, paused);
    assert.equal([...table.pausedKeys()].length, paused);
  });

  test('listeners see every change', () => {
    const table = new StatusTable();
    const seen: string[] = [];
    const off = table.onChange((change) => seen.push(`${change.key}:${change.status}`));
    table.apply(status('a', 'PAUSED'));
    table.apply(status('a', 'ACTIVE'));
    off();
    table.apply(status('a', 'PAUSED'));
    assert.deepEqual(seen, ['a:PAUSED', 'a:ACTIVE']);
  });
});
