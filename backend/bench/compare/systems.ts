/**
 * The systems the benchmark compares, each started as a process of its own on the same topics:
 * event-pause (the service, backend/src/main.ts), the raw pipe (raw-pipe.ts), and the Kafka
 * Streams peer (bench/kstreams, the same topology on Kafka Streams). Each reports ready in its
 * own way (GET /ready, a READY line); the harness measures them from outside.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { ProcessingGuarantee } from '../../src/config/config.ts';

export const ROOT = path.resolve(import.meta.dirname, '../../..');
const NODE = path.join(ROOT, 'node_modules/.bin/node');
export const PEER_JAR = path.join(ROOT, 'bench/kstreams/target/kstreams-peer.jar');

export interface FlowTopics {
  readonly main: string;
  readonly trigger: string;
  readonly status: string;
  readonly output: string;
  readonly dlq: string;
}

export type SystemKind = 'event-pause' | 'pipe' | 'kstreams';

export interface SystemSpec {
  readonly kind: SystemKind;
  readonly guarantee: ProcessingGuarantee;
  /** Kafka Streams stream threads. */
  readonly threads?: number;
  /** Kafka Streams buffer layout: seq (an entry per event) or list (the original's list per key). */
  readonly layout?: 'seq' | 'list';
}

export function systemName(spec: SystemSpec): string {
  const g = spec.guarantee === 'exactly_once' ? 'EOS' : 'ALO';
  switch (spec.kind) {
    case 'event-pause':
      return `event-pause ${g}`;
    case 'pipe':
      return `raw pipe ${g}`;
    case 'kstreams':
      return `Kafka Streams ${g} ${spec.threads ?? 1}t${spec.layout === 'list' ? ' list' : ''}`;
  }
}

export interface LaunchOptions {
  readonly bootstrap: string;
  readonly topics: FlowTopics;
  readonly partitions: number;
  /** Consumer group / application id. */
  readonly applicationId: string;
  readonly stateDir: string;
  /** Where the process's output goes. */
  readonly logDir: string;
  readonly commitIntervalMs: number;
  readonly sessionTimeoutMs: number;
  /** event-pause: the checkout whose service runs (default this one), for a before/after. */
  readonly root?: string;
}

export interface Running {
  readonly name: string;
  readonly pid: number;
  /** The consumer group whose committed offsets on `main` show its input progress. */
  readonly groupId: string;
  /** The topic its buffer changelog goes to (event-pause), when known. */
  readonly changelog: string | undefined;
  /** Resolves when the system says it is ready (performance.now()). */
  readonly ready: Promise<number>;
  readonly exited: Promise<number | null>;
  stop(timeoutMs?: number): Promise<void>;
  kill(): Promise<void>;
}

/** The event-pause flow id the bench configures; its changelog is `<applicationId>-bench-buffer-changelog`. */
export const FLOW_ID = 'bench';

export function eventPauseChangelog(applicationId: string): string {
  return `${applicationId}-${FLOW_ID}-buffer-changelog`;
}

let nextPort = 18_600 + Math.floor(Math.random() * 1000);

