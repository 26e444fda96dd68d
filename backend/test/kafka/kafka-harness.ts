/**
 * The scenario harness on a real broker. Each harness gets a fresh flow (its own topics and
 * application id); each instance is a child process (instance-main.ts) in the flow's consumer
 * group, so `crash()` is a real kill -9 and `stopInstance()` a real SIGTERM. Output is read
 * read_committed: under exactly-once, aborted or uncommitted writes are never seen.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { createWriteStream, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { once } from 'node:events';
import type { FlowDefinition } from '../../src/config/config.ts';
import type { ClientAdmin, ClientProducer } from '../../src/engines/kafka/client.ts';
import { decodeEvent, encodeEvent, encodeStatus, RESUME_COMMAND } from '../../src/model/wire.ts';
import type { EngineMetrics } from '../../src/runtime/engine.ts';
import type { Header, InputRecord, KeyStatus } from '../../src/runtime/ports.ts';
import type { HarnessFactory, OutRecord, ScenarioHarness, ScenarioOptions } from '../scenarios/harness.ts';
import { BROKERS, connectAdmin, createTopics, newFlow, randomId, sleep, type TestFlow, testProducer, TopicTail } from './support.ts';

const INSTANCE_MAIN = path.join(import.meta.dirname, 'instance-main.ts');
const READY_TIMEOUT_MS = 60_000;
/** The broker's minimum (group.min.session.timeout.ms): a crashed member is noticed soonest. */
export const TEST_SESSION_TIMEOUT_MS = 6000;

interface Instance {
  readonly index: number;
  readonly instanceId: string;
  readonly stateDir: string;
  readonly url: string;
  child: ChildProcess | undefined;
  exited: Promise<void> | undefined;
  /** How the last child exited. */
  exit?: { readonly code: number | null; readonly signal: NodeJS.Signals | null; readonly sentKill: boolean };
  sentKill?: boolean;
}

let requestIds = 0;

export class KafkaHarness implements ScenarioHarness {
  readonly engine = 'kafka' as const;
  #test: TestFlow = newFlow(3);
  #options: ScenarioOptions = {};
  readonly #dir = mkdtempSync(path.join(tmpdir(), 'ep-harness-'));
  readonly #instances: Instance[] = [];
  #admin: ClientAdmin | undefined;
  #producer: ClientProducer | undefined;
  #output: TopicTail | undefined;
  #dlq: TopicTail | undefined;
  #topicsCreated = false;

  get flow(): FlowDefinition {
    return this.#test.flow;
  }

  /** The instances' APPLICATION_ID (their consumer group is `<applicationId>-<flow>`). */
  get applicationId(): string {
    return this.#test.applicationId;
  }

