/**
 * The container image's entry command and health check (deploy/), run outside a container (this
 * machine cannot run containers): the entry command starts the service from the environment and
 * stops cleanly on SIGTERM, or runs the CLI; the health check answers 0 only when /ready does.
 * And the files the Containerfile and the service files name exist.
 */
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import { freePort } from '../support/net.ts';
import { SETTINGS } from '../../src/config/settings-schema.ts';

const ROOT = path.resolve(import.meta.dirname, '../../..');
const ENTRY = path.join(ROOT, 'deploy/entrypoint.sh');
const HEALTH = path.join(ROOT, 'deploy/healthcheck.sh');

function run(file: string, args: readonly string[], env: Record<string, string>): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(file, [...args], { env: { ...process.env, ...env }, timeout: 60_000 }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : 1, out: stdout + stderr });
    });
  });
}

describe('deploy: the image\'s entry command and health check', () => {
  test('--help lists the settings', async () => {
    const help = await run(ENTRY, ['--help'], {});
    assert.equal(help.code, 0, help.out);
    assert.match(help.out, /KAFKA_BROKERS/);
    assert.match(help.out, /STATE_DIR/);
  });

  test('the service starts from the environment, the health check follows /ready, the CLI runs through it, SIGTERM stops it cleanly', async () => {
    const port = await freePort();
    const env = { PORT: String(port), HOST: '127.0.0.1', STATE_DIR: mkdtempSync(path.join(tmpdir(), 'ep-entry-')), EVENT_PAUSE_CONFIG: path.join(ROOT, 'config/flows.json'), KAFKA_BROKERS: '', LOG_LEVEL: 'warn' };
    const before = await run(HEALTH, [], { PORT: String(port) });
    assert.equal(before.code, 1);
    assert.match(before.out, /no answer from http:\/\/127\.0\.0\.1:\d+\/ready/);

    const child = spawn(ENTRY, [], { env: { ...process.env, ...env } });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (out += chunk.toString()));
    try {
      const deadline = Date.now() + 60_000;
      for (;;) {
        const health = await run(HEALTH, [], { PORT: String(port) });
        if (health.code === 0) break;
        if (Date.now() > deadline || child.exitCode !== null) throw new Error(`never healthy: ${health.out}\n${out}`);
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
      const status = await run(ENTRY, ['status', 'demo', 'some-key', '--json'], { EVENT_PAUSE_URL: `http://127.0.0.1:${port}` });
      assert.equal(status.code, 0, status.out);
      assert.equal((JSON.parse(status.out) as { status: string }).status, 'ACTIVE');
    } finally {
      child.kill('SIGTERM');
    }
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    assert.equal(code, 0, out);
    assert.equal((await run(HEALTH, [], { PORT: String(port) })).code, 1, 'unhealthy once stopped');
  });

  test('the Containerfile, compose file, StatefulSet and systemd unit name files and settings that exist', () => {
    const containerfile = readFileSync(path.join(ROOT, 'deploy/Containerfile'), 'utf8');
    assert.match(containerfile, /^USER event-pause$/m, 'runs as a non-root user');
    assert.match(containerfile, /HEALTHCHECK .*\/app\/deploy\/healthcheck\.sh/);
    assert.match(containerfile, /ENTRYPOINT \["\/app\/deploy\/entrypoint\.sh"\]/);
    assert.match(containerfile, /VOLUME \["\/var\/lib\/event-pause"\]/);
    assert.match(containerfile, /STATE_DIR=\/var\/lib\/event-pause/);
    for (const file of ['scripts/setup.sh', 'scripts/build_dashboard.sh', 'deploy/entrypoint.sh', 'deploy/healthcheck.sh', 'config/flows.json']) assert.ok(existsSync(path.join(ROOT, file)), file);
    const documented = Object.keys(SETTINGS);
    const statefulset = readFileSync(path.join(ROOT, 'deploy/kubernetes/statefulset.yaml'), 'utf8');
    for (const setting of ['INSTANCE_ID', 'STATIC_MEMBERSHIP', 'SESSION_TIMEOUT_MS', 'MIN_REPLICATION_FACTOR', 'ADVERTISED_URL', 'KAFKA_BROKERS', 'API_TOKEN', 'EVENT_PAUSE_CONFIG']) {
      assert.match(statefulset, new RegExp(`name: ${setting}\\b`), setting);
      assert.ok(documented.includes(setting), `${setting} is a documented setting`);
    }
    assert.match(statefulset, /path: \/ready/);
    assert.match(statefulset, /preStop:/);
    assert.match(statefulset, /volumeClaimTemplates:/);
    const unit = readFileSync(path.join(ROOT, 'deploy/systemd/event-pause.service'), 'utf8');
    assert.match(unit, /ExecStart=\/opt\/event-pause\/deploy\/entrypoint\.sh/);
    assert.match(unit, /RestartPreventExitStatus=2/);
    const compose = readFileSync(path.join(ROOT, 'deploy/compose.yaml'), 'utf8');
    assert.match(compose, /dockerfile: deploy\/Containerfile/);
  });
});
