/**
 * The run's own Kafka: one broker (scripts/start_infra.sh on ports of its own, a fresh data
 * folder) for the pr profile, or the 3-node cluster of scripts/start_cluster.sh for nightly.
 * Never the default broker on 9092: other tests use it.
 */
import { spawn, spawnSync } from 'node:child_process';
import { appendFileSync } from 'node:fs';
import { connect } from 'node:net';
import path from 'node:path';
import type { Log } from './util.ts';

const SCRIPT_TIMEOUT_MS = 180_000;

export interface Brokers {
  readonly kind: 'single' | 'cluster';
  readonly bootstrap: string;
  /** Node ids (the broker ids in metadata). */
  readonly nodes: readonly number[];
  readonly replicationFactor: number;
  /** Topic config for the flow's topics (min.insync.replicas on a cluster). */
  readonly topicConfig: Readonly<Record<string, string>>;
  start(): Promise<void>;
  /** Stops one node (or the only broker), waits `downMs`, starts it again; data kept. */
  restart(node: number, downMs: number, how: 'stop' | 'kill'): Promise<void>;
  stop(): Promise<void>;
  /** For exit handlers: stops everything synchronously. */
  stopSync(): void;
  /** Where the broker logs are. */
  readonly logs: string;
}

/** True when something accepts connections on 127.0.0.1:port. */
export function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port, timeout: 1000 });
    const done = (open: boolean): void => {
      socket.destroy();
      resolve(open);
    };
    socket.once('connect', () => done(true));
    socket.once('timeout', () => done(false));
    socket.once('error', () => done(false));
  });
}

/** Runs a script of scripts/ with extra environment; its output goes to `logFile`. */
function runScript(root: string, logFile: string, script: string, args: readonly string[], env: Record<string, string>): Promise<void> {
  appendFileSync(logFile, `\n$ ${Object.entries(env).map(([k, v]) => `${k}=${v}`).join(' ')} bash scripts/${script} ${args.join(' ')}\n`);
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [path.join(root, 'scripts', script), ...args], {
      cwd: root,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    const keep = (chunk: Buffer): void => {
      output += chunk.toString();
      appendFileSync(logFile, chunk);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    const timer = setTimeout(() => child.kill('SIGKILL'), SCRIPT_TIMEOUT_MS);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve();
      else reject(new Error(`scripts/${script} ${args.join(' ')} failed (${signal ?? `exit ${code}`}): ${output.trim().split('\n').slice(-3).join(' | ')}`));
    });
  });
}

export class SingleBroker implements Brokers {
  readonly kind = 'single' as const;
  readonly nodes = [1];
  readonly replicationFactor = 1;
  readonly topicConfig = {};
  readonly bootstrap: string;
  readonly logs: string;
  readonly #root: string;
  readonly #env: Record<string, string>;
  readonly #scriptLog: string;
  readonly #log: Log;
  readonly #ports: readonly number[];
  #started = false;

  constructor(root: string, runDir: string, port: number, controllerPort: number, log: Log) {
    this.#root = root;
    const dataDir = path.join(runDir, 'kafka');
    this.#env = { KAFKA_PORT: String(port), KAFKA_CONTROLLER_PORT: String(controllerPort), KAFKA_DATA_DIR: dataDir };
    this.#ports = [port, controllerPort];
    this.bootstrap = `127.0.0.1:${port}`;
    this.logs = path.join(dataDir, 'server.log');
    this.#scriptLog = path.join(runDir, 'broker-scripts.log');
    this.#log = log;
  }