  /** Where instance i writes its log (pino JSON). */
  logFile(index: number): string {
    return path.join(this.#dir, `instance-${index}.log`);
  }

  async start(options: ScenarioOptions = {}): Promise<void> {
    this.#options = options;
    const partitions = options.partitions ?? 3;
    if (partitions !== this.#test.flow.partitions) this.#test = newFlow(partitions);
    this.#admin = await connectAdmin();
    await createTopics(this.#admin, this.flow);
    this.#topicsCreated = true;
    this.#producer = await testProducer({ 'linger.ms': 0 });
    this.#output = new TopicTail(this.flow.topics.output, partitions);
    this.#dlq = new TopicTail(this.flow.topics.dlq, partitions);
    const count = options.instances ?? 1;
    for (let i = 0; i < count; i++) this.#instances.push(this.#newInstance(i));
    await Promise.all(this.#instances.map((instance) => this.#spawn(instance)));
  }

  async sendEvent(key: string, id: string, extra: { data?: unknown; headers?: readonly Header[]; timestamp?: number } = {}): Promise<void> {
    const value = encodeEvent({ id, data: extra.data ?? null, ...(extra.timestamp === undefined ? {} : { timestamp: extra.timestamp }) });
    await this.#send(this.flow.topics.main, key, value, extra.headers ?? [], extra.timestamp);
  }

  /** Many events of one key, in order, pipelined (the producer is idempotent: order holds). */
  async sendEvents(key: string, ids: readonly string[]): Promise<void> {
    const { producer } = this.#started();
    const keyBytes = Buffer.from(key);
    for (let i = 0; i < ids.length; i += 10_000) {
      await Promise.all(
        ids.slice(i, i + 10_000).map((id) => producer.send(this.flow.topics.main, undefined, keyBytes, encodeEvent({ id, data: null }), undefined, [])),
      );
    }
  }

  async sendRaw(topic: 'main' | 'trigger', key: string | null, value: Buffer | null): Promise<void> {
    await this.#send(topic === 'main' ? this.flow.topics.main : this.flow.topics.trigger, key, value, []);
  }

  /** Resolves once every running instance's status table has applied the write. */
  async setStatus(key: string, status: KeyStatus | null): Promise<void> {
    const { producer } = this.#started();
    const written = await producer.send(this.flow.topics.status, undefined, Buffer.from(key), status === null ? null : encodeStatus(status), undefined, []);
    const deadline = Date.now() + 15_000;
    for (const instance of this.#instances) {
      for (;;) {
        const child = instance.child;
        if (child === undefined) break;
        const seen = await request(child, { op: 'statusSeen', flowId: this.flow.id, key, partition: written.partition, offset: written.offset }).catch(() => false);
        if (seen === true) break;
        if (Date.now() > deadline) throw new Error(`instance ${instance.index} did not see the status of ${key} within 15 s`);
        await sleep(20);
      }
    }
  }

  async sendResume(key: string, extra: { headers?: readonly Header[]; timestamp?: number } = {}): Promise<void> {
    await this.#send(this.flow.topics.trigger, key, RESUME_COMMAND, extra.headers ?? [], extra.timestamp);
  }

  /** Writes a status record without waiting for any instance to see it; returns where it landed. */
  async writeStatus(key: string, status: KeyStatus | null): Promise<{ partition: number; offset: number }> {
    const written = await this.#started().producer.send(this.flow.topics.status, undefined, Buffer.from(key), status === null ? null : encodeStatus(status), undefined, []);
    return { partition: written.partition, offset: written.offset ?? -1 };
  }

  async #send(topic: string, key: string | null, value: Buffer | null, headers: readonly Header[], timestamp?: number): Promise<void> {
    await this.#started().producer.send(topic, undefined, key === null ? null : Buffer.from(key), value, timestamp, headers);
  }

  async waitForOutput(count: number, timeoutMs = 30_000): Promise<OutRecord[]> {
    return (await this.#started().output.waitFor(count, timeoutMs)).map(toOutRecord);
  }

  async waitForDeadLetters(count: number, timeoutMs = 30_000): Promise<OutRecord[]> {
    return (await this.#started().dlq.waitFor(count, timeoutMs)).map(toOutRecord);
  }

  async output(): Promise<OutRecord[]> {
    const { output, admin } = this.#started();
    return (await output.catchUp(admin)).map(toOutRecord);
  }

  async elapse(ms: number): Promise<void> {
    await sleep(ms);
  }

  /** Asks every live instance; the one owning the key's partition answers. */
  async bufferCount(key: string): Promise<number> {
    const deadline = Date.now() + 20_000;
    for (;;) {
      for (const instance of this.#instances) {
        if (instance.child === undefined) continue;
        const value = await request(instance.child, { op: 'bufferCount', flowId: this.flow.id, key }).catch(() => null);
        if (typeof value === 'number') return value;
      }
      if (Date.now() > deadline) throw new Error(`no instance owns the partition of key ${key}`);
      await sleep(200);
    }
  }

  async crash(index = 0): Promise<void> {
    const instance = this.#instance(index);
    instance.sentKill = true;
    instance.child?.kill('SIGKILL');
    await instance.exited;
  }

  /** SIGSTOP: the instance freezes (a zombie once its session and transaction time out). */
  freeze(index: number): void {
    this.#instance(index).child?.kill('SIGSTOP');
  }

  thaw(index: number): void {
    this.#instance(index).child?.kill('SIGCONT');
  }

  /** The instance's readiness as /ready would report it; undefined when it is not running. */
  async readiness(index: number): Promise<{ ready: boolean; reasons: string[] } | undefined> {
    const child = this.#instance(index).child;
    if (child === undefined) return undefined;
    return (await request(child, { op: 'readiness', flowId: this.flow.id })) as { ready: boolean; reasons: string[] };
  }

  /** How instance `index` last exited (undefined while it runs or never ran). */
  exitOf(index: number): { code: number | null; signal: NodeJS.Signals | null; sentKill: boolean } | undefined {
    return this.#instance(index).exit;
  }

  /** Exits of instances that died without being told to: by a signal not sent, or a non-zero code. */
  unexpectedExits(): string[] {
    const out: string[] = [];
    for (const instance of this.#instances) {
      const exit = instance.exit;
      if (exit === undefined || exit.sentKill) continue;
      if (exit.signal !== null || (exit.code !== 0 && exit.code !== null)) out.push(`instance ${instance.index}: code ${exit.code}, signal ${exit.signal}; log ${this.logFile(instance.index)}`);
    }
    return out;
  }

  async restart(index = 0): Promise<void> {
    const instance = this.#instance(index);
    if (instance.child !== undefined) throw new Error(`instance ${index} is running`);
    await this.#spawn(instance);
  }

  async addInstance(): Promise<number> {
    const instance = this.#newInstance(this.#instances.length);
    this.#instances.push(instance);
    await this.#spawn(instance);
    return instance.index;
  }

  async stopInstance(index: number): Promise<void> {
    const instance = this.#instance(index);
    const child = instance.child;
    if (child === undefined) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    await instance.exited;
    clearTimeout(timer);
  }

  /** The engine's metrics of a running instance (undefined when it is not running). */
  async metrics(index: number): Promise<EngineMetrics | undefined> {
    const child = this.#instance(index).child;
    if (child === undefined) return undefined;
    return (await request(child, { op: 'metrics', flowId: this.flow.id })) as EngineMetrics;
  }

  /** Partitions each live instance owns (for assertions on moves). */
  async localPartitions(): Promise<Map<number, number[]>> {
    const result = new Map<number, number[]>();
    for (const instance of this.#instances) {
      if (instance.child === undefined) continue;
      result.set(instance.index, (await request(instance.child, { op: 'localPartitions', flowId: this.flow.id })) as number[]);
    }
    return result;
  }

  async close(): Promise<void> {
    for (const instance of this.#instances) {
      instance.sentKill = true;
      instance.child?.kill('SIGCONT');
      instance.child?.kill('SIGKILL');
    }
    await Promise.all(this.#instances.map((instance) => instance.exited));
    await this.#output?.close();
    await this.#dlq?.close();
    await this.#producer?.disconnect();
    if (this.#admin !== undefined) {
      if (this.#topicsCreated) await this.#admin.deleteTopics(Object.values(this.flow.topics)).catch(() => undefined);
      this.#admin.disconnect();
    }
    if (process.env.EP_KEEP_LOGS === undefined) rmSync(this.#dir, { recursive: true, force: true });
  }

  #started(): { producer: ClientProducer; output: TopicTail; dlq: TopicTail; admin: ClientAdmin } {
    if (this.#producer === undefined || this.#output === undefined || this.#dlq === undefined || this.#admin === undefined) {
      throw new Error('harness not started');
    }
    return { producer: this.#producer, output: this.#output, dlq: this.#dlq, admin: this.#admin };
  }

  #instance(index: number): Instance {
    const instance = this.#instances[index];
    if (instance === undefined) throw new Error(`no instance ${index}`);
    return instance;
  }

  #newInstance(index: number): Instance {
    return {
      index,
      instanceId: randomId('i'),
      stateDir: path.join(this.#dir, `state-${index}`),
      url: `http://127.0.0.1:${19_100 + index}`,
      child: undefined,
      exited: undefined,
    };
  }

  async #spawn(instance: Instance): Promise<void> {
    const o = this.#options;
    const env: Record<string, string> = {
      ...(process.env as Record<string, string>),
      EVENT_PAUSE_CONFIG: this.#test.configFile,
      KAFKA_BROKERS: BROKERS,
      STATE_DIR: instance.stateDir,
      ADVERTISED_URL: instance.url,
      PROCESSING_GUARANTEE: o.guarantee ?? 'exactly_once',
      COMMIT_INTERVAL_MS: '100',
      PUNCTUATE_INTERVAL_MS: String(o.punctuateIntervalMs ?? 1000),
      DRAIN_SLICE_SIZE: String(o.drainSliceSize ?? 2000),
      MAX_BUFFER_PER_KEY: String(o.maxBufferPerKey ?? 0),
      STANDBY_REPLICAS: String(o.standbyReplicas ?? 0),
      EP_INSTANCE_ID: instance.instanceId,
      EP_SESSION_TIMEOUT_MS: String(o.sessionTimeoutMs ?? TEST_SESSION_TIMEOUT_MS),
      STATIC_MEMBERSHIP: String(o.staticMembership ?? false),
      LOG_LEVEL: process.env.LOG_LEVEL ?? 'info',
    };
    delete env.APPLICATION_ID;
    const child = fork(INSTANCE_MAIN, [], { env, execArgv: [], stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
    const log = createWriteStream(this.logFile(instance.index), { flags: 'a' });
    child.stderr!.pipe(log);
    instance.child = child;
    instance.sentKill = false;
    instance.exit = undefined;
    instance.exited = once(child, 'exit').then(([code, signal]) => {
      instance.exit = { code: code as number | null, signal: signal as NodeJS.Signals | null, sentKill: instance.sentKill === true };
      instance.child = undefined;
    });
    let stdout = '';
    const ready = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`instance ${instance.index} not READY within ${READY_TIMEOUT_MS} ms; log: ${this.logFile(instance.index)}`)), READY_TIMEOUT_MS);
      child.stdout!.on('data', (chunk: Buffer) => {
        stdout += chunk.toString();
        if (stdout.includes('READY ')) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`instance ${instance.index} exited with code ${code} before READY; log: ${this.logFile(instance.index)}`));
      });
    });
    await ready;
  }
}

function request(child: ChildProcess, message: { op: string; flowId: string; key?: string; partition?: number; offset?: number }): Promise<unknown> {
  const id = ++requestIds;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.off('message', onMessage);
      reject(new Error(`no answer to ${message.op}`));
    }, 5000);
    const onMessage = (reply: { id: number; value?: unknown; error?: string }): void => {
      if (reply.id !== id) return;
      clearTimeout(timer);
      child.off('message', onMessage);
      if (reply.error !== undefined) reject(new Error(reply.error));
      else resolve(reply.value);
    };
    child.on('message', onMessage);
    child.send({ id, ...message }, (error) => {
      if (error) {
        clearTimeout(timer);
        child.off('message', onMessage);
        reject(error);
      }
    });
  });
}

export function toOutRecord(message: InputRecord): OutRecord {
  const key = message.key;
  const decoded = decodeEvent(message.value);
  return {
    key: key === null ? null : key.toString(),
    value: message.value,
    headers: message.headers,
    timestamp: message.timestamp ?? 0,
    partition: message.partition,
    offset: message.offset,
    id: decoded.ok ? decoded.value.id : undefined,
  };
}

export const kafkaHarnessFactory: HarnessFactory = async () => new KafkaHarness();
