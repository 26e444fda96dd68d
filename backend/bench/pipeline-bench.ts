/**
 * Processor throughput and latency on the local broker, each figure beside a baseline measured in
 * the same run (a raw consume -> produce pipe with the same Kafka client and producer settings):
 *
 *   npm run bench:pipeline -- [--active N] [--drain M] [--guarantee exactly_once|at_least_once|both]
 *                             [--active-only] [--cpu-prof-dir DIR]
 *
 * Per guarantee:
 *   1. active path: N events over 1000 ACTIVE keys, 6 partitions. Raw pipe vs the processor.
 *   2. large buffer: M events of one PAUSED key. The processor buffers them (lmdb + changelog),
 *      then a resume drains them; both rates beside the raw pipe over the same single partition.
 *   3. latency of active keys (another partition, same instance) sent every 20 ms: idle, and
 *      while the M-event drain runs (p50 / p99 / max, ms from produce to read_committed output).
 *
 * Rates are measured the same way for pipe and processor: from the moment the consumer group
 * hands over the partitions until the sink's read_committed end offsets account for every record.
 * Pipe and processor run in this process, one after the other: the CPU column is this process's
 * CPU time (user + system, every thread: librdkafka's included) over the same window, per event.
 * --cpu-prof-dir writes a V8 CPU profile of each run on the active path, processor and pipe (the same
 * profiler as `node --cpu-prof`); bench/profile-summary.ts prints its top self-time functions.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { loadSettings, type ProcessingGuarantee } from '../src/config/config.ts';
import { type ClientAdmin, type ClientConfig, ClientConsumer, ClientProducer, isQueueFull, type TopicPartition } from '../src/engines/kafka/client.ts';
import { KafkaEngine } from '../src/engines/kafka/kafka-engine.ts';
import { encodeEvent, encodeStatus, RESUME_COMMAND } from '../src/model/wire.ts';
import { partitionForKey } from '../src/runtime/partitioner.ts';
import { BROKERS, CLIENT, connectAdmin, createTopics, newFlow, randomId, sleep, type TestFlow } from '../test/kafka/support.ts';

const { values: args } = parseArgs({
  options: {
    active: { type: 'string', default: '1000000' },
    drain: { type: 'string', default: '1000000' },
    guarantee: { type: 'string', default: 'both' },
    'active-only': { type: 'boolean', default: false },
    'cpu-prof-dir': { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (args.help) {
  console.log('usage: npm run bench:pipeline -- [--active N=1000000] [--drain M=1000000] [--guarantee exactly_once|at_least_once|both]');
  console.log('                                [--active-only] [--cpu-prof-dir DIR]');
  console.log('  --active-only       only the active path (no large buffer, no latency probe)');
  console.log('  --cpu-prof-dir DIR  V8 CPU profiles of the active path: DIR/<guarantee>-active.cpuprofile (processor), -pipe (raw pipe)');
  console.log('                      (node backend/bench/profile-summary.ts FILE prints the top self-time functions)');
  console.log('the CPU column is process CPU time (user + system, all threads) per event over the measured window');
  console.log(`needs a broker at KAFKA_BROKERS (default ${BROKERS}); scripts/start_infra.sh starts one`);
  process.exit(0);
}
const ACTIVE_EVENTS = positive('--active', args.active);
const DRAIN_EVENTS = positive('--drain', args.drain);
const GUARANTEES: ProcessingGuarantee[] =
  args.guarantee === 'both' ? ['exactly_once', 'at_least_once'] : [guarantee(args.guarantee)];
const PARTITIONS = 6;
const ACTIVE_KEYS = 1000;
const COMMIT_INTERVAL_MS = 100;
const PROBE_EVERY_MS = 20;
const ACTIVE_ONLY = args['active-only'] === true;
const CPU_PROF_DIR = args['cpu-prof-dir'] === undefined ? undefined : path.resolve(args['cpu-prof-dir']);
if (CPU_PROF_DIR !== undefined) mkdirSync(CPU_PROF_DIR, { recursive: true });

/** The processor's producer settings (flow-member.ts), so that the pipe is a like-for-like baseline. */
const PRODUCER: ClientConfig = {
  ...CLIENT,
  partitioner: 'murmur2_random',
  'enable.idempotence': true,
  'linger.ms': 5,
  'queue.buffering.max.messages': 500_000,
  'batch.num.messages': 10_000,
  'queue.buffering.max.kbytes': 32 * 1024,
};
const silent = pino({ level: 'warn' });
const stateRoot = mkdtempSync(path.join(tmpdir(), 'ep-bench-'));