  async start(): Promise<void> {
    for (const port of this.#ports) {
      if (await portOpen(port)) {
        throw new Error(`127.0.0.1:${port} is already in use (a broker left by an earlier run?); choose other ports with --broker-port/--controller-port`);
      }
    }
    this.#started = true;
    this.#log(`starting the run's broker on ${this.bootstrap} (data ${this.#env.KAFKA_DATA_DIR})`);
    await runScript(this.#root, this.#scriptLog, 'start_infra.sh', [], this.#env);
  }

  async restart(_node: number, downMs: number, how: 'stop' | 'kill'): Promise<void> {
    if (how === 'kill') throw new Error('the single broker is restarted with stop_infra.sh only');
    await runScript(this.#root, this.#scriptLog, 'stop_infra.sh', [], this.#env);
    await new Promise((resolve) => setTimeout(resolve, downMs));
    await runScript(this.#root, this.#scriptLog, 'start_infra.sh', [], this.#env);
  }

  async stop(): Promise<void> {
    if (!this.#started) return;
    await runScript(this.#root, this.#scriptLog, 'stop_infra.sh', [], this.#env);
    this.#started = false;
  }

  stopSync(): void {
    if (!this.#started) return;
    spawnSync('bash', [path.join(this.#root, 'scripts', 'stop_infra.sh')], { env: { ...process.env, ...this.#env }, stdio: 'ignore', timeout: 60_000 });
    this.#started = false;
  }
}

/**
 * The 3-node cluster of scripts/start_cluster.sh: every node broker and controller, node N's
 * broker on base+N-1 with broker id N. Topics get replication factor 3 and min.insync.replicas 2.
 */
export class Cluster implements Brokers {
  readonly kind = 'cluster' as const;
  readonly nodes = [1, 2, 3];
  readonly replicationFactor = 3;
  readonly topicConfig = { 'min.insync.replicas': '2' };
  readonly bootstrap: string;
  readonly logs: string;
  readonly #root: string;
  readonly #env: Record<string, string>;
  readonly #scriptLog: string;
  readonly #log: Log;
  readonly #basePort: number;
  #started = false;

  constructor(root: string, runDir: string, basePort: number, log: Log) {
    this.#root = root;
    const dataDir = path.join(runDir, 'cluster');
    this.#env = { CLUSTER_BASE_PORT: String(basePort), CLUSTER_DATA_DIR: dataDir };
    this.#basePort = basePort;
    this.bootstrap = this.nodes.map((n) => `127.0.0.1:${basePort + n - 1}`).join(',');
    this.logs = path.join(dataDir, 'node-N', 'server.log');
    this.#scriptLog = path.join(runDir, 'broker-scripts.log');
    this.#log = log;
  }

  async start(): Promise<void> {
    for (const n of this.nodes) {
      for (const port of [this.#basePort + n - 1, this.#basePort + 10 + n - 1]) {
        if (await portOpen(port)) throw new Error(`127.0.0.1:${port} is already in use; choose another --cluster-base-port`);
      }
    }
    this.#started = true;
    this.#log(`starting the run's 3-node cluster on ${this.bootstrap} (data ${this.#env.CLUSTER_DATA_DIR})`);
    await runScript(this.#root, this.#scriptLog, 'start_cluster.sh', [], this.#env);
  }

  async restart(node: number, downMs: number, how: 'stop' | 'kill'): Promise<void> {
    const args = ['--node', String(node), ...(how === 'kill' ? ['--kill'] : [])];
    await runScript(this.#root, this.#scriptLog, 'stop_cluster.sh', args, this.#env);
    await new Promise((resolve) => setTimeout(resolve, downMs));
    await runScript(this.#root, this.#scriptLog, 'start_cluster.sh', ['--node', String(node)], this.#env);
  }

  async stop(): Promise<void> {
    if (!this.#started) return;
    await runScript(this.#root, this.#scriptLog, 'stop_cluster.sh', [], this.#env);
    this.#started = false;
  }

  stopSync(): void {
    if (!this.#started) return;
    spawnSync('bash', [path.join(this.#root, 'scripts', 'stop_cluster.sh')], { env: { ...process.env, ...this.#env }, stdio: 'ignore', timeout: 90_000 });
    this.#started = false;
  }
}
