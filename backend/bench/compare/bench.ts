/**
 * `npm run bench`: event-pause beside the raw pipe, the Kafka Streams peer (bench/kstreams) and
 * Kafka's own perf tools, on the same broker, the same topics and the same workloads, in one run.
 * Every system runs as a process of its own and is measured from outside: output rates from the
 * first output record to the last (read_committed end offsets), input progress from its group's
 * committed offsets, CPU from /proc/<pid>/stat, peak VmRSS and RssAnon from /proc/<pid>/status,
 * latency of ACTIVE keys from a probe's events. It asserts nothing; it prints one table, with
 * ratios to Kafka Streams (1 thread) measured in the same run, and writes plots and the raw
 * results under --out. See docs/benchmarks.md.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { ProcessingGuarantee } from '../../src/config/config.ts';
import { ClientAdmin, ClientProducer, isQueueFull } from '../../src/engines/kafka/client.ts';
import { encodeEvent, encodeStatus, RESUME_COMMAND } from '../../src/model/wire.ts';

import { auditOrder, endOffsets, GroupProgress, outputWindow, percentile, progress, sleep, startProbe } from './measure.ts';
import { consumerPerf, producerPerf } from './perf-tools.ts';
import { Sampler } from './proc.ts';
import { barChart, timeChart } from './svg.ts';
import { eventPauseChangelog, type FlowTopics, launch, PEER_JAR, ROOT, type Running, type SystemSpec, systemName } from './systems.ts';

const WORKLOADS = ['active', 'storm', 'mixed', 'restore', 'memory'] as const;
type Workload = (typeof WORKLOADS)[number];

const { values: args } = parseArgs({
  options: {
    workloads: { type: 'string', default: WORKLOADS.join(',') },
    systems: { type: 'string', default: 'event-pause,pipe,kstreams,perf' },
    guarantee: { type: 'string', default: 'both' },
    scale: { type: 'string', default: '1' },
    'kstreams-threads': { type: 'string', default: '1,2' },
    out: { type: 'string', default: path.join(ROOT, 'docs/bench') },
    help: { type: 'boolean', short: 'h', default: false },
  },
});

const HELP = `usage: npm run bench -- [options]

Runs event-pause, the raw pipe, the Kafka Streams peer (bench/kstreams, built with mvn when Java
and Maven are there) and Kafka's producer/consumer perf tools on the same workloads, one system at
a time, and prints one table (rates, CPU per event, peak RSS and RssAnon, ratios to Kafka Streams
1 thread measured in the same run). Needs a broker at KAFKA_BROKERS (default 127.0.0.1:9092;
npm run bench starts the local one).

  --workloads LIST      ${WORKLOADS.join(',')} (default: all)
                        active   1,000,000 events over 10,000 ACTIVE keys, 6 partitions
                        storm    100,000 keys paused, 10,000,000 events buffered, then a mass resume
                        mixed    10% of 10,000 keys paused with 1,000,000 events held; ACTIVE-key
                                 latency (probe, 500 ev/s) idle, then while they drain
                        restore  1,000,000 buffered, kill -9, restart: with the local store, without it
                        memory   1,000,000 paused keys holding 10,000,000 events: RssAnon, time to ready
  --systems LIST        event-pause,pipe,kstreams,perf (default: all)
  --guarantee G         exactly_once, at_least_once or both (default: both)
  --scale F             multiplies every event and key count (default 1; 0.1 for a quick look)
  --kstreams-threads L  stream thread counts of the Kafka Streams peer on the active path (default 1,2)
  --out DIR             plots (SVG) and results.json (default docs/bench)
  -h, --help            this text

BENCH_SAMPLES=FILE writes the mixed workload's probe samples (t, ms), resume and drained times as JSON.

A full run at scale 1 takes well over an hour on 2 cores (the storm and memory workloads write
10,000,000 events per system).`;

if (args.help) {
  console.log(HELP);
  process.exit(0);
}

function fail(message: string): never {
  process.stderr.write(`bench: ${message}\n(npm run bench -- --help)\n`);
  process.exit(2);
}

const BOOTSTRAP = process.env.KAFKA_BROKERS ?? '127.0.0.1:9092';
const scale = Number(args.scale);
if (!Number.isFinite(scale) || scale <= 0) fail(`--scale must be a positive number, got ${args.scale}`);
const workloads = args.workloads!.split(',').map((w) => w.trim());
for (const w of workloads) if (!(WORKLOADS as readonly string[]).includes(w)) fail(`unknown workload "${w}" (known: ${WORKLOADS.join(', ')})`);
const systems = new Set(args.systems!.split(',').map((s) => s.trim()));
for (const s of systems) if (!['event-pause', 'pipe', 'kstreams', 'perf'].includes(s)) fail(`unknown system "${s}"`);
const guarantees: ProcessingGuarantee[] =
  args.guarantee === 'both' ? ['exactly_once', 'at_least_once'] : args.guarantee === 'exactly_once' || args.guarantee === 'at_least_once' ? [args.guarantee] : fail(`--guarantee must be exactly_once, at_least_once or both`);
const kstreamsThreads = args['kstreams-threads']!.split(',').map(Number);
if (kstreamsThreads.some((n) => !Number.isInteger(n) || n < 1)) fail(`--kstreams-threads takes positive integers, got ${args['kstreams-threads']}`);

const n = (base: number): number => Math.max(1, Math.round(base * scale));
const PARTITIONS = 6;
const COMMIT_INTERVAL_MS = 100;
const SESSION_TIMEOUT_MS = 10_000;
const DATA = { merchant: 'm-000000', amount: 12.5, currency: 'EUR', note: 'benchmark event payload, about one hundred bytes of data' };

const runDir = mkdtempSync(path.join(tmpdir(), 'ep-bench-'));
const logDir = path.join(runDir, 'logs');
const admin = new ClientAdmin({ 'bootstrap.servers': BOOTSTRAP, 'client.id': 'bench-admin' });
const runId = Math.random().toString(36).slice(2, 8);
let topicSeq = 0;

interface Row {
  workload: string;
  system: string;
  measure: string;
  value: number;
  unit: string;
  cpuMicros?: number;
  peakRssMb?: number;
  peakAnonMb?: number;
  /** Which row of the same workload and measure this one is compared with. */
  baseline?: string;
}
const rows: Row[] = [];
const series: Record<string, { label: string; points: { t: number; v: number }[] }[]> = {};

