/**
 * Kafka-only cases beyond the shared scenario suite (scenarios.kafka.test.ts): a kill -9 in the
 * middle of a drain (the open transaction holds forwarded events and the changelog's removals:
 * under exactly-once both are lost together, so nothing is lost or repeated), and live traffic
 * of another key of the same task flowing while a 1,000,000-event buffer drains (rule 7).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { afterEach, describe, test } from 'node:test';
import { partitionForKey } from '../../src/runtime/partitioner.ts';
import type { OutRecord } from '../scenarios/harness.ts';
import { KafkaHarness } from './kafka-harness.ts';
import { sleep, TopicTail } from './support.ts';

function ids(prefix: string, from: number, to: number): string[] {
  return Array.from({ length: to - from }, (_, i) => `${prefix}-${from + i}`);
}

function idsOf(records: readonly OutRecord[], key: string): (string | undefined)[] {
  return records.filter((r) => r.key === key).map((r) => r.id);
}

function firstOccurrences(values: readonly (string | undefined)[]): (string | undefined)[] {
  const seen = new Set<string | undefined>();
  return values.filter((v) => !seen.has(v) && seen.add(v));
}

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

async function waitBuffered(h: KafkaHarness, key: string, count: number, timeoutMs = 30_000): Promise<void> {
  let last = -1;
  await until(`${count} buffered events of ${key}`, async () => (last = await h.bufferCount(key)) === count, timeoutMs).catch((error: Error) => {
    throw new Error(`${error.message} (last count ${last})`);
  });
}

/** SEMANTICS rule 7 speaks of millions of buffered events; BIG_BUFFER=<n> sizes this test down for a quick local run. */
const BIG_BUFFER = Number(process.env.BIG_BUFFER ?? 1_000_000);

