/**
 * A world for running the production runtime (FlowMember + StatusFollower, one pair per
 * "process") over the in-memory log adapter on virtual time: start, kill -9, freeze, stop
 * instances; write events, pauses and resumes; read the output. Used by the member tests and
 * the fault simulation.
 */
import path from 'node:path';
import { pino } from 'pino';
import { DEFAULT_MAX_EVENT_BYTES, parseFlowsFile, type FlowDefinition, type ProcessingGuarantee, type RuntimeSettings } from '../../src/config/config.ts';
import { EmbeddedCluster, type LogRecord } from '../../src/engines/embedded/cluster.ts';
import { MemoryBroker, MemoryLogClients, type PortFaults } from '../../src/engines/embedded/memory-log.ts';
import { createFlowTopics } from '../../src/engines/embedded/topics.ts';
import { FlowMember } from '../../src/engines/stream/flow-member.ts';
import type { FlowHandler } from '../../src/engines/stream/flow-tasks.ts';
import { StatusFollower } from '../../src/engines/stream/status-follower.ts';
import { decodeEvent, encodeEvent, encodeStatus, HEADERS, RESUME_COMMAND } from '../../src/model/wire.ts';
import { VirtualClock } from '../../src/runtime/clock.ts';
import type { ProcessorFactory } from '../../src/runtime/engine.ts';
import type { Header } from '../../src/runtime/ports.ts';
import { StatusTable } from '../../src/runtime/status-table.ts';
import { MemoryStoreFolders } from '../../src/stores/memory-buffer-store.ts';


export interface Instance {
  readonly name: string;
  readonly clients: MemoryLogClients;
  follower: StatusFollower;
  member: FlowMember;
  /** The instance's status table (the follower's). */
  table: StatusTable;
  started: Promise<void>;
  /** World.stop was called: a startup still retrying gives up rather than start again. */
  stopping: boolean;
}

export interface WorldOptions {
  readonly guarantee?: ProcessingGuarantee;
  readonly partitions?: number;
  readonly faults?: PortFaults;
  readonly runtime?: Partial<RuntimeSettings>;
  /** How far virtual time moves between two checks of `until` and `run` (default 10 ms). */
  readonly stepMs?: number;
  /** The FlowMember class to run (a planted bug's copy: runtime-mutants.ts). */
  readonly member?: typeof FlowMember;
  /** Each task's processor (default: the pause-aware processor). */
  readonly processor?: ProcessorFactory;
  /** Library mode: events go to this handler instead of the output topic. */
  readonly handler?: FlowHandler;
}

export class World {
  readonly clock = new VirtualClock(1_000_000);
  readonly cluster = new EmbeddedCluster({ clock: () => this.clock.now() });
  readonly broker = new MemoryBroker(this.cluster, this.clock, { pollMs: 1 });
  readonly flow: FlowDefinition;
  readonly runtime: RuntimeSettings;
  readonly instances = new Map<string, Instance>();
  /** The instances' disks: their stores by state folder (a restarted instance finds its own). */
  readonly disk = new MemoryStoreFolders();
  #stateDir: string;

  readonly #faults: PortFaults | undefined;
  /** Silent unless LOG_LEVEL is set; every line carries the virtual time (`vt`). */
  readonly #logger = pino({ level: process.env.LOG_LEVEL ?? 'silent', mixin: () => ({ vt: this.clock.now() }) });

  readonly #step: number;

  readonly #member: typeof FlowMember;
  readonly #processor: ProcessorFactory | undefined;
  readonly #handler: FlowHandler | undefined;

  constructor(options: WorldOptions = {}) {
    this.#step = options.stepMs ?? 10;
    this.#member = options.member ?? FlowMember;
    this.#processor = options.processor;
    this.#handler = options.handler;
    const guarantee = options.guarantee ?? 'exactly_once';
    this.flow = parseFlowsFile({ partitions: options.partitions ?? 4, flows: [{ id: 'm' }] }, 'test').flows[0]!;
    this.#stateDir = '/memory-world'; // folders of `disk`, never of the file system
    this.#faults = options.faults;
    this.runtime = {
      applicationId: 'memory-test',
      processingGuarantee: guarantee,
      commitIntervalMs: 100,
      punctuateIntervalMs: 1000,
      drainSliceSize: 3,
      maxBufferPerKey: 0,
      maxEventBytes: DEFAULT_MAX_EVENT_BYTES,
      statusMaxLagMs: 3000,
      stateDir: this.#stateDir,
      ...options.runtime,
    };
    createFlowTopics(this.cluster, this.flow);
  }

