/**
 * event-pause inside a Node service (library mode): flows defined in code, the engine chosen by
 * the settings (Kafka with KAFKA_BROKERS, else the embedded one), typed calls for what the HTTP
 * API offers on one instance (pause, resume, status, history, buffers, key search), and the
 * control plane as a Fastify plugin to mount in the host's app.
 *
 *   const ep = createEventPause({ flows: [{ id: 'payments' }], env: { KAFKA_BROKERS: 'b:9092' } });
 *   await ep.start();
 *   await ep.pause('payments', ['merchant-42'], { reason: 'fraud review', actor: 'risk-bot' });
 *   await host.register(ep.plugin, { prefix: '/event-pause' });
 *
 * A flow with a `handler` gets its events in the handler instead of its output topic, with
 * failure-triggered pause (FlowOptions.handler; the runtime's side: engines/stream/flow-tasks.ts).
 */
import type { FastifyPluginAsync } from 'fastify';
import { pino, type Logger } from 'pino';
import { eventPauseApp } from './api/app.ts';
import { bufferedEventView, ControlPlane, eventView, statusView, type ActionMeta } from './api/control-plane.ts';
import { ApiError } from './api/errors.ts';
import { compareHits, searchLocal, type KeyHit, type KeySort, type KeyState } from './api/key-search.ts';
import { loadSettings, type FlowDefinition, type Settings } from './config/config.ts';
import { EmbeddedEngine } from './engines/embedded/embedded-engine.ts';
import { KafkaEngine } from './engines/kafka/kafka-engine.ts';
import type { FlowEngine, ProcessorFactory } from './runtime/engine.ts';
import type { FlowHandler } from './engines/stream/flow-tasks.ts';
import type { Header, KeyStatus } from './runtime/ports.ts';

/** What a handler gets: the event as the original's `{id, data, timestamp}`, and where it is. */
export interface HandledEvent {
  readonly id: string | null;
  readonly data: unknown;
  readonly timestamp: number | null;
}

export interface HandlerContext {
  readonly flowId: string;
  readonly key: string;
  /** Its input partition and offset. */
  readonly partition: number;
  readonly offset: number;
  readonly headers: readonly Header[];
  /** 1 on the first call, 2 on the first retry, ... */
  readonly attempt: number;
  /** The record's raw value. */
  readonly value: Buffer | null;
}

export type Handler = (event: HandledEvent, ctx: HandlerContext) => Promise<void> | void;

/** A flow as in the flows file: its id, and optionally its partition count and topic names. */
export interface FlowOptions {
  readonly id: string;
  readonly partitions?: number;
  readonly mainTopic?: string;
  readonly triggerTopic?: string;
  readonly statusTopic?: string;
  readonly outputTopic?: string;
  readonly dlqTopic?: string;
  /**
   * Called for each event instead of writing it to the output topic: per key in order, never
   * twice at once for one key, keys concurrently (up to `concurrency`), at least once (a crash
   * before the commit calls it again). When it still throws after `retries` retries, the key is
   * paused with the error as the reason (actor "handler"): that event stays first in the key's
   * buffer and its later events queue behind it; other keys go on. `resume` calls it again from
   * that event; `skip` dead-letters that event and resumes the rest.
   */
  readonly handler?: Handler;
  /** Retries of a failed call (default 2), after backoffMs, 2·backoffMs, ... (default 200 ms). */
  readonly retries?: number;
  readonly backoffMs?: number;
  /** Keys handled at once per instance (default 16). */
  readonly concurrency?: number;
  /** A call that takes longer fails (default 30 s). */
  readonly timeoutMs?: number;
}

export interface EventPauseOptions {
  readonly flows: readonly FlowOptions[];
  /** Consumer group and transactional id prefix (default "event-pause"). */
  readonly applicationId?: string;
  /** Default partition count of the flows (default 6). */
  readonly partitions?: number;
  /**
   * Every other setting, as the environment variables of `npm start` (KAFKA_BROKERS,
   * PROCESSING_GUARANTEE, STATE_DIR, KAFKA_SECURITY_PROTOCOL, ...; `npm start -- --help`).
   * Default: process.env. Checked the same way: a bad one throws a ConfigError naming it.
   */
  readonly env?: Readonly<Record<string, string | undefined>>;
  readonly logger?: Logger;
  /** The processor of each task (default: the pause-aware processor). */
  readonly processor?: ProcessorFactory;
}

