/**
 * The checker: it watches the output topic live with its own read_committed consumer (noting
 * when each record arrived), and after the quiet period judges what the service
 * did against SEMANTICS.md: per-key order (rule 1), pauses that hold (rule 2), no hanging
 * transaction, empty changelogs at rest, an empty DLQ, every instance alive and ready (rule 11).
 */
import type { Message } from './clients.ts';
import { type ChaosAdmin, ChaosReader, type ErrorSampler, readAll, type TopicPartitions } from './clients.ts';
import type { Guarantee, Instances } from './instances.ts';
import { readiness } from './instances.ts';
import type { RunClock } from './util.ts';
import { ranges, sleep } from './util.ts';
import type { FlowNames, KeyHistory } from './workload.ts';

/** What the workload sent, as the checks need it (the Workload, or a test's own data). */
export interface SentLog {
  readonly keys: readonly string[];
  readonly histories: ReadonlyMap<string, KeyHistory>;
  sentCount(key: string): number;
}

/** What came out, per key, in the order it was read. */
export interface ReceivedLog {
  readonly received: ReadonlyMap<string, readonly Received[]>;
}

export type ViolationKind =
  | 'order'
  | 'paused-release'
  | 'stall'
  | 'hanging-transaction'
  | 'changelog-not-empty'
  | 'dlq'
  | 'foreign-output'
  | 'not-ready'
  | 'instance-down'
  | 'crash'
  | 'shutdown-hang'
  | 'startup';

export interface Violation {
  readonly kind: ViolationKind;
  readonly message: string;
  readonly details?: readonly string[];
}

/** An event as it came out of the flow. */
export interface Received {
  readonly seq: number;
  readonly receivedAt: number;
  readonly partition: number;
  readonly offset: number;
}

/** A record is seen this long after its PAUSED was acknowledged before the pause must hold it. */
export const PAUSE_GRACE_MS = 5000;

/** The output topic, followed live: every event with the time the runner received it. */
export class OutputWatch {
  readonly #reader: ChaosReader;
  readonly received = new Map<string, Received[]>();
  /** Distinct sequence numbers received per key. */
  readonly #distinct = new Map<string, Set<number>>();
  #distinctTotal = 0;
  readonly #offsets = new Set<string>();
  /** Records on the topic (distinct offsets), and records the reader got again at a known offset. */
  total = 0;
  rereads = 0;
  readonly foreign: string[] = [];

  constructor(bootstrap: string, flow: FlowNames, errors: ErrorSampler) {
    this.#reader = new ChaosReader(bootstrap, 'chaos-output-reader', [{ topic: flow.output, partitions: flow.partitions }], errors);
  }

  async start(): Promise<void> {
    await this.#reader.connect();
    this.#reader.run((messages, receivedAt) => this.#onOutput(messages, receivedAt));
  }

  async stop(): Promise<void> {
    await this.#reader.stop();
  }

  /**
   * Reads the whole output again with a new reader, for `ms` at most: the live reader can stall
   * after a broker restart (its own connections, not the service's), and a stall verdict must
   * come from what is on the topic. Records already seen are skipped by offset.
   */
  async reread(bootstrap: string, flow: FlowNames, errors: ErrorSampler, until: () => boolean, ms: number): Promise<void> {
    const reader = new ChaosReader(bootstrap, 'chaos-output-reread', [{ topic: flow.output, partitions: flow.partitions }], errors);
    const deadline = Date.now() + ms;
    try {
      await reader.connect();
      while (!until() && Date.now() < deadline) {
        const messages = await reader.poll().catch(() => []);
        if (messages.length > 0) this.#onOutput(messages, Date.now());
      }
    } finally {
      await reader.stop();
    }
  }

  get distinct(): number {
    return this.#distinctTotal;
  }

