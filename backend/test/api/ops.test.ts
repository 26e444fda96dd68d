/** /health, /ready, /metrics (Prometheus text format) and the OpenAPI document. */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { eventually, FLOW, OTHER_FLOW, pauseKey, sendEvent, startApp, type TestApp } from './helper.ts';

let t: TestApp;
before(async () => {
  t = await startApp();
});
after(async () => t.close());

test('/health answers 200 {status: "ok"}', async () => {
  const response = await t.app.inject({ method: 'GET', url: '/health' });
  assert.equal(response.statusCode, 200);
  assert.deepEqual(response.json(), { status: 'ok' });
});

describe('/ready', () => {
  test('200 when the engine is ready', async () => {
    const response = await t.app.inject({ method: 'GET', url: '/ready' });
    assert.equal(response.statusCode, 200);
    assert.deepEqual(response.json(), { ready: true, engine: 'embedded' });
  });

  test('503 with a message while it is not', async () => {
    const idle = await startApp({ start: false });
    try {
      const response = await idle.app.inject({ method: 'GET', url: '/ready' });
      assert.equal(response.statusCode, 503);
      const body = response.json() as { code: string; message: string };
      assert.equal(body.code, 'NOT_READY');
      assert.match(body.message, /engine embedded is not ready/);
      assert.equal((await idle.app.inject({ method: 'GET', url: '/health' })).statusCode, 200);
    } finally {
      await idle.close();
    }
  });
});

interface Sample {
  readonly name: string;
  readonly labels: Record<string, string>;
  readonly value: number;
}

/** A strict reader of the Prometheus text format: every sample belongs to a declared family. */
function parseExposition(text: string): { types: Map<string, string>; samples: Sample[] } {
  assert.ok(text.endsWith('\n'), 'the exposition ends with a newline');
  const types = new Map<string, string>();
  const helps = new Set<string>();
  const samples: Sample[] = [];
  for (const line of text.slice(0, -1).split('\n')) {
    if (line === '') continue; // the format allows blank lines (prom-client puts one between families)
    const meta = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.+)$/.exec(line);
    if (meta !== null) {
      if (meta[1] === 'TYPE') {
        assert.match(meta[3] ?? '', /^(counter|gauge|histogram|summary|untyped)$/);
        types.set(meta[2] ?? '', meta[3] ?? '');
      } else {
        helps.add(meta[2] ?? '');
      }
      continue;
    }
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    assert.ok(sample !== null, `not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const pair of (sample[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[pair[1] ?? ''] = pair[2] ?? '';
    // Go's ParseFloat, which Prometheus uses, takes NaN in any case (prom-client writes "Nan").
    const value = sample[3] === '+Inf' ? Infinity : /^nan$/i.test(sample[3] ?? '') ? NaN : Number(sample[3]);
    assert.ok(!Number.isNaN(value) || /^nan$/i.test(sample[3] ?? ''), `not a number: ${line}`);
    const name = sample[1] ?? '';
    const family = name.replace(/_(bucket|sum|count)$/, '');
    assert.ok(types.has(name) || types.get(family) === 'histogram', `sample ${name} has no # TYPE`);
    assert.ok(helps.has(name) || helps.has(family), `sample ${name} has no # HELP`);
    samples.push({ name, labels, value });
  }
  return { types, samples };
}

