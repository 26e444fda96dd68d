/**
 * Standby replicas (STANDBY_REPLICAS=1, Kafka Streams' num.standby.replicas and StandbyTask): a
 * member keeps a warm copy of the buffer store of every partition it does NOT own, by following
 * the changelog partition (read_committed, group-less) into the same local store folder a task
 * of that partition would use. When the partition is assigned to it, the member hands the store
 * over (`release`: checkpoint at the standby's position, close) and the task's restore reads
 * only the tail from there; when a task is closed, its store becomes a standby again (`follow`:
 * from its checkpoint when the close wrote one, else wiped and from the beginning, as a restore).
 *
 * Placement: librdkafka's consumer group protocol gives the application no say in where
 * partitions go (Kafka Streams places standbys with its own assignor), so with STANDBY_REPLICAS=1
 * every member follows every changelog partition it does not own. Cost: each instance reads the
 * whole changelog once, then its tail, and keeps a copy of every buffer on its disk.
 *
 * Why a standby's checkpoint is safe: it applies only committed changelog records (read_committed),
 * in order, so its store holds exactly the changelog's state as of its position X (a record at
 * or after X has never been applied: `next` moves only past records it applied, or past what the
 * reader skipped itself: transaction markers, aborted records). A checkpoint it writes is its
 * position, so it never vouches for anything the store lacks (unlike end offsets taken at a
 * task's close: flow-member.ts, #closeTasks). Replaying changelog records from any offset <= X
 * over such a store is idempotent (puts and tombstones of the same entry keys, in order): for each
 * entry key the last record wins either way. So the standby may leave its checkpoint on disk while
 * it goes on applying (a crash replays a bit more), and refreshes it every few seconds. Its
 * environments are opened `durable` (every LMDB commit synced), so not even an OS crash can leave
 * that checkpoint beside a corrupt store.
 *
 * Every store write happens right after a poll returned, in the same synchronous stretch, and a
 * poll that began before the followed set changed is dropped whole (then read again from the
 * positions kept here): a store handed over is never written again by the standby.
 */
import type { Logger } from 'pino';
import type { FlowDefinition } from '../../config/config.ts';
import { type Clock, systemClock } from '../../runtime/clock.ts';
import { type LogClients, type LogConsumer, OFFSET_BEGINNING } from '../../runtime/log/port.ts';
import type { InputRecord } from '../../runtime/ports.ts';
import type { RestorableBufferStore } from '../../stores/restorable.ts';

/** How often a standby store's checkpoint is brought up to its position. */
export const STANDBY_CHECKPOINT_MS = 5_000;
/** Most changelog records applied per poll (bounds the time one batch takes from the member loop). */
const POLL_BATCH = 5_000;
const POLL_WAIT_MS = 200;
const IDLE_WAIT_MS = 200;
/** How often the lag is logged while there is some. */
const LAG_LOG_MS = 10_000;
/** A reader that moves nothing for this long while behind is replaced (a client stuck after a broker restart). */
const RENEW_AFTER_MS = 30_000;

export interface StandbyOptions {
  readonly flow: FlowDefinition;
  readonly clients: LogClients;
  readonly instanceId: string;
  /** The partition's store folder (the one its task uses). */
  readonly storeDir: (partition: number) => string;
  /** Opens a store for standby use (lmdb: durable). */
  readonly openStore: (dir: string) => RestorableBufferStore;
  readonly logger: Logger;
  readonly clock?: Clock;
}

interface Replica {
  readonly partition: number;
  readonly store: RestorableBufferStore;
  /** Next changelog offset to apply; undefined: nothing read yet, from the beginning. */
  next: number | undefined;
  /** The offset of the checkpoint on disk (undefined: none). */
  checkpointed: number | undefined;
}

/** What `release` hands over: where the task's restore starts. */
export interface Handover {
  readonly partition: number;
  /** The standby's position, written as the store's checkpoint; undefined: nothing read, none written. */
  readonly offset: number | undefined;
}

export class StandbyReplicas {
  readonly #o: StandbyOptions;
  readonly #log: Logger;
  readonly #clock: Clock;
  readonly #replicas = new Map<number, Replica>();
  #consumer: LogConsumer | undefined;
  /** Bumped on every change of the followed set: a poll begun under an older version is dropped. */
  #version = 0;
  #assignedVersion = -1;
  #loop: Promise<void> | undefined;
  #stopping = false;
  readonly #stop = new AbortController();
  #lastCheckpoint: number;
  #lastLagLog = 0;
  #lastMoved: number;
  /** Records applied since start (all partitions). */
  #applied = 0;
  #caughtUp = false;

