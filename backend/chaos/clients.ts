/**
 * The chaos runner's own Kafka clients (@confluentinc/kafka-javascript, its node-rdkafka API),
 * independent of the service's code: the runner checks the service, so it must not share its
 * client layer. Every wait on a client has a deadline.
 */
import Kafka from '@confluentinc/kafka-javascript';
import type { IAdminClient, KafkaConsumer, LibrdKafkaError, Message, MessageHeader, Producer } from '@confluentinc/kafka-javascript';
import { errorMessage, sleep, withDeadline } from './util.ts';

export type { Message };

const ERR = Kafka.CODES.ERRORS;
/** Deadline of one request to the broker (metadata, offsets, topic creation). */
const REQUEST_MS = 15_000;
const OFFSET_BEGINNING = -2;

export interface Delivery {
  readonly partition: number;
  readonly offset: number;
}

/** Client errors are expected while brokers restart; they are counted and sampled, not fatal. */
export class ErrorSampler {
  count = 0;
  readonly samples: string[] = [];
  note(source: string, error: LibrdKafkaError): void {
    this.count++;
    if (this.samples.length < 20) this.samples.push(`${source}: ${error.message} (code ${error.code})`);
  }
}

/**
 * An idempotent producer that places keys with the Java-compatible murmur2 partitioner, as every
 * producer of a flow must (SEMANTICS rule 9); `send` resolves on the delivery report.
 */
export class ChaosProducer {
  readonly #producer: Producer;
  readonly #pending = new Map<number, { resolve: (d: Delivery) => void; reject: (e: unknown) => void }>();
  #nextOpaque = 1;

