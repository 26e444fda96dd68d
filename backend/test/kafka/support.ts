/**
 * Helpers for tests and benchmarks on the real broker: fresh flows with their own topics,
 * a producer, and a read_committed tail of a topic.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { type FlowDefinition, parseFlowsFile } from '../../src/config/config.ts';
import { ClientAdmin, type ClientConfig, type ClientConsumer, ClientProducer, readerConsumer } from '../../src/engines/kafka/client.ts';
import type { InputRecord } from '../../src/runtime/ports.ts';
import { createFlowTopics } from '../../src/engines/kafka/topics.ts';

export const BROKERS = process.env.KAFKA_BROKERS ?? '127.0.0.1:9092';
export const CLIENT: ClientConfig = { 'bootstrap.servers': BROKERS };

export function randomId(prefix = 't'): string {
  return `${prefix}-${randomBytes(5).toString('hex')}`;
}

export interface TestFlow {
  readonly applicationId: string;
  readonly flow: FlowDefinition;
  /** A flows file for EVENT_PAUSE_CONFIG. */
  readonly configFile: string;
}

/** A flow with its own random id and application id; topics are not created. */
export function newFlow(partitions: number, applicationId = randomId('ep')): TestFlow {
  const id = randomId('t');
  const json = { applicationId, partitions, flows: [{ id }] };
  const { flows } = parseFlowsFile(json, 'test');
  const dir = mkdtempSync(path.join(tmpdir(), 'ep-kafka-'));
  const configFile = path.join(dir, 'flows.json');
  writeFileSync(configFile, JSON.stringify(json));
  return { applicationId, flow: flows[0]!, configFile };
}

/** An admin client that fails fast when the broker is missing (tests fail, never skip). */
export async function connectAdmin(): Promise<ClientAdmin> {
  await reachable(BROKERS);
  const admin = new ClientAdmin({ ...CLIENT, 'client.id': 'ep-test-admin' });
  try {
    await admin.describeTopics(['__ep_probe']);
  } catch (error) {
    admin.disconnect();
    throw new Error(`no Kafka at ${BROKERS} (start it with scripts/start_infra.sh): ${(error as Error).message}`, { cause: error });
  }
  return admin;
}

/** Fails within 3 s when nothing listens at the first bootstrap address. */
function reachable(brokers: string): Promise<void> {
  const [host, port] = brokers.split(',')[0]!.trim().split(':');
  return new Promise((resolve, reject) => {
    const socket = connect({ host: host!, port: Number(port), timeout: 3000 });
    const fail = (why: string): void => {
      socket.destroy();
      reject(new Error(`no Kafka at ${brokers} (${why}); start it with scripts/start_infra.sh`));
    };
    socket.once('connect', () => {
      socket.end();
      resolve();
    });
    socket.once('timeout', () => fail('connection timed out'));
    socket.once('error', (error) => fail(error.message));
  });
}

/** Waits until the broker lists these topics (creation completes after the call returns). */
export async function waitForTopics(admin: ClientAdmin, names: readonly string[], timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const infos = await admin.describeTopics(names);
    if (infos.every((t) => t.partitions !== undefined)) return;
    if (Date.now() > deadline) throw new Error(`topics not visible ${timeoutMs} ms after creating them: ${infos.filter((t) => t.partitions === undefined).map((t) => t.name).join(', ')}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

export async function createTopics(admin: ClientAdmin, flow: FlowDefinition, partitions = flow.partitions): Promise<void> {
  await createFlowTopics(admin, flow, partitions);
}

/** A plain producer that places keys with the Java-compatible murmur2 partitioner. */
export async function testProducer(extra: ClientConfig = {}): Promise<ClientProducer> {
  const producer = new ClientProducer({
    ...CLIENT,
    'client.id': 'ep-test-producer',
    partitioner: 'murmur2_random',
    'enable.idempotence': true,
    'linger.ms': 2,
    dr_cb: true,
    ...extra,
  });
  await producer.connect();
  return producer;
}

/** Follows every partition of a topic from the beginning, read_committed, collecting records. */
export class TopicTail {
  readonly topic: string;
  readonly records: InputRecord[] = [];
  readonly #consumer: ClientConsumer;
  readonly #partitions: number;
  #connected = false;

  constructor(topic: string, partitions: number, extra: ClientConfig = {}) {
    this.topic = topic;
    this.#partitions = partitions;
    this.#consumer = readerConsumer(CLIENT, `${topic}-tail-${randomBytes(3).toString('hex')}`, extra);
  }

  async #connect(): Promise<void> {
    if (this.#connected) return;
    this.#connected = true;
    await this.#consumer.connect();
    this.#consumer.assign(Array.from({ length: this.#partitions }, (_, partition) => ({ topic: this.topic, partition, offset: -2 })));
  }

  /** Takes what has arrived; waits up to `waitMs` for the first record. */
  async poll(waitMs = 100): Promise<number> {
    await this.#connect();
    const { messages } = await this.#consumer.consume(10_000, waitMs);
    for (const message of messages) this.records.push(message);
    return messages.length;
  }

  /** Polls until at least `count` records arrived or the timeout passes (then throws). */
  async waitFor(count: number, timeoutMs = 30_000): Promise<InputRecord[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.records.length < count) {
      if (Date.now() > deadline) {
        throw new Error(`${this.topic}: expected at least ${count} records within ${timeoutMs} ms, got ${this.records.length}`);
      }
      await this.poll(200);
    }
    return this.records;
  }

  /** Polls until every partition is read up to its end offset (read_committed) as of the call. */
  async catchUp(admin: ClientAdmin, timeoutMs = 30_000): Promise<InputRecord[]> {
    await this.#connect();
    const partitions = Array.from({ length: this.#partitions }, (_, partition) => ({ topic: this.topic, partition }));
    const ends = await admin.listOffsets(partitions, 'latest', true);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const positions = this.#consumer.position(partitions);
      const behind = ends.filter((end) => {
        if (end.offset === 0) return false;
        const position = positions.find((p) => p.partition === end.partition)?.offset;
        return position === undefined || position < end.offset;
      });
      if (behind.length === 0) return this.records;
      if (Date.now() > deadline) throw new Error(`${this.topic}: not caught up within ${timeoutMs} ms`);
      await this.poll(100);
    }
  }

  /** Polls until nothing new arrives for `quietMs`. */
  async settle(quietMs = 1000): Promise<InputRecord[]> {
    await this.#connect();
    let quietSince = Date.now();
    while (Date.now() - quietSince < quietMs) {
      if ((await this.poll(100)) > 0) quietSince = Date.now();
    }
    return this.records;
  }

  async close(): Promise<void> {
    await this.#consumer.disconnect();
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
