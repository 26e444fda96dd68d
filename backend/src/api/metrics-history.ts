/**
 * The last 15 minutes of each flow's figures on this instance, for the console's charts.
 *
 * Every `intervalMs` (5 s) the engine's counters are sampled; a point holds the rates over the
 * interval just ended (events in, out, drained, dead-lettered per second) and the gauges at its
 * end (buffered events, consumer lag, paused keys). Points sit on interval boundaries of the wall
 * clock (`t` is a multiple of intervalMs), so the points of several instances line up and the
 * instance answering the console sums them (`mergeHistories`): rates and buffered/lag add up,
 * paused keys (a replicated table, the same everywhere) take the largest.
 *
 * Counters start at 0 with the process: a restart shows as a gap, never as a negative rate, and
 * `countersSince` says when this instance's counting began.
 */
import type { EngineMetrics, FlowEngine } from '../runtime/engine.ts';

export const HISTORY_INTERVAL_MS = 5_000;
export const HISTORY_WINDOW_MS = 15 * 60_000;

/** One flow at one interval boundary. */
export interface HistoryPoint {
  /** End of the interval, ms since the epoch, a multiple of intervalMs. */
  readonly t: number;
  /** Input events taken in per second (passed through, held in a buffer, or dead-lettered). */
  readonly inPerSec: number;
  /** Events written to the output topic per second (passed through or drained). */
  readonly outPerSec: number;
  readonly drainedPerSec: number;
  readonly deadLetteredPerSec: number;
  readonly bufferedEvents: number;
  readonly consumerLag: number;
  readonly pausedKeys: number;
}

/** A flow's counters now (since each process started) and gauges, summed over instances. */
export interface FlowTotals {
  readonly processedEvents: number;
  readonly heldEvents: number;
  readonly drainedEvents: number;
  readonly deadLettered: number;
  readonly bufferedEvents: number;
  readonly consumerLag: number;
  /** The largest over instances (a replicated table). */
  readonly pausedKeys: number;
}

export interface FlowHistory {
  readonly flow: string;
  points: HistoryPoint[];
  totals: FlowTotals;
}

export interface HistoryAnswer {
  readonly intervalMs: number;
  readonly windowMs: number;
  /** Earliest start of counting over the instances that answered (ms since the epoch). */
  readonly countersSince: number;
  flows: FlowHistory[];
}

type FlowFigures = EngineMetrics['flows'][number];

interface Sample {
  readonly at: number;
  readonly figures: ReadonlyMap<string, FlowFigures>;
}

export interface MetricsHistoryOptions {
  readonly intervalMs?: number;
  readonly windowMs?: number;
  /** Wall clock (tests pass their own). */
  readonly now?: () => number;
}

export class MetricsHistory {
  readonly intervalMs: number;
  readonly windowMs: number;
  readonly countersSince: number;
  readonly #engine: FlowEngine;
  readonly #now: () => number;
  readonly #points = new Map<string, HistoryPoint[]>();
  #last: Sample | undefined;
  #lastT: number | undefined;
  #timer: NodeJS.Timeout | undefined;

  constructor(engine: FlowEngine, options: MetricsHistoryOptions = {}) {
    this.#engine = engine;
    this.intervalMs = options.intervalMs ?? HISTORY_INTERVAL_MS;
    this.windowMs = options.windowMs ?? HISTORY_WINDOW_MS;
    this.#now = options.now ?? Date.now;
    this.countersSince = this.#now();
  }

