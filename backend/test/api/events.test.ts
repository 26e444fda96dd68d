/** The server-sent event stream, over a real socket (a stream never ends, so no inject()). */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { bufferedCount, eventually, FLOW, OTHER_FLOW, pauseKey, sendEvent, startApp, type TestApp } from './helper.ts';

interface SseEvent {
  readonly event: string;
  readonly data: unknown;
}

/** Reads an event stream; `next(match)` resolves with the first event that matches. */
class SseReader {
  readonly events: SseEvent[] = [];
  readonly #controller = new AbortController();
  readonly #waiters: Array<{ match: (e: SseEvent) => boolean; resolve: (e: SseEvent) => void }> = [];
  response: Response | undefined;

  async open(url: string, headers: Record<string, string> = {}): Promise<void> {
    this.response = await fetch(url, { headers, signal: this.#controller.signal });
    const body = this.response.body;
    if (body === null) return;
    void (async () => {
      const decoder = new TextDecoder();
      let buffer = '';
      try {
        for await (const chunk of body) {
          buffer += decoder.decode(chunk as Uint8Array, { stream: true });
          let end: number;
          while ((end = buffer.indexOf('\n\n')) >= 0) {
            const block = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            const event = /^event: (.+)$/m.exec(block)?.[1];
            const data = /^data: (.+)$/m.exec(block)?.[1];
            if (event !== undefined && data !== undefined) this.#push({ event, data: JSON.parse(data) });
          }
        }
      } catch {
        // aborted
      }
    })();
  }

  #push(event: SseEvent): void {
    this.events.push(event);
    for (const waiter of [...this.#waiters]) {
      if (waiter.match(event)) {
        this.#waiters.splice(this.#waiters.indexOf(waiter), 1);
        waiter.resolve(event);
      }
    }
  }

  next(what: string, match: (e: SseEvent) => boolean, timeoutMs = 5000): Promise<SseEvent> {
    const seen = this.events.find(match);
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ${what} within ${timeoutMs} ms; got ${JSON.stringify(this.events)}`)), timeoutMs);
      this.#waiters.push({
        match,
        resolve: (event) => {
          clearTimeout(timer);
          resolve(event);
        },
      });
    });
  }

  close(): void {
    this.#controller.abort();
  }
}

let t: TestApp;
let base: string;
before(async () => {
  t = await startApp({ eventStream: { intervalMs: 100, budget: 5 } });
  base = await t.app.listen({ host: '127.0.0.1', port: 0 });
});
after(async () => t.close());

describe('GET /api/v1/events', () => {
  test('delivers a status change, with reason and actor, to a client of that flow', async () => {
    const sse = new SseReader();
    await sse.open(`${base}/api/v1/events?flow=${FLOW}`, { origin: 'http://localhost:4200' });
    try {
      assert.equal(sse.response?.status, 200);
      assert.match(sse.response?.headers.get('content-type') ?? '', /^text\/event-stream/);
      assert.equal(sse.response?.headers.get('access-control-allow-origin'), 'http://localhost:4200');
      const hello = await sse.next('hello', (e) => e.event === 'hello');
      assert.deepEqual((hello.data as { flows: string[] }).flows, [FLOW]);

      await t.app.inject({ method: 'POST', url: `/api/v1/flows/${FLOW}/keys/sse-1/pause`, payload: { reason: 'watch me', actor: 'eve' } });
      const change = await sse.next('status-changed', (e) => e.event === 'status-changed' && (e.data as { key: string }).key === 'sse-1');
      assert.deepEqual(
        (({ flowId, key, status, reason, actor }) => ({ flowId, key, status, reason, actor }))(change.data as Record<string, unknown>),
        { flowId: FLOW, key: 'sse-1', status: 'PAUSED', reason: 'watch me', actor: 'eve' },
      );
    } finally {
      sse.close();
    }
  });

  test('coalesces processed and buffered events into per-interval counts; drains pass through', async () => {
    const sse = new SseReader();
    await sse.open(`${base}/api/v1/events?flow=${FLOW}`);
    try {
      await sse.next('hello', (e) => e.event === 'hello');
      for (let i = 0; i < 20; i++) await sendEvent(t.app, `burst-${i % 4}`, String(i));
      await pauseKey(t.app, 'held-key');
      for (let i = 0; i < 6; i++) await sendEvent(t.app, 'held-key', String(i));
      await eventually('6 buffered', async () => ((await bufferedCount(t.app, 'held-key')) === 6 ? true : undefined));
      await t.app.inject({ method: 'POST', url: `/control/${FLOW}/resume/held-key` });
      await sse.next('drained', (e) => e.event === 'drained' && (e.data as { key: string }).key === 'held-key');

      // Give the last interval time to flush, then count.
      await new Promise((resolve) => setTimeout(resolve, 250));
      const processed = sse.events.filter((e) => e.event === 'processed').map((e) => e.data as { flowId: string; count: number });
      assert.ok(processed.length < 20, 'processed events arrive as counts, not one by one');
      assert.ok(processed.reduce((sum, e) => sum + e.count, 0) >= 20);
      assert.ok(processed.every((e) => e.flowId === FLOW));
      const buffered = sse.events.filter((e) => e.event === 'buffered').map((e) => e.data as { count: number; keys: Record<string, number> });
      assert.equal(buffered.reduce((sum, e) => sum + e.count, 0), 6);
      assert.equal(buffered.reduce((sum, e) => sum + (e.keys['held-key'] ?? 0), 0), 6);
    } finally {
      sse.close();
    }
  });

  test('a client of one flow sees nothing of another; too many events in an interval become an overflow count', async () => {
    const sse = new SseReader();
    await sse.open(`${base}/api/v1/events?flow=${OTHER_FLOW}`);
    try {
      await sse.next('hello', (e) => e.event === 'hello');
      const keys = Array.from({ length: 12 }, (_, i) => `ov-${i}`);
      await t.app.inject({ method: 'POST', url: `/api/v1/flows/${FLOW}/pause`, payload: { keys: ['elsewhere'] } });
      await t.app.inject({ method: 'POST', url: `/api/v1/flows/${OTHER_FLOW}/pause`, payload: { keys } });
      const overflow = await sse.next('overflow', (e) => e.event === 'overflow');
      const changes = sse.events.filter((e) => e.event === 'status-changed');
      assert.ok(changes.length <= 5, `at most the budget of 5 per interval, got ${changes.length}`);
      assert.ok((overflow.data as { skipped: number }).skipped >= 12 - 5);
      assert.ok(changes.every((e) => (e.data as { flowId: string }).flowId === OTHER_FLOW));
    } finally {
      sse.close();
    }
  });

  test('404 for an unknown flow, 400 for a bad flow id', async () => {
    const unknown = await t.app.inject({ method: 'GET', url: '/api/v1/events?flow=nope' });
    assert.equal(unknown.statusCode, 404);
    assert.equal((unknown.json() as { code: string }).code, 'FLOW_NOT_FOUND');
    const bad = await t.app.inject({ method: 'GET', url: '/api/v1/events?flow=a%20b' });
    assert.equal(bad.statusCode, 400);
  });
});
