/** Errors met before any route (bad %-escapes, oversized headers, unsupported bodies) keep the documented shape. */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, test } from 'node:test';
import { FLOW, startApp, type TestApp } from './helper.ts';

let t: TestApp;
let port: number;
before(async () => {
  t = await startApp();
  await t.app.listen({ host: '127.0.0.1', port: 0 });
  const address = t.app.server.address();
  assert.ok(typeof address === 'object' && address !== null);
  port = address.port;
});
after(async () => t.close());

function assertShape(body: unknown, statusCode: number, code: string): { message: string } {
  const b = body as { statusCode: number; code: string; error: string; message: string };
  assert.deepEqual(Object.keys(b).sort(), ['code', 'error', 'message', 'statusCode']);
  assert.equal(b.statusCode, statusCode);
  assert.equal(b.code, code);
  assert.equal(typeof b.error, 'string');
  return b;
}

async function raw(request: string): Promise<{ status: number; headers: string; body: string }> {
  const text = await new Promise<string>((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(request));
    let received = '';
    socket.on('data', (chunk) => (received += chunk.toString('utf8')));
    socket.on('close', () => resolve(received));
    socket.on('error', (error) => (received === '' ? reject(error) : resolve(received)));
  });
  const [head = '', body = ''] = text.split('\r\n\r\n');
  return { status: Number(head.split(' ')[1]), headers: head, body };
}

test('a bad %-escape in the URL: 400 in the documented shape, saying what is wrong', async () => {
  for (const url of [`/control/${FLOW}/status/%zz`, `/api/v1/flows/${FLOW}/keys/a%E0%A4%A/history`, `/control/${FLOW}/pause/50%`]) {
    const response = await t.app.inject({ method: url.includes('pause') ? 'POST' : 'GET', url });
    assert.equal(response.statusCode, 400, url);
    assert.match(assertShape(response.json(), 400, 'BAD_REQUEST').message, /has a bad %-escape.*write a literal % as %25/);
  }
});

test('headers too large: 431 in the documented shape, over a real socket', async () => {
  const response = await raw(`GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`);
  assert.equal(response.status, 431);
  assert.match(response.headers, /content-type: application\/json/i);
  assert.match(assertShape(JSON.parse(response.body), 431, 'HEADERS_TOO_LARGE').message, /exceed the server's limit/);
});

test('a malformed request: 400 in the documented shape', async () => {
  const response = await raw('GET /health HTTP/1.1\r\nHost x\r\n\r\n');
  assert.equal(response.status, 400);
  assertShape(JSON.parse(response.body), 400, 'BAD_REQUEST');
});

test('415 names application/json', async () => {
  const response = await t.app.inject({ method: 'POST', url: `/api/v1/flows/${FLOW}/pause`, headers: { 'content-type': 'application/xml' }, payload: '<keys/>' });
  assert.equal(response.statusCode, 415);
  assert.match(assertShape(response.json(), 415, 'UNSUPPORTED_MEDIA_TYPE').message, /application\/json/);
});
