/**
 * One flow's member of its consumer group (`<applicationId>-<flowId>`) on this instance: a
 * consumer of `main` and `trigger`, one producer, and one StreamTask per assigned partition
 * number. A single loop owns all of them:
 *
 *   rebalance? -> revoke: commit, checkpoint, close tasks; assign: restore stores, open tasks
 *   poll a batch -> process each record in its task
 *   one drain slice per task (a huge buffer drains in slices while input keeps flowing, rule 7)
 *   punctuate due tasks (stranded events, rule 4)
 *   commit interval passed -> commit
 *
 * exactly_once: everything a commit interval writes (output, dead letters, changelog) and the
 * input offsets (sent with the consumer's group metadata: EOS v2 fencing) commit in one
 * transaction. at_least_once: idempotent producer, flush, then commit offsets.
 * A failed commit aborts, rewinds to the committed offsets and rebuilds the stores from their
 * changelog; a fatal producer error restarts the member.
 *
 * Partitions are assigned by the `range` assignor with eager rebalancing: with main and trigger
 * co-partitioned, partition p of both lands on the same member, and every rebalance revokes
 * everything first, so no task ever runs while another member may own its partition.
 *
 * STANDBY_REPLICAS=1 (standby.ts): the stores of the partitions the member does not own are kept
 * warm by following their changelog; an assignment takes them over (restore from the standby's
 * position), and a closed task's store becomes a standby once no rebalance happened for a while.
 */
import path from 'node:path';
import type { Logger } from 'pino';
import type { FlowDefinition, RuntimeSettings } from '../../config/config.ts';
import { type Clock, systemClock } from '../../runtime/clock.ts';
import type { ProcessorFactory } from '../../runtime/engine.ts';
import type { InputRecord, OutputRecord, ProcessingEvent } from '../../runtime/ports.ts';
import type { StatusTable } from '../../runtime/status-table.ts';
import { openLmdbBufferStore } from '../../stores/lmdb-buffer-store.ts';
import type { RestorableBufferStore } from '../../stores/restorable.ts';
import { type FlowHandler, FlowTasks, type OpenTask } from './flow-tasks.ts';
import { type Guarantee, GUARANTEES } from './guarantees.ts';
import { errorKind, isGenerationError, isQueueFull } from '../../runtime/log/errors.ts';
import {
  type LogAdmin,
  type LogClients,
  type LogConsumer,
  type LogProducer,
  OFFSET_BEGINNING,
  OFFSET_INVALID,
  type RebalanceKind,
  type TopicPartition,
  type TopicPartitionOffset,
  type TopicPartitionPosition,
} from '../../runtime/log/port.ts';
import { readToEnd } from './reader.ts';
import { StandbyReplicas } from './standby.ts';

/** Most input records taken per poll. */
const POLL_BATCH = 2000;
/** Poll wait when nothing is draining (bounds punctuation and commit lateness when idle). */
const IDLE_POLL_MS = 50;
/** A commit is forced when this many records were written since the last one. */
const MAX_UNCOMMITTED_WRITES = 200_000;
/** at_least_once: a commit is forced when the held changelog records pass this many bytes. */
const MAX_HELD_CHANGELOG_BYTES = 64 * 1024 * 1024;
/** An assignment whose restore failed this many times in a row restarts the member instead. */
const MAX_ASSIGN_ATTEMPTS = 5;
const RESTORE_LOG_EVERY = 100_000;
/**
 * Stores record a commit checkpoint after a commit at most this often (one end-offsets request):
 * a store reopened after a kill -9 then restores only the changelog written since.
 */
const STORE_CHECKPOINT_MS = 500;
/** Longest wait for an earlier owner's transaction on the changelog to be over (see #awaitStableChangelog). */
const STABLE_CHANGELOG_WAIT_MS = 40_000;
/** An idle member checks this often that the group coordinator answers. */
const PROBE_INTERVAL_MS = 5_000;
const PROBE_TIMEOUT_MS = 5_000;
/** While holding input for a stale status table, the member polls this often. */
const HOLD_BACKOFF_MS = 50;
/**
 * Closed tasks' stores become standbys only once no rebalance happened for this long: an eager
 * rebalance revokes everything and assigns again a moment later (mostly the same partitions).
 */
const STANDBY_SETTLE_MS = 1_000;
/** Default of FlowMemberOptions.stallTimeoutMs. */
export const DEFAULT_STALL_TIMEOUT_MS = 30_000;

export interface FlowMemberOptions {
  readonly flow: FlowDefinition;
  readonly runtime: RuntimeSettings;
  /** Partition count of main, trigger and changelog. */
  readonly partitions: number;
  /** Makes every client the member uses (renewed on each restart). */
  readonly clients: LogClients;
  readonly status: StatusTable;
  /** client.id of the group member: this instance's advertised URL (other instances find it by it). */
  readonly memberClientId: string;
  readonly instanceId: string;
  readonly sessionTimeoutMs: number;
  /** Static membership: group.instance.id = <applicationId>-<flow>-<instanceId> (a restart within the session timeout moves nothing). */
  readonly staticMembership?: boolean;
  /**
   * A member whose loop has not completed a step for this long reports not-ready (with the
   * reason), and its next recovery starts it afresh: new clients, a new join.
   */
  readonly stallTimeoutMs?: number;
  /**
   * How far behind its status topic the status table may be (StatusFollower.lag): past
   * `runtime.statusMaxLagMs` the member holds its input, drains and punctuation until it is current.
   */
  readonly statusLagMs?: () => number;
  /** The processor of each task (default: the pause-aware processor with the settings' limits). */
  readonly processor?: ProcessorFactory;
  /** Library mode: events go to this handler instead of the output topic (flow-tasks.ts). */
  readonly handler?: FlowHandler;
  /**
   * Opens the local store of a partition in its folder (default: lmdb, durable for a standby;
   * the simulation's is in memory).
   */
  readonly openStore?: (dir: string, role?: 'task' | 'standby') => RestorableBufferStore;
  readonly logger: Logger;
  /** Time and waits (default: the wall clock; the simulation's is virtual). */
  readonly clock?: Clock;
  readonly report: (flowId: string, event: ProcessingEvent) => void;
  readonly onCommit: (latencyMs: number) => void;
}

