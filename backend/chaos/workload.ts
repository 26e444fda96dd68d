/**
 * The workload: events with a per-key sequence number at a steady rate, and pauses and resumes
 * all the time through every path an operator or a producer has: the HTTP API of a live
 * instance (one key, the original's /control endpoints, bulk waves) and direct writes to the
 * status and trigger topics (status then command, status only, command first, two commands,
 * tombstone), and quick pauses right after a resume (a late command must not release what the
 * newer pause holds). What it did is recorded per key, on the runner's clock, for the checker.
 *
 * Every control write carries its operation's id in its reason (`ep-reason: chaos#<id>`), and the
 * runner reads the status and trigger topics itself, so it sees when each write landed. A key gets
 * no new pause until its previous operation is settled (answered, or its writes seen, or the
 * instance that took it gone): a write that lands late can then never end a pause the checker
 * believes in. An operation that stays unsettled taints its key: later pauses of it are not checked.
 */
import type { Message } from './clients.ts';
import { ChaosReader, type ChaosProducer, type ErrorSampler } from './clients.ts';
import type { Instance, Instances } from './instances.ts';
import { Prng } from './prng.ts';
import type { RunClock } from './util.ts';
import { errorMessage, sleep, withDeadline } from './util.ts';

export interface FlowNames {
  readonly id: string;
  readonly main: string;
  readonly trigger: string;
  readonly status: string;
  readonly output: string;
  readonly dlq: string;
  readonly changelog: string;
  readonly partitions: number;
}

export type PausePath = 'api' | 'control-api' | 'topic' | 'bulk-api';
export type ResumePath =
  | 'api'
  | 'control-api'
  | 'bulk-api'
  | 'status+command'
  | 'status-only'
  | 'command-first'
  | 'two-commands'
  | 'tombstone'
  | 'final';

export type Outcome = 'pending' | 'ok' | 'failed' | 'ambiguous';

export interface ControlOp {
  readonly id: number;
  readonly action: 'pause' | 'resume';
  readonly path: PausePath | ResumePath;
  readonly keys: readonly string[];
  /** Runner clock: when the first write of the operation started. */
  readonly startAt: number;
  /** When it was acknowledged (API answered 202 / every delivery report in) or failed. */
  endAt: number | undefined;
  outcome: Outcome;
  /** No write of it can land later than what the runner has seen. */
  settled: boolean;
  instance: string | undefined;
  incarnation: number | undefined;
  error: string | undefined;
  /** Records of it seen on the status and trigger topics, per key. */
  readonly landed: Map<string, number>;
  /** Records it writes per key (API operations: PAUSED, or ACTIVE and a command). */
  readonly expectedPerKey: number;
}

/** A record the runner saw on the status or trigger topic. */
export interface ControlRecord {
  readonly topic: 'status' | 'trigger';
  readonly value: 'PAUSED' | 'ACTIVE' | 'tombstone' | 'RESUME' | 'other';
  readonly op: number | undefined;
  readonly partition: number;
  readonly offset: number;
  /** The record's timestamp (set by its producer) and when the runner received it. */
  readonly timestamp: number;
  readonly receivedAt: number;
}

export interface KeyHistory {
  readonly key: string;
  partition: number | undefined;
  /** Per sequence number: when it was handed to the producer, and its offset on the main topic. */
  readonly sentAt: number[];
  readonly offsets: number[];
  /** Control operations on this key, in the order they started (a key has one at a time). */
  readonly ops: ControlOp[];
  readonly controlRecords: ControlRecord[];
  /** Pauses acknowledged at or after this time are not checked (a write of unknown fate). */
  taintedFrom: number | undefined;
}

export interface WorkloadOptions {
  readonly seed: number;
  readonly flow: FlowNames;
  readonly keys: number;
  readonly events: number;
  readonly durationMs: number;
  /** Share of keys to hold paused at a time (besides bulk waves). */
  readonly pausedShare: number;
  readonly bulkWaveEveryMs: number;
  readonly bulkWaveKeys: readonly [number, number];
  readonly bootstrap: string;
  readonly eventsProducer: ChaosProducer;
  readonly controlProducer: ChaosProducer;
  readonly instances: Instances;
  readonly errors: ErrorSampler;
  readonly clock: RunClock;
}

