/**
 * Smoke check of the Kafka Streams peer on a local broker (KAFKA_BROKERS, default 127.0.0.1:9092),
 * with fresh topics it deletes afterwards:
 *
 *   node_modules/.bin/node bench/kstreams/check.ts [--guarantee G] [--layout L] [--held N] [--xmx SIZE] [--keep]
 *
 * 1. builds the jar if needed (build.sh), starts the peer (-Xmx256m) and waits for READY;
 * 2. events for ACTIVE keys; key `paused` and key `stranded` are paused through the status topic
 *    as our service writes a pause ("PAUSED", headers ep-reason / ep-actor); events for them;
 * 3. checks that no event of theirs written after the pause has come out;
 * 4. resumes `paused` as our service does (ACTIVE, then {"action":"RESUME"} on the trigger topic
 *    naming the ACTIVE record's offset in ep-status-offset), and `stranded` with the status alone
 *    (no command: the punctuator must find its events); more events for both right after;
 * 5. reads the whole output (read_committed) and checks, per key: every event once, in the order
 *    written, headers kept; then SIGTERM, which must end the peer with exit code 0.
 *
 * Prints PASS or FAIL (with what went wrong); exit code 0 / 1.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { ClientAdmin, ClientConsumer, ClientProducer, isQueueFull } from '../../backend/src/engines/kafka/client.ts';
import { GroupProgress } from '../../backend/bench/compare/measure.ts';
import { encodeEvent, encodeStatus, HEADERS, RESUME_COMMAND } from '../../backend/src/model/wire.ts';

const { values: args } = parseArgs({
  options: {
    guarantee: { type: 'string', default: 'exactly_once' },
    layout: { type: 'string', default: 'seq' },
    held: { type: 'string', default: '300' },
    xmx: { type: 'string', default: '256m' },
    keep: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (args.help) {
  console.log(`usage: node_modules/.bin/node bench/kstreams/check.ts [options]

  --guarantee G   exactly_once (default) or at_least_once
  --layout L      seq (default) or list (--buffer-layout)
  --held N        events written for each of the two paused keys while paused (default 300;
                  500000 holds 1,000,000 buffered events)
  --xmx SIZE      the peer's -Xmx (default 256m)
  --keep          keep the topics`);
  process.exit(0);
}

const BOOTSTRAP = process.env.KAFKA_BROKERS ?? '127.0.0.1:9092';
const PARTITIONS = 3;
const ACTIVE_KEYS = Array.from({ length: 20 }, (_, i) => `active-${i}`);
const HELD = Number(args.held);
if (!Number.isInteger(HELD) || HELD < 1) throw new Error(`--held takes a positive integer, got ${args.held}`);
/** Extra time for big runs: about 20,000 events a second at least. */
const slack = (ms: number): number => ms + HELD / 10;
const PAUSED = 'paused';
const STRANDED = 'stranded';
const run = randomBytes(3).toString('hex');
const topics = { input: `kscheck-${run}-in`, trigger: `kscheck-${run}-resume`, status: `kscheck-${run}-status`, output: `kscheck-${run}-out` };
const applicationId = `kscheck-${run}`;
const stateDir = mkdtempSync(path.join(tmpdir(), 'kscheck-'));
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const log = (message: string): void => void process.stderr.write(`[check ${new Date().toISOString().slice(11, 19)}] ${message}\n`);

/** Per key, the sequence numbers written so far, in order. */
const written = new Map<string, number[]>();
const problems: string[] = [];
const admin = new ClientAdmin({ 'bootstrap.servers': BOOTSTRAP, 'client.id': 'kscheck-admin' });
const producer = new ClientProducer({ 'bootstrap.servers': BOOTSTRAP, 'client.id': 'kscheck', 'enable.idempotence': true, 'linger.ms': 5, dr_cb: true });
let peer: ChildProcess | undefined;
let peerExit: Promise<number | null> | undefined;

