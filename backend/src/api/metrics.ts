/**
 * Prometheus metrics through prom-client: one Registry per app (tests build many apps in one
 * process), its collectors reading the engine at scrape time, and prom-client's default process
 * metrics (CPU, resident memory, heap spaces, event-loop lag, GC, handles) registered once per
 * process in a registry of their own and merged into every scrape.
 *
 * Engine figures are counters and gauges the engine keeps; a collector sets them when scraped
 * (`reset()` then `inc()` / `set()`), so the exposed TYPE stays `counter` for the `*_total`
 * families while their values come from the engine (they start at 0 with the process). The
 * commit-latency histogram observes each commit's latency once: the engine reports the latencies
 * of recent commits and a running commit count, and each scrape observes the samples new since
 * the previous one.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { EngineMetrics, FlowEngine } from '../runtime/engine.ts';

export const METRICS_CONTENT_TYPE = Registry.PROMETHEUS_CONTENT_TYPE;

const LATENCY_BUCKETS_MS = [1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10_000];

let processRegistry: Registry | undefined;

/** prom-client's default metrics of this process, registered once (its event-loop monitor and GC observer are per registration). */
function defaultMetrics(): Registry {
  if (processRegistry === undefined) {
    processRegistry = new Registry();
    collectDefaultMetrics({ register: processRegistry });
  }
  return processRegistry;
}

type FlowFigures = EngineMetrics['flows'][number];

/** Thresholds of stuck keys (Settings.alerts). */
export interface StuckThresholds {
  readonly stuckPausedMs: number;
  readonly stuckBufferedEvents: number;
}

/** Keys of a flow paused longer than the threshold (replicated table) and this instance's keys holding more events than it. */
export function stuckCounts(engine: FlowEngine, flowId: string, alerts: StuckThresholds, now: number): { pausedTooLong: number; bufferedTooMany: number } {
  const table = engine.statusTable(flowId);
  let pausedTooLong = 0;
  for (const key of table.pausedKeyNames()) if (now - table.get(key).timestamp > alerts.stuckPausedMs) pausedTooLong++;
  let bufferedTooMany = 0;
  for (const partition of engine.localPartitions(flowId)) {
    const buffer = engine.localBuffer(flowId, partition);
    if (buffer === undefined) continue;
    const visit = (_key: string, count: number): void => {
      if (count > alerts.stuckBufferedEvents) bufferedTooMany++;
    };
    if (buffer.forEachKey !== undefined) buffer.forEachKey(visit);
    else for (const key of buffer.keys()) visit(key, buffer.count(key));
  }
  return { pausedTooLong, bufferedTooMany };
}

/** The app's metrics: engine collectors on a registry of its own, plus the process's default metrics. */
export class ServiceMetrics {
  readonly #registry = new Registry();
  readonly #engine: FlowEngine;
  /** The engine's figures for the scrape under way (read once per scrape, by every collector). */
  #figures: EngineMetrics | undefined;
  #seenCommits = 0;