  /** Samples on every interval boundary until `stop`. The first sample only sets the baseline. */
  start(): void {
    if (this.#timer !== undefined) return;
    this.sample();
    const tick = (): void => {
      this.sample();
      this.#timer = setTimeout(tick, this.#untilNextBoundary()).unref();
    };
    this.#timer = setTimeout(tick, this.#untilNextBoundary()).unref();
  }

  stop(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #untilNextBoundary(): number {
    const now = this.#now();
    return this.intervalMs - (now % this.intervalMs) || this.intervalMs;
  }

  /** Takes one sample now (the timer calls it; tests may too). */
  sample(): void {
    const at = this.#now();
    const t = Math.round(at / this.intervalMs) * this.intervalMs;
    // A second sample for the same boundary (a timer that fired early, then again): the first
    // stands, and the next point covers the time since it.
    if (t === this.#lastT) return;
    const figures = new Map(this.#engine.metrics().flows.map((flow) => [flow.flowId, flow]));
    const previous = this.#last;
    this.#last = { at, figures };
    this.#lastT = t;
    if (previous === undefined) return;
    const seconds = (at - previous.at) / 1000;
    if (seconds <= 0) return;
    const rate = (now: number, before: number | undefined): number => (before === undefined || now < before ? 0 : (now - before) / seconds);
    for (const [flowId, now] of figures) {
      const before = previous.figures.get(flowId);
      const taken = (f: FlowFigures | undefined): number | undefined => (f === undefined ? undefined : f.processedEvents + f.heldEvents + f.deadLettered);
      const out = (f: FlowFigures | undefined): number | undefined => (f === undefined ? undefined : f.processedEvents + f.drainedEvents);
      const point: HistoryPoint = {
        t,
        inPerSec: rate(taken(now)!, taken(before)),
        outPerSec: rate(out(now)!, out(before)),
        drainedPerSec: rate(now.drainedEvents, before?.drainedEvents),
        deadLetteredPerSec: rate(now.deadLettered, before?.deadLettered),
        bufferedEvents: now.bufferedEvents,
        consumerLag: now.consumerLag,
        pausedKeys: now.pausedKeys,
      };
      let points = this.#points.get(flowId);
      if (points === undefined) this.#points.set(flowId, (points = []));
      points.push(point);
      while (points.length > 0 && points[0]!.t <= t - this.windowMs) points.shift();
    }
  }

  /** This instance's points and counters now, of one flow or of all. */
  local(flowId?: string): HistoryAnswer {
    const flows: FlowHistory[] = [];
    for (const f of this.#engine.metrics().flows) {
      if (flowId !== undefined && f.flowId !== flowId) continue;
      const totals: FlowTotals = {
        processedEvents: f.processedEvents,
        heldEvents: f.heldEvents,
        drainedEvents: f.drainedEvents,
        deadLettered: f.deadLettered,
        bufferedEvents: f.bufferedEvents,
        consumerLag: f.consumerLag,
        pausedKeys: f.pausedKeys,
      };
      flows.push({ flow: f.flowId, points: [...(this.#points.get(f.flowId) ?? [])], totals });
    }
    return { intervalMs: this.intervalMs, windowMs: this.windowMs, countersSince: this.countersSince, flows };
  }
}

/** The answers of several instances as one: points of the same flow and time add up. */
export function mergeHistories(answers: readonly HistoryAnswer[]): HistoryAnswer {
  const first = answers[0];
  if (first === undefined) return { intervalMs: HISTORY_INTERVAL_MS, windowMs: HISTORY_WINDOW_MS, countersSince: Date.now(), flows: [] };
  const byFlow = new Map<string, { points: Map<number, HistoryPoint>; totals: FlowTotals }>();
  for (const answer of answers) {
    for (const history of answer.flows) {
      const seen = byFlow.get(history.flow);
      if (seen === undefined) {
        byFlow.set(history.flow, { points: new Map(history.points.map((p) => [p.t, p])), totals: history.totals });
        continue;
      }
      seen.totals = addTotals(seen.totals, history.totals);
      for (const point of history.points) {
        const sum = seen.points.get(point.t);
        seen.points.set(point.t, sum === undefined ? point : addPoints(sum, point));
      }
    }
  }
  return {
    intervalMs: first.intervalMs,
    windowMs: first.windowMs,
    countersSince: Math.min(...answers.map((answer) => answer.countersSince)),
    flows: [...byFlow].map(([flow, { points, totals }]) => ({ flow, points: [...points.values()].sort((a, b) => a.t - b.t), totals })),
  };
}

function addPoints(a: HistoryPoint, b: HistoryPoint): HistoryPoint {
  return {
    t: a.t,
    inPerSec: a.inPerSec + b.inPerSec,
    outPerSec: a.outPerSec + b.outPerSec,
    drainedPerSec: a.drainedPerSec + b.drainedPerSec,
    deadLetteredPerSec: a.deadLetteredPerSec + b.deadLetteredPerSec,
    bufferedEvents: a.bufferedEvents + b.bufferedEvents,
    consumerLag: a.consumerLag + b.consumerLag,
    pausedKeys: Math.max(a.pausedKeys, b.pausedKeys),
  };
}

function addTotals(a: FlowTotals, b: FlowTotals): FlowTotals {
  return {
    processedEvents: a.processedEvents + b.processedEvents,
    heldEvents: a.heldEvents + b.heldEvents,
    drainedEvents: a.drainedEvents + b.drainedEvents,
    deadLettered: a.deadLettered + b.deadLettered,
    bufferedEvents: a.bufferedEvents + b.bufferedEvents,
    consumerLag: a.consumerLag + b.consumerLag,
    pausedKeys: Math.max(a.pausedKeys, b.pausedKeys),
  };
}