interface PendingSend {
  readonly topic: string;
  readonly partition: number | undefined;
  readonly record: OutputRecord;
}

class StoppedError extends Error {}
/** Recovery must start the member afresh (new clients, a new join), not just rewind. */
class RestartMemberError extends Error {}

export class FlowMember {
  readonly flow: FlowDefinition;
  readonly #o: FlowMemberOptions;
  readonly #log: Logger;
  /** What the processing guarantee changes in the loop (guarantees.ts). */
  readonly #guarantee: Guarantee;
  readonly #clock: Clock;
  readonly #openStore: (dir: string, role?: 'task' | 'standby') => RestorableBufferStore;
  /** STANDBY_REPLICAS=1: the stores of the partitions not owned, kept warm (standby.ts). */
  readonly #standby: StandbyReplicas | undefined;
  /** When the last rebalance callback came (standbys wait for STANDBY_SETTLE_MS after it). */
  #lastRebalanceAt: number;
  /** When the stores last recorded a commit checkpoint. */
  #lastStoreCheckpoint = 0;
  /** A commit since then that no commit checkpoint covers yet. */
  #checkpointOwed = false;
  /** prepare()'s connect (undefined again when it failed: nothing of it stays open). */
  #preparing: Promise<void> | undefined;
  #restoredRecords = 0;
  /** An assignment was restored once (standbys start after the first one). */
  #joined = false;
  #standbyRetryAt = 0;
  #standbyHandovers = 0;
  /** Assignments received from the group (each rebalance ends with one). */
  #assignments = 0;
  #consumer!: LogConsumer;
  #producer!: LogProducer;
  /** This member's own admin client (restore and checkpoint offsets), renewed with the others. */
  #admin: LogAdmin | undefined;
  /** The open tasks and how their writes are routed (the core the test driver runs too). */
  readonly #tasks: FlowTasks;
  /** Rebalance callbacks, handled in order by the loop between polls. */
  #rebalances: { kind: RebalanceKind; partitions: TopicPartition[] }[] = [];
  #assignment: TopicPartition[] = [];
  /** Next offset per owned input partition ("topic:partition"), kept across commits. */
  readonly #offsets = new Map<string, { topic: string; partition: number; offset: number }>();
  #dirty = false;
  #writesSinceCommit = 0;
  #lastCommit: number;
  /**
   * When a commit with input offsets last succeeded: the group checked this member's generation
   * then (sendOffsets / commit), so it owned its partitions at that moment. See #ownershipProven.
   */
  #committedAt = Number.NEGATIVE_INFINITY;
  #overflow: PendingSend[] = [];
  #draining = false;
  #stopping = false;
  #closing = false;
  #loop: Promise<void> | undefined;
  #assignedOnce!: Promise<void>;
  #resolveAssigned!: () => void;
  #ready = false;
  #failures = 0;
  #assignFailures = 0;
  /** When the loop last completed a step (or a restore made headway). */
  #lastProgress: number;
  #lastProbe: number;
  /** What the member is doing while not ready, or the last failure. */
  #phase = 'joining the consumer group';
  #lastError: string | undefined;
  #restarts = 0;
  /** Since when the member holds its input for a stale status table (undefined: not holding). */
  #holdingSince: number | undefined;

  constructor(options: FlowMemberOptions) {
    this.flow = options.flow;
    this.#o = options;
    this.#log = options.logger.child({ flow: options.flow.id });
    this.#guarantee = GUARANTEES[options.runtime.processingGuarantee];
    this.#clock = options.clock ?? systemClock;
    this.#openStore = options.openStore ?? ((dir, role) => openLmdbBufferStore(dir, { durable: role === 'standby' }));
    this.#standby =
      (options.runtime.standbyReplicas ?? 0) > 0
        ? new StandbyReplicas({
            flow: options.flow,
            clients: options.clients,
            instanceId: options.instanceId,
            storeDir: (partition) => this.#storeDir(partition),
            openStore: (dir) => this.#openStore(dir, 'standby'),
            logger: options.logger,
            ...(options.clock === undefined ? {} : { clock: options.clock }),
          })
        : undefined;
    this.#tasks = new FlowTasks({
      flow: options.flow,
      runtime: options.runtime,
      status: (key) => options.status.get(key),
      write: (topic, partition, record) => this.#send(topic, partition, record),
      now: () => this.#clock.now(),
      ...(options.handler === undefined ? {} : { handler: options.handler, sleep: (ms: number, signal?: AbortSignal) => this.#clock.sleep(ms, signal) }),
      ...(options.processor === undefined ? {} : { processor: options.processor }),
      report: options.report,
      logger: this.#log,
    });
    this.#lastCommit = this.#lastProgress = this.#lastProbe = this.#lastRebalanceAt = this.#clock.now();
    this.#assignedOnce = new Promise((resolve) => (this.#resolveAssigned = resolve));
  }