describe('Kafka: crashes mid-drain and live traffic during a large drain', () => {
  let h: KafkaHarness | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });

  for (const guarantee of ['exactly_once', 'at_least_once'] as const) {
    test(`kill -9 in the middle of a drain (${guarantee}): ${guarantee === 'exactly_once' ? 'nothing lost or repeated' : 'nothing lost, order exact after dropping repeats'}`, async () => {
      h = new KafkaHarness();
      // Small slices and an early crash: the drain must still be under way when the instance dies.
      await h.start({ partitions: 2, guarantee, drainSliceSize: 10 });
      await h.setStatus('d', 'PAUSED');
      await sleep(500);
      const sent = ids('d', 0, 30_000);
      await h.sendEvents('d', sent);
      await waitBuffered(h, 'd', sent.length);
      await h.setStatus('d', 'ACTIVE');
      await h.sendResume('d');
      await h.waitForOutput(300);
      await h.crash(0);
      const before = (await h.output()).length;
      process.stdout.write(`# ${before} of ${sent.length} drained before the crash\n`);
      assert.ok(before < sent.length, `the crash came too late to test anything (${before} drained)`);
      await h.restart(0);
      await h.waitForOutput(sent.length, 60_000);
      await sleep(1500);
      const out = idsOf(await h.output(), 'd');
      if (guarantee === 'exactly_once') assert.deepEqual(out, sent);
      else assert.deepEqual(firstOccurrences(out), sent);
    });
  }

  for (const guarantee of ['exactly_once', 'at_least_once'] as const) {
    test(`kill -9 with events buffered (${guarantee}): the restart restores only the changelog written after the store's commit checkpoint, and loses nothing`, async () => {
      h = new KafkaHarness();
      await h.start({ partitions: 2, guarantee });
      await h.setStatus('r', 'PAUSED');
      await sleep(500);
      const sent = ids('r', 0, 20_000);
      await h.sendEvents('r', sent);
      await waitBuffered(h, 'r', sent.length);
      await sleep(1500); // commits and a commit checkpoint after the last write
      await h.crash(0);
      await h.restart(0);
      // READY comes on stdout, the log on stderr through a file stream: the line may land later.
      const logFile = h.logFile(0);
      const readRestores = (): Array<{ restoredRecords: number; ms: number }> =>
        readFileSync(logFile, 'utf8')
          .split('\n')
          .filter((line) => line.includes('"tasks ready"'))
          .map((line) => JSON.parse(line) as { restoredRecords: number; ms: number });
      for (let waited = 0; readRestores().length < 2 && waited < 10_000; waited += 100) await sleep(100);
      const restores = readRestores();
      process.stdout.write(`# restore after kill -9: ${restores[1]?.restoredRecords} changelog records in ${restores[1]?.ms} ms\n`);
      const records = restores.map((r) => r.restoredRecords);
      assert.equal(records.length, 2, 'two starts');
      assert.ok(records[0] === 0, `the first start found an empty changelog (${records[0]})`);
      assert.ok(records[1]! < 1000, `after kill -9 the restore read ${records[1]} changelog records, not the 20,000 the store held`);
      await h.setStatus('r', 'ACTIVE');
      await h.sendResume('r');
      await h.waitForOutput(sent.length, 60_000);
      await sleep(1000);
      const out = idsOf(await h.output(), 'r');
      if (guarantee === 'exactly_once') assert.deepEqual(out, sent);
      else assert.deepEqual(firstOccurrences(out), sent);
      assert.equal(await h.bufferCount('r'), 0);
    });
  }

  test('kill -9 in the middle of a resume command\'s drain while the key stays PAUSED: the drain goes on after the restart (rule 3)', async () => {
    h = new KafkaHarness();
    // Small slices and an early crash: the drain must still be under way when the instance dies.
    await h.start({ partitions: 2, drainSliceSize: 5 });
    await h.setStatus('c', 'PAUSED');
    const sent = ids('c', 0, 60_000);
    await h.sendEvents('c', sent);
    await waitBuffered(h, 'c', sent.length, 60_000);
    await h.sendResume('c'); // a command-only producer: the status stays PAUSED throughout
    await h.waitForOutput(1);
    await h.crash(0);
    const before = (await h.output()).length;
    process.stdout.write(`# ${before} of ${sent.length} drained before the crash\n`);
    assert.ok(before < sent.length, `the crash came too late to test anything (${before} drained)`);
    await h.restart(0);
    await h.waitForOutput(sent.length, 120_000);
    assert.deepEqual(idsOf(await h.output(), 'c'), sent);
    assert.equal(await h.bufferCount('c'), 0);
  });

  test('a 1,000,000-event buffer drains in slices while another key of the same task keeps flowing', async () => {
    h = new KafkaHarness();
    await h.start({ partitions: 2, drainSliceSize: 2000 });
    const partition = partitionForKey('big', 2);
    let live = 'live-0';
    for (let i = 1; partitionForKey(live, 2) !== partition; i++) live = `live-${i}`;
    await h.setStatus('big', 'PAUSED');
    const big = ids('big', 0, BIG_BUFFER);
    await h.sendEvents('big', big);
    await waitBuffered(h, 'big', big.length, 600_000);

    await h.setStatus('big', 'ACTIVE');
    await h.sendResume('big');
    const liveSent: string[] = [];
    const seenAt = new Map<string, number>();
    let stop = false;
    const harness = h;
    // Live traffic until the big drain is over: each live event is timed to the output.
    const sender = (async () => {
      for (let n = 0; !stop; n++) {
        const id = `${live}-${n}`;
        liveSent.push(id);
        await harness.sendEvent(live, id);
        await sleep(50);
      }
    })();
    const tail = new TopicTail(h.flow.topics.output, 2);
    let bigDoneAt = 0;
    try {
      const deadline = Date.now() + 600_000;
      let bigSeen = 0;
      for (let read = 0; bigSeen < big.length; ) {
        assert.ok(Date.now() < deadline, `the drain did not finish within 600 s (${bigSeen} of ${big.length} drained)`);
        await tail.poll(100);
        const now = Date.now();
        for (; read < tail.records.length; read++) {
          const record = tail.records[read]!;
          const key = record.key?.toString();
          if (key === 'big') bigSeen++;
          else if (key === live) seenAt.set((JSON.parse(record.value!.toString()) as { id: string }).id, now);
        }
      }
      bigDoneAt = Date.now();
    } finally {
      stop = true;
      await sender;
      await tail.close();
    }
    // The harness's own reader starts from the beginning: a million records take a while on a busy machine.
    await h.waitForOutput(big.length + liveSent.length, 180_000);
    const out = await h.output();
    assert.deepEqual(idsOf(out, 'big'), big);
    assert.deepEqual(idsOf(out, live), liveSent);
    const duringDrain = [...seenAt.values()].filter((t) => t < bigDoneAt).length;
    assert.ok(duringDrain >= 3, `live events forwarded while the big buffer drained: ${duringDrain}`);
  });
});
