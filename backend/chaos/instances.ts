/**
 * Instances of the real service (`node backend/src/main.ts`), each a child process with its own
 * port, state folder and log file, and the signals the nemesis sends them. An exit the runner did
 * not cause (a signal it never sent, an exit on its own) is a crash.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { appendFileSync, closeSync, mkdirSync, openSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import type { RunClock } from './util.ts';
import { sleep } from './util.ts';

/** Settings of the service that must come from the runner only, never from the caller's shell. */
const SERVICE_VARIABLES = [
  'KAFKA_BROKERS', 'PORT', 'HOST', 'API_TOKEN', 'CORS_ORIGINS', 'ADVERTISED_URL', 'PROCESSING_GUARANTEE', 'COMMIT_INTERVAL_MS',
  'PUNCTUATE_INTERVAL_MS', 'DRAIN_SLICE_SIZE', 'MAX_BUFFER_PER_KEY', 'MAX_EVENT_BYTES', 'STATE_DIR', 'APPLICATION_ID',
  'EVENT_PAUSE_CONFIG', 'LOG_LEVEL', 'NODE_OPTIONS', 'NODE_TEST_CONTEXT',
];

export type Guarantee = 'exactly_once' | 'at_least_once';

export interface InstanceOptions {
  readonly root: string;
  readonly runDir: string;
  readonly bootstrap: string;
  readonly configFile: string;
  readonly guarantee: Guarantee;
  readonly logLevel: string;
  readonly basePort: number;
  readonly clock: RunClock;
  /** Called when an instance ends in a way the runner did not cause. */
  readonly onCrash: (instance: Instance, detail: string) => void;
}

export interface Exit {
  readonly at: number;
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export class Instance {
  readonly name: string;
  readonly port: number;
  readonly stateDir: string;
  readonly logFile: string;
  readonly url: string;
  child: ChildProcess | undefined;
  incarnation = 0;
  /** The terminating signal the runner sent this incarnation, if any. */
  sent: 'SIGKILL' | 'SIGTERM' | undefined;
  frozen = false;
  /** Became ready (GET /ready 200) since its last start. */
  ready = false;
  exit: Promise<Exit> | undefined;
  exited: Exit | undefined;
  /** Removed by the nemesis for good: not restarted, not expected at the end. */
  retired = false;
  /** Offset in its log file where the current incarnation starts. */
  logStart = 0;

  constructor(name: string, port: number, stateDir: string, logFile: string) {
    this.name = name;
    this.port = port;
    this.stateDir = stateDir;
    this.logFile = logFile;
    this.url = `http://127.0.0.1:${port}`;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get running(): boolean {
    return this.child !== undefined && this.exited === undefined;
  }

  /** Up and neither frozen nor told to stop: fit to take API calls and faults. */
  get usable(): boolean {
    return this.running && !this.frozen && this.sent === undefined;
  }

  #text(): string {
    return readFileSync(this.logFile).subarray(this.logStart).toString('utf8');
  }

  /** The last lines this incarnation wrote to its log. */
  tail(lines = 15): string[] {
    try {
      return this.#text().split('\n').filter((line) => line.trim() !== '').slice(-lines);
    } catch {
      return [];
    }
  }

  /** Lines of this incarnation's log that match. */
  grep(pattern: RegExp, max = 10): string[] {
    try {
      return this.#text().split('\n').filter((line) => pattern.test(line)).slice(-max);
    } catch {
      return [];
    }
  }
}

export class Instances {
  readonly #o: InstanceOptions;
  readonly all: Instance[] = [];
  #next = 1;
  /** Set when the runner stops everything: exits after it are expected. */
  #closing = false;

  constructor(options: InstanceOptions) {
    this.#o = options;
  }

  /** Instances that are meant to be part of the group (not retired), running or not. */
  get members(): Instance[] {
    return this.all.filter((instance) => !instance.retired);
  }

  get running(): Instance[] {
    return this.all.filter((instance) => instance.running);
  }

  get usable(): Instance[] {
    return this.all.filter((instance) => instance.usable);
  }

