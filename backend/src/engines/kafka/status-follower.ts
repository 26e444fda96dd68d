/**
 * Keeps a flow's StatusTable equal to its status topic (rule 10): a group-less consumer reads
 * every partition from the beginning, is caught up to the end offsets of startup before any
 * task processes, and then follows the topic for as long as the engine runs.
 */
import type { Logger } from 'pino';
import type { FlowDefinition } from '../../config/config.ts';
import type { StatusTable } from '../../runtime/status-table.ts';
import type { ClientConfig, ClientConsumer, Message, OffsetsAdmin } from './client.ts';
import { readerConsumer, readToEnd, toInputRecord } from './reader.ts';

export class StatusFollower {
  readonly #admin: OffsetsAdmin;
  readonly #flow: FlowDefinition;
  readonly #table: StatusTable;
  readonly #logger: Logger;
  readonly #consumer: ClientConsumer;
  readonly #partitions: number;
  /** Next offset to apply per partition: records are applied once, in order. */
  readonly #next = new Map<number, number>();
  #stopping = false;
  #loop: Promise<void> | undefined;
  /** Since when reads of the status topic fail (undefined while they succeed). */
  #failingSince: number | undefined;

  constructor(admin: OffsetsAdmin, base: ClientConfig, flow: FlowDefinition, partitions: number, table: StatusTable, logger: Logger) {
    this.#admin = admin;
    this.#flow = flow;
    this.#table = table;
    this.#partitions = partitions;
    this.#logger = logger;
    // Pauses must reach the table soon, also after a broker restart: the default reconnect
    // backoff (up to 10 s) and fetch wait (500 ms) let the input run ahead of a PAUSED for seconds.
    this.#consumer = readerConsumer(base, `${flow.topics.status}-status-follower`, {
      'fetch.wait.max.ms': 100,
      'fetch.error.backoff.ms': 100,
      'reconnect.backoff.ms': 50,
      'reconnect.backoff.max.ms': 1000,
    });
  }

  /** Reads the topic up to its end offsets as of now, then follows it in the background. */
  async start(): Promise<void> {
    await this.#consumer.connect();
    const started = Date.now();
    const topic = this.#flow.topics.status;
    const ranges = Array.from({ length: this.#partitions }, (_, partition) => ({ topic, partition, from: undefined }));
    const ends = await readToEnd(this.#admin, this.#consumer, ranges, (messages) => this.#apply(messages));
    this.#logger.info(
      { flow: this.#flow.id, topic, pausedKeys: this.#table.pausedCount, ms: Date.now() - started },
      'status table caught up',
    );
    const assignment = ranges.map(({ partition }) => ({
      topic,
      partition,
      offset: Math.max(ends.get(`${topic}:${partition}`) ?? 0, this.#next.get(partition) ?? 0),
    }));
    this.#consumer.assign(assignment);
    this.#loop = this.#follow();
  }

  /** How long reads of the status topic have been failing, past 10 s; undefined when fine. */
  stalledFor(): number | undefined {
    if (this.#failingSince === undefined) return undefined;
    const failing = Date.now() - this.#failingSince;
    return failing > 10_000 ? failing : undefined;
  }

  async stop(): Promise<void> {
    this.#stopping = true;
    await this.#loop;
    await this.#consumer.disconnect();
  }

  async #follow(): Promise<void> {
    while (!this.#stopping) {
      try {
        const { messages } = await this.#consumer.consume(1000, 200);
        this.#failingSince = undefined;
        this.#apply(messages);
      } catch (error) {
        this.#failingSince ??= Date.now();
        this.#logger.warn({ flow: this.#flow.id, err: error }, 'status topic read failed; retrying');
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
    }
  }

  #apply(messages: readonly Message[]): void {
    for (const message of messages) {
      if (message.offset < (this.#next.get(message.partition) ?? 0)) continue;
      this.#next.set(message.partition, message.offset + 1);
      const error = this.#table.apply(toInputRecord(message));
      if (error !== undefined) {
        this.#logger.warn({ flow: this.#flow.id, partition: message.partition, offset: message.offset, error }, 'status record skipped');
      }
    }
  }
}
