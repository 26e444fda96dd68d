/**
 * Measuring from outside, the same way for every system: an independent client reads the
 * read_committed end offsets of the output topic (rates from the first output record to the
 * last), the committed offsets of the system's consumer group (input progress), and a probe's
 * records on the output (latency of ACTIVE keys).
 */
import { randomBytes } from 'node:crypto';
import { type ClientAdmin, ClientConsumer, ClientProducer, type TopicPartition } from '../../src/engines/kafka/client.ts';
import { encodeEvent } from '../../src/model/wire.ts';
import { cpuSeconds } from './proc.ts';

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export function progress(message: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
}

export function partitionsOf(topic: string, count: number): TopicPartition[] {
  return Array.from({ length: count }, (_, partition) => ({ topic, partition }));
}

export async function endOffsets(admin: ClientAdmin, topic: string, partitions: number, readCommitted = true): Promise<number> {
  const ends = await admin.listOffsets(partitionsOf(topic, partitions), 'latest', readCommitted);
  return ends.reduce((sum, end) => sum + Math.max(0, end.offset), 0);
}

export interface Window {
  /** performance.now() of the first poll that saw output past the base. */
  readonly first: number;
  readonly last: number;
  readonly cpuFirst: number;
  readonly cpuLast: number;
  readonly count: number;
  readonly rate: number;
  /** CPU seconds per event over the window, in microseconds. */
  readonly cpuMicros: number;
}

/**
 * Waits until `topic` holds `count` more read_committed records than `base`, timing the window
 * from the first new record to the last, and the CPU `pid` used in it.
 */
export async function outputWindow(
  admin: ClientAdmin,
  topic: string,
  partitions: number,
  base: number,
  count: number,
  pid: number,
  label: string,
  timeoutMs = 1_800_000,
): Promise<Window> {
  const deadline = Date.now() + timeoutMs;
  let first: number | undefined;
  let cpuFirst = 0;
  let lastReport = Date.now();
  let seen = 0;
  let lastChange = Date.now();
  for (;;) {
    const total = (await endOffsets(admin, topic, partitions)) - base;
    const now = performance.now();
    const cpu = cpuSeconds(pid) ?? cpuFirst;
    if (total > seen) lastChange = Date.now();
    seen = total;
    if (first === undefined && total > 0) {
      first = now;
      cpuFirst = cpu;
    }
    if (total >= count && first !== undefined) {
      const seconds = (now - first) / 1000;
      return { first, last: now, cpuFirst, cpuLast: cpu, count, rate: count / Math.max(seconds, 0.001), cpuMicros: ((cpu - cpuFirst) / count) * 1e6 };
    }
    if (Date.now() > deadline) throw new Error(`${label}: ${total} of ${count} records on ${topic} after ${timeoutMs / 1000} s`);
    if (Date.now() - lastChange > 120_000) throw new Error(`${label}: no progress on ${topic} for 120 s (${total} of ${count})`);
    if (Date.now() - lastReport > 5000) {
      lastReport = Date.now();
      progress(`  ${label}: ${total.toLocaleString('en-US')} of ${count.toLocaleString('en-US')}`);
    }
    await sleep(20);
  }
}

/** Committed offsets of `groupId` on `topic`, summed (what the group has consumed for good). */
export class GroupProgress {
  readonly #consumer: ClientConsumer;
  readonly #partitions: TopicPartition[];

  private constructor(consumer: ClientConsumer, partitions: TopicPartition[]) {
    this.#consumer = consumer;
    this.#partitions = partitions;
  }

  static async open(bootstrap: string, groupId: string, topic: string, partitions: number): Promise<GroupProgress> {
    // Never subscribes: it only asks the group coordinator for the committed offsets.
    const consumer = new ClientConsumer({ 'bootstrap.servers': bootstrap, 'group.id': groupId, 'client.id': 'bench-progress', 'enable.auto.commit': false });
    await consumer.connect();
    return new GroupProgress(consumer, partitionsOf(topic, partitions));
  }

  async committed(): Promise<number> {
    const offsets = await this.#consumer.committed(this.#partitions, 10_000);
    return offsets.reduce((sum, o) => sum + Math.max(0, o.offset), 0);
  }

  /** Waits until the group has committed `count` offsets; returns performance.now() then. */
  async reach(count: number, label: string, timeoutMs = 3_600_000): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    let lastReport = Date.now();
    for (;;) {
      const done = await this.committed();
      if (done >= count) return performance.now();
      if (Date.now() > deadline) throw new Error(`${label}: ${done} of ${count} consumed after ${timeoutMs / 1000} s`);
      if (Date.now() - lastReport > 5000) {
        lastReport = Date.now();
        progress(`  ${label}: consumed ${done.toLocaleString('en-US')} of ${count.toLocaleString('en-US')}`);
      }
      await sleep(50);
    }
  }

  async close(): Promise<void> {
    await this.#consumer.disconnect();
  }
}

export interface Probe {
  /** Latencies (ms, produce to read_committed output) with the time each was sent (s since start). */
  readonly samples: { t: number; ms: number }[];
  readonly sent: number;
  /** Stops sending, waits up to `graceMs` for what was sent, returns the samples. */
  stop(graceMs?: number): Promise<{ t: number; ms: number }[]>;
}

/**
 * Sends events of ACTIVE `keys` to `main` at `perSecond` and times each until it shows on
 * `output` (read_committed). The events carry an id the probe recognises.
 */
