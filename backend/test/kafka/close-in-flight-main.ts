/**
 * Child process of faults.kafka.test.ts: a transactional producer whose commit is in flight
 * (the broker stopped under it) is closed. The binding frees its handle while librdkafka's
 * transaction call still runs (SIGABRT or SIGSEGV), unless ClientProducer waits for the call.
 * Prints COMMIT_IN_FLIGHT when the test may stop the broker, CLOSED when the close returned.
 * KAFKA_BROKERS: the broker; TOPIC: an existing topic.
 */
import { once } from 'node:events';
import { ClientProducer } from '../../src/engines/kafka/client.ts';

const producer = new ClientProducer({
  'bootstrap.servers': process.env.KAFKA_BROKERS!,
  'transactional.id': `close-in-flight-${process.pid}`,
  'enable.idempotence': true,
});
await producer.connect();
await producer.initTransactions();
await producer.beginTransaction();
producer.produce(process.env.TOPIC!, undefined, Buffer.from('k'), Buffer.from('v'), Date.now(), []);
await producer.flush();
process.stdout.write('READY\n');
await once(process, 'message'); // the broker is down now
// Undeliverable now: the commit first waits for it, and the close comes during that wait.
producer.produce(process.env.TOPIC!, undefined, Buffer.from('k'), Buffer.from('v2'), Date.now(), []);
const commit = producer.commitTransaction(20_000).then(
  () => 'committed',
  (error: unknown) => `failed: ${(error as Error).message}`,
);
await new Promise((resolve) => setTimeout(resolve, 500));
const closed = await producer.disconnect(1000);
process.stdout.write(`CLOSED ${closed} ${await commit}\n`);
process.exit(0);