  /** Joins the group; resolves once the first assignment is restored and running. */
  /**
   * Connects the member's clients (the producer and its transactions, the consumer) without
   * joining the group: the engine does this while the status table catches up, so the join
   * follows the catch-up at once. start() does it when it was not done.
   */
  prepare(): Promise<void> {
    this.#preparing ??= (async () => {
      try {
        await this.#connectClients();
        if (this.#stopping) throw new StoppedError();
      } catch (error) {
        // Nothing of a half-made member may stay behind (a connected consumer would stay in the group).
        await this.#closeClients();
        this.#preparing = undefined;
        throw error;
      }
    })();
    return this.#preparing;
  }

  /** Joins the group and runs; resolves once the first assignment is handled. */
  async start(): Promise<void> {
    await this.prepare();
    // Its clocks start now, not when it was made: the status table's catch-up came in between.
    this.#lastCommit = this.#lastProgress = this.#lastProbe = this.#lastRebalanceAt = this.#clock.now();
    this.#subscribe();
    this.#loop = this.#run();
    await Promise.race([this.#assignedOnce, this.#loop]);
  }

  /** Finishes the transaction, checkpoints and closes the stores, leaves the group. */
  async stop(): Promise<void> {
    this.#stopping = true;
    if (this.#loop === undefined) {
      // Prepared (or being prepared, or not even that) but never started: only its clients to close.
      const prepared = await this.#preparing?.then(
        () => true,
        () => false,
      );
      this.#preparing = undefined;
      if (prepared === true) await this.#closeClients();
      return;
    }
    await this.#loop;
  }

  /** First assignment handled, no restore in progress, and the loop makes progress. */
  get ready(): boolean {
    return this.readiness().ready;
  }

  /** Ready or not, and why not: what the member is doing, or how long it has been stuck. */
  readiness(): { ready: boolean; reason?: string } {
    const stalled = this.#clock.now() - this.#lastProgress;
    const limit = this.#o.stallTimeoutMs ?? DEFAULT_STALL_TIMEOUT_MS;
    if (stalled > limit) {
      const why = this.#lastError === undefined ? this.#phase : `last error: ${this.#lastError}`;
      return { ready: false, reason: `flow ${this.flow.id}: no progress for ${Math.round(stalled / 1000)} s (${why})` };
    }
    if (!this.#ready) return { ready: false, reason: `flow ${this.flow.id}: ${this.#phase}` };
    return { ready: true };
  }

  /** Times the member started afresh (new clients) after a failure. */
  get restarts(): number {
    return this.#restarts;
  }

  get partitionsOwned(): number[] {
    return this.#tasks.partitions();
  }

  task(partition: number): OpenTask | undefined {
    return this.#tasks.get(partition);
  }

  /** Buffered events in local tasks. */
  get bufferedEvents(): number {
    return this.#tasks.buffered;
  }

  /** Assignments this member received: each rebalance of the group it took part in ends with one. */
  get assignments(): number {
    return this.#assignments;
  }

  /** STANDBY_REPLICAS=1: changelog records the standby stores have not applied yet (0 when off). */
  standbyLag(): number {
    return this.#standby?.lag() ?? 0;
  }

  /** Changelog records applied by restores since the member started (assignments and recoveries). */
  get restoredRecords(): number {
    return this.#restoredRecords;
  }

  /** Partitions taken over from a standby store with a position (restored from there, not from the start). */
  get standbyHandovers(): number {
    return this.#standbyHandovers;
  }

  /** Partitions whose store this member keeps as a standby. */
  get standbyPartitions(): number[] {
    return this.#standby?.partitions ?? [];
  }

  /** Input records not processed yet: end offset minus position, over local partitions. */
  consumerLag(): number {
    if (this.#assignment.length === 0) return 0;
    let lag = 0;
    try {
      for (const position of this.#consumer.position(this.#assignment)) {
        const end = this.#consumer.cachedEndOffset(position.topic, position.partition);
        if (end !== undefined && position.offset !== undefined && position.offset >= 0) lag += Math.max(0, end - position.offset);
      }
    } catch {
      return 0;
    }
    return lag;
  }

  /** New clients, connected, and the group joined (a member restarting after a failure). */
  async #connect(): Promise<void> {
    await this.#connectClients();
    this.#subscribe();
  }

  async #connectClients(): Promise<void> {
    const { flow, runtime, clients } = this.#o;
    const groupId = `${runtime.applicationId}-${flow.id}`;
    this.#phase = 'joining the consumer group';
    this.#admin = clients.admin({
      clientId: `${this.#o.memberClientId}/${flow.id}/admin`,
      onRenew: (error) => this.#log.warn({ err: error }, 'admin client renewed after an error that says its view of the cluster is stale'),
    });
    this.#consumer = clients.groupConsumer({
      clientId: this.#o.memberClientId,
      groupId,
      ...(this.#o.staticMembership === true ? { groupInstanceId: `${runtime.applicationId}-${flow.id}-${this.#o.instanceId}` } : {}),
      sessionTimeoutMs: this.#o.sessionTimeoutMs,
      onRebalance: (kind, partitions) => this.#onRebalance(kind, partitions),
      onError: (error) => this.#log.warn({ err: error }, 'consumer error'),
      commits: this.#guarantee.name === 'at_least_once', // exactly_once commits offsets in its transactions
    });
    this.#producer = clients.producer({
      clientId: `${this.#o.memberClientId}/${flow.id}`,
      // Room for the largest record the processor takes plus its changelog or DLQ envelope.
      maxMessageBytes: runtime.maxEventBytes + 64 * 1024,
      // Kafka Streams' exactly-once default: a crashed member's open transaction is aborted soon.
      ...this.#guarantee.producer(`${runtime.applicationId}-${flow.id}-${this.#o.instanceId}`),
      onError: (error) => this.#log.warn({ err: error }, 'producer error'),
    });
    await this.#producer.connect();
    await this.#guarantee.open(this.#producer);
    await this.#consumer.connect();
  }

  #subscribe(): void {
    const { flow, runtime } = this.#o;
    this.#consumer.subscribe([flow.topics.main, flow.topics.trigger]);
    this.#log.info({ groupId: `${runtime.applicationId}-${flow.id}`, guarantee: runtime.processingGuarantee }, 'joined consumer group');
  }

  #onRebalance(kind: RebalanceKind, partitions: TopicPartition[]): void {
    // Leaving the group: the tasks are closed already and the closing consumer answers itself.
    if (this.#closing) return;
    if (kind === 'assign') this.#assignments++;
    this.#lastRebalanceAt = this.#clock.now();
    this.#rebalances.push({ kind, partitions });
  }

  async #run(): Promise<void> {
    try {
      while (!this.#stopping) {
        try {
          await this.#step();
          this.#failures = 0;
        } catch (error) {
          if (error instanceof StoppedError) break;
          await this.#recover(error);
        }
      }
    } finally {
      await this.#shutdown();
    }
  }

  async #step(): Promise<void> {
    while (this.#rebalances.length > 0) {
      const rebalance = this.#rebalances.shift()!;
      if (rebalance.kind === 'assign') await this.#assign(rebalance.partitions);
      else await this.#revoke(rebalance.kind === 'lost');
    }
    this.#followStandbys();
    if (this.#overflow.length > 0) await this.#flushOverflow();

    let { messages } = await this.#consumer.consume(POLL_BATCH, this.#draining ? 0 : IDLE_POLL_MS);
    // Checked after the poll: the status table must be current for what is processed now.
    const holding = this.#statusBehind();
    if (holding && messages.length > 0) {
      await this.#holdInput(messages);
      messages = [];
    }
    // An idle poll says nothing (it returns empty while the brokers are gone too): now and then a
    // round trip to the group coordinator proves the member can still make progress.
    const idle = messages.length === 0 && !this.#dirty;
    if (!idle) this.#lastProbe = this.#clock.now();
    else if (this.#clock.now() - this.#lastProbe >= PROBE_INTERVAL_MS && !(await this.#probe())) return;
    const trigger = this.flow.topics.trigger;
    // Offsets are noted when the batch moves to another partition, not per record (hot path).
    let last: InputRecord | undefined;
    for (const message of messages) {
      // Not ours (any more): the owner processes it.
      if (!this.#tasks.process(message, message.topic === trigger ? 'command' : 'event')) continue;
      if (last !== undefined && (last.partition !== message.partition || last.topic !== message.topic)) this.#noteProcessed(last);
      last = message;
    }
    if (last !== undefined) this.#noteProcessed(last);

    let drained = 0;
    if (!holding) drained = this.#tasks.drainStep();
    this.#draining = drained > 0;
    if (drained > 0) this.#dirty = true;

    const now = this.#clock.now();
    if (!holding) this.#tasks.punctuateDue(now);
    // A drain by punctuation in handler mode writes nothing yet (its calls and held changelog
    // records wait for the commit): the commit is owed all the same, and soon (rule 4).
    if (this.#tasks.awaitingCommit) this.#dirty = true;

    const due =
      now - this.#lastCommit >= this.#o.runtime.commitIntervalMs ||
      this.#writesSinceCommit >= MAX_UNCOMMITTED_WRITES ||
      this.#tasks.heldBytes >= MAX_HELD_CHANGELOG_BYTES;
    // A commit would only be fenced when the partitions are lost already: close them first.
    const lostQueued = this.#rebalances.some((rebalance) => rebalance.kind === 'lost');
    if (this.#dirty && due && !lostQueued) {
      await this.#commit();
      await this.#checkpointStores();
    } else if (!this.#dirty && this.#checkpointOwed && !lostQueued) {
      await this.#checkpointStores(); // nothing written since the last commit: its state still holds
    }
    this.#lastProgress = this.#clock.now();
    this.#lastError = undefined;
  }

  /** True while the status table may miss status records older than `statusMaxLagMs`. */
  #statusBehind(): boolean {
    const limit = this.#o.runtime.statusMaxLagMs;
    const lag = this.#o.statusLagMs?.() ?? 0;
    const behind = limit > 0 && lag > limit;
    if (behind !== (this.#holdingSince !== undefined)) {
      if (behind) {
        this.#holdingSince = this.#clock.now();
        this.#log.warn({ lagMs: lag, limitMs: limit }, 'status table behind its topic: holding input until it is current');
      } else {
        this.#log.info({ heldMs: this.#clock.now() - this.#holdingSince! }, 'status table current again: processing');
        this.#holdingSince = undefined;
      }
    }
    return behind;
  }

  /**
   * Puts a polled batch back: each partition is sought to its first message, so the records are
   * polled again once the status table is current. Nothing of the batch was processed.
   */
  async #holdInput(messages: readonly InputRecord[]): Promise<void> {
    const first = new Map<string, InputRecord>();
    for (const message of messages) {
      const id = `${message.topic}:${message.partition}`;
      if (!first.has(id) && this.#tasks.get(message.partition) !== undefined) first.set(id, message);
    }
    for (const message of first.values()) {
      await this.#consumer.seek({ topic: message.topic, partition: message.partition, offset: message.offset });
    }
    await this.#clock.sleep(HOLD_BACKOFF_MS);
  }

  /**
   * One committed-offsets request: true when the coordinator answered. A member that has not
   * been able to answer for the stall timeout restarts with new clients (RestartMemberError).
   */
  async #probe(): Promise<boolean> {
    this.#lastProbe = this.#clock.now();
    try {
      // A partition whose offsets this group never commits: a stable-offsets fetch of an input
      // partition would wait on any pending transaction and fail healthy members.
      await this.#consumer.committed([{ topic: this.flow.topics.status, partition: 0 }], PROBE_TIMEOUT_MS);
      return true;
    } catch (error) {
      this.#lastError = `the group coordinator does not answer: ${(error as Error).message}`;
      this.#log.warn({ err: error }, 'the group coordinator does not answer');
      if (this.#clock.now() - this.#lastProgress > (this.#o.stallTimeoutMs ?? DEFAULT_STALL_TIMEOUT_MS)) {
        throw new RestartMemberError(`no progress within the stall timeout: ${this.#lastError}`, { cause: error });
      }
      return false;
    }
  }

  #noteProcessed(message: InputRecord): void {
    this.#offsets.set(`${message.topic}:${message.partition}`, { topic: message.topic, partition: message.partition, offset: message.offset + 1 });
    this.#dirty = true;
  }

  /** Queues a write in the current transaction, keeping order when the client queue is full. */
  #send(topic: string, partition: number | undefined, record: OutputRecord): void {
    this.#writesSinceCommit++;
    this.#dirty = true;
    if (this.#overflow.length === 0) {
      try {
        this.#producer.produce(topic, partition, record.key, record.value, record.timestamp, record.headers);
        return;
      } catch (error) {
        if (!isQueueFull(error)) throw error;
      }
    }
    this.#overflow.push({ topic, partition, record });
  }

  async #flushOverflow(): Promise<void> {
    while (this.#overflow.length > 0) {
      const { topic, partition, record } = this.#overflow[0]!;
      try {
        this.#producer.produce(topic, partition, record.key, record.value, record.timestamp, record.headers);
        this.#overflow.shift();
      } catch (error) {
        if (!isQueueFull(error)) throw error;
        this.#producer.poll();
        await this.#clock.sleep(5);
      }
    }
  }

  async #commit(): Promise<void> {
    const started = this.#clock.now();
    // Handler mode: what this commit counts as processed is handled first (at least once).
    await this.#tasks.runHandlers();
    await this.#flushOverflow();
    const offsets = [...this.#offsets.values()];
    // The proof dates from before the request, not from its answer: a process frozen between the
    // group's check and the answer must not count the freeze as time it owned its partitions.
    const asked = this.#clock.now();
    const checked = await this.#guarantee.commit({
      producer: this.#producer,
      consumer: this.#consumer,
      offsets,
      sendHeld: () => {
        const held = this.#tasks.takeHeld();
        for (const { topic, partition, record } of held) this.#send(topic, partition, record);
        return held.length > 0;
      },
      flushDelivered: () => this.#flushDelivered(),
      retrying: (operation) => this.#retrying(operation),
    });
    if (checked) this.#committedAt = asked;
    this.#dirty = false;
    this.#writesSinceCommit = 0;
    this.#lastCommit = this.#clock.now();
    this.#o.onCommit(this.#clock.now() - started);
  }

  /** at_least_once: waits until everything queued is delivered; throws if anything was not. */
  async #flushDelivered(): Promise<void> {
    await this.#flushOverflow();
    await this.#producer.flush();
    const failed = this.#producer.takeDeliveryErrors();
    if (failed > 0) throw new Error(`${failed} record(s) could not be delivered`);
  }

  async #retrying(operation: () => Promise<void>): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await operation();
      } catch (error) {
        if (errorKind(error) !== 'retriable' || attempt >= 5) throw error;
        this.#log.warn({ err: error, attempt }, 'commit failed with a retriable error; retrying');
      }
    }
  }

  /**
   * Right after a commit, before anything is written again: every write of the open tasks is in
   * committed changelog records below the changelog's end, and (ownership proven) nobody else
   * wrote there since, so each store records that end as its commit checkpoint, atomically with
   * its content. An end read too early is only lower (a restore from it reads some records again).
   */
  async #checkpointStores(): Promise<void> {
    const now = this.#clock.now();
    this.#checkpointOwed = this.#tasks.size > 0;
    if (this.#tasks.size === 0 || now - this.#lastStoreCheckpoint < STORE_CHECKPOINT_MS || !this.#ownershipProven()) return;
    // The stores show changes whose changelog records or handler calls wait for the next commit.
    if (this.#tasks.awaitingCommit) return;
    this.#lastStoreCheckpoint = now;
    this.#checkpointOwed = false;
    const topic = this.flow.topics.changelog;
    let ends: readonly TopicPartitionOffset[];
    try {
      ends = await this.#adminClient().listOffsets(this.#tasks.partitions().map((partition) => ({ topic, partition })), 'latest', true);
    } catch (error) {
      this.#log.debug({ err: error }, 'changelog end offsets unavailable: no commit checkpoint this time');
      return;
    }
    // Proven again with the answer in hand: a member frozen (SIGSTOP) while it waited, and
    // expired by the group meanwhile, hears an end that counts the next owner's records, which
    // its store never applied; a checkpoint there would make a later restore skip them (found by
    // the chaos run: a drain repeated under exactly_once).
    if (!this.#ownershipProven()) return;
    for (const end of ends) {
      if (end.offset >= 0) this.#tasks.get(end.partition)?.store.commitCheckpoint(end.offset);
    }
    this.#log.debug({ ends: Object.fromEntries(ends.map((e) => [e.partition, e.offset])), sinceCommitMs: this.#clock.now() - this.#committedAt }, 'commit checkpoints');
  }

  /**
   * Hands the partitions back: commit, checkpoint, close. When they were lost instead (another
   * member may own them already), nothing of this member's may count: abort, close, no checkpoint.
   */
  async #revoke(lost: boolean): Promise<void> {
    let committed = false;
    if (lost) {
      this.#log.warn('partitions lost (session expired or poll interval exceeded): aborting uncommitted work');
      await this.#abortQuietly();
    } else if (this.#tasks.size > 0 || this.#dirty) {
      try {
        if (this.#dirty || this.#writesSinceCommit > 0 || !this.#ownershipProven()) await this.#commit();
        committed = true;
      } catch (error) {
        this.#log.warn({ err: error }, 'commit on revocation failed; the new owner restores from the changelog');
        await this.#abortQuietly();
      }
    }
    await this.#closeTasks(committed);
    this.#assignment = [];
    this.#consumer.unassign();
  }

  async #assign(partitions: TopicPartition[]): Promise<void> {
    this.#ready = false;
    const numbers = [...new Set(partitions.map((p) => p.partition))].sort((a, b) => a - b);
    this.#phase = `restoring partitions ${numbers.join(',') || '(none)'}`;
    this.#log.info({ partitions: numbers }, 'partitions assigned; restoring buffers');
    const started = this.#clock.now();
    const stores = new Map<number, RestorableBufferStore>();
    try {
      // Committed offsets first: with read_committed the fetch waits until no transaction that
      // holds offsets of these partitions is pending (KIP-447). Every exactly-once commit carries
      // the offsets of every owned partition with its changelog writes, so once they are stable
      // no earlier owner's transaction (a zombie's, a killed instance's) can still hold the
      // changelog's last stable offset below data that is committed: the restore below reads it
      // all. Restoring first could stop short of such data and then drain events twice or late.
      const committed = await this.#consumer.committed(partitions);
      // Standby stores of these partitions are handed over: checkpointed at the standby's
      // position and closed, so the restore below reads only the changelog's tail.
      const handed = this.#standby?.release(numbers) ?? [];
      this.#standbyHandovers += handed.filter((h) => h.offset !== undefined).length;
      for (const partition of numbers) stores.set(partition, this.#openStore(this.#storeDir(partition), 'task'));
      const restored = await this.#restore(stores);
      // Every exactly-once commit carries the offsets of every owned partition, so that even a
      // transaction of drains alone is checked against the group generation (zombie fencing).
      const committedMain = new Map<number, number>();
      for (const position of committed) {
        if (position.offset !== undefined && position.offset >= 0) {
          this.#offsets.set(`${position.topic}:${position.partition}`, { topic: position.topic, partition: position.partition, offset: position.offset });
          if (position.topic === this.flow.topics.main) committedMain.set(position.partition, position.offset);
        }
      }
      await this.#proveOwnershipBeforeTrim(committed);
      for (const [partition, store] of stores) this.#tasks.open(partition, store, committedMain.get(partition));
      this.#assignment = partitions;
      this.#consumer.assign(partitions);
      this.#log.info(
        { partitions: numbers, restoredRecords: restored, ms: this.#clock.now() - started, ...(handed.length > 0 ? { fromStandby: handed } : {}) },
        'tasks ready',
      );
      this.#assignFailures = 0;
      this.#joined = true;
      this.#ready = true;
      this.#resolveAssigned();
    } catch (error) {
      for (const [partition, store] of stores) {
        if (this.#tasks.get(partition)?.store === store) this.#tasks.drop(partition);
        store.close();
      }
      this.#offsets.clear();
      this.#assignment = [];
      if (error instanceof StoppedError) throw error;
      // The group counts this member as the owner: the assignment must be retried, not dropped;
      // and when it keeps failing, the member leaves and joins again rather than hold them idle.
      if (++this.#assignFailures >= MAX_ASSIGN_ATTEMPTS) {
        this.#assignFailures = 0;
        throw new RestartMemberError(`restoring partitions ${numbers.join(',')} failed ${MAX_ASSIGN_ATTEMPTS} times`, { cause: error });
      }
      this.#rebalances.unshift({ kind: 'assign', partitions });
      throw error;
    }
  }

  /**
   * Waits until no transaction is open on the changelog partitions: their last stable offset is
   * their high watermark. Stable committed offsets (see #assign) say an earlier owner's
   * transaction is over, not that its commit markers have reached every partition it wrote (the
   * coordinator writes them one partition at a time); a restore up to a last stable offset still
   * below such a marker would miss committed entries. Nobody else may write these partitions now
   * (an earlier owner's open transaction ends within the transaction timeout), so this is bounded.
   */
  async #awaitStableChangelog(partitions: readonly number[]): Promise<void> {
    const topic = this.flow.topics.changelog;
    const list = partitions.map((partition) => ({ topic, partition }));
    const deadline = this.#clock.now() + STABLE_CHANGELOG_WAIT_MS;
    for (;;) {
      const [stable, high] = await Promise.all([this.#adminClient().listOffsets(list, 'latest', true), this.#adminClient().listOffsets(list, 'latest', false)]);
      const open = high.filter((h) => (stable.find((s) => s.partition === h.partition)?.offset ?? -1) < h.offset).map((h) => h.partition);
      if (open.length === 0) return;
      if (this.#clock.now() > deadline) throw new Error(`changelog partitions ${open.join(',')} still hold an open transaction after ${STABLE_CHANGELOG_WAIT_MS / 1000} s`);
      if (this.#stopping) throw new StoppedError();
      this.#lastProgress = this.#clock.now();
      await this.#clock.sleep(200);
    }
  }

  /**
   * STANDBY_REPLICAS=1: follows the changelog of every partition without a task here, once the
   * group has been quiet for STANDBY_SETTLE_MS. A store abandoned (partitions lost, a commit
   * that failed, a restart) is followed from its commit checkpoint, as a restore would, or wiped
   * and read from the beginning when it has none; one checkpointed at a clean close is followed
   * from there.
   */
  #followStandbys(): void {
    const standby = this.#standby;
    if (standby === undefined || !this.#joined || this.#rebalances.length > 0 || this.#stopping) return;
    const now = this.#clock.now();
    if (now - this.#lastRebalanceAt < STANDBY_SETTLE_MS || now < this.#standbyRetryAt) return;
    const owned = new Set(this.#tasks.partitions());
    const wanted: number[] = [];
    for (let partition = 0; partition < this.#o.partitions; partition++) if (!owned.has(partition)) wanted.push(partition);
    try {
      standby.follow(wanted);
    } catch (error) {
      // A standby is an optimization: its failure never stops the tasks. Tried again later.
      this.#standbyRetryAt = now + 10_000;
      this.#log.warn({ err: error }, 'opening a standby store failed; trying again in 10 s');
    }
  }

  #adminClient(): LogAdmin {
    if (this.#admin === undefined) throw new StoppedError('the member is not connected');
    return this.#admin;
  }

  #storeDir(partition: number): string {
    const { stateDir, applicationId } = this.#o.runtime;
    return path.join(stateDir, applicationId, this.flow.id, String(partition));
  }

  /**
   * Brings each store up to its changelog partition: from its checkpoint when it has one, else
   * wiped and from the beginning. The checkpoint is deleted first: from now on the store changes.
   */
  async #restore(stores: ReadonlyMap<number, RestorableBufferStore>): Promise<number> {
    const topic = this.flow.topics.changelog;
    if (this.#guarantee.awaitsStableChangelog) await this.#awaitStableChangelog([...stores.keys()]);
    const checkpoints = new Map<number, number>();
    for (const [partition, store] of stores) {
      const checkpoint = store.readCheckpoint();
      if (checkpoint !== undefined) checkpoints.set(partition, checkpoint);
    }
    if (checkpoints.size > 0) {
      // A checkpoint past the changelog's end (the topic was made again) or before its start
      // (records deleted meanwhile) vouches for nothing: that store is restored in full.
      const list = [...checkpoints.keys()].map((partition) => ({ topic, partition }));
      const [starts, ends] = await Promise.all([this.#adminClient().listOffsets(list, 'earliest', false), this.#adminClient().listOffsets(list, 'latest', false)]);
      for (const [partition, checkpoint] of checkpoints) {
        const start = starts.find((o) => o.partition === partition)?.offset ?? 0;
        const end = ends.find((o) => o.partition === partition)?.offset ?? Number.MAX_SAFE_INTEGER;
        if (checkpoint > end || checkpoint < start) {
          this.#log.warn({ partition, checkpoint, start, end }, 'store checkpoint outside the changelog: restoring in full');
          checkpoints.delete(partition);
        }
      }
    }
    const ranges = [];
    for (const [partition, store] of stores) {
      const checkpoint = checkpoints.get(partition);
      if (checkpoint === undefined) store.clear();
      else store.writeCheckpoint(undefined);
      ranges.push({ topic, partition, from: checkpoint });
    }
    if (ranges.length === 0) return 0;
    this.#log.info({ from: Object.fromEntries(ranges.map((r) => [r.partition, r.from ?? 'beginning'])) }, 'restoring from changelog offsets');
    const reader = this.#o.clients.reader({ clientId: `${topic}-restore-${this.#o.instanceId}` });
    let records = 0;
    let nextLog = RESTORE_LOG_EVERY;
    try {
      await reader.connect();
      const ends = await readToEnd(this.#adminClient(), reader, ranges, (messages) => {
        this.#lastProgress = this.#clock.now();
        for (const message of messages) {
          const key = message.key;
          if (key === null || key === undefined) continue;
          stores.get(message.partition)!.restore(typeof key === 'string' ? Buffer.from(key) : key, message.value);
        }
        records += messages.length;
        this.#restoredRecords += messages.length;
        if (records >= nextLog) {
          nextLog += RESTORE_LOG_EVERY;
          this.#log.info({ topic, records }, 'restoring buffers from changelog');
        }
        if (this.#stopping) throw new StoppedError();
      }, this.#clock);
      // Each store now holds its changelog up to at least the end read: a crash from here on
      // restores only what is written after it.
      for (const [partition, store] of stores) {
        const end = ends.get(`${topic}:${partition}`);
        if (end !== undefined && end >= 0) store.commitCheckpoint(end);
      }
      this.#log.debug({ ends: Object.fromEntries(ends), records }, 'restored to changelog offsets');
    } finally {
      await reader.disconnect();
    }
    return records;
  }

  /** Closes every task; with `checkpoint`, records how far each store matches its changelog. */
  async #closeTasks(checkpoint: boolean): Promise<void> {
    if (this.#tasks.size === 0) return;
    let ends = new Map<number, number>();
    if (checkpoint) {
      try {
        const topic = this.flow.topics.changelog;
        // The last stable offset, not the high watermark: records of a transaction still open
        // (another writer's, not fenced yet) are read again by the next restore, never skipped.
        const offsets = await this.#adminClient().listOffsets(this.#tasks.partitions().map((partition) => ({ topic, partition })), 'latest', true);
        // The end offsets are a checkpoint only if nobody else can have written the changelog
        // since this member's last commit: a member frozen (SIGSTOP) after it, and expired by the
        // group meanwhile, would otherwise checkpoint a new owner's entries it never applied, and
        // a later restore from that checkpoint would miss them (found by the fault simulation).
        if (this.#ownershipProven()) ends = new Map(offsets.map((o) => [o.partition, o.offset]));
        // Nothing ever committed for these partitions: nothing processed, nothing to restore later.
        else if (this.#offsets.size > 0) this.#log.warn({ sinceCommitMs: this.#clock.now() - this.#committedAt }, 'no recent commit proves these partitions are still ours: closing without checkpoints');
      } catch (error) {
        this.#log.warn({ err: error }, 'could not read changelog end offsets; closing without checkpoints');
      }
    }
    const partitions = this.#tasks.partitions();
    if (ends.size > 0) this.#log.debug({ ends: Object.fromEntries(ends) }, 'clean-close checkpoints');
    this.#tasks.closeAll(ends);
    this.#log.info({ partitions, checkpointed: ends.size > 0 }, 'tasks closed');
    this.#offsets.clear();
    this.#dirty = false;
    this.#writesSinceCommit = 0;
  }

  /**
   * at_least_once: a trim's tombstones (#openTask) are sent at once, fenced by nothing. A member
   * frozen through a restore (SIGSTOP, a long GC) and expired by the group meanwhile would delete
   * entries the new owner has buffered since (found by the fault simulation: 4 events lost). So
   * unless a recent commit proves it, the committed offsets are committed again first: the
   * group checks the generation, and a member it has moved on from fails here, before any trim.
   */
  async #proveOwnershipBeforeTrim(committed: readonly TopicPartitionPosition[]): Promise<void> {
    if (!this.#guarantee.trimNeedsOwnershipProof || this.#ownershipProven()) return; // exactly_once: the transaction fences the trim
    const positions = committed.filter((c) => c.offset !== undefined && c.offset >= 0).map((c) => ({ topic: c.topic, partition: c.partition, offset: c.offset! }));
    if (positions.length === 0) return; // nothing committed: nothing is trimmed
    const asked = this.#clock.now();
    await this.#consumer.commit(positions);
    this.#committedAt = asked;
    // The group took the commit, but the answer came too late to vouch for now (a freeze while it
    // waited): the partitions may have moved meanwhile. Rejoin rather than trim.
    if (!this.#ownershipProven()) throw new RestartMemberError('the commit proving ownership before a trim was answered too late; rejoining');
  }

  /**
   * The last generation-checked commit is recent enough that the group cannot have given this
   * member's partitions to anyone since: that takes a session timeout without heartbeats.
   */
  #ownershipProven(): boolean {
    return this.#clock.now() - this.#committedAt < this.#o.sessionTimeoutMs / 2;
  }

  async #abortQuietly(): Promise<boolean> {
    this.#overflow = [];
    this.#tasks.takeHeld();
    try {
      await this.#guarantee.abort(this.#producer);
      return true;
    } catch (error) {
      this.#log.warn({ err: error }, 'abort failed');
      return false;
    }
  }

  /**
   * After a failed commit or write: abort, rebuild every store from its changelog and rewind
   * the input to the committed offsets, so the work redone lands in a fresh transaction. A fatal
   * error (e.g. a fenced producer) restarts the whole member instead.
   */
  async #recover(error: unknown): Promise<void> {
    this.#failures++;
    const kind = errorKind(error);
    this.#lastError = (error as Error)?.message ?? String(error);
    this.#log.warn({ err: error, kind, failures: this.#failures }, 'processing failed; recovering');
    if (this.#failures > 1) await this.#clock.sleep(Math.min(5000, 200 * 2 ** this.#failures));
    if (this.#stopping) return;
    // Stuck for longer than the stall timeout: whatever the error, start afresh.
    const stalled = this.#clock.now() - this.#lastProgress > (this.#o.stallTimeoutMs ?? DEFAULT_STALL_TIMEOUT_MS);
    if (stalled) this.#log.warn({ failures: this.#failures }, 'no progress within the stall timeout: restarting the member with new clients');
    // at_least_once: a member the group has moved on from must not restore in place: the restore
    // trims entries ahead of the committed offsets with tombstones sent at once, unfenced, and a
    // zombie's tombstones would delete entries the new owner buffered (found by the fault
    // simulation). It rejoins instead, and trims only what a new assignment makes its own.
    const zombie = this.#guarantee.rejoinsOnGenerationError && isGenerationError(error);
    const aborted = !stalled && !zombie && kind !== 'fatal' && !(error instanceof RestartMemberError) && (await this.#abortQuietly());
    try {
      if (aborted) {
        const partitions = this.#tasks.partitions();
        await this.#closeTasks(false);
        // As in #assign: stable committed offsets before the restore.
        const committed = await this.#consumer.committed(partitions.map((partition) => ({ topic: this.flow.topics.main, partition })));
        const stores = new Map<number, RestorableBufferStore>();
        try {
          this.#standby?.release(partitions); // none: a partition owned is never followed
          for (const partition of partitions) stores.set(partition, this.#openStore(this.#storeDir(partition), 'task'));
          await this.#restore(stores);
        } catch (restoreError) {
          for (const store of stores.values()) store.close();
          throw restoreError;
        }
        const committedMain = new Map(committed.filter((c) => c.offset !== undefined && c.offset >= 0).map((c) => [c.partition, c.offset!]));
        await this.#proveOwnershipBeforeTrim(committed);
        for (const [partition, store] of stores) this.#tasks.open(partition, store, committedMain.get(partition));
        await this.#rewind();
      } else {
        await this.#restartMember();
      }
    } catch (inner) {
      if (inner instanceof StoppedError) return;
      this.#lastError = (inner as Error)?.message ?? String(inner);
      this.#log.error({ err: inner }, 'recovery failed; restarting the member');
      try {
        await this.#restartMember();
      } catch (again) {
        // Never out of the loop: the next step fails on the closed clients and comes back here.
        if (again instanceof StoppedError) return;
        this.#lastError = (again as Error)?.message ?? String(again);
        this.#log.error({ err: again }, 'restarting the member failed; trying again');
      }
    }
  }

  async #rewind(): Promise<void> {
    if (this.#assignment.length === 0) return;
    const committed = await this.#consumer.committed(this.#assignment);
    for (const position of committed) {
      const valid = position.offset !== undefined && position.offset !== OFFSET_INVALID && position.offset >= 0;
      if (valid) this.#offsets.set(`${position.topic}:${position.partition}`, { topic: position.topic, partition: position.partition, offset: position.offset! });
      await this.#consumer.seek({ topic: position.topic, partition: position.partition, offset: valid ? position.offset! : OFFSET_BEGINNING });
    }
  }

  /**
   * Closes every client (consumer, producer, admin) without committing, then joins again with
   * new ones. Every client: one kept across restarts is one that can stay broken after a fault.
   */
  async #restartMember(): Promise<void> {
    this.#ready = false;
    this.#restarts++;
    this.#phase = `restarting after: ${this.#lastError ?? 'a failure'}`;
    await this.#closeTasks(false).catch((error: unknown) => this.#log.warn({ err: error }, 'closing tasks failed'));
    this.#rebalances = [];
    this.#assignment = [];
    this.#overflow = [];
    this.#tasks.takeHeld();
    await this.#closeClients();
    if (this.#stopping) return;
    await this.#connect();
  }

  /** Closes consumer, producer and admin client; each close is bounded (see client.ts). */
  async #closeClients(): Promise<void> {
    this.#closing = true;
    try {
      const closed = await Promise.all([
        this.#consumer?.disconnect().catch(() => false),
        this.#producer?.disconnect().catch(() => false),
        this.#admin?.disconnect().catch(() => false),
      ]);
      if (closed.some((c) => c === false)) this.#log.warn('a client did not close in time and was abandoned');
    } finally {
      this.#admin = undefined;
      this.#closing = false;
    }
  }

  async #shutdown(): Promise<void> {
    let committed = false;
    try {
      if (this.#tasks.size > 0 && (this.#dirty || this.#writesSinceCommit > 0 || !this.#ownershipProven())) await this.#commit();
      committed = true;
    } catch (error) {
      this.#log.warn({ err: error }, 'final commit failed; the next owner restores from the changelog');
      await this.#abortQuietly();
    }
    try {
      await this.#closeTasks(committed);
    } finally {
      await this.#standby?.stop().catch((error: unknown) => this.#log.warn({ err: error }, 'stopping standby replicas failed'));
      this.#rebalances = [];
      await this.#closeClients();
      this.#closing = true;
      this.#resolveAssigned();
      this.#log.info('left consumer group');
    }
  }
}
