/** The original system's endpoints: same paths, parameters and response shapes. */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { bufferedCount, eventually, FLOW, pauseKey, sendEvent, startApp, statusOf, type TestApp } from './helper.ts';

let t: TestApp;
before(async () => {
  t = await startApp();
});
after(async () => t.close());

describe('POST /control/{flow}/pause/{key} and /resume/{key}', () => {
  test('202 with no body, as the original; status follows', async () => {
    const pause = await t.app.inject({ method: 'POST', url: `/control/${FLOW}/pause/p1` });
    assert.equal(pause.statusCode, 202);
    assert.equal(pause.body, '');
    await eventually('PAUSED', async () => ((await statusOf(t.app, 'p1')) === 'PAUSED' ? true : undefined));

    const resume = await t.app.inject({ method: 'POST', url: `/control/${FLOW}/resume/p1` });
    assert.equal(resume.statusCode, 202);
    assert.equal(resume.body, '');
    await eventually('ACTIVE', async () => ((await statusOf(t.app, 'p1')) === 'ACTIVE' ? true : undefined));
  });

  test('accepts the dashboard\'s `{}` JSON body and an empty JSON body', async () => {
    for (const payload of ['{}', '']) {
      const response = await t.app.inject({
        method: 'POST',
        url: `/control/${FLOW}/pause/p2`,
        headers: { 'content-type': 'application/json' },
        payload,
      });
      assert.equal(response.statusCode, 202, response.body);
    }
  });

  test('resume writes ACTIVE to the status topic, then {"action":"RESUME"} to the trigger topic', async () => {
    await t.app.inject({ method: 'POST', url: `/control/${FLOW}/resume/p3` });
    const flow = t.engine.flows.find((f) => f.id === FLOW);
    assert.ok(flow !== undefined);
    const status = (await t.engine.recent(flow.topics.status, 100)).filter((r) => r.key === 'p3');
    const trigger = (await t.engine.recent(flow.topics.trigger, 100)).filter((r) => r.key === 'p3');
    assert.equal(status.at(-1)?.value?.toString(), '"ACTIVE"');
    assert.equal(trigger.at(-1)?.value?.toString(), '{"action":"RESUME"}');
    assert.ok((status.at(-1)?.timestamp ?? 0) <= (trigger.at(-1)?.timestamp ?? 0));
  });

  test('pause writes the wire value "PAUSED" and puts actor and reason in ep- headers', async () => {
    await t.app.inject({ method: 'POST', url: `/control/${FLOW}/pause/p4`, headers: { 'x-actor': 'ops-bot', 'x-reason': 'incident 7' } });
    const flow = t.engine.flows.find((f) => f.id === FLOW);
    assert.ok(flow !== undefined);
    const record = (await t.engine.recent(flow.topics.status, 100)).filter((r) => r.key === 'p4').at(-1);
    assert.equal(record?.value?.toString(), '"PAUSED"');
    const headers = Object.fromEntries((record?.headers ?? []).map((h) => [h.key, h.value.toString()]));
    assert.deepEqual(headers, { 'ep-actor': 'ops-bot', 'ep-reason': 'incident 7' });
  });
});

describe('POST /control/{flow}/send', () => {
  test('200 {message: "Event sent: <id>", eventId}; the value is {"id","data","timestamp"}', async () => {
    const before = Date.now();
    const response = await t.app.inject({ method: 'POST', url: `/control/${FLOW}/send?key=s1&data=hello%20world` });
    assert.equal(response.statusCode, 200);
    const body = response.json() as { message: string; eventId: string };
    assert.deepEqual(Object.keys(body).sort(), ['eventId', 'message']);
    assert.match(body.eventId, /^[0-9a-f-]{36}$/);
    assert.equal(body.message, `Event sent: ${body.eventId}`);

    const flow = t.engine.flows.find((f) => f.id === FLOW);
    assert.ok(flow !== undefined);
    const record = (await t.engine.recent(flow.topics.main, 100)).find((r) => r.key === 's1');
    const value = JSON.parse(record?.value?.toString() ?? 'null') as { id: string; data: string; timestamp: number };
    assert.deepEqual(Object.keys(value), ['id', 'data', 'timestamp']);
    assert.equal(value.id, body.eventId);
    assert.equal(value.data, 'hello world');
    assert.ok(value.timestamp >= before && value.timestamp <= Date.now());
  });
});

