/**
 * The chaos runner's checks on planted histories: each must fail on the violation it exists to
 * find, and pass what the rules allow (repeats under at_least_once, events sent within the grace
 * after a pause, pauses of a key whose control writes have an unknown fate).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkOrder, checkPauses, PAUSE_GRACE_MS, type Received, type SentLog } from '../../chaos/checker.ts';
import { RunClock } from '../../chaos/util.ts';
import type { ControlOp, KeyHistory, Outcome } from '../../chaos/workload.ts';

const clock = new RunClock();

function history(key: string, sentAt: number[]): KeyHistory {
  return { key, partition: 0, sentAt, offsets: sentAt.map((_, i) => i), ops: [], controlRecords: [], taintedFrom: undefined };
}

let nextOp = 1;
function op(action: 'pause' | 'resume', startAt: number, endAt: number, outcome: Outcome = 'ok'): ControlOp {
  return {
    id: nextOp++,
    action,
    path: action === 'pause' ? 'topic' : 'status+command',
    keys: ['k'],
    startAt,
    endAt,
    outcome,
    settled: true,
    instance: undefined,
    incarnation: undefined,
    error: undefined,
    landed: new Map(),
    expectedPerKey: 1,
  };
}

function sent(...histories: KeyHistory[]): SentLog {
  return {
    keys: histories.map((h) => h.key),
    histories: new Map(histories.map((h) => [h.key, h])),
    sentCount: (key) => histories.find((h) => h.key === key)!.sentAt.length,
  };
}

function received(key: string, seqs: number[], receivedAt: (seq: number, i: number) => number = (_, i) => 1000 + i): { received: Map<string, Received[]> } {
  return { received: new Map([[key, seqs.map((seq, i) => ({ seq, receivedAt: receivedAt(seq, i), partition: 0, offset: i }))]]) };
}

test('order: exactly 0..n-1 passes; a repeat fails under exactly_once only', () => {
  const log = sent(history('k', [0, 0, 0, 0]));
  assert.deepEqual(checkOrder(log, received('k', [0, 1, 2, 3]), 'exactly_once', clock), []);
  const repeated = received('k', [0, 1, 2, 1, 2, 3]);
  const violations = checkOrder(log, repeated, 'exactly_once', clock);
  assert.equal(violations.length, 1);
  assert.match(violations[0]!.details![0]!, /repeated seq 1-2/);
  assert.deepEqual(checkOrder(log, repeated, 'at_least_once', clock), []);
});

test('order: an inversion and a gap fail under both guarantees', () => {
  const log = sent(history('k', [0, 0, 0, 0]));
  for (const guarantee of ['exactly_once', 'at_least_once'] as const) {
    assert.match(checkOrder(log, received('k', [0, 2, 1, 3]), guarantee, clock)[0]!.details![0]!, /inversion: seq 1 came after seq 2/);
    assert.match(checkOrder(log, received('k', [0, 1, 3]), guarantee, clock)[0]!.details![0]!, /gap: seq 2 missing while seq 3 arrived/);
  }
});

test('pauses: an event sent after the grace and received before the resume was written fails', () => {
  const h = history('k', [500, 7000, 5500, 8000]);
  h.ops.push(op('pause', 900, 1000), op('resume', 20_000, 20_100));
  const times = new Map([[0, 600], [1, 8000], [2, 5600], [3, 20_500]]);
  const result = checkPauses(sent(h), received('k', [0, 2, 1, 3], (seq) => times.get(seq)!), clock);
  assert.equal(result.windows, 1);
  assert.equal(result.violations.length, 1);
  // seq 1 (sent 6 s after the ack, out before the resume) is the one; seq 2 was within the grace.
  assert.match(result.violations[0]!.details![0]!, /1 event\(s\) released early: seq 1 /);
  assert.ok(7000 >= 1000 + PAUSE_GRACE_MS && 5500 < 1000 + PAUSE_GRACE_MS);
});

test('pauses: a failed pause opens no window; a tainted key is not judged', () => {
  const failed = history('k', [7000]);
  failed.ops.push(op('pause', 900, 1000, 'failed'), op('resume', 20_000, 20_100));
  assert.equal(checkPauses(sent(failed), received('k', [0], () => 8000), clock).windows, 0);
  const tainted = history('k', [7000]);
  tainted.ops.push(op('pause', 900, 1000), op('resume', 20_000, 20_100));
  tainted.taintedFrom = 500;
  const result = checkPauses(sent(tainted), received('k', [0], () => 8000), clock);
  assert.deepEqual([result.windows, result.skippedWindows, result.violations.length], [0, 1, 0]);
});