function event(key: string): void {
  const list = written.get(key) ?? [];
  const n = list.length;
  list.push(n);
  written.set(key, list);
  const value = encodeEvent({ id: `${key}#${n}`, data: { key, n }, timestamp: Date.now() });
  for (;;) {
    try {
      producer.produce(topics.input, undefined, Buffer.from(key), value, Date.now(), [{ key: 'check-seq', value: Buffer.from(String(n)) }]);
      return;
    } catch (error) {
      if (!isQueueFull(error)) throw error;
      producer.poll();
    }
  }
}

async function events(keys: readonly string[], perKey: number): Promise<void> {
  for (let i = 0; i < perKey; i++) {
    for (const key of keys) event(key);
    if (i % 10_000 === 9_999) await producer.flush(60_000);
  }
  await producer.flush(60_000);
}

const meta = [
  { key: HEADERS.reason, value: Buffer.from('smoke check') },
  { key: HEADERS.actor, value: Buffer.from('check.ts') },
];

/** As ControlPlane.pause / resume write them (backend/src/api/control-plane.ts). */
async function pause(key: string): Promise<void> {
  await producer.send(topics.status, undefined, Buffer.from(key), encodeStatus('PAUSED'), undefined, meta);
}
async function resume(key: string, command: boolean): Promise<void> {
  const at = await producer.send(topics.status, undefined, Buffer.from(key), encodeStatus('ACTIVE'), undefined, meta);
  if (command) {
    await producer.send(topics.trigger, undefined, Buffer.from(key), RESUME_COMMAND, undefined, [...meta, { key: HEADERS.statusOffset, value: Buffer.from(String(at.offset)) }]);
  }
}

interface Out {
  key: string;
  n: number;
  header: string | undefined;
}

/** The whole read_committed output, partition by partition (a key's records are in one partition). */
async function readOutput(): Promise<Out[]> {
  const ends = await admin.listOffsets(
    Array.from({ length: PARTITIONS }, (_, partition) => ({ topic: topics.output, partition })),
    'latest',
    true,
  );
  const open = new Map(ends.filter((end) => end.offset > 0).map((end) => [end.partition, end.offset]));
  const consumer = new ClientConsumer({ 'bootstrap.servers': BOOTSTRAP, 'group.id': `kscheck-read-${run}`, 'isolation.level': 'read_committed', 'enable.auto.commit': false, 'enable.partition.eof': true });
  await consumer.connect();
  consumer.assign([...open.keys()].map((partition) => ({ topic: topics.output, partition, offset: 0 })));
  const out: Out[] = [];
  try {
    const deadline = Date.now() + slack(60_000);
    while (open.size > 0) {
      if (Date.now() > deadline) throw new Error('reading the output took too long');
      const { messages, eofs } = await consumer.consume(10_000, 200);
      for (const eof of eofs) if (eof.offset >= (open.get(eof.partition) ?? 0)) open.delete(eof.partition);
      for (const message of messages) {
        if (message.offset + 1 >= (open.get(message.partition) ?? Infinity)) open.delete(message.partition);
        const value = JSON.parse(message.value!.toString()) as { id: string; data: { key: string; n: number } };
        const header = message.headers.find((h) => h.key === 'check-seq')?.value.toString();
        out.push({ key: message.key!.toString(), n: value.data.n, header });
        if (value.id !== `${value.data.key}#${value.data.n}` || value.data.key !== message.key!.toString()) problems.push(`a record changed on its way: key ${message.key} value ${message.value}`);
      }
    }
  } finally {
    await consumer.disconnect();
  }
  return out;
}

async function committedOutput(): Promise<number> {
  const ends = await admin.listOffsets(
    Array.from({ length: PARTITIONS }, (_, partition) => ({ topic: topics.output, partition })),
    'latest',
    true,
  );
  return ends.reduce((sum, end) => sum + Math.max(0, end.offset), 0);
}

async function waitForOutput(count: number, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const now = await committedOutput();
    if (now >= count || Date.now() > deadline) return now;
    await sleep(200);
  }
}

