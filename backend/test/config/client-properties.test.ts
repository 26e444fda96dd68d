import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError, loadSettings } from '../../src/config/config.ts';
import { LibrdkafkaClients } from '../../src/engines/kafka/client.ts';

const base = { EVENT_PAUSE_CONFIG: 'config/flows.json' };

test('KAFKA_CONFIG, KAFKA_CONSUMER_CONFIG and KAFKA_PRODUCER_CONFIG read name=value lists', () => {
  const settings = loadSettings({
    ...base,
    KAFKA_CONFIG: 'security.protocol=SASL_SSL, sasl.mechanisms=PLAIN',
    KAFKA_CONSUMER_CONFIG: 'queued.max.messages.kbytes=16384',
    KAFKA_PRODUCER_CONFIG: 'linger.ms=10,compression.type=zstd',
  });
  assert.deepEqual(settings.kafkaClientConfig, {
    all: { 'security.protocol': 'SASL_SSL', 'sasl.mechanisms': 'PLAIN' },
    consumer: { 'queued.max.messages.kbytes': '16384' },
    producer: { 'linger.ms': '10', 'compression.type': 'zstd' },
  });
  assert.deepEqual(loadSettings(base).kafkaClientConfig, { all: {}, consumer: {}, producer: {} });
});

test('a malformed entry, a repeated name or a property event-pause owns stops startup, naming the setting', () => {
  const refused = (env: Record<string, string>, setting: string, pattern: RegExp): void => {
    assert.throws(() => loadSettings({ ...base, ...env }), (error: unknown) => {
      assert.ok(error instanceof ConfigError);
      assert.equal(error.setting, setting);
      assert.match(error.message, pattern);
      return true;
    });
  };
  refused({ KAFKA_CONFIG: 'linger.ms' }, 'KAFKA_CONFIG', /expected name=value/);
  refused({ KAFKA_PRODUCER_CONFIG: 'Linger Ms=5' }, 'KAFKA_PRODUCER_CONFIG', /not a librdkafka property name/);
  refused({ KAFKA_CONSUMER_CONFIG: 'fetch.wait.max.ms=10,fetch.wait.max.ms=20' }, 'KAFKA_CONSUMER_CONFIG', /given twice/);
  refused({ KAFKA_CONFIG: 'bootstrap.servers=a:1' }, 'KAFKA_CONFIG', /KAFKA_BROKERS/);
  refused({ KAFKA_CONSUMER_CONFIG: 'isolation.level=read_uncommitted' }, 'KAFKA_CONSUMER_CONFIG', /read_committed/);
  refused({ KAFKA_PRODUCER_CONFIG: 'enable.idempotence=false' }, 'KAFKA_PRODUCER_CONFIG', /idempotent/);
  refused({ KAFKA_CONSUMER_CONFIG: 'group.id=x' }, 'KAFKA_CONSUMER_CONFIG', /APPLICATION_ID/);
});

test('consumer and producer properties go over the defaults of their own clients only', () => {
  const clients = new LibrdkafkaClients({ 'bootstrap.servers': '127.0.0.1:1' }, { consumer: { 'fetch.wait.max.ms': '7' }, producer: { 'linger.ms': '9' } });
  assert.deepEqual(clients.overrides, { consumer: { 'fetch.wait.max.ms': '7' }, producer: { 'linger.ms': '9' } });
});

test('a property librdkafka does not take stops the Kafka engine before it connects, naming the setting', async () => {
  const { KafkaEngine } = await import('../../src/engines/kafka/kafka-engine.ts');
  const { pino } = await import('pino');
  const logger = pino({ level: 'silent' });
  const engine = (env: Record<string, string>) => () => new KafkaEngine(loadSettings({ ...base, KAFKA_BROKERS: '127.0.0.1:1', ...env }), { logger });
  assert.throws(engine({ KAFKA_CONSUMER_CONFIG: 'foo.bar=1' }), /invalid setting KAFKA_CONSUMER_CONFIG: librdkafka refused it: No such configuration property: "foo.bar"/);
  assert.throws(engine({ KAFKA_PRODUCER_CONFIG: 'linger.ms=-5' }), /invalid setting KAFKA_PRODUCER_CONFIG: .*outside allowed range/);
  assert.throws(engine({ KAFKA_CONFIG: 'socket.timeout.ms=soon' }), /invalid setting KAFKA_CONFIG: .*Invalid value/);
  assert.doesNotThrow(engine({ KAFKA_CONFIG: 'socket.timeout.ms=30000', KAFKA_CONSUMER_CONFIG: 'queued.max.messages.kbytes=16384', KAFKA_PRODUCER_CONFIG: 'linger.ms=10' }));
});