const mb = (bytes: number): number => Math.round(bytes / 1024 / 1024);

// ---- topics and data ----

async function createTopics(names: readonly { name: string; compact?: boolean }[], partitions = PARTITIONS): Promise<void> {
  await admin.createTopics(names.map((t) => ({ name: t.name, partitions, ...(t.compact ? { config: { 'cleanup.policy': 'compact' } } : {}) })));
  const deadline = Date.now() + 30_000;
  for (;;) {
    const infos = await admin.describeTopics(names.map((t) => t.name));
    if (infos.every((t) => t.partitions !== undefined)) return;
    if (Date.now() > deadline) throw new Error('topics not visible after 30 s');
    await sleep(100);
  }
}

function topicName(what: string): string {
  return `bench-${runId}-${++topicSeq}-${what}`;
}

/** A flow's topics for one system: `main` shared by the workload, the rest its own. */
async function flowTopics(main: string, statusKeys: readonly string[] = []): Promise<FlowTopics> {
  const topics: FlowTopics = { main, trigger: topicName('resume'), status: topicName('status'), output: topicName('out'), dlq: topicName('dlq') };
  await createTopics([{ name: topics.trigger }, { name: topics.status, compact: true }, { name: topics.output }, { name: topics.dlq }]);
  if (statusKeys.length > 0) await writeAll(topics.status, statusKeys.length, (i) => [statusKeys[i]!, encodeStatus('PAUSED')], 'PAUSED status records');
  return topics;
}

async function producer(): Promise<ClientProducer> {
  const p = new ClientProducer({ 'bootstrap.servers': BOOTSTRAP, 'client.id': 'bench-load', partitioner: 'murmur2_random', 'enable.idempotence': true, 'linger.ms': 20, 'batch.num.messages': 10_000, 'queue.buffering.max.messages': 1_000_000 });
  await p.connect();
  return p;
}

