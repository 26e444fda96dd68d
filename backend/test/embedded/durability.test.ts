/**
 * The embedded engine's durability, as a user meets it: the service (main.ts, no KAFKA_BROKERS)
 * runs as a child process with a state folder, is killed with SIGKILL while a key is paused with
 * events in its buffer, and started again on the same folder. Statuses, buffers, the output and
 * the input positions come back from the journal (rules 1, 5), and the resume drains in order.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { repoRoot } from '../../src/config/config.ts';
import { freePort } from '../support/net.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'ep-embedded-durability-'));
const children: ChildProcess[] = [];

after(() => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});


async function start(port: number): Promise<{ child: ChildProcess; url: string; log: string[] }> {
  const env: NodeJS.ProcessEnv = { ...process.env, PORT: String(port), HOST: '127.0.0.1', STATE_DIR: dir, LOG_LEVEL: 'warn', PUNCTUATE_INTERVAL_MS: '200' };
  delete env.KAFKA_BROKERS;
  const child = spawn(process.execPath, [path.join(repoRoot(), 'backend', 'src', 'main.ts')], { cwd: repoRoot(), env, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  const log: string[] = [];
  child.stdout!.on('data', (chunk: Buffer) => log.push(chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => log.push(chunk.toString()));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`the service exited with ${child.exitCode}:\n${log.join('')}`);
    const ready = await fetch(`${url}/ready`).then((r) => r.status === 200, () => false);
    if (ready) return { child, url, log };
    if (Date.now() > deadline) throw new Error(`the service was not ready within 60 s:\n${log.join('')}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function call(url: string, method: 'GET' | 'POST'): Promise<Response> {
  const response = await fetch(url, { method });
  if (response.status >= 300) throw new Error(`${method} ${url}: ${response.status} ${await response.text()}`);
  return response;
}

async function send(url: string, key: string, data: string): Promise<void> {
  await call(`${url}/control/demo/send?key=${key}&data=${data}`, 'POST');
}

/** The output (the newest 1000), as `key:data`, per key in output order, keys sorted. */
async function output(url: string): Promise<string[]> {
  const records = (await (await call(`${url}/control/demo/output-messages?limit=1000`, 'GET')).json()) as Array<{ key: string; data: string; offset: number }>;
  return records.sort((a, b) => a.key.localeCompare(b.key) || a.offset - b.offset).map((record) => `${record.key}:${record.data}`);
}

async function eventually<T>(what: string, read: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; last: ${JSON.stringify(value)}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

test('embedded engine: kill -9 with a paused key and a full buffer loses nothing; the resume drains in order', { timeout: 120_000 }, async () => {
  const port = await freePort();
  let service = await start(port);
  await send(service.url, 'E', 'e0');
  await call(`${service.url}/control/demo/pause/D`, 'POST');
  for (let i = 0; i < 5; i++) await send(service.url, 'D', `d${i}`);
  await send(service.url, 'E', 'e1');
  const buffered = async (url: string): Promise<number> => Number((await call(`${url}/control/demo/buffer/D`, 'GET')).headers.get('ep-buffered-total'));
  await eventually('5 events of D buffered', () => buffered(service.url), (count) => count === 5);
  await eventually('E forwarded', () => output(service.url), (out) => out.length === 2);

  service.child.kill('SIGKILL');
  await new Promise((resolve) => service.child.once('exit', resolve));
  service = await start(port);

  const status = (await (await call(`${service.url}/control/demo/status/D`, 'GET')).json()) as { status: string };
  assert.equal(status.status, 'PAUSED', 'the pause survived the kill');
  assert.equal(await buffered(service.url), 5, 'the buffer survived the kill');
  const events = (await (await call(`${service.url}/control/demo/buffer/D`, 'GET')).json()) as Array<{ data: string }>;
  assert.deepEqual(events.map((event) => event.data), ['d0', 'd1', 'd2', 'd3', 'd4']);
  assert.deepEqual(await output(service.url), ['E:e0', 'E:e1'], 'the output survived, and the input was not processed twice');

  await send(service.url, 'D', 'd5');
  await call(`${service.url}/control/demo/resume/D`, 'POST');
  await send(service.url, 'D', 'd6');
  const out = await eventually('D drained', () => output(service.url), (o) => o.length === 9);
  assert.deepEqual(out, ['D:d0', 'D:d1', 'D:d2', 'D:d3', 'D:d4', 'D:d5', 'D:d6', 'E:e0', 'E:e1']);
  service.child.kill('SIGTERM');
  await new Promise((resolve) => service.child.once('exit', resolve));
});
