/** The console's data: figures over time, key search, resume-matching, dead letters and replay, stuck keys. */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { MetricsHistory, mergeHistories, type HistoryAnswer } from '../../src/api/metrics-history.ts';
import { pausedLongerThan } from '../../src/api/routes/insights.ts';
import type { EngineMetrics, FlowEngine } from '../../src/runtime/engine.ts';
import { StatusTable } from '../../src/runtime/status-table.ts';
import { bufferedCount, eventually, FLOW, pauseKey, sendEvent, startApp, statusOf, type TestApp } from './helper.ts';

let t: TestApp;
before(async () => {
  t = await startApp({ env: { STUCK_BUFFERED_EVENTS: '2' }, metricsHistory: { intervalMs: 100 } });
});
after(async () => t.close());

interface SearchAnswer {
  total: number;
  offset: number;
  items: Array<{ key: string; status: string; bufferedCount: number; pausedSince: number | null; oldestBufferedTimestamp: number | null }>;
  incomplete: boolean;
}

async function search(query: string): Promise<SearchAnswer> {
  const response = await t.app.inject({ method: 'GET', url: `/api/v1/flows/${FLOW}/key-search?${query}` });
  assert.equal(response.statusCode, 200, response.body);
  return response.json() as SearchAnswer;
}

async function buffer(key: string, events: number): Promise<void> {
  for (let i = 0; i < events; i++) await sendEvent(t.app, key, `${key}-${i}`);
  await eventually(`${events} buffered for ${key}`, async () => ((await bufferedCount(t.app, key)) === events ? true : undefined));
}

describe('GET /api/v1/metrics/history', () => {
  test('rates and gauges per flow on interval boundaries, with the instances that answered', async () => {
    await sendEvent(t.app, 'hist-1', 'x');
    const answer = await eventually('a point with input', async () => {
      const response = await t.app.inject({ method: 'GET', url: `/api/v1/metrics/history?flow=${FLOW}` });
      assert.equal(response.statusCode, 200, response.body);
      const body = response.json() as HistoryAnswer & { instances: { answered: number; failed: string[] } };
      return body.flows[0]?.points.some((p) => p.inPerSec > 0 && p.outPerSec > 0) ? body : undefined;
    });
    assert.equal(answer.intervalMs, 100);
    assert.deepEqual(answer.instances, { answered: 1, failed: [] });
    assert.equal(answer.flows.length, 1, 'only the flow asked for');
    assert.equal(answer.flows[0]!.flow, FLOW);
    for (const point of answer.flows[0]!.points) assert.equal(point.t % 100, 0, 'points sit on interval boundaries');
    assert.ok(answer.countersSince <= Date.now());
  });

  test('an unknown flow is a 404', async () => {
    const response = await t.app.inject({ method: 'GET', url: '/api/v1/metrics/history?flow=nope' });
    assert.equal(response.statusCode, 404);
  });

  test('a counter that starts again (a restart) gives no negative rate', () => {
    let processed = 100;
    let now = 1_000;
    const figures = (): EngineMetrics => ({
      flows: [{ flowId: 'f', bufferedEvents: 0, pausedKeys: 0, drainedEvents: 0, deadLettered: 0, processedEvents: processed, heldEvents: 0, consumerLag: 0 }],
      commitLatenciesMs: [],
      commits: 0,
    });
    const history = new MetricsHistory({ metrics: figures } as unknown as FlowEngine, { intervalMs: 1000, now: () => now });
    history.sample();
    now = 2_000;
    processed = 150;
    history.sample();
    now = 3_000;
    processed = 10;
    history.sample();
    const points = history.local('f').flows[0]!.points;
    assert.deepEqual(
      points.map((p) => [p.t, p.inPerSec]),
      [
        [2000, 50],
        [3000, 0],
      ],
    );
  });

  test('instances\' points of the same time add up; paused keys take the largest', () => {
    const point = (t: number, inPerSec: number, bufferedEvents: number, pausedKeys: number) => ({
      t,
      inPerSec,
      outPerSec: inPerSec,
      drainedPerSec: 0,
      deadLetteredPerSec: 0,
      bufferedEvents,
      consumerLag: 1,
      pausedKeys,
    });
    const totals = (n: number) => ({ processedEvents: n, heldEvents: n, drainedEvents: n, deadLettered: n, bufferedEvents: n, consumerLag: n, pausedKeys: n });
    const a: HistoryAnswer = { intervalMs: 5000, windowMs: 900_000, countersSince: 200, flows: [{ flow: 'f', points: [point(5000, 10, 3, 7), point(10_000, 20, 4, 7)], totals: totals(2) }] };
    const b: HistoryAnswer = { intervalMs: 5000, windowMs: 900_000, countersSince: 100, flows: [{ flow: 'f', points: [point(10_000, 5, 6, 7), point(15_000, 1, 1, 8)], totals: totals(3) }] };
    const merged = mergeHistories([a, b]);
    assert.equal(merged.countersSince, 100);
    assert.deepEqual(merged.flows[0]!.totals, { processedEvents: 5, heldEvents: 5, drainedEvents: 5, deadLettered: 5, bufferedEvents: 5, consumerLag: 5, pausedKeys: 3 });
    assert.deepEqual(
      merged.flows[0]!.points.map((p) => [p.t, p.inPerSec, p.bufferedEvents, p.consumerLag, p.pausedKeys]),
      [
        [5000, 10, 3, 1, 7],
        [10_000, 25, 10, 2, 7],
        [15_000, 1, 1, 1, 8],
      ],
    );
  });
});