  #onOutput(messages: readonly Message[], receivedAt: number): void {
    for (const message of messages) {
      // A record read twice at one offset is the reader's doing (a fetch position reset), not a
      // copy on the topic: only records at distinct offsets count.
      const at = `${message.partition}:${message.offset}`;
      if (this.#offsets.has(at)) {
        this.rereads++;
        continue;
      }
      this.#offsets.add(at);
      this.total++;
      const key = message.key?.toString();
      let data: { key?: unknown; seq?: unknown } | undefined;
      let id: unknown;
      try {
        const value = JSON.parse(message.value?.toString() ?? 'null') as { id?: unknown; data?: { key?: unknown; seq?: unknown } };
        data = value.data;
        id = value.id;
      } catch {
        data = undefined;
      }
      const seq = data?.seq;
      if (key === undefined || data?.key !== key || typeof seq !== 'number' || id !== `${key}-${seq}`) {
        if (this.foreign.length < 50) {
          this.foreign.push(`partition ${message.partition} offset ${message.offset}: key ${JSON.stringify(key)} value ${message.value?.toString().slice(0, 120)}`);
        }
        continue;
      }
      let list = this.received.get(key);
      if (list === undefined) this.received.set(key, (list = []));
      list.push({ seq, receivedAt, partition: message.partition, offset: message.offset });
      let seen = this.#distinct.get(key);
      if (seen === undefined) this.#distinct.set(key, (seen = new Set()));
      if (!seen.has(seq)) {
        seen.add(seq);
        this.#distinctTotal++;
      }
    }
  }

  /** Keys with sequence numbers not received yet, with what is missing. */
  missing(workload: SentLog): Array<{ key: string; partition: number | undefined; missing: number[] }> {
    const out = [];
    for (const key of workload.keys) {
      const sent = workload.sentCount(key);
      const seen = this.#distinct.get(key) ?? new Set<number>();
      if (seen.size >= sent) continue;
      const missing: number[] = [];
      for (let seq = 0; seq < sent; seq++) if (!seen.has(seq)) missing.push(seq);
      out.push({ key, partition: workload.histories.get(key)!.partition, missing });
    }
    return out;
  }
}

/** Rule 1: per key exactly 0..n-1 in order (after dropping repeats by id under at_least_once). */
export function checkOrder(workload: SentLog, watch: ReceivedLog, guarantee: Guarantee, clock: RunClock): Violation[] {
  const problems: string[] = [];
  let keysWithProblems = 0;
  for (const key of workload.keys) {
    const sent = workload.sentCount(key);
    const list = (watch.received.get(key) ?? []).map((r) => r.seq);
    const seen = new Set<number>();
    const repeats: number[] = [];
    const deduped: number[] = [];
    for (const seq of list) {
      if (seen.has(seq)) repeats.push(seq);
      else deduped.push(seq);
      seen.add(seq);
    }
    const keyProblems: string[] = [];
    if (guarantee === 'exactly_once' && repeats.length > 0) {
      const records = watch.received.get(key)!;
      const copies = records.filter((r) => r.seq === repeats[0]);
      keyProblems.push(
        `repeated seq ${ranges([...new Set(repeats)].sort((a, b) => a - b))} (${repeats.length} repeats); seq ${repeats[0]} at ` +
          copies.map((r) => `p${r.partition}@${r.offset} received ${clock.rel(r.receivedAt)}`).join(' and '),
      );
    }
    const unknown = deduped.filter((seq) => seq >= sent);
    if (unknown.length > 0) keyProblems.push(`seq never sent: ${ranges(unknown.sort((a, b) => a - b))}`);
    const inversion = deduped.findIndex((seq, i) => i > 0 && seq < deduped[i - 1]!);
    if (inversion > 0) {
      const at = watch.received.get(key)!.find((r, i) => i >= inversion && r.seq === deduped[inversion]);
      const before = watch.received.get(key)!.find((r) => r.seq === deduped[inversion - 1]);
      keyProblems.push(
        `inversion: seq ${deduped[inversion]} came after seq ${deduped[inversion - 1]}` +
          (at === undefined || before === undefined
            ? ''
            : ` (seq ${before.seq} at p${before.partition}@${before.offset} received ${clock.rel(before.receivedAt)}, seq ${at.seq} at p${at.partition}@${at.offset} received ${clock.rel(at.receivedAt)})`) +
          `; order received: ...${deduped.slice(Math.max(0, inversion - 4), inversion + 4).join(', ')}...`,
      );
    }
    // Gaps are reported by the stall check (seq never received); here: one received after a hole.
    const missing: number[] = [];
    for (let seq = 0; seq < sent; seq++) if (!seen.has(seq)) missing.push(seq);
    const max = deduped.length === 0 ? -1 : Math.max(...deduped);
    const holes = missing.filter((seq) => seq < max);
    if (holes.length > 0) keyProblems.push(`gap: seq ${ranges(holes)} missing while seq ${max} arrived`);
    if (keyProblems.length > 0) {
      keysWithProblems++;
      problems.push(`${key} (partition ${workload.histories.get(key)!.partition}, ${sent} sent, ${list.length} received): ${keyProblems.join('; ')}`);
    }
  }
  if (problems.length === 0) return [];
  return [{ kind: 'order', message: `${keysWithProblems} key(s) out of order on the output (${guarantee})`, details: problems }];
}

