/** Request bodies: no type coercion (a client's bug gets a 400, not a pause of real keys). */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { FLOW, startApp, type TestApp } from './helper.ts';

let t: TestApp;
before(async () => {
  t = await startApp();
});
after(async () => t.close());

async function pausedKeys(): Promise<string[]> {
  const response = await t.app.inject({ method: 'GET', url: `/api/v1/flows/${FLOW}/keys?state=paused` });
  return (response.json() as { items: Array<{ key: string }> }).items.map((item) => item.key);
}

describe('bodies are not coerced', () => {
  const cases: Array<[string, string, unknown, RegExp]> = [
    ['a string for keys', 'pause', { keys: 'A' }, /^body\.keys must be an array.*, got "A"$/],
    ['numbers as keys', 'pause', { keys: [1, 2] }, /^body\.keys\.0 must be a string \(a record key.*\), got 1/],
    ['a boolean as a key', 'resume', { keys: [true] }, /^body\.keys\.0 must be a string.*, got true/],
    ['a number as the reason', 'pause', { keys: ['ok-key'], reason: 123 }, /^body\.reason must be a string \(free text.*\), got 123$/],
    ['an array as the body', 'pause', [true], /^body must be an object, got \[true\]$/],
  ];
  for (const [name, action, payload, message] of cases) {
    test(`${name}: 400 naming the field and what was expected`, async () => {
      const response = await t.app.inject({ method: 'POST', url: `/api/v1/flows/${FLOW}/${action}`, payload: payload as object });
      assert.equal(response.statusCode, 400, response.body);
      const body = response.json() as { code: string; message: string };
      assert.equal(body.code, 'VALIDATION');
      assert.match(body.message, message);
    });
  }

  test('one key: a number as the actor is a 400', async () => {
    const response = await t.app.inject({ method: 'POST', url: `/api/v1/flows/${FLOW}/keys/one/pause`, payload: { actor: 7 } });
    assert.equal(response.statusCode, 400);
    assert.match((response.json() as { message: string }).message, /^body\.actor must be a string.*, got 7$/);
  });

  test('nothing was paused by the refused calls', async () => {
    const paused = await pausedKeys();
    for (const key of ['A', '1', '2', 'true', 'ok-key', 'one']) assert.ok(!paused.includes(key), `${key} must not be paused`);
  });

  test('query strings are still read as numbers', async () => {
    const response = await t.app.inject({ method: 'GET', url: `/control/${FLOW}/input-messages?limit=5` });
    assert.equal(response.statusCode, 200, response.body);
    const bad = await t.app.inject({ method: 'GET', url: `/control/${FLOW}/input-messages?limit=five` });
    assert.equal(bad.statusCode, 400);
  });
});