describe('GET /api/v1/flows/{flow}/key-search', () => {
  before(async () => {
    // ks-a1: 3 held, ks-a2: 1 held, ks-b1: 2 held, ks-a3: paused, nothing held.
    for (const key of ['ks-a1', 'ks-a2', 'ks-b1', 'ks-a3']) await pauseKey(t.app, key);
    await buffer('ks-a1', 3);
    await buffer('ks-b1', 2);
    await buffer('ks-a2', 1);
  });

  test('prefix filter with the total, sorted by key', async () => {
    const answer = await search('prefix=ks-a');
    assert.equal(answer.total, 3);
    assert.deepEqual(
      answer.items.map((i) => [i.key, i.status, i.bufferedCount]),
      [
        ['ks-a1', 'PAUSED', 3],
        ['ks-a2', 'PAUSED', 1],
        ['ks-a3', 'PAUSED', 0],
      ],
    );
    assert.equal(answer.incomplete, false);
  });

  test('most buffered first, oldest buffered first, paused longest first', async () => {
    assert.deepEqual((await search('prefix=ks-&sort=most')).items.map((i) => i.key), ['ks-a1', 'ks-b1', 'ks-a2', 'ks-a3']);
    assert.deepEqual((await search('prefix=ks-&sort=oldest')).items.map((i) => i.key), ['ks-a1', 'ks-b1', 'ks-a2', 'ks-a3']);
    assert.deepEqual((await search('prefix=ks-&sort=paused-longest')).items.map((i) => i.key), ['ks-a1', 'ks-a2', 'ks-b1', 'ks-a3']);
  });

  test('pages by offset with the same total; state=buffered leaves out keys holding nothing', async () => {
    const second = await search('prefix=ks-&sort=most&offset=1&limit=2');
    assert.equal(second.total, 4);
    assert.deepEqual(second.items.map((i) => i.key), ['ks-b1', 'ks-a2']);
    const buffered = await search('prefix=ks-&state=buffered');
    assert.equal(buffered.total, 3);
    assert.deepEqual(buffered.items.map((i) => i.key), ['ks-a1', 'ks-a2', 'ks-b1']);
  });

  test('exact lookup, and a key that is neither paused nor buffered is not found', async () => {
    const one = await search('key=ks-b1');
    assert.equal(one.total, 1);
    assert.deepEqual(one.items.map((i) => [i.key, i.bufferedCount]), [['ks-b1', 2]]);
    assert.equal((await search('key=nobody')).total, 0);
  });

  test('a bad sort is a 400 naming the choices', async () => {
    const response = await t.app.inject({ method: 'GET', url: `/api/v1/flows/${FLOW}/key-search?sort=newest` });
    assert.equal(response.statusCode, 400);
    assert.match(response.body, /sort/);
  });
});

