/** The versioned API: flows, keys (paginated), buffer pages, history, bulk actions. */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { bufferedCount, eventually, FLOW, OTHER_FLOW, pauseKey, sendEvent, startApp, statusOf, type TestApp } from './helper.ts';

let t: TestApp;
before(async () => {
  t = await startApp();
});
after(async () => t.close());

interface KeysPage {
  flow: string;
  items: Array<{ key: string; status: string; bufferedCount: number; oldestBufferedTimestamp: number | null; partition: number; actor: string | null }>;
  nextCursor: string | null;
  pausedKeys: number;
}

async function keysPage(query: string, flow = OTHER_FLOW): Promise<KeysPage> {
  const response = await t.app.inject({ method: 'GET', url: `/api/v1/flows/${flow}/keys?${query}` });
  assert.equal(response.statusCode, 200, response.body);
  return response.json() as KeysPage;
}

async function allPages(query: string, flow = OTHER_FLOW): Promise<{ keys: string[]; pages: number }> {
  const keys: string[] = [];
  let cursor: string | null = null;
  let pages = 0;
  do {
    const page: KeysPage = await keysPage(`${query}${cursor === null ? '' : `&after=${encodeURIComponent(cursor)}`}`, flow);
    keys.push(...page.items.map((item) => item.key));
    cursor = page.nextCursor;
    pages++;
  } while (cursor !== null && pages < 100);
  return { keys, pages };
}

test('GET /api/v1/flows lists flows with topics, partition counts and the engine', async () => {
  const response = await t.app.inject({ method: 'GET', url: '/api/v1/flows' });
  assert.equal(response.statusCode, 200);
  const body = response.json() as {
    engine: { kind: string; durable: boolean; description: string };
    ready: boolean;
    flows: Array<{ id: string; partitions: number; topics: Record<string, { name: string; partitions: number }> }>;
  };
  assert.deepEqual(body.engine, { kind: 'embedded', durable: false, description: 'embedded engine, in memory' });
  assert.equal(body.ready, true);
  assert.deepEqual(body.flows.map((f) => f.id), [FLOW, OTHER_FLOW]);
  const demo = body.flows[0];
  assert.equal(demo?.partitions, 4);
  assert.deepEqual(Object.keys(demo?.topics ?? {}).sort(), ['changelog', 'dlq', 'main', 'output', 'status', 'trigger']);
  assert.deepEqual(demo?.topics.main, { name: 'demo-in', partitions: 4 });
  const one = await t.app.inject({ method: 'GET', url: `/api/v1/flows/${FLOW}` });
  assert.equal((one.json() as { id: string }).id, FLOW);
});