  constructor(engine: FlowEngine, alerts?: StuckThresholds) {
    this.#engine = engine;
    const registers = [this.#registry];
    const figures = (): EngineMetrics => (this.#figures ??= engine.metrics());
    const perFlow = (name: string, kind: 'gauge' | 'counter', help: string, pick: (flow: FlowFigures) => number): void => {
      if (kind === 'gauge') {
        new Gauge({
          name,
          help,
          labelNames: ['flow'],
          registers,
          collect() {
            this.reset();
            for (const flow of figures().flows) this.set({ flow: flow.flowId }, pick(flow));
          },
        });
      } else {
        new Counter({
          name,
          help,
          labelNames: ['flow'],
          registers,
          collect() {
            this.reset();
            for (const flow of figures().flows) this.inc({ flow: flow.flowId }, pick(flow));
          },
        });
      }
    };

    new Gauge({
      name: 'event_pause_info',
      help: 'Engine this instance runs (value is always 1).',
      labelNames: ['engine', 'durable'],
      registers,
      collect() {
        this.reset();
        this.set({ engine: engine.info.kind, durable: String(engine.info.durable) }, 1);
      },
    });
    new Gauge({
      name: 'event_pause_ready',
      help: '1 when status tables are caught up and every assigned task is restored.',
      registers,
      collect() {
        this.set(engine.isReady() ? 1 : 0);
      },
    });
    perFlow('event_pause_buffered_events', 'gauge', 'Events held in buffers of the tasks this instance owns.', (f) => f.bufferedEvents);
    perFlow('event_pause_paused_keys', 'gauge', 'Keys whose status is PAUSED (replicated table: the same on every instance).', (f) => f.pausedKeys);
    perFlow('event_pause_processed_events_total', 'counter', 'Input events processed by this instance.', (f) => f.processedEvents);
    perFlow('event_pause_held_events_total', 'counter', 'Input events put into a buffer (key paused or still draining) by this instance.', (f) => f.heldEvents);
    perFlow('event_pause_drained_events_total', 'counter', 'Buffered events forwarded to the output topic by drains.', (f) => f.drainedEvents);
    perFlow('event_pause_dead_lettered_total', 'counter', 'Records routed to the dead-letter topic.', (f) => f.deadLettered);
    perFlow('event_pause_consumer_lag', 'gauge', 'Input records not yet processed, summed over this instance\'s tasks.', (f) => f.consumerLag);
    perFlow('event_pause_standby_lag', 'gauge', 'STANDBY_REPLICAS=1: changelog records not yet applied to this instance\'s standby stores (0 when off).', (f) => f.standbyLag ?? 0);
    if (alerts !== undefined) {
      new Gauge({
        name: 'event_pause_stuck_keys',
        help: `Keys paused longer than STUCK_PAUSED_MINUTES (${alerts.stuckPausedMs / 60_000}; kind paused_too_long, the same on every instance) or holding more than STUCK_BUFFERED_EVENTS (${alerts.stuckBufferedEvents}; kind buffered_too_many, this instance's tasks).`,
        labelNames: ['flow', 'kind'],
        registers,
        collect() {
          this.reset();
          const now = Date.now();
          for (const flow of figures().flows) {
            const counts = stuckCounts(engine, flow.flowId, alerts, now);
            this.set({ flow: flow.flowId, kind: 'paused_too_long' }, counts.pausedTooLong);
            this.set({ flow: flow.flowId, kind: 'buffered_too_many' }, counts.bufferedTooMany);
          }
        },
      });
    }
    perFlow('event_pause_handled_events_total', 'counter', 'Library mode: events the flow\'s handler took.', (f) => f.handledEvents ?? 0);
    perFlow('event_pause_handler_parked_total', 'counter', 'Library mode: keys parked because their handler still failed after its retries.', (f) => f.handlerParked ?? 0);
    perFlow('event_pause_rebalances_total', 'counter', 'Partition assignments this instance received (each consumer group rebalance it took part in ends with one).', (f) => f.assignments ?? 0);
    new Counter({
      name: 'event_pause_commits_total',
      help: 'Commits (transactions or offset commits) made by this instance.',
      registers,
      collect() {
        this.reset();
        this.inc(figures().commits);
      },
    });
    const freshLatencies = (metrics: EngineMetrics): readonly number[] => {
      const fresh = Math.max(0, metrics.commits - this.#seenCommits);
      this.#seenCommits = Math.max(this.#seenCommits, metrics.commits);
      return metrics.commitLatenciesMs.slice(Math.max(0, metrics.commitLatenciesMs.length - fresh));
    };
    new Histogram({
      name: 'event_pause_commit_latency_ms',
      help: 'Commit latency in milliseconds.',
      buckets: LATENCY_BUCKETS_MS,
      registers,
      collect() {
        for (const ms of freshLatencies(figures())) this.observe(ms);
      },
    });
  }

  /** The exposition: this app's families, then the process's. */
  async text(): Promise<string> {
    this.#figures = this.#engine.metrics();
    try {
      return await Registry.merge([this.#registry, defaultMetrics()]).metrics();
    } finally {
      this.#figures = undefined;
    }
  }
}
