/**
 * End to end on the real broker, entirely through HTTP: the service (main.ts) runs as a child
 * process on Kafka, and the original system's worst case is driven through its own endpoints:
 * 3 events, pause, 500 events, then resume and 2 new events at the same time. An independent
 * read_committed consumer then checks the output topic: for the key, exactly the input events,
 * in input order, once each.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import Kafka from '@confluentinc/kafka-javascript';
import { parseFlowsFile, repoRoot, type FlowDefinition } from '../../src/config/config.ts';
import { freePort } from '../support/net.ts';

const BROKERS = process.env.KAFKA_BROKERS ?? '127.0.0.1:9092';
const PARTITIONS = 3;
const TOKEN = `e2e-${randomBytes(8).toString('hex')}`;
const KafkaJS = Kafka.KafkaJS;

interface Service {
  readonly url: string;
  readonly child: ChildProcess;
  readonly log: string[];
}

let flow: FlowDefinition;
let dir: string;
let service: Service | undefined;
let admin: Kafka.KafkaJS.Admin;
const kafka = new KafkaJS.Kafka({ kafkaJS: { brokers: BROKERS.split(','), logLevel: KafkaJS.logLevel.ERROR } });


async function startService(env: Record<string, string>): Promise<Service> {
  const port = await freePort();
  const child = spawn(process.execPath, [path.join(repoRoot(), 'backend', 'src', 'main.ts')], {
    cwd: repoRoot(),
    env: { ...process.env, ...env, PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const log: string[] = [];
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`service not ready within 60 s; output:\n${log.join('')}`)), 60_000);
    const onData = (chunk: Buffer): void => {
      log.push(chunk.toString());
      const ready = /event-pause ready: (http:\/\/\S+)/.exec(log.join(''));
      if (ready !== null) {
        clearTimeout(timer);
        resolve(ready[1] ?? '');
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', (chunk: Buffer) => log.push(chunk.toString()));
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`service exited with ${code} before it was ready; output:\n${log.join('')}`));
    });
  });
  return { url, child, log };
}

async function http(method: 'GET' | 'POST', pathAndQuery: string, body?: unknown): Promise<{ status: number; json: unknown }> {
  assert.ok(service !== undefined);
  const headers: Record<string, string> = {};
  if (method === 'POST') headers.authorization = `Bearer ${TOKEN}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(`${service.url}${pathAndQuery}`, {
    method,
    headers,
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  return { status: response.status, json: text === '' ? null : JSON.parse(text) };
}

async function send(key: string, data: string): Promise<string> {
  const { status, json } = await http('POST', `/control/${flow.id}/send?key=${encodeURIComponent(key)}&data=${encodeURIComponent(data)}`);
  assert.equal(status, 200, JSON.stringify(json));
  const answer = json as { message: string; eventId: string };
  assert.equal(answer.message, `Event sent: ${answer.eventId}`);
  return answer.eventId;
}

/** Polls `probe` until it returns a value; `last` describes the latest state for the failure message. */
async function eventually<T>(what: string, probe: (note: (last: unknown) => void) => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    const value = await probe((seen) => (last = seen));
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last seen: ${JSON.stringify(last)}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

before(async () => {
  const suffix = randomBytes(5).toString('hex');
  const json = { applicationId: `ep-api-e2e-${suffix}`, partitions: PARTITIONS, flows: [{ id: `api-e2e-${suffix}` }] };
  const parsed = parseFlowsFile(json, 'e2e flows file');
  flow = parsed.flows[0] as FlowDefinition;
  dir = mkdtempSync(path.join(tmpdir(), 'ep-api-e2e-'));
  writeFileSync(path.join(dir, 'flows.json'), JSON.stringify(json));

  admin = kafka.admin();
  await admin.connect();
  const compacted = [{ name: 'cleanup.policy', value: 'compact' }];
  const t = flow.topics;
  await admin.createTopics({
    topics: [
      { topic: t.main, numPartitions: PARTITIONS },
      { topic: t.trigger, numPartitions: PARTITIONS },
      { topic: t.status, numPartitions: PARTITIONS, configEntries: compacted },
      { topic: t.output, numPartitions: PARTITIONS },
      { topic: t.dlq, numPartitions: PARTITIONS },
      { topic: t.changelog, numPartitions: PARTITIONS, configEntries: compacted },
    ],
  });
  // Creation completes on the broker after the call returns: wait until every topic is listed,
  // or the service may find one missing and refuse to start (it did once, under load).
  const wanted = Object.values(t);
  for (const deadline = Date.now() + 30_000; ; ) {
    const listed = new Set(await admin.listTopics());
    if (wanted.every((name) => listed.has(name))) break;
    if (Date.now() > deadline) throw new Error(`topics not listed 30 s after creating them: ${wanted.filter((name) => !listed.has(name)).join(', ')}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }

  service = await startService({
    KAFKA_BROKERS: BROKERS,
    EVENT_PAUSE_CONFIG: path.join(dir, 'flows.json'),
    STATE_DIR: path.join(dir, 'state'),
    API_TOKEN: TOKEN,
  });
});

after(async () => {
  if (service !== undefined && service.child.exitCode === null) service.child.kill('SIGKILL');
  await admin.deleteTopics({ topics: Object.values(flow.topics) }).catch(() => undefined);
  await admin.disconnect();
  rmSync(dir, { recursive: true, force: true });
});

test('the original worst case through HTTP on Kafka: 3 events, pause, 500 events, resume + 2 new at once', { timeout: 180_000 }, async () => {
  const key = `order-${randomBytes(3).toString('hex')}`;
  const bystander = `other-${randomBytes(3).toString('hex')}`;
  const sent: string[] = [];

  for (let i = 1; i <= 3; i++) sent.push(await send(key, `before-${i}`));
  // A pause takes effect where the processor sees it: let the first 3 through before pausing.
  await eventually('the first 3 events on the output topic', async (note) => {
    const { json } = await http('GET', `/control/${flow.id}/output-messages?limit=10`);
    const ids = (json as Array<{ key: string; eventId: string }>).filter((record) => record.key === key).map((record) => record.eventId);
    note(ids);
    return ids.length === 3 ? ids : undefined;
  });

  const pause = await http('POST', `/control/${flow.id}/pause/${key}`);
  assert.equal(pause.status, 202);
  await eventually('the status table to show PAUSED', async () => {
    const { json } = await http('GET', `/control/${flow.id}/status/${key}`);
    return (json as { status: string }).status === 'PAUSED' ? true : undefined;
  });

  for (let i = 1; i <= 500; i++) sent.push(await send(key, `paused-${i}`));
  // Another key is not held up by the pause.
  const bystanderIds = [await send(bystander, 'b-1'), await send(bystander, 'b-2')];

  // All 500 held (but not the 3 sent before the pause: the processor saw them ACTIVE).
  const summary = await eventually('500 buffered events', async (note) => {
    const { status, json } = await http('GET', `/api/v1/flows/${flow.id}/keys/${key}`);
    note(json);
    assert.equal(status, 200, JSON.stringify(json));
    const answer = json as { bufferedCount: number; status: string; oldestBufferedTimestamp: number | null };
    return answer.bufferedCount === 500 ? answer : undefined;
  });
  assert.equal(summary.status, 'PAUSED');
  assert.ok(summary.oldestBufferedTimestamp !== null);

  const buffer = await http('GET', `/control/${flow.id}/buffer/${key}`);
  const held = buffer.json as Array<{ id: string; data: string; timestamp: number }>;
  assert.equal(held.length, 500);
  assert.deepEqual(held.map((event) => event.id), sent.slice(3));
  assert.equal(held[0]?.data, 'paused-1');

  // Resume and two new events at once: the new events must not overtake the buffer.
  const [resume, newIds] = await Promise.all([
    http('POST', `/control/${flow.id}/resume/${key}`),
    (async () => [await send(key, 'after-1'), await send(key, 'after-2')])(),
  ]);
  assert.equal(resume.status, 202);
  sent.push(...newIds);
  assert.equal(sent.length, 505);

  // An independent read_committed consumer reads the output topic.
  const consumer = kafka.consumer({
    kafkaJS: { groupId: `ep-api-e2e-check-${randomBytes(4).toString('hex')}`, fromBeginning: true, readUncommitted: false },
  });
  const seen: Array<{ key: string; id: string; partition: number; offset: number }> = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topics: [flow.topics.output] });
    await consumer.run({
      eachMessage: async ({ partition, message }) => {
        const value = JSON.parse(message.value?.toString() ?? 'null') as { id: string };
        seen.push({ key: message.key?.toString() ?? '', id: value.id, partition, offset: Number(message.offset) });
      },
    });
    await eventually('505 events of the key on the output topic', async (note) => {
      const count = seen.filter((record) => record.key === key).length;
      note({ count });
      return count >= 505 ? true : undefined;
    }, 60_000);
    // Give duplicates, if any, a moment to show up.
    await new Promise((resolve) => setTimeout(resolve, 1500));
  } finally {
    await consumer.disconnect();
  }

  const forKey = seen.filter((record) => record.key === key).sort((a, b) => a.offset - b.offset);
  assert.equal(new Set(forKey.map((record) => record.partition)).size, 1, 'one key, one partition');
  assert.deepEqual(
    forKey.map((record) => record.id),
    sent,
    'the output for the key is exactly its input, in input order, once each',
  );
  assert.deepEqual(
    seen.filter((record) => record.key === bystander).sort((a, b) => a.offset - b.offset).map((record) => record.id),
    bystanderIds,
  );

  // The API agrees: nothing buffered, ACTIVE, history with the default actor.
  const after = await http('GET', `/api/v1/flows/${flow.id}/keys/${key}`);
  assert.equal((after.json as { bufferedCount: number }).bufferedCount, 0);
  const history = await http('GET', `/api/v1/flows/${flow.id}/keys/${key}/history`);
  const changes = (history.json as { items: Array<{ status: string; actor: string }> }).items;
  assert.deepEqual(changes.map((change) => [change.status, change.actor]), [['PAUSED', 'api'], ['ACTIVE', 'api']]);
  const output = await http('GET', `/control/${flow.id}/output-messages?limit=600`);
  const recent = (output.json as Array<{ key: string; eventId: string; offset: number }>)
    .filter((record) => record.key === key)
    .sort((a, b) => a.offset - b.offset);
  assert.deepEqual(recent.map((record) => record.eventId), sent);
});

test('mutations need the bearer token when API_TOKEN is set', async () => {
  assert.ok(service !== undefined);
  const response = await fetch(`${service.url}/control/${flow.id}/pause/k`, { method: 'POST' });
  assert.equal(response.status, 401);
  assert.match(((await response.json()) as { message: string }).message, /Authorization: Bearer/);
});

test('SIGTERM stops the service cleanly (exit 0)', { timeout: 30_000 }, async () => {
  assert.ok(service !== undefined);
  const child = service.child;
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  child.kill('SIGTERM');
  assert.equal(await exited, 0, service.log.join(''));
});