function positive(name: string, raw: string | undefined): number {
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value < 1) throw new Error(`${name} needs a positive integer, got ${raw}`);
  return value;
}

function guarantee(raw: string | undefined): ProcessingGuarantee {
  if (raw === 'exactly_once' || raw === 'at_least_once') return raw;
  throw new Error(`--guarantee must be exactly_once, at_least_once or both, got ${raw}`);
}

/** Process CPU seconds (user + system) since start. */
function cpuSeconds(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1e6;
}

/** A V8 CPU profile of this process while `run` runs, written to `file` (the profiler of `node --cpu-prof`). */
async function profiled<T>(file: string | undefined, run: () => Promise<T>): Promise<T> {
  if (file === undefined) return run();
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.start');
  try {
    return await run();
  } finally {
    const { profile } = await session.post('Profiler.stop');
    writeFileSync(file, JSON.stringify(profile));
    session.disconnect();
    progress(`  CPU profile: ${file}`);
  }
}

function progress(message: string): void {
  process.stderr.write(`[bench] ${message}\n`);
}

const eventValue = (i: number): Buffer =>
  encodeEvent({ id: `evt-${i}`, data: { amount: 12.5, currency: 'EUR', note: 'benchmark event payload' }, timestamp: 1_700_000_000_000 + i });

/** Writes `count` events fast (pipelined, idempotent producer): order per key holds. */
async function preload(topic: string, count: number, keyOf: (i: number) => string): Promise<void> {
  const producer = new ClientProducer({ ...PRODUCER, 'client.id': 'bench-preload', 'linger.ms': 20 });
  await producer.connect();
  const started = performance.now();
  for (let i = 0; i < count; i++) {
    for (;;) {
      try {
        producer.produce(topic, undefined, Buffer.from(keyOf(i)), eventValue(i), Date.now(), []);
        break;
      } catch (error) {
        if (!isQueueFull(error)) throw error;
        producer.poll();
        await sleep(2);
      }
    }
    if ((i + 1) % 250_000 === 0) progress(`  preloaded ${i + 1} of ${count}`);
  }
  await producer.flush(120_000);
  await producer.disconnect();
  progress(`  preloaded ${count} events into ${topic} in ${((performance.now() - started) / 1000).toFixed(1)} s`);
}

/** Resolves when the read_committed end offsets of `topic` sum to at least `count`. */
async function committedCount(admin: ClientAdmin, topic: string, partitions: number, count: number, timeoutMs = 600_000): Promise<number> {
  const all: TopicPartition[] = Array.from({ length: partitions }, (_, partition) => ({ topic, partition }));
  const deadline = Date.now() + timeoutMs;
  let lastReport = Date.now();
  for (;;) {
    const ends = await admin.listOffsets(all, 'latest', true);
    const total = ends.reduce((sum, end) => sum + Math.max(0, end.offset), 0);
    if (total >= count) return performance.now();
    if (Date.now() > deadline) throw new Error(`${topic}: ${total} of ${count} records after ${timeoutMs} ms`);
    if (Date.now() - lastReport > 5000) {
      lastReport = Date.now();
      progress(`  ${topic}: ${total} of ${count}`);
    }
    await sleep(25);
  }
}