export interface KeyStatusInfo {
  readonly key: string;
  readonly status: KeyStatus;
  readonly reason: string | null;
  readonly actor: string | null;
  /** When the status was set (ms since the epoch); null: never set. */
  readonly since: number | null;
}

export interface HeldEvent {
  /** Its offset in the input topic. */
  readonly seq: number;
  readonly id: string | null;
  readonly data: unknown;
  readonly timestamp: number | null;
}

export interface KeySearch {
  readonly prefix?: string;
  readonly state?: KeyState;
  readonly sort?: KeySort;
  readonly limit?: number;
}

export class NotLocalError extends Error {
  override readonly name = 'NotLocalError';
}

export interface EventPause {
  readonly settings: Settings;
  readonly engine: FlowEngine;
  /** The HTTP control plane and the console, to mount: `host.register(ep.plugin, { prefix })`. */
  readonly plugin: FastifyPluginAsync;
  readonly flows: readonly FlowDefinition[];
  /** Status tables caught up, buffers restored, tasks running. */
  start(): Promise<void>;
  stop(): Promise<void>;
  pause(flowId: string, keys: readonly string[], meta?: { reason?: string; actor?: string }): Promise<void>;
  /** Writes ACTIVE, then a resume command per key: held events are released in order. */
  resume(flowId: string, keys: readonly string[], meta?: { reason?: string; actor?: string }): Promise<void>;
  /**
   * Handler mode: the key's first held event (the one its handler failed on) goes to the DLQ
   * (reason SKIPPED), the rest is released in order. Its partition must be owned here.
   */
  skip(flowId: string, key: string, meta?: { reason?: string; actor?: string }): Promise<void>;
  /** Produces an event `{id, data, timestamp}` to the flow's input topic. */
  send(flowId: string, key: string, data: unknown, id?: string): Promise<void>;
  status(flowId: string, key: string): KeyStatusInfo;
  history(flowId: string, key: string): KeyStatusInfo[];
  /** The events a key holds, oldest first (its partition must be owned by this instance). */
  held(flowId: string, key: string, limit?: number): HeldEvent[];
  /** Paused keys of the flow and keys this instance's tasks hold events for, with counts. */
  keys(flowId: string, search?: KeySearch): KeyHit[];
}

const DEFAULT_ACTOR = 'library';