/** Writes `count` records fast (idempotent, pipelined: per-key order holds). */
async function writeAll(topic: string, count: number, record: (i: number) => [string, Buffer], what: string): Promise<void> {
  const p = await producer();
  const started = performance.now();
  let lastReport = Date.now();
  for (let i = 0; i < count; i++) {
    const [key, value] = record(i);
    for (;;) {
      try {
        p.produce(topic, undefined, Buffer.from(key), value, Date.now(), []);
        break;
      } catch (error) {
        if (!isQueueFull(error)) throw error;
        p.poll();
        await sleep(1);
      }
    }
    if (Date.now() - lastReport > 5000) {
      lastReport = Date.now();
      progress(`  writing ${what}: ${(i + 1).toLocaleString('en-US')} of ${count.toLocaleString('en-US')}`);
    }
  }
  await p.flush(600_000);
  await p.disconnect();
  progress(`  wrote ${count.toLocaleString('en-US')} ${what} in ${((performance.now() - started) / 1000).toFixed(1)} s`);
}

const eventAt = (i: number): Buffer => encodeEvent({ id: `e-${i}`, data: DATA, timestamp: 1_700_000_000_000 + i });

/** A main topic holding `count` events spread round-robin over `keys`. */
async function preloadMain(count: number, keys: readonly string[]): Promise<string> {
  const main = topicName('in');
  await createTopics([{ name: main }]);
  await writeAll(main, count, (i) => [keys[i % keys.length]!, eventAt(i)], 'events');
  return main;
}

async function resumeAll(topics: FlowTopics, keys: readonly string[]): Promise<void> {
  const p = await producer();
  for (const key of keys) {
    for (;;) {
      try {
        p.produce(topics.status, undefined, Buffer.from(key), encodeStatus('ACTIVE'), Date.now(), []);
        break;
      } catch (error) {
        if (!isQueueFull(error)) throw error;
        p.poll();
        await sleep(1);
      }
    }
  }
  await p.flush(120_000);
  for (const key of keys) {
    for (;;) {
      try {
        p.produce(topics.trigger, undefined, Buffer.from(key), RESUME_COMMAND, Date.now(), []);
        break;
      } catch (error) {
        if (!isQueueFull(error)) throw error;
        p.poll();
        await sleep(1);
      }
    }
  }
  await p.flush(120_000);
  await p.disconnect();
}

// ---- systems ----

function specs(kinds: readonly ('event-pause' | 'pipe' | 'kstreams')[], threads: readonly number[] = [1]): SystemSpec[] {
  const out: SystemSpec[] = [];
  for (const guarantee of guarantees) {
    for (const kind of kinds) {
      if (!systems.has(kind)) continue;
      if (kind === 'kstreams') for (const t of threads) out.push({ kind, guarantee, threads: t });
      else out.push({ kind, guarantee });
    }
  }
  return out;
}

async function start(spec: SystemSpec, topics: FlowTopics, stateDir?: string, applicationId?: string): Promise<{ running: Running; sampler: Sampler; stateDir: string; applicationId: string }> {
  const appId = applicationId ?? `bench-${runId}-${++topicSeq}`;
  const dir = stateDir ?? path.join(runDir, `state-${appId}`);
  if (spec.kind === 'event-pause' && applicationId === undefined) {
    await createTopics([{ name: eventPauseChangelog(appId), compact: true }]);
  }
  const running = launch(spec, { bootstrap: BOOTSTRAP, topics, partitions: PARTITIONS, applicationId: appId, stateDir: dir, logDir, commitIntervalMs: COMMIT_INTERVAL_MS, sessionTimeoutMs: SESSION_TIMEOUT_MS });
  return { running, sampler: new Sampler(running.pid), stateDir: dir, applicationId: appId };
}

/** `work`, or an error as soon as the system's process exits (a crash must not look like a stall). */
function whileRunning<T>(running: Running, work: Promise<T>): Promise<T> {
  const died = running.exited.then((code) => Promise.reject(new Error(`${running.name} exited (code ${code}) during the measure; see its log in ${logDir}`)));
  died.catch(() => undefined);
  return Promise.race([work, died]);
}

function record(row: Row): void {
  rows.push(row);
  const extra = [row.cpuMicros === undefined ? '' : `${row.cpuMicros.toFixed(1)} µs CPU/ev`, row.peakAnonMb === undefined ? '' : `RssAnon ${row.peakAnonMb} MB`].filter(Boolean).join(', ');
  progress(`  => ${row.system}: ${row.measure} ${fmt(row.value, row.unit)}${extra ? ` (${extra})` : ''}`);
}

