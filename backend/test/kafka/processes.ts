/**
 * The service and the repository's scripts as child processes, for tests that run them as a user
 * would (a 3-broker cluster, a secured broker): start the service with settings from the
 * environment and wait until it is ready or has exited, call its HTTP API, run a script.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort } from '../support/net.ts';
import { sleep } from './support.ts';

export const ROOT = path.resolve(import.meta.dirname, '../../..');

export function script(name: string, args: readonly string[], env: Record<string, string> = {}): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile('bash', [`scripts/${name}`, ...args], { cwd: ROOT, env: { ...process.env, ...env }, timeout: 240_000 }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : 1, out: stdout + stderr });
    });
  });
}

/** A flows file with one flow of 3 partitions. */
export function flowsFile(applicationId: string, flow: string): string {
  const file = path.join(mkdtempSync(path.join(tmpdir(), 'ep-flows-')), 'flows.json');
  writeFileSync(file, JSON.stringify({ applicationId, partitions: 3, flows: [{ id: flow }] }));
  return file;
}

export interface ServiceProcess {
  readonly child: ChildProcess;
  readonly url: string;
  /** It printed that it is ready (false: it exited first). */
  readonly ready: boolean;
  output(): string;
}

/** backend/src/main.ts with these settings; resolves once it is ready or has exited. */
export async function startService(config: string, env: Record<string, string>): Promise<ServiceProcess> {
  const port = await freePort();
  const child = spawn(path.join(ROOT, 'node_modules/.bin/node'), ['backend/src/main.ts'], {
    cwd: ROOT,
    env: { ...process.env, EVENT_PAUSE_CONFIG: config, PORT: String(port), STATE_DIR: mkdtempSync(path.join(tmpdir(), 'ep-state-')), LOG_LEVEL: 'warn', ...env },
  });
  let out = '';
  child.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (out += chunk.toString()));
  const ready = await new Promise<boolean>((resolve) => {
    const timer = setInterval(() => {
      if (out.includes('event-pause ready')) {
        clearInterval(timer);
        resolve(true);
      }
    }, 100);
    child.once('exit', () => {
      clearInterval(timer);
      resolve(false);
    });
  });
  return { child, url: `http://127.0.0.1:${port}`, ready, output: () => out };
}

export async function call(url: string, method: 'GET' | 'POST', pathAndQuery: string): Promise<{ status: number; body: unknown }> {
  const response = await fetch(`${url}${pathAndQuery}`, { method, signal: AbortSignal.timeout(20_000) });
  const text = await response.text();
  return { status: response.status, body: text === '' ? undefined : JSON.parse(text) };
}

export async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(250);
  }
}

/** Pause K, send two events, check they are held, resume, check they come out in order. */
export async function pauseHoldRelease(url: string, flow: string, key = 'K'): Promise<void> {
  const ok = (status: number, expected: number, what: string): void => {
    if (status !== expected) throw new Error(`${what}: ${status}`);
  };
  ok((await call(url, 'POST', `/control/${flow}/pause/${key}`)).status, 202, 'pause');
  await until(`${key} paused`, async () => ((await call(url, 'GET', `/control/${flow}/status/${key}`)).body as { status: string }).status === 'PAUSED' || undefined);
  for (const data of ['one', 'two']) ok((await call(url, 'POST', `/control/${flow}/send?key=${key}&data=${data}`)).status, 200, 'send');
  await until('2 held', async () => ((await call(url, 'GET', `/api/v1/flows/${flow}/keys/${key}`)).body as { bufferedCount: number }).bufferedCount === 2 || undefined);
  ok((await call(url, 'POST', `/control/${flow}/resume/${key}`)).status, 202, 'resume');
  await until('released in order', async () => {
    const out = (await call(url, 'GET', `/control/${flow}/output-messages?limit=10`)).body as Array<{ key: string; data: string }>;
    const data = out.filter((r) => r.key === key).map((r) => r.data);
    if (data.length < 2) return undefined;
    if (data.join(',') !== 'one,two') throw new Error(`released out of order: ${data.join(',')}`);
    return true;
  });
}
