/**
 * The status table at scale: N keys PAUSED on a fresh status topic, nothing buffered; starts the
 * service (backend/src/main.ts, as `npm run bench` does) and reports the time until /ready and the
 * peak RSS and RssAnon of the process while it reads the topic and then holds the table.
 *
 *   node_modules/.bin/node backend/bench/status-memory.ts [--keys 1000000] [--repo DIR]
 *
 * `--repo DIR` starts the service of another checkout (a worktree of an older commit) on the same
 * topics, for a before/after in one run. Asserts nothing; prints figures.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { ClientAdmin, ClientProducer, isQueueFull } from '../src/engines/kafka/client.ts';
import { encodeStatus } from '../src/model/wire.ts';
import { progress, sleep } from './compare/measure.ts';
import { Sampler } from './compare/proc.ts';
import { eventPauseChangelog, launch, ROOT } from './compare/systems.ts';

const { values: args } = parseArgs({
  options: { keys: { type: 'string', default: '1000000' }, repo: { type: 'string', multiple: true, default: [] }, help: { type: 'boolean', short: 'h' } },
});
if (args.help) {
  console.log('usage: node backend/bench/status-memory.ts [--keys N=1000000] [--repo DIR]...  (needs a broker at KAFKA_BROKERS, default 127.0.0.1:9092)');
  process.exit(0);
}
const keys = Number(args.keys);
if (!Number.isSafeInteger(keys) || keys < 1) throw new Error(`--keys takes a positive integer, got ${args.keys}`);
const BOOTSTRAP = process.env.KAFKA_BROKERS ?? '127.0.0.1:9092';
const PARTITIONS = 6;
const run = `status-mem-${Date.now().toString(36)}`;
const admin = new ClientAdmin({ 'bootstrap.servers': BOOTSTRAP, 'client.id': run });
const topics = { main: `${run}-in`, trigger: `${run}-resume`, status: `${run}-status`, output: `${run}-out`, dlq: `${run}-dlq` };

async function main(): Promise<void> {
  await admin.createTopics(
    Object.entries(topics).map(([what, name]) => ({ name, partitions: PARTITIONS, ...(what === 'status' ? { config: { 'cleanup.policy': 'compact' } } : {}) })),
  );
  const producer = new ClientProducer({ 'bootstrap.servers': BOOTSTRAP, 'client.id': run, partitioner: 'murmur2_random', 'enable.idempotence': true, 'linger.ms': 20, 'batch.num.messages': 10_000 });
  await producer.connect();
  const paused = encodeStatus('PAUSED');
  const started = performance.now();
  for (let i = 0; i < keys; i++) {
    for (;;) {
      try {
        producer.produce(topics.status, undefined, Buffer.from(`paused-${i}`), paused, Date.now(), []);
        break;
      } catch (error) {
        if (!isQueueFull(error)) throw error;
        producer.poll();
        await sleep(1);
      }
    }
  }
  await producer.flush(600_000);
  await producer.disconnect();
  progress(`wrote ${keys.toLocaleString('en-US')} PAUSED statuses in ${((performance.now() - started) / 1000).toFixed(1)} s`);

  const rows: string[] = [];
  const repos = [ROOT, ...(args.repo ?? []).map((dir) => path.resolve(dir))];
  for (const [i, repo] of repos.entries()) {
    const applicationId = `${run}-${i}`;
    await admin.createTopics([{ name: eventPauseChangelog(applicationId), partitions: PARTITIONS, config: { 'cleanup.policy': 'compact' } }]);
    const stateDir = mkdtempSync(path.join(tmpdir(), 'status-mem-'));
    const t0 = performance.now();
    const running = launch(
      { kind: 'event-pause', guarantee: 'exactly_once' },
      { bootstrap: BOOTSTRAP, topics, partitions: PARTITIONS, applicationId, stateDir, logDir: stateDir, commitIntervalMs: 100, sessionTimeoutMs: 10_000, ...(repo === ROOT ? {} : { root: repo }) },
    );
    const sampler = new Sampler(running.pid, 100);
    try {
      const readyAt = await running.ready;
      const readyPeakAnon = sampler.peakAnon;
      sampler.resetPeaks();
      await sleep(5000);
      const held = sampler.sample();
      rows.push(
        `| ${repo === ROOT ? 'this checkout' : repo} | ${((readyAt - t0) / 1000).toFixed(1)} s | ${mb(Math.max(readyPeakAnon, sampler.peakAnon))} | ${mb(held?.anonBytes ?? 0)} | ${mb(sampler.peakRss)} |`,
      );
      progress(rows.at(-1)!);
    } finally {
      sampler.stop();
      await running.stop();
      rmSync(stateDir, { recursive: true, force: true });
      await admin.deleteTopics([eventPauseChangelog(applicationId)]).catch(() => undefined);
    }
  }
  await admin.deleteTopics(Object.values(topics)).catch(() => undefined);
  admin.disconnect();
  console.log(`\n${keys.toLocaleString('en-US')} keys PAUSED on the status topic, nothing buffered, one instance:\n`);
  console.log('| service | time to /ready | peak RssAnon MB | RssAnon MB 5 s after ready | peak RSS MB (after ready) |');
  console.log('| --- | --- | --- | --- | --- |');
  for (const row of rows) console.log(row);
}

const mb = (bytes: number): number => Math.round(bytes / 1024 / 1024);

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
