/**
 * The chaos runner's pr profile (issue 8): real instances on a broker of the run's own (never the
 * shared one on 9092), a seeded workload and seeded faults including a broker restart and a
 * zombie, checked with the runner's own read_committed clients. The seed comes from CHAOS_SEED or
 * is drawn at random; it is printed, with the command that replays a failing run.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomInt } from 'node:crypto';
import path from 'node:path';
import { test } from 'node:test';

const ROOT = path.resolve(import.meta.dirname, '../../..');
/** The runner keeps within about 5.5 minutes; past this it is stopped (Ctrl-C) and the test fails. */
const WATCHDOG_MS = 345_000;

test('chaos runner, pr profile: no violation under kill -9, SIGTERM, a zombie, instances added and removed, a broker restart', { timeout: 360_000 }, async (t) => {
  const seed = process.env.CHAOS_SEED ?? String(randomInt(1, 2 ** 31));
  const args = ['backend/chaos/runner.ts', '--profile', 'pr', '--seed', seed];
  if (process.env.CHAOS_BROKER_PORT !== undefined) args.push('--broker-port', process.env.CHAOS_BROKER_PORT);
  if (process.env.CHAOS_CONTROLLER_PORT !== undefined) args.push('--controller-port', process.env.CHAOS_CONTROLLER_PORT);
  if (process.env.CHAOS_HTTP_BASE_PORT !== undefined) args.push('--http-base-port', process.env.CHAOS_HTTP_BASE_PORT);
  t.diagnostic(`chaos seed ${seed} (replay: CHAOS_SEED=${seed}, or npm run chaos -- --profile pr --seed ${seed})`);
  process.stderr.write(`[chaos test] seed ${seed}\n`);

  const env = { ...process.env };
  delete env.NODE_TEST_CONTEXT;
  const child = spawn(path.join(ROOT, 'node_modules', '.bin', 'node'), args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  const keep = (chunk: Buffer): void => {
    process.stderr.write(chunk);
    lines.push(...chunk.toString().split('\n').filter((line) => line !== ''));
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  let overran = false;
  const interrupt = (): void => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGINT');
  };
  const watchdog = setTimeout(() => {
    overran = true;
    interrupt();
  }, WATCHDOG_MS);
  t.signal.addEventListener('abort', interrupt, { once: true });
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.once('exit', (c, s) => resolve([c, s])));
  clearTimeout(watchdog);

  const summaryStart = lines.findIndex((line) => line.includes('===== chaos summary'));
  const summary = summaryStart < 0 ? lines.slice(-40) : lines.slice(summaryStart);
  assert.ok(!overran, `the chaos run (seed ${seed}) took longer than ${WATCHDOG_MS / 1000} s and was stopped\n${summary.join('\n')}`);
  assert.equal(code, 0, `chaos run failed (seed ${seed}, ${signal ?? `exit ${code}`}):\n${summary.join('\n')}`);
});