export function createEventPause(options: EventPauseOptions): EventPause {
  const flowsJson = {
    ...(options.applicationId === undefined ? {} : { applicationId: options.applicationId }),
    ...(options.partitions === undefined ? {} : { partitions: options.partitions }),
    flows: options.flows.map(({ handler: _handler, retries: _retries, backoffMs: _backoff, concurrency: _concurrency, timeoutMs: _timeout, ...flow }) => flow),
  };
  const settings = loadSettings({ ...(options.env ?? process.env) }, flowsJson);
  const logger = options.logger ?? pino({ level: settings.logLevel });
  const handlers = new Map<string, FlowHandler>();
  for (const flow of options.flows) {
    const handle = flow.handler;
    if (handle === undefined) continue;
    handlers.set(flow.id, {
      retries: flow.retries ?? 2,
      backoffMs: flow.backoffMs ?? 200,
      concurrency: Math.max(1, flow.concurrency ?? 16),
      timeoutMs: flow.timeoutMs ?? 30_000,
      handle: async (event) => {
        const view = eventView(event.value);
        await handle(
          { id: view.id, data: view.data, timestamp: view.timestamp },
          { flowId: event.flowId, key: event.key, partition: event.partition, offset: event.offset, headers: event.headers, attempt: event.attempt, value: event.value },
        );
      },
    });
  }
  const engineOptions = {
    logger: logger.child({ component: 'engine' }),
    ...(options.processor === undefined ? {} : { processor: options.processor }),
    ...(handlers.size === 0 ? {} : { handlers }),
  };
  const engine: FlowEngine = settings.kafkaBrokers === undefined ? new EmbeddedEngine(settings, engineOptions) : new KafkaEngine(settings, engineOptions);
  const plane = new ControlPlane(engine);
  const meta = (given?: { reason?: string; actor?: string }): ActionMeta => ({ reason: given?.reason, actor: given?.actor ?? DEFAULT_ACTOR });
  const flow = (flowId: string): FlowDefinition => {
    try {
      return plane.flow(flowId);
    } catch (error) {
      throw error instanceof ApiError ? new Error(error.message) : error;
    }
  };
  const stateOf = (key: string, change: { status: KeyStatus; reason: string | null; actor: string | null; timestamp: number | null }): KeyStatusInfo => ({
    key,
    status: change.status,
    reason: change.reason,
    actor: change.actor,
    since: change.timestamp,
  });
  const plugin: FastifyPluginAsync = async (app) => {
    await app.register(eventPauseApp, { engine, settings });
  };

  return {
    settings,
    engine,
    plugin,
    flows: engine.flows,
    start: () => engine.start(),
    stop: () => engine.stop(),
    pause: (flowId, keys, given) => plane.pause(flow(flowId), keys, meta(given)),
    resume: (flowId, keys, given) => plane.resume(flow(flowId), keys, meta(given)),
    send: (flowId, key, data, id = crypto.randomUUID()) => plane.send(flow(flowId), key, id, data),
    skip: async (flowId, key, given) => {
      const f = flow(flowId);
      const partition = engine.partitionFor(f.id, key);
      const buffer = engine.localBuffer(f.id, partition);
      if (buffer === undefined) throw new NotLocalError(`partition ${partition} of flow "${f.id}" (key ${JSON.stringify(key)}) is not owned by this instance`);
      const head = buffer.read(key, 1)[0];
      if (head === undefined) throw new Error(`key ${JSON.stringify(key)} of flow "${f.id}" holds no event to skip`);
      await plane.skip(f, key, head.seq, meta(given));
    },
    status: (flowId, key) => stateOf(key, plane.status(flow(flowId).id, key)),
    history: (flowId, key) =>
      engine
        .statusTable(flow(flowId).id)
        .history(key)
        .map((change) => stateOf(key, statusView(change))),
    held: (flowId, key, limit = 100) => {
      const id = flow(flowId).id;
      const partition = engine.partitionFor(id, key);
      const buffer = engine.localBuffer(id, partition);
      if (buffer === undefined) throw new NotLocalError(`partition ${partition} of flow "${id}" (key ${JSON.stringify(key)}) is not owned by this instance: ask the instance that owns it (GET /api/v1/flows/${id}/keys/{key}/buffer)`);
      return buffer.read(key, limit).map((event) => {
        const view = bufferedEventView(event);
        return { seq: view.seq, id: view.id, data: view.data, timestamp: view.timestamp };
      });
    },
    keys: (flowId, search = {}) => {
      const id = flow(flowId).id;
      const table = engine.statusTable(id);
      const query = { prefix: search.prefix ?? '', state: search.state ?? 'all', sort: search.sort ?? 'key', offset: 0, limit: search.limit ?? 100 } as const;
      const buffers = engine.localPartitions(id).flatMap((partition) => {
        const buffer = engine.localBuffer(id, partition);
        return buffer === undefined ? [] : [{ partition, buffer }];
      });
      const local = searchLocal(buffers, table, query);
      const hits = new Map(local.hits.map((hit) => [hit.key, hit]));
      if (query.state !== 'buffered') {
        for (const key of table.pausedKeyNames()) {
          if (!key.startsWith(query.prefix) || hits.has(key)) continue;
          hits.set(key, { key, partition: engine.partitionFor(id, key), status: 'PAUSED', pausedSince: table.get(key).timestamp, bufferedCount: 0, oldestBufferedTimestamp: null });
        }
      }
      return [...hits.values()].sort(compareHits(query.sort)).slice(0, query.limit);
    },
  };
}