describe('bulk pause and resume', () => {
  test('pauses and resumes many keys in one call, with reason and actor', async () => {
    const keys = ['bulk-a', 'bulk-b', 'bulk-c'];
    const pause = await t.app.inject({
      method: 'POST',
      url: `/api/v1/flows/${FLOW}/pause`,
      payload: { keys, reason: 'deploy window', actor: 'alice' },
    });
    assert.equal(pause.statusCode, 202);
    assert.deepEqual(pause.json(), { flow: FLOW, status: 'PAUSED', keys, reason: 'deploy window', actor: 'alice' });
    for (const key of keys) await eventually(`${key} PAUSED`, async () => ((await statusOf(t.app, key)) === 'PAUSED' ? true : undefined));

    const held = await sendEvent(t.app, 'bulk-b', 'held');
    await eventually('bulk-b buffered', async () => ((await bufferedCount(t.app, 'bulk-b')) === 1 ? true : undefined));

    const resume = await t.app.inject({
      method: 'POST',
      url: `/api/v1/flows/${FLOW}/resume`,
      headers: { 'x-actor': 'bob' },
      payload: { keys },
    });
    assert.equal(resume.statusCode, 202);
    assert.deepEqual(resume.json(), { flow: FLOW, status: 'ACTIVE', keys, reason: null, actor: 'bob' });
    for (const key of keys) await eventually(`${key} ACTIVE`, async () => ((await statusOf(t.app, key)) === 'ACTIVE' ? true : undefined));
    await eventually('bulk-b drained', async () => ((await bufferedCount(t.app, 'bulk-b')) === 0 ? true : undefined));
    // Drained from the store at once; on the output topic when its transaction commits.
    await eventually('the held event on the output topic', async () => {
      const out = await t.app.inject({ method: 'GET', url: `/control/${FLOW}/output-messages?limit=1000` });
      return (out.json() as Array<{ eventId: string }>).some((r) => r.eventId === held) ? true : undefined;
    });
  });

  test('400 for an empty list, a duplicate key, too many keys, an unknown property', async () => {
    const cases: Array<[unknown, RegExp]> = [
      [{ keys: [] }, /body\.keys must NOT have fewer than 1 items/],
      [{ keys: ['a', 'a'] }, /body\.keys must NOT have duplicate items/],
      [{ keys: Array.from({ length: 1001 }, (_, i) => `k${i}`) }, /body\.keys must NOT have more than 1000 items/],
      [{ keys: ['a'], by: 'me' }, /body has an unknown property "by"/],
      [{ keys: ['a'], actor: '' }, /body\.actor must NOT have fewer than 1 characters/],
      [{}, /body\.keys is required/],
    ];
    for (const [payload, message] of cases) {
      const response = await t.app.inject({ method: 'POST', url: `/api/v1/flows/${FLOW}/pause`, payload: payload as object });
      assert.equal(response.statusCode, 400, JSON.stringify(payload));
      assert.match((response.json() as { message: string }).message, message);
    }
  });
});

describe('history', () => {
  test('per-key status changes with reason and actor, oldest first; actor defaults to "api"', async () => {
    await t.app.inject({ method: 'POST', url: `/api/v1/flows/${FLOW}/keys/h1/pause`, payload: { reason: 'fraud check', actor: 'carol' } });
    await t.app.inject({ method: 'POST', url: `/control/${FLOW}/resume/h1` });
    await t.app.inject({ method: 'POST', url: `/api/v1/flows/${FLOW}/keys/h1/pause`, headers: { 'x-actor': 'dave', 'x-reason': 'again' } });
    const items = await eventually('three changes', async () => {
      const response = await t.app.inject({ method: 'GET', url: `/api/v1/flows/${FLOW}/keys/h1/history` });
      const list = (response.json() as { items: Array<{ status: string; reason: string | null; actor: string | null; timestamp: number }> }).items;
      return list.length === 3 ? list : undefined;
    });
    assert.deepEqual(
      items.map(({ status, reason, actor }) => ({ status, reason, actor })),
      [
        { status: 'PAUSED', reason: 'fraud check', actor: 'carol' },
        { status: 'ACTIVE', reason: null, actor: 'api' },
        { status: 'PAUSED', reason: 'again', actor: 'dave' },
      ],
    );
    assert.ok(items.every((item, i) => i === 0 || item.timestamp >= (items[i - 1]?.timestamp ?? 0)));

    const key = await t.app.inject({ method: 'GET', url: `/api/v1/flows/${FLOW}/keys/h1` });
    const summary = key.json() as { status: string; reason: string; actor: string; statusChangedAt: number };
    assert.deepEqual([summary.status, summary.reason, summary.actor], ['PAUSED', 'again', 'dave']);
    assert.equal(summary.statusChangedAt, items[2]?.timestamp);
  });

  test('a key never set has an empty history', async () => {
    const response = await t.app.inject({ method: 'GET', url: `/api/v1/flows/${FLOW}/keys/nothing-here/history` });
    assert.deepEqual(response.json(), { flow: FLOW, key: 'nothing-here', items: [] });
  });
});

