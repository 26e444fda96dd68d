/**
 * What clients of the original got, they get: form and empty bodies on pause/resume/send, any
 * `limit` on the recent-records endpoints (clamped, and said so), keys as long as a buffer holds,
 * CORS with any request header and credentials.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { eventually, FLOW, startApp, statusOf, type TestApp } from './helper.ts';

const FORM = 'application/x-www-form-urlencoded';
const DASHBOARD = 'http://localhost:4200';

let t: TestApp;
before(async () => {
  t = await startApp();
});
after(async () => t.close());

describe('bodies the original took', () => {
  test('pause and resume with `curl -d \'\'` (an empty form), a form body, text/plain or any type: 202', async () => {
    const bodies: Array<[string, string]> = [
      [FORM, ''],
      [FORM, 'reason=x&foo=bar'],
      ['text/plain', '{"not":"read"}'],
      ['application/octet-stream', 'bytes'],
    ];
    for (const [type, payload] of bodies) {
      for (const action of ['pause', 'resume']) {
        const response = await t.app.inject({ method: 'POST', url: `/control/${FLOW}/${action}/form-k`, headers: { 'content-type': type }, payload });
        assert.equal(response.statusCode, 202, `${action} with ${type} "${payload}": ${response.body}`);
      }
    }
  });

  test('send takes key and data from a form body, as Spring\'s @RequestParam did (python requests data=)', async () => {
    const response = await t.app.inject({ method: 'POST', url: `/control/${FLOW}/send`, headers: { 'content-type': FORM }, payload: 'key=form-send&data=h%C3%A9llo' });
    assert.equal(response.statusCode, 200, response.body);
    const { eventId } = response.json() as { eventId: string };
    const records = await eventually('the event on the input topic', async () => {
      const list = (await t.app.inject({ method: 'GET', url: `/control/${FLOW}/input-messages?limit=100` })).json() as Array<{ key: string; eventId: string; data: unknown }>;
      return list.find((r) => r.eventId === eventId);
    });
    assert.deepEqual([records.key, records.data], ['form-send', 'héllo']);
    const empty = await t.app.inject({ method: 'POST', url: `/control/${FLOW}/send?key=q-send&data=x`, headers: { 'content-type': FORM }, payload: '' });
    assert.equal(empty.statusCode, 200, empty.body);
    const missing = await t.app.inject({ method: 'POST', url: `/control/${FLOW}/send`, headers: { 'content-type': FORM }, payload: 'key=k' });
    assert.equal(missing.statusCode, 400);
    assert.match((missing.json() as { message: string }).message, /querystring\.data is required/);
  });

  test('/api/v1: an empty body of any type and a form are taken; JSON as text/plain is a 415 naming application/json', async () => {
    const empty = await t.app.inject({ method: 'POST', url: `/api/v1/flows/${FLOW}/keys/v1-form/pause`, headers: { 'content-type': FORM }, payload: '' });
    assert.equal(empty.statusCode, 202, empty.body);
    const form = await t.app.inject({ method: 'POST', url: `/api/v1/flows/${FLOW}/keys/v1-form/resume`, headers: { 'content-type': FORM }, payload: 'reason=done&actor=py' });
    assert.equal(form.statusCode, 202, form.body);
    assert.deepEqual([(form.json() as { reason: string }).reason, (form.json() as { actor: string }).actor], ['done', 'py']);
    const text = await t.app.inject({ method: 'POST', url: `/api/v1/flows/${FLOW}/pause`, headers: { 'content-type': 'text/plain' }, payload: '{"keys":["A"]}' });
    assert.equal(text.statusCode, 415, text.body);
    const body = text.json() as { statusCode: number; code: string; error: string; message: string };
    assert.equal(body.code, 'UNSUPPORTED_MEDIA_TYPE');
    assert.match(body.message, /Content-Type "text\/plain" is not accepted here: send the body as application\/json/);
    assert.equal(body.error, 'Unsupported Media Type');
  });
});

describe('limit on input-messages and output-messages', () => {
  test('above 1000: clamped to 1000, said in X-Limit-Clamped; at most 1000: no header', async () => {
    for (const which of ['input', 'output']) {
      const big = await t.app.inject({ method: 'GET', url: `/control/${FLOW}/${which}-messages?limit=5000` });
      assert.equal(big.statusCode, 200, big.body);
      assert.equal(big.headers['x-limit-clamped'], '1000');
      const small = await t.app.inject({ method: 'GET', url: `/control/${FLOW}/${which}-messages?limit=1000` });
      assert.equal(small.statusCode, 200);
      assert.equal(small.headers['x-limit-clamped'], undefined);
    }
  });
});

describe('long keys: what a buffer holds (1966 UTF-8 bytes), on every route', () => {
  const longest = 'k'.repeat(1966);
  const multiByte = 'é'.repeat(983); // 1966 bytes

  test('a key of 300 characters and one of 1966 bytes pause, buffer, list and resume', async () => {
    for (const key of ['x'.repeat(300), longest, multiByte]) {
      const path = encodeURIComponent(key);
      assert.equal((await t.app.inject({ method: 'POST', url: `/control/${FLOW}/pause/${path}` })).statusCode, 202);
      await eventually('PAUSED', async () => ((await statusOf(t.app, key)) === 'PAUSED' ? true : undefined));
      const send = await t.app.inject({ method: 'POST', url: `/control/${FLOW}/send`, query: { key, data: 'held' } });
      assert.equal(send.statusCode, 200, send.body);
      await eventually('buffered', async () => {
        const response = await t.app.inject({ method: 'GET', url: `/control/${FLOW}/buffer/${path}` });
        return (response.json() as unknown[]).length === 1 ? true : undefined;
      });
      const bulk = await t.app.inject({ method: 'POST', url: `/api/v1/flows/${FLOW}/resume`, payload: { keys: [key] } });
      assert.equal(bulk.statusCode, 202, bulk.body);
      await eventually('drained', async () => {
        const response = await t.app.inject({ method: 'GET', url: `/api/v1/flows/${FLOW}/keys/${path}` });
        return (response.json() as { bufferedCount: number }).bufferedCount === 0 ? true : undefined;
      });
    }
  });

  test('one byte more is a 400 naming the field and the limit, in the path, the query and a bulk body', async () => {
    const over = `${multiByte}a`; // 1967 bytes, 984 characters
    const cases: Array<[string, string, object | undefined, RegExp]> = [
      ['POST', `/control/${FLOW}/pause/${encodeURIComponent(over)}`, undefined, /^params\.key must be at most 1966 UTF-8 bytes .*got 1967 bytes$/],
      ['GET', `/api/v1/flows/${FLOW}/keys/${encodeURIComponent(over)}/history`, undefined, /^params\.key must be at most 1966 UTF-8 bytes/],
      ['POST', `/control/${FLOW}/send?key=${encodeURIComponent(over)}&data=x`, undefined, /^querystring\.key must be at most 1966 UTF-8 bytes/],
      ['POST', `/api/v1/flows/${FLOW}/pause`, { keys: ['ok', over] }, /^body\.keys\.1 must be at most 1966 UTF-8 bytes/],
    ];
    for (const [method, url, payload, message] of cases) {
      const response = await t.app.inject({ method: method as 'GET', url, ...(payload === undefined ? {} : { payload }) });
      assert.equal(response.statusCode, 400, `${method} ${url.slice(0, 60)}: ${response.body}`);
      assert.match((response.json() as { message: string }).message, message);
    }
  });

  test('a bulk call of 1000 keys of the longest length fits the body limit', async () => {
    const keys = Array.from({ length: 1000 }, (_, i) => `${String(i).padStart(4, '0')}${'b'.repeat(1962)}`);
    const response = await t.app.inject({ method: 'POST', url: `/api/v1/flows/${FLOW}/resume`, payload: { keys, reason: 'r'.repeat(500) } });
    assert.equal(response.statusCode, 202, response.body.slice(0, 200));
  });
});

describe('CORS as the original: any request header, credentials', () => {
  test('a preflight for any header is allowed, with credentials, for a listed origin', async () => {
    const response = await t.app.inject({
      method: 'OPTIONS',
      url: `/control/${FLOW}/pause/k`,
      headers: { origin: DASHBOARD, 'access-control-request-method': 'POST', 'access-control-request-headers': 'x-request-id,x-custom-thing,content-type' },
    });
    assert.equal(response.statusCode, 204);
    assert.equal(response.headers['access-control-allow-origin'], DASHBOARD);
    assert.equal(response.headers['access-control-allow-credentials'], 'true');
    assert.match(String(response.headers['access-control-allow-headers']), /x-custom-thing/);
    const other = await t.app.inject({
      method: 'OPTIONS',
      url: `/control/${FLOW}/pause/k`,
      headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' },
    });
    assert.equal(other.headers['access-control-allow-origin'], undefined, 'CORS_ORIGINS still decides the origin');
  });

  test('CORS_ORIGINS=* allows any origin (echoed, as browsers refuse * with credentials)', async () => {
    const open = await startApp({ env: { CORS_ORIGINS: '*' } });
    try {
      const response = await open.app.inject({ method: 'GET', url: `/control/${FLOW}/status/k`, headers: { origin: 'https://any.example' } });
      assert.equal(response.headers['access-control-allow-origin'], 'https://any.example');
      assert.equal(response.headers['access-control-allow-credentials'], 'true');
    } finally {
      await open.close();
    }
  });
});
