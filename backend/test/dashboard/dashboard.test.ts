/**
 * The operators' dashboard in a real browser: the API on the embedded engine listens on a free
 * port and serves the built dashboard (frontend/dist; scripts/test.sh builds it first), and
 * Debian's chromium, driven by playwright-core, does what an operator does.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { chromium, type BrowserContext, type Locator, type Page } from 'playwright-core';
import { DASHBOARD_DIR } from '../../src/api/dashboard.ts';
import { eventually, FLOW, OTHER_FLOW, startApp, type TestApp } from '../api/helper.ts';

const TOKEN = 'dashboard-test-token';
const ACTOR = 'test-operator';
const BUFFER_CAPACITY = 5;
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** The rows of a table whose key cell is exactly `key`. */
function rowsOf(region: Locator, key: string): Locator {
  return region.locator('tbody tr').filter({ has: region.page().getByRole('link', { name: key, exact: true }) });
}

/** Waits until the element's text is `expected` (counters that move as the page refreshes). */
async function waitForText(locator: Locator, expected: string): Promise<void> {
  let last = '';
  await eventually(`text "${expected}" (last seen "${last}")`, async () => {
    last = (await locator.innerText()).trim();
    return last === expected ? true : undefined;
  }, 10_000);
}

/** The data cells of a topic table's rows for `key`, top (newest) first. */
async function dataOf(region: Locator, key: string): Promise<string[]> {
  return rowsOf(region, key).locator('td.data').allInnerTexts();
}