describe('keys: paused and buffered, paginated', () => {
  const paused = Array.from({ length: 23 }, (_, i) => `pk-${String(i).padStart(2, '0')}`);

  before(async () => {
    const response = await t.app.inject({ method: 'POST', url: `/api/v1/flows/${OTHER_FLOW}/pause`, payload: { keys: paused } });
    assert.equal(response.statusCode, 202);
    await eventually('23 paused', async () => ((await keysPage('state=paused&limit=1000')).pausedKeys === 23 ? true : undefined));
    // pk-05 holds 3 events, pk-17 one; 'zz-draining' is buffered but not paused (resumed, drains at once).
    for (let i = 0; i < 3; i++) await sendEvent(t.app, 'pk-05', `e${i}`, OTHER_FLOW);
    await sendEvent(t.app, 'pk-17', 'only', OTHER_FLOW);
    await eventually('4 buffered', async () => {
      const counts = [await bufferedCount(t.app, 'pk-05', OTHER_FLOW), await bufferedCount(t.app, 'pk-17', OTHER_FLOW)];
      return counts[0] === 3 && counts[1] === 1 ? true : undefined;
    });
  });

  test('cursor pages cover every paused key once, in key order', async () => {
    const { keys, pages } = await allPages('state=paused&limit=10');
    assert.deepEqual(keys, paused);
    assert.equal(pages, 3);
    const first = await keysPage('state=paused&limit=10');
    assert.equal(first.nextCursor, 'pk-09');
    assert.equal(first.pausedKeys, 23);
  });

  test('items carry status, buffered count and the oldest buffered timestamp', async () => {
    const { items } = await keysPage('limit=100');
    const byKey = new Map(items.map((item) => [item.key, item]));
    assert.equal(byKey.get('pk-05')?.bufferedCount, 3);
    assert.equal(byKey.get('pk-17')?.bufferedCount, 1);
    assert.equal(byKey.get('pk-00')?.bufferedCount, 0);
    assert.equal(byKey.get('pk-00')?.oldestBufferedTimestamp, null);
    assert.ok((byKey.get('pk-05')?.oldestBufferedTimestamp ?? 0) > 0);
    assert.equal(byKey.get('pk-05')?.status, 'PAUSED');
    assert.equal(byKey.get('pk-05')?.actor, 'api');

    // The same counts when listing paused keys only (looked up at the owner of each key).
    const pausedOnly = new Map((await keysPage('state=paused&limit=100')).items.map((item) => [item.key, item.bufferedCount]));
    assert.equal(pausedOnly.get('pk-05'), 3);
    assert.equal(pausedOnly.get('pk-17'), 1);
  });

  test('state=buffered lists only keys holding events; small pages still cover all', async () => {
    const { keys } = await allPages('state=buffered&limit=1');
    assert.deepEqual(keys, ['pk-05', 'pk-17']);
  });

  test('one key\'s buffered count without its events', async () => {
    const response = await t.app.inject({ method: 'GET', url: `/api/v1/flows/${OTHER_FLOW}/keys/pk-05` });
    const body = response.json() as Record<string, unknown>;
    assert.equal(body.bufferedCount, 3);
    assert.equal(body.status, 'PAUSED');
    assert.equal(body.answeredBy, t.settings.http.advertisedUrl);
    assert.ok(!('items' in body));
  });

  test('400 for a bad state or limit', async () => {
    const state = await t.app.inject({ method: 'GET', url: `/api/v1/flows/${OTHER_FLOW}/keys?state=held` });
    assert.equal(state.statusCode, 400);
    assert.match((state.json() as { message: string }).message, /querystring\.state must be one of "all", "paused", "buffered", got "held"/);
    const limit = await t.app.inject({ method: 'GET', url: `/api/v1/flows/${OTHER_FLOW}/keys?limit=0` });
    assert.equal(limit.statusCode, 400);
    assert.match((limit.json() as { message: string }).message, /querystring\.limit must be >= 1/);
  });
});

