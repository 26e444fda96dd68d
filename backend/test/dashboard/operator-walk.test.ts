/**
 * One operator's walk through the console, end to end, across a restart of the service (issue 11's
 * "done when"): pause a key with a non-ASCII reason, restart the service on the same state
 * directory, find the key by prefix among 1,000 paused keys, see its history intact, watch the
 * chart move while events flow, resume it, and replay the event that was dead-lettered meanwhile.
 *
 * The service is the real API on the embedded engine with its durable journal (persist), serving
 * the built dashboard; the browser is Debian's chromium through playwright-core.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { chromium, type BrowserContext, type Locator, type Page } from 'playwright-core';
import { buildApp } from '../../src/api/app.ts';
import { DASHBOARD_DIR } from '../../src/api/dashboard.ts';
import { EmbeddedEngine } from '../../src/engines/embedded/embedded-engine.ts';
import { eventually, FLOW, testSettings } from '../api/helper.ts';

const TOKEN = 'walk-test-token';
const ACTOR = 'Zoë Ørsted';
const REASON = 'café – naïve fraud review';
const CAPACITY = 3;
const TARGET = 'acct-Ω-7731';
const CROWD = 1000;

describe('an operator\'s walk through the console, across a restart', { timeout: 180_000 }, () => {
  let stateDir: string;
  let profile: string;
  let context: BrowserContext;
  let page: Page;
  let port = 0;
  let service: { app: FastifyInstance; engine: EmbeddedEngine } | undefined;
  const pageErrors: string[] = [];

  const baseUrl = (): string => `http://127.0.0.1:${port}`;
  const region = (name: string): Locator => page.getByRole('region', { name });
  const app = (): FastifyInstance => {
    assert.ok(service !== undefined, 'the service runs');
    return service.app;
  };

  async function startService(): Promise<void> {
    const settings = testSettings({ STATE_DIR: stateDir, API_TOKEN: TOKEN, MAX_BUFFER_PER_KEY: String(CAPACITY) });
    const engine = new EmbeddedEngine(settings, { persist: true });
    await engine.start();
    const fastify = buildApp({ engine, settings, logger: pino({ level: 'silent' }), metricsHistory: { intervalMs: 1000 } });
    await fastify.listen({ host: '127.0.0.1', port });
    const address = fastify.server.address();
    assert.ok(typeof address === 'object' && address !== null);
    port = address.port; // the same port after the restart: the browser keeps its settings (per origin)
    service = { app: fastify, engine };
  }

  async function stopService(): Promise<void> {
    if (service === undefined) return;
    await service.app.close();
    await service.engine.stop();
    service = undefined;
  }

  async function api(method: 'GET' | 'POST', url: string, body?: unknown): Promise<{ status: number; json: unknown }> {
    const response = await app().inject({
      method,
      url,
      headers: { authorization: `Bearer ${TOKEN}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { payload: JSON.stringify(body) }),
    });
    return { status: response.statusCode, json: response.body === '' ? undefined : response.json() };
  }

  async function send(key: string, data: string): Promise<void> {
    const answer = await api('POST', `/control/${FLOW}/send?key=${encodeURIComponent(key)}&data=${encodeURIComponent(data)}`);
    assert.ok(answer.status < 300, `send answered ${answer.status}: ${JSON.stringify(answer.json)}`);
  }

  async function outputOf(key: string): Promise<string[]> {
    const answer = await api('GET', `/api/v1/flows/${FLOW}/records?topic=output&key=${encodeURIComponent(key)}&limit=100`);
    assert.equal(answer.status, 200, JSON.stringify(answer.json));
    return (answer.json as Array<{ data: unknown; offset: number }>).toSorted((a, b) => a.offset - b.offset).map((record) => String(record.data));
  }

  before(async () => {
    if (!existsSync(path.join(DASHBOARD_DIR, 'index.html'))) {
      throw new Error(`the dashboard is not built (${DASHBOARD_DIR} has no index.html): run scripts/build_dashboard.sh first`);
    }
    stateDir = mkdtempSync(path.join(tmpdir(), 'ep-walk-state-'));
    await startService();
    profile = mkdtempSync(path.join(tmpdir(), 'ep-walk-chromium-'));
    context = await chromium.launchPersistentContext(profile, {
      executablePath: '/usr/bin/chromium',
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    context.setDefaultTimeout(15_000);
    page = context.pages()[0] ?? (await context.newPage());
    page.on('pageerror', (error) => pageErrors.push(error.message));
  });

  after(async () => {
    await context?.close();
    await stopService();
    if (profile !== undefined) rmSync(profile, { recursive: true, force: true });
    if (stateDir !== undefined) rmSync(stateDir, { recursive: true, force: true });
  });

  test('1,000 keys are paused by a script through the bulk API', async () => {
    const keys = Array.from({ length: CROWD }, (_, i) => `acct-${String(i).padStart(4, '0')}`);
    const answer = await api('POST', `/api/v1/flows/${FLOW}/pause`, { keys, reason: 'batch hold' });
    assert.equal(answer.status, 202, JSON.stringify(answer.json));
    await eventually('1,000 keys paused', () => ([...service!.engine.statusTable(FLOW).pausedKeyNames()].length >= CROWD ? true : undefined), 20_000);
  });

  test('the operator sets a name with accents, then pauses a key with a non-ASCII reason', async () => {
    await page.goto(`${baseUrl()}/settings`);
    await page.getByLabel('API token').fill(TOKEN);
    await page.getByLabel('Your name').fill(ACTOR);
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByRole('status').filter({ hasText: `acting as ${ACTOR}` }).waitFor();

    await page.goto(`${baseUrl()}/flows/${FLOW}`);
    const control = region('Pause or resume keys');
    await control.getByLabel('Keys').fill(TARGET);
    await control.getByLabel('Reason').fill(REASON);
    await control.getByRole('button', { name: 'Pause', exact: true }).click();
    await eventually(`${TARGET} paused`, () => (service!.engine.statusTable(FLOW).get(TARGET).status === 'PAUSED' ? true : undefined));
    // Four events while paused: three are held (the key's capacity), the fourth is dead-lettered.
    for (const n of [1, 2, 3, 4]) await send(TARGET, `payment ${n}`);
    await eventually('the fourth is dead-lettered', async () => {
      const answer = await api('GET', `/api/v1/flows/${FLOW}/dead-letters`);
      return (answer.json as { items: Array<{ key: string }> }).items.some((letter) => letter.key === TARGET) ? true : undefined;
    });
  });

  test('after a restart on the same state directory, a prefix search finds the key among 1,000 paused ones', async () => {
    await stopService();
    await startService();
    await page.goto(`${baseUrl()}/flows/${FLOW}/search?q=acct-&state=paused`);
    await eventually('the total of paused acct- keys', async () => ((await page.getByTestId('search-total').locator('strong').innerText()).trim() === '1,001' ? true : undefined), 15_000);
    await page.getByTestId('search-q').fill('acct-Ω');
    await page.getByRole('button', { name: 'Search' }).click();
    await page.waitForURL(/q=acct-/);
    await eventually('one match', async () => ((await page.getByTestId('search-total').locator('strong').innerText()).trim() === '1' ? true : undefined));
    await page.getByTestId('search-results').getByRole('link', { name: TARGET, exact: true }).click();
    await page.waitForURL(new RegExp(`/flows/${FLOW}/keys/`));
  });

  test('its page shows the reason and actor as written, and the three held events in order', async () => {
    const history = region('History');
    await history.locator('tbody tr').filter({ hasText: 'PAUSED' }).first().waitFor();
    const text = await history.locator('tbody').innerText();
    assert.ok(text.includes(REASON), `the reason "${REASON}" in: ${text}`);
    assert.ok(text.includes(ACTOR), `the actor "${ACTOR}" in: ${text}`);
    const buffer = region('Buffered events');
    await buffer.locator('tbody tr td.data').nth(2).waitFor();
    assert.deepEqual(await buffer.locator('td.data').allInnerTexts(), ['payment 1', 'payment 2', 'payment 3']);
  });

  test('the chart of events per second moves while events flow', async () => {
    await page.goto(`${baseUrl()}/flows/${FLOW}`);
    await page.getByTestId('chart-rates').locator('canvas').first().waitFor();
    let sent = 0;
    const latest = page.getByTestId('chart-rates-latest');
    await eventually('a rate above 0 on the chart', async () => {
      for (let i = 0; i < 20; i++) await send(`flowing-${sent++ % 7}`, `tick ${sent}`);
      const shown = (await latest.count()) === 0 ? '' : await latest.innerText();
      const match = /in ([\d.,]+)/.exec(shown);
      return match !== null && Number(match[1]!.replaceAll(',', '')) > 0 ? shown : undefined;
    }, 20_000);
  });

  test('resuming from the key page releases the three held events, in order', async () => {
    await page.goto(`${baseUrl()}/flows/${FLOW}/keys/${encodeURIComponent(TARGET)}`);
    await eventually(`${TARGET} shown as paused`, async () => ((await page.locator('h1 .badge').innerText()) === 'PAUSED' ? true : undefined));
    const reason = region('Pause or resume').getByLabel('Reason');
    await reason.fill('review passed ✓');
    await reason.press('Enter');
    await eventually(`${TARGET} ACTIVE`, () => (service!.engine.statusTable(FLOW).get(TARGET).status === 'ACTIVE' ? true : undefined));
    await eventually('three events out', async () => ((await outputOf(TARGET)).length === 3 ? true : undefined), 10_000);
    assert.deepEqual(await outputOf(TARGET), ['payment 1', 'payment 2', 'payment 3']);
    await region('History').locator('tbody tr').filter({ hasText: 'review passed ✓' }).waitFor();
  });

  test('the dead-lettered fourth event is replayed from the dead-letter page and comes out after the others', async () => {
    await page.goto(`${baseUrl()}/flows/${FLOW}/dead-letters`);
    const row = page.getByTestId('dlq-table').locator('tbody tr').filter({ hasText: TARGET });
    await row.first().waitFor();
    assert.match(await row.first().innerText(), /BUFFER_FULL/);
    await row.first().getByRole('checkbox').check();
    await page.getByTestId('replay').click();
    await page.getByTestId('confirm-replay').getByTestId('confirm-replay-yes').click();
    await page.getByRole('status').filter({ hasText: 'Replayed 1 dead letters' }).waitFor();
    await eventually('four events out', async () => ((await outputOf(TARGET)).length === 4 ? true : undefined), 10_000);
    assert.deepEqual(await outputOf(TARGET), ['payment 1', 'payment 2', 'payment 3', 'payment 4']);
  });

  test('the page raised no uncaught error', () => {
    assert.deepEqual(pageErrors, []);
  });
});