/**
 * The baseline: consume `source`, produce every record unchanged to `sink`, commit every 100 ms:
 * a transaction with the offsets under exactly_once, flush then commit under at_least_once.
 * Returns events per second.
 */
async function rawPipe(admin: ClientAdmin, source: string, sink: string, count: number, mode: ProcessingGuarantee): Promise<Measured> {
  const exactlyOnce = mode === 'exactly_once';
  let startedAt: number | undefined;
  let cpuAtStart = 0;
  const consumer = new ClientConsumer(
    {
      ...CLIENT,
      'group.id': randomId('bench-pipe'),
      'client.id': 'bench-pipe',
      'partition.assignment.strategy': 'range',
      'isolation.level': 'read_committed',
      'enable.auto.offset.store': false,
    },
    (kind, partitions) => {
      if (kind === 'assign') {
        consumer.assign(partitions);
        if (startedAt === undefined) {
          startedAt = performance.now();
          cpuAtStart = cpuSeconds();
        }
      } else consumer.unassign();
    },
  );
  const producer = new ClientProducer({
    ...PRODUCER,
    'client.id': 'bench-pipe',
    // at_least_once: failed deliveries only are reported, as the processor's producer (guarantees.ts).
    ...(exactlyOnce ? { 'transactional.id': randomId('bench-pipe-tx'), 'transaction.timeout.ms': 10_000 } : { dr_cb: true, 'delivery.report.only.error': true }),
  });
  await producer.connect();
  if (exactlyOnce) {
    await producer.initTransactions();
    await producer.beginTransaction();
  }
  await consumer.connect();
  consumer.subscribe([source]);
  const offsets = new Map<number, { topic: string; partition: number; offset: number }>();
  let consumed = 0;
  let lastCommit = performance.now();
  const commit = async (): Promise<void> => {
    const list = [...offsets.values()];
    if (exactlyOnce) {
      if (list.length > 0) await producer.sendOffsets(list, consumer);
      await producer.commitTransaction();
      await producer.beginTransaction();
    } else {
      await producer.flush();
      if (list.length > 0) await consumer.commit(list);
    }
    offsets.clear();
    lastCommit = performance.now();
  };
  const done = committedCount(admin, sink, PARTITIONS, count);
  while (consumed < count) {
    const { messages } = await consumer.consume(2000, 50);
    for (const message of messages) {
      const key = message.key === null || message.key === undefined ? null : Buffer.isBuffer(message.key) ? message.key : Buffer.from(message.key);
      for (;;) {
        try {
          producer.produce(sink, undefined, key, message.value, message.timestamp ?? Date.now(), []);
          break;
        } catch (error) {
          if (!isQueueFull(error)) throw error;
          producer.poll();
          await sleep(2);
        }
      }
      offsets.set(message.partition, { topic: message.topic, partition: message.partition, offset: message.offset + 1 });
      consumed++;
    }
    if (performance.now() - lastCommit >= COMMIT_INTERVAL_MS) await commit();
  }
  await commit();
  const finishedAt = await done;
  const cpu = cpuSeconds() - cpuAtStart;
  await consumer.disconnect();
  await producer.disconnect();
  return { rate: count / ((finishedAt - startedAt!) / 1000), cpuMicros: (cpu / count) * 1e6 };
}

interface Measured {
  /** Events per second. */
  readonly rate: number;
  /** Process CPU time per event, µs. */
  readonly cpuMicros: number;
}

async function startEngine(test: TestFlow, mode: ProcessingGuarantee): Promise<KafkaEngine> {
  const settings = loadSettings({
    EVENT_PAUSE_CONFIG: test.configFile,
    KAFKA_BROKERS: BROKERS,
    PROCESSING_GUARANTEE: mode,
    COMMIT_INTERVAL_MS: String(COMMIT_INTERVAL_MS),
    STATE_DIR: mkdtempSync(path.join(stateRoot, 'state-')),
  });
  const engine = new KafkaEngine(settings, { logger: silent, instanceId: randomId('bench') });
  await engine.start();
  return engine;
}

