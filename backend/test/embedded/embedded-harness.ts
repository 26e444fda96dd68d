/**
 * The scenario harness on the embedded engine: one in-memory cluster, one runtime per instance,
 * a manual clock. Deterministic:
 *   - a send is processed at once (every instance steps until no input is pending; a drain goes
 *     on one slice per step, as between input batches in production);
 *   - reading the output (output, waitForOutput, waitForDeadLetters) lets the instances finish
 *     their drains and commit, without moving the clock: if the records are not there then, they
 *     never will be without time passing, so waitForOutput fails at once instead of waiting;
 *   - elapse moves the clock in steps of the commit interval, so commits and punctuations happen
 *     when they would in production;
 *   - crash drops an instance's tasks and uncommitted transaction; restart restores its tasks from
 *     the changelogs; instances share the cluster and its group moves partitions between them.
 */
import { DEFAULT_MAX_EVENT_BYTES, parseFlowsFile, type FlowDefinition } from '../../src/config/config.ts';
import { ManualClock } from '../../src/engines/embedded/clock.ts';
import { EmbeddedCluster, type LogRecord } from '../../src/engines/embedded/cluster.ts';
import { EmbeddedRuntime, type EmbeddedRuntimeSettings } from '../../src/engines/embedded/runtime.ts';
import { createFlowTopics } from '../../src/engines/embedded/topics.ts';
import { decodeEvent, encodeEvent, encodeStatus, RESUME_COMMAND } from '../../src/model/wire.ts';
import type { Header, KeyStatus } from '../../src/runtime/ports.ts';
import type { HarnessFactory, OutRecord, ScenarioHarness, ScenarioOptions } from '../scenarios/harness.ts';

let flows = 0;

export function embeddedHarness(): HarnessFactory {
  return async () => new EmbeddedHarness();
}

class EmbeddedHarness implements ScenarioHarness {
  readonly engine = 'embedded';
  readonly #clock = new ManualClock(1_700_000_000_000);
  readonly #cluster = new EmbeddedCluster({ clock: this.#clock.now });
  readonly #flowId = `scenario-${++flows}`;
  /** Index = instance number; undefined while crashed or stopped. */
  readonly #instances: Array<EmbeddedRuntime | undefined> = [];
  #flow: FlowDefinition | undefined;
  #settings: EmbeddedRuntimeSettings | undefined;