/**
 * Long enough for the service to answer even while a broker is away (its writes time out and it
 * says so): an answer settles the operation, a timeout leaves its outcome unknown.
 */
const API_TIMEOUT_MS = 45_000;
/** An operation that is neither answered nor seen landing for this long taints its key. */
const UNSETTLED_LIMIT_MS = 120_000;
const MAX_OPS_IN_FLIGHT = 24;
/** Share of resumes followed at once (0-1.5 s) by a new pause of the same key. */
const REPAUSE_SHARE = 0.25;
const STATUS_PAUSED = Buffer.from(JSON.stringify('PAUSED'));
const STATUS_ACTIVE = Buffer.from(JSON.stringify('ACTIVE'));
const RESUME_COMMAND = Buffer.from('{"action":"RESUME"}');
const REASON_PREFIX = 'chaos#';

type KeyState = { kind: 'active' } | { kind: 'paused'; resumeAt: number; wave: number | undefined };

export class Workload {
  readonly #o: WorkloadOptions;
  readonly keys: string[];
  readonly histories = new Map<string, KeyHistory>();
  readonly ops: ControlOp[] = [];
  readonly #state = new Map<string, KeyState>();
  /** The key's operation in progress or not yet settled. */
  readonly #busy = new Map<string, ControlOp>();
  /** Keys to pause again right after their resume, and when. */
  readonly #repause = new Map<string, number>();
  readonly #eventsPrng: Prng;
  readonly #controlPrng: Prng;
  readonly #controlReader: ChaosReader;
  #nextOp = 1;
  #opsInFlight = 0;
  #produced = 0;
  #delivered = 0;
  readonly deliveryFailures: string[] = [];
  readonly inputOrderErrors: string[] = [];
  #controlStopped = false;
  #nextWaveAt = 0;
  #nextWave = 1;
  readonly #waves = new Map<number, string[]>();
  readonly stats = {
    pauses: new Map<string, number>(),
    resumes: new Map<string, number>(),
    failed: 0,
    ambiguous: 0,
    taintedKeys: 0,
    bulkWaves: 0,
  };

