/**
 * How the API serves the built dashboard (api/dashboard.ts), on a fake build in a temp folder:
 * build files as they are, index.html for the dashboard's own addresses,
 * and the API's JSON 404 for everything else.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import Fastify, { type FastifyInstance } from 'fastify';
import { dashboardRoutes, type DashboardOptions } from '../../src/api/dashboard.ts';
import { notFoundHandler } from '../../src/api/errors.ts';
import { startApp, type TestApp } from '../api/helper.ts';

const HTML = { accept: 'text/html,application/xhtml+xml,*/*;q=0.8' };
const INDEX = '<!doctype html><title>dashboard</title>';
const SCRIPT = 'console.log("dashboard")';

/** A folder holding a fake build in `dist/` and a file beside it that must never be served. */
function fakeBuild(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'ep-dashboard-build-'));
  const dist = path.join(dir, 'dist');
  mkdirSync(dist);
  writeFileSync(path.join(dist, 'index.html'), INDEX);
  writeFileSync(path.join(dist, 'main-ABCD1234.js'), SCRIPT);
  writeFileSync(path.join(dist, 'favicon.svg'), '<svg xmlns="http://www.w3.org/2000/svg"/>');
  writeFileSync(path.join(dir, 'secret.txt'), 'not for the web');
  return dist;
}

async function appServing(options: DashboardOptions): Promise<FastifyInstance> {
  const app = Fastify({ logger: false });
  app.setNotFoundHandler(notFoundHandler);
  app.get('/api/v1/flows', async () => ({ flows: [] }));
  await app.register(dashboardRoutes(options));
  await app.ready();
  return app;
}

function assertJson404(response: { statusCode: number; headers: Record<string, unknown>; json(): unknown }, route: string): void {
  assert.equal(response.statusCode, 404);
  assert.match(String(response.headers['content-type']), /^application\/json/);
  assert.equal((response.json() as { message: string }).message, `no route ${route}; the API is described at /docs`);
}

describe('serving the dashboard', () => {
  let app: FastifyInstance;
  before(async () => {
    app = await appServing({ root: fakeBuild() });
  });
  after(() => app.close());

  test('/ and the dashboard\'s own addresses get index.html, revalidated on every load', async () => {
    for (const url of ['/', '/flows/demo', '/flows/demo/keys/a%2Fb', '/settings?x=1']) {
      const response = await app.inject({ method: 'GET', url, headers: HTML });
      assert.equal(response.statusCode, 200, url);
      assert.match(String(response.headers['content-type']), /^text\/html/);
      assert.equal(response.headers['cache-control'], 'no-cache');
      assert.equal(response.body, INDEX);
    }
    const plain = await app.inject({ method: 'GET', url: '/' });
    assert.equal(plain.body, INDEX, 'the root is the dashboard for any client (curl, a link checker)');
  });

  test('build files are sent with their type; hashed ones are cached for good', async () => {
    const script = await app.inject({ method: 'GET', url: '/main-ABCD1234.js' });
    assert.equal(script.statusCode, 200);
    assert.match(String(script.headers['content-type']), /javascript/);
    assert.equal(script.headers['cache-control'], 'public, max-age=31536000, immutable');
    assert.equal(script.body, SCRIPT);
    const icon = await app.inject({ method: 'GET', url: '/favicon.svg' });
    assert.equal(icon.headers['content-type'], 'image/svg+xml');
    assert.equal(icon.headers['cache-control'], 'no-cache');
    const head = await app.inject({ method: 'HEAD', url: '/', headers: HTML });
    assert.equal(head.statusCode, 200);
    assert.equal(head.body, '');
  });

  test('API paths, requests not asking for a page, and other methods still get the JSON 404', async () => {
    assert.equal((await app.inject({ method: 'GET', url: '/api/v1/flows' })).json<{ flows: [] }>().flows.length, 0);
    assertJson404(await app.inject({ method: 'GET', url: '/api/v1/nope', headers: HTML }), 'GET /api/v1/nope');
    assertJson404(await app.inject({ method: 'GET', url: '/control/demo/pause/A', headers: HTML }), 'GET /control/demo/pause/A');
    assertJson404(await app.inject({ method: 'GET', url: '/metrics/x', headers: HTML }), 'GET /metrics/x');
    assertJson404(await app.inject({ method: 'GET', url: '/flows/demo' }), 'GET /flows/demo');
    assertJson404(await app.inject({ method: 'GET', url: '/missing-ABCD1234.js' }), 'GET /missing-ABCD1234.js');
    assertJson404(await app.inject({ method: 'POST', url: '/flows/demo', headers: HTML }), 'POST /flows/demo');
  });

  test('nothing outside the build is sent', async () => {
    for (const url of ['/..%2Fsecret.txt', '/%2E%2E/secret.txt', '/flows/..%2F..%2Fsecret.txt']) {
      const page = await app.inject({ method: 'GET', url, headers: HTML });
      assert.notEqual(page.body, 'not for the web', url);
      const file = await app.inject({ method: 'GET', url });
      assert.equal(file.statusCode, 404, url);
    }
  });
});

test('without a build nothing is served: / is the JSON 404', async () => {
  const app = await appServing({ root: path.join(mkdtempSync(path.join(tmpdir(), 'ep-no-build-')), 'dist') });
  assertJson404(await app.inject({ method: 'GET', url: '/', headers: HTML }), 'GET /');
  await app.close();
});

describe('the whole app with the dashboard registered', () => {
  let t: TestApp;
  before(async () => {
    t = await startApp();
  });
  after(() => t.close());

  test('the API, /docs and the JSON 404 of unknown API routes are unchanged', async () => {
    assert.equal((await t.app.inject({ method: 'GET', url: '/health' })).json<{ status: string }>().status, 'ok');
    const docs = await t.app.inject({ method: 'GET', url: '/docs', headers: HTML });
    assert.equal(docs.statusCode, 200);
    assert.match(docs.body, /swagger/i);
    assertJson404(await t.app.inject({ method: 'GET', url: '/control' }), 'GET /control');
    assertJson404(await t.app.inject({ method: 'GET', url: '/api/v1/nope', headers: HTML }), 'GET /api/v1/nope');
  });
});