function startPeer(): Promise<void> {
  const jar = execFileSync('bash', [path.join(import.meta.dirname, 'build.sh')], { stdio: ['ignore', 'pipe', 'inherit'] }).toString().trim().split('\n').at(-1)!;
  const child = spawn(
    'java',
    [`-Xmx${args.xmx}`, '-jar', jar, '--bootstrap', BOOTSTRAP, '--application-id', applicationId, '--input', topics.input, '--trigger', topics.trigger, '--status', topics.status, '--output', topics.output, '--guarantee', args.guarantee!, '--buffer-layout', args.layout!, '--state-dir', stateDir, '--drain-continue-ms', '1', '--prop', 'session.timeout.ms=10000', '--prop', 'heartbeat.interval.ms=2500'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  peer = child;
  peerExit = new Promise((resolve) => child.once('exit', (code, signal) => resolve(code ?? (signal === null ? null : -1))));
  child.stderr!.on('data', (chunk: Buffer) => process.stderr.write(`[peer] ${chunk.toString()}`));
  return new Promise((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(() => reject(new Error('the peer printed no READY within 120 s')), 120_000);
    child.stdout!.on('data', (chunk: Buffer) => {
      seen += chunk.toString();
      if (/^READY$/m.test(seen)) {
        clearTimeout(timer);
        resolve();
      }
    });
    void peerExit!.then((code) => {
      clearTimeout(timer);
      reject(new Error(`the peer exited (${code}) before READY`));
    });
  });
}

/** The peer's peak resident memory so far. */
function memory(): string {
  try {
    const status = readFileSync(`/proc/${peer!.pid}/status`, 'utf8');
    const kb = (name: string): number => Number(new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? NaN);
    return `VmHWM ${Math.round(kb('VmHWM') / 1024)} MB, RssAnon ${Math.round(kb('RssAnon') / 1024)} MB`;
  } catch {
    return 'memory: n/a';
  }
}

async function main(): Promise<void> {
  await producer.connect();
  await admin.createTopics([
    { name: topics.input, partitions: PARTITIONS },
    { name: topics.trigger, partitions: PARTITIONS },
    { name: topics.status, partitions: PARTITIONS, config: { 'cleanup.policy': 'compact' } },
    { name: topics.output, partitions: PARTITIONS },
  ]);
  for (const deadline = Date.now() + 30_000; ; await sleep(100)) {
    const infos = await admin.describeTopics(Object.values(topics));
    if (infos.every((t) => t.partitions !== undefined)) break;
    if (Date.now() > deadline) throw new Error('topics not visible after 30 s');
  }
  log(`topics kscheck-${run}-*; starting the peer (${args.guarantee}, ${args.layout} layout)`);
  await startPeer();
  log('peer READY');

  // 1. Everything ACTIVE.
  await events([...ACTIVE_KEYS, PAUSED, STRANDED], 50);
  const before = 22 * 50;
  if ((await waitForOutput(before, 30_000)) < before) problems.push(`ACTIVE events: fewer than ${before} out after 30 s`);

  // 2. Pause two keys; the global store learns it asynchronously, so give it a moment.
  await pause(PAUSED);
  await pause(STRANDED);
  await sleep(3000);
  await events([PAUSED, STRANDED], HELD);
  await events(ACTIVE_KEYS, 50);

  // 3. Held: only the ACTIVE keys' new events come out.
  const activeTotal = before + ACTIVE_KEYS.length * 50;
  await waitForOutput(activeTotal, slack(30_000));
  await sleep(2500); // a paused key's event, if it leaked, has had time to come out too
  const held = await readOutput();
  for (const key of [PAUSED, STRANDED]) {
    const leaked = held.filter((o) => o.key === key && o.n >= 50).length;
    if (leaked > 0) problems.push(`${key}: ${leaked} events written while PAUSED came out before the resume`);
  }
  if (held.length !== activeTotal) problems.push(`before the resume: ${held.length} records out, expected ${activeTotal}`);
  if (problems.length === 0) log(`held: ${held.length} records out, none of the paused keys' ${2 * HELD} since the pause`);

  // Everything written so far taken in (buffered or out) before the resume: the peer holds them all.
  const group = await GroupProgress.open(BOOTSTRAP, applicationId, topics.input, PARTITIONS);
  try {
    const writtenSoFar = [...written.values()].reduce((sum, list) => sum + list.length, 0);
    await group.reach(writtenSoFar, 'the peer taking in the input', slack(60_000));
  } finally {
    await group.close();
  }
  log(`${(2 * HELD).toLocaleString('en-US')} events held; peer ${memory()}`);

  // 4. Resume: `paused` with a command (as our service), `stranded` with the status only.
  await resume(PAUSED, true);
  await resume(STRANDED, false);
  await events([PAUSED, STRANDED, ...ACTIVE_KEYS], 100);

  const total = [...written.values()].reduce((sum, list) => sum + list.length, 0);
  const reached = await waitForOutput(total, slack(60_000));
  await sleep(1500); // anything extra (a repeat) would be out by now
  const out = await readOutput();
  log(`after the resume: ${out.length} records out of ${total} written (read_committed end ${reached})`);

  // 5. Per key: every event once, in the order written, headers kept.
  const got = new Map<string, number[]>();
  for (const o of out) {
    const list = got.get(o.key) ?? [];
    list.push(o.n);
    got.set(o.key, list);
    if (o.header !== String(o.n)) problems.push(`${o.key}#${o.n}: header check-seq ${o.header === undefined ? 'lost' : `is ${o.header}`}`);
  }
  for (const [key, expected] of written) {
    const actual = got.get(key) ?? [];
    const same = actual.length === expected.length && actual.every((n, i) => n === expected[i]);
    if (!same) {
      const firstBad = actual.findIndex((n, i) => n !== expected[i]);
      problems.push(`${key}: ${actual.length} of ${expected.length} out; first difference at position ${firstBad < 0 ? actual.length : firstBad} (got ${actual.slice(Math.max(0, firstBad - 2), firstBad + 3).join(',')})`);
    }
  }
  for (const key of got.keys()) if (!written.has(key)) problems.push(`unexpected key ${key} on the output`);

  log(`peer ${memory()}`);
  // 6. SIGTERM: a clean close, exit code 0.
  peer!.kill('SIGTERM');
  const code = await Promise.race([peerExit!, sleep(45_000).then(() => 'timeout' as const)]);
  if (code !== 0) problems.push(`SIGTERM: the peer ended with ${code === 'timeout' ? 'no exit after 45 s' : `exit code ${code}`}, expected 0`);
  else log('SIGTERM: exit code 0');
}

async function cleanup(): Promise<void> {
  if (peer !== undefined && peer.exitCode === null && peer.signalCode === null) {
    peer.kill('SIGKILL');
    await peerExit;
  }
  await producer.disconnect().catch(() => undefined);
  if (!args.keep) {
    const internal = [`${applicationId}-buffer-changelog`, `${applicationId}-dirty-changelog`];
    for (const name of [...Object.values(topics), ...internal]) await admin.deleteTopics([name]).catch(() => undefined);
  }
  await admin.disconnect().catch(() => undefined);
  rmSync(stateDir, { recursive: true, force: true });
}

try {
  await main();
} catch (error) {
  problems.push(`error: ${(error as Error).message}`);
} finally {
  await cleanup();
}
if (problems.length === 0) {
  console.log(`PASS (${args.guarantee}, ${args.layout} layout): every key's events once and in order, paused keys held until resumed (by command and by status alone), headers kept, SIGTERM exit 0`);
  process.exit(0);
}
console.log(`FAIL (${args.guarantee}, ${args.layout} layout)`);
for (const p of problems.slice(0, 30)) console.log(`  - ${p}`);
if (problems.length > 30) console.log(`  ... ${problems.length - 30} more`);
process.exit(1);