interface PauseWindow {
  readonly ack: number;
  readonly end: number;
  readonly pausePath: string;
  readonly pauseOp: number;
  readonly resumePath: string | undefined;
  readonly resumeOp: number | undefined;
}

/** Windows during which a key was paused: from a PAUSED acknowledged to the start of the next resume. */
export function pauseWindows(history: KeyHistory): PauseWindow[] {
  const windows: PauseWindow[] = [];
  let open: { ack: number; path: string; op: number } | undefined;
  for (const op of history.ops) {
    if (op.action === 'pause' && op.outcome === 'ok' && open === undefined) open = { ack: op.endAt!, path: op.path, op: op.id };
    if (op.action === 'resume' && open !== undefined) {
      windows.push({ ack: open.ack, end: op.startAt, pausePath: open.path, pauseOp: open.op, resumePath: op.path, resumeOp: op.id });
      open = undefined;
    }
  }
  if (open !== undefined) windows.push({ ack: open.ack, end: Infinity, pausePath: open.path, pauseOp: open.op, resumePath: undefined, resumeOp: undefined });
  return windows;
}

/**
 * Rule 2: an event sent at least PAUSE_GRACE_MS after a PAUSED was acknowledged, and before the
 * next resume was written, must not reach the output before that resume was written.
 */
export function checkPauses(workload: SentLog, watch: ReceivedLog, clock: RunClock): { violations: Violation[]; windows: number; checkedEvents: number; skippedWindows: number } {
  const problems: string[] = [];
  let released = 0;
  let windowsChecked = 0;
  let checkedEvents = 0;
  let skipped = 0;
  for (const history of workload.histories.values()) {
    const firstReceived = new Map<number, { receivedAt: number; partition: number; offset: number }>();
    for (const r of watch.received.get(history.key) ?? []) if (!firstReceived.has(r.seq)) firstReceived.set(r.seq, r);
    for (const window of pauseWindows(history)) {
      if (history.taintedFrom !== undefined && window.end > history.taintedFrom) {
        skipped++;
        continue;
      }
      windowsChecked++;
      const early: string[] = [];
      for (let seq = 0; seq < history.sentAt.length; seq++) {
        const sentAt = history.sentAt[seq]!;
        if (sentAt < window.ack + PAUSE_GRACE_MS || sentAt >= window.end) continue;
        checkedEvents++;
        const got = firstReceived.get(seq);
        if (got !== undefined && got.receivedAt < window.end) {
          released++;
          early.push(`seq ${seq} sent ${clock.rel(sentAt)}, received ${clock.rel(got.receivedAt)} (output p${got.partition}@${got.offset})`);
        }
      }
      if (early.length > 0) {
        const records = history.controlRecords
          .filter((r) => r.receivedAt >= window.ack - 30_000 && r.timestamp <= (Number.isFinite(window.end) ? window.end : Infinity))
          .map((r) => `${r.topic} ${r.value}${r.op === undefined ? '' : ` op#${r.op}`} p${r.partition}@${r.offset} ts ${clock.rel(r.timestamp)} read ${clock.rel(r.receivedAt)}`);
        problems.push(
          `${history.key} (input partition ${history.partition}): paused by op#${window.pauseOp} (${window.pausePath}) acknowledged ${clock.rel(window.ack)}, ` +
            `next resume op#${window.resumeOp ?? '-'} (${window.resumePath ?? 'none'}) written ${Number.isFinite(window.end) ? clock.rel(window.end) : 'never'}; ` +
            `${early.length} event(s) released early: ${early.slice(0, 5).join('; ')}${early.length > 5 ? '; ...' : ''}` +
            ` | control records around it: ${records.slice(-8).join(', ')}`,
        );
      }
    }
  }
  const violations: Violation[] =
    problems.length === 0
      ? []
      : [{ kind: 'paused-release', message: `${released} event(s) of paused keys reached the output before their resume was written`, details: problems }];
  return { violations, windows: windowsChecked, checkedEvents, skippedWindows: skipped };
}

/** Every partition's last stable offset (read_committed) equals its high watermark: no transaction left open. */
export async function checkTransactions(admin: ChaosAdmin, topics: readonly TopicPartitions[], waitMs: number): Promise<Violation[]> {
  const deadline = Date.now() + waitMs;
  let open: string[] = [];
  let lastError: string | undefined;
  for (;;) {
    try {
      const [stable, high] = await Promise.all([admin.endOffsets(topics, true), admin.endOffsets(topics, false)]);
      open = [...high].filter(([id, hw]) => stable.get(id) !== hw).map(([id, hw]) => `${id}: last stable offset ${stable.get(id)}, high watermark ${hw}`);
      lastError = undefined;
      if (open.length === 0) return [];
    } catch (error) {
      lastError = (error as Error).message;
    }
    if (Date.now() > deadline) break;
    await sleep(1000);
  }
  if (lastError !== undefined) return [{ kind: 'hanging-transaction', message: `could not read end offsets: ${lastError}` }];
  return [{ kind: 'hanging-transaction', message: `${open.length} partition(s) with an open transaction ${Math.round(waitMs / 1000)} s after the quiet period`, details: open }];
}

/** Changelogs at rest: folded by key, every key's latest value is a tombstone. */
export async function checkChangelog(
  bootstrap: string,
  admin: ChaosAdmin,
  flow: FlowNames,
  errors: ErrorSampler,
  waitMs: number,
): Promise<{ violations: Violation[]; records: number }> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    const messages = await readAll(bootstrap, 'chaos-changelog-check', [{ topic: flow.changelog, partitions: flow.partitions }], admin, errors, 60_000);
    const latest = new Map<string, Message>();
    for (const message of messages) latest.set(`${message.partition}:${message.key?.toString('hex') ?? ''}`, message);
    const live = [...latest.values()].filter((message) => message.value !== null && message.value !== undefined);
    if (live.length === 0) return { violations: [], records: messages.length };
    if (Date.now() > deadline) {
      return {
        records: messages.length,
        violations: [
          {
            kind: 'changelog-not-empty',
            message: `${live.length} changelog key(s) of ${flow.changelog} still hold a value after every key was resumed and drained`,
            details: live.slice(0, 20).map((m) => `p${m.partition}@${m.offset} key ${printable(m.key)} value ${printable(m.value)}`),
          },
        ],
      };
    }
    await sleep(2000);
  }
}