describe('/metrics', () => {
  test('Prometheus text format with per-flow gauges and counters and a commit latency histogram', async () => {
    await pauseKey(t.app, 'm-paused');
    await sendEvent(t.app, 'm-paused', 'held');
    await sendEvent(t.app, 'm-free', 'through');
    const { samples, types } = await eventually('metrics to show the buffered event', async () => {
      const response = await t.app.inject({ method: 'GET', url: '/metrics' });
      assert.equal(response.statusCode, 200);
      assert.equal(response.headers['content-type'], 'text/plain; version=0.0.4; charset=utf-8');
      const parsed = parseExposition(response.body);
      const buffered = parsed.samples.find((s) => s.name === 'event_pause_buffered_events' && s.labels.flow === FLOW);
      return buffered?.value === 1 ? parsed : undefined;
    });
    const value = (name: string, flow?: string): number | undefined =>
      samples.find((s) => s.name === name && (flow === undefined || s.labels.flow === flow))?.value;

    assert.equal(types.get('event_pause_buffered_events'), 'gauge');
    assert.equal(types.get('event_pause_processed_events_total'), 'counter');
    assert.equal(types.get('event_pause_commit_latency_ms'), 'histogram');
    assert.equal(value('event_pause_paused_keys', FLOW), 1);
    assert.equal(value('event_pause_paused_keys', OTHER_FLOW), 0);
    for (const name of ['event_pause_drained_events_total', 'event_pause_dead_lettered_total', 'event_pause_consumer_lag', 'event_pause_processed_events_total']) {
      assert.equal(typeof value(name, FLOW), 'number', name);
      assert.equal(typeof value(name, OTHER_FLOW), 'number', name);
    }
    assert.ok((value('event_pause_processed_events_total', FLOW) ?? 0) >= 1);
    assert.equal(value('event_pause_ready'), 1);
    assert.deepEqual(samples.find((s) => s.name === 'event_pause_info')?.labels, { engine: 'embedded', durable: 'false' });

    const buckets = samples.filter((s) => s.name === 'event_pause_commit_latency_ms_bucket');
    assert.equal(buckets.at(-1)?.labels.le, '+Inf');
    for (let i = 1; i < buckets.length; i++) {
      assert.ok((buckets[i]?.value ?? 0) >= (buckets[i - 1]?.value ?? 0), 'buckets are cumulative');
      assert.ok(Number(buckets[i]?.labels.le === '+Inf' ? Infinity : buckets[i]?.labels.le) > Number(buckets[i - 1]?.labels.le));
    }
    assert.equal(buckets.at(-1)?.value, value('event_pause_commit_latency_ms_count'));
    assert.ok((value('event_pause_commit_latency_ms_count') ?? 0) > 0, 'commits were observed');

    // prom-client's default process metrics ride along: event-loop lag, heap, GC, CPU, memory.
    for (const name of ['nodejs_eventloop_lag_seconds', 'nodejs_heap_size_used_bytes', 'process_cpu_user_seconds_total', 'process_resident_memory_bytes']) {
      assert.equal(typeof value(name), 'number', name);
    }
    assert.equal(types.get('nodejs_gc_duration_seconds'), 'histogram');
    assert.equal(types.get('process_cpu_user_seconds_total'), 'counter');
    // No family twice (each TYPE line once).
    const typeLines = (await t.app.inject({ method: 'GET', url: '/metrics' })).body.split('\n').filter((line) => line.startsWith('# TYPE '));
    assert.equal(new Set(typeLines).size, typeLines.length);
  });

  test('counters never go backward across scrapes, and every commit is observed once by the histogram', async () => {
    const scrape = async (): Promise<Map<string, number>> => {
      const { samples } = parseExposition((await t.app.inject({ method: 'GET', url: '/metrics' })).body);
      return new Map(samples.filter((s) => s.name.startsWith('event_pause_')).map((s) => [`${s.name}${JSON.stringify(s.labels)}`, s.value]));
    };
    const before = await scrape();
    for (let i = 0; i < 5; i++) await sendEvent(t.app, `m-c${i}`, 'x');
    await new Promise((resolve) => setTimeout(resolve, 100));
    const after = await scrape();
    for (const [series, value] of before) {
      if (series.includes('_total') || series.includes('_count') || series.includes('_bucket')) assert.ok((after.get(series) ?? -1) >= value, `${series}: ${value} -> ${after.get(series)}`);
    }
    const commits = after.get('event_pause_commits_total{}') ?? 0;
    assert.ok(commits > (before.get('event_pause_commits_total{}') ?? 0), 'commits were made');
    // The engine keeps the latencies of its recent commits: each new commit is observed once (never twice).
    const observed = after.get('event_pause_commit_latency_ms_count{}') ?? 0;
    assert.ok(observed <= commits, `${observed} observations for ${commits} commits`);
    assert.ok(observed - (before.get('event_pause_commit_latency_ms_count{}') ?? 0) >= 1);
  });

  test('the histogram only grows between scrapes', async () => {
    const count = async (): Promise<number> => {
      const { samples } = parseExposition((await t.app.inject({ method: 'GET', url: '/metrics' })).body);
      return samples.find((s) => s.name === 'event_pause_commit_latency_ms_count')?.value ?? -1;
    };
    const first = await count();
    await sendEvent(t.app, 'm-more', 'x');
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.ok((await count()) >= first);
  });
});

test('OpenAPI document at /docs/json describes every route; the UI is at /docs', async () => {
  const response = await t.app.inject({ method: 'GET', url: '/docs/json' });
  assert.equal(response.statusCode, 200);
  const doc = response.json() as { openapi: string; paths: Record<string, Record<string, { parameters?: Array<{ name: string; in: string }> }>> };
  assert.match(doc.openapi, /^3\./);
  for (const path of [
    '/control/{flow}/pause/{key}',
    '/control/{flow}/resume/{key}',
    '/control/{flow}/send',
    '/control/{flow}/input-messages',
    '/control/{flow}/output-messages',
    '/control/{flow}/buffer/{key}',
    '/control/{flow}/status/{key}',
    '/api/v1/flows',
    '/api/v1/flows/{flow}/keys',
    '/api/v1/flows/{flow}/keys/{key}',
    '/api/v1/flows/{flow}/keys/{key}/buffer',
    '/api/v1/flows/{flow}/keys/{key}/history',
    '/api/v1/flows/{flow}/pause',
    '/api/v1/flows/{flow}/resume',
    '/api/v1/events',
    '/health',
    '/ready',
    '/metrics',
  ]) {
    assert.ok(doc.paths[path] !== undefined, `${path} is documented`);
  }
  const send = doc.paths['/control/{flow}/send']?.post?.parameters ?? [];
  assert.deepEqual(send.filter((p) => p.in === 'query').map((p) => p.name).sort(), ['data', 'key']);
  const ui = await t.app.inject({ method: 'GET', url: '/docs/' });
  assert.equal(ui.statusCode, 200);
  assert.match(ui.body, /swagger/i);
});
