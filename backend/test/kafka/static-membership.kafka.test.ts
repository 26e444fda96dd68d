/**
 * STATIC_MEMBERSHIP=true on the real broker: group.instance.id from each instance's stable id, so
 * a rolling restart (SIGTERM, start again within the session timeout) gives the instance its
 * partitions back and nobody else's move: the other instance sees no rebalance. Without it, the
 * same restart rebalances the other instance (twice: the leave, then the join).
 */
import assert from 'node:assert/strict';
import { afterEach, describe, test } from 'node:test';
import { partitionForKey } from '../../src/runtime/partitioner.ts';
import { KafkaHarness } from './kafka-harness.ts';
import { sleep } from './support.ts';

const PARTITIONS = 4;

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(200);
  }
}

const sorted = (partitions: readonly number[] | undefined): string => JSON.stringify([...(partitions ?? [])].sort());

/** A restart of instance 0; returns how many assignments instance 1 received meanwhile, and checks events of every partition flow after it. */
async function rollingRestart(h: KafkaHarness): Promise<{ otherAssignments: number; otherMoved: boolean }> {
  let owned = new Map<number, number[]>();
  await until('both instances owning partitions', async () => {
    owned = await h.localPartitions();
    return (owned.get(0)?.length ?? 0) > 0 && (owned.get(1)?.length ?? 0) > 0 && (owned.get(0)!.length + owned.get(1)!.length === PARTITIONS);
  });
  await sleep(2000); // let the group settle
  const before = await h.localPartitions();
  const assignmentsBefore = (await h.metrics(1))?.flows[0]?.assignments ?? 0;
  await h.stopInstance(0);
  await h.restart(0);
  await until('instance 0 owning its partitions again', async () => sorted((await h.localPartitions()).get(0)) === sorted(before.get(0)), 60_000).catch(
    () => undefined, // without static membership the partitions may be spread another way
  );
  await sleep(4000); // a rebalance that was to come has come by now
  const after = await h.localPartitions();
  const otherAssignments = ((await h.metrics(1))?.flows[0]?.assignments ?? 0) - assignmentsBefore;
  // Events of every partition come out after the restart.
  const keys: string[] = [];
  for (let p = 0; p < PARTITIONS; p++) {
    for (let i = 0; ; i++) {
      if (partitionForKey(`r${p}-${i}`, PARTITIONS) === p) {
        keys.push(`r${p}-${i}`);
        break;
      }
    }
  }
  for (const key of keys) await h.sendEvent(key, `${key}-after`);
  const out = await h.waitForOutput(keys.length, 60_000);
  assert.deepEqual(out.map((r) => r.id).sort(), keys.map((key) => `${key}-after`).sort());
  return { otherAssignments, otherMoved: sorted(after.get(1)) !== sorted(before.get(1)) };
}

describe('Kafka: rolling restarts (STATIC_MEMBERSHIP)', () => {
  let h: KafkaHarness | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });

  test('with static membership, an instance restarted within the session timeout gets its partitions back and the other instance sees no rebalance', async () => {
    h = new KafkaHarness();
    await h.start({ partitions: PARTITIONS, instances: 2, staticMembership: true, sessionTimeoutMs: 30_000 });
    const { otherAssignments, otherMoved } = await rollingRestart(h);
    assert.equal(otherAssignments, 0, 'the other instance received no new assignment');
    assert.equal(otherMoved, false, 'the other instance kept its partitions');
  });

  test('without it, the same restart rebalances the other instance', async () => {
    h = new KafkaHarness();
    await h.start({ partitions: PARTITIONS, instances: 2, staticMembership: false, sessionTimeoutMs: 30_000 });
    const { otherAssignments } = await rollingRestart(h);
    assert.ok(otherAssignments >= 1, `the other instance was reassigned ${otherAssignments} times`);
  });
});
