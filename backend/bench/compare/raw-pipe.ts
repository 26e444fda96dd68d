/**
 * The raw pipe, a process of its own so that its CPU and memory are measured like every other
 * system's: one consumer-group member that copies every record of --input unchanged to --output
 * with the same Kafka client and producer settings as event-pause, committing every 100 ms (a
 * transaction carrying the consumed offsets under exactly_once; flush, then commit, under
 * at_least_once). Prints READY once it has its partitions; SIGTERM stops it.
 *
 *   node backend/bench/compare/raw-pipe.ts --bootstrap B --input T --output T --group G --guarantee exactly_once|at_least_once
 */
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { ClientConsumer, ClientProducer, isQueueFull, type TopicPartitionOffset } from '../../src/engines/kafka/client.ts';

const { values: args } = parseArgs({
  options: {
    bootstrap: { type: 'string', default: '127.0.0.1:9092' },
    input: { type: 'string' },
    output: { type: 'string' },
    group: { type: 'string' },
    guarantee: { type: 'string', default: 'exactly_once' },
    'commit-interval-ms': { type: 'string', default: '100' },
  },
});
if (args.input === undefined || args.output === undefined || args.group === undefined) {
  process.stderr.write('usage: raw-pipe.ts --bootstrap B --input T --output T --group G --guarantee exactly_once|at_least_once\n');
  process.exit(2);
}
const input = args.input;
const output = args.output;
const exactlyOnce = args.guarantee === 'exactly_once';
const commitEveryMs = Number(args['commit-interval-ms']);
const base = { 'bootstrap.servers': args.bootstrap! };

let ready = false;
const consumer = new ClientConsumer(
  { ...base, 'group.id': args.group, 'client.id': 'raw-pipe', 'partition.assignment.strategy': 'range', 'isolation.level': 'read_committed', 'enable.auto.offset.store': false, 'enable.auto.commit': false },
  (kind, partitions) => {
    if (kind === 'assign') {
      consumer.assign(partitions);
      if (!ready) process.stdout.write('READY\n');
      ready = true;
    } else consumer.unassign();
  },
);
// The producer settings of event-pause's member (flow-member.ts).
const producer = new ClientProducer({
  ...base,
  'client.id': 'raw-pipe',
  partitioner: 'murmur2_random',
  'enable.idempotence': true,
  'linger.ms': 5,
  'queue.buffering.max.messages': 500_000,
  'queue.buffering.max.kbytes': 32 * 1024,
  'batch.num.messages': 10_000,
  ...(exactlyOnce ? { 'transactional.id': `raw-pipe-${randomBytes(4).toString('hex')}`, 'transaction.timeout.ms': 10_000 } : { dr_cb: true }),
});
await producer.connect();
if (exactlyOnce) {
  await producer.initTransactions();
  await producer.beginTransaction();
}
await consumer.connect();
consumer.subscribe([input]);

let stopping = false;
process.on('SIGTERM', () => (stopping = true));
process.on('SIGINT', () => (stopping = true));

const offsets = new Map<number, TopicPartitionOffset>();
let lastCommit = performance.now();
async function commit(): Promise<void> {
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
}

while (!stopping) {
  const { messages } = await consumer.consume(2000, 50);
  for (const message of messages) {
    const key = message.key === null || message.key === undefined ? null : Buffer.isBuffer(message.key) ? message.key : Buffer.from(message.key);
    for (;;) {
      try {
        producer.produce(output, undefined, key, message.value, message.timestamp ?? Date.now(), []);
        break;
      } catch (error) {
        if (!isQueueFull(error)) throw error;
        producer.poll();
        await new Promise((resolve) => setTimeout(resolve, 2));
      }
    }
    offsets.set(message.partition, { topic: message.topic, partition: message.partition, offset: message.offset + 1 });
  }
  if (performance.now() - lastCommit >= commitEveryMs) await commit();
}
await commit();
await consumer.disconnect();
await producer.disconnect();
process.exit(0);
