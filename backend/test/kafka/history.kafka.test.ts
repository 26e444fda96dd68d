/**
 * The audit trail on Kafka: status records carry the key's earlier changes in their ep-history
 * header through librdkafka, and a status table rebuilt from only the key's latest record (what a
 * compacted status topic keeps) shows the whole history.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { buildApp } from '../../src/api/app.ts';
import { loadSettings } from '../../src/config/config.ts';
import type { ClientAdmin } from '../../src/engines/kafka/client.ts';
import { KafkaEngine } from '../../src/engines/kafka/kafka-engine.ts';
import { deleteFlowTopics } from '../../src/engines/kafka/topics.ts';
import { partitionForKey } from '../../src/runtime/partitioner.ts';
import { BROKERS, connectAdmin, createTopics, newFlow } from './support.ts';

const PARTITIONS = 2;
const dir = mkdtempSync(path.join(tmpdir(), 'ep-history-kafka-'));
const testFlow = newFlow(PARTITIONS);
const flowId = testFlow.flow.id;
const copyTopic = `${testFlow.flow.topics.status}-latest`;
let admin: ClientAdmin | undefined;

after(async () => {
  if (admin !== undefined) {
    await deleteFlowTopics(admin, testFlow.flow).catch(() => undefined);
    await admin.deleteTopics([copyTopic]).catch(() => undefined);
    admin.disconnect();
  }
  rmSync(dir, { recursive: true, force: true });
});

type Item = { status: string; reason: string | null; actor: string | null };

async function run<T>(configFile: string, body: (app: FastifyInstance, engine: KafkaEngine) => Promise<T>): Promise<T> {
  const settings = loadSettings({ KAFKA_BROKERS: BROKERS, EVENT_PAUSE_CONFIG: configFile, STATE_DIR: dir, COMMIT_INTERVAL_MS: '50' });
  const engine = new KafkaEngine(settings, { logger: pino({ level: 'silent' }) });
  await engine.start();
  const app = buildApp({ engine, settings, logger: pino({ level: 'silent' }) });
  await app.ready();
  try {
    return await body(app, engine);
  } finally {
    await app.close();
    await engine.stop();
  }
}

async function history(app: FastifyInstance, count: number): Promise<Item[]> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const response = await app.inject({ method: 'GET', url: `/api/v1/flows/${flowId}/keys/HIST/history` });
    const items = (response.json() as { items: Item[] }).items.map(({ status, reason, actor }) => ({ status, reason, actor }));
    if (items.length === count) return items;
    if (Date.now() > deadline) throw new Error(`expected ${count} changes, got ${JSON.stringify(items)}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

test('pause r1, resume r2, pause r3 on Kafka; a table rebuilt from the latest record alone lists all 3', { timeout: 180_000 }, async () => {
  admin = await connectAdmin();
  await createTopics(admin, testFlow.flow);
  await admin.createTopics([{ name: copyTopic, partitions: PARTITIONS, config: { 'cleanup.policy': 'compact' } }]);
  const expected = [
    { status: 'PAUSED', reason: 'r1', actor: 'alice' },
    { status: 'ACTIVE', reason: 'r2', actor: 'bob' },
    { status: 'PAUSED', reason: 'r3', actor: 'carol' },
  ];

  await run(testFlow.configFile, async (app, engine) => {
    for (const [action, reason, actor] of [['pause', 'r1', 'alice'], ['resume', 'r2', 'bob'], ['pause', 'r3', 'carol']] as const) {
      const response = await app.inject({ method: 'POST', url: `/control/${flowId}/${action}/HIST`, headers: { 'x-reason': reason, 'x-actor': actor } });
      assert.equal(response.statusCode, 202, response.body);
    }
    assert.deepEqual(await history(app, 3), expected);
    const records = (await engine.recent(testFlow.flow.topics.status, 100)).filter((r) => r.key === 'HIST');
    const last = records.at(-1)!;
    assert.equal(last.value?.toString(), '"PAUSED"');
    const trail = last.headers.find((h) => h.key === 'ep-history');
    assert.ok(trail !== undefined, 'the latest status record carries the trail');
    assert.deepEqual((JSON.parse(trail.value.toString()) as Array<{ r: string }>).map((e) => e.r), ['r1', 'r2']);
    // What compaction leaves of the key: its latest record alone, at its own offset (compaction
    // keeps offsets), in a topic of its own. Other keys' records fill the offsets before it.
    const fillers = Array.from({ length: 1000 }, (_, i) => `filler-${i}`).filter((key) => partitionForKey(Buffer.from(key), PARTITIONS) === last.partition);
    for (let i = 0; i < last.offset; i++) {
      const placed = await engine.produce(copyTopic, { key: fillers[i]!, value: Buffer.from('"ACTIVE"') });
      assert.equal(placed.partition, last.partition);
    }
    const copied = await engine.produce(copyTopic, { key: 'HIST', value: last.value, headers: last.headers, timestamp: last.timestamp });
    assert.deepEqual(copied, { partition: last.partition, offset: last.offset });
  });

  const compactedConfig = path.join(dir, 'flows-latest.json');
  writeFileSync(compactedConfig, JSON.stringify({ applicationId: testFlow.applicationId, partitions: PARTITIONS, flows: [{ id: flowId, statusTopic: copyTopic }] }));
  const rebuilt = await run(compactedConfig, async (app) => history(app, 3));
  assert.deepEqual(rebuilt, expected);
});
