/**
 * The audit trail survives a restart of the embedded engine: its journal is compacted when it is
 * opened (the status topic keeps each key's latest record), and that record carries the key's
 * earlier changes in its ep-history header.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { buildApp } from '../../src/api/app.ts';
import { EmbeddedEngine } from '../../src/engines/embedded/embedded-engine.ts';
import { eventually, FLOW, testSettings } from '../api/helper.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'ep-history-durable-'));
after(() => rmSync(dir, { recursive: true, force: true }));

type Item = { status: string; reason: string | null; actor: string | null; timestamp: number };

async function run<T>(body: (app: FastifyInstance, engine: EmbeddedEngine) => Promise<T>): Promise<T> {
  const settings = testSettings({ STATE_DIR: dir });
  const engine = new EmbeddedEngine(settings);
  await engine.start();
  const app = buildApp({ engine, settings, logger: pino({ level: 'silent' }) });
  await app.ready();
  try {
    return await body(app, engine);
  } finally {
    await app.close();
    await engine.stop();
  }
}

async function history(app: FastifyInstance, key: string, count: number): Promise<Item[]> {
  return eventually(`${count} changes of ${key}`, async () => {
    const response = await app.inject({ method: 'GET', url: `/api/v1/flows/${FLOW}/keys/${encodeURIComponent(key)}/history` });
    const items = (response.json() as { items: Item[] }).items;
    return items.length === count ? items : undefined;
  });
}

const shape = (items: Item[]) => items.map(({ status, reason, actor }) => ({ status, reason, actor }));

test('pause r1, resume r2, pause r3, restart on the same STATE_DIR: the history lists all 3, with who and why', async () => {
  const expected = [
    { status: 'PAUSED', reason: 'r1', actor: 'alice' },
    { status: 'ACTIVE', reason: 'r2', actor: 'bob' },
    { status: 'PAUSED', reason: 'r3 — café', actor: 'carol' },
  ];
  const before = await run(async (app, engine) => {
    // In quick succession: the table need not have read one change back before the next is written.
    const calls: Array<[string, string, string]> = [
      ['pause', 'r1', 'alice'],
      ['resume', 'r2', 'bob'],
      ['pause', `UTF-8''${encodeURIComponent('r3 — café')}`, 'carol'],
    ];
    for (const [action, reason, actor] of calls) {
      const response = await app.inject({ method: 'POST', url: `/control/${FLOW}/${action}/HIST`, headers: { 'x-reason': reason, 'x-actor': actor } });
      assert.equal(response.statusCode, 202, response.body);
    }
    const items = await history(app, 'HIST', 3);
    assert.deepEqual(shape(items), expected);
    // The value stays the original's; the trail rides in a header.
    const flow = engine.flows.find((f) => f.id === FLOW)!;
    const last = (await engine.recent(flow.topics.status, 100)).filter((r) => r.key === 'HIST').at(-1)!;
    assert.equal(last.value?.toString(), '"PAUSED"');
    const trail = JSON.parse(last.headers.find((h) => h.key === 'ep-history')!.value.toString()) as Array<{ s: string; r: string; a: string }>;
    assert.deepEqual(trail.map((e) => [e.s, e.r, e.a]), [['PAUSED', 'r1', 'alice'], ['ACTIVE', 'r2', 'bob']]);
    return items;
  });

  const afterRestart = await run(async (app, engine) => {
    const flow = engine.flows.find((f) => f.id === FLOW)!;
    const records = (await engine.recent(flow.topics.status, 100)).filter((r) => r.key === 'HIST');
    assert.equal(records.length, 1, 'the journal was compacted: only the latest status record of the key is left');
    return history(app, 'HIST', 3);
  });
  assert.deepEqual(shape(afterRestart), expected);
  assert.deepEqual(afterRestart.map((i) => i.timestamp), before.map((i) => i.timestamp), 'the same changes, with their times');

  // And the trail goes on from there after the restart.
  const longer = await run(async (app) => {
    const response = await app.inject({ method: 'POST', url: `/api/v1/flows/${FLOW}/keys/HIST/resume`, payload: { reason: 'r4', actor: 'dave' } });
    assert.equal(response.statusCode, 202);
    return history(app, 'HIST', 4);
  });
  assert.deepEqual(shape(longer).at(-1), { status: 'ACTIVE', reason: 'r4', actor: 'dave' });
  const final = await run(async (app) => history(app, 'HIST', 4));
  assert.deepEqual(shape(final), [...expected, { status: 'ACTIVE', reason: 'r4', actor: 'dave' }]);
});