describe('dashboard in a browser', { timeout: 120_000 }, () => {
  let t: TestApp;
  let context: BrowserContext;
  let page: Page;
  let baseUrl: string;
  let profile: string;
  const pageErrors: string[] = [];

  const region = (name: string): Locator => page.getByRole('region', { name });

  before(async () => {
    if (!existsSync(path.join(DASHBOARD_DIR, 'index.html'))) {
      throw new Error(`the dashboard is not built (${DASHBOARD_DIR} has no index.html): run scripts/build_dashboard.sh first`);
    }
    t = await startApp({ env: { API_TOKEN: TOKEN, MAX_BUFFER_PER_KEY: String(BUFFER_CAPACITY) } });
    await t.app.listen({ host: '127.0.0.1', port: 0 });
    const address = t.app.server.address();
    assert.ok(typeof address === 'object' && address !== null);
    baseUrl = `http://127.0.0.1:${address.port}`;
    profile = mkdtempSync(path.join(tmpdir(), 'ep-dashboard-chromium-'));
    context = await chromium.launchPersistentContext(profile, { executablePath: '/usr/bin/chromium', headless: true, args: CHROMIUM_ARGS });
    context.setDefaultTimeout(10_000);
    page = context.pages()[0] ?? (await context.newPage());
    page.on('pageerror', (error) => pageErrors.push(error.message));
  });

  after(async () => {
    await context?.close();
    await t?.close();
    if (profile !== undefined) rmSync(profile, { recursive: true, force: true });
  });

  test('the start page shows the flows and which engine runs', async () => {
    await page.goto(baseUrl);
    const cards = page.getByTestId('flow-card');
    await cards.filter({ hasText: OTHER_FLOW }).waitFor();
    assert.deepEqual(await cards.locator('h2').allInnerTexts(), [FLOW, OTHER_FLOW]);
    const banner = await page.getByTestId('engine-banner').innerText();
    assert.match(banner, /Engine: embedded/);
    assert.match(banner, /In memory: paused keys and buffered events are lost when the service stops/);
    await page.getByRole('navigation', { name: 'Flows' }).getByRole('link', { name: FLOW }).click();
    await page.waitForURL(`${baseUrl}/flows/${FLOW}`);
    await region('Paused keys').getByText('No key is paused.').waitFor();
  });

  test('an error from the API is shown to the operator: pausing without the API token', async () => {
    const control = region('Pause or resume keys');
    await control.getByLabel('Keys').fill('K1');
    await control.getByRole('button', { name: 'Pause', exact: true }).click();
    const toast = page.getByRole('alert').filter({ hasText: 'Pausing K1 failed' });
    assert.match(await toast.innerText(), /needs an "Authorization: Bearer <API_TOKEN>" header \(401 UNAUTHORIZED\)\. Set the API token under Settings\./);
    assert.match(await page.getByTestId('activity-log').innerText(), /Pausing K1 failed/);
    assert.equal(t.engine.statusTable(FLOW).pausedCount, 0);
  });

  test('an unknown flow is reported with the API\'s message', async () => {
    await page.goto(`${baseUrl}/flows/nope`);
    assert.match(await page.getByTestId('flow-error').innerText(), /unknown flow "nope"; known flows: demo, orders \(404 FLOW_NOT_FOUND\)/);
    await page.getByRole('link', { name: FLOW, exact: true }).last().waitFor();
  });

  test('the API token and the operator\'s name are set in Settings', async () => {
    await page.getByRole('link', { name: 'Settings' }).click();
    await page.getByLabel('API token').fill(TOKEN);
    await page.getByLabel('Your name').fill(ACTOR);
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByRole('status').filter({ hasText: `API token set, acting as ${ACTOR}` }).waitFor();
    await page.getByRole('link', { name: /token set/ }).waitFor();
  });

  test('events sent from the page reach the input and output tables', async () => {
    await page.goto(`${baseUrl}/flows/${FLOW}`);
    const send = region('Send events');
    await send.getByLabel('Key').fill('K1');
    await send.getByLabel('Data').fill('before');
    await send.getByRole('button', { name: 'Send' }).click();
    await page.getByRole('status').filter({ hasText: 'Sent to K1' }).waitFor();
    await rowsOf(region('Input topic'), 'K1').filter({ hasText: 'before' }).waitFor();
    await rowsOf(region('Output topic'), 'K1').filter({ hasText: 'before' }).waitFor();
  });

  test('a key paused from the page is listed as paused and holds its new events', async () => {
    const control = region('Pause or resume keys');
    await control.getByLabel('Keys').fill('K1');
    await control.getByLabel('Reason').fill('fraud review 42');
    await control.getByRole('button', { name: 'Pause', exact: true }).click();
    const paused = rowsOf(region('Paused keys'), 'K1');
    await paused.waitFor();
    const row = await paused.innerText();
    assert.match(row, /PAUSED/);
    assert.match(row, new RegExp(ACTOR));
    assert.match(row, /fraud review 42/);
    await page.getByTestId('live-feed').getByText(`K1 paused by ${ACTOR}: fraud review 42`).waitFor();

    const send = region('Send events');
    await send.getByLabel('Key').fill('K1');
    await send.getByLabel('Data').fill('held');
    await send.getByLabel('Count').fill('3');
    await send.getByRole('button', { name: 'Send' }).click();
    await page.getByRole('status').filter({ hasText: 'Sent 3 events to K1' }).waitFor();

    const buffered = rowsOf(region('Keys holding buffered events'), 'K1');
    await waitForText(buffered.locator('td.num').first(), '3');
    await rowsOf(region('Input topic'), 'K1').filter({ hasText: 'held #3' }).waitFor();
    assert.deepEqual(await dataOf(region('Output topic'), 'K1'), ['before']);
  });

  test('the key\'s page shows its buffer, oldest first, and its history', async () => {
    await rowsOf(region('Paused keys'), 'K1').getByRole('link', { name: 'K1', exact: true }).click();
    await page.waitForURL(`${baseUrl}/flows/${FLOW}/keys/K1`);
    const buffer = region('Buffered events');
    await buffer.locator('tbody tr td.data').nth(2).waitFor();
    assert.deepEqual(await buffer.locator('td.data').allInnerTexts(), ['held #1', 'held #2', 'held #3']);
    const history = await region('History').locator('tbody').innerText();
    assert.match(history, /PAUSED/);
    assert.match(history, new RegExp(`${ACTOR}\\s+fraud review 42`));
    await page.getByRole('link', { name: `Flow ${FLOW}` }).click();
  });

  test('resuming from the page drains the held events to the output in order, before newer ones', async () => {
    const paused = region('Paused keys');
    await rowsOf(paused, 'K1').getByRole('checkbox').check();
    await paused.getByLabel('Reason').fill('review passed');
    await paused.getByRole('button', { name: 'Resume selected (1)' }).click();
    await paused.getByText('No key is paused.').waitFor();

    const send = region('Send events');
    await send.getByLabel('Key').fill('K1');
    await send.getByLabel('Data').fill('after');
    await send.getByLabel('Count').fill('1');
    await send.getByRole('button', { name: 'Send' }).click();

    const output = region('Output topic');
    await rowsOf(output, 'K1').filter({ hasText: 'after' }).waitFor();
    // Newest first on the page.
    assert.deepEqual((await dataOf(output, 'K1')).reverse(), ['before', 'held #1', 'held #2', 'held #3', 'after']);
    await region('Keys holding buffered events').getByText('No key holds buffered events.').waitFor();
    await page.getByTestId('live-feed').getByText(`K1 resumed by ${ACTOR}: review passed`).waitFor();
  });

  test('events past a key\'s buffer capacity are dead-lettered and counted as BUFFER_FULL', async () => {
    const control = region('Pause or resume keys');
    await control.getByLabel('Keys').fill('K2');
    await control.getByRole('button', { name: 'Pause', exact: true }).click();
    await rowsOf(region('Paused keys'), 'K2').waitFor();

    const send = region('Send events');
    await send.getByLabel('Key').fill('K2');
    await send.getByLabel('Data').fill('burst');
    await send.getByLabel('Count').fill(String(BUFFER_CAPACITY + 1));
    await send.getByRole('button', { name: 'Send' }).click();

    await waitForText(page.getByTestId('buffer-full').locator('dd'), '1');
    await waitForText(page.getByTestId('dlq-total').locator('dd'), '1');
    await page.getByTestId('live-feed').getByText('K2 dead-lettered: BUFFER_FULL').waitFor();
    await waitForText(rowsOf(region('Keys holding buffered events'), 'K2').locator('td.num').first(), String(BUFFER_CAPACITY));
  });

  test('the flow page draws the charts of the last 15 minutes and says since when counters count', async () => {
    await page.goto(`${baseUrl}/flows/${FLOW}`);
    const charts = page.getByTestId('charts');
    for (const id of ['rates', 'buffered', 'drain', 'lag']) await charts.getByTestId(`chart-${id}`).locator('canvas').first().waitFor();
    assert.match(await page.getByTestId('counters-since').innerText(), /Counters since .+ \(they start at 0 when an instance starts\)/);
  });

  test('key search: prefix, sort and state in the URL, with the total; resume all matching after confirming the count', async () => {
    for (const key of ['S-1', 'S-2', 'S-3']) await t.engine.produce(t.engine.flows.find((f) => f.id === FLOW)!.topics.status, { key, value: Buffer.from('"PAUSED"') });
    await eventually('3 S- keys paused', () => (['S-1', 'S-2', 'S-3'].every((key) => t.engine.statusTable(FLOW).get(key).status === 'PAUSED') ? true : undefined));
    await page.goto(`${baseUrl}/flows/${FLOW}`);
    await page.getByTestId('link-search').click();
    await page.waitForURL(`${baseUrl}/flows/${FLOW}/search`);
    await page.getByTestId('search-q').fill('S-');
    await page.getByRole('button', { name: 'Search' }).click();
    await page.waitForURL(/q=S-/);
    await waitForText(page.getByTestId('search-total').locator('strong'), '3');
    await page.getByTestId('search-sort').selectOption('paused-longest');
    await page.waitForURL(/sort=paused-longest/);
    // A deep link gives the same view.
    await page.goto(`${baseUrl}/flows/${FLOW}/search?q=S-&state=paused&sort=key`);
    await waitForText(page.getByTestId('search-total').locator('strong'), '3');
    assert.deepEqual(await page.getByTestId('search-results').locator('tbody a').allInnerTexts(), ['S-1', 'S-2', 'S-3']);

    await page.getByTestId('resume-matching').click();
    const confirm = page.getByTestId('confirm-matching');
    assert.match(await confirm.innerText(), /Resume 3 paused keys starting with “S-”\?/);
    await confirm.getByTestId('confirm-yes').click();
    await page.getByRole('status').filter({ hasText: 'Resumed 3 keys' }).waitFor();
    await eventually('S- keys ACTIVE', () => (['S-1', 'S-2', 'S-3'].every((key) => t.engine.statusTable(FLOW).get(key).status === 'ACTIVE') ? true : undefined));
    await waitForText(page.getByTestId('search-total').locator('strong'), '0');
  });

  test('a 256-character key is cut to its column, with the whole key in the tooltip', async () => {
    const long = 'L'.repeat(256);
    await t.engine.produce(t.engine.flows.find((f) => f.id === FLOW)!.topics.status, { key: long, value: Buffer.from('"PAUSED"') });
    await page.goto(`${baseUrl}/flows/${FLOW}`);
    const link = region('Paused keys').getByRole('link', { name: long, exact: true });
    await link.waitFor();
    const box = await link.boundingBox();
    assert.ok(box !== null && box.width < 400, `the key's link is ${box?.width} px wide`);
    assert.equal(await link.locator('xpath=..').getAttribute('title'), long);
    const table = await region('Paused keys').locator('table').boundingBox();
    const panel = await region('Paused keys').boundingBox();
    assert.ok(table !== null && panel !== null && table.width <= panel.width, 'the table fits its panel');
  });

  test('the dead-letter page lists BUFFER_FULL with its source, counts by reason, and replays a chosen one after confirming', async () => {
    await page.goto(`${baseUrl}/flows/${FLOW}`);
    await page.getByTestId('link-dlq').click();
    await page.waitForURL(`${baseUrl}/flows/${FLOW}/dead-letters`);
    await waitForText(page.getByTestId('dlq-reasons').getByRole('link', { name: /BUFFER_FULL/ }), 'BUFFER_FULL 1');
    const row = page.getByTestId('dlq-table').locator('tbody tr').filter({ hasText: 'BUFFER_FULL' });
    const text = await row.innerText();
    assert.match(text, /K2[\s\S]*BUFFER_FULL/);
    assert.ok(text.includes(`${t.engine.flows.find((f) => f.id === FLOW)!.topics.main}/`), `the source topic in ${text}`);
    await row.getByRole('checkbox').check();
    await page.getByTestId('replay').click();
    await page.getByTestId('confirm-replay').getByTestId('confirm-replay-yes').click();
    await page.getByRole('status').filter({ hasText: 'Replayed 1 dead letters' }).waitFor();
    // K2 is still paused and full: the replayed event is dead-lettered again.
    await waitForText(page.getByTestId('dlq-reasons').getByRole('link', { name: /BUFFER_FULL/ }), 'BUFFER_FULL 2');
  });

  test('a key page of an unknown flow says it could not load, never "no buffered events" or "never paused"', async () => {
    await page.goto(`${baseUrl}/flows/nope/keys/K1`);
    await page.getByTestId('key-error').waitFor();
    await waitForText(page.getByTestId('buffer-empty'), 'Could not load the buffer.');
    await waitForText(page.getByTestId('history-empty'), 'Could not load the history.');
  });

  test('Enter in the reason field acts: a paused key\'s page resumes it', async () => {
    await page.goto(`${baseUrl}/flows/${FLOW}/keys/K2`);
    await eventually('K2 shown as paused', async () => ((await page.locator('h1 .badge').innerText()) === 'PAUSED' ? true : undefined));
    const reason = region('Pause or resume').getByLabel('Reason');
    await reason.fill('done by keyboard');
    await reason.press('Enter');
    await eventually('K2 ACTIVE', () => (t.engine.statusTable(FLOW).get('K2').status === 'ACTIVE' ? true : undefined));
  });

  test('while the API does not answer, the engine banner is greyed as last known, not green', async () => {
    await page.goto(`${baseUrl}/flows/${FLOW}`);
    await page.getByTestId('engine-banner').waitFor();
    await page.route('**/api/v1/flows', (route) => route.abort());
    try {
      await page.getByTestId('api-error').waitFor({ timeout: 15_000 });
      const banner = page.getByTestId('engine-banner');
      assert.match(await banner.innerText(), /Last known/);
      assert.match((await banner.getAttribute('class')) ?? '', /banner-stale/);
    } finally {
      await page.unroute('**/api/v1/flows');
    }
  });

  test('the input and output views filter by key', async () => {
    await page.goto(`${baseUrl}/flows/${FLOW}`);
    await rowsOf(region('Output topic'), 'K1').first().waitFor();
    await page.getByTestId('record-key').fill('K1');
    await page.getByRole('button', { name: 'Filter' }).click();
    const output = region('Output topic');
    await eventually('only K1 in the output view', async () => {
      const keys = await output.locator('tbody tr td:first-child').allInnerTexts();
      return keys.length > 0 && keys.every((key) => key.trim() === 'K1') ? true : undefined;
    });
    assert.deepEqual((await dataOf(output, 'K1')).reverse(), ['before', 'held #1', 'held #2', 'held #3', 'after']);
    await page.getByRole('button', { name: 'Show every key' }).click();
  });

  test('the page raised no uncaught error', () => {
    assert.deepEqual(pageErrors, []);
  });
});
