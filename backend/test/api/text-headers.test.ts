/** X-Reason / X-Actor with non-ASCII text: RFC 8187, percent-encoded UTF-8, raw UTF-8 bytes. */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { headerText } from '../../src/api/context.ts';
import { eventually, FLOW, startApp, type TestApp } from './helper.ts';

const TEXT = 'café – naïve';
/** What Node shows for a header whose bytes are UTF-8: each byte as one Latin-1 character. */
const asLatin1 = (text: string): string => Buffer.from(text, 'utf8').toString('latin1');

let t: TestApp;
before(async () => {
  t = await startApp();
});
after(async () => t.close());

async function latest(key: string): Promise<{ reason: string | null; actor: string | null }> {
  return eventually(`${key} history`, async () => {
    const response = await t.app.inject({ method: 'GET', url: `/api/v1/flows/${FLOW}/keys/${key}/history` });
    const items = (response.json() as { items: Array<{ reason: string | null; actor: string | null }> }).items;
    const last = items.at(-1);
    return last === undefined ? undefined : { reason: last.reason, actor: last.actor };
  });
}

describe('non-ASCII X-Reason and X-Actor', () => {
  const forms: Array<[string, string]> = [
    ['RFC 8187 ext-value', `UTF-8''${encodeURIComponent(TEXT)}`],
    ['RFC 8187 with a language tag, lower-case charset', `utf-8'fr'${encodeURIComponent(TEXT)}`],
    ['percent-encoded UTF-8', encodeURIComponent(TEXT)],
    ['raw UTF-8 bytes (read as Latin-1 by Node)', asLatin1(TEXT)],
  ];
  for (const [name, value] of forms) {
    test(`${name}: stored and shown as real text`, async () => {
      const key = `txt-${forms.findIndex(([n]) => n === name)}`;
      const response = await t.app.inject({
        method: 'POST',
        url: `/control/${FLOW}/pause/${key}`,
        headers: { 'x-reason': value, 'x-actor': value },
      });
      assert.equal(response.statusCode, 202, response.body);
      assert.deepEqual(await latest(key), { reason: TEXT, actor: TEXT });
      const flow = t.engine.flows.find((f) => f.id === FLOW)!;
      const record = (await t.engine.recent(flow.topics.status, 100)).filter((r) => r.key === key).at(-1);
      const reason = record?.headers.find((h) => h.key === 'ep-reason')?.value;
      assert.equal(reason?.toString('utf8'), TEXT, 'the ep-reason header holds the UTF-8 text');
    });
  }

  test('over a real socket: raw UTF-8 bytes sent by curl are stored as text', async () => {
    await t.app.listen({ host: '127.0.0.1', port: 0 });
    const address = t.app.server.address();
    assert.ok(typeof address === 'object' && address !== null);
    const request = Buffer.concat([
      Buffer.from(`POST /control/${FLOW}/pause/txt-raw HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 0\r\nX-Reason: `),
      Buffer.from(TEXT, 'utf8'),
      Buffer.from('\r\n\r\n'),
    ]);
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = connect(address.port, '127.0.0.1', () => socket.end(request));
      let text = '';
      socket.on('data', (chunk) => (text += chunk.toString('latin1')));
      socket.on('end', () => resolve(text));
      socket.on('error', reject);
    });
    assert.match(answer, /^HTTP\/1\.1 202/);
    assert.equal((await latest('txt-raw')).reason, TEXT);
  });

  test('ASCII, real Latin-1 and a lone % stay as they are', () => {
    assert.equal(headerText('incident 7', 'x-reason'), 'incident 7');
    assert.equal(headerText('50% off', 'x-reason'), '50% off');
    assert.equal(headerText('100%', 'x-reason'), '100%');
    assert.equal(headerText('caf\u00e9', 'x-reason'), 'caf\u00e9', 'Latin-1 é that is not UTF-8 stays é');
    assert.equal(headerText('%E9t%E9', 'x-reason'), '%E9t%E9', 'percent-escapes of bytes that are not UTF-8 stay as they came');
  });

  test('a bad RFC 8187 value and a decoded text over the limit are 400s naming the header', async () => {
    const bad = await t.app.inject({ method: 'POST', url: `/control/${FLOW}/pause/txt-bad`, headers: { 'x-reason': "UTF-8''caf%C3" } });
    assert.equal(bad.statusCode, 400);
    assert.match((bad.json() as { message: string }).message, /x-reason.*RFC 8187/);
    const long = await t.app.inject({ method: 'POST', url: `/control/${FLOW}/pause/txt-long`, headers: { 'x-actor': encodeURIComponent('é'.repeat(101)) } });
    assert.equal(long.statusCode, 400);
    assert.match((long.json() as { message: string }).message, /x-actor must NOT have more than 100 characters/);
    const fits = await t.app.inject({ method: 'POST', url: `/control/${FLOW}/pause/txt-fits`, headers: { 'x-actor': encodeURIComponent('é'.repeat(100)) } });
    assert.equal(fits.statusCode, 202, fits.body);
  });

  test('/api/v1 pause takes the same header forms', async () => {
    const response = await t.app.inject({ method: 'POST', url: `/api/v1/flows/${FLOW}/keys/txt-v1/pause`, headers: { 'x-reason': `UTF-8''${encodeURIComponent(TEXT)}` } });
    assert.equal(response.statusCode, 202, response.body);
    assert.equal((response.json() as { reason: string }).reason, TEXT);
  });
});