  constructor(options: WorkloadOptions) {
    this.#o = options;
    const width = String(options.keys - 1).length;
    this.keys = Array.from({ length: options.keys }, (_, i) => `k${String(i).padStart(width, '0')}`);
    for (const key of this.keys) {
      this.histories.set(key, { key, partition: undefined, sentAt: [], offsets: [], ops: [], controlRecords: [], taintedFrom: undefined });
      this.#state.set(key, { kind: 'active' });
    }
    this.#eventsPrng = Prng.derive(options.seed, 'events');
    this.#controlPrng = Prng.derive(options.seed, 'control');
    const f = options.flow;
    this.#controlReader = new ChaosReader(
      options.bootstrap,
      'chaos-control-reader',
      [{ topic: f.status, partitions: f.partitions }, { topic: f.trigger, partitions: f.partitions }],
      options.errors,
    );
  }

  get produced(): number {
    return this.#produced;
  }

  get delivered(): number {
    return this.#delivered;
  }

  get pausedKeys(): number {
    let paused = 0;
    for (const state of this.#state.values()) if (state.kind === 'paused') paused++;
    return paused;
  }

  get busyKeys(): number {
    return this.#busy.size;
  }

  async startReader(): Promise<void> {
    await this.#controlReader.connect();
    this.#controlReader.run((messages, receivedAt) => this.#onControlRecords(messages, receivedAt));
  }

  async stopReader(): Promise<void> {
    await this.#controlReader.stop();
  }

  /** Produces the events at a steady rate over the workload's duration; resolves when all are handed over. */
  async produceEvents(signal: AbortSignal): Promise<void> {
    const { events, durationMs, flow, eventsProducer } = this.#o;
    const rate = events / durationMs;
    const start = Date.now();
    while (this.#produced < events && !signal.aborted) {
      const due = Math.min(events, Math.floor((Date.now() - start) * rate) + 1);
      while (this.#produced < due) {
        const key = this.keys[this.#eventsPrng.int(0, this.keys.length - 1)]!;
        const history = this.histories.get(key)!;
        const seq = history.sentAt.length;
        const sentAt = Date.now();
        history.sentAt.push(sentAt);
        history.offsets.push(-1);
        const value = Buffer.from(JSON.stringify({ id: `${key}-${seq}`, data: { key, seq }, timestamp: sentAt }));
        this.#produced++;
        eventsProducer.send(flow.main, key, value).then(
          (delivery) => {
            this.#delivered++;
            history.offsets[seq] = delivery.offset;
            if (history.partition !== undefined && history.partition !== delivery.partition) {
              this.inputOrderErrors.push(`${key}: seq ${seq} went to partition ${delivery.partition}, earlier events to ${history.partition}`);
            }
            history.partition = delivery.partition;
          },
          (error: unknown) => {
            this.deliveryFailures.push(`${key}-${seq}: ${errorMessage(error)}`);
          },
        );
      }
      await sleep(10, signal);
    }
  }

  /** Events whose delivery report gave no offset (not judged by checkInputOrder). */
  unknownInputOffsets = 0;

  /** Checks that the main topic holds each key's events in sequence order (the runner's own side). */
  checkInputOrder(): void {
    // A delivery report may carry no offset (-1001): librdkafka acknowledges a retried batch the
    // broker had already written (a duplicate sequence, after a broker restart) without one.
    // Such events are skipped here; the output check still judges them by sequence number.
    for (const history of this.histories.values()) {
      let previous = -1;
      for (let seq = 0; seq < history.offsets.length; seq++) {
        const offset = history.offsets[seq]!;
        if (offset < 0) {
          this.unknownInputOffsets++;
          continue;
        }
        if (previous >= 0 && offset <= history.offsets[previous]!) {
          this.inputOrderErrors.push(`${history.key}: seq ${seq} at offset ${offset} not after seq ${previous} at ${history.offsets[previous]}`);
          break;
        }
        previous = seq;
      }
    }
  }

  /** Pauses and resumes keys until stopControl(); one tick every 100 ms. */
  async runControl(signal: AbortSignal): Promise<void> {
    this.#nextWaveAt = Date.now() + this.#o.bulkWaveEveryMs * (0.5 + this.#controlPrng.next() * 0.5);
    while (!this.#controlStopped && !signal.aborted) {
      this.#settleStale();
      this.#tick();
      await sleep(100, signal);
    }
  }

  stopControl(): void {
    this.#controlStopped = true;
  }

  #tick(): void {
    const now = Date.now();
    const rng = this.#controlPrng;
    // Resumes that are due, single keys and waves.
    for (const [wave, keys] of this.#waves) {
      const members = keys.filter((key) => {
        const state = this.#state.get(key)!;
        return state.kind === 'paused' && state.wave === wave;
      });
      const first = members[0] === undefined ? undefined : this.#state.get(members[0]);
      if (first?.kind !== 'paused') {
        this.#waves.delete(wave);
        continue;
      }
      if (first.resumeAt > now) continue;
      this.#waves.delete(wave);
      // Keys whose pause is not settled yet leave the wave and are resumed on their own later.
      const ready = members.filter((key) => !this.#busy.has(key));
      for (const key of members) if (this.#busy.has(key)) this.#state.set(key, { kind: 'paused', resumeAt: now, wave: undefined });
      if (ready.length === 0) continue;
      if (rng.chance(0.6)) this.#launch(() => this.#bulk('resume', ready));
      else for (const key of ready) this.#launch(() => this.#resume(key, this.#resumePath()));
    }
    for (const key of this.keys) {
      const state = this.#state.get(key)!;
      if (state.kind === 'paused' && state.wave === undefined && state.resumeAt <= now && !this.#busy.has(key)) {
        this.#launch(() => this.#resume(key, this.#resumePath()));
      }
    }
    // Quick pauses again after a resume.
    for (const [key, at] of this.#repause) {
      if (at > now || this.#busy.has(key)) continue;
      this.#repause.delete(key);
      if (this.#state.get(key)!.kind !== 'active') continue;
      const path = rng.weighted({ api: 40, topic: 60 } as const);
      this.#launch(() => this.#pause(key, path, rng.int(8000, 20_000)));
    }
    // New pauses, up to the share of keys to hold.
    const target = Math.round(this.keys.length * this.#o.pausedShare);
    for (let attempt = 0; attempt < 3 && this.#opsInFlight < MAX_OPS_IN_FLIGHT; attempt++) {
      if (this.pausedKeys + this.#busy.size >= target + this.#wavesSize()) break;
      const key = rng.pick(this.keys);
      if (this.#state.get(key)!.kind !== 'active' || this.#busy.has(key)) continue;
      const path = rng.weighted({ api: 35, 'control-api': 10, topic: 55 } as const);
      const hold = rng.chance(0.1) ? rng.int(25_000, 40_000) : rng.int(3000, 20_000);
      this.#launch(() => this.#pause(key, path, hold));
    }
    // Bulk pause waves through the API.
    if (now >= this.#nextWaveAt) {
      this.#nextWaveAt = now + this.#o.bulkWaveEveryMs * (0.7 + rng.next() * 0.6);
      const [min, max] = this.#o.bulkWaveKeys;
      const wanted = rng.int(min, max);
      const idle = this.keys.filter((key) => this.#state.get(key)!.kind === 'active' && !this.#busy.has(key));
      const keys = rng.shuffle(idle).slice(0, wanted).sort();
      if (keys.length > 0) {
        const hold = rng.int(5000, 15_000);
        this.#launch(() => this.#bulk('pause', keys, hold));
      }
    }
  }

  #wavesSize(): number {
    let size = 0;
    for (const keys of this.#waves.values()) size += keys.length;
    return size;
  }

  #resumePath(): ResumePath {
    return this.#controlPrng.weighted({
      api: 20,
      'control-api': 8,
      'status+command': 20,
      'status-only': 10,
      'command-first': 15,
      'two-commands': 12,
      tombstone: 15,
    } as const);
  }

  #launch(run: () => Promise<void>): void {
    this.#opsInFlight++;
    void run()
      .catch((error: unknown) => {
        // Operations record their own failures; this is a bug of the runner itself.
        process.stderr.write(`chaos: control operation failed unexpectedly: ${errorMessage(error)}\n`);
      })
      .finally(() => this.#opsInFlight--);
  }

  #newOp(action: 'pause' | 'resume', path: PausePath | ResumePath, keys: readonly string[], expectedPerKey: number): ControlOp {
    const op: ControlOp = {
      id: this.#nextOp++,
      action,
      path,
      keys,
      startAt: Date.now(),
      endAt: undefined,
      outcome: 'pending',
      settled: false,
      instance: undefined,
      incarnation: undefined,
      error: undefined,
      landed: new Map(),
      expectedPerKey,
    };
    this.ops.push(op);
    for (const key of keys) {
      this.histories.get(key)!.ops.push(op);
      this.#busy.set(key, op);
    }
    const counts = action === 'pause' ? this.stats.pauses : this.stats.resumes;
    counts.set(path, (counts.get(path) ?? 0) + keys.length);
    return op;
  }

  /** Ends an operation: acknowledged or failed now, settled now or later (ambiguous). */
  #finish(op: ControlOp, outcome: Outcome, error?: string): void {
    op.endAt = Date.now();
    op.outcome = outcome;
    op.error = error;
    if (outcome === 'failed') this.stats.failed++;
    if (outcome === 'ambiguous') this.stats.ambiguous++;
    else this.#settle(op);
  }

  #settle(op: ControlOp): void {
    if (op.settled) return;
    op.settled = true;
    for (const key of op.keys) if (this.#busy.get(key) === op) this.#busy.delete(key);
  }

  /** Ambiguous API operations: settled once their writes landed or their instance is gone. */
  #settleStale(): void {
    const now = Date.now();
    for (const op of this.#busy.values()) {
      if (op.settled || op.outcome !== 'ambiguous') continue;
      const instance = this.#o.instances.all.find((i) => i.name === op.instance);
      const gone = instance === undefined || instance.incarnation !== op.incarnation || (instance.exited !== undefined && now - instance.exited.at > 2000);
      const allLanded = op.keys.every((key) => (op.landed.get(key) ?? 0) >= op.expectedPerKey);
      if (gone || allLanded) {
        this.#settle(op);
      } else if (now - op.startAt > UNSETTLED_LIMIT_MS) {
        for (const key of op.keys) this.#taint(key, op.startAt);
        this.#settle(op);
      }
    }
  }

  #taint(key: string, from: number): void {
    const history = this.histories.get(key)!;
    if (history.taintedFrom === undefined) this.stats.taintedKeys++;
    history.taintedFrom = Math.min(history.taintedFrom ?? from, from);
  }

  async #pause(key: string, path: 'api' | 'control-api' | 'topic', holdMs: number): Promise<void> {
    const api = path !== 'topic' ? this.#pickInstance() : undefined;
    const actual = path !== 'topic' && api === undefined ? 'topic' : path;
    const op = this.#newOp('pause', actual, [key], 1);
    // Whatever happens, the key is treated as paused and resumed later: a failed or ambiguous
    // pause may still have been written.
    this.#state.set(key, { kind: 'paused', resumeAt: Date.now() + holdMs, wave: undefined });
    if (actual === 'topic') {
      await this.#writes(op, [{ topic: this.#o.flow.status, key, value: STATUS_PAUSED }]);
    } else {
      const flow = encodeURIComponent(this.#o.flow.id);
      const url = actual === 'api' ? `/api/v1/flows/${flow}/keys/${encodeURIComponent(key)}/pause` : `/control/${flow}/pause/${encodeURIComponent(key)}`;
      await this.#api(op, api!, url, actual === 'api' ? {} : undefined);
    }
  }

  async #resume(key: string, path: ResumePath): Promise<void> {
    const isApi = path === 'api' || path === 'control-api';
    const api = isApi ? this.#pickInstance() : undefined;
    const actual: ResumePath = isApi && api === undefined ? 'status+command' : path;
    const f = this.#o.flow;
    const active = { topic: f.status, key, value: STATUS_ACTIVE };
    const command = { topic: f.trigger, key, value: RESUME_COMMAND };
    const op = this.#newOp('resume', actual, [key], 2);
    let ok: boolean;
    switch (actual) {
      case 'api':
      case 'control-api': {
        const flow = encodeURIComponent(f.id);
        const url = actual === 'api' ? `/api/v1/flows/${flow}/keys/${encodeURIComponent(key)}/resume` : `/control/${flow}/resume/${encodeURIComponent(key)}`;
        ok = await this.#api(op, api!, url, actual === 'api' ? {} : undefined);
        break;
      }
      case 'status+command':
      case 'final':
        ok = await this.#writes(op, [active, command]);
        break;
      case 'status-only':
        ok = await this.#writes(op, [active]);
        break;
      case 'command-first':
        ok = await this.#writes(op, [command, active]);
        break;
      case 'two-commands':
        ok = await this.#writes(op, [active, command, command]);
        break;
      case 'tombstone':
        ok = await this.#writes(op, [{ topic: f.status, key, value: null }]);
        break;
      case 'bulk-api':
        throw new Error('bulk resumes go through #bulk');
    }
    this.#afterResume([key], ok);
  }

  #afterResume(keys: readonly string[], ok: boolean): void {
    for (const key of keys) {
      // A failed resume is tried again soon, by a topic path.
      this.#state.set(key, ok ? { kind: 'active' } : { kind: 'paused', resumeAt: Date.now() + 1000, wave: undefined });
      // Now and then the key is paused again at once: if its partition is behind (a takeover,
      // a restart), the resume command is processed after the newer PAUSED, which must hold.
      if (ok && !this.#controlStopped && this.#controlPrng.chance(REPAUSE_SHARE)) this.#repause.set(key, Date.now() + this.#controlPrng.int(0, 1500));
    }
  }

  async #bulk(action: 'pause' | 'resume', keys: string[], holdMs = 0): Promise<void> {
    const instance = this.#pickInstance();
    if (instance === undefined) {
      // No instance to ask: resume each key through the topics instead; skip the pause wave.
      if (action === 'resume') for (const key of keys) await this.#resume(key, 'status+command');
      return;
    }
    const op = this.#newOp(action, 'bulk-api', keys, action === 'pause' ? 1 : 2);
    let wave: number | undefined;
    if (action === 'pause') {
      wave = this.#nextWave++;
      this.stats.bulkWaves++;
      this.#waves.set(wave, keys);
      for (const key of keys) this.#state.set(key, { kind: 'paused', resumeAt: Date.now() + holdMs, wave });
    }
    const ok = await this.#api(op, instance, `/api/v1/flows/${encodeURIComponent(this.#o.flow.id)}/${action}`, { keys });
    if (action === 'resume') this.#afterResume(keys, ok);
  }

  #pickInstance(): Instance | undefined {
    const usable = this.#o.instances.usable;
    return usable.length === 0 ? undefined : this.#controlPrng.pick(usable);
  }

  /** One call to the HTTP API; true when it answered 202. */
  async #api(op: ControlOp, instance: Instance, url: string, body: object | undefined): Promise<boolean> {
    op.instance = instance.name;
    op.incarnation = instance.incarnation;
    const reason = `${REASON_PREFIX}${op.id}`;
    try {
      const response = await fetch(`${instance.url}${url}`, {
        method: 'POST',
        headers: { 'x-actor': 'chaos', 'x-reason': reason, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        body: body === undefined ? undefined : JSON.stringify({ ...body, reason, actor: 'chaos' }),
        signal: AbortSignal.timeout(API_TIMEOUT_MS),
      });
      const text = await response.text();
      if (response.status === 202) {
        this.#finish(op, 'ok');
        return true;
      }
      // The handler ran to its end: whatever it wrote has been written.
      this.#finish(op, 'failed', `${instance.name}: HTTP ${response.status} ${text.slice(0, 200)}`);
      return false;
    } catch (error) {
      const cause = (error as { cause?: { code?: string } }).cause?.code;
      if (cause === 'ECONNREFUSED') this.#finish(op, 'failed', `${instance.name}: connection refused`);
      else this.#finish(op, 'ambiguous', `${instance.name}: ${cause ?? errorMessage(error)}`);
      return false;
    }
  }

  /** Writes records one after another, each after the previous one's delivery; true when all were acknowledged. */
  async #writes(op: ControlOp, records: ReadonlyArray<{ topic: string; key: string; value: Buffer | null }>): Promise<boolean> {
    const headers = { 'ep-actor': 'chaos', 'ep-reason': `${REASON_PREFIX}${op.id}` };
    try {
      for (const record of records) {
        await withDeadline(this.#o.controlProducer.send(record.topic, record.key, record.value, headers), 70_000, `write to ${record.topic}`);
      }
      this.#finish(op, 'ok');
      return true;
    } catch (error) {
      // The producer gave up (its message timeout): the record landed before that, or never.
      this.#finish(op, 'failed', errorMessage(error));
      return false;
    }
  }

  #onControlRecords(messages: readonly Message[], receivedAt: number): void {
    const f = this.#o.flow;
    for (const message of messages) {
      const key = message.key === undefined || message.key === null ? undefined : message.key.toString();
      const history = key === undefined ? undefined : this.histories.get(key);
      if (history === undefined) continue;
      const topic = message.topic === f.status ? 'status' : 'trigger';
      let reason: string | undefined;
      for (const header of message.headers ?? []) {
        const value = header['ep-reason'];
        if (value !== undefined) reason = value.toString();
      }
      const opId = reason?.startsWith(REASON_PREFIX) ? Number(reason.slice(REASON_PREFIX.length)) : undefined;
      const text = message.value?.toString();
      const value =
        topic === 'trigger'
          ? text === RESUME_COMMAND.toString() ? 'RESUME' : 'other'
          : message.value === null || message.value === undefined || message.value.length === 0
            ? 'tombstone'
            : text === STATUS_PAUSED.toString() ? 'PAUSED' : text === STATUS_ACTIVE.toString() ? 'ACTIVE' : 'other';
      history.controlRecords.push({
        topic,
        value,
        op: opId,
        partition: message.partition,
        offset: message.offset,
        timestamp: message.timestamp ?? 0,
        receivedAt,
      });
      const op = opId === undefined ? undefined : this.ops[opId - 1];
      if (op !== undefined && key !== undefined) op.landed.set(key, (op.landed.get(key) ?? 0) + 1);
    }
  }

  /** Waits until no operation is in flight or unsettled; those left after `ms` taint their keys. */
  async settleAll(ms: number): Promise<void> {
    const deadline = Date.now() + ms;
    while ((this.#opsInFlight > 0 || this.#busy.size > 0) && Date.now() < deadline) {
      this.#settleStale();
      await sleep(200);
    }
    for (const op of [...this.#busy.values()]) {
      for (const key of op.keys) this.#taint(key, op.startAt);
      this.#settle(op);
    }
  }

  /** The end of the run: every key resumed through the topics (ACTIVE, then a command). */
  async resumeAll(): Promise<void> {
    await Promise.all(this.keys.map((key) => this.#resume(key, 'final')));
  }

  /** Events each key was sent (its sequence numbers are 0..n-1). */
  sentCount(key: string): number {
    return this.histories.get(key)!.sentAt.length;
  }
}
