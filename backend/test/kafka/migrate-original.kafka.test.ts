/**
 * Switching from the original with keys paused (`event-pause migrate-from-original`): records
 * written in the original's exact format (its buffer-store changelog: the key's whole list of
 * events as JSON, Spring's `__TypeId__` headers, tombstones once drained) and its consumer
 * group's committed offsets are moved over; event-pause then starts where the original stopped
 * and releases the held events first, in order, before the events that arrived since.
 */
import assert from 'node:assert/strict';
import { afterEach, describe, test } from 'node:test';
import { LibrdkafkaClients } from '../../src/engines/kafka/client.ts';
import { migrateFromOriginal, MigrationError } from '../../src/engines/kafka/migrate-original.ts';
import { partitionForKey } from '../../src/runtime/partitioner.ts';
import { KafkaHarness } from './kafka-harness.ts';
import { CLIENT, connectAdmin, randomId, sleep, testProducer, waitForTopics } from './support.ts';

const PARTITIONS = 3;
/** What Spring's JsonSerializer adds to a List<Event> value. */
const SPRING_HEADERS = [
  { key: '__TypeId__', value: Buffer.from('java.util.ArrayList') },
  { key: '__ContentTypeId__', value: Buffer.from('com.example.app.model.Event') },
];

const original = (id: string, data: string, timestamp: number) => ({ id, data, timestamp });

describe('Kafka: migration from the original', () => {
  let h: KafkaHarness | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });

  test('held events come out first, in order, before newer ones; what the original processed is not read again', async () => {
    h = new KafkaHarness();
    await h.start({ partitions: PARTITIONS, instances: 0 });
    const flow = h.flow;
    const clients = new LibrdkafkaClients({ ...CLIENT });
    const originalApp = randomId('orig');
    const changelog = `${originalApp}-buffer-store-${flow.id}-changelog`;
    const admin = await connectAdmin();
    const producer = await testProducer();
    try {
      await admin.createTopics([{ name: changelog, partitions: PARTITIONS, config: { 'cleanup.policy': 'compact' } }]);
      await waitForTopics(admin, [changelog]);

      // What the original read: A's events (it held them, A paused), B's (it passed them on).
      await h.setStatus('A', 'PAUSED');
      for (const id of ['a1', 'a2', 'a3']) await h.sendEvent('A', id);
      await h.sendEvent('B', 'b1');
      await h.sendEvent('C', 'c1');
      const ends = await admin.listOffsets(
        Array.from({ length: PARTITIONS }, (_, partition) => ({ topic: flow.topics.main, partition })),
        'latest',
        true,
      );
      const group = clients.groupConsumer({ clientId: 'orig', groupId: originalApp, sessionTimeoutMs: 10_000, onRebalance: () => undefined });
      await group.connect();
      const committed = ends.filter((e) => e.offset > 0).map((e) => ({ topic: flow.topics.main, partition: e.partition, offset: e.offset }));
      group.assign(committed);
      await group.commit(committed);
      await group.disconnect();

      // Its changelog, every version: A's list grew; C's was drained (tombstone).
      const write = (key: string, events: ReturnType<typeof original>[] | null) =>
        producer.send(changelog, partitionForKey(key, PARTITIONS), Buffer.from(key), events === null ? null : Buffer.from(JSON.stringify(events)), undefined, events === null ? [] : SPRING_HEADERS);
      await write('A', [original('a1', 'x', 1), original('a2', 'x', 2)]);
      await write('C', [original('c1', 'x', 3)]);
      await write('A', [original('a1', 'x', 1), original('a2', 'x', 2), original('a3', 'x', 4)]);
      await write('C', null);

      // The original is stopped; events keep arriving.
      await h.sendEvent('A', 'a4');
      await h.sendEvent('B', 'b2');

      const progress: string[] = [];
      const report = await migrateFromOriginal(clients, { flow, applicationId: h.applicationId, changelog, progress: (line) => progress.push(line) });
      assert.equal(report.originalGroup, originalApp, 'the original\'s group found from the changelog\'s name');
      assert.equal(report.keys, 1);
      assert.equal(report.events, 3);
      assert.ok(progress.some((line) => line.includes('written to')), progress.join('\n'));

      await h.addInstance();
      // B: only what arrived since (b1 was the original's); A holds its 3 old events and the new one.
      await h.waitForOutput(1, 60_000);
      await sleep(1500);
      assert.deepEqual((await h.output()).map((r) => r.id), ['b2']);
      assert.equal(await h.bufferCount('A'), 4);

      await h.setStatus('A', 'ACTIVE');
      await h.sendResume('A');
      await h.waitForOutput(5, 60_000);
      await sleep(1000);
      const out = await h.output();
      assert.deepEqual(out.filter((r) => r.key === 'A').map((r) => r.id), ['a1', 'a2', 'a3', 'a4'], 'held first, in order, then the newer one');
      assert.equal(out.length, 5, 'nothing twice');
      assert.equal(out.find((r) => r.id === 'a1')?.value?.toString(), JSON.stringify(original('a1', 'x', 1)), 'the original\'s event, as it wrote it');

      // Once event-pause has run, the migration refuses (held events would land behind newer ones).
      await assert.rejects(migrateFromOriginal(clients, { flow, applicationId: h.applicationId, changelog }), (error: unknown) => {
        assert.ok(error instanceof MigrationError);
        assert.match(error.message, /already committed offsets/);
        return true;
      });
    } finally {
      await producer.disconnect();
      admin.disconnect();
    }
  });

  test('a record that is not the original\'s format stops it before anything is written', async () => {
    h = new KafkaHarness();
    await h.start({ partitions: PARTITIONS, instances: 0 });
    const flow = h.flow;
    const clients = new LibrdkafkaClients({ ...CLIENT });
    const changelog = `${randomId('orig')}-store-changelog`;
    const admin = await connectAdmin();
    const producer = await testProducer();
    try {
      await admin.createTopics([{ name: changelog, partitions: PARTITIONS }]);
      await waitForTopics(admin, [changelog]);
      await producer.send(changelog, partitionForKey('K', PARTITIONS), Buffer.from('K'), Buffer.from('{"not":"a list"}'), undefined, []);
      await assert.rejects(migrateFromOriginal(clients, { flow, applicationId: h.applicationId, changelog, originalGroup: 'whatever' }), (error: unknown) => {
        assert.ok(error instanceof MigrationError);
        assert.match(error.message, /partition \d offset 0 \(key "K"\): not a JSON list of events; nothing was written/);
        return true;
      });
    } finally {
      await producer.disconnect();
      admin.disconnect();
    }
  });
});
