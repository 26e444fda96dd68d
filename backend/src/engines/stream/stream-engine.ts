/**
 * The stream engine: every flow of the settings as one member per flow of the flow's consumer
 * group, beside a replicated status table per flow, over a log-client port. The Kafka engine is
 * this engine over librdkafka (engines/kafka); the embedded engine is this engine over the
 * in-memory log (engines/embedded): one runtime for both.
 *
 * Startup: check every flow's topics (exist; main, trigger and changelog co-partitioned), catch
 * every status table up to the end of its topic, then join the groups; `start()` resolves when
 * each member's first assignment is restored and running.
 *
 * Instance discovery: each group member's client.id is this instance's advertised URL, so the
 * owner of a partition, and the list of instances, come from describing the flow's consumer group
 * (members with their client ids and assignments): no extra topic, nothing to clean up when an
 * instance dies (its membership expires with its session).
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { FlowDefinition, Settings } from '../../config/config.ts';
import type {
  EngineEvent,
  EngineInfo,
  EngineMetrics,
  FlowEngine,
  PartitionOwner,
  ProcessorFactory,
  ProduceRequest,
  Readiness,
  RecentScope,
  StoredRecord,
} from '../../runtime/engine.ts';
import { KEY_SCAN_RECORDS } from '../../runtime/engine.ts';
import { partitionForKey } from '../../runtime/partitioner.ts';
import type { BufferStore, ProcessingEvent } from '../../runtime/ports.ts';
import { StatusTable } from '../../runtime/status-table.ts';
import { errorKind, isStaleMetadata } from '../../runtime/log/errors.ts';
import type { GroupInfo, LogAdmin, LogClients, LogConsumer, LogProducer } from '../../runtime/log/port.ts';
import type { RestorableBufferStore } from '../../stores/restorable.ts';
import { FlowMember } from './flow-member.ts';
import { readToEnd } from './reader.ts';
import { StatusFollower } from './status-follower.ts';
import type { Clock } from '../../runtime/clock.ts';
import type { FlowHandler } from './flow-tasks.ts';
import { checkFlowTopics, KafkaStartupError } from './topics.ts';

export interface StreamEngineOptions {
  readonly logger: Logger;
  /** Makes every client the engine uses: librdkafka's, or the in-memory log's. */
  readonly clients: LogClients;
  readonly info: EngineInfo;
  /**
   * Stable id of this instance, part of its transactional ids: a restarted instance that reuses
   * it fences and aborts the transaction its previous run left open. Default: a random id kept
   * in `<stateDir>/<applicationId>/instance-id` (one state directory per instance).
   */
  readonly instanceId?: string;
  /** Group session timeout: how soon a crashed instance's partitions move (default 10 s). */
  readonly sessionTimeoutMs?: number;
  /** The processor of each task (default: the pause-aware processor with the settings' limits). */
  readonly processor?: ProcessorFactory;
  /** Extra adapter settings for the status topic's reader (tuning; tests make it slow with them). */
  readonly statusReaderTuning?: Readonly<Record<string, string | number | boolean>>;
  /** Time and waits of the members and status followers (default: the wall clock). */
  readonly clock?: Clock;
  /** Opens a partition's local store (default: lmdb in the state directory). */
  readonly openStore?: (dir: string) => RestorableBufferStore;
  /** Library mode: each flow's handler, by flow id (events go to it instead of the output topic). */
  readonly handlers?: ReadonlyMap<string, FlowHandler>;
}

interface FlowState {
  readonly flow: FlowDefinition;
  readonly table: StatusTable;
  partitions: number;
  follower?: StatusFollower;
  member?: FlowMember;
  processed: number;
  held: number;
  handled: number;
  parked: number;
  drained: number;
  deadLettered: number;
}

const COMMIT_LATENCIES_KEPT = 200;
const GROUP_CACHE_MS = 1000;
const INSTANCES_TIMEOUT_MS = 3000;

