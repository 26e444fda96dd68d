/**
 * The scenario harness over the production runtime without a broker: one World (FlowMember and
 * StatusFollower per instance, over the in-memory log, on virtual time). The scenarios that run
 * on real Kafka (kafka-harness.ts) run here too, on the same code, in milliseconds:
 *   - a status write returns once every instance's table holds it (as the Kafka harness waits);
 *   - waitForOutput moves virtual time until the records are there, or fails at its deadline;
 *   - crash is kill -9 (the instance's uncommitted work is lost; its partitions move after its
 *     session times out), restart starts it again with the same state folder.
 */
import { decodeEvent, encodeEvent, encodeStatus, HEADERS, RESUME_COMMAND } from '../../src/model/wire.ts';
import type { Header, KeyStatus } from '../../src/runtime/ports.ts';
import type { HarnessFactory, OutRecord, ScenarioHarness, ScenarioOptions } from '../scenarios/harness.ts';
import { World } from './memory-world.ts';

export function memoryHarness(): HarnessFactory {
  return async () => new MemoryHarness();
}

class MemoryHarness implements ScenarioHarness {
  readonly engine = 'embedded';
  #world: World | undefined;
  /** Index = instance number; its name in the world while running, undefined while down. */
  readonly #instances: Array<string | undefined> = [];

  get flow() {
    return this.#started().flow;
  }

  async start(options: ScenarioOptions = {}): Promise<void> {
    this.#world = new World({
      guarantee: options.guarantee ?? 'exactly_once',
      partitions: options.partitions ?? 3,
      runtime: {
        commitIntervalMs: 100,
        punctuateIntervalMs: options.punctuateIntervalMs ?? 1000,
        drainSliceSize: options.drainSliceSize ?? 2000,
        maxBufferPerKey: options.maxBufferPerKey ?? 0,
      },
    });
    for (let i = 0; i < (options.instances ?? 1); i++) this.#instances.push(this.#launch(i));
    await this.#world.until('every instance ready', () => this.#live().every((name) => this.#world!.ready(name)), 60_000);
  }

  async sendEvent(key: string, id: string, extra: { data?: unknown; headers?: readonly Header[]; timestamp?: number } = {}): Promise<void> {
    const world = this.#started();
    const timestamp = extra.timestamp ?? world.clock.now();
    world.produce(this.flow.topics.main, key, encodeEvent({ id, data: extra.data ?? null, ...(extra.timestamp === undefined ? {} : { timestamp }) }), extra.headers ?? [], timestamp);
    await world.run(20);
  }

  async sendRaw(topic: 'main' | 'trigger', key: string | null, value: Buffer | null): Promise<void> {
    const world = this.#started();
    world.produce(this.flow.topics[topic], key, value, []);
    await world.run(20);
  }

  async setStatus(key: string, status: KeyStatus | null): Promise<void> {
    const world = this.#started();
    const written = world.produce(this.flow.topics.status, key, status === null ? null : encodeStatus(status), []);
    await world.until(`every instance sees the status of ${key}`, () =>
      this.#live().every((name) => (world.instances.get(name)?.table.history(key) ?? []).some((change) => change.offset >= written.offset)),
    );
  }

  async sendResume(key: string): Promise<void> {
    const world = this.#started();
    const latest = this.#live().map((name) => world.instances.get(name)?.table.latest(key)).find((change) => change !== undefined);
    const headers = latest === undefined ? [] : [{ key: HEADERS.statusOffset, value: Buffer.from(String(latest.offset)) }];
    world.produce(this.flow.topics.trigger, key, RESUME_COMMAND, headers);
    await world.run(20);
  }

  waitForOutput(count: number, timeoutMs = 30_000): Promise<OutRecord[]> {
    return this.#waitFor('output', this.flow.topics.output, count, timeoutMs);
  }

  waitForDeadLetters(count: number, timeoutMs = 30_000): Promise<OutRecord[]> {
    return this.#waitFor('dead-letter', this.flow.topics.dlq, count, timeoutMs);
  }

  async output(): Promise<OutRecord[]> {
    await this.#started().run(500); // what is under way commits
    return this.#records(this.flow.topics.output);
  }

  async elapse(ms: number): Promise<void> {
    await this.#started().run(ms);
  }

  async bufferCount(key: string): Promise<number> {
    const world = this.#started();
    const partition = world.cluster.partitionFor(this.flow.topics.main, Buffer.from(key, 'utf8'));
    let count: number | undefined;
    await world.until(`an instance owning the partition of ${key}`, () => {
      for (const name of this.#live()) {
        const task = world.instances.get(name)?.member.task(partition);
        if (task !== undefined) {
          count = task.store.count(key);
          return true;
        }
      }
      return false;
    });
    return count!;
  }

  async crash(index = 0): Promise<void> {
    this.#started().kill(this.#name(index));
    this.#instances[index] = undefined;
  }

  async restart(index = 0): Promise<void> {
    if (this.#instances[index] !== undefined) throw new Error(`instance ${index} is running`);
    this.#instances[index] = this.#launch(index);
  }

  async addInstance(): Promise<number> {
    this.#instances.push(this.#launch(this.#instances.length));
    return this.#instances.length - 1;
  }

  async stopInstance(index: number): Promise<void> {
    await this.#started().stop(this.#name(index));
    this.#instances[index] = undefined;
  }

  async close(): Promise<void> {
    const world = this.#world;
    if (world === undefined) return;
    for (const name of this.#live()) await world.stop(name).catch(() => world.kill(name));
    this.#instances.length = 0;
    world.dispose();
  }

  #launch(index: number): string {
    const name = `instance-${index}`;
    this.#started().start(name);
    return name;
  }

  async #waitFor(what: string, topic: string, count: number, timeoutMs: number): Promise<OutRecord[]> {
    const world = this.#started();
    try {
      await world.until(`${count} ${what} records`, () => world.topicCount(topic) >= count, timeoutMs);
    } catch {
      throw new Error(`expected at least ${count} ${what} records, got ${world.topicCount(topic)} within ${timeoutMs} ms of virtual time`);
    }
    return this.#records(topic);
  }

  #records(topic: string): OutRecord[] {
    const world = this.#started();
    return world.records(topic).map((r) => {
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

  #live(): string[] {
    return this.#instances.filter((name) => name !== undefined);
  }

  #name(index: number): string {
    const name = this.#instances[index];
    if (name === undefined) throw new Error(`instance ${index} is not running`);
    return name;
  }

  #started(): World {
    if (this.#world === undefined) throw new Error('start() the harness first');
    return this.#world;
  }
}
