/**
 * Library mode in the console: a key its handler parked shows the error and offers to skip the
 * event it failed on (confirmed first); skipping dead-letters it and releases the rest.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import Fastify, { type FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { memoryLedger, paymentsService } from '../../../examples/payments/payments.ts';
import type { EventPause } from '../../src/index.ts';

async function eventually<T>(what: string, probe: () => T | undefined | Promise<T | undefined>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('console: a key parked by its handler', { timeout: 120_000 }, () => {
  const ledger = memoryLedger();
  let ep: EventPause;
  let host: FastifyInstance;
  let context: BrowserContext;
  let page: Page;
  let profile: string;
  let baseUrl: string;

  before(async () => {
    ep = paymentsService({ ledger, env: { STATE_DIR: mkdtempSync(path.join(tmpdir(), 'ep-console-handler-')), COMMIT_INTERVAL_MS: '10', PUNCTUATE_INTERVAL_MS: '50' }, logger: pino({ level: 'silent' }) });
    await ep.start();
    host = Fastify();
    await host.register(ep.plugin);
    await host.listen({ host: '127.0.0.1', port: 0 });
    const address = host.server.address();
    assert.ok(typeof address === 'object' && address !== null);
    baseUrl = `http://127.0.0.1:${address.port}`;
    profile = mkdtempSync(path.join(tmpdir(), 'ep-chromium-'));
    context = await chromium.launchPersistentContext(profile, { executablePath: '/usr/bin/chromium', headless: true, args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run'] });
    context.setDefaultTimeout(10_000);
    page = context.pages()[0] ?? (await context.newPage());
  });
  after(async () => {
    await context?.close();
    await host?.close();
    await ep?.stop();
    if (profile !== undefined) rmSync(profile, { recursive: true, force: true });
  });

  test('the error is shown; skipping the failed event (confirmed) dead-letters it and releases the rest', async () => {
    ledger.rejects.add('m-x');
    await ep.send('payments', 'm-x', 1, 'x1');
    await ep.send('payments', 'm-x', 2, 'x2');
    await eventually('m-x parked', () => (ep.status('payments', 'm-x').status === 'PAUSED' && ep.held('payments', 'm-x').length === 2 ? true : undefined));
    ledger.rejects.delete('m-x');

    await page.goto(`${baseUrl}/flows/payments/keys/m-x`);
    const banner = page.getByTestId('handler-failed');
    await banner.waitFor();
    assert.match(await banner.innerText(), /Its handler failed .*ledger rejected payment x1 of m-x: merchant under review/);
    // The whole stack, read from the status record the handler wrote, when the operator opens it.
    await banner.getByText('Stack trace').click();
    const stack = banner.getByTestId('handler-stack').locator('pre');
    await eventually('the stack', async () => (/\n\s+at /.test(await stack.innerText()) ? true : undefined));
    const trace = await stack.innerText();
    assert.match(trace, /^Error: ledger rejected payment x1 of m-x: merchant under review\n/);
    assert.match(trace, /at .*payments\.ts:\d+:\d+/);
    await banner.getByTestId('skip').click();
    // The confirmation renders on the next change detection, not within the click.
    await banner.getByText(/Send event x1 to the dead-letter topic and release the rest\?/).waitFor();
    await banner.getByTestId('skip-yes').click();
    await eventually('x2 applied', () => (ledger.applied.some((p) => p.id === 'x2') ? true : undefined));
    assert.deepEqual(ledger.applied.map((p) => p.id), ['x2']);
    await banner.waitFor({ state: 'detached' });
  });
});
