/**
 * `npm run stack` (scripts/stack.sh) against the local broker: one command serves the dashboard
 * on Kafka and prints the URLs; running it again starts nothing; `stop` stops what it started;
 * in the foreground, Ctrl-C (SIGINT) stops it. The broker was running already: it is left alone.
 */
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import { freePort } from '../support/net.ts';
import { BROKERS } from './support.ts';

const ROOT = path.resolve(import.meta.dirname, '../../..');

function stack(args: readonly string[], env: Record<string, string>): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile('bash', ['scripts/stack.sh', ...args], { cwd: ROOT, env: { ...process.env, ...env }, timeout: 180_000 }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : 1, out: stdout + stderr });
    });
  });
}

async function get(url: string): Promise<number> {
  try {
    return (await fetch(url, { signal: AbortSignal.timeout(3000) })).status;
  } catch {
    return 0;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('npm run stack', () => {
  test('one command serves the dashboard on Kafka; again starts nothing; stop stops the service and leaves a broker it did not start', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'ep-stack-'));
    const port = await freePort();
    const env = { PORT: String(port), STACK_DIR: dir, STATE_DIR: path.join(dir, 'state'), KAFKA_BROKERS: BROKERS };
    const up = await stack(['--detach'], env);
    assert.equal(up.code, 0, up.out);
    assert.match(up.out, new RegExp(`dashboard  http://127\\.0\\.0\\.1:${port}/`));
    assert.match(up.out, /using the broker at/);
    assert.equal(await get(`http://127.0.0.1:${port}/`), 200, 'the dashboard');
    assert.equal(await get(`http://127.0.0.1:${port}/ready`), 200);
    const flows = (await (await fetch(`http://127.0.0.1:${port}/api/v1/flows`)).json()) as { engine: { kind: string } };
    assert.equal(flows.engine.kind, 'kafka');
    const pid = Number(readFileSync(path.join(dir, 'service.pid'), 'utf8'));

    const again = await stack(['--detach'], env);
    assert.equal(again.code, 0, again.out);
    assert.match(again.out, /already running \(pid \d+\): nothing started/);
    assert.equal(Number(readFileSync(path.join(dir, 'service.pid'), 'utf8')), pid);

    const stop = await stack(['stop'], env);
    assert.equal(stop.code, 0, stop.out);
    assert.match(stop.out, /the broker was not started by this command: left running/);
    assert.equal(alive(pid), false, 'the service is gone');
    assert.equal(existsSync(path.join(dir, 'service.pid')), false);
    assert.equal(await get(`http://127.0.0.1:${port}/ready`), 0);
  });

  test('in the foreground, Ctrl-C stops what it started', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'ep-stack-'));
    const port = await freePort();
    const child = spawn('bash', ['scripts/stack.sh'], { cwd: ROOT, env: { ...process.env, PORT: String(port), STACK_DIR: dir, STATE_DIR: path.join(dir, 'state'), KAFKA_BROKERS: BROKERS } });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (out += chunk.toString()));
    const deadline = Date.now() + 120_000;
    while (!out.includes('Ctrl-C stops it')) {
      if (Date.now() > deadline || child.exitCode !== null) throw new Error(`not up: ${out}`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    const pid = Number(readFileSync(path.join(dir, 'service.pid'), 'utf8'));
    assert.equal(await get(`http://127.0.0.1:${port}/ready`), 200);
    child.kill('SIGINT');
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    assert.equal(code, 0, out);
    assert.match(out, /stopping the service/);
    assert.equal(alive(pid), false);
  });
});
