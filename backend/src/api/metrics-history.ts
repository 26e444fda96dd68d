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

export interface FlowHistory {
  readonly flow: string;
  points: HistoryPoint[];
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

  /** This instance's points, of one flow or of all. */
  local(flowId?: string): HistoryAnswer {
    const flows: FlowHistory[] = [];
    for (const [flow, points] of this.#points) if (flowId === undefined || flow === flowId) flows.push({ flow, points: [...points] });
    return { intervalMs: this.intervalMs, windowMs: this.windowMs, countersSince: this.countersSince, flows };
  }
}

/** The answers of several instances as one: points of the same flow and time add up. */
export function mergeHistories(answers: readonly HistoryAnswer[]): HistoryAnswer {
  const first = answers[0];
  if (first === undefined) return { intervalMs: HISTORY_INTERVAL_MS, windowMs: HISTORY_WINDOW_MS, countersSince: Date.now(), flows: [] };
  const byFlow = new Map<string, Map<number, HistoryPoint>>();
  for (const answer of answers) {
    for (const history of answer.flows) {
      let points = byFlow.get(history.flow);
      if (points === undefined) byFlow.set(history.flow, (points = new Map()));
      for (const point of history.points) {
        const sum = points.get(point.t);
        points.set(
          point.t,
          sum === undefined
            ? point
            : {
                t: point.t,
                inPerSec: sum.inPerSec + point.inPerSec,
                outPerSec: sum.outPerSec + point.outPerSec,
                drainedPerSec: sum.drainedPerSec + point.drainedPerSec,
                deadLetteredPerSec: sum.deadLetteredPerSec + point.deadLetteredPerSec,
                bufferedEvents: sum.bufferedEvents + point.bufferedEvents,
                consumerLag: sum.consumerLag + point.consumerLag,
                pausedKeys: Math.max(sum.pausedKeys, point.pausedKeys),
              },
        );
      }
    }
  }
  return {
    intervalMs: first.intervalMs,
    windowMs: first.windowMs,
    countersSince: Math.min(...answers.map((answer) => answer.countersSince)),
    flows: [...byFlow].map(([flow, points]) => ({ flow, points: [...points.values()].sort((a, b) => a.t - b.t) })),
  };
}
