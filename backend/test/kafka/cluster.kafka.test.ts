/**
 * Topics for production on a local 3-broker cluster (scripts/start_cluster.sh, the chaos runner's
 * nightly cluster): init_topics.sh creates them with replication factor 3 and min.insync.replicas
 * 2; the service refuses topics with fewer replicas than MIN_REPLICATION_FACTOR, naming them, and
 * on well-replicated topics keeps pausing, holding and releasing with one broker killed.
 */
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { freePort } from '../support/net.ts';
import { randomId, sleep } from './support.ts';

const ROOT = path.resolve(import.meta.dirname, '../../..');
const BASE_PORT = 19_492;
const DATA = mkdtempSync(path.join(tmpdir(), 'ep-cluster-'));
const BOOTSTRAP = [0, 1, 2].map((i) => `127.0.0.1:${BASE_PORT + i}`).join(',');
const CLUSTER_ENV = { CLUSTER_BASE_PORT: String(BASE_PORT), CLUSTER_DATA_DIR: DATA };

function script(name: string, args: readonly string[], env: Record<string, string> = {}): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile('bash', [`scripts/${name}`, ...args], { cwd: ROOT, env: { ...process.env, ...CLUSTER_ENV, ...env }, timeout: 240_000 }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : 1, out: stdout + stderr });
    });
  });
}

function flowsFile(applicationId: string, flow: string): string {
  const file = path.join(mkdtempSync(path.join(tmpdir(), 'ep-cluster-flows-')), 'flows.json');
  writeFileSync(file, JSON.stringify({ applicationId, partitions: 3, flows: [{ id: flow }] }));
  return file;
}

/** The service on the cluster; resolves once it printed that it is ready, or with its exit. */
async function service(config: string, env: Record<string, string>): Promise<{ child: ChildProcess; url: string; ready: boolean; output: () => string }> {
  const port = await freePort();
  const child = spawn(path.join(ROOT, 'node_modules/.bin/node'), ['backend/src/main.ts'], {
    cwd: ROOT,
    env: { ...process.env, EVENT_PAUSE_CONFIG: config, KAFKA_BROKERS: BOOTSTRAP, PORT: String(port), STATE_DIR: mkdtempSync(path.join(tmpdir(), 'ep-cluster-state-')), LOG_LEVEL: 'warn', ...env },
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

async function call(url: string, method: 'GET' | 'POST', pathAndQuery: string): Promise<{ status: number; body: unknown }> {
  const response = await fetch(`${url}${pathAndQuery}`, { method, signal: AbortSignal.timeout(20_000) });
  const text = await response.text();
  return { status: response.status, body: text === '' ? undefined : JSON.parse(text) };
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(250);
  }
}

describe('Kafka: topics for production on a 3-broker cluster', { timeout: 600_000 }, () => {
  before(async () => {
    const started = await script('start_cluster.sh', []);
    assert.equal(started.code, 0, started.out);
  });
  after(async () => {
    await script('stop_cluster.sh', ['--kill', '--wipe']);
  });

  test('init_topics makes replication factor 3 and min.insync.replicas 2; the service refuses fewer replicas than MIN_REPLICATION_FACTOR and runs with a broker down', async () => {
    const app = randomId('ep');
    const weakFlow = randomId('weak');
    const weak = flowsFile(app, weakFlow);
    const one = await script('init_topics.sh', ['--config', weak, '--replication-factor', '1'], { KAFKA_BROKERS: BOOTSTRAP });
    assert.equal(one.code, 0, one.out);
    const refused = await service(weak, { MIN_REPLICATION_FACTOR: '3' });
    assert.equal(refused.ready, false, 'the service must not start on topics with 1 replica');
    assert.equal(refused.child.exitCode, 2, refused.output());
    assert.match(refused.output(), new RegExp(`${weakFlow}-in has 1 replica.*MIN_REPLICATION_FACTOR asks for at least 3`));

    const flow = randomId('prod');
    const config = flowsFile(app, flow);
    const made = await script('init_topics.sh', ['--config', config, '--replication-factor', '3', '--min-insync-replicas', '2'], { KAFKA_BROKERS: BOOTSTRAP });
    assert.equal(made.code, 0, made.out);
    const lines = made.out.split('\n').filter((line) => /^\s+created /.test(line));
    assert.equal(lines.length, 6, made.out);
    for (const line of lines) assert.match(line, /replication\.factor=3 min\.insync\.replicas=2/);

    const running = await service(config, { MIN_REPLICATION_FACTOR: '3' });
    try {
      assert.equal(running.ready, true, running.output());
      const { url } = running;
      // A broker goes down (kill -9): with 2 of 3 replicas in sync, writes go on.
      const killed = await script('stop_cluster.sh', ['--node', '3', '--kill']);
      assert.equal(killed.code, 0, killed.out);
      assert.equal((await call(url, 'POST', `/control/${flow}/pause/K`)).status, 202);
      await until('K paused', async () => ((await call(url, 'GET', `/control/${flow}/status/K`)).body as { status: string }).status === 'PAUSED' || undefined);
      for (const data of ['one', 'two']) assert.equal((await call(url, 'POST', `/control/${flow}/send?key=K&data=${data}`)).status, 200);
      await until('2 held', async () => ((await call(url, 'GET', `/api/v1/flows/${flow}/keys/K`)).body as { bufferedCount: number }).bufferedCount === 2 || undefined);
      assert.equal((await call(url, 'POST', `/control/${flow}/resume/K`)).status, 202);
      await until('released in order', async () => {
        const out = (await call(url, 'GET', `/control/${flow}/output-messages?limit=10`)).body as Array<{ key: string; data: string }>;
        const data = out.filter((r) => r.key === 'K').map((r) => r.data);
        return data.length === 2 ? (assert.deepEqual(data, ['one', 'two']), true) : undefined;
      });
    } finally {
      running.child.kill('SIGKILL');
    }
  });
});