  /** A new instance: a name, port and state folder of its own. */
  create(): Instance {
    const index = this.#next++;
    const name = `i${index}`;
    const instance = new Instance(
      name,
      this.#o.basePort + index,
      path.join(this.#o.runDir, 'state', name),
      path.join(this.#o.runDir, `${name}.log`),
    );
    mkdirSync(instance.stateDir, { recursive: true });
    this.all.push(instance);
    return instance;
  }

  /** Starts (or starts again, same port and state folder) an instance's process. */
  start(instance: Instance): void {
    if (instance.running) throw new Error(`${instance.name} is already running`);
    const o = this.#o;
    const env: NodeJS.ProcessEnv = { ...process.env };
    for (const name of SERVICE_VARIABLES) delete env[name];
    Object.assign(env, {
      KAFKA_BROKERS: o.bootstrap,
      PORT: String(instance.port),
      HOST: '127.0.0.1',
      STATE_DIR: instance.stateDir,
      ADVERTISED_URL: instance.url,
      EVENT_PAUSE_CONFIG: o.configFile,
      PROCESSING_GUARANTEE: o.guarantee,
      LOG_LEVEL: o.logLevel,
    });
    instance.incarnation++;
    instance.sent = undefined;
    instance.frozen = false;
    instance.ready = false;
    instance.exited = undefined;
    instance.logStart = fileSize(instance.logFile);
    appendFileSync(instance.logFile, `--- chaos ${o.clock.rel()}: starting ${instance.name} (incarnation ${instance.incarnation}, state ${instance.stateDir})\n`);
    const fd = openSync(instance.logFile, 'a');
    let child: ChildProcess;
    try {
      child = spawn(path.join(o.root, 'node_modules', '.bin', 'node'), ['backend/src/main.ts'], { cwd: o.root, env, stdio: ['ignore', fd, fd] });
    } finally {
      closeSync(fd);
    }
    instance.child = child;
    appendFileSync(instance.logFile, `--- chaos ${o.clock.rel()}: ${instance.name} pid ${child.pid}\n`);
    instance.exit = new Promise<Exit>((resolve) => {
      child.once('exit', (code, signal) => {
        const exit = { at: Date.now(), code, signal };
        if (instance.child === child) instance.exited = exit;
        appendFileSync(instance.logFile, `--- chaos ${o.clock.rel()}: ${instance.name} pid ${child.pid} exited (${signal ?? `code ${code}`})\n`);
        this.#judgeExit(instance, exit);
        resolve(exit);
      });
    });
  }

  #judgeExit(instance: Instance, exit: Exit): void {
    if (this.#closing) return;
    const how = exit.signal ?? `exit code ${exit.code}`;
    if (instance.sent === 'SIGKILL') {
      if (exit.signal === 'SIGKILL') return;
      this.#o.onCrash(instance, `ended with ${how} after the runner sent SIGKILL`);
      return;
    }
    if (instance.sent === 'SIGTERM') {
      // Exit code 0 (clean); code 1 or SIGKILL: the service's own shutdown deadline (main.ts kills
      // itself), noted by the nemesis; SIGTERM itself: before the service installed its handler.
      if (exit.code === 0 || exit.code === 1 || exit.signal === 'SIGKILL' || exit.signal === 'SIGTERM') return;
      this.#o.onCrash(instance, `ended with ${how} after SIGTERM`);
      return;
    }
    this.#o.onCrash(instance, `ended with ${how}; the runner sent no signal`);
  }

  /** Polls GET /ready until it answers 200, for at most `ms`. */
  async waitReady(instance: Instance, ms: number, signal?: AbortSignal): Promise<boolean> {
    const deadline = Date.now() + ms;
    while (Date.now() < deadline && instance.running && !signal?.aborted) {
      if ((await readiness(instance)).status === 200) {
        instance.ready = true;
        return true;
      }
      await sleep(500, signal);
    }
    return false;
  }

  signal(instance: Instance, sig: 'SIGKILL' | 'SIGTERM' | 'SIGSTOP' | 'SIGCONT'): void {
    if (!instance.running) return;
    appendFileSync(instance.logFile, `--- chaos ${this.#o.clock.rel()}: sending ${sig} to ${instance.name} pid ${instance.pid}\n`);
    if (sig === 'SIGKILL' || sig === 'SIGTERM') instance.sent = sig;
    if (sig === 'SIGSTOP') instance.frozen = true;
    if (sig === 'SIGCONT') instance.frozen = false;
    if (sig !== 'SIGCONT') instance.ready = false;
    instance.child!.kill(sig);
  }

  /** Stops every process at once (runner exit, Ctrl-C): thaw, then SIGKILL. */
  killAll(): void {
    this.#closing = true;
    for (const instance of this.running) {
      try {
        instance.child!.kill('SIGCONT');
        instance.child!.kill('SIGKILL');
      } catch {
        // already gone
      }
    }
  }

  /** Stops every process with SIGTERM and waits (end of a run); SIGKILL after `ms`. */
  async stopAll(ms: number): Promise<void> {
    this.#closing = true;
    const running = this.running;
    for (const instance of running) {
      if (instance.frozen) instance.child!.kill('SIGCONT');
      instance.child!.kill('SIGTERM');
    }
    const timer = setTimeout(() => this.killAll(), ms);
    await Promise.all(running.map((instance) => instance.exit));
    clearTimeout(timer);
  }
}

export interface Readiness {
  readonly status: number;
  readonly body: string;
}

/** GET /ready once (2 s deadline); status 0 when it did not answer. */
export async function readiness(instance: Instance): Promise<Readiness> {
  try {
    const response = await fetch(`${instance.url}/ready`, { signal: AbortSignal.timeout(2000) });
    return { status: response.status, body: (await response.text()).slice(0, 300) };
  } catch (error) {
    return { status: 0, body: (error as Error).message };
  }
}

function fileSize(file: string): number {
  try {
    return statSync(file).size;
  } catch {
    return 0;
  }
}