function fmt(value: number, unit: string): string {
  if (unit === 'ms' || unit === 's') return `${value.toFixed(unit === 's' ? 1 : 0)} ${unit}`;
  return `${Math.round(value).toLocaleString('en-US')} ${unit}`;
}

// ---- workloads ----

async function activeWorkload(): Promise<void> {
  const events = n(1_000_000);
  const keys = Array.from({ length: n(10_000) }, (_, i) => `key-${i}`);
  progress(`active path: ${events.toLocaleString('en-US')} events over ${keys.length.toLocaleString('en-US')} ACTIVE keys, ${PARTITIONS} partitions`);
  const main = await preloadMain(events, keys);
  for (const spec of specs(['event-pause', 'pipe', 'kstreams'], kstreamsThreads)) {
    const name = systemName(spec);
    progress(` ${name}`);
    const topics = await flowTopics(main);
    const { running, sampler } = await start(spec, topics);
    try {
      const window = await whileRunning(running, outputWindow(admin, topics.output, PARTITIONS, 0, events, running.pid, name));
      record({ workload: 'active', system: name, measure: 'rate', value: window.rate, unit: 'ev/s', cpuMicros: window.cpuMicros, peakRssMb: mb(sampler.peakRss), peakAnonMb: mb(sampler.peakAnon) });
    } finally {
      sampler.stop();
      await running.stop();
    }
  }
  if (systems.has('perf')) {
    progress(' Kafka perf tools');
    const sink = topicName('perf');
    await createTopics([{ name: sink }]);
    const transactional = await producerPerf(BOOTSTRAP, sink, events, COMMIT_INTERVAL_MS);
    record({ workload: 'active', system: 'producer perf, transactions of 100 ms', measure: 'rate', value: transactional, unit: 'ev/s' });
    const idempotent = await producerPerf(BOOTSTRAP, sink, events, undefined);
    record({ workload: 'active', system: 'producer perf, idempotent', measure: 'rate', value: idempotent, unit: 'ev/s' });
    const consumer = await consumerPerf(BOOTSTRAP, main, events);
    record({ workload: 'active', system: 'consumer perf', measure: 'rate', value: consumer, unit: 'ev/s' });
  }
}

/** Keys paused, events buffered, then a mass resume: buffering rate, drain rate, time to empty. */
async function stormWorkload(workload: 'storm' | 'memory', keyCount: number, events: number): Promise<void> {
  const keys = Array.from({ length: keyCount }, (_, i) => `held-${i}`);
  progress(`${workload}: ${keyCount.toLocaleString('en-US')} keys paused, ${events.toLocaleString('en-US')} events buffered${workload === 'storm' ? ', then a mass resume' : ''}`);
  const main = await preloadMain(events, keys);
  for (const spec of specs(['event-pause', 'kstreams'])) {
    const name = systemName(spec);
    progress(` ${name}`);
    const topics = await flowTopics(main, keys);
    const launched = performance.now();
    const { running, sampler, stateDir, applicationId } = await start(spec, topics);
    let stopped = false;
    try {
      const readyAt = await running.ready;
      if (workload === 'memory') record({ workload, system: name, measure: 'time to ready', value: (readyAt - launched) / 1000, unit: 's' });
      const group = await GroupProgress.open(BOOTSTRAP, running.groupId, main, PARTITIONS);
      // Buffering: from the first committed input to the last.
      let first: number | undefined;
      let cpuFirst = 0;
      let last = 0;
      const { cpuSeconds } = await import('./proc.ts');
      for (let lastReport = Date.now(); ; await sleep(50)) {
        const done = await group.committed();
        if (first === undefined && done > 0) {
          first = performance.now();
          cpuFirst = cpuSeconds(running.pid) ?? 0;
        }
        if (done >= events) {
          last = performance.now();
          break;
        }
        if (Date.now() - lastReport > 10_000) {
          lastReport = Date.now();
          progress(`  ${name}: buffered ${done.toLocaleString('en-US')} of ${events.toLocaleString('en-US')}`);
        }
        if (running.pid && cpuSeconds(running.pid) === undefined) throw new Error(`${name} exited while buffering`);
      }
      const cpu = ((cpuSeconds(running.pid) ?? 0) - cpuFirst) / events;
      await group.close();
      record({ workload, system: name, measure: 'buffering', value: events / ((last - first!) / 1000), unit: 'ev/s', cpuMicros: cpu * 1e6, peakRssMb: mb(sampler.peakRss), peakAnonMb: mb(sampler.peakAnon) });
      if (workload === 'memory') {
        await sleep(5000);
        const steady = sampler.sample();
        record({ workload, system: name, measure: 'RssAnon holding them', value: mb(steady?.anonBytes ?? 0), unit: 'MB' });
        // A restart with the local state intact: time to ready with every key paused.
        await running.stop();
        stopped = true;
        sampler.stop();
        const again = performance.now();
        const second = await start(spec, topics, stateDir, applicationId);
        try {
          const readyAgain = await second.running.ready;
          await sleep(3000);
          const after = second.sampler.sample();
          record({ workload, system: name, measure: 'restart to ready', value: (readyAgain - again) / 1000, unit: 's', peakAnonMb: mb(after?.anonBytes ?? 0) });
        } finally {
          second.sampler.stop();
          await second.running.stop();
        }
        continue;
      }
      sampler.resetPeaks();
      const resumeAt = performance.now();
      await resumeAll(topics, keys);
      const window = await whileRunning(running, outputWindow(admin, topics.output, PARTITIONS, 0, events, running.pid, name));
      record({ workload, system: name, measure: 'drain', value: window.rate, unit: 'ev/s', cpuMicros: window.cpuMicros, peakRssMb: mb(sampler.peakRss), peakAnonMb: mb(sampler.peakAnon) });
      record({ workload, system: name, measure: 'resume to empty', value: (window.last - resumeAt) / 1000, unit: 's' });
    } finally {
      sampler.stop();
      if (!stopped) await running.stop();
    }
  }
}

