/**
 * Keeps a flow's StatusTable equal to its status topic (rule 10): a group-less consumer reads
 * every partition from the beginning, is caught up to the end offsets of startup before any
 * task processes, and then follows the topic for as long as the engine runs.
 *
 * How current the table is, is measured, not assumed: every BARRIER_INTERVAL_MS the follower
 * asks the brokers for the status topic's end offsets; once its reads pass them, the table holds
 * every status record written before the question was asked (`freshAsOf`). Tasks hold their input
 * while that is older than the configured lag (FlowMember, `statusMaxLagMs`), so a reader cut off
 * by a broker restart, or far behind on an overloaded machine, cannot let events of a key paused
 * seconds ago through. A follower that stays behind renews its consumer.
 */
import type { Logger } from 'pino';
import type { FlowDefinition } from '../../config/config.ts';
import { type Clock, systemClock } from '../../runtime/clock.ts';
import type { StatusTable } from '../../runtime/status-table.ts';
import type { LogAdmin, LogClients, LogConsumer } from '../../runtime/log/port.ts';
import type { InputRecord } from '../../runtime/ports.ts';
import { readToEnd } from './reader.ts';

/** How often the follower asks for the status topic's end offsets. */
const BARRIER_INTERVAL_MS = 250;
/** An end-offset question not answered within this is asked again (of a renewed admin client). */
const BARRIER_TIMEOUT_MS = 5_000;
/** A follower behind for this long renews its consumer (at most this often). */
const RENEW_AFTER_MS = 15_000;
/** Past this, readiness names the follower. */
const NOT_READY_AFTER_MS = 10_000;

export interface StatusFollowerOptions {
  /** Makes the follower's reader (and a new one when it renews). */
  readonly clients: LogClients;
  readonly flow: FlowDefinition;
  /** Partition count of the status topic. */
  readonly partitions: number;
  readonly table: StatusTable;
  readonly logger: Logger;
  /** Adapter tuning of this reader only (librdkafka properties), applied last. */
  readonly readerTuning?: Readonly<Record<string, string | number | boolean>>;
  readonly clock?: Clock;
}

export class StatusFollower {
  /** Its own admin client (end offsets), renewed with the consumer (and by itself when its view goes stale). */
  #admin: LogAdmin;
  readonly #clients: LogClients;
  readonly #flow: FlowDefinition;
  readonly #table: StatusTable;
  readonly #logger: Logger;
  #consumer: LogConsumer;
  readonly #partitions: number;
  /** Next offset to apply per partition: records are applied once, in order. */
  readonly #next = new Map<number, number>();
  #stopping = false;
  #loop: Promise<void> | undefined;
  #barrierLoop: Promise<void> | undefined;
  readonly #stop = new AbortController();
  readonly #clock: Clock;
  /** The table holds every status record written before this time (ms since the epoch). */
  #freshAsOf = 0;
  /** End offsets asked for at `at`, not reached yet. */
  #barrier: { at: number; ends: ReadonlyMap<number, number> } | undefined;
  #renewedAt: number;
  #lastError: string | undefined;

  readonly #tuning: Readonly<Record<string, string | number | boolean>>;

  constructor(options: StatusFollowerOptions) {
    this.#clients = options.clients;
    this.#tuning = options.readerTuning ?? {};
    this.#flow = options.flow;
    this.#table = options.table;
    this.#partitions = options.partitions;
    // The status topic has the flow's partition count (checked at startup): the table may forget
    // ACTIVE keys (status-table.ts says why that is safe).
    this.#table.setPartitions(options.partitions);
    this.#logger = options.logger;
    this.#clock = options.clock ?? systemClock;
    this.#renewedAt = this.#clock.now();
    this.#consumer = this.#newConsumer();
    this.#admin = this.#newAdmin();
  }