  get flow(): FlowDefinition {
    if (this.#flow === undefined) throw new Error('start() the harness first');
    return this.#flow;
  }

  async start(options: ScenarioOptions = {}): Promise<void> {
    this.#flow = parseFlowsFile({ partitions: options.partitions ?? 3, flows: [{ id: this.#flowId }] }, 'scenario').flows[0]!;
    this.#settings = {
      applicationId: `embedded-${this.#flowId}`,
      processingGuarantee: options.guarantee ?? 'exactly_once',
      commitIntervalMs: 100,
      punctuateIntervalMs: options.punctuateIntervalMs ?? 1000,
      drainSliceSize: options.drainSliceSize ?? 2000,
      maxBufferPerKey: options.maxBufferPerKey ?? 0,
      maxEventBytes: DEFAULT_MAX_EVENT_BYTES,
    };
    createFlowTopics(this.#cluster, this.#flow);
    for (let i = 0; i < (options.instances ?? 1); i++) this.#instances.push(this.#startInstance(i));
  }

  async sendEvent(key: string, id: string, extra: { data?: unknown; headers?: readonly Header[]; timestamp?: number } = {}): Promise<void> {
    const timestamp = extra.timestamp ?? this.#clock.now();
    this.#produce(this.flow.topics.main, key, encodeEvent({ id, data: extra.data, timestamp }), extra.headers ?? [], timestamp);
  }

  async sendRaw(topic: 'main' | 'trigger', key: string | null, value: Buffer | null): Promise<void> {
    this.#produce(this.flow.topics[topic], key, value, [], this.#clock.now());
  }

  async setStatus(key: string, status: KeyStatus | null): Promise<void> {
    this.#produce(this.flow.topics.status, key, status === null ? null : encodeStatus(status), [], this.#clock.now());
  }

  async sendResume(key: string): Promise<void> {
    this.#produce(this.flow.topics.trigger, key, RESUME_COMMAND, [], this.#clock.now());
  }

  async waitForOutput(count: number): Promise<OutRecord[]> {
    return this.#expect('output', this.flow.topics.output, count);
  }

  async waitForDeadLetters(count: number): Promise<OutRecord[]> {
    return this.#expect('dead-letter', this.flow.topics.dlq, count);
  }

  async output(): Promise<OutRecord[]> {
    this.#settle();
    return this.#records(this.flow.topics.output);
  }

  async elapse(ms: number): Promise<void> {
    const tick = this.#settings!.commitIntervalMs;
    for (let left = ms; left > 0; left -= tick) {
      this.#clock.advance(Math.min(tick, left));
      for (const runtime of this.#live()) runtime.runUntilIdle();
    }
  }

  async bufferCount(key: string): Promise<number> {
    const partition = this.#cluster.partitionFor(this.flow.topics.main, Buffer.from(key, 'utf8'));
    for (const runtime of this.#live()) {
      const store = runtime.buffer(this.flow.id, partition);
      if (store !== undefined) return store.count(key);
    }
    return 0;
  }

  async crash(instance = 0): Promise<void> {
    this.#instance(instance).crash();
    this.#instances[instance] = undefined;
  }

  async restart(instance = 0): Promise<void> {
    if (this.#instances[instance] !== undefined) throw new Error(`instance ${instance} is running`);
    this.#instances[instance] = this.#startInstance(instance);
  }

  async addInstance(): Promise<number> {
    this.#instances.push(this.#startInstance(this.#instances.length));
    return this.#instances.length - 1;
  }

  async stopInstance(instance: number): Promise<void> {
    this.#instance(instance).stop();
    this.#instances[instance] = undefined;
  }

  async close(): Promise<void> {
    for (const runtime of this.#live()) runtime.stop();
    this.#instances.length = 0;
  }

  #startInstance(index: number): EmbeddedRuntime {
    const runtime = new EmbeddedRuntime({
      cluster: this.#cluster,
      flows: [this.flow],
      settings: this.#settings!,
      clock: this.#clock.now,
      memberId: `instance-${index}`,
    });
    runtime.start();
    return runtime;
  }

  #produce(topic: string, key: string | null, value: Buffer | null, headers: readonly Header[], timestamp: number): void {
    this.#cluster.produce({ topic, key: key === null ? null : Buffer.from(key, 'utf8'), value, headers, timestamp });
    this.#pump();
  }

  /** Every instance takes what is pending for it (and folds new status records). */
  #pump(): void {
    for (const runtime of this.#live()) {
      runtime.pollStatus();
      while (runtime.hasPendingInput()) runtime.step();
    }
  }

  /** Lets drains finish and commits, without moving the clock. */
  #settle(): void {
    for (const runtime of this.#live()) {
      runtime.runUntilIdle();
      runtime.commit();
    }
  }

  #expect(what: string, topic: string, count: number): OutRecord[] {
    this.#settle();
    const records = this.#records(topic);
    if (records.length < count) {
      throw new Error(`expected at least ${count} ${what} records, the embedded engine is idle with ${records.length}`);
    }
    return records;
  }

  #records(topic: string): OutRecord[] {
    const all: LogRecord[] = [];
    for (let p = 0; p < this.#cluster.partitions(topic); p++) all.push(...this.#cluster.read(topic, p, 0));
    return all
      .sort((a, b) => a.sequence - b.sequence)
      .map((r) => {
        const event = decodeEvent(r.value);
        return {
          key: r.key?.toString('utf8') ?? null,
          value: r.value,
          headers: r.headers,
          timestamp: r.timestamp,
          partition: r.partition,
          offset: r.offset,
          id: event.ok ? event.value.id : undefined,
        };
      });
  }

  #live(): EmbeddedRuntime[] {
    return this.#instances.filter((runtime) => runtime !== undefined);
  }

  #instance(index: number): EmbeddedRuntime {
    const runtime = this.#instances[index];
    if (runtime === undefined) throw new Error(`instance ${index} is not running`);
    return runtime;
  }
}
