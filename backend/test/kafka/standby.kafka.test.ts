/**
 * STANDBY_REPLICAS=1 on the real broker: two instances, many events buffered for paused keys on
 * instance A's partition; B keeps a standby of that partition's store. A is killed (kill -9): B
 * takes the partition over from its standby (the restore reads only the changelog's tail, far
 * less than its size) and, once the keys are resumed, every event comes out, in order, once.
 * STANDBY_EVENTS=<n> sizes it (default 200,000).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { afterEach, describe, test } from 'node:test';
import { partitionForKey } from '../../src/runtime/partitioner.ts';
import { KafkaHarness } from './kafka-harness.ts';
import { sleep } from './support.ts';

const EVENTS = Number(process.env.STANDBY_EVENTS ?? 200_000);
const KEYS = 4;

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(200);
  }
}

interface TasksReady {
  readonly time: number;
  readonly partitions: number[];
  readonly restoredRecords: number;
  readonly ms: number;
  readonly fromStandby?: Array<{ partition: number; offset?: number }>;
}

function tasksReady(logFile: string, after: number): TasksReady[] {
  return readFileSync(logFile, 'utf8')
    .split('\n')
    .filter((line) => line.includes('"tasks ready"'))
    .map((line) => JSON.parse(line) as TasksReady)
    .filter((entry) => entry.time >= after);
}

describe('Kafka: standby replicas (STANDBY_REPLICAS=1)', () => {
  let h: KafkaHarness | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });

  test('kill -9 of the owner: the other instance restores from its standby (only the tail), nothing lost or reordered', async () => {
    h = new KafkaHarness();
    await h.start({ partitions: 2, instances: 2, standbyReplicas: 1 });
    const harness = h;
    let owned = new Map<number, number[]>();
    await until('each instance owning one partition', async () => {
      owned = await harness.localPartitions();
      return owned.get(0)?.length === 1 && owned.get(1)?.length === 1;
    });
    const partitionA = owned.get(0)![0]!;
    const keys: string[] = [];
    for (let i = 0; keys.length < KEYS; i++) if (partitionForKey(`s${i}`, 2) === partitionA) keys.push(`s${i}`);
    for (const key of keys) await h.setStatus(key, 'PAUSED');
    const sent = new Map(keys.map((key, k) => [key, Array.from({ length: EVENTS / KEYS }, (_, i) => `${key}-${k}-${i}`)]));
    await Promise.all(keys.map((key) => harness.sendEvents(key, sent.get(key)!)));
    for (const key of keys) await until(`${EVENTS / KEYS} buffered events of ${key}`, async () => (await harness.bufferCount(key)) === EVENTS / KEYS, 300_000);

    // B's standby applies the changelog as A commits it: wait until it has nothing left to read.
    let lag = -1;
    await until('B\'s standby to catch up', async () => {
      const metrics = await harness.metrics(1);
      lag = metrics?.flows[0]?.standbyLag ?? -1;
      return lag === 0;
    }, 120_000).catch((error: Error) => {
      throw new Error(`${error.message} (standby lag ${lag})`);
    });
    await sleep(1000);

    const crashedAt = Date.now();
    await h.crash(0);
    await until('B to own both partitions', async () => (await harness.localPartitions()).get(1)?.length === 2, 60_000);
    for (const key of keys) assert.equal(await h.bufferCount(key), EVENTS / KEYS, `buffered events of ${key} on B after the takeover`);

    const takeover = tasksReady(h.logFile(1), crashedAt).find((entry) => entry.partitions.includes(partitionA));
    assert.ok(takeover !== undefined, 'B logged its takeover');
    process.stdout.write(`# takeover of partition ${partitionA} (${EVENTS} buffered events): ${takeover.restoredRecords} changelog records restored in ${takeover.ms} ms; from standby ${JSON.stringify(takeover.fromStandby)}\n`);
    const handed = takeover.fromStandby?.find((entry) => entry.partition === partitionA);
    assert.ok(handed?.offset !== undefined && handed.offset >= EVENTS, `the store came from B's standby at its position (${JSON.stringify(takeover.fromStandby)})`);
    assert.ok(takeover.restoredRecords < EVENTS / 100, `restored ${takeover.restoredRecords} records: only the tail, not the ${EVENTS} of the changelog`);

    for (const key of keys) {
      await h.setStatus(key, 'ACTIVE');
      await h.sendResume(key);
    }
    await h.waitForOutput(EVENTS, 300_000);
    await sleep(1000);
    const out = await h.output();
    for (const key of keys) {
      assert.deepEqual(
        out.filter((r) => r.key === key).map((r) => r.id),
        sent.get(key),
        `the events of ${key}: all, in order, once`,
      );
    }
    assert.equal(out.length, EVENTS);
  });
});
