/**
 * The payments example (examples/payments/main.ts, event-pause as a library with a handler) as a
 * process on Kafka, through kill -9: a merchant whose payment the ledger rejects parks itself,
 * other merchants flow; kill -9 while parked and restart: still parked, its payments held in
 * order (and the one sent meanwhile behind them); fixed and resumed: applied in order, none lost.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, test } from 'node:test';
import { parseFlowsFile } from '../../src/config/config.ts';
import { freePort } from '../support/net.ts';
import { call, ROOT, until } from './processes.ts';
import { BROKERS, connectAdmin, createTopics, randomId } from './support.ts';

interface Running {
  child: ChildProcess;
  out: () => string;
}

describe('Kafka: the payments example (handler, failure-triggered pause) through kill -9', () => {
  let running: Running | undefined;
  afterEach(() => {
    running?.child.kill('SIGKILL');
    running = undefined;
  });

  test('parked before the crash, parked after it with every payment held in order; resumed: applied in order, none lost', async () => {
    const app = randomId('pay');
    const flowId = randomId('payments');
    const { flows } = parseFlowsFile({ applicationId: app, partitions: 3, flows: [{ id: flowId }] }, 'test');
    const admin = await connectAdmin();
    await createTopics(admin, flows[0]!);
    admin.disconnect();
    const dir = mkdtempSync(path.join(tmpdir(), 'ep-payments-'));
    const ledgerFile = path.join(dir, 'ledger.jsonl');
    const rejectsFile = path.join(dir, 'rejects');
    writeFileSync(rejectsFile, 'm-a\n');
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const env = {
      ...process.env,
      KAFKA_BROKERS: BROKERS,
      APPLICATION_ID: app,
      PAYMENTS_FLOW: flowId,
      STATE_DIR: path.join(dir, 'state'),
      LEDGER_FILE: ledgerFile,
      REJECTS_FILE: rejectsFile,
      PORT: String(port),
      COMMIT_INTERVAL_MS: '100',
      LOG_LEVEL: 'warn',
    };
    const start = async (): Promise<Running> => {
      const child = spawn(path.join(ROOT, 'node_modules/.bin/node'), ['examples/payments/main.ts'], { cwd: ROOT, env });
      let out = '';
      child.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()));
      child.stderr!.on('data', (chunk: Buffer) => (out += chunk.toString()));
      await until('READY', async () => (out.includes('READY') ? true : child.exitCode !== null ? Promise.reject(new Error(out)) : undefined), 120_000);
      return { child, out: () => out };
    };
    const ledger = (merchant: string): unknown[] =>
      existsSync(ledgerFile)
        ? readFileSync(ledgerFile, 'utf8')
            .split('\n')
            .filter((l) => l !== '')
            .map((l) => JSON.parse(l) as { merchant: string; amount: unknown })
            .filter((p) => p.merchant === merchant)
            .map((p) => p.amount)
        : [];
    const send = async (merchant: string, data: string) => assert.equal((await call(url, 'POST', `/control/${flowId}/send?key=${merchant}&data=${data}`)).status, 200);
    const status = async (merchant: string) => ((await call(url, 'GET', `/control/${flowId}/status/${merchant}`)).body as { status: string }).status;
    const held = async (merchant: string) => ((await call(url, 'GET', `/api/v1/flows/${flowId}/keys/${merchant}`)).body as { bufferedCount: number }).bufferedCount;

    running = await start();
    await send('m-a', 'a1');
    await send('m-a', 'a2');
    for (const data of ['b1', 'b2', 'b3']) await send('m-b', data);
    await until('m-a parked', async () => ((await status('m-a')) === 'PAUSED' ? true : undefined));
    await until('m-a holds 2', async () => ((await held('m-a')) === 2 ? true : undefined));
    await until('m-b applied', async () => (ledger('m-b').length >= 3 ? true : undefined));
    assert.deepEqual(ledger('m-a'), []);

    running.child.kill('SIGKILL');
    await new Promise((resolve) => running!.child.once('exit', resolve));
    running = await start();
    await send('m-a', 'a3');
    await send('m-b', 'b4');
    await until('b4 applied', async () => (ledger('m-b').includes('b4') ? true : undefined), 60_000);
    assert.equal(await status('m-a'), 'PAUSED', 'still parked after kill -9');
    await until('m-a holds 3', async () => ((await held('m-a')) === 3 ? true : undefined));
    assert.deepEqual(ledger('m-a'), [], 'nothing of m-a applied while parked');

    writeFileSync(rejectsFile, '');
    assert.equal((await call(url, 'POST', `/control/${flowId}/resume/m-a`)).status, 202);
    await until('m-a applied', async () => (ledger('m-a').length >= 3 ? true : undefined), 60_000);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    assert.deepEqual(ledger('m-a'), ['a1', 'a2', 'a3'], 'in order, once each');
    // At least once across the crash: a payment of m-b in flight may be applied twice, never lost or reordered.
    const b = ledger('m-b').filter((amount, i, all) => i === 0 || amount !== all[i - 1]);
    assert.deepEqual(b, ['b1', 'b2', 'b3', 'b4']);

    // Skip across a crash: m-c parks on c1, kill -9, the operator skips c1 (named by its seq).
    writeFileSync(rejectsFile, 'm-c\n');
    await send('m-c', 'c1');
    await send('m-c', 'c2');
    await until('m-c parked with both', async () => ((await status('m-c')) === 'PAUSED' && (await held('m-c')) === 2 ? true : undefined));
    running.child.kill('SIGKILL');
    await new Promise((resolve) => running!.child.once('exit', resolve));
    writeFileSync(rejectsFile, '');
    running = await start();
    await until('m-c restored', async () => ((await held('m-c').catch(() => 0)) === 2 ? true : undefined), 60_000);
    const buffer = (await call(url, 'GET', `/api/v1/flows/${flowId}/keys/m-c/buffer?limit=1`)).body as { items: Array<{ seq: number; data: string }> };
    assert.equal(buffer.items[0]?.data, 'c1');
    const skipped = await fetch(`${url}/api/v1/flows/${flowId}/keys/m-c/skip`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ seq: buffer.items[0]!.seq, reason: 'refunded by hand' }),
    });
    assert.equal(skipped.status, 202, await skipped.text());
    await until('c2 applied', async () => (ledger('m-c').includes('c2') ? true : undefined), 60_000);
    assert.deepEqual(ledger('m-c'), ['c2'], 'the skipped payment is never applied');
    const letters = (await call(url, 'GET', `/api/v1/flows/${flowId}/dead-letters?reason=SKIPPED`)).body as { items: Array<{ key: string; valuePreview: string }> };
    assert.equal(letters.items.length, 1);
    assert.match(letters.items[0]!.valuePreview, /"data":"c1"/);
  });
});
