/**
 * The embedded engine: every flow runs in this process, on an `EmbeddedCluster` (topics,
 * partitions, offsets, transactions) stepped by one `EmbeddedRuntime`, with no broker. `npm start`
 * uses it when KAFKA_BROKERS is unset. Same semantics as the Kafka engine; one instance only.
 *
 * Durable by default: the cluster is journaled to `<stateDir>/embedded/` (journal.ts), so topics,
 * statuses, buffers (their changelogs) and positions survive a restart or a kill -9. `persist:
 * false` keeps everything in memory.
 *
 * The loop: steps the runtime for up to a few ms, yields to the event loop (setImmediate while
 * there is work, a short timer when idle, an immediate wake-up when something is produced).
 * Commits and punctuations follow the settings' intervals on the wall clock.
 */
import path from 'node:path';
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
  StoredRecord,
  Readiness,
} from '../../runtime/engine.ts';
import { partitionForKey } from '../../runtime/partitioner.ts';
import type { BufferStore } from '../../runtime/ports.ts';
import type { StatusTable } from '../../runtime/status-table.ts';
import type { Clock } from './clock.ts';
import { EmbeddedCluster, type LogRecord } from './cluster.ts';
import { FileJournal } from './journal.ts';
import { EmbeddedRuntime } from './runtime.ts';
import { createFlowTopics } from './topics.ts';

export interface EmbeddedEngineOptions {
  readonly logger?: Logger;
  /** Journal the cluster under `<stateDir>/embedded` (default true). */
  readonly persist?: boolean;
  readonly clock?: Clock;
  /** The processor of each task (default: the pause-aware processor with the settings' limits). */
  readonly processor?: ProcessorFactory;
}

/** How long one turn of the loop may step before it yields to the event loop. */
const TURN_MS = 10;
/** Sleep between turns when there is nothing to do (a produce wakes the loop at once). */
const IDLE_MS = 5;
const MAINTAIN_EVERY_MS = 5000;

export class EmbeddedEngine implements FlowEngine {
  readonly info: EngineInfo;
  readonly flows: readonly FlowDefinition[];
  readonly #settings: Settings;
  readonly #logger: Logger | undefined;
  readonly #options: EmbeddedEngineOptions;
  readonly #clock: Clock;
  readonly #dir: string | undefined;
  readonly #listeners = new Set<(event: EngineEvent) => void>();
  #cluster: EmbeddedCluster | undefined;
  #journal: FileJournal | undefined;
  #runtime: EmbeddedRuntime | undefined;
  #timer: NodeJS.Timeout | NodeJS.Immediate | undefined;
  #sleeping = false;
  #ready = false;
  #lastMaintenance = 0;

  constructor(settings: Settings, options: EmbeddedEngineOptions = {}) {
    this.#settings = settings;
    this.flows = settings.flows;
    this.#logger = options.logger;
    this.#options = options;
    this.#clock = options.clock ?? Date.now;
    this.#dir = options.persist === false ? undefined : path.join(settings.runtime.stateDir, 'embedded');
    this.info = {
      kind: 'embedded',
      durable: this.#dir !== undefined,
      description: this.#dir !== undefined ? `embedded engine, data in ${this.#dir}` : 'embedded engine, in memory',
    };
  }

