import type { FlowMetrics } from './models';

const FLOW_FIGURES: ReadonlyArray<[keyof FlowMetrics, string]> = [
  ['bufferedEvents', 'event_pause_buffered_events'],
  ['pausedKeys', 'event_pause_paused_keys'],
  ['processedEvents', 'event_pause_processed_events_total'],
  ['drainedEvents', 'event_pause_drained_events_total'],
  ['deadLettered', 'event_pause_dead_lettered_total'],
  ['consumerLag', 'event_pause_consumer_lag'],
];

/** One flow's figures out of the Prometheus text of /metrics; undefined when the flow is not there. */
export function parseFlowMetrics(text: string, flowId: string): FlowMetrics | undefined {
  const samples = new Map<string, number>();
  for (const line of text.split('\n')) {
    const match = /^([a-z_]+)\{flow="((?:[^"\\]|\\.)*)"\}\s+(\S+)$/.exec(line);
    if (match === null || match[2] !== flowId) continue;
    samples.set(match[1] ?? '', Number(match[3]));
  }
  if (samples.size === 0) return undefined;
  const figures: Partial<Record<keyof FlowMetrics, number>> = {};
  for (const [field, name] of FLOW_FIGURES) figures[field] = samples.get(name) ?? 0;
  return figures as FlowMetrics;
}