/**
 * Sends a probe event every 20 ms to keys of `partition` until `until` settles, and returns each
 * probe's latency (ms from produce to its read_committed arrival on the output topic). Only that
 * output partition is read, so records drained to other partitions cost the probe nothing.
 */
async function probeLatency(admin: ClientAdmin, test: TestFlow, partition: number, until: Promise<unknown>): Promise<number[]> {
  const keys: string[] = [];
  for (let i = 0; keys.length < 10; i++) if (partitionForKey(`probe-${i}`, PARTITIONS) === partition) keys.push(`probe-${i}`);
  const output = test.flow.topics.output;
  const [end] = await admin.listOffsets([{ topic: output, partition }], 'latest', false);
  const consumer = new ClientConsumer({ ...CLIENT, 'group.id': randomId('bench-probe'), 'isolation.level': 'read_committed' });
  await consumer.connect();
  consumer.assign([{ topic: output, partition, offset: Math.max(0, end?.offset ?? 0) }]);
  const producer = new ClientProducer({ ...CLIENT, 'client.id': 'bench-probe', partitioner: 'murmur2_random', 'linger.ms': 0 });
  await producer.connect();

  const runId = randomId('probe');
  const sentAt = new Map<string, number>();
  const latencies: number[] = [];
  let stopped = false;
  void until.finally(() => (stopped = true));
  const reader = (async () => {
    let lastSend = performance.now();
    while (!stopped || (sentAt.size > 0 && performance.now() - lastSend < 30_000)) {
      const { messages } = await consumer.consume(1000, 50);
      const now = performance.now();
      for (const message of messages) {
        const id = (JSON.parse(message.value!.toString()) as { id: string }).id;
        const sent = sentAt.get(id);
        if (sent === undefined) continue;
        sentAt.delete(id);
        latencies.push(now - sent);
      }
      if (!stopped) lastSend = now;
    }
  })();
  for (let n = 0; !stopped; n++) {
    const id = `${runId}-${n}`;
    sentAt.set(id, performance.now());
    producer.produce(test.flow.topics.main, undefined, Buffer.from(keys[n % keys.length]!), encodeEvent({ id, data: null }), Date.now(), []);
    await sleep(PROBE_EVERY_MS);
  }
  await reader;
  if (sentAt.size > 0) throw new Error(`${sentAt.size} probe events never reached the output`);
  await consumer.disconnect();
  await producer.disconnect();
  return latencies;
}

function percentiles(values: readonly number[]): { p50: number; p99: number; max: number; n: number } {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
  return { p50: at(0.5), p99: at(0.99), max: sorted.at(-1) ?? NaN, n: sorted.length };
}

const rows: string[] = [];
function row(guaranteeName: string, what: string, processor: string, baseline: string, ratio: string, cpu?: { processor: number; baseline: number }): void {
  const cpuCells = cpu === undefined ? '| | |' : `| ${micros(cpu.processor)} | ${micros(cpu.baseline)} |`;
  rows.push(`| ${guaranteeName} | ${what} | ${processor} | ${baseline} | ${ratio} ${cpuCells}`);
}
const micros = (value: number): string => `${value.toFixed(1)} µs`;
const rate = (value: number): string => `${Math.round(value).toLocaleString('en-US')} ev/s`;
const ms = (value: number): string => `${value.toFixed(0)} ms`;