/** ACTIVE-key latency, idle and while the paused 10% drain. */
async function mixedWorkload(): Promise<void> {
  const all = Array.from({ length: n(10_000) }, (_, i) => `mixed-${i}`);
  const held = all.filter((_, i) => i % 10 === 0);
  const active = all.filter((_, i) => i % 10 !== 0);
  const events = n(1_000_000);
  const rate = 500;
  progress(`mixed: ${held.length.toLocaleString('en-US')} of ${all.length.toLocaleString('en-US')} keys paused holding ${events.toLocaleString('en-US')} events; probe ${rate} ev/s on ACTIVE keys`);
  const main = await preloadMain(events, held);
  for (const spec of specs(['event-pause', 'kstreams'])) {
    const name = systemName(spec);
    progress(` ${name}`);
    const topics = await flowTopics(main, held);
    const { running, sampler } = await start(spec, topics);
    try {
      await running.ready;
      const group = await GroupProgress.open(BOOTSTRAP, running.groupId, main, PARTITIONS);
      await whileRunning(running, group.reach(events, `${name} buffering`));
      await group.close();
      const t0 = performance.now();
      const probe = await startProbe(BOOTSTRAP, main, topics.output, PARTITIONS, active.slice(0, 600), rate, t0);
      await sleep(15_000);
      const resumeAt = (performance.now() - t0) / 1000;
      const idle = probe.samples.filter((s) => s.t > 3 && s.t < resumeAt).map((s) => s.ms);
      await resumeAll(topics, held);
      // Drained when the output holds the held events and every probe event seen so far.
      let drainedAt = 0;
      for (;;) {
        const total = await endOffsets(admin, topics.output, PARTITIONS);
        if (total >= events + probe.samples.length) {
          drainedAt = (performance.now() - t0) / 1000;
          break;
        }
        await sleep(50);
      }
      const samples = await probe.stop();
      if (process.env.BENCH_SAMPLES) writeFileSync(process.env.BENCH_SAMPLES, JSON.stringify({ resumeAt, drainedAt, samples }));
      const during = samples.filter((s) => s.t >= resumeAt && s.t <= drainedAt).map((s) => s.ms);
      const sortedIdle = [...idle].sort((a, b) => a - b);
      const sortedDuring = [...during].sort((a, b) => a - b);
      for (const [q, label] of [[0.5, 'p50'], [0.99, 'p99'], [0.999, 'p999']] as const) {
        record({ workload: 'mixed', system: name, measure: `ACTIVE-key latency ${label} idle`, value: percentile(sortedIdle, q), unit: 'ms' });
        record({ workload: 'mixed', system: name, measure: `ACTIVE-key latency ${label} while draining`, value: percentile(sortedDuring, q), unit: 'ms' });
      }
      record({ workload: 'mixed', system: name, measure: 'ACTIVE-key latency max while draining (longest stall)', value: sortedDuring.at(-1) ?? NaN, unit: 'ms', peakAnonMb: mb(sampler.peakAnon) });
      record({ workload: 'mixed', system: name, measure: 'resume to empty', value: drainedAt - resumeAt, unit: 's' });
      // Rule 1 on the whole output: a fast system that reorders or loses is no comparison.
      const audit = await auditOrder(BOOTSTRAP, admin, topics.output, PARTITIONS);
      record({ workload: 'mixed', system: name, measure: 'audit: held events missing from the output', value: events - audit.distinct, unit: 'events' });
      record({ workload: 'mixed', system: name, measure: 'audit: events out of order (rule 1)', value: audit.outOfOrder, unit: 'events' });
      record({ workload: 'mixed', system: name, measure: 'audit: repeated events', value: audit.repeats, unit: 'events' });
      (series.latency ??= []).push({ label: name, points: samples.map((s) => ({ t: s.t, v: s.ms })) });
      (series.latencyMarks ??= []).push({ label: `${name} resume`, points: [{ t: resumeAt, v: 0 }] });
    } finally {
      sampler.stop();
      await running.stop();
    }
  }
}

