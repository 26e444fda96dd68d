/** The OpenAPI document: with API_TOKEN set, every operation the token guards declares the bearer scheme. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startApp } from './helper.ts';

type Operation = { security?: Array<Record<string, string[]>> };
type Spec = { paths: Record<string, Record<string, Operation>>; components: { securitySchemes: Record<string, { type: string; scheme: string }> } };

async function spec(env: Record<string, string>): Promise<Spec> {
  const t = await startApp({ env });
  try {
    const response = await t.app.inject({ method: 'GET', url: '/docs/json' });
    assert.equal(response.statusCode, 200);
    return response.json() as Spec;
  } finally {
    await t.close();
  }
}

test('with API_TOKEN: every POST declares security bearer (Swagger UI\'s Authorize sends it); reads declare none', async () => {
  const doc = await spec({ API_TOKEN: 'tok' });
  assert.deepEqual(doc.components.securitySchemes.bearer, { type: 'http', scheme: 'bearer' });
  const posts: string[] = [];
  for (const [path, operations] of Object.entries(doc.paths)) {
    for (const [method, operation] of Object.entries(operations)) {
      if (method === 'post') {
        posts.push(path);
        assert.deepEqual(operation.security, [{ bearer: [] }], `POST ${path}`);
      } else {
        assert.equal(operation.security, undefined, `${method.toUpperCase()} ${path}`);
      }
    }
  }
  for (const path of ['/control/{flow}/pause/{key}', '/control/{flow}/resume/{key}', '/control/{flow}/send', '/api/v1/flows/{flow}/pause', '/api/v1/flows/{flow}/keys/{key}/resume']) {
    assert.ok(posts.includes(path), `${path} is documented`);
  }
});

test('without API_TOKEN no operation needs the token, and none declares it', async () => {
  const doc = await spec({});
  for (const operations of Object.values(doc.paths)) for (const operation of Object.values(operations)) assert.equal(operation.security, undefined);
});
