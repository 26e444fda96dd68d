/** Bearer token on mutating endpoints, CORS allow-list, body size limit. */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { BODY_LIMIT_BYTES } from '../../src/api/app.ts';
import { tokenMatches } from '../../src/api/auth.ts';
import { FLOW, startApp, type TestApp } from './helper.ts';

const TOKEN = 's3cret-token-value';
const DASHBOARD = 'http://localhost:4200';

describe('with API_TOKEN set', () => {
  let t: TestApp;
  before(async () => {
    t = await startApp({ env: { API_TOKEN: TOKEN } });
  });
  after(async () => t.close());

  const mutations: Array<[string, object | undefined]> = [
    [`/control/${FLOW}/pause/k`, undefined],
    [`/control/${FLOW}/resume/k`, undefined],
    [`/control/${FLOW}/send?key=k&data=d`, undefined],
    [`/api/v1/flows/${FLOW}/keys/k/pause`, {}],
    [`/api/v1/flows/${FLOW}/keys/k/resume`, {}],
    [`/api/v1/flows/${FLOW}/pause`, { keys: ['k'] }],
    [`/api/v1/flows/${FLOW}/resume`, { keys: ['k'] }],
  ];

  for (const [url, payload] of mutations) {
    test(`POST ${url}: 401 without the token, 401 with a wrong one, accepted with the right one`, async () => {
      const none = await t.app.inject({ method: 'POST', url, ...(payload === undefined ? {} : { payload }) });
      assert.equal(none.statusCode, 401);
      assert.equal(none.headers['www-authenticate'], 'Bearer');
      const body = none.json() as { code: string; message: string };
      assert.equal(body.code, 'UNAUTHORIZED');
      assert.match(body.message, /needs an "Authorization: Bearer <API_TOKEN>" header/);

      const wrong = await t.app.inject({ method: 'POST', url, headers: { authorization: 'Bearer nope' }, ...(payload === undefined ? {} : { payload }) });
      assert.equal(wrong.statusCode, 401);
      assert.match((wrong.json() as { message: string }).message, /not valid/);

      const right = await t.app.inject({ method: 'POST', url, headers: { authorization: `Bearer ${TOKEN}` }, ...(payload === undefined ? {} : { payload }) });
      assert.ok(right.statusCode === 200 || right.statusCode === 202, `${right.statusCode} ${right.body}`);
    });
  }

  test('a malformed Authorization header says what form it needs', async () => {
    const response = await t.app.inject({ method: 'POST', url: `/control/${FLOW}/pause/k`, headers: { authorization: TOKEN } });
    assert.equal(response.statusCode, 401);
    assert.match((response.json() as { message: string }).message, /must have the form "Bearer <API_TOKEN>"/);
  });

  test('reads stay open', async () => {
    for (const url of [`/control/${FLOW}/status/k`, `/control/${FLOW}/buffer/k`, '/api/v1/flows', '/health', '/metrics']) {
      const response = await t.app.inject({ method: 'GET', url });
      assert.equal(response.statusCode, 200, url);
    }
  });

  test('a CORS preflight needs no token and allows Authorization, X-Actor, X-Reason', async () => {
    const response = await t.app.inject({
      method: 'OPTIONS',
      url: `/control/${FLOW}/pause/k`,
      headers: { origin: DASHBOARD, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,x-actor,x-reason' },
    });
    assert.equal(response.statusCode, 204);
    assert.equal(response.headers['access-control-allow-origin'], DASHBOARD);
    assert.match(String(response.headers['access-control-allow-headers']), /authorization/i);
    assert.match(String(response.headers['access-control-allow-headers']), /x-actor/i);
    assert.match(String(response.headers['access-control-allow-headers']), /x-reason/i);
  });
});

test('the token comparison is exact', () => {
  assert.equal(tokenMatches(TOKEN, TOKEN), true);
  assert.equal(tokenMatches(`${TOKEN}x`, TOKEN), false);
  assert.equal(tokenMatches('', TOKEN), false);
  assert.equal(tokenMatches(TOKEN.toUpperCase(), TOKEN), false);
});

describe('without API_TOKEN', () => {
  let t: TestApp;
  before(async () => {
    t = await startApp();
  });
  after(async () => t.close());

  test('mutations are open', async () => {
    const response = await t.app.inject({ method: 'POST', url: `/control/${FLOW}/pause/open` });
    assert.equal(response.statusCode, 202);
  });

  test('CORS: the original dashboard origin is allowed by default, others are not', async () => {
    const allowed = await t.app.inject({ method: 'GET', url: `/control/${FLOW}/status/k`, headers: { origin: DASHBOARD } });
    assert.equal(allowed.headers['access-control-allow-origin'], DASHBOARD);
    const other = await t.app.inject({ method: 'GET', url: `/control/${FLOW}/status/k`, headers: { origin: 'https://evil.example' } });
    assert.equal(other.headers['access-control-allow-origin'], undefined);
  });

  test(`bodies over ${BODY_LIMIT_BYTES} bytes are refused with 413`, async () => {
    const response = await t.app.inject({
      method: 'POST',
      url: `/api/v1/flows/${FLOW}/pause`,
      headers: { 'content-type': 'application/json' },
      payload: JSON.stringify({ keys: ['k'], reason: 'x'.repeat(BODY_LIMIT_BYTES) }),
    });
    assert.equal(response.statusCode, 413);
    const body = response.json() as { code: string; message: string };
    assert.equal(body.code, 'BODY_TOO_LARGE');
    assert.match(body.message, /body/i);
  });

  test('a body that is not JSON is refused with 415', async () => {
    const response = await t.app.inject({
      method: 'POST',
      url: `/api/v1/flows/${FLOW}/pause`,
      headers: { 'content-type': 'text/xml' },
      payload: '<keys/>',
    });
    assert.equal(response.statusCode, 415);
    assert.equal((response.json() as { code: string }).code, 'UNSUPPORTED_MEDIA_TYPE');
  });
});

describe('CORS_ORIGINS is configurable', () => {
  let t: TestApp;
  before(async () => {
    t = await startApp({ env: { CORS_ORIGINS: 'https://ops.example.com' } });
  });
  after(async () => t.close());

  test('only the configured origin is allowed', async () => {
    const ops = await t.app.inject({ method: 'GET', url: '/api/v1/flows', headers: { origin: 'https://ops.example.com' } });
    assert.equal(ops.headers['access-control-allow-origin'], 'https://ops.example.com');
    const dashboard = await t.app.inject({ method: 'GET', url: '/api/v1/flows', headers: { origin: DASHBOARD } });
    assert.equal(dashboard.headers['access-control-allow-origin'], undefined);
  });
});