/** kill -9 with events buffered; restart with the local state and without: time until ACTIVE keys flow again. */
async function restoreWorkload(): Promise<void> {
  const events = n(1_000_000);
  const held = Array.from({ length: n(1000) }, (_, i) => `kept-${i}`);
  const probeKeys = Array.from({ length: 60 }, (_, i) => `flowing-${i}`);
  progress(`restore: ${events.toLocaleString('en-US')} events buffered over ${held.length} paused keys, kill -9, restart`);
  const main = await preloadMain(events, held);
  for (const spec of specs(['event-pause', 'kstreams'])) {
    for (const keepState of [true, false]) {
      const name = systemName(spec);
      const label = keepState ? 'restart with its local store' : 'restart with the local store deleted';
      progress(` ${name}: ${label}`);
      const topics = await flowTopics(main, held);
      const first = await start(spec, topics);
      await first.running.ready;
      const group = await GroupProgress.open(BOOTSTRAP, first.running.groupId, main, PARTITIONS);
      await whileRunning(first.running, group.reach(events, `${name} buffering`));
      await group.close();
      await sleep(2000); // a checkpoint interval or two past the last commit
      await first.running.kill();
      first.sampler.stop();
      if (!keepState) rmSync(first.stateDir, { recursive: true, force: true });
      // The killed member holds its partitions until its session expires; wait that out so the
      // figure is the system's own restart and restore, not the group's failure detection.
      await sleep(SESSION_TIMEOUT_MS + 2000);
      const restartAt = performance.now();
      const second = await start(spec, topics, first.stateDir, first.applicationId);
      const probe = await startProbe(BOOTSTRAP, main, topics.output, PARTITIONS, probeKeys, 200, restartAt);
      try {
        for (let waited = 0; probe.samples.length === 0; waited += 20) {
          if (waited > 600_000) throw new Error(`${name}: nothing processed 600 s after the restart`);
          await sleep(20);
        }
        const resumed = Math.min(...probe.samples.map((s) => s.t * 1000 + s.ms)) / 1000;
        record({ workload: 'restore', system: name, measure: label, value: resumed, unit: 's', peakAnonMb: mb(second.sampler.peakAnon) });
      } finally {
        await probe.stop(10_000);
        second.sampler.stop();
        await second.running.stop();
      }
    }
  }
}

// ---- the table ----

function ratioTo(row: Row): string {
  if (row.unit !== 'ev/s') return '';
  const guarantee = row.system.includes('EOS') ? 'EOS' : row.system.includes('ALO') ? 'ALO' : undefined;
  const peer = rows.find((r) => r.workload === row.workload && r.measure === row.measure && guarantee !== undefined && r.system === `Kafka Streams ${guarantee} 1t`);
  if (row.system.startsWith('producer perf') || row.system.startsWith('consumer perf')) {
    return '';
  }
  return peer === undefined || peer === row ? '' : `${(row.value / peer.value).toFixed(2)}x`;
}