async function activePath(admin: ClientAdmin, mode: ProcessingGuarantee): Promise<void> {
  progress(`${mode}: active path, ${ACTIVE_EVENTS} events over ${ACTIVE_KEYS} keys, ${PARTITIONS} partitions`);
  const test = newFlow(PARTITIONS);
  await createTopics(admin, test.flow);
  const pipeSink = `${test.flow.topics.output}-pipe`;
  await admin.createTopics([{ name: pipeSink, partitions: PARTITIONS }]);
  await preload(test.flow.topics.main, ACTIVE_EVENTS, (i) => `key-${i % ACTIVE_KEYS}`);

  const pipeProfile = CPU_PROF_DIR === undefined ? undefined : path.join(CPU_PROF_DIR, `${mode}-pipe.cpuprofile`);
  const pipe = await profiled(pipeProfile, () => rawPipe(admin, test.flow.topics.main, pipeSink, ACTIVE_EVENTS, mode));
  progress(`  raw pipe: ${rate(pipe.rate)}, ${micros(pipe.cpuMicros)} CPU/event`);
  const profile = CPU_PROF_DIR === undefined ? undefined : path.join(CPU_PROF_DIR, `${mode}-active.cpuprofile`);
  const { processor, cpuMicros } = await profiled(profile, async () => {
    // The window of the rate: from the engine's start (its flows joining their groups) to the last record.
    const engine = await startEngine(test, mode);
    const started = performance.now();
    const cpuAtStart = cpuSeconds();
    const finished = await committedCount(admin, test.flow.topics.output, PARTITIONS, ACTIVE_EVENTS);
    const cpu = cpuSeconds() - cpuAtStart;
    const { commits, commitLatenciesMs } = engine.metrics();
    const latency = percentiles(commitLatenciesMs);
    progress(`  ${commits} commits, commit p50 ${ms(latency.p50)} p99 ${ms(latency.p99)} max ${ms(latency.max)} (last ${latency.n})`);
    await engine.stop();
    return { processor: ACTIVE_EVENTS / ((finished - started) / 1000), cpuMicros: (cpu / ACTIVE_EVENTS) * 1e6 };
  });
  progress(`  processor: ${rate(processor)}, ${micros(cpuMicros)} CPU/event`);
  row(mode, `active path, ${ACTIVE_EVENTS.toLocaleString('en-US')} events`, rate(processor), rate(pipe.rate), (processor / pipe.rate).toFixed(2), {
    processor: cpuMicros,
    baseline: pipe.cpuMicros,
  });
}

