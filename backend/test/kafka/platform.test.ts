/**
 * Issue 2 acceptance: the project's Kafka client against the local broker. Plain produce and
 * consume keep key, value, headers and timestamp and place keys like Java's partitioner; a
 * transactional producer's aborted records are never seen by a read_committed reader.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type ClientAdmin, type ClientConsumer, ClientProducer, LibrdkafkaClients } from '../../src/engines/kafka/client.ts';
import { partitionForKey } from '../../src/runtime/partitioner.ts';
import { CLIENT, connectAdmin, randomId, sleep, testProducer, TopicTail } from './support.ts';

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
  test('a group commit resolves once the group took it, and rejects when the group has moved on from the member', async () => {
    // The runtime takes a resolved commit for proof that it still owns its partitions (it then
    // checkpoints its stores at the changelog's end). A member fenced meanwhile must hear so:
    // here a second member with the same group.instance.id (static membership) replaces it.
    const topic = randomId('platform-commit');
    topics.push(topic);
    await admin.createTopics([{ name: topic, partitions: 1 }]);
    const producer = await testProducer();
    const produce = async (from: number, to: number): Promise<void> => {
      for (let i = from; i < to; i++) producer.produce(topic, 0, Buffer.from('k'), Buffer.from(`v${i}`), Date.now(), []);
      await producer.flush();
    };
    const clients = new LibrdkafkaClients({ ...CLIENT });
    const groupId = randomId('platform-group');
    const TOTAL = 2_000;
    const early: number[] = []; // records a joining member read while it waited for its assignment
    const join = async (clientId: string): Promise<ClientConsumer> => {
      let assigned = false;
      const consumer: ClientConsumer = clients.groupConsumer({
        clientId,
        groupId,
        groupInstanceId: 'the-same-instance',
        sessionTimeoutMs: 10_000,
        onRebalance: (kind, partitions) => {
          if (kind === 'assign') consumer.assign(partitions.map((p) => ({ topic: p.topic, partition: p.partition })));
          else consumer.unassign();
          assigned = kind === 'assign';
        },
      });
      await consumer.connect();
      consumer.subscribe([topic]);
      const deadline = Date.now() + 30_000;
      while (!assigned) {
        assert.ok(Date.now() < deadline, `${clientId} was assigned the partition`);
        early.push(...(await consumer.consume(10, 100)).messages.map((m) => m.offset));
      }
      return consumer;
    };
    await produce(0, 5);
    const first = await join('first');
    let second: ClientConsumer | undefined;
    try {
      const seen: number[] = early.splice(0);
      const read = async (until: number): Promise<void> => {
        const deadline = Date.now() + 10_000;
        while (seen.length < until && Date.now() < deadline) seen.push(...(await first.consume(2, 200)).messages.map((m) => m.offset));
      };
      await read(2);
      // Records arriving while the commit's answer is polled for are kept for the next consume.
      const producing = (async () => {
        // Pairs a few milliseconds apart: a commit's poll waiting for a record when its answer
        // comes is still waiting when the next consume starts, and the pair lands on both.
        for (let i = 5; i < TOTAL; i++) {
          producer.produce(topic, 0, Buffer.from('k'), Buffer.from(`v${i}`), Date.now(), []);
          if (i % 2 === 0) await sleep(4);
        }
        await producer.flush();
      })();
      // Committed again and again, each consume right after the commit resolves: none may
      // overlap a poll of the commit's (its records would come after the consume's).
      let last = 2;
      for (; seen.length < TOTAL; last++) {
        await first.commit([{ topic, partition: 0, offset: last }]);
        // Records the commit polled and kept are not handed out yet: the position says so.
        assert.equal(first.position([{ topic, partition: 0 }])[0]!.offset, seen.length, 'position: the next record to hand out');
        await read(seen.length + 1);
      }
      last--;
      await producing;
      assert.deepEqual(seen, Array.from({ length: TOTAL }, (_, i) => i), 'every record once, in order, around the commits');
      assert.deepEqual((await first.committed([{ topic, partition: 0 }])).map((c) => c.offset), [last], 'the commits took');
      second = await join('second');
      await sleep(500);
      await assert.rejects(first.commit([{ topic, partition: 0, offset: last + 5 }]), 'a member the group replaced cannot commit');
      assert.deepEqual((await second.committed([{ topic, partition: 0 }])).map((c) => c.offset), [last], 'the refused commit changed nothing');
      await second.commit([{ topic, partition: 0, offset: last + 1 }]);
      assert.deepEqual((await second.committed([{ topic, partition: 0 }])).map((c) => c.offset), [last + 1]);
    } finally {
      await producer.disconnect();
      await first.disconnect();
      await second?.disconnect();
    }
  });
});