  /**
   * Starts an instance (the same name again: the same instance id and state folder). Like the
   * engine, it retries a failed startup (status table catch-up, first join) with new objects.
   */
  start(name: string): Instance {
    const clients = new MemoryLogClients(this.broker, name, this.#faults);
    const runtime = { ...this.runtime, stateDir: path.join(this.runtime.stateDir, name) };
    const log = this.#logger.child({ instance: name });
    const make = (): { follower: StatusFollower; member: FlowMember; table: StatusTable } => {
      const table = new StatusTable();
      const follower = new StatusFollower({ clients, flow: this.flow, partitions: this.flow.partitions, table, logger: log, clock: this.clock });
      const member = new this.#member({
        flow: this.flow,
        runtime,
        partitions: this.flow.partitions,
        clients,
        status: table,
        memberClientId: `http://${name}`,
        instanceId: name,
        sessionTimeoutMs: 6000,
        statusLagMs: () => follower.lag(),
        logger: log,
        clock: this.clock,
        openStore: (dir) => this.disk.open(dir),
        ...(this.#processor === undefined ? {} : { processor: this.#processor }),
        ...(this.#handler === undefined ? {} : { handler: this.#handler }),
        report: () => undefined,
        onCommit: () => undefined,
      });
      return { follower, member, table };
    };
    const instance: Instance = { name, clients, ...make(), started: Promise.resolve(), stopping: false };
    instance.started = (async () => {
      for (;;) {
        try {
          await instance.follower.start();
          if (instance.stopping) return;
          await instance.member.start();
          return;
        } catch (error) {
          log.warn({ err: error }, 'startup failed; retrying');
          await instance.member.stop().catch(() => undefined);
          await instance.follower.stop().catch(() => undefined);
          await this.clock.sleep(1000);
          if (clients.dead || instance.stopping) return;
          Object.assign(instance, make());
        }
      }
    })();
    this.instances.set(name, instance);
    return instance;
  }

  /** kill -9: nothing of the process runs again; its group membership expires with the session. */
  kill(name: string): void {
    this.instances.get(name)!.clients.kill();
    this.instances.delete(name);
  }

  async stop(name: string): Promise<void> {
    const instance = this.instances.get(name)!;
    let stopped = false;
    instance.stopping = true;
    void (async () => {
      await instance.member.stop();
      await instance.follower.stop();
      stopped = true;
    })();
    await this.until(`${name} stopped`, () => stopped);
    this.instances.delete(name);
  }

  /** Writes a record as a producer outside the instances would; wakes the consumers. */
  produce(topic: string, key: string | null, value: Buffer | null, headers: readonly Header[], timestamp = this.clock.now()): { partition: number; offset: number } {
    const written = this.cluster.produce({ topic, key: key === null ? null : Buffer.from(key, 'utf8'), value, headers, timestamp });
    this.broker.notifyAppend();
    return written;
  }

  /** Records on a topic, all partitions, in append order. */
  records(topic: string): LogRecord[] {
    const all: LogRecord[] = [];
    for (let p = 0; p < this.cluster.partitions(topic); p++) all.push(...this.cluster.read(topic, p, 0));
    return all.sort((a, b) => a.sequence - b.sequence);
  }

  topicCount(topic: string): number {
    let n = 0;
    for (let p = 0; p < this.cluster.partitions(topic); p++) n += this.cluster.endOffset(topic, p) - this.cluster.startOffset(topic, p);
    return n;
  }

  send(key: string, id: string): void {
    this.cluster.produce({ topic: this.flow.topics.main, key: Buffer.from(key), value: encodeEvent({ id, data: id }), headers: [], timestamp: this.clock.now() });
    this.broker.notifyAppend();
  }

  pause(key: string): void {
    this.cluster.produce({ topic: this.flow.topics.status, key: Buffer.from(key), value: encodeStatus('PAUSED'), headers: [], timestamp: this.clock.now() });
    this.broker.notifyAppend();
  }

  /** ACTIVE on the status topic only, no command: punctuation drains the key (rule 4). */
  activate(key: string): void {
    this.cluster.produce({ topic: this.flow.topics.status, key: Buffer.from(key), value: encodeStatus('ACTIVE'), headers: [], timestamp: this.clock.now() });
    this.broker.notifyAppend();
  }

  resume(key: string): void {
    // As the control plane writes them: the command names its ACTIVE record's offset, so that a
    // pause written after it outranks it even within the same millisecond.
    const active = this.cluster.produce({ topic: this.flow.topics.status, key: Buffer.from(key), value: encodeStatus('ACTIVE'), headers: [], timestamp: this.clock.now() });
    const named = [{ key: HEADERS.statusOffset, value: Buffer.from(String(active.offset)) }];
    this.cluster.produce({ topic: this.flow.topics.trigger, key: Buffer.from(key), value: RESUME_COMMAND, headers: named, timestamp: this.clock.now() });
    this.broker.notifyAppend();
  }

  /** Per key, the event ids on the output, in output order. */
  output(): Map<string, string[]> {
    const out = new Map<string, string[]>();
    for (let p = 0; p < this.flow.partitions; p++) {
      for (const record of this.cluster.read(this.flow.topics.output, p, 0)) {
        const key = record.key!.toString();
        const decoded = decodeEvent(record.value);
        if (!out.has(key)) out.set(key, []);
        out.get(key)!.push(decoded.ok ? decoded.value.id : '?');
      }
    }
    return out;
  }

  outputCount(): number {
    let n = 0;
    for (const ids of this.output().values()) n += ids.length;
    return n;
  }

  /** Moves virtual time in 10 ms steps until `done` holds (at most `limitMs` of virtual time). */
  async until(what: string, done: () => boolean | Promise<boolean>, limitMs = 120_000): Promise<void> {
    const deadline = this.clock.now() + limitMs;
    while (!(await done())) {
      if (this.clock.now() > deadline) throw new Error(`virtual time ran out waiting for ${what}`);
      await this.clock.advance(this.#step);
    }
  }

  async run(ms: number): Promise<void> {
    const end = this.clock.now() + ms;
    while (this.clock.now() < end) await this.clock.advance(Math.min(this.#step, end - this.clock.now()));
  }

  ready(name: string): boolean {
    return this.instances.get(name)?.member.ready === true;
  }

  /** Nothing on the file system to remove (the stores live in `disk`); kept for the tests' cleanup. */
  dispose(): void {}

  /** The committed input offsets of the group, all partitions of main. */
  committedMain(): number[] {
    return Array.from({ length: this.flow.partitions }, (_, p) => this.cluster.committed(`${this.runtime.applicationId}-${this.flow.id}`, this.flow.topics.main, p) ?? 0);
  }
}