describe('buffer pages', () => {
  const ids: string[] = [];
  before(async () => {
    await pauseKey(t.app, 'big');
    for (let i = 0; i < 25; i++) ids.push(await sendEvent(t.app, 'big', `n${i}`));
    await eventually('25 buffered', async () => ((await bufferedCount(t.app, 'big')) === 25 ? true : undefined));
  });

  interface BufferPage {
    total: number;
    items: Array<{ seq: number; id: string; data: string }>;
    nextAfter: number | null;
  }
  async function page(query: string): Promise<BufferPage> {
    const response = await t.app.inject({ method: 'GET', url: `/api/v1/flows/${FLOW}/keys/big/buffer?${query}` });
    assert.equal(response.statusCode, 200, response.body);
    return response.json() as BufferPage;
  }

  test('offset + limit', async () => {
    const second = await page('offset=10&limit=10');
    assert.equal(second.total, 25);
    assert.deepEqual(second.items.map((e) => e.id), ids.slice(10, 20));
    const last = await page('offset=20&limit=10');
    assert.deepEqual(last.items.map((e) => e.id), ids.slice(20));
    assert.equal(last.nextAfter, null);
  });

  test('after-seq cursor walks the whole buffer in order', async () => {
    const seen: string[] = [];
    let cursor: number | null = null;
    do {
      const p: BufferPage = await page(`limit=7${cursor === null ? '' : `&after=${cursor}`}`);
      seen.push(...p.items.map((e) => e.id));
      cursor = p.nextAfter;
    } while (cursor !== null);
    assert.deepEqual(seen, ids);
  });
});

describe('validation', () => {
  test('keys longer than a buffer holds, bad flow ids and limits are 400 with what is wrong', async () => {
    const cases: Array<[string, string, RegExp]> = [
      ['POST', `/control/${FLOW}/pause/${'k'.repeat(1967)}`, /params\.key must NOT have more than 1966 characters/],
      ['POST', `/control/${FLOW}/pause/${encodeURIComponent('é'.repeat(984))}`, /params\.key must be at most 1966 UTF-8 bytes \(a record key a buffer can hold\), got 1968 bytes/],
      ['POST', '/control/bad%20flow/pause/k', /params\.flow must be a flow id: letters, digits, \. _ - \(at most 100\), got "bad flow"/],
      ['GET', `/control/${FLOW}/input-messages?limit=0`, /querystring\.limit must be >= 1/],
      ['GET', `/control/${FLOW}/input-messages?limit=ten`, /querystring\.limit must be an integer \(a positive integer; above 1000 it is clamped to 1000\), got "ten"/],
      ['POST', `/control/${FLOW}/send?key=k`, /querystring\.data is required/],
      ['POST', `/control/${FLOW}/send?data=x&key=`, /querystring\.key must NOT have fewer than 1 characters/],
      ['GET', `/api/v1/flows/${FLOW}/keys/k/buffer?offset=-1`, /querystring\.offset must be >= 0/],
    ];
    for (const [method, url, message] of cases) {
      const response = await t.app.inject({ method: method as 'GET', url, headers: { 'x-actor': 'validator' } });
      assert.equal(response.statusCode, 400, `${method} ${url}: ${response.body}`);
      const body = response.json() as { code: string; message: string };
      assert.equal(body.code, 'VALIDATION');
      assert.match(body.message, message);
    }
  });

  test('X-Actor longer than 100 characters is rejected', async () => {
    const response = await t.app.inject({ method: 'POST', url: `/control/${FLOW}/pause/k`, headers: { 'x-actor': 'a'.repeat(101) } });
    assert.equal(response.statusCode, 400);
    assert.match((response.json() as { message: string }).message, /headers\.x-actor must NOT have more than 100 characters/);
  });

  test('malformed JSON is a 400 that says so; an unknown route is a 404 that points to /docs', async () => {
    const json = await t.app.inject({
      method: 'POST',
      url: `/api/v1/flows/${FLOW}/pause`,
      headers: { 'content-type': 'application/json' },
      payload: '{"keys": [',
    });
    assert.equal(json.statusCode, 400);
    assert.match((json.json() as { message: string }).message, /not valid JSON/);
    const missing = await t.app.inject({ method: 'GET', url: '/control' });
    assert.equal(missing.statusCode, 404);
    assert.match((missing.json() as { message: string }).message, /no route GET \/control; the API is described at \/docs/);
  });
});