  #newAdmin(): LogAdmin {
    return this.#clients.admin({
      clientId: `${this.#flow.topics.status}-status-follower/admin`,
      onRenew: (error) => this.#logger.warn({ flow: this.#flow.id, err: error }, 'status follower: admin client renewed'),
    });
  }

  #newConsumer(): LogConsumer {
    // Pauses must reach the table soon, also after a broker restart: the default reconnect
    // backoff (up to 10 s) and fetch wait (500 ms) let the input run ahead of a PAUSED for seconds.
    return this.#clients.reader({
      clientId: `${this.#flow.topics.status}-status-follower`,
      tuning: {
        'fetch.wait.max.ms': 100,
        'fetch.error.backoff.ms': 100,
        'reconnect.backoff.ms': 50,
        'reconnect.backoff.max.ms': 1000,
        // A status topic of millions of records would otherwise be prefetched 128 MiB at a time
        // into librdkafka's queue (native memory, kept by the allocator once the table is built).
        'queued.max.messages.kbytes': 16 * 1024,
        ...this.#tuning,
      },
    });
  }

  /** Reads the topic up to its end offsets as of now, then follows it in the background. */
  async start(): Promise<void> {
    await this.#consumer.connect();
    const started = this.#clock.now();
    const topic = this.#flow.topics.status;
    const ranges = Array.from({ length: this.#partitions }, (_, partition) => ({ topic, partition, from: undefined }));
    const ends = await readToEnd(this.#admin, this.#consumer, ranges, (messages) => this.#apply(messages), this.#clock);
    this.#logger.info(
      { flow: this.#flow.id, topic, pausedKeys: this.#table.pausedCount, ms: this.#clock.now() - started },
      'status table caught up',
    );
    for (const { partition } of ranges) {
      this.#next.set(partition, Math.max(ends.get(`${topic}:${partition}`) ?? 0, this.#next.get(partition) ?? 0));
    }
    this.#freshAsOf = started;
    this.#assign();
    this.#loop = this.#follow();
    this.#barrierLoop = this.#barriers();
  }

  /**
   * How far behind the status topic the table may be, in ms: the age of the newest moment as of
   * which it is known to hold every status record.
   */
  lag(): number {
    return Math.max(0, this.#clock.now() - this.#freshAsOf);
  }

  /** How long the table has not been known current, past 10 s; undefined when fine. */
  stalledFor(): number | undefined {
    const lag = this.lag();
    return lag > NOT_READY_AFTER_MS ? lag : undefined;
  }

  /** Why the table is behind (the last failure), for readiness. */
  get lastError(): string | undefined {
    return this.#lastError;
  }

  async stop(): Promise<void> {
    this.#stopping = true;
    this.#stop.abort();
    await Promise.all([this.#loop, this.#barrierLoop]);
    await Promise.all([this.#consumer.disconnect(), this.#admin.disconnect()]);
  }

  #assign(): void {
    const topic = this.#flow.topics.status;
    this.#consumer.assign([...this.#next].map(([partition, offset]) => ({ topic, partition, offset })));
  }

  async #follow(): Promise<void> {
    while (!this.#stopping) {
      try {
        const { messages } = await this.#consumer.consume(1000, 100);
        this.#apply(messages);
        this.#checkBarrier();
      } catch (error) {
        this.#lastError = `reading ${this.#flow.topics.status} failed: ${(error as Error).message}`;
        this.#logger.warn({ flow: this.#flow.id, err: error }, 'status topic read failed; retrying');
        await this.#sleep(500);
      }
      if (this.lag() > RENEW_AFTER_MS && this.#clock.now() - this.#renewedAt > RENEW_AFTER_MS && !this.#stopping) await this.#renew();
    }
  }

  /** Asks for the end offsets every BARRIER_INTERVAL_MS, one question at a time. */
  async #barriers(): Promise<void> {
    const topic = this.#flow.topics.status;
    const partitions = Array.from({ length: this.#partitions }, (_, partition) => ({ topic, partition }));
    while (!this.#stopping) {
      if (this.#barrier === undefined) {
        const at = this.#clock.now();
        try {
          const ends = await this.#admin.listOffsets(partitions, 'latest', true, BARRIER_TIMEOUT_MS);
          this.#barrier = { at, ends: new Map(ends.map((end) => [end.partition, end.offset])) };
          this.#checkBarrier();
        } catch (error) {
          this.#lastError = `end offsets of ${topic} unknown: ${(error as Error).message}`;
          this.#logger.debug({ flow: this.#flow.id, err: error }, 'status topic end offsets unknown');
        }
      }
      await this.#sleep(BARRIER_INTERVAL_MS);
    }
  }

  /** Moves freshAsOf once the reads have passed the end offsets asked for. */
  #checkBarrier(): void {
    const barrier = this.#barrier;
    if (barrier === undefined) return;
    let positions: Map<number, number> | undefined;
    for (const [partition, end] of barrier.ends) {
      if ((this.#next.get(partition) ?? 0) >= end) continue;
      // Transaction markers are never delivered: the consumer's position moves past them.
      try {
        positions ??= new Map(
          this.#consumer
            .position()
            .filter((position) => position.offset !== undefined && position.offset >= 0)
            .map((position) => [position.partition, position.offset!]),
        );
      } catch {
        return; // a consumer being renewed: not known yet
      }
      if ((positions.get(partition) ?? 0) < end) return;
    }
    this.#freshAsOf = barrier.at;
    this.#barrier = undefined;
    this.#lastError = undefined;
  }

  /**
   * New clients, the consumer from the next offsets to apply: one kept after a fault can stay
   * broken. Both: a stuck admin client leaves the end offsets unknown, and the table counts as
   * behind for good however current the reads are (found by the fault simulation: a wedged
   * instance held its input forever while its consumer was renewed every 15 s).
   */
  async #renew(): Promise<void> {
    this.#renewedAt = this.#clock.now();
    this.#logger.warn({ flow: this.#flow.id, lagMs: this.lag(), lastError: this.#lastError }, 'status table behind; renewing its clients');
    const old = this.#consumer;
    this.#consumer = this.#newConsumer();
    void old.disconnect().catch(() => false);
    const oldAdmin = this.#admin;
    this.#admin = this.#newAdmin();
    // Closes once its call in flight (a barrier) is over.
    void oldAdmin.disconnect().catch(() => false);
    try {
      await this.#consumer.connect();
      this.#assign();
    } catch (error) {
      this.#lastError = `reconnecting to ${this.#flow.topics.status} failed: ${(error as Error).message}`;
      this.#logger.warn({ flow: this.#flow.id, err: error }, 'status follower reconnect failed; retrying');
    }
  }

  #sleep(ms: number): Promise<void> {
    return this.#clock.sleep(ms, this.#stop.signal);
  }

  #apply(messages: readonly InputRecord[]): void {
    for (const message of messages) {
      if (message.offset < (this.#next.get(message.partition) ?? 0)) continue;
      this.#next.set(message.partition, message.offset + 1);
      const error = this.#table.apply(message);
      if (error !== undefined) {
        this.#logger.warn({ flow: this.#flow.id, partition: message.partition, offset: message.offset, error }, 'status record skipped');
      }
    }
  }
}
