/**
 * Issue 2 acceptance: the project's Kafka client against the local broker. Plain produce and
 * consume keep key, value, headers and timestamp and place keys like Java's partitioner; a
 * transactional producer's aborted records are never seen by a read_committed reader.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type ClientAdmin, ClientProducer } from '../../src/engines/kafka/client.ts';
import { partitionForKey } from '../../src/runtime/partitioner.ts';
import { CLIENT, connectAdmin, randomId, testProducer, TopicTail } from './support.ts';

describe('Kafka platform (issue 2)', () => {
  let admin: ClientAdmin;
  const topics: string[] = [];

  before(async () => {
    admin = await connectAdmin();
  });
  after(async () => {
    await admin.deleteTopics(topics);
    admin.disconnect();
  });

  test('plain produce and consume keep key, value, headers and timestamp; keys placed by murmur2', async () => {
    const topic = randomId('platform');
    topics.push(topic);
    await admin.createTopics([{ name: topic, partitions: 6 }]);
    const producer = await testProducer();
    const keys = Array.from({ length: 40 }, (_, i) => `key-${i}`);
    const timestamp = Date.UTC(2024, 0, 2, 3, 4, 5);
    try {
      await Promise.all(
        keys.map((key, i) =>
          producer.send(topic, undefined, Buffer.from(key), Buffer.from(`value-${i}`), timestamp + i, [
            { key: 'h', value: Buffer.from('one') },
            { key: 'h', value: Buffer.from('two') },
          ]),
        ),
      );
    } finally {
      await producer.disconnect();
    }
    const tail = new TopicTail(topic, 6);
    try {
      const records = await tail.waitFor(keys.length);
      assert.equal(records.length, keys.length);
      for (const record of records) {
        const key = record.key!.toString();
        const i = keys.indexOf(key);
        assert.ok(i >= 0, `unexpected key ${key}`);
        assert.equal(record.value!.toString(), `value-${i}`);
        assert.equal(record.timestamp, timestamp + i);
        assert.equal(record.partition, partitionForKey(key, 6), `partition of ${key}`);
        assert.deepEqual(
          record.headers.map((h) => [h.key, h.value.toString()]),
          [
            ['h', 'one'],
            ['h', 'two'],
          ],
        );
      }
    } finally {
      await tail.close();
    }
  });

  test('a delivery failure reported during flush is counted once flush resolves (at_least_once must not commit past it)', async () => {
    // The broker refuses records above the topic's max.message.bytes: each fails delivery, and
    // its report reaches JavaScript through the binding's dispatcher, not with flush's callback.
    const topic = randomId('platform-dr');
    topics.push(topic);
    await admin.createTopics([{ name: topic, partitions: 1, config: { 'max.message.bytes': '2000' } }]);
    const producer = await testProducer();
    try {
      for (let round = 0; round < 5; round++) {
        producer.produce(topic, 0, Buffer.from('k'), Buffer.alloc(10_000, 1), Date.now(), []);
        await producer.flush();
        assert.equal(producer.takeDeliveryErrors(), 1, `round ${round}: the failed delivery is counted when flush resolves`);
      }
    } finally {
      await producer.disconnect();
    }
  });

  test('a read_committed reader never sees the records of an aborted transaction', async () => {
    const topic = randomId('platform-tx');
    topics.push(topic);
    await admin.createTopics([{ name: topic, partitions: 1 }]);
    const producer = new ClientProducer({ ...CLIENT, 'transactional.id': randomId('tx'), partitioner: 'murmur2_random', 'transaction.timeout.ms': 10_000 });
    await producer.connect();
    try {
      await producer.initTransactions();
      const write = (values: string[]): void => {
        for (const value of values) producer.produce(topic, 0, Buffer.from('k'), Buffer.from(value), Date.now(), []);
      };
      await producer.beginTransaction();
      write(['c1', 'c2']);
      await producer.commitTransaction();
      await producer.beginTransaction();
      write(['a1', 'a2', 'a3']);
      await producer.flush(); // the aborted records reach the log before the abort marker
      await producer.abortTransaction();
      await producer.beginTransaction();
      write(['c3']);
      await producer.commitTransaction();
    } finally {
      await producer.disconnect();
    }
    const committed = new TopicTail(topic, 1);
    const uncommitted = new TopicTail(topic, 1, { 'isolation.level': 'read_uncommitted' });
    try {
      const seen = (await committed.catchUp(admin)).map((m) => m.value!.toString());
      assert.deepEqual(seen, ['c1', 'c2', 'c3']);
      const raw = (await uncommitted.waitFor(6)).map((m) => m.value!.toString());
      assert.deepEqual(raw, ['c1', 'c2', 'a1', 'a2', 'a3', 'c3'], 'the aborted records are in the log');
    } finally {
      await committed.close();
      await uncommitted.close();
    }
  });
});
