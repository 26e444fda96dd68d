/**
 * The stream engine (the Kafka engine's code) over the in-memory log, without a broker: the
 * startup check of every flow's topics (rule 9), waiting out a cluster that is not ready, the
 * API producer replaced after a fatal error, and queries that fail with the engine's message.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { pino } from 'pino';
import type { Settings } from '../../src/config/config.ts';
import { EmbeddedCluster } from '../../src/engines/embedded/cluster.ts';
import { MemoryBroker, MemoryLogClients, type PortFaults } from '../../src/engines/embedded/memory-log.ts';
import { createFlowTopics } from '../../src/engines/embedded/topics.ts';
import { KafkaEngine } from '../../src/engines/kafka/kafka-engine.ts';
import { StreamEngine } from '../../src/engines/stream/stream-engine.ts';
import { KafkaStartupError } from '../../src/engines/stream/topics.ts';
import { systemClock } from '../../src/runtime/clock.ts';
import { LogClientError } from '../../src/runtime/log/errors.ts';
import { MemoryStoreFolders } from '../../src/stores/memory-buffer-store.ts';
import { testSettings } from '../api/helper.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'ep-stream-engine-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function engineOn(cluster: EmbeddedCluster, settings: Settings, faults?: PortFaults): StreamEngine {
  const disk = new MemoryStoreFolders();
  return new StreamEngine(settings, {
    logger: pino({ level: process.env.LOG_LEVEL ?? 'silent' }),
    clients: new MemoryLogClients(new MemoryBroker(cluster, systemClock), 'test', faults),
    info: { kind: 'embedded', durable: false, description: 'test' },
    instanceId: 'test',
    openStore: (folder) => disk.open(folder),
  });
}

describe('the stream engine over the in-memory log', () => {
  test('refuses to start while a flow topic is missing or main, trigger and changelog disagree, naming every problem (rule 9)', async () => {
    const settings = testSettings({ STATE_DIR: dir });
    const [first, second] = settings.flows;
    assert.ok(first !== undefined && second !== undefined, 'the test flows file has two flows');
    const withOneMore = (cluster: EmbeddedCluster, flow: typeof first, odd: string): void => {
      for (const topic of Object.values(flow.topics)) cluster.createTopic(topic, { partitions: flow.partitions + (topic === odd ? 1 : 0), cleanup: 'delete' });
    };
    // first: no topics at all; second: a trigger with one partition more.
    const cluster = new EmbeddedCluster();
    withOneMore(cluster, second, second.topics.trigger);
    const engine = engineOn(cluster, settings);
    await assert.rejects(engine.start(), (error: unknown) => {
      assert.ok(error instanceof KafkaStartupError);
      assert.match(error.message, new RegExp(`flow "${first.id}": topic\\(s\\) .*${first.topics.main}.* do not exist`));
      assert.match(error.message, new RegExp(`flow "${second.id}": .* must have the same partition count`));
      return true;
    });
    await engine.stop();
    await assert.rejects(engineOn(cluster, { ...settings, flows: [second] }).start(), (error: unknown) => error instanceof KafkaStartupError && error.code === 'NOT_CO_PARTITIONED');

    const other = new EmbeddedCluster();
    withOneMore(other, first, first.topics.changelog);
    await assert.rejects(engineOn(other, { ...settings, flows: [first] }).start(), (error: unknown) => {
      assert.ok(error instanceof KafkaStartupError && error.code === 'CHANGELOG_PARTITIONS');
      assert.match(error.message, new RegExp(`changelog ${first.topics.changelog} has ${first.partitions + 1} partitions`));
      return true;
    });
  });

  test('waits for a cluster that is not ready yet (a retriable error at startup), then starts', async () => {
    const settings = testSettings({ STATE_DIR: dir });
    const cluster = new EmbeddedCluster();
    for (const flow of settings.flows) createFlowTopics(cluster, flow);
    let refused = 0;
    const engine = engineOn(cluster, settings, {
      before(call) {
        if (call === 'describeTopics' && refused === 0) {
          refused++;
          throw new LogClientError('OTHER', 'retriable', 'injected: the coordinator is loading');
        }
      },
    });
    try {
      await engine.start();
      assert.equal(refused, 1, 'the first check failed, the next passed');
      assert.deepEqual(engine.readiness(), { ready: true, reasons: [] });
    } finally {
      await engine.stop();
    }
  });

  test('a start that fails in one flow while another flow\'s member is still connecting leaves no client open', async () => {
    const settings = testSettings({ STATE_DIR: dir });
    const [first, second] = settings.flows;
    assert.ok(first !== undefined && second !== undefined, 'the test flows file has two flows');
    const cluster = new EmbeddedCluster();
    for (const flow of settings.flows) createFlowTopics(cluster, flow);
    const clients = new MemoryLogClients(new MemoryBroker(cluster, systemClock), 'test', {
      before(call, client) {
        // Each member connects slowly, the second flow's slower than the first flow fails.
        if (call === 'initTransactions') return client.clientId.endsWith(`/${second.id}`) ? 800 : 100;
        if (call === 'connect' && client.clientId === `${first.topics.status}-status-follower`) throw new LogClientError('OTHER', 'other', 'injected: not allowed');
      },
    });
    const disk = new MemoryStoreFolders();
    const engine = new StreamEngine(settings, {
      logger: pino({ level: process.env.LOG_LEVEL ?? 'silent' }),
      clients,
      info: { kind: 'embedded', durable: false, description: 'test' },
      instanceId: 'test',
      openStore: (folder) => disk.open(folder),
    });
    await assert.rejects(engine.start(), /not allowed/);
    await engine.stop();
    await new Promise((resolve) => setTimeout(resolve, 1200)); // past any connect still under way
    assert.equal(clients.openClients, 0);
  });

  test('a fatal error of the API producer fails that write with its message, and a new producer takes the next', async () => {
    const settings = testSettings({ STATE_DIR: dir });
    const flow = settings.flows[0]!;
    const cluster = new EmbeddedCluster();
    for (const f of settings.flows) createFlowTopics(cluster, f);
    let fenced = 0;
    const engine = engineOn(cluster, settings, {
      before(call, client) {
        if (call === 'send' && client.clientId.endsWith('/api') && fenced === 0) {
          fenced++;
          throw new LogClientError('FENCED', 'fatal', 'injected: the producer was fenced');
        }
      },
    });
    try {
      await engine.start();
      await assert.rejects(engine.produce(flow.topics.main, { key: 'k', value: Buffer.from('{"id":"a"}') }), /fenced/);
      const deadline = Date.now() + 10_000;
      for (;;) {
        try {
          await engine.produce(flow.topics.main, { key: 'k', value: Buffer.from('{"id":"b"}') });
          break;
        } catch (error) {
          if (Date.now() > deadline) throw error;
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
      }
      assert.equal(engine.readiness().ready, true);
      const recent = await engine.recent(flow.topics.main, 10);
      assert.deepEqual(recent.map((r) => r.value?.toString()), ['{"id":"b"}']);
      await assert.rejects(engine.recent('no-such-topic', 10), /does not exist|unknown topic/);
      assert.deepEqual(await engine.recent(flow.topics.main, 0), []);
    } finally {
      await engine.stop();
    }
  });

  test('the Kafka engine is this engine over librdkafka, and needs KAFKA_BROKERS', () => {
    const settings = testSettings({ STATE_DIR: dir });
    assert.throws(() => new KafkaEngine(settings, { logger: pino({ level: 'silent' }) }), /KAFKA_BROKERS/);
    const engine = new KafkaEngine({ ...settings, kafkaBrokers: '127.0.0.1:1' }, { logger: pino({ level: 'silent' }) });
    assert.ok(engine instanceof StreamEngine);
    assert.deepEqual(engine.info, { kind: 'kafka', durable: true, description: 'Kafka at 127.0.0.1:1' });
  });
});