function printTable(): string {
  const lines = [
    '| workload | system | measure | value | CPU µs/event | peak RSS MB | peak RssAnon MB | vs Kafka Streams 1t (same guarantee) |',
    '| --- | --- | --- | --- | --- | --- | --- | --- |',
  ];
  for (const row of rows) {
    lines.push(`| ${row.workload} | ${row.system} | ${row.measure} | ${fmt(row.value, row.unit)} | ${row.cpuMicros?.toFixed(1) ?? ''} | ${row.peakRssMb ?? ''} | ${row.peakAnonMb ?? ''} | ${ratioTo(row)} |`);
  }
  // The issue's ratios, when both sides were measured.
  const get = (workload: string, system: string, measure = 'rate'): number | undefined => rows.find((r) => r.workload === workload && r.system === system && r.measure === measure)?.value;
  const derived: string[] = [];
  const eos = get('active', 'event-pause EOS');
  const alo = get('active', 'event-pause ALO');
  const txn = get('active', 'producer perf, transactions of 100 ms');
  if (eos !== undefined && txn !== undefined) derived.push(`event-pause exactly_once / transactional producer: ${(eos / txn).toFixed(2)}`);
  if (eos !== undefined && alo !== undefined) derived.push(`event-pause at_least_once / exactly_once: ${(alo / eos).toFixed(2)}`);
  return [...lines, '', ...derived.map((d) => `- ${d}`)].join('\n');
}

function writePlots(): void {
  mkdirSync(args.out!, { recursive: true });
  const bars = rows.filter((r) => r.unit === 'ev/s').map((r) => ({ group: `${r.workload}: ${r.measure}`, label: r.system, value: r.value }));
  if (bars.length > 0) writeFileSync(path.join(args.out!, 'throughput.svg'), barChart('Throughput per system (events/s, higher is better)', `npm run bench, ${new Date().toISOString().slice(0, 10)}`, bars));
  if (series.latency !== undefined) {
    const marks = (series.latencyMarks ?? []).map((m) => ({ t: m.points[0]!.t, label: m.label }));
    writeFileSync(path.join(args.out!, 'latency.svg'), timeChart('ACTIVE-key latency (ms, log scale; the worst sample per pixel) before and during a large drain', 'ms from produce to output', series.latency, true, marks));
  }
  writeFileSync(path.join(args.out!, 'results.json'), `${JSON.stringify({ date: new Date().toISOString(), machine: machine(), scale, rows }, null, 2)}\n`);
}

function machine(): string {
  const java = spawnSync('java', ['-version'], { encoding: 'utf8' });
  const javaVersion = java.error === undefined ? `${java.stderr}`.split('\n')[0] : 'no java';
  return `${cpus().length} cores (${cpus()[0]?.model ?? '?'}), ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}, ${javaVersion}`;
}

// ---- main ----

async function ensurePeer(): Promise<void> {
  if (!systems.has('kstreams')) return;
  try {
    execFileSync('bash', [path.join(ROOT, 'bench/kstreams/build.sh')], { stdio: ['ignore', 'inherit', 'inherit'] });
  } catch {
    progress(`the Kafka Streams peer could not be built (Java 17 and Maven needed): it is left out of this run`);
    systems.delete('kstreams');
    return;
  }
  progress(`Kafka Streams peer: ${PEER_JAR}`);
}

async function main(): Promise<void> {
  const started = Date.now();
  await ensurePeer();
  progress(`run folder ${runDir}; broker ${BOOTSTRAP}; scale ${scale}`);
  try {
    for (const workload of workloads as Workload[]) {
      switch (workload) {
        case 'active':
          await activeWorkload();
          break;
        case 'storm':
          await stormWorkload('storm', n(100_000), n(10_000_000));
          break;
        case 'mixed':
          await mixedWorkload();
          break;
        case 'restore':
          await restoreWorkload();
          break;
        case 'memory':
          await stormWorkload('memory', n(1_000_000), n(10_000_000));
          break;
      }
    }
  } finally {
    await admin.disconnect();
    const table = printTable();
    console.log(`\nevent-pause benchmark, broker ${BOOTSTRAP}, ${machine()}, ${new Date().toISOString()}, scale ${scale}, ${((Date.now() - started) / 1000).toFixed(0)} s\n`);
    console.log(table);
    writePlots();
    console.log(`\nplots and results.json in ${args.out}; process logs in ${logDir}`);
  }
}

await main();