describe('POST /api/v1/flows/{flow}/resume-matching', () => {
  test('a count that changed since the operator confirmed resumes nothing (409 with the count); the right one resumes them all', async () => {
    for (const key of ['rm-1', 'rm-2', 'rm-3']) await pauseKey(t.app, key);
    const wrong = await t.app.inject({ method: 'POST', url: `/api/v1/flows/${FLOW}/resume-matching`, payload: { prefix: 'rm-', expectedCount: 2 } });
    assert.equal(wrong.statusCode, 409, wrong.body);
    assert.equal((wrong.json() as { count: number }).count, 3);
    assert.equal(await statusOf(t.app, 'rm-1'), 'PAUSED');

    const right = await t.app.inject({
      method: 'POST',
      url: `/api/v1/flows/${FLOW}/resume-matching`,
      payload: { prefix: 'rm-', expectedCount: 3, reason: 'review done', actor: 'ops' },
    });
    assert.equal(right.statusCode, 202, right.body);
    assert.deepEqual(right.json(), { flow: FLOW, resumed: 3, reason: 'review done', actor: 'ops' });
    for (const key of ['rm-1', 'rm-2', 'rm-3']) await eventually(`${key} ACTIVE`, async () => ((await statusOf(t.app, key)) === 'ACTIVE' ? true : undefined));
  });
});

describe('dead letters', () => {
  interface DeadLetters {
    items: Array<{ partition: number; offset: number; key: string | null; reason: string; message: string; source: { topic: string; partition: number; offset: number }; valuePreview: string; replayable: boolean }>;
    countsByReason: Record<string, number>;
  }
  const flow = () => t.engine.flows.find((f) => f.id === FLOW)!;

  test('listed with reason, source coordinates and a preview, counted by reason; replay sends the record back to its topic', async () => {
    const sent = await t.engine.produce(flow().topics.main, { key: 'dl-1', value: Buffer.from('not json') });
    const list = await eventually('the dead letter', async () => {
      const response = await t.app.inject({ method: 'GET', url: `/api/v1/flows/${FLOW}/dead-letters?key=dl-1` });
      assert.equal(response.statusCode, 200, response.body);
      const body = response.json() as DeadLetters;
      return body.items.length > 0 ? body : undefined;
    });
    const letter = list.items[0]!;
    assert.equal(letter.key, 'dl-1');
    assert.equal(letter.reason, 'INVALID_EVENT');
    assert.deepEqual(letter.source, { topic: flow().topics.main, partition: sent.partition, offset: sent.offset });
    assert.equal(letter.valuePreview, 'not json');
    assert.equal(letter.replayable, true);
    assert.equal(list.countsByReason['INVALID_EVENT'], 1);

    const replay = await t.app.inject({
      method: 'POST',
      url: `/api/v1/flows/${FLOW}/dead-letters/replay`,
      payload: { records: [{ partition: letter.partition, offset: letter.offset }], reason: 'fixed the parser' },
    });
    assert.equal(replay.statusCode, 202, replay.body);
    const replayed = (replay.json() as { replayed: Array<{ topic: string; to: { partition: number; offset: number } }> }).replayed;
    assert.equal(replayed.length, 1);
    assert.equal(replayed[0]!.topic, flow().topics.main);
    const [back] = await t.engine.recent(flow().topics.main, 1, { partition: replayed[0]!.to.partition, before: replayed[0]!.to.offset + 1 });
    assert.equal(back?.key, 'dl-1');
    assert.equal(back?.value?.toString(), 'not json');
    const headers = Object.fromEntries(back!.headers.map((h) => [h.key, h.value?.toString()]));
    assert.equal(headers['ep-replayed-from'], `${flow().topics.dlq}/${letter.partition}/${letter.offset}`);
    assert.equal(headers['ep-dlq-reason'], undefined, 'the headers added when dead-lettering are dropped');
    assert.equal(headers['ep-replayed-by'], 'api', 'who replayed it');
    assert.equal(headers['ep-replay-reason'], 'fixed the parser', 'and why');
    // Still not JSON: dead-lettered again, a second letter for the key.
    await eventually('the second dead letter', async () => {
      const body = (await t.app.inject({ method: 'GET', url: `/api/v1/flows/${FLOW}/dead-letters?key=dl-1` })).json() as DeadLetters;
      return body.items.length === 2 ? true : undefined;
    });
  });

  test('replaying an offset that holds no dead letter sends nothing and says so', async () => {
    const response = await t.app.inject({ method: 'POST', url: `/api/v1/flows/${FLOW}/dead-letters/replay`, payload: { records: [{ partition: 0, offset: 999_999 }] } });
    assert.equal(response.statusCode, 400);
    assert.match(response.body, /no dead letter at partition 0 offset 999999/);
  });

  test('a record without a key is not replayable', async () => {
    await t.engine.produce(flow().topics.main, { key: '', value: Buffer.from('{}') }).catch(() => undefined);
    const body = (await t.app.inject({ method: 'GET', url: `/api/v1/flows/${FLOW}/dead-letters?reason=MISSING_KEY` })).json() as DeadLetters;
    for (const item of body.items) assert.equal(item.reason, 'MISSING_KEY');
  });
});