  constructor(options: StandbyOptions) {
    this.#o = options;
    this.#log = options.logger.child({ standby: true });
    this.#clock = options.clock ?? systemClock;
    this.#lastCheckpoint = this.#lastMoved = this.#clock.now();
  }

  /** Partitions followed now. */
  get partitions(): number[] {
    return [...this.#replicas.keys()].sort((a, b) => a - b);
  }

  /** Changelog records applied since start. */
  get applied(): number {
    return this.#applied;
  }

  /** Changelog records not applied yet, over the followed partitions (from the reader's cached high watermarks). */
  lag(): number {
    let lag = 0;
    for (const replica of this.#replicas.values()) lag += this.#lagOf(replica) ?? 0;
    return lag;
  }

  /** undefined: the partition's end is not known yet. */
  #lagOf(replica: Replica): number | undefined {
    const end = this.#consumer?.cachedEndOffset(this.#o.flow.topics.changelog, replica.partition);
    if (end === undefined) return undefined;
    return Math.max(0, end - (replica.next ?? 0));
  }

  /**
   * Follows these partitions too (those followed already go on). Each store opens from its
   * checkpoint when it has one, else it is wiped and read from the beginning.
   */
  follow(partitions: readonly number[]): void {
    if (this.#stopping) return;
    const added: Array<{ partition: number; from: number | undefined }> = [];
    for (const partition of partitions) {
      if (this.#replicas.has(partition)) continue;
      const store = this.#o.openStore(this.#o.storeDir(partition));
      let checkpoint: number | undefined;
      try {
        checkpoint = store.readCheckpoint();
        if (checkpoint === undefined) store.clear();
      } catch (error) {
        store.close();
        throw error;
      }
      this.#replicas.set(partition, { partition, store, next: checkpoint, checkpointed: checkpoint });
      added.push({ partition, from: checkpoint });
    }
    if (added.length === 0) return;
    this.#version++;
    this.#caughtUp = false;
    this.#log.info({ flow: this.#o.flow.id, added, following: this.partitions }, 'standby replicas: following changelog partitions');
    this.#loop ??= this.#run();
  }

  /**
   * Stops following these partitions: each store gets its position as checkpoint and is closed,
   * for a task to open and restore from there. Partitions not followed are left out.
   */
  release(partitions: readonly number[]): Handover[] {
    const handed: Handover[] = [];
    for (const partition of partitions) {
      const replica = this.#replicas.get(partition);
      if (replica === undefined) continue;
      this.#replicas.delete(partition);
      this.#version++;
      handed.push({ partition, offset: this.#close(replica) });
    }
    if (handed.length > 0) this.#log.info({ flow: this.#o.flow.id, handed }, 'standby replicas: stores handed over to tasks');
    return handed;
  }

  /** Checkpoints and closes every store, stops following, closes the reader. */
  async stop(): Promise<void> {
    this.#stopping = true;
    this.#stop.abort();
    // Safe with a poll in flight: nothing is applied once stopping (see #run).
    for (const replica of this.#replicas.values()) this.#close(replica);
    this.#replicas.clear();
    this.#version++;
    // Bounded: a reader stuck connecting to brokers that are gone must not hold up a shutdown.
    const bound = new AbortController();
    await Promise.race([this.#loop, this.#clock.sleep(5_000, bound.signal).catch(() => undefined)]);
    bound.abort();
    await this.#consumer?.disconnect().catch(() => false);
    this.#consumer = undefined;
  }

  /** Checkpoint at the position (when known), close; returns the checkpoint written. */
  #close(replica: Replica): number | undefined {
    try {
      if (replica.next !== undefined && replica.next !== replica.checkpointed) replica.store.writeCheckpoint(replica.next);
      return replica.next ?? replica.checkpointed;
    } catch (error) {
      // No checkpoint then: whoever opens the store next wipes it and reads everything.
      this.#log.warn({ flow: this.#o.flow.id, partition: replica.partition, err: error }, 'standby checkpoint failed; the store will be restored in full');
      try {
        replica.store.writeCheckpoint(undefined);
      } catch {
        // the next open finds a checkpoint it cannot trust only if this fails too; a damaged one reads as none
      }
      return undefined;
    } finally {
      replica.store.close();
    }
  }

  async #run(): Promise<void> {
    while (!this.#stopping) {
      try {
        if (this.#replicas.size === 0) {
          await this.#sleep(IDLE_WAIT_MS);
          continue;
        }
        const consumer = await this.#reader();
        if (this.#assignedVersion !== this.#version) {
          const topic = this.#o.flow.topics.changelog;
          consumer.assign([...this.#replicas.values()].map((r) => ({ topic, partition: r.partition, offset: r.next ?? OFFSET_BEGINNING })));
          this.#assignedVersion = this.#version;
        }
        const version = this.#version;
        const { messages } = await consumer.consume(POLL_BATCH, POLL_WAIT_MS);
        if (this.#stopping) break;
        // The followed set changed while polling: the batch may hold records of a store handed
        // over (or wiped and followed afresh since); read again from the positions kept here.
        if (version !== this.#version || consumer !== this.#consumer) continue;
        this.#apply(messages);
        this.#afterPoll(consumer);
      } catch (error) {
        if (this.#stopping) break;
        this.#log.warn({ flow: this.#o.flow.id, err: error }, 'standby replicas: reading the changelog failed; renewing the reader');
        await this.#renew();
        await this.#sleep(1000);
      }
    }
  }

  async #reader(): Promise<LogConsumer> {
    if (this.#consumer !== undefined) return this.#consumer;
    const consumer = this.#o.clients.reader({ clientId: `${this.#o.flow.topics.changelog}-standby-${this.#o.instanceId}` });
    this.#consumer = consumer;
    this.#assignedVersion = -1;
    await consumer.connect();
    return consumer;
  }

  async #renew(): Promise<void> {
    const old = this.#consumer;
    this.#consumer = undefined;
    this.#assignedVersion = -1;
    this.#lastMoved = this.#clock.now();
    // Closes once its poll in flight is over.
    if (old !== undefined) void old.disconnect().catch(() => false);
  }

  #apply(messages: readonly InputRecord[]): void {
    for (const message of messages) {
      const replica = this.#replicas.get(message.partition);
      if (replica === undefined) continue;
      if (replica.next !== undefined && message.offset < replica.next) continue;
      const key = message.key;
      if (key !== null && key !== undefined) replica.store.restore(typeof key === 'string' ? Buffer.from(key) : key, message.value);
      replica.next = message.offset + 1;
      this.#applied++;
      this.#lastMoved = this.#clock.now();
    }
  }

  /** Positions (past markers and aborted records), checkpoints when due, lag log, stuck reader. */
  #afterPoll(consumer: LogConsumer): void {
    const now = this.#clock.now();
    const topic = this.#o.flow.topics.changelog;
    let moved = false;
    // No poll is in flight here: the reader's position is what was delivered and applied above.
    for (const position of consumer.position([...this.#replicas.keys()].map((partition) => ({ topic, partition })))) {
      const replica = this.#replicas.get(position.partition);
      if (replica === undefined || position.offset === undefined || position.offset < 0) continue;
      if (replica.next === undefined || position.offset > replica.next) {
        replica.next = position.offset;
        moved = true;
      }
    }
    if (moved) this.#lastMoved = now;
    if (now - this.#lastCheckpoint >= STANDBY_CHECKPOINT_MS) {
      this.#lastCheckpoint = now;
      for (const replica of this.#replicas.values()) {
        if (replica.next === undefined || replica.next === replica.checkpointed) continue;
        replica.store.writeCheckpoint(replica.next);
        replica.checkpointed = replica.next;
      }
    }
    const lags = [...this.#replicas.values()].map((replica) => this.#lagOf(replica));
    const lag = lags.reduce<number>((sum, l) => sum + (l ?? 0), 0);
    if (lag === 0 && !this.#caughtUp && lags.every((l) => l !== undefined)) {
      this.#caughtUp = true;
      this.#log.info({ flow: this.#o.flow.id, partitions: this.partitions, applied: this.#applied }, 'standby replicas caught up');
    } else if (lag > 0 && now - this.#lastLagLog >= LAG_LOG_MS) {
      this.#lastLagLog = now;
      this.#log.info({ flow: this.#o.flow.id, lag, partitions: this.partitions, applied: this.#applied }, 'standby replicas: changelog records behind');
    }
    if (lag > 0 && now - this.#lastMoved > RENEW_AFTER_MS) {
      this.#log.warn({ flow: this.#o.flow.id, lag }, 'standby replicas: no progress while behind; renewing the reader');
      void this.#renew();
    }
  }

  #sleep(ms: number): Promise<void> {
    return this.#clock.sleep(ms, this.#stop.signal).catch(() => undefined);
  }
}