export function launch(spec: SystemSpec, options: LaunchOptions): Running {
  mkdirSync(options.logDir, { recursive: true });
  mkdirSync(options.stateDir, { recursive: true });
  const name = systemName(spec);
  const logFile = path.join(options.logDir, `${name.replace(/\W+/g, '-')}-${options.applicationId}.log`);
  const log = createWriteStream(logFile);
  const { topics } = options;
  let child: ChildProcess;
  let ready: Promise<number>;
  let groupId = options.applicationId;
  let changelog: string | undefined;

  switch (spec.kind) {
    case 'event-pause': {
      const flowsFile = path.join(options.stateDir, '..', `${options.applicationId}-flows.json`);
      writeFileSync(
        flowsFile,
        JSON.stringify({
          applicationId: options.applicationId,
          partitions: options.partitions,
          flows: [{ id: FLOW_ID, mainTopic: topics.main, triggerTopic: topics.trigger, statusTopic: topics.status, outputTopic: topics.output, dlqTopic: topics.dlq }],
        }),
      );
      const port = nextPort++;
      // As the launchers start it (scripts/service-env.sh): the same memory defaults.
      const semiSpace = (process.env.NODE_OPTIONS ?? '').includes('--max-semi-space-size') ? [] : ['--max-semi-space-size=8'];
      child = spawn(NODE, [...semiSpace, path.join(options.root ?? ROOT, 'backend/src/main.ts')], {
        env: {
          ...process.env,
          MALLOC_ARENA_MAX: process.env.MALLOC_ARENA_MAX ?? '2',
          KAFKA_BROKERS: options.bootstrap,
          EVENT_PAUSE_CONFIG: flowsFile,
          APPLICATION_ID: options.applicationId,
          PROCESSING_GUARANTEE: spec.guarantee,
          COMMIT_INTERVAL_MS: String(options.commitIntervalMs),
          STATE_DIR: options.stateDir,
          PORT: String(port),
          HOST: '127.0.0.1',
          LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'warn',
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      ready = pollReady(`http://127.0.0.1:${port}/ready`, child);
      groupId = `${options.applicationId}-${FLOW_ID}`;
      changelog = eventPauseChangelog(options.applicationId);
      break;
    }
    case 'pipe': {
      child = spawn(
        NODE,
        [path.join(import.meta.dirname, 'raw-pipe.ts'), '--bootstrap', options.bootstrap, '--input', topics.main, '--output', topics.output, '--group', options.applicationId, '--guarantee', spec.guarantee, '--commit-interval-ms', String(options.commitIntervalMs)],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      ready = readyLine(child);
      break;
    }
    case 'kstreams': {
      if (!existsSync(PEER_JAR)) throw new Error(`${PEER_JAR} is missing: bash bench/kstreams/build.sh`);
      const javaOptions = (process.env.KSTREAMS_JAVA_OPTS ?? '-Xms256m -Xmx2g').split(/\s+/).filter(Boolean);
      child = spawn(
        'java',
        [
          ...javaOptions,
          '-jar', PEER_JAR,
          '--bootstrap', options.bootstrap,
          '--application-id', options.applicationId,
          '--input', topics.main,
          '--trigger', topics.trigger,
          '--status', topics.status,
          '--output', topics.output,
          '--guarantee', spec.guarantee,
          '--threads', String(spec.threads ?? 1),
          '--state-dir', options.stateDir,
          '--commit-interval-ms', String(options.commitIntervalMs),
          '--buffer-layout', spec.layout ?? 'seq',
          // Stranded events drain as fast as the task loop allows, not one batch a second: the
          // drain comparison is then about the stores and the clients, not the punctuation period.
          '--drain-continue-ms', '1',
          '--prop', `session.timeout.ms=${options.sessionTimeoutMs}`,
          '--prop', `heartbeat.interval.ms=${Math.max(500, Math.floor(options.sessionTimeoutMs / 4))}`,
        ],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      ready = readyLine(child);
      break;
    }
  }
  child.stdout!.pipe(log, { end: false });
  child.stderr!.pipe(log, { end: false });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  void exited.then(() => log.end());
  const running: Running = {
    name,
    pid: child.pid!,
    groupId,
    changelog,
    ready: Promise.race([ready, exited.then((code) => Promise.reject(new Error(`${name} exited (${code}) before it was ready; log: ${logFile}`)))]),
    exited,
    async stop(timeoutMs = 30_000) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      await exited;
      clearTimeout(timer);
    },
    async kill() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGKILL');
      await exited;
    },
  };
  running.ready.catch(() => undefined);
  return running;
}

function readyLine(child: ChildProcess): Promise<number> {
  return new Promise((resolve) => {
    let seen = '';
    const onData = (chunk: Buffer): void => {
      seen += chunk.toString();
      if (/^READY$/m.test(seen)) {
        child.stdout!.off('data', onData);
        resolve(performance.now());
      }
      if (seen.length > 10_000) seen = seen.slice(-100);
    };
    child.stdout!.on('data', onData);
  });
}

async function pollReady(url: string, child: ChildProcess): Promise<number> {
  while (child.exitCode === null && child.signalCode === null) {
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(1000) });
      if (response.status === 200) return performance.now();
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return new Promise(() => undefined); // the exit rejects
}