export class StreamEngine implements FlowEngine {
  readonly info: EngineInfo;
  readonly flows: readonly FlowDefinition[];
  readonly #settings: Settings;
  readonly #options: StreamEngineOptions;
  readonly #log: Logger;
  readonly #clients: LogClients;
  readonly #state = new Map<string, FlowState>();
  readonly #topicPartitions = new Map<string, number>();
  readonly #listeners = new Set<(event: EngineEvent) => void>();
  readonly #commitLatencies: number[] = [];
  readonly #groupCache = new Map<string, { at: number; description: Promise<GroupInfo | undefined> }>();
  #commits = 0;
  #admin: LogAdmin | undefined;
  #producer: LogProducer | undefined;
  #reader: LogConsumer | undefined;
  #readerQueue: Promise<unknown> = Promise.resolve();
  #renewingProducer = false;
  #stopRequested = false;
  #started = false;
  #instanceId = '';

  constructor(settings: Settings, options: StreamEngineOptions) {
    this.#settings = settings;
    this.#options = options;
    this.#log = options.logger;
    this.flows = settings.flows;
    this.info = options.info;
    this.#clients = options.clients;
    for (const flow of settings.flows) {
      const table = new StatusTable();
      table.onChange((change) => this.#emit({ flowId: flow.id, type: 'status-changed', ...change }));
      this.#state.set(flow.id, { flow, table, partitions: flow.partitions, processed: 0, held: 0, handled: 0, parked: 0, drained: 0, deadLettered: 0 });
    }
  }

  async start(): Promise<void> {
    const { runtime } = this.#settings;
    this.#instanceId = this.#options.instanceId ?? runtime.instanceId ?? loadInstanceId(path.join(runtime.stateDir, runtime.applicationId));
    this.#log.info({ engine: this.info.description, instanceId: this.#instanceId, guarantee: runtime.processingGuarantee }, 'starting');
    // A cluster that is restarting or moving leaders (a coordinator loading, brokers gone) is
    // waited for; a problem that waiting cannot fix (missing topics, bad settings) stops startup.
    for (let attempt = 1; ; attempt++) {
      this.#admin = this.#clients.admin({
        clientId: `${this.#settings.http.advertisedUrl}/admin`,
        onRenew: (error) => this.#log.warn({ err: error }, 'admin client renewed after an error that says its view of the cluster is stale'),
      });
      try {
        await this.#checkTopics(this.#admin);
        await this.#startFlows();
        break;
      } catch (error) {
        await this.#teardown().catch(() => undefined);
        const transient = !(error instanceof KafkaStartupError) && (errorKind(error) === 'retriable' || isStaleMetadata(error));
        if (!transient || this.#stopRequested) throw error;
        const waitMs = Math.min(10_000, 1000 * attempt);
        this.#log.warn({ err: error, attempt, waitMs }, 'the cluster is not ready for this instance yet; trying again');
        await new Promise((resolve) => setTimeout(resolve, waitMs));
        if (this.#stopRequested) throw error;
      }
    }
    this.#started = true;
    this.#log.info({ flows: this.flows.map((f) => f.id) }, `${this.info.kind} engine ready`);
  }

  /** Every flow's topics, all problems in one error (rule 9). */
  async #checkTopics(admin: LogAdmin): Promise<void> {
    const problems: KafkaStartupError[] = [];
    for (const state of this.#state.values()) {
      try {
        const layout = await checkFlowTopics(admin, state.flow, this.#settings.runtime.minReplicationFactor ?? 1);
        state.partitions = layout.partitions;
        for (const [topic, count] of layout.topicPartitions) this.#topicPartitions.set(topic, count);
      } catch (error) {
        if (!(error instanceof KafkaStartupError)) throw error;
        problems.push(error);
      }
    }
    if (problems.length === 1) throw problems[0];
    if (problems.length > 1) throw new KafkaStartupError(problems[0]!.code, problems.map((p) => p.message).join('\n'));
  }

  #newApiProducer(): LogProducer {
    return this.#clients.producer({
      clientId: `${this.#settings.http.advertisedUrl}/api`,
      lingerMs: 1,
      // A delivery fails within the client's own deadline for it (see ClientProducer.send).
      messageTimeoutMs: 20_000,
      deliveryReports: true,
    });
  }

  async #startFlows(): Promise<void> {
    const { runtime } = this.#settings;
    this.#producer = this.#newApiProducer();
    await this.#producer.connect();

    // Each member connects its clients (producer, transactions, consumer) while its status table
    // catches up, and joins the group only after: nothing is processed before the table is current.
    await Promise.all(
      [...this.#state.values()].map(async (state) => {
        const follower = new StatusFollower({
          clients: this.#clients,
          flow: state.flow,
          partitions: state.partitions,
          table: state.table,
          logger: this.#log,
          ...(this.#options.clock === undefined ? {} : { clock: this.#options.clock }),
          ...(this.#options.statusReaderTuning === undefined ? {} : { readerTuning: this.#options.statusReaderTuning }),
        });
        state.follower = follower;
        const member = new FlowMember({
          flow: state.flow,
          runtime,
          partitions: state.partitions,
          clients: this.#clients,
          status: state.table,
          memberClientId: this.#settings.http.advertisedUrl,
          instanceId: this.#instanceId,
          sessionTimeoutMs: this.#options.sessionTimeoutMs ?? runtime.sessionTimeoutMs ?? 10_000,
          staticMembership: runtime.staticMembership === true,
          statusLagMs: () => follower.lag(),
          ...(this.#options.processor === undefined ? {} : { processor: this.#options.processor }),
          ...(this.#options.clock === undefined ? {} : { clock: this.#options.clock }),
          ...(this.#options.openStore === undefined ? {} : { openStore: this.#options.openStore }),
          ...(this.#options.handlers?.get(state.flow.id) === undefined ? {} : { handler: this.#options.handlers.get(state.flow.id)! }),
          logger: this.#log,
          report: (flowId, event) => this.#onReport(flowId, event),
          onCommit: (ms) => this.#onCommit(ms),
        });
        state.member = member;
        // Both settled before a failure is thrown: the teardown then closes whatever they opened.
        const [caughtUp, prepared] = await Promise.allSettled([follower.start(), member.prepare()]);
        if (caughtUp.status === 'rejected') throw caughtUp.reason;
        if (prepared.status === 'rejected') throw prepared.reason;
      }),
    );
    await Promise.all([...this.#state.values()].map((state) => state.member!.start()));
  }

  async stop(): Promise<void> {
    this.#stopRequested = true;
    await this.#teardown();
  }

  async #teardown(): Promise<void> {
    this.#started = false;
    await Promise.all([...this.#state.values()].map((state) => state.member?.stop()));
    await Promise.all([...this.#state.values()].map((state) => state.follower?.stop()));
    await this.#closeClients();
    this.#log.info(`${this.info.kind} engine stopped`);
  }

  async #closeClients(): Promise<void> {
    await this.#readerQueue.catch(() => undefined);
    await this.#reader?.disconnect();
    await this.#producer?.disconnect();
    await this.#admin?.disconnect();
    this.#reader = undefined;
    this.#producer = undefined;
    this.#admin = undefined;
  }

  isReady(): boolean {
    return this.readiness().ready;
  }

  readiness(): Readiness {
    if (!this.#started) return { ready: false, reasons: [`the ${this.info.kind} engine is starting or stopping`] };
    const reasons: string[] = [];
    for (const state of this.#state.values()) {
      const member = state.member?.readiness() ?? { ready: false, reason: `flow ${state.flow.id}: not started` };
      if (!member.ready) reasons.push(member.reason ?? `flow ${state.flow.id}: not ready`);
      const follower = state.follower?.stalledFor();
      if (follower !== undefined) {
        const why = state.follower?.lastError ?? `its reads of ${state.flow.topics.status} are behind`;
        reasons.push(`flow ${state.flow.id}: status table not known current for ${Math.round(follower / 1000)} s, tasks hold their input (${why})`);
      }
    }
    if (this.#renewingProducer) reasons.push('the API producer is reconnecting: pause, resume and send fail meanwhile');
    return { ready: reasons.length === 0, reasons };
  }

  async produce(topic: string, record: ProduceRequest): Promise<{ partition: number; offset: number }> {
    const producer = this.#producer;
    if (producer === undefined) throw new Error(`the ${this.info.kind} engine is not started`);
    try {
      const report = await producer.send(topic, undefined, Buffer.from(record.key, 'utf8'), record.value, record.timestamp, record.headers ?? []);
      return { partition: report.partition, offset: report.offset };
    } catch (error) {
      if ((errorKind(error) === 'fatal' || !producer.connected) && this.#producer === producer) void this.#renewApiProducer(producer, error);
      throw error;
    }
  }

  /**
   * A producer that failed for good (fenced, a call that never came back, not connected) is
   * replaced; a replacement that cannot connect is replaced again, with backoff, until one does.
   */
  async #renewApiProducer(old: LogProducer, cause: unknown): Promise<void> {
    if (this.#renewingProducer) return;
    this.#renewingProducer = true;
    this.#log.warn({ err: cause }, 'the API producer failed; replacing it');
    void old.disconnect();
    try {
      for (let attempt = 1; this.#started; attempt++) {
        const fresh = this.#newApiProducer();
        this.#producer = fresh;
        try {
          await fresh.connect();
          this.#log.info({ attempt }, 'the API producer is connected again');
          return;
        } catch (error) {
          this.#log.warn({ err: error, attempt }, 'the new API producer could not connect; trying again');
          void fresh.disconnect();
          await new Promise((resolve) => setTimeout(resolve, Math.min(10_000, 500 * 2 ** attempt)));
        }
      }
    } finally {
      this.#renewingProducer = false;
    }
  }

  recent(topic: string, limit: number, scope: RecentScope = {}): Promise<StoredRecord[]> {
    const run = this.#readerQueue.then(() =>
      this.#readRecent(topic, limit, scope).catch(async (error: unknown) => {
        // The next read starts with a new reader: this one may be left mid-assignment.
        const reader = this.#reader;
        this.#reader = undefined;
        await reader?.disconnect();
        throw error;
      }),
    );
    this.#readerQueue = run.catch(() => undefined);
    return run;
  }

  async #readRecent(topic: string, limit: number, scope: RecentScope): Promise<StoredRecord[]> {
    const admin = this.#admin;
    if (admin === undefined) throw new Error(`the ${this.info.kind} engine is not started`);
    if (limit <= 0) return [];
    if (this.#reader === undefined) {
      const reader = this.#clients.reader({ clientId: `${this.#settings.runtime.applicationId}-recent-${this.#instanceId}` });
      this.#reader = reader;
      await reader.connect();
    }
    let count = this.#topicPartitions.get(topic);
    if (count === undefined) {
      const [info] = await admin.describeTopics([topic]);
      if (info?.partitions === undefined) throw new Error(`topic ${topic} does not exist`);
      count = info.partitions;
      this.#topicPartitions.set(topic, count);
    }
    const partitions = Array.from({ length: count }, (_, partition) => ({ topic, partition })).filter(
      ({ partition }) => scope.partition === undefined || partition === scope.partition,
    );
    if (partitions.length === 0) return [];
    // Transaction markers take offsets too: look back twice as far, keep the last `limit`.
    const lookBack = 2 * (scope.key === undefined ? limit : Math.max(limit, KEY_SCAN_RECORDS));
    const [starts, ends] = await Promise.all([admin.listOffsets(partitions, 'earliest', false), admin.listOffsets(partitions, 'latest', true)]);
    const ranges = partitions.map(({ partition }) => {
      const start = starts.find((s) => s.partition === partition)?.offset ?? 0;
      const end = Math.min(ends.find((e) => e.partition === partition)?.offset ?? 0, scope.before ?? Number.MAX_SAFE_INTEGER);
      return { topic, partition, from: Math.max(start, end - lookBack), to: end };
    });
    const records: StoredRecord[] = [];
    await readToEnd(admin, this.#reader, ranges, (messages) => {
      for (const record of messages) {
        if (scope.before !== undefined && record.offset >= scope.before) continue;
        const key = record.key === null ? null : record.key.toString('utf8');
        if (scope.key !== undefined && key !== scope.key) continue;
        records.push({ ...record, key });
      }
    });
    records.sort((a, b) => a.timestamp - b.timestamp || a.partition - b.partition || a.offset - b.offset);
    return records.slice(-limit);
  }

  partitions(topic: string): number {
    return this.#topicPartitions.get(topic) ?? 0;
  }

  statusTable(flowId: string): StatusTable {
    return this.#flow(flowId).table;
  }

  partitionFor(flowId: string, key: string): number {
    return partitionForKey(key, this.#flow(flowId).partitions);
  }

  async owner(flowId: string, partition: number): Promise<PartitionOwner> {
    const state = this.#flow(flowId);
    if (state.member?.task(partition) !== undefined) return { kind: 'local' };
    const group = await this.#describeGroup(flowId);
    const self = this.#settings.http.advertisedUrl;
    for (const member of group?.members ?? []) {
      const owns = member.assignment.some((tp) => tp.topic === state.flow.topics.main && tp.partition === partition);
      if (owns && isUrl(member.clientId) && member.clientId !== self) return { kind: 'remote', url: member.clientId };
    }
    return { kind: 'unassigned' };
  }

  localBuffer(flowId: string, partition: number): BufferStore | undefined {
    return this.#flow(flowId).member?.task(partition)?.logged;
  }

  localPartitions(flowId: string): number[] {
    return this.#flow(flowId).member?.partitionsOwned ?? [];
  }

  async instances(): Promise<string[]> {
    const urls = new Set<string>([this.#settings.http.advertisedUrl]);
    // Bounded: with the brokers gone a query still answers soon, from this instance alone, and
    // says which partitions it could not search (rule 12).
    const timeout = new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), INSTANCES_TIMEOUT_MS).unref());
    const groups = await Promise.all(this.flows.map((flow) => Promise.race([this.#describeGroup(flow.id).catch(() => undefined), timeout])));
    for (const group of groups) for (const member of group?.members ?? []) if (isUrl(member.clientId)) urls.add(member.clientId);
    return [...urls].sort();
  }

  metrics(): EngineMetrics {
    return {
      flows: [...this.#state.values()].map((state) => ({
        flowId: state.flow.id,
        bufferedEvents: state.member?.bufferedEvents ?? 0,
        pausedKeys: state.table.pausedCount,
        drainedEvents: state.drained,
        deadLettered: state.deadLettered,
        processedEvents: state.processed,
        heldEvents: state.held,
        handledEvents: state.handled,
        handlerParked: state.parked,
        consumerLag: state.member?.consumerLag() ?? 0,
        standbyLag: state.member?.standbyLag() ?? 0,
        assignments: state.member?.assignments ?? 0,
      })),
      commitLatenciesMs: [...this.#commitLatencies],
      commits: this.#commits,
    };
  }

  subscribe(listener: (event: EngineEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #flow(flowId: string): FlowState {
    const state = this.#state.get(flowId);
    if (state === undefined) throw new Error(`unknown flow "${flowId}"`);
    return state;
  }

  #describeGroup(flowId: string): Promise<GroupInfo | undefined> {
    const admin = this.#admin;
    if (admin === undefined) return Promise.resolve(undefined);
    const cached = this.#groupCache.get(flowId);
    if (cached !== undefined && Date.now() - cached.at < GROUP_CACHE_MS) return cached.description;
    const description = admin.describeGroup(`${this.#settings.runtime.applicationId}-${flowId}`);
    this.#groupCache.set(flowId, { at: Date.now(), description });
    description.catch(() => this.#groupCache.delete(flowId));
    return description;
  }

  #onReport(flowId: string, event: ProcessingEvent): void {
    const state = this.#state.get(flowId)!;
    if (event.type === 'processed') state.processed++;
    else if (event.type === 'buffered') state.held++;
    else if (event.type === 'handled') {
      state.handled += event.count;
      return; // a count, not news for the live stream
    } else if (event.type === 'handler-parked') state.parked++;
    else if (event.type === 'drained') state.drained += event.count;
    else if (event.type === 'dead-lettered') state.deadLettered++;
    if (this.#listeners.size > 0) this.#emit({ flowId, ...event });
  }

  #onCommit(ms: number): void {
    this.#commits++;
    this.#commitLatencies.push(ms);
    if (this.#commitLatencies.length > COMMIT_LATENCIES_KEPT) this.#commitLatencies.shift();
  }

  #emit(event: EngineEvent): void {
    for (const listener of this.#listeners) {
      try {
        listener(event);
      } catch (error) {
        this.#log.warn({ err: error }, 'engine event listener failed');
      }
    }
  }
}

function isUrl(value: string | undefined): value is string {
  return value !== undefined && /^https?:\/\/[^/\s]+$/.test(value);
}

/** A random instance id, created once and kept in the instance's state directory. */
function loadInstanceId(dir: string): string {
  const file = path.join(dir, 'instance-id');
  try {
    const id = readFileSync(file, 'utf8').trim();
    if (/^[A-Za-z0-9-]{8,64}$/.test(id)) return id;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  mkdirSync(dir, { recursive: true });
  const id = randomUUID();
  writeFileSync(file, `${id}\n`);
  return id;
}
