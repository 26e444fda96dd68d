/**
 * Prometheus text exposition (format 0.0.4), written by hand: a few gauges and counters per flow
 * from `engine.metrics()`, and a commit-latency histogram. The engine reports the latencies of
 * recent commits plus a running commit count; the histogram folds in the samples that are new
 * since the last scrape, so it is cumulative as Prometheus expects.
 */
import type { EngineMetrics, FlowEngine } from '../runtime/engine.ts';

export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

const LATENCY_BUCKETS_MS = [1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10_000];

function escapeLabel(value: string): string {
  return value.replaceAll('\\', '\\\\').replaceAll('"', '\\"').replaceAll('\n', '\\n');
}

function labels(values: Readonly<Record<string, string>>): string {
  const parts = Object.entries(values).map(([name, value]) => `${name}="${escapeLabel(value)}"`);
  return parts.length === 0 ? '' : `{${parts.join(',')}}`;
}

function number(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  return String(value);
}

class Exposition {
  readonly #lines: string[] = [];

  family(name: string, type: 'gauge' | 'counter' | 'histogram', help: string): this {
    this.#lines.push(`# HELP ${name} ${help.replaceAll('\\', '\\\\').replaceAll('\n', '\\n')}`, `# TYPE ${name} ${type}`);
    return this;
  }

  sample(name: string, labelValues: Readonly<Record<string, string>>, value: number): this {
    this.#lines.push(`${name}${labels(labelValues)} ${number(value)}`);
    return this;
  }

  text(): string {
    return `${this.#lines.join('\n')}\n`;
  }
}

export class CommitLatencyHistogram {
  readonly #counts = LATENCY_BUCKETS_MS.map(() => 0);
  #count = 0;
  #sum = 0;
  #seenCommits = 0;

  /** Folds in the samples of commits made since the last call (newest last in `recent`). */
  update(metrics: EngineMetrics): void {
    const fresh = Math.max(0, metrics.commits - this.#seenCommits);
    this.#seenCommits = Math.max(this.#seenCommits, metrics.commits);
    const samples = metrics.commitLatenciesMs.slice(Math.max(0, metrics.commitLatenciesMs.length - fresh));
    for (const ms of samples) {
      this.#count++;
      this.#sum += ms;
      LATENCY_BUCKETS_MS.forEach((bound, i) => {
        if (ms <= bound) this.#counts[i] = (this.#counts[i] ?? 0) + 1;
      });
    }
  }

  write(out: Exposition, name: string): void {
    LATENCY_BUCKETS_MS.forEach((bound, i) => out.sample(`${name}_bucket`, { le: String(bound) }, this.#counts[i] ?? 0));
    out.sample(`${name}_bucket`, { le: '+Inf' }, this.#count);
    out.sample(`${name}_sum`, {}, this.#sum);
    out.sample(`${name}_count`, {}, this.#count);
  }
}

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

export function renderMetrics(engine: FlowEngine, histogram: CommitLatencyHistogram, alerts?: StuckThresholds): string {
  const metrics = engine.metrics();
  histogram.update(metrics);
  const out = new Exposition();
  const perFlow = (
    name: string,
    type: 'gauge' | 'counter',
    help: string,
    pick: (flow: EngineMetrics['flows'][number]) => number,
  ): void => {
    out.family(name, type, help);
    for (const flow of metrics.flows) out.sample(name, { flow: flow.flowId }, pick(flow));
  };

  out.family('event_pause_info', 'gauge', 'Engine this instance runs (value is always 1).');
  out.sample('event_pause_info', { engine: engine.info.kind, durable: String(engine.info.durable) }, 1);
  out.family('event_pause_ready', 'gauge', '1 when status tables are caught up and every assigned task is restored.');
  out.sample('event_pause_ready', {}, engine.isReady() ? 1 : 0);
  perFlow('event_pause_buffered_events', 'gauge', 'Events held in buffers of the tasks this instance owns.', (f) => f.bufferedEvents);
  perFlow('event_pause_paused_keys', 'gauge', 'Keys whose status is PAUSED (replicated table: the same on every instance).', (f) => f.pausedKeys);
  perFlow('event_pause_processed_events_total', 'counter', 'Input events processed by this instance.', (f) => f.processedEvents);
  perFlow('event_pause_held_events_total', 'counter', 'Input events put into a buffer (key paused or still draining) by this instance.', (f) => f.heldEvents);
  perFlow('event_pause_drained_events_total', 'counter', 'Buffered events forwarded to the output topic by drains.', (f) => f.drainedEvents);
  perFlow('event_pause_dead_lettered_total', 'counter', 'Records routed to the dead-letter topic.', (f) => f.deadLettered);
  perFlow('event_pause_consumer_lag', 'gauge', 'Input records not yet processed, summed over this instance\'s tasks.', (f) => f.consumerLag);
  perFlow('event_pause_standby_lag', 'gauge', 'STANDBY_REPLICAS=1: changelog records not yet applied to this instance\'s standby stores (0 when off).', (f) => f.standbyLag ?? 0);
  if (alerts !== undefined) {
    out.family(
      'event_pause_stuck_keys',
      'gauge',
      `Keys paused longer than STUCK_PAUSED_MINUTES (${alerts.stuckPausedMs / 60_000}; kind paused_too_long, the same on every instance) or holding more than STUCK_BUFFERED_EVENTS (${alerts.stuckBufferedEvents}; kind buffered_too_many, this instance's tasks).`,
    );
    const now = Date.now();
    for (const flow of metrics.flows) {
      const counts = stuckCounts(engine, flow.flowId, alerts, now);
      out.sample('event_pause_stuck_keys', { flow: flow.flowId, kind: 'paused_too_long' }, counts.pausedTooLong);
      out.sample('event_pause_stuck_keys', { flow: flow.flowId, kind: 'buffered_too_many' }, counts.bufferedTooMany);
    }
  }
  perFlow('event_pause_handled_events_total', 'counter', 'Library mode: events the flow\'s handler took.', (f) => f.handledEvents ?? 0);
  perFlow('event_pause_handler_parked_total', 'counter', 'Library mode: keys parked because their handler still failed after its retries.', (f) => f.handlerParked ?? 0);
  perFlow('event_pause_rebalances_total', 'counter', 'Partition assignments this instance received (each consumer group rebalance it took part in ends with one).', (f) => f.assignments ?? 0);
  out.family('event_pause_commits_total', 'counter', 'Commits (transactions or offset commits) made by this instance.');
  out.sample('event_pause_commits_total', {}, metrics.commits);
  out.family('event_pause_commit_latency_ms', 'histogram', 'Commit latency in milliseconds.');
  histogram.write(out, 'event_pause_commit_latency_ms');
  return out.text();
}