  constructor(bootstrap: string, name: string, errors: ErrorSampler, extra: Record<string, string | number | boolean> = {}) {
    this.#producer = new Kafka.Producer({
      'bootstrap.servers': bootstrap,
      'client.id': name,
      partitioner: 'murmur2_random',
      'enable.idempotence': true,
      'linger.ms': 5,
      // Long enough to outlive a broker restart: a delivery that fails leaves the run inconclusive.
      'message.timeout.ms': 300_000,
      'queue.buffering.max.messages': 1_000_000,
      dr_cb: true,
      ...extra,
    } as never);
    this.#producer.on('delivery-report', (error, report) => {
      const opaque = report.opaque as number | undefined;
      const pending = opaque === undefined ? undefined : this.#pending.get(opaque);
      if (pending === undefined) return;
      this.#pending.delete(opaque!);
      if (error) pending.reject(error);
      else pending.resolve({ partition: report.partition, offset: report.offset });
    });
    this.#producer.on('event.error', (error) => errors.note(name, error));
  }

  async connect(): Promise<void> {
    await withDeadline(
      new Promise<void>((resolve, reject) => this.#producer.connect({ timeout: REQUEST_MS }, (error) => (error ? reject(error) : resolve()))),
      REQUEST_MS + 5000,
      'producer connect',
    );
    this.#producer.setPollInterval(10);
  }

  get inFlight(): number {
    return this.#pending.size;
  }

  /** Queues one record; resolves when the broker acknowledged it. A full local queue is waited out. */
  async send(topic: string, key: string, value: Buffer | null, headers: Record<string, string> = {}): Promise<Delivery> {
    const clientHeaders: MessageHeader[] = Object.entries(headers).map(([k, v]) => ({ [k]: v }));
    for (;;) {
      const opaque = this.#nextOpaque++;
      const delivered = new Promise<Delivery>((resolve, reject) => this.#pending.set(opaque, { resolve, reject }));
      try {
        this.#producer.produce(topic, null, value, Buffer.from(key), Date.now(), opaque, clientHeaders.length > 0 ? clientHeaders : undefined);
        return await delivered;
      } catch (error) {
        this.#pending.delete(opaque);
        if ((error as Partial<LibrdKafkaError>).code !== ERR.ERR__QUEUE_FULL) throw error;
        await sleep(20);
      }
    }
  }

  /** Waits until every queued record is delivered, or throws after `ms`. */
  async flush(ms: number): Promise<void> {
    await withDeadline(
      new Promise<void>((resolve, reject) => this.#producer.flush(ms, (error) => (error ? reject(error) : resolve()))),
      ms + 2000,
      'producer flush',
    );
  }

  async disconnect(): Promise<void> {
    if (!this.#producer.isConnected()) return;
    await withDeadline(
      new Promise<void>((resolve) => this.#producer.disconnect(5000, () => resolve())),
      8000,
      'producer disconnect',
    ).catch(() => undefined);
  }
}

export interface TopicPartitions {
  readonly topic: string;
  readonly partitions: number;
}

/**
 * Follows whole topics from their beginning, read_committed (the isolation every reader of a
 * flow's output must use), with no consumer group: it only assigns and never commits. One poll
 * loop per reader; `onMessages` gets each batch with the time it arrived.
 */
export class ChaosReader {
  readonly #consumer: KafkaConsumer;
  readonly #topics: readonly TopicPartitions[];
  #running: Promise<void> | undefined;
  #stopping = false;
  /** Error from the poll loop, if it ended on one. */
  failure: string | undefined;

  constructor(bootstrap: string, name: string, topics: readonly TopicPartitions[], errors: ErrorSampler, isolation: 'read_committed' | 'read_uncommitted' = 'read_committed') {
    this.#topics = topics;
    this.#consumer = new Kafka.KafkaConsumer(
      {
        'bootstrap.servers': bootstrap,
        'client.id': name,
        // librdkafka wants a group id even for assign(); this one never joins or commits.
        'group.id': `${name}-reader`,
        'enable.auto.commit': false,
        'isolation.level': isolation,
        'fetch.wait.max.ms': 100,
      } as never,
      { 'auto.offset.reset': 'earliest' },
    );
    (this.#consumer as unknown as { setDefaultIsTimeoutOnlyForFirstMessage(v: boolean): void }).setDefaultIsTimeoutOnlyForFirstMessage(true);
    this.#consumer.setDefaultConsumeTimeout(200);
    this.#consumer.on('event.error', (error) => errors.note(name, error));
  }

  async connect(): Promise<void> {
    await withDeadline(
      new Promise<void>((resolve, reject) => this.#consumer.connect({ timeout: REQUEST_MS }, (error) => (error ? reject(error) : resolve()))),
      REQUEST_MS + 5000,
      'consumer connect',
    );
    const assignment = this.#topics.flatMap(({ topic, partitions }) =>
      Array.from({ length: partitions }, (_, partition) => ({ topic, partition, offset: OFFSET_BEGINNING })),
    );
    this.#consumer.assign(assignment);
  }

  /** One poll: waits up to 200 ms for the first message, then takes what is there. */
  poll(max = 5000): Promise<Message[]> {
    return withDeadline(
      new Promise<Message[]>((resolve, reject) => this.#consumer.consume(max, (error, messages) => (error ? reject(error) : resolve(messages)))),
      30_000,
      'consume',
    );
  }

  /** Polls in the background until stop(); each batch goes to `onMessages` with its arrival time. */
  run(onMessages: (messages: readonly Message[], receivedAt: number) => void): void {
    this.#running = (async () => {
      while (!this.#stopping) {
        try {
          const messages = await this.poll();
          if (messages.length > 0) onMessages(messages, Date.now());
        } catch (error) {
          // Transient errors (a broker away) show up here; the loop goes on.
          this.failure = errorMessage(error);
          await sleep(200);
        }
      }
    })();
  }

  /** Next offset to read of each partition (undefined until it has fetched). */
  positions(): Map<string, number | undefined> {
    const all = this.#topics.flatMap(({ topic, partitions }) => Array.from({ length: partitions }, (_, partition) => ({ topic, partition })));
    const positions = new Map<string, number | undefined>();
    for (const p of this.#consumer.position(all)) {
      positions.set(`${p.topic}:${p.partition}`, p.offset !== undefined && p.offset >= 0 ? p.offset : undefined);
    }
    return positions;
  }

  async stop(): Promise<void> {
    this.#stopping = true;
    if (this.#running !== undefined) await withDeadline(this.#running, 35_000, 'reader poll loop').catch(() => undefined);
    if (!this.#consumer.isConnected()) return;
    await withDeadline(new Promise<void>((resolve) => this.#consumer.disconnect(() => resolve())), 10_000, 'consumer disconnect').catch(
      () => undefined,
    );
  }
}

export interface PartitionLeaders {
  readonly topic: string;
  /** Leader broker id of each partition (-1 when none). */
  readonly leaders: number[];
}

export interface NewTopicSpec {
  readonly name: string;
  readonly partitions: number;
  readonly replicationFactor: number;
  readonly config: Record<string, string>;
}

export class ChaosAdmin {
  readonly #admin: IAdminClient;

  constructor(bootstrap: string, name: string) {
    this.#admin = Kafka.AdminClient.create({ 'bootstrap.servers': bootstrap, 'client.id': name } as never);
  }

  async createTopic(spec: NewTopicSpec): Promise<void> {
    await withDeadline(
      new Promise<void>((resolve, reject) =>
        this.#admin.createTopic(
          { topic: spec.name, num_partitions: spec.partitions, replication_factor: spec.replicationFactor, config: spec.config },
          REQUEST_MS,
          (error) => (error ? reject(error) : resolve()),
        ),
      ),
      REQUEST_MS + 5000,
      `create topic ${spec.name}`,
    );
  }

  /** Partition leaders of each topic; a missing topic has no entry. */
  async describe(topics: readonly string[]): Promise<PartitionLeaders[]> {
    const result = await withDeadline(
      new Promise<Kafka.TopicDescription[]>((resolve, reject) =>
        this.#admin.describeTopics([...topics], { timeout: REQUEST_MS }, (error, descriptions) => (error ? reject(error) : resolve(descriptions))),
      ),
      REQUEST_MS + 5000,
      'describe topics',
    );
    return result
      .filter((description) => !description.error && description.partitions.length > 0)
      .map((description) => ({
        topic: description.name,
        leaders: [...description.partitions].sort((a, b) => a.partition - b.partition).map((p) => p.leader?.id ?? -1),
      }));
  }

  /** End offsets: read_committed gives the last stable offset, read_uncommitted the high watermark. */
  async endOffsets(topics: readonly TopicPartitions[], readCommitted: boolean): Promise<Map<string, number>> {
    const partitions = topics.flatMap(({ topic, partitions: count }) =>
      Array.from({ length: count }, (_, partition) => ({ topic, partition, offset: Kafka.OffsetSpec.LATEST })),
    );
    const result = await withDeadline(
      new Promise<Kafka.ListOffsetsResult[]>((resolve, reject) =>
        this.#admin.listOffsets(
          partitions,
          { timeout: REQUEST_MS, isolationLevel: readCommitted ? Kafka.IsolationLevel.READ_COMMITTED : Kafka.IsolationLevel.READ_UNCOMMITTED },
          (error, offsets) => (error ? reject(error) : resolve(offsets)),
        ),
      ),
      REQUEST_MS + 5000,
      'list offsets',
    );
    const failed = result.find((r) => r.error);
    if (failed?.error) throw new Error(`list offsets of ${failed.topic}:${failed.partition}: ${failed.error.message}`);
    return new Map(result.map((r) => [`${r.topic}:${r.partition}`, r.offset]));
  }

  disconnect(): void {
    this.#admin.disconnect();
  }
}

/** Reads topics from the beginning up to their end offsets as of the call (read_committed). */
export async function readAll(
  bootstrap: string,
  name: string,
  topics: readonly TopicPartitions[],
  admin: ChaosAdmin,
  errors: ErrorSampler,
  deadlineMs: number,
): Promise<Message[]> {
  const ends = await admin.endOffsets(topics, true);
  const reader = new ChaosReader(bootstrap, name, topics, errors);
  const messages: Message[] = [];
  const deadline = Date.now() + deadlineMs;
  try {
    await reader.connect();
    for (;;) {
      const positions = reader.positions();
      const behind = [...ends].filter(([id, end]) => end > 0 && (positions.get(id) ?? 0) < end);
      if (behind.length === 0) return messages;
      if (Date.now() > deadline) {
        throw new Error(`reading ${topics.map((t) => t.topic).join(', ')}: not at the end within ${deadlineMs} ms (${behind.map(([id]) => id).join(', ')} behind)`);
      }
      messages.push(...(await reader.poll()));
    }
  } finally {
    await reader.stop();
  }
}