/** The DLQ holds nothing: the workload only sends valid records. */
export async function checkDlq(bootstrap: string, admin: ChaosAdmin, flow: FlowNames, errors: ErrorSampler): Promise<Violation[]> {
  const messages = await readAll(bootstrap, 'chaos-dlq-check', [{ topic: flow.dlq, partitions: flow.partitions }], admin, errors, 60_000);
  if (messages.length === 0) return [];
  const reasons = new Map<string, number>();
  for (const message of messages) {
    let reason = '?';
    for (const header of message.headers ?? []) if (header['ep-dlq-reason'] !== undefined) reason = header['ep-dlq-reason'].toString();
    reasons.set(reason, (reasons.get(reason) ?? 0) + 1);
  }
  return [
    {
      kind: 'dlq',
      message: `the DLQ holds ${messages.length} record(s): ${[...reasons].map(([r, n]) => `${r} ${n}`).join(', ')}`,
      details: messages.slice(0, 10).map((m) => {
        const headers = (m.headers ?? []).map((h) => Object.entries(h).map(([k, v]) => `${k}=${v.toString().slice(0, 100)}`).join(' ')).join(' ');
        return `p${m.partition}@${m.offset} key ${printable(m.key)}: ${headers}`;
      }),
    },
  ];
}

/** Rule 11 at the end: every instance that should be running is, and answers GET /ready with 200. */
export async function checkInstances(instances: Instances, waitMs: number): Promise<Violation[]> {
  const violations: Violation[] = [];
  await Promise.all(
    instances.members.map(async (instance) => {
      if (!instance.running) {
        violations.push({ kind: 'instance-down', message: `${instance.name} is not running at the end (${instance.exited?.signal ?? `exit ${instance.exited?.code}`})` });
        return;
      }
      if (await instances.waitReady(instance, waitMs)) return;
      const answer = await readiness(instance);
      violations.push({
        kind: 'not-ready',
        message: `${instance.name} (pid ${instance.pid}) not ready at the end: GET /ready answered ${answer.status === 0 ? 'nothing' : answer.status} ${answer.body}`,
        details: [...instance.grep(/"level":(50|60)/, 5), ...instance.tail(8)],
      });
    }),
  );
  return violations;
}

function printable(value: Buffer | string | null | undefined): string {
  if (value === null || value === undefined) return 'null';
  if (typeof value === 'string') return JSON.stringify(value.slice(0, 120));
  const text = value.toString('utf8');
  return /^[\x20-\x7e]*$/.test(text) ? JSON.stringify(text.slice(0, 120)) : `0x${value.toString('hex').slice(0, 64)}`;
}
