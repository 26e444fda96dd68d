/**
 * The compact status table: only PAUSED keys are kept; forgetting an ACTIVE key must not change
 * any answer the processor's rules rely on (rule 3's positions, rule 10's table); history is bounded.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { encodeStatus, HEADERS } from '../../src/model/wire.ts';
import type { InputRecord, KeyStatus } from '../../src/runtime/ports.ts';
import { partitionForKey } from '../../src/runtime/partitioner.ts';
import { HISTORY_PER_KEY, HISTORY_RING, StatusTable } from '../../src/runtime/status-table.ts';

let offset = 0;
function status(key: string, value: KeyStatus | null, meta: { reason?: string; actor?: string; partition?: number } = {}): InputRecord {
  const headers = [];
  if (meta.reason !== undefined) headers.push({ key: HEADERS.reason, value: Buffer.from(meta.reason) });
  if (meta.actor !== undefined) headers.push({ key: HEADERS.actor, value: Buffer.from(meta.actor) });
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