describe('stuck keys', () => {
  test('keys holding more than STUCK_BUFFERED_EVENTS are listed and counted in /metrics', async () => {
    await pauseKey(t.app, 'stuck-1');
    await buffer('stuck-1', 3);
    const response = await t.app.inject({ method: 'GET', url: `/api/v1/flows/${FLOW}/stuck-keys` });
    assert.equal(response.statusCode, 200, response.body);
    const body = response.json() as { thresholds: { bufferedEvents: number }; bufferedTooMany: { count: number; items: Array<{ key: string }> } };
    assert.equal(body.thresholds.bufferedEvents, 2);
    assert.ok(body.bufferedTooMany.items.some((i) => i.key === 'stuck-1'));
    const heavy = body.bufferedTooMany.items.map((i) => i.key);
    assert.equal(body.bufferedTooMany.count, heavy.length);
    const metrics = (await t.app.inject({ method: 'GET', url: '/metrics' })).body;
    assert.match(metrics, new RegExp(`event_pause_stuck_keys\\{flow="${FLOW}",kind="buffered_too_many"\\} ${heavy.length}\\n`));
    assert.match(metrics, new RegExp(`event_pause_stuck_keys\\{flow="${FLOW}",kind="paused_too_long"\\} 0\\n`));
  });

  test('paused longer than the threshold, by the status record\'s time', () => {
    const table = new StatusTable();
    const record = (key: string, offset: number, timestamp: number) => ({
      topic: 's',
      partition: 0,
      offset,
      key: Buffer.from(key),
      value: Buffer.from('"PAUSED"'),
      headers: [],
      timestamp,
    });
    table.apply(record('old', 0, 1_000));
    table.apply(record('new', 1, 50_000));
    assert.deepEqual(pausedLongerThan(table, 60_000, 70_000), ['old']);
  });
});

describe('GET /api/v1/flows/{flow}/records', () => {
  test('the input or output records of one key only, newest last', async () => {
    for (let i = 0; i < 3; i++) {
      await sendEvent(t.app, 'rec-a', `a${i}`);
      await sendEvent(t.app, 'rec-b', `b${i}`);
    }
    for (const topic of ['input', 'output']) {
      const records = await eventually(`3 ${topic} records of rec-a`, async () => {
        const response = await t.app.inject({ method: 'GET', url: `/api/v1/flows/${FLOW}/records?topic=${topic}&key=rec-a&limit=10` });
        assert.equal(response.statusCode, 200, response.body);
        const body = response.json() as Array<{ key: string; data: string }>;
        return body.length === 3 ? body : undefined;
      });
      assert.deepEqual(records.map((r) => [r.key, r.data]), [['rec-a', 'a0'], ['rec-a', 'a1'], ['rec-a', 'a2']]);
    }
  });

  test('a topic other than input or output is a 400', async () => {
    const response = await t.app.inject({ method: 'GET', url: `/api/v1/flows/${FLOW}/records?topic=status` });
    assert.equal(response.statusCode, 400);
  });
});
