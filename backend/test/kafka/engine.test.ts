/**
 * The KafkaEngine's own surface, in process: startup checks (rule 9), the FlowEngine queries
 * (produce, recent, owner, instances, buffers, metrics, events).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { pino } from 'pino';
import { loadSettings, type Settings } from '../../src/config/config.ts';
import { type ClientAdmin, readerConsumer } from '../../src/engines/kafka/client.ts';
import { KafkaEngine } from '../../src/engines/kafka/kafka-engine.ts';
import { KafkaStartupError } from '../../src/engines/stream/topics.ts';
import { encodeEvent, encodeStatus, RESUME_COMMAND } from '../../src/model/wire.ts';
import type { EngineEvent, ProcessorFactory } from '../../src/runtime/engine.ts';
import type { ProcessorContext } from '../../src/runtime/ports.ts';
import { partitionForKey } from '../../src/runtime/partitioner.ts';
import { encodeEntryKey, encodeEntryValue } from '../../src/stores/buffer-codec.ts';
import { BROKERS, CLIENT, connectAdmin, createTopics, newFlow, sleep, type TestFlow, testProducer, TopicTail } from './support.ts';

const logger = pino({ level: process.env.LOG_LEVEL ?? 'warn' });
const stateRoot = mkdtempSync(path.join(tmpdir(), 'ep-engine-test-'));

function settingsFor(test: TestFlow, name: string, env: Record<string, string> = {}): Settings {
  return loadSettings({
    EVENT_PAUSE_CONFIG: test.configFile,
    KAFKA_BROKERS: BROKERS,
    STATE_DIR: path.join(stateRoot, name),
    PUNCTUATE_INTERVAL_MS: '200',
    ...env,
  });
}

async function eventually(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

describe('KafkaEngine', () => {
  let admin: ClientAdmin;
  const flows: TestFlow[] = [];
  before(async () => {
    admin = await connectAdmin();
  });
  after(async () => {
    for (const { flow } of flows) await admin.deleteTopics(Object.values(flow.topics));
    admin.disconnect();
    rmSync(stateRoot, { recursive: true, force: true });
  });

  test('refuses to start when the main and trigger topics are not co-partitioned', async () => {
    const t = newFlow(3);
    flows.push(t);
    await createTopics(admin, t.flow);
    await admin.deleteTopics([t.flow.topics.trigger]);
    await eventually('the trigger topic is gone', async () => (await admin.describeTopics([t.flow.topics.trigger]))[0]?.partitions === undefined);
    await admin.createTopics([{ name: t.flow.topics.trigger, partitions: 2 }]);
    // A re-created topic shows in metadata a moment after its creation returns.
    await eventually('the trigger topic is back with 2 partitions', async () => (await admin.describeTopics([t.flow.topics.trigger]))[0]?.partitions === 2);
    const engine = new KafkaEngine(settingsFor(t, 'copart'), { logger });
    await assert.rejects(engine.start(), (error: unknown) => {
      assert.ok(error instanceof KafkaStartupError);
      assert.equal(error.code, 'NOT_CO_PARTITIONED');
      assert.match(error.message, new RegExp(`${t.flow.topics.main} has 3 partitions but ${t.flow.topics.trigger} has 2`));
      return true;
    });
  });

  test('refuses to start when topics are missing, and says how to create them', async () => {
    const t = newFlow(2);
    const engine = new KafkaEngine(settingsFor(t, 'missing'), { logger });
    await assert.rejects(engine.start(), (error: unknown) => {
      assert.ok(error instanceof KafkaStartupError);
      assert.equal(error.code, 'MISSING_TOPICS');
      assert.match(error.message, new RegExp(t.flow.topics.main));
      assert.match(error.message, /scripts\/init_topics\.sh/);
      return true;
    });
  });

  test('runs the processor it is given: what a library user tests with the driver runs on Kafka', async () => {
    const t = newFlow(2);
    flows.push(t);
    await createTopics(admin, t.flow);
    // A processor of the user's own: forwards each event with its value upper-cased.
    const made: number[] = [];
    const upper: ProcessorFactory = (flow, partition) => {
      assert.equal(flow.id, t.flow.id);
      made.push(partition);
      let context: ProcessorContext;
      return {
        init: (ctx) => (context = ctx),
        process: (record) => context.forward({ ...record, value: Buffer.from(record.value!.toString().toUpperCase()) }),
        punctuate: () => undefined,
        drainStep: () => 0,
        close: () => undefined,
      };
    };
    const engine = new KafkaEngine(settingsFor(t, 'custom'), { logger, processor: upper });
    await engine.start();
    try {
      assert.deepEqual(made.sort(), [0, 1]);
      await engine.produce(t.flow.topics.main, { key: 'u', value: Buffer.from('{"id":"u-0","data":"x"}') });
      await eventually('the upper-cased event on the output', async () => (await engine.recent(t.flow.topics.output, 5)).some((r) => r.value?.toString() === '{"ID":"U-0","DATA":"X"}'));
    } finally {
      await engine.stop();
    }
  });

  test('rule 2 with a status reader far behind its topic: tasks hold their input until the table is current', async () => {
    const t = newFlow(1);
    flows.push(t);
    await createTopics(admin, t.flow);
    const { flow } = t;
    // A slow status reader, as after a broker restart or on an overloaded machine: each of its
    // fetches waits 8 s for data that never comes in that amount.
    const engine = new KafkaEngine(settingsFor(t, 'lagging', { STATUS_MAX_LAG_MS: process.env.TEST_STATUS_MAX_LAG_MS ?? '1000' }), {
      logger,
      statusReaderTuning: { 'fetch.min.bytes': 50_000_000, 'fetch.wait.max.ms': 8000 },
    });
    await engine.start();
    try {
      await engine.produce(flow.topics.main, { key: 'L', value: encodeEvent({ id: 'L-0', data: 0 }) });
      await eventually('L-0 forwarded', async () => (await engine.recent(flow.topics.output, 10)).length === 1);
      await engine.produce(flow.topics.status, { key: 'L', value: encodeStatus('PAUSED') });
      // The pause is acknowledged; an event sent well after it must be held (rule 2), however
      // far behind the status reader is.
      await sleep(2500);
      await engine.produce(flow.topics.main, { key: 'L', value: encodeEvent({ id: 'L-1', data: 1 }) });
      await eventually('the table shows PAUSED', () => engine.statusTable(flow.id).get('L').status === 'PAUSED', 20_000);
      await eventually('L-1 buffered', () => engine.localBuffer(flow.id, 0)?.count('L') === 1, 20_000);
      assert.deepEqual(
        (await engine.recent(flow.topics.output, 10)).map((r) => JSON.parse(r.value!.toString()).id),
        ['L-0'],
        'L-1 was not forwarded while L was paused',
      );
      await engine.produce(flow.topics.status, { key: 'L', value: encodeStatus('ACTIVE') });
      await engine.produce(flow.topics.trigger, { key: 'L', value: RESUME_COMMAND });
      await eventually('L-1 drained', async () => (await engine.recent(flow.topics.output, 10)).length === 2, 30_000);
    } finally {
      await engine.stop();
    }
  });

  test('serves the FlowEngine queries: produce, recent, buffers, owner, instances, metrics, events', async () => {
    const t = newFlow(3);
    flows.push(t);
    await createTopics(admin, t.flow);
    const { flow } = t;
    const a = new KafkaEngine(settingsFor(t, 'a', { ADVERTISED_URL: 'http://127.0.0.1:18081' }), { logger, sessionTimeoutMs: 6000 });
    const events: EngineEvent[] = [];
    a.subscribe((event) => events.push(event));
    await a.start();
    try {
      assert.equal(a.isReady(), true);
      assert.deepEqual(a.info, { kind: 'kafka', durable: true, description: `Kafka at ${BROKERS}` });
      assert.equal(a.partitions(flow.topics.main), 3);
      assert.deepEqual(a.localPartitions(flow.id), [0, 1, 2]);
      assert.deepEqual(await a.owner(flow.id, 1), { kind: 'local' });

      const placed = await a.produce(flow.topics.main, { key: 'q', value: encodeEvent({ id: 'q-0', data: 1 }) });
      assert.equal(placed.partition, partitionForKey('q', 3));
      assert.equal(a.partitionFor(flow.id, 'q'), placed.partition);
      await eventually('q-0 forwarded', async () => (await a.recent(flow.topics.output, 10)).length === 1);
      await a.produce(flow.topics.status, { key: 'q', value: encodeStatus('PAUSED') });
      await eventually('the status table shows PAUSED', () => a.statusTable(flow.id).get('q').status === 'PAUSED');
      for (let i = 1; i <= 5; i++) await a.produce(flow.topics.main, { key: 'q', value: encodeEvent({ id: `q-${i}`, data: i }) });
      await eventually('5 buffered', () => a.localBuffer(flow.id, placed.partition)?.count('q') === 5);
      assert.equal(a.metrics().flows[0]!.bufferedEvents, 5);
      assert.equal(a.metrics().flows[0]!.pausedKeys, 1);

      await a.produce(flow.topics.trigger, { key: 'q', value: RESUME_COMMAND });
      await eventually('drained', () => a.localBuffer(flow.id, placed.partition)?.count('q') === 0);
      await eventually('output committed', async () => (await a.recent(flow.topics.output, 10)).length === 6);
      const recent = await a.recent(flow.topics.output, 4);
      assert.deepEqual(
        recent.map((r) => JSON.parse(r.value!.toString()).id),
        ['q-2', 'q-3', 'q-4', 'q-5'],
        'the last 4, newest last',
      );
      const metrics = a.metrics();
      assert.equal(metrics.flows[0]!.processedEvents, 1);
      assert.equal(metrics.flows[0]!.drainedEvents, 5);
      assert.equal(metrics.flows[0]!.bufferedEvents, 0);
      assert.ok(metrics.commits > 0 && metrics.commitLatenciesMs.length > 0);
      const types = new Set(events.map((e) => e.type));
      for (const type of ['processed', 'buffered', 'drained', 'status-changed']) assert.ok(types.has(type as EngineEvent['type']), `event ${type}`);

      // A second instance joins: partitions split, and each one reports the other as owner.
      const b = new KafkaEngine(settingsFor(t, 'b', { ADVERTISED_URL: 'http://127.0.0.1:18082' }), { logger, sessionTimeoutMs: 6000 });
      await b.start();
      try {
        await eventually('partitions split', () => a.localPartitions(flow.id).length > 0 && b.localPartitions(flow.id).length > 0 && a.localPartitions(flow.id).length + b.localPartitions(flow.id).length === 3);
        const remote = b.localPartitions(flow.id)[0]!;
        await eventually('the group shows the new assignment', async () => (await a.owner(flow.id, remote)).kind === 'remote', 10_000);
        assert.deepEqual(await a.owner(flow.id, remote), { kind: 'remote', url: 'http://127.0.0.1:18082' });
        assert.deepEqual(await a.instances(), ['http://127.0.0.1:18081', 'http://127.0.0.1:18082']);
        assert.equal(a.localBuffer(flow.id, remote), undefined);
      } finally {
        await b.stop();
      }
      await eventually('partitions back', () => a.localPartitions(flow.id).length === 3);
    } finally {
      await a.stop();
    }
  });

  test('at_least_once: buffered entries ahead of the committed input offset are dropped on restore, so the replay keeps the order (rule 1)', async () => {
    // The state a crash can leave under at_least_once: the changelog holds the append of input
    // offset 1 (delivered), the group's committed offset is still 0 (not committed yet).
    const t = newFlow(1);
    flows.push(t);
    await createTopics(admin, t.flow);
    const producer = await testProducer();
    const key = 'ahead';
    const values = ['e0', 'e1', 'e2'].map((id) => encodeEvent({ id, data: null }));
    for (const value of values) await producer.send(t.flow.topics.main, 0, Buffer.from(key), value, 1000, []);
    const ahead = { seq: 1, key, value: values[1]!, headers: [], timestamp: 1000 };
    await producer.send(t.flow.topics.changelog, 0, encodeEntryKey(key, 1), encodeEntryValue(ahead), undefined, []);
    await producer.disconnect();
    const committer = readerConsumer(CLIENT, 'ahead-committer', { 'group.id': `${t.applicationId}-${t.flow.id}` });
    await committer.connect();
    await committer.commit([{ topic: t.flow.topics.main, partition: 0, offset: 0 }]);
    await committer.disconnect();

    const engine = new KafkaEngine(settingsFor(t, 'ahead', { PROCESSING_GUARANTEE: 'at_least_once' }), { logger });
    const tail = new TopicTail(t.flow.topics.output, 1);
    try {
      await engine.start();
      const out = await tail.waitFor(3, 30_000);
      await tail.settle(500);
      const ids = tail.records.map((record) => (JSON.parse(record.value!.toString()) as { id: string }).id);
      assert.deepEqual(ids, ['e0', 'e1', 'e2'], `output ${ids.join(',')} (${out.length} records)`);
      assert.equal(engine.localBuffer(t.flow.id, 0)?.count(key), 0);
    } finally {
      await tail.close();
      await engine.stop();
    }
  });
});
