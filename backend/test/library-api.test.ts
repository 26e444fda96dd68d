/**
 * Library mode's typed API (createEventPause): flows defined in code, the engine from the
 * settings (embedded here, no broker), pause / send / held / keys / status / history / resume
 * as calls, and the control plane mounted in a host Fastify app.
 */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import Fastify from 'fastify';
import { pino } from 'pino';
import { ConfigError, createEventPause, type EventPause } from '../src/index.ts';

async function eventually<T>(what: string, probe: () => T | undefined | Promise<T | undefined>, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('library mode: createEventPause', () => {
  let ep: EventPause;
  before(async () => {
    ep = createEventPause({
      applicationId: 'lib-test',
      partitions: 4,
      flows: [{ id: 'payments' }],
      env: { STATE_DIR: mkdtempSync(path.join(tmpdir(), 'ep-lib-')), PUNCTUATE_INTERVAL_MS: '50', COMMIT_INTERVAL_MS: '10' },
      logger: pino({ level: 'silent' }),
    });
    await ep.start();
  });
  after(async () => ep.stop());

  test('flows come from code; settings are checked as npm start checks them', () => {
    assert.deepEqual(ep.flows.map((f) => [f.id, f.partitions, f.topics.main]), [['payments', 4, 'payments-in']]);
    assert.equal(ep.engine.info.kind, 'embedded');
    assert.throws(() => createEventPause({ flows: [{ id: 'x' }], env: { PROCESSING_GUARANTEE: 'maybe' } }), (error: unknown) => error instanceof ConfigError && error.setting === 'PROCESSING_GUARANTEE');
    assert.throws(() => createEventPause({ flows: [{ id: 'bad id!' }], env: {} }), ConfigError);
    // Its own logger takes the level as the schema read it (trimmed), not the raw variable.
    assert.doesNotThrow(() => createEventPause({ flows: [{ id: 'x' }], env: { LOG_LEVEL: ' warn ', STATE_DIR: mkdtempSync(path.join(tmpdir(), 'ep-lib-')) } }));
  });

  test('pause, hold, look, resume: the held events are released in order, then the newer ones', async () => {
    await ep.pause('payments', ['m-42'], { reason: 'fraud review', actor: 'risk-bot' });
    await eventually('PAUSED', () => (ep.status('payments', 'm-42').status === 'PAUSED' ? true : undefined));
    const state = ep.status('payments', 'm-42');
    assert.equal(state.reason, 'fraud review');
    assert.equal(state.actor, 'risk-bot');
    for (const data of ['a', 'b', 'c']) await ep.send('payments', 'm-42', data);
    await ep.send('payments', 'm-7', 'other keys flow');
    const held = await eventually('3 held', () => {
      const events = ep.held('payments', 'm-42');
      return events.length === 3 ? events : undefined;
    });
    assert.deepEqual(held.map((e) => e.data), ['a', 'b', 'c']);
    const keys = ep.keys('payments', { state: 'paused' });
    assert.deepEqual(keys.map((k) => [k.key, k.status, k.bufferedCount]), [['m-42', 'PAUSED', 3]]);

    await ep.resume('payments', ['m-42'], { reason: 'cleared' });
    await ep.send('payments', 'm-42', 'd');
    const flow = ep.flows[0]!;
    const out = await eventually('released', async () => {
      const records = (await ep.engine.recent(flow.topics.output, 100)).filter((r) => r.key === 'm-42');
      return records.length === 4 ? records : undefined;
    });
    assert.deepEqual(out.map((r) => (JSON.parse(r.value!.toString()) as { data: string }).data), ['a', 'b', 'c', 'd']);
    assert.deepEqual(ep.history('payments', 'm-42').map((h) => [h.status, h.reason, h.actor]), [
      ['PAUSED', 'fraud review', 'risk-bot'],
      ['ACTIVE', 'cleared', 'library'],
    ]);
  });

  test('an unknown flow is an error naming the known ones', () => {
    assert.throws(() => ep.status('nope', 'k'), /unknown flow "nope"; known flows: payments/);
  });

  test('the control plane mounts in a host Fastify app', async () => {
    const host = Fastify();
    await host.register(ep.plugin, { prefix: '/event-pause' });
    const answer = await host.inject({ method: 'GET', url: '/event-pause/api/v1/flows' });
    assert.equal(answer.statusCode, 200, answer.body);
    assert.deepEqual((answer.json() as { flows: Array<{ id: string }> }).flows.map((f) => f.id), ['payments']);
    await host.close();
  });
});