export async function startProbe(bootstrap: string, main: string, output: string, partitions: number, keys: readonly string[], perSecond: number, startedAt = performance.now()): Promise<Probe> {
  const consumer = new ClientConsumer({ 'bootstrap.servers': bootstrap, 'group.id': `bench-probe-${randomBytes(4).toString('hex')}`, 'isolation.level': 'read_committed', 'enable.auto.commit': false });
  await consumer.connect();
  const producer = new ClientProducer({ 'bootstrap.servers': bootstrap, 'client.id': 'bench-probe', partitioner: 'murmur2_random', 'linger.ms': 0, 'enable.idempotence': true });
  await producer.connect();
  const admin = await import('../../src/engines/kafka/client.ts').then((m) => new m.ClientAdmin({ 'bootstrap.servers': bootstrap }));
  const ends = await admin.listOffsets(partitionsOf(output, partitions), 'latest', false);
  await admin.disconnect();
  consumer.assign(ends.map((end) => ({ topic: output, partition: end.partition, offset: Math.max(0, end.offset) })));

  const run = randomBytes(3).toString('hex');
  const marker = `"id":"probe-${run}-`;
  const sentAt = new Map<string, number>();
  const samples: { t: number; ms: number }[] = [];
  let sending = true;
  let reading = true;
  let sent = 0;
  const reader = (async () => {
    while (reading) {
      const { messages } = await consumer.consume(5000, 50);
      const now = performance.now();
      for (const message of messages) {
        const value = message.value;
        if (value === null || value === undefined || !value.includes(marker)) continue;
        const id = (JSON.parse(value.toString()) as { id: string }).id;
        const at = sentAt.get(id);
        if (at === undefined) continue;
        sentAt.delete(id);
        samples.push({ t: (at - startedAt) / 1000, ms: now - at });
      }
    }
  })();
  const writer = (async () => {
    const every = 1000 / perSecond;
    const begin = performance.now();
    for (let n = 0; sending; n++) {
      const id = `probe-${run}-${n}`;
      const at = performance.now();
      sentAt.set(id, at);
      producer.produce(main, undefined, Buffer.from(keys[n % keys.length]!), encodeEvent({ id, data: { probe: true }, timestamp: Date.now() }), Date.now(), []);
      sent++;
      producer.poll();
      const next = begin + (n + 1) * every;
      await sleep(Math.max(0, next - performance.now()));
    }
  })();
  return {
    samples,
    get sent() {
      return sent;
    },
    async stop(graceMs = 60_000) {
      sending = false;
      await writer;
      await producer.flush(30_000);
      const deadline = Date.now() + graceMs;
      while (sentAt.size > 0 && Date.now() < deadline) await sleep(50);
      reading = false;
      await reader;
      await consumer.disconnect();
      await producer.disconnect();
      if (sentAt.size > 0) progress(`  probe: ${sentAt.size} of ${sent} probe events never arrived`);
      return samples;
    },
  };
}

export function percentile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

export interface OrderAudit {
  /** Distinct workload events (`e-<i>`) seen on the output. */
  readonly distinct: number;
  /** Repeats of an event already seen (allowed under at_least_once only). */
  readonly repeats: number;
  /** Events that came out after a later event of the same key (never allowed). */
  readonly outOfOrder: number;
}

/**
 * Reads a whole output topic (read_committed) and checks rule 1 for the workload's events
 * (`e-<i>`, written in i order, so a key's events must come out in increasing i): counts distinct
 * events, repeats and order violations. The other records (probe events) are skipped.
 */
export async function auditOrder(bootstrap: string, admin: ClientAdmin, topic: string, partitions: number): Promise<OrderAudit> {
  const ends = await admin.listOffsets(partitionsOf(topic, partitions), 'latest', true);
  const open = new Map(ends.filter((end) => end.offset > 0).map((end) => [end.partition, end.offset]));
  const consumer = new ClientConsumer({ 'bootstrap.servers': bootstrap, 'group.id': `bench-audit-${randomBytes(4).toString('hex')}`, 'isolation.level': 'read_committed', 'enable.auto.commit': false, 'enable.partition.eof': true });
  await consumer.connect();
  consumer.assign([...open.keys()].map((partition) => ({ topic, partition, offset: 0 })));
  const last = new Map<string, number>();
  const seen = new Set<number>();
  let repeats = 0;
  let outOfOrder = 0;
  const marker = Buffer.from('"id":"e-');
  try {
    while (open.size > 0) {
      const { messages, eofs } = await consumer.consume(10_000, 200);
      // End of a partition (its last offset may be a transaction marker, never a message).
      for (const eof of eofs) if (eof.offset >= (open.get(eof.partition) ?? 0)) open.delete(eof.partition);
      for (const message of messages) {
        if (message.offset + 1 >= (open.get(message.partition) ?? Infinity)) open.delete(message.partition);
        const value = message.value;
        if (value === null || value === undefined) continue;
        const at = value.indexOf(marker);
        if (at < 0) continue;
        const id = Number.parseInt(value.subarray(at + marker.length, at + marker.length + 12).toString('latin1'), 10);
        const key = message.key?.toString() ?? '';
        if (seen.has(id)) {
          repeats++;
          continue;
        }
        seen.add(id);
        if (id < (last.get(key) ?? -1)) outOfOrder++;
        else last.set(key, id);
      }
    }
  } finally {
    await consumer.disconnect();
  }
  return { distinct: seen.size, repeats, outOfOrder };
}
