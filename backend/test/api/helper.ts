/**
 * Route tests' helper (like fastify/demo's test/helper.ts): the app on an in-memory embedded
 * engine, called with `app.inject()`, no network.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { buildApp } from '../../src/api/app.ts';
import type { EventStreamOptions } from '../../src/api/event-stream.ts';
import type { MetricsHistoryOptions } from '../../src/api/metrics-history.ts';
import { loadSettings, type Settings } from '../../src/config/config.ts';
import { EmbeddedEngine } from '../../src/engines/embedded/embedded-engine.ts';
import type { FlowEngine } from '../../src/runtime/engine.ts';

export const FLOW = 'demo';
export const OTHER_FLOW = 'orders';

export interface TestApp {
  readonly app: FastifyInstance;
  readonly engine: FlowEngine;
  readonly settings: Settings;
  close(): Promise<void>;
}

let flowsFile: string | undefined;

/** Two flows of 4 partitions, in a file of their own (independent of config/flows.json). */
function testFlowsFile(): string {
  if (flowsFile === undefined) {
    const dir = mkdtempSync(path.join(tmpdir(), 'ep-api-test-'));
    flowsFile = path.join(dir, 'flows.json');
    writeFileSync(flowsFile, JSON.stringify({ applicationId: 'ep-api-test', partitions: 4, flows: [{ id: FLOW }, { id: OTHER_FLOW }] }));
  }
  return flowsFile;
}

export function testSettings(env: Record<string, string> = {}): Settings {
  return loadSettings({ EVENT_PAUSE_CONFIG: testFlowsFile(), PUNCTUATE_INTERVAL_MS: '50', COMMIT_INTERVAL_MS: '10', ...env });
}

export interface StartOptions {
  readonly env?: Record<string, string>;
  readonly eventStream?: Partial<EventStreamOptions>;
  /** Wraps the started engine, e.g. to pretend partitions live elsewhere. */
  readonly wrap?: (engine: FlowEngine) => FlowEngine;
  readonly start?: boolean;
  readonly metricsHistory?: MetricsHistoryOptions;
}

export async function startApp(options: StartOptions = {}): Promise<TestApp> {
  const settings = testSettings(options.env);
  const embedded = new EmbeddedEngine(settings, { persist: false });
  if (options.start !== false) await embedded.start();
  const engine = options.wrap?.(embedded) ?? embedded;
  const app = buildApp({ engine, settings, logger: pino({ level: 'silent' }), eventStream: options.eventStream, ...(options.metricsHistory === undefined ? {} : { metricsHistory: options.metricsHistory }) });
  await app.ready();
  return {
    app,
    engine,
    settings,
    async close() {
      await app.close();
      await embedded.stop();
    },
  };
}


/** Polls until `probe` returns something other than undefined. */
export async function eventually<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

export async function statusOf(app: FastifyInstance, key: string, flow = FLOW): Promise<string> {
  const response = await app.inject({ method: 'GET', url: `/control/${flow}/status/${encodeURIComponent(key)}` });
  return (response.json() as { status: string }).status;
}

/** Pauses through the original endpoint and waits until the status table shows it. */
export async function pauseKey(app: FastifyInstance, key: string, flow = FLOW): Promise<void> {
  const response = await app.inject({ method: 'POST', url: `/control/${flow}/pause/${encodeURIComponent(key)}` });
  if (response.statusCode !== 202) throw new Error(`pause answered ${response.statusCode}: ${response.body}`);
  await eventually(`${key} PAUSED`, async () => ((await statusOf(app, key, flow)) === 'PAUSED' ? true : undefined));
}

export async function sendEvent(app: FastifyInstance, key: string, data: string, flow = FLOW): Promise<string> {
  const response = await app.inject({
    method: 'POST',
    url: `/control/${flow}/send`,
    query: { key, data },
  });
  if (response.statusCode !== 200) throw new Error(`send answered ${response.statusCode}: ${response.body}`);
  return (response.json() as { eventId: string }).eventId;
}

export async function bufferedCount(app: FastifyInstance, key: string, flow = FLOW): Promise<number> {
  const response = await app.inject({ method: 'GET', url: `/api/v1/flows/${flow}/keys/${encodeURIComponent(key)}` });
  return (response.json() as { bufferedCount: number }).bufferedCount;
}
