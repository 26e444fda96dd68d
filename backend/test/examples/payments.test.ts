/**
 * The payments example (examples/payments) on the embedded engine: a handler failure parks the
 * merchant with the error, other merchants flow, its later payments wait in order, a fix plus
 * resume applies them once each in order, skip dead-letters the failed payment.
 */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { pino } from 'pino';
import { memoryLedger, paymentsService } from '../../../examples/payments/payments.ts';
import type { EventPause } from '../../src/index.ts';

async function eventually<T>(what: string, probe: () => T | undefined | Promise<T | undefined>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('examples/payments: failure-triggered pause (embedded engine)', () => {
  const ledger = memoryLedger();
  let ep: EventPause;
  const applied = (merchant: string) => ledger.applied.filter((p) => p.merchant === merchant).map((p) => p.id);

  before(async () => {
    ep = paymentsService({ ledger, env: { STATE_DIR: mkdtempSync(path.join(tmpdir(), 'ep-pay-')), COMMIT_INTERVAL_MS: '10', PUNCTUATE_INTERVAL_MS: '50' }, logger: pino({ level: 'silent' }) });
    await ep.start();
  });
  after(async () => ep.stop());

  test('a failing merchant parks itself with the error; others flow; its later payments wait in order; fix + resume applies them once each, in order', async () => {
    await ep.send('payments', 'm-a', 10, 'a1');
    await eventually('a1 applied', () => (applied('m-a').length === 1 ? true : undefined));

    ledger.rejects.add('m-a');
    await ep.send('payments', 'm-a', 20, 'a2');
    await ep.send('payments', 'm-a', 30, 'a3');
    for (const id of ['b1', 'b2']) await ep.send('payments', 'm-b', 5, id);
    const status = await eventually('m-a parked', () => {
      const s = ep.status('payments', 'm-a');
      return s.status === 'PAUSED' ? s : undefined;
    });
    assert.equal(status.actor, 'handler');
    assert.match(status.reason ?? '', /handler failed: ledger rejected payment a2 of m-a: merchant under review \(at .*payments\.ts:\d+:\d+\)/, 'the error and where it was thrown');
    await eventually('m-b applied', () => (applied('m-b').length === 2 ? true : undefined));
    assert.deepEqual(applied('m-b'), ['b1', 'b2'], 'other merchants go on');
    assert.deepEqual(applied('m-a'), ['a1']);
    await eventually('a2, a3 held', () => (ep.held('payments', 'm-a').length === 2 ? true : undefined));

    await ep.send('payments', 'm-a', 40, 'a4');
    await eventually('a4 held behind', () => (ep.held('payments', 'm-a').length === 3 ? true : undefined));
    assert.deepEqual(ep.held('payments', 'm-a').map((e) => e.id), ['a2', 'a3', 'a4']);
    assert.deepEqual(applied('m-a'), ['a1'], 'nothing of m-a applied while parked');

    ledger.rejects.delete('m-a');
    await ep.resume('payments', ['m-a'], { reason: 'review passed', actor: 'ops' });
    await eventually('a2..a4 applied', () => (applied('m-a').length === 4 ? true : undefined));
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.deepEqual(applied('m-a'), ['a1', 'a2', 'a3', 'a4'], 'once each, in order');
    const metrics = ep.engine.metrics().flows[0]!;
    assert.equal(metrics.handlerParked, 1, 'one key parked');
    assert.ok((metrics.handledEvents ?? 0) >= 6, `handled ${metrics.handledEvents}`);
    assert.deepEqual(ep.history('payments', 'm-a').map((h) => [h.status, h.actor]), [
      ['PAUSED', 'handler'],
      ['ACTIVE', 'ops'],
    ]);
  });

  test('skip sends the failed payment to the dead-letter topic and releases the rest', async () => {
    ledger.rejects.add('m-c');
    await ep.send('payments', 'm-c', 1, 'c1');
    await ep.send('payments', 'm-c', 2, 'c2');
    await eventually('m-c parked with both', () => (ep.status('payments', 'm-c').status === 'PAUSED' && ep.held('payments', 'm-c').length === 2 ? true : undefined));
    ledger.rejects.delete('m-c');
    await ep.skip('payments', 'm-c', { reason: 'duplicate charge', actor: 'ops' });
    await eventually('c2 applied', () => (applied('m-c').length === 1 ? true : undefined));
    assert.deepEqual(applied('m-c'), ['c2'], 'the skipped payment is never applied');
    const flow = ep.flows[0]!;
    const dead = await eventually('c1 dead-lettered', async () => {
      const letters = (await ep.engine.recent(flow.topics.dlq, 50)).filter((r) => r.key === 'm-c');
      return letters.length > 0 ? letters : undefined;
    });
    const headers = Object.fromEntries(dead[0]!.headers.map((h) => [h.key, h.value?.toString()]));
    assert.equal(headers['ep-dlq-reason'], 'SKIPPED');
    assert.match(headers['ep-dlq-message'] ?? '', /skipped by an operator: duplicate charge/);
    assert.equal(JSON.parse(dead[0]!.value!.toString()).id, 'c1');
    assert.equal(ep.held('payments', 'm-c').length, 0);
  });
});

describe('examples/payments: skip over HTTP', () => {
  test('POST /api/v1/flows/{flow}/keys/{key}/skip with the seq of the first held event', async () => {
    const ledger = memoryLedger();
    const ep = paymentsService({ ledger, env: { STATE_DIR: mkdtempSync(path.join(tmpdir(), 'ep-pay-')), COMMIT_INTERVAL_MS: '10', PUNCTUATE_INTERVAL_MS: '50' }, logger: pino({ level: 'silent' }) });
    await ep.start();
    const { default: Fastify } = await import('fastify');
    const host = Fastify();
    await host.register(ep.plugin);
    try {
      ledger.rejects.add('m-d');
      await ep.send('payments', 'm-d', 1, 'd1');
      await ep.send('payments', 'm-d', 2, 'd2');
      await eventually('m-d parked', () => (ep.status('payments', 'm-d').status === 'PAUSED' && ep.held('payments', 'm-d').length === 2 ? true : undefined));
      ledger.rejects.delete('m-d');
      const seq = ep.held('payments', 'm-d')[0]!.seq;
      const stale = await host.inject({ method: 'POST', url: '/api/v1/flows/payments/keys/m-d/skip', payload: { seq: seq + 1 } });
      assert.equal(stale.statusCode, 202, stale.body);
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.equal(ep.held('payments', 'm-d').length, 2, 'a seq that is not the first held event skips nothing');
      assert.equal(ep.status('payments', 'm-d').status, 'PAUSED', 'and leaves the key paused');
      assert.deepEqual(ledger.applied.map((p) => p.id), []);

      const skip = await host.inject({ method: 'POST', url: '/api/v1/flows/payments/keys/m-d/skip', payload: { seq, reason: 'refunded by hand', actor: 'ops' } });
      assert.equal(skip.statusCode, 202, skip.body);
      await eventually('d2 applied', () => (ledger.applied.length === 1 ? true : undefined));
      assert.equal(ep.held('payments', 'm-d').length, 0);
      assert.deepEqual(ep.history('payments', 'm-d').map((h) => [h.status, h.actor, h.reason?.startsWith('skipped the failed event: refunded by hand') ?? false]).slice(-1), [['ACTIVE', 'ops', true]]);
      assert.deepEqual(ledger.applied.map((p) => p.id), ['d2']);
    } finally {
      await host.close();
      await ep.stop();
    }
  });
});