describe('GET /control/{flow}/input-messages and /output-messages', () => {
  test('recent records with the original fields: key, eventId, data, timestamp, partition, offset, consumedAt', async () => {
    const id = await sendEvent(t.app, 'm1', 'payload-1');
    const input = await t.app.inject({ method: 'GET', url: `/control/${FLOW}/input-messages?limit=1000` });
    assert.equal(input.statusCode, 200);
    const record = (input.json() as Array<Record<string, unknown>>).find((r) => r.eventId === id);
    assert.ok(record !== undefined);
    assert.deepEqual(Object.keys(record).sort(), ['consumedAt', 'data', 'eventId', 'key', 'offset', 'partition', 'timestamp']);
    assert.equal(record.key, 'm1');
    assert.equal(record.data, 'payload-1');
    assert.equal(typeof record.partition, 'number');
    assert.equal(typeof record.offset, 'number');

    const output = await eventually('the event on the output topic', async () => {
      const response = await t.app.inject({ method: 'GET', url: `/control/${FLOW}/output-messages` });
      return (response.json() as Array<{ eventId: string; key: string }>).find((r) => r.eventId === id);
    });
    assert.equal(output.key, 'm1');
  });

  test('limit defaults to 50 and caps the answer', async () => {
    for (let i = 0; i < 60; i++) await sendEvent(t.app, `lim-${i % 3}`, String(i));
    const all = await t.app.inject({ method: 'GET', url: `/control/${FLOW}/input-messages` });
    assert.equal((all.json() as unknown[]).length, 50);
    const three = await t.app.inject({ method: 'GET', url: `/control/${FLOW}/input-messages?limit=3` });
    assert.equal((three.json() as unknown[]).length, 3);
  });
});

describe('GET /control/{flow}/buffer/{key}', () => {
  test('buffered events in order, as the original Event {id, data, timestamp}; drained on resume', async () => {
    await pauseKey(t.app, 'b1');
    const ids: string[] = [];
    for (let i = 1; i <= 5; i++) ids.push(await sendEvent(t.app, 'b1', `held-${i}`));
    await eventually('5 buffered', async () => ((await bufferedCount(t.app, 'b1')) === 5 ? true : undefined));

    const response = await t.app.inject({ method: 'GET', url: `/control/${FLOW}/buffer/b1` });
    assert.equal(response.statusCode, 200);
    assert.equal(response.headers['ep-buffered-total'], '5');
    const events = response.json() as Array<{ id: string; data: string; timestamp: number }>;
    assert.deepEqual(events.map((e) => e.id), ids);
    assert.deepEqual(Object.keys(events[0] ?? {}), ['id', 'data', 'timestamp']);
    assert.equal(events[0]?.data, 'held-1');

    await t.app.inject({ method: 'POST', url: `/control/${FLOW}/resume/b1` });
    await eventually('buffer drained', async () => ((await bufferedCount(t.app, 'b1')) === 0 ? true : undefined));
    const output = await eventually('drained events on the output topic', async () => {
      const out = await t.app.inject({ method: 'GET', url: `/control/${FLOW}/output-messages?limit=1000` });
      const forKey = (out.json() as Array<{ key: string; eventId: string; offset: number; partition: number }>).filter((r) => r.key === 'b1');
      return forKey.length === 5 ? forKey : undefined;
    });
    assert.deepEqual(output.sort((a, b) => a.offset - b.offset).map((r) => r.eventId), ids);
    const empty = await t.app.inject({ method: 'GET', url: `/control/${FLOW}/buffer/b1` });
    assert.deepEqual(empty.json(), []);
  });
});

describe('GET /control/{flow}/status/{key}', () => {
  test('{key, status}; ACTIVE for a key never set', async () => {
    const response = await t.app.inject({ method: 'GET', url: `/control/${FLOW}/status/never-set` });
    assert.equal(response.statusCode, 200);
    assert.deepEqual(response.json(), { key: 'never-set', status: 'ACTIVE' });
  });

  test('keys with spaces, slashes and unicode round-trip through the path', async () => {
    const key = 'tenant 1/ordér#7';
    await pauseKey(t.app, key);
    const response = await t.app.inject({ method: 'GET', url: `/control/${FLOW}/status/${encodeURIComponent(key)}` });
    assert.deepEqual(response.json(), { key, status: 'PAUSED' });
  });
});

describe('unknown flow', () => {
  const routes: Array<[method: 'GET' | 'POST', url: string]> = [
    ['POST', '/control/nope/pause/k'],
    ['POST', '/control/nope/resume/k'],
    ['POST', '/control/nope/send?key=k&data=d'],
    ['GET', '/control/nope/input-messages'],
    ['GET', '/control/nope/output-messages'],
    ['GET', '/control/nope/buffer/k'],
    ['GET', '/control/nope/status/k'],
  ];
  for (const [method, url] of routes) {
    test(`${method} ${url} -> 404 naming the flow and the known ones`, async () => {
      const response = await t.app.inject({ method, url });
      assert.equal(response.statusCode, 404);
      const body = response.json() as { code: string; message: string };
      assert.equal(body.code, 'FLOW_NOT_FOUND');
      assert.match(body.message, /unknown flow "nope"; known flows: demo, orders/);
    });
  }
});