  async start(): Promise<void> {
    if (this.#runtime !== undefined) throw new Error('the embedded engine is already started');
    const cluster = new EmbeddedCluster({ clock: this.#clock });
    if (this.#dir !== undefined) {
      const { journal, report } = FileJournal.open(this.#dir, cluster);
      this.#journal = journal;
      if (report.truncatedBytes > 0) {
        this.#logger?.warn({ dir: this.#dir, bytes: report.truncatedBytes }, 'cut off a torn journal tail (a crash mid-write); its transaction was not committed');
      }
      this.#logger?.info({ dir: this.#dir, entries: report.entries }, 'embedded cluster loaded from its journal');
    }
    try {
      for (const flow of this.flows) createFlowTopics(cluster, flow);
      const runtime = new EmbeddedRuntime({
        cluster,
        flows: this.flows,
        settings: this.#settings.runtime,
        clock: this.#clock,
        ...(this.#options.processor === undefined ? {} : { processor: this.#options.processor }),
        onEvent: (event) => {
          for (const listener of this.#listeners) listener(event);
        },
      });
      runtime.start();
      this.#cluster = cluster;
      this.#runtime = runtime;
    } catch (error) {
      this.#journal?.close();
      this.#journal = undefined;
      throw error;
    }
    this.#lastMaintenance = this.#clock();
    this.#ready = true;
    this.#schedule(true);
  }

  async stop(): Promise<void> {
    this.#ready = false;
    this.#cancel();
    this.#runtime?.stop();
    this.#journal?.close();
    this.#journal = undefined;
  }

  isReady(): boolean {
    return this.#ready;
  }

  readiness(): Readiness {
    return this.#ready ? { ready: true, reasons: [] } : { ready: false, reasons: ['the embedded engine is not started'] };
  }

  async produce(topic: string, record: ProduceRequest): Promise<{ partition: number; offset: number }> {
    const cluster = this.#started();
    if (!cluster.hasTopic(topic)) throw new Error(`unknown topic ${topic}`);
    const written = cluster.produce({
      topic,
      key: Buffer.from(record.key, 'utf8'),
      value: record.value,
      headers: record.headers ?? [],
      timestamp: record.timestamp ?? this.#clock(),
    });
    if (this.#sleeping) this.#schedule(true);
    return written;
  }

  async recent(topic: string, limit: number): Promise<StoredRecord[]> {
    const cluster = this.#started();
    if (!cluster.hasTopic(topic)) throw new Error(`unknown topic ${topic}`);
    const records: LogRecord[] = [];
    for (let p = 0; p < cluster.partitions(topic); p++) records.push(...cluster.tail(topic, p, limit));
    records.sort((a, b) => a.sequence - b.sequence);
    return records.slice(Math.max(0, records.length - limit)).map((r) => ({
      topic: r.topic,
      partition: r.partition,
      offset: r.offset,
      key: r.key?.toString('utf8') ?? null,
      value: r.value,
      headers: r.headers,
      timestamp: r.timestamp,
    }));
  }

  partitions(topic: string): number {
    return this.#started().partitions(topic);
  }

  statusTable(flowId: string): StatusTable {
    return this.#runtimeOrThrow().statusTable(flowId);
  }

  partitionFor(flowId: string, key: string): number {
    return partitionForKey(key, this.#flow(flowId).partitions);
  }

  async owner(flowId: string, partition: number): Promise<PartitionOwner> {
    const flow = this.#flow(flowId);
    return partition >= 0 && partition < flow.partitions ? { kind: 'local' } : { kind: 'unassigned' };
  }

  localBuffer(flowId: string, partition: number): BufferStore | undefined {
    return this.#runtime?.buffer(flowId, partition);
  }

  localPartitions(flowId: string): number[] {
    return this.#runtime?.partitions(flowId) ?? [];
  }

  async instances(): Promise<string[]> {
    return [this.#settings.http.advertisedUrl];
  }

  metrics(): EngineMetrics {
    const runtime = this.#runtime;
    return {
      flows: this.flows.map((flow) => {
        const c = runtime?.running ? runtime.flowCounters(flow.id) : undefined;
        return {
          flowId: flow.id,
          bufferedEvents: c?.buffered ?? 0,
          pausedKeys: runtime?.statusTable(flow.id).pausedCount ?? 0,
          drainedEvents: c?.drained ?? 0,
          deadLettered: c?.deadLettered ?? 0,
          processedEvents: c?.processed ?? 0,
          consumerLag: c?.lag ?? 0,
        };
      }),
      commitLatenciesMs: [...(runtime?.commitLatenciesMs ?? [])],
      commits: runtime?.commits ?? 0,
    };
  }

  subscribe(listener: (event: EngineEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #turn = (): void => {
    this.#timer = undefined;
    const runtime = this.#runtime;
    if (runtime === undefined || !this.#ready) return;
    let busy = false;
    try {
      const until = performance.now() + TURN_MS;
      do busy = runtime.step();
      while (busy && performance.now() < until);
      const now = this.#clock();
      if (now - this.#lastMaintenance >= MAINTAIN_EVERY_MS) {
        this.#lastMaintenance = now;
        this.#cluster!.maintain();
        this.#journal?.maybeSnapshot(this.#cluster!);
      }
    } catch (error) {
      // A failing step would fail again on the same record: stop processing, say so, stay up for the API.
      this.#ready = false;
      this.#logger?.error({ err: error }, 'the embedded engine stopped processing');
      return;
    }
    this.#schedule(busy);
  };

  #schedule(now: boolean): void {
    this.#cancel();
    this.#sleeping = !now;
    this.#timer = now ? setImmediate(this.#turn) : setTimeout(this.#turn, IDLE_MS);
  }

  #cancel(): void {
    if (this.#timer === undefined) return;
    if (this.#sleeping) clearTimeout(this.#timer as NodeJS.Timeout);
    else clearImmediate(this.#timer as NodeJS.Immediate);
    this.#timer = undefined;
  }

  #flow(flowId: string): FlowDefinition {
    const flow = this.flows.find((f) => f.id === flowId);
    if (flow === undefined) throw new Error(`unknown flow ${flowId}`);
    return flow;
  }

  #started(): EmbeddedCluster {
    if (this.#cluster === undefined) throw new Error('the embedded engine is not started');
    return this.#cluster;
  }

  #runtimeOrThrow(): EmbeddedRuntime {
    if (this.#runtime === undefined) throw new Error('the embedded engine is not started');
    return this.#runtime;
  }
}
