/**
 * The README's library examples: the test-driver test verbatim but for the import (the README
 * imports the built package '@event-pause/backend'), and the control plane mounted in a host app.
 */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import Fastify from 'fastify';
import { EmbeddedEngine, eventPauseApp, FlowTestDriver, loadSettings } from '../src/index.ts';

test("a paused merchant's events wait, then go out in order", () => {
  const driver = new FlowTestDriver(); // one flow, in memory, synchronous, clock at 0
  driver.pipeEvent('merchant-1', { id: 'e1', data: { amount: 10 } });
  driver.setStatus('merchant-1', 'PAUSED');
  driver.pipeEvent('merchant-1', { id: 'e2' });
  driver.pipeEvent('merchant-2', { id: 'x1' }); // other keys keep flowing
  assert.deepEqual(driver.readOutput().map((r) => r.event?.id), ['e1', 'x1']);
  assert.equal(driver.bufferCount('merchant-1'), 1);

  driver.setStatus('merchant-1', 'ACTIVE'); // no resume command: the punctuator drains it
  driver.advanceWallClock(1000);
  assert.deepEqual(driver.readOutput().map((r) => r.event?.id), ['e2']);

  driver.pipeRaw('main', 'merchant-1', 'not json');
  assert.equal(driver.readDeadLetters()[0]?.reason, 'INVALID_EVENT');
});

test('the README library example: the control plane mounts under a prefix in a host Fastify app', async () => {
  const settings = loadSettings({ STATE_DIR: mkdtempSync(path.join(tmpdir(), 'ep-lib-')) });
  const engine = new EmbeddedEngine(settings, { persist: false });
  await engine.start();
  const app = Fastify();
  try {
    await app.register(eventPauseApp, { engine, settings, prefix: '/event-pause' });
    const flows = await app.inject({ method: 'GET', url: '/event-pause/api/v1/flows' });
    assert.equal(flows.statusCode, 200, flows.body);
    assert.deepEqual(
      (flows.json() as { flows: { id: string }[] }).flows.map((flow) => flow.id),
      settings.flows.map((flow) => flow.id),
    );
    const paused = await app.inject({ method: 'POST', url: '/event-pause/control/demo/pause/merchant-1' });
    assert.equal(paused.statusCode, 202, paused.body);
  } finally {
    await app.close();
    await engine.stop();
  }
});
