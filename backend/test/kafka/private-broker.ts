/**
 * A broker of the test file's own, for tests that stop and restart it: the other test files run
 * beside them on the shared broker (127.0.0.1:9092) and never see the restart. Started by
 * scripts/start_infra.sh with KAFKA_PORT / KAFKA_CONTROLLER_PORT / KAFKA_DATA_DIR.
 *
 * Import this module before support.ts or kafka-harness.ts: on load it points KAFKA_BROKERS at
 * the private broker, which they read when they load.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

const ROOT = path.resolve(import.meta.dirname, '../../..');
/**
 * EP_PRIVATE_KAFKA_PORT moves it (the controller takes the next port). Below the ephemeral range
 * (32768-60999): a client reconnecting to a stopped broker on an ephemeral port can connect to
 * itself (TCP self-connect) and hold the port, and the broker cannot bind it again.
 */
export const PRIVATE_PORT = Number(process.env.EP_PRIVATE_KAFKA_PORT ?? 19492);
const dataDir = mkdtempSync(path.join(tmpdir(), 'ep-private-kafka-'));
const env = {
  ...process.env,
  KAFKA_PORT: String(PRIVATE_PORT),
  KAFKA_CONTROLLER_PORT: String(PRIVATE_PORT + 1),
  KAFKA_DATA_DIR: dataDir,
};
process.env.KAFKA_BROKERS = `127.0.0.1:${PRIVATE_PORT}`;

function run(script: string, ...args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [path.join(ROOT, 'scripts', script), ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${script} ${args.join(' ')} exited with ${code}:\n${output}`))));
  });
}

export function startPrivateBroker(): Promise<void> {
  return run('start_infra.sh');
}

/** A clean stop (SIGTERM); the data is kept, so a start brings the same cluster back. */
export function stopPrivateBroker(): Promise<void> {
  return run('stop_infra.sh');
}

export async function removePrivateBroker(): Promise<void> {
  await run('stop_infra.sh', '--wipe').catch(() => undefined);
  rmSync(dataDir, { recursive: true, force: true });
}
