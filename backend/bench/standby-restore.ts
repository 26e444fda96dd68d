/**
 * Takeover restore with and without standby replicas: two instances (the test harness's child
 * processes, backend/test/kafka/kafka-harness.ts), N events buffered for paused keys on instance
 * A's partition, kill -9 of A; instance B takes the partition over. Reported per run:
 *   restore      B's own figure for the takeover ('tasks ready': committed offsets, waiting out
 *                A's open transaction on the changelog, reading the changelog into the store)
 *   records      changelog records that restore read
 *   takeover     kill -9 to B answering for the partition with every event buffered (includes
 *                the group noticing the crash: the session timeout, 6 s here)
 * With STANDBY_REPLICAS=1, B's standby is first let catch up (standby lag 0).
 *
 *   node_modules/.bin/node backend/bench/standby-restore.ts [--events 1000000] [--keys 100] [--modes 0,1]
 *
 * Needs a broker at KAFKA_BROKERS (default 127.0.0.1:9092). Asserts nothing; prints figures.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { partitionForKey } from '../src/runtime/partitioner.ts';
import { KafkaHarness } from '../test/kafka/kafka-harness.ts';
import { sleep } from '../test/kafka/support.ts';

const { values: args } = parseArgs({
  options: {
    events: { type: 'string', default: '1000000' },
    keys: { type: 'string', default: '100' },
    modes: { type: 'string', default: '0,1' },
    help: { type: 'boolean', short: 'h' },
  },
});
if (args.help) {
  console.log('usage: node backend/bench/standby-restore.ts [--events N=1000000] [--keys K=100] [--modes 0,1]');
  process.exit(0);
}
const EVENTS = Number(args.events);
const KEYS = Number(args.keys);
const MODES = args.modes.split(',').map(Number);

async function until(what: string, check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

function log(line: string): void {
  process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] ${line}\n`);
}

interface Result {
  readonly standby: number;
  readonly restoreMs: number;
  readonly records: number;
  readonly takeoverMs: number;
  readonly catchUpMs: number | undefined;
}

async function run(standby: number): Promise<Result> {
  const h = new KafkaHarness();
  try {
    await h.start({ partitions: 2, instances: 2, standbyReplicas: standby });
    let owned = new Map<number, number[]>();
    await until('one partition each', async () => {
      owned = await h.localPartitions();
      return owned.get(0)?.length === 1 && owned.get(1)?.length === 1;
    }, 60_000);
    const partitionA = owned.get(0)![0]!;
    const keys: string[] = [];
    for (let i = 0; keys.length < KEYS; i++) if (partitionForKey(`held-${i}`, 2) === partitionA) keys.push(`held-${i}`);
    for (const key of keys) await h.setStatus(key, 'PAUSED');
    const per = Math.floor(EVENTS / KEYS);
    log(`STANDBY_REPLICAS=${standby}: sending ${(per * KEYS).toLocaleString('en-US')} events over ${KEYS} paused keys of partition ${partitionA}`);
    const sentAt = Date.now();
    for (let k = 0; k < KEYS; k += 10) {
      await Promise.all(keys.slice(k, k + 10).map((key) => h.sendEvents(key, Array.from({ length: per }, (_, i) => `${key}-${i}`))));
    }
    for (const key of keys) await until(`events of ${key} buffered`, async () => (await h.bufferCount(key)) === per, 600_000);
    log(`buffered on A in ${Date.now() - sentAt} ms`);
    let catchUpMs: number | undefined;
    if (standby > 0) {
      await until('standby lag 0', async () => (await h.metrics(1))?.flows[0]?.standbyLag === 0, 600_000);
      catchUpMs = Date.now() - sentAt;
      log(`B's standby caught up ${catchUpMs} ms after the first event was sent`);
    }
    await sleep(2000);
    const crashedAt = Date.now();
    await h.crash(0);
    await until('B owning both partitions', async () => (await h.localPartitions()).get(1)?.length === 2, 120_000);
    await until('B answering with every event', async () => (await h.bufferCount(keys[0]!)) === per, 120_000);
    const takeoverMs = Date.now() - crashedAt;
    const ready = readFileSync(h.logFile(1), 'utf8')
      .split('\n')
      .filter((line) => line.includes('"tasks ready"'))
      .map((line) => JSON.parse(line) as { time: number; partitions: number[]; restoredRecords: number; ms: number })
      .find((entry) => entry.time >= crashedAt && entry.partitions.includes(partitionA));
    if (ready === undefined) throw new Error('no takeover in B\'s log');
    const result = { standby, restoreMs: ready.ms, records: ready.restoredRecords, takeoverMs, catchUpMs };
    log(JSON.stringify(result));
    return result;
  } finally {
    await h.close();
  }
}

const results: Result[] = [];
for (const mode of MODES) results.push(await run(mode));
console.log(`takeover of a partition with ${EVENTS.toLocaleString('en-US')} buffered events (${KEYS} keys), kill -9 of its owner`);
console.log('STANDBY_REPLICAS  restore (ms)  records restored  kill -9 to takeover (ms)  standby catch-up (ms)');
for (const r of results) {
  console.log(
    `${String(r.standby).padEnd(18)}${String(r.restoreMs).padEnd(14)}${String(r.records).padEnd(18)}${String(r.takeoverMs).padEnd(26)}${r.catchUpMs ?? '-'}`,
  );
}