async function largeBuffer(admin: ClientAdmin, mode: ProcessingGuarantee): Promise<void> {
  progress(`${mode}: one key with ${DRAIN_EVENTS} buffered events`);
  const test = newFlow(PARTITIONS);
  await createTopics(admin, test.flow);
  const pipeSink = `${test.flow.topics.output}-pipe`;
  await admin.createTopics([{ name: pipeSink, partitions: PARTITIONS }]);
  const hot = 'hot-key';
  const hotPartition = partitionForKey(hot, PARTITIONS);
  const probePartition = (hotPartition + 1) % PARTITIONS;
  const control = new ClientProducer({ ...CLIENT, 'client.id': 'bench-control', dr_cb: true });
  await control.connect();
  await control.send(test.flow.topics.status, undefined, Buffer.from(hot), encodeStatus('PAUSED'), undefined, []);
  await preload(test.flow.topics.main, DRAIN_EVENTS, () => hot);

  const { rate: pipe } = await rawPipe(admin, test.flow.topics.main, pipeSink, DRAIN_EVENTS, mode);
  progress(`  raw pipe (one partition): ${rate(pipe)}`);

  const engine = await startEngine(test, mode);
  const bufferStarted = performance.now();
  for (let lastReport = Date.now(); ; await sleep(25)) {
    const buffered = engine.metrics().flows[0]!.bufferedEvents;
    if (buffered >= DRAIN_EVENTS) break;
    if (Date.now() - lastReport > 5000) {
      lastReport = Date.now();
      progress(`  buffered ${buffered} of ${DRAIN_EVENTS}`);
    }
  }
  // The buffered count moves as records are processed; the changelog writes commit with them.
  const bufferFinished = await committedCount(admin, test.flow.topics.changelog, PARTITIONS, DRAIN_EVENTS);
  const buffering = DRAIN_EVENTS / ((bufferFinished - bufferStarted) / 1000);
  progress(`  buffering: ${rate(buffering)}`);

  const idle = percentiles(await probeLatency(admin, test, probePartition, sleep(5000)));
  progress(`  idle latency p50 ${ms(idle.p50)} p99 ${ms(idle.p99)} (${idle.n} probes)`);

  await control.send(test.flow.topics.status, undefined, Buffer.from(hot), encodeStatus('ACTIVE'), undefined, []);
  await control.send(test.flow.topics.trigger, undefined, Buffer.from(hot), RESUME_COMMAND, undefined, []);
  const drainStarted = performance.now();
  const drained = committedCountOfPartition(admin, test.flow.topics.output, hotPartition, DRAIN_EVENTS);
  const busy = percentiles(await probeLatency(admin, test, probePartition, drained));
  const drainFinished = await drained;
  const draining = DRAIN_EVENTS / ((drainFinished - drainStarted) / 1000);
  await engine.stop();
  await control.disconnect();
  progress(`  drain: ${rate(draining)}; latency during it p50 ${ms(busy.p50)} p99 ${ms(busy.p99)} (${busy.n} probes)`);

  const size = DRAIN_EVENTS.toLocaleString('en-US');
  row(mode, `buffering ${size} events of one paused key`, rate(buffering), rate(pipe), (buffering / pipe).toFixed(2));
  row(mode, `draining ${size} buffered events`, rate(draining), rate(pipe), (draining / pipe).toFixed(2));
  row(mode, 'active-key latency p50 during the drain', ms(busy.p50), `${ms(idle.p50)} idle`, (busy.p50 / idle.p50).toFixed(2));
  row(mode, 'active-key latency p99 during the drain', ms(busy.p99), `${ms(idle.p99)} idle`, (busy.p99 / idle.p99).toFixed(2));
  row(mode, 'active-key latency max during the drain', ms(busy.max), `${ms(idle.max)} idle`, (busy.max / idle.max).toFixed(2));
}

async function committedCountOfPartition(admin: ClientAdmin, topic: string, partition: number, count: number): Promise<number> {
  const deadline = Date.now() + 600_000;
  let lastReport = Date.now();
  for (;;) {
    const [end] = await admin.listOffsets([{ topic, partition }], 'latest', true);
    if ((end?.offset ?? 0) >= count) return performance.now();
    if (Date.now() > deadline) throw new Error(`${topic}[${partition}]: ${end?.offset} of ${count} after 600 s`);
    if (Date.now() - lastReport > 5000) {
      lastReport = Date.now();
      progress(`  drained ${end?.offset ?? 0} of ${count}`);
    }
    await sleep(25);
  }
}

async function main(): Promise<void> {
  const admin = await connectAdmin();
  const started = Date.now();
  try {
    for (const mode of GUARANTEES) {
      await activePath(admin, mode);
      if (!ACTIVE_ONLY) await largeBuffer(admin, mode);
    }
  } finally {
    admin.disconnect();
    rmSync(stateRoot, { recursive: true, force: true });
  }
  console.log(`\nevent-pause benchmark, Kafka at ${BROKERS}, Node ${process.version}, ${new Date().toISOString()} (${((Date.now() - started) / 1000).toFixed(0)} s)`);
  console.log('\n| guarantee | measure | processor | baseline (same run) | ratio | processor CPU/event | baseline CPU/event |');
  console.log('| --- | --- | --- | --- | --- | --- | --- |');
  for (const line of rows) console.log(line);
  console.log('\nbaseline for rates: raw consume -> produce pipe, same client and producer settings, same commit interval');
  console.log('baseline for latency: the same probe with no drain running');
  console.log('CPU/event: this process (pipe or processor, one at a time), user + system time over the measured window');
}

await main();
