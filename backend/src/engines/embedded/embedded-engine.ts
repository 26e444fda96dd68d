/**
 * The embedded engine: the stream engine (engines/stream, the runtime that runs on Kafka) over
 * the in-memory log (memory-log.ts) on an `EmbeddedCluster` in this process, with no broker.
 * `npm start` uses it when KAFKA_BROKERS is unset. The same code as on Kafka decides what is
 * buffered, drained, committed and restored; one instance only.
 *
 * Durable by default: the cluster is journaled to `<stateDir>/embedded/` (journal.ts), so topics,
 * statuses, changelogs and committed offsets survive a restart or a kill -9, and the tasks' local
 * stores are lmdb folders under STATE_DIR as on Kafka (rebuilt from the changelog when they are
 * not trusted). `persist: false` keeps everything in memory.
 */
import path from 'node:path';
import { pino, type Logger } from 'pino';
import type { FlowDefinition, Settings } from '../../config/config.ts';
import { systemClock } from '../../runtime/clock.ts';
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
import type { BufferStore } from '../../runtime/ports.ts';
import type { StatusTable } from '../../runtime/status-table.ts';
import { MemoryStoreFolders } from '../../stores/memory-buffer-store.ts';
import type { FlowHandler } from '../stream/flow-tasks.ts';
import { StreamEngine } from '../stream/stream-engine.ts';
import { EmbeddedCluster } from './cluster.ts';
import { FileJournal } from './journal.ts';
import { MemoryBroker, MemoryLogClients } from './memory-log.ts';
import { createFlowTopics } from './topics.ts';

export interface EmbeddedEngineOptions {
  readonly logger?: Logger;
  /** Journal the cluster under `<stateDir>/embedded` and keep the stores in lmdb (default true). */
  readonly persist?: boolean;
  /** The processor of each task (default: the pause-aware processor with the settings' limits). */
  readonly processor?: ProcessorFactory;
  /** Library mode: each flow's handler, by flow id (events go to it instead of the output topic). */
  readonly handlers?: ReadonlyMap<string, FlowHandler>;
}

/** How often the cluster drops what its retention lets go, and the journal may snapshot. */
const MAINTAIN_EVERY_MS = 5000;

export class EmbeddedEngine implements FlowEngine {
  readonly info: EngineInfo;
  readonly flows: readonly FlowDefinition[];
  readonly #logger: Logger;
  readonly #dir: string | undefined;
  readonly #cluster = new EmbeddedCluster({ clock: () => systemClock.now() });
  readonly #broker = new MemoryBroker(this.#cluster, systemClock);
  readonly #engine: StreamEngine;
  #journal: FileJournal | undefined;
  #maintenance: NodeJS.Timeout | undefined;
  #started = false;

  constructor(settings: Settings, options: EmbeddedEngineOptions = {}) {
    this.flows = settings.flows;
    this.#logger = options.logger ?? pino({ level: 'silent' });
    this.#dir = options.persist === false ? undefined : path.join(settings.runtime.stateDir, 'embedded');
    this.info = {
      kind: 'embedded',
      durable: this.#dir !== undefined,
      description: this.#dir !== undefined ? `embedded engine, data in ${this.#dir}` : 'embedded engine, in memory',
    };
    const memoryStores = this.#dir === undefined ? new MemoryStoreFolders() : undefined;
    this.#engine = new StreamEngine(settings, {
      logger: this.#logger,
      clients: new MemoryLogClients(this.#broker, 'embedded'),
      info: this.info,
      // One instance, always the same: its transactional ids fence what a crashed run left open.
      instanceId: 'embedded',
      ...(memoryStores === undefined ? {} : { openStore: (dir: string) => memoryStores.open(dir) }),
      ...(options.processor === undefined ? {} : { processor: options.processor }),
      ...(options.handlers === undefined ? {} : { handlers: options.handlers }),
    });
  }

  async start(): Promise<void> {
    if (this.#started) throw new Error('the embedded engine is already started');
    this.#started = true;
    if (this.#dir !== undefined) {
      const { journal, report } = FileJournal.open(this.#dir, this.#cluster);
      this.#journal = journal;
      if (report.truncatedBytes > 0) {
        this.#logger.warn({ dir: this.#dir, bytes: report.truncatedBytes }, 'cut off a torn journal tail (a crash mid-write); its transaction was not committed');
      }
      this.#logger.info({ dir: this.#dir, entries: report.entries }, 'embedded cluster loaded from its journal');
    }
    try {
      for (const flow of this.flows) createFlowTopics(this.#cluster, flow);
      await this.#engine.start();
    } catch (error) {
      this.#journal?.close();
      this.#journal = undefined;
      throw error;
    }
    this.#maintenance = setInterval(() => this.#maintain(), MAINTAIN_EVERY_MS).unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.#maintenance);
    this.#maintenance = undefined;
    await this.#engine.stop();
    this.#journal?.close();
    this.#journal = undefined;
  }

  #maintain(): void {
    try {
      this.#cluster.maintain();
      this.#journal?.maybeSnapshot(this.#cluster);
    } catch (error) {
      this.#logger.error({ err: error }, 'embedded cluster maintenance failed');
    }
  }

  isReady(): boolean {
    return this.#engine.isReady();
  }

  readiness(): Readiness {
    return this.#engine.readiness();
  }

  async produce(topic: string, record: ProduceRequest): Promise<{ partition: number; offset: number }> {
    if (!this.#cluster.hasTopic(topic)) throw new Error(`unknown topic ${topic}`);
    return this.#engine.produce(topic, record);
  }

  recent(topic: string, limit: number, scope?: RecentScope): Promise<StoredRecord[]> {
    return this.#engine.recent(topic, limit, scope);
  }

  partitions(topic: string): number {
    return this.#cluster.hasTopic(topic) ? this.#cluster.partitions(topic) : 0;
  }

  statusTable(flowId: string): StatusTable {
    return this.#engine.statusTable(flowId);
  }

  partitionFor(flowId: string, key: string): number {
    return this.#engine.partitionFor(flowId, key);
  }

  owner(flowId: string, partition: number): Promise<PartitionOwner> {
    return this.#engine.owner(flowId, partition);
  }

  localBuffer(flowId: string, partition: number): BufferStore | undefined {
    return this.#engine.localBuffer(flowId, partition);
  }

  localPartitions(flowId: string): number[] {
    return this.#engine.localPartitions(flowId);
  }

  instances(): Promise<string[]> {
    return this.#engine.instances();
  }

  metrics(): EngineMetrics {
    return this.#engine.metrics();
  }

  subscribe(listener: (event: EngineEvent) => void): () => void {
    return this.#engine.subscribe(listener);
  }
}
