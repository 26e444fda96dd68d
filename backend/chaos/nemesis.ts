/**
 * The nemesis: faults on a schedule drawn from the seed, one after another. kill -9 (restart with
 * the same state folder, or a fresh instance), SIGTERM (must exit within the service's shutdown
 * deadline), SIGSTOP past the session and transaction timeouts then SIGCONT (a zombie), adding
 * and removing instances, restarting a broker, and on a cluster killing a partition leader.
 */
import type { Brokers } from './broker.ts';
import { ChaosAdmin } from './clients.ts';
import type { Instance, Instances } from './instances.ts';
import { Prng } from './prng.ts';
import type { Log, RunClock } from './util.ts';
import { errorMessage, sleep, withDeadline } from './util.ts';
import type { Violation } from './checker.ts';

export type FaultKind = 'kill9' | 'kill9-fresh' | 'sigterm' | 'zombie' | 'add' | 'remove' | 'broker-restart' | 'leader-kill';
export const FAULT_KINDS: readonly FaultKind[] = ['kill9', 'kill9-fresh', 'sigterm', 'zombie', 'add', 'remove', 'broker-restart', 'leader-kill'];

export interface PlannedFault {
  readonly kind: FaultKind;
  /** Milliseconds after the workload started; later if the previous fault is still going on. */
  readonly at: number;
  /** Picks the target among the candidates at the time (0 <= pick < 1). */
  readonly pick: number;
  /** Zombie: how long frozen. kill -9 / SIGTERM: how long down. Broker: how long down. */
  readonly holdMs: number;
}

export interface FaultRecord {
  readonly kind: FaultKind;
  readonly planned: FaultKind;
  readonly startAt: number;
  endAt: number | undefined;
  target: string;
  detail: string;
}

/** The service's shutdown deadline (main.ts), and what the nemesis allows on top before calling it a hang. */
export const SHUTDOWN_DEADLINE_MS = 15_000;
const SHUTDOWN_MARGIN_MS = 5000;

const SLOW_FAULTS: ReadonlySet<FaultKind> = new Set(['broker-restart', 'leader-kill', 'zombie']);

export interface FaultPlanOptions {
  readonly seed: number;
  readonly count: number;
  /** Faults start within [startMs, endMs] of the workload. */
  readonly startMs: number;
  readonly endMs: number;
  /** Kinds that must appear at least this many times. */
  readonly required: Partial<Record<FaultKind, number>>;
  readonly weights: Partial<Record<FaultKind, number>>;
}

export function planFaults(o: FaultPlanOptions): PlannedFault[] {
  const rng = Prng.derive(o.seed, 'nemesis');
  // One of each required kind first, then the rest of the required ones, then drawn by weight;
  // a smaller count keeps as many different required kinds as it can.
  const required = Object.entries(o.required) as Array<[FaultKind, number]>;
  const kinds: FaultKind[] = required.filter(([, n]) => n > 0).map(([kind]) => kind);
  for (const [kind, n] of required) for (let i = 1; i < n; i++) kinds.push(kind);
  kinds.splice(o.count);
  const weights = Object.fromEntries(Object.entries(o.weights).filter(([, w]) => (w ?? 0) > 0)) as Record<FaultKind, number>;
  while (kinds.length < o.count) kinds.push(rng.weighted(weights));
  rng.shuffle(kinds);
  // A slow fault (a broker back after up to a minute, a 25 s freeze) never comes last, so that
  // the faults end close to the end of the workload.
  const quick = kinds.findIndex((kind) => !SLOW_FAULTS.has(kind));
  if (quick >= 0 && SLOW_FAULTS.has(kinds.at(-1)!)) [kinds[quick], kinds[kinds.length - 1]] = [kinds[kinds.length - 1]!, kinds[quick]!];
  const slot = (o.endMs - o.startMs) / kinds.length;
  return kinds.map((kind, i) => ({
    kind,
    at: Math.round(o.startMs + i * slot + rng.next() * slot * 0.3),
    pick: rng.next(),
    holdMs:
      kind === 'zombie' ? rng.int(20_000, 25_000)
      : kind === 'broker-restart' ? rng.int(1000, 5000)
      : kind === 'leader-kill' ? rng.int(3000, 10_000)
      : rng.int(1000, 5000),
  }));
}

export interface NemesisOptions {
  readonly instances: Instances;
  readonly brokers: Brokers;
  readonly mainTopic: string;
  readonly minInstances: number;
  readonly maxInstances: number;
  readonly clock: RunClock;
  readonly log: Log;
  readonly violation: (violation: Violation) => void;
  readonly warn: (line: string) => void;
}

export class Nemesis {
  readonly #o: NemesisOptions;
  readonly done: FaultRecord[] = [];
  current: FaultRecord | undefined;
  /** Background readiness watches of restarted instances (awaited at the end). */
  readonly #watches: Array<Promise<void>> = [];
  /** Aborted when the run stops: faults under way cut their waits short (a frozen instance is thawed). */
  #signal: AbortSignal | undefined;

  constructor(options: NemesisOptions) {
    this.#o = options;
  }

  async run(plan: readonly PlannedFault[], startedAt: number, signal: AbortSignal): Promise<void> {
    this.#signal = signal;
    for (const fault of plan) {
      const wait = startedAt + fault.at - Date.now();
      if (wait > 0) await sleep(wait, signal);
      if (signal.aborted) return;
      await this.#execute(fault);
      await sleep(3000, signal);
    }
  }

  /** Waits for the background watches of restarted instances (bounded by their own deadlines). */
  async settle(): Promise<void> {
    await Promise.all(this.#watches);
  }

  counts(): Map<FaultKind, number> {
    const counts = new Map<FaultKind, number>();
    for (const fault of this.done) counts.set(fault.kind, (counts.get(fault.kind) ?? 0) + 1);
    return counts;
  }

  async #execute(fault: PlannedFault): Promise<void> {
    const { instances } = this.#o;
    let kind = fault.kind;
    const members = instances.members.length;
    if (kind === 'add' && members >= this.#o.maxInstances) kind = 'remove';
    else if (kind === 'remove' && members <= this.#o.minInstances) kind = 'add';
    if (kind === 'leader-kill' && this.#o.brokers.kind === 'single') kind = 'broker-restart';
    const needsTarget = kind !== 'add' && kind !== 'broker-restart' && kind !== 'leader-kill';
    const target = needsTarget ? this.#target(fault.pick) : undefined;
    if (needsTarget && target === undefined) {
      this.#o.warn(`fault ${fault.kind} skipped: no running instance to target`);
      return;
    }
    const record: FaultRecord = { kind, planned: fault.kind, startAt: Date.now(), endAt: undefined, target: target?.name ?? (kind === 'add' ? 'new instance' : 'broker'), detail: '' };
    this.current = record;
    this.#o.log(`fault ${kind}${kind !== fault.kind ? ` (planned ${fault.kind})` : ''} on ${record.target}`);
    try {
      switch (kind) {
        case 'kill9':
        case 'kill9-fresh':
          await this.#kill9(record, target!, kind === 'kill9-fresh', fault.holdMs);
          break;
        case 'sigterm':
          await this.#sigterm(record, target!, true, fault.holdMs);
          break;
        case 'remove':
          await this.#sigterm(record, target!, false, 0);
          break;
        case 'zombie':
          await this.#zombie(record, target!, fault.holdMs);
          break;
        case 'add': {
          const added = instances.create();
          instances.start(added);
          record.target = added.name;
          record.detail = `added ${added.name} (port ${added.port})`;
          this.#watchReady(added, record);
          break;
        }
        case 'broker-restart':
          await this.#brokerRestart(record, fault, 'stop');
          break;
        case 'leader-kill':
          await this.#brokerRestart(record, fault, 'kill');
          break;
      }
    } catch (error) {
      record.detail += ` failed: ${errorMessage(error)}`;
      this.#o.warn(`fault ${kind} on ${record.target} failed: ${errorMessage(error)}`);
    }
    record.endAt = Date.now();
    this.done.push(record);
    this.current = undefined;
    this.#o.log(`fault ${kind} on ${record.target} done in ${((record.endAt - record.startAt) / 1000).toFixed(1)} s: ${record.detail}`);
  }

  /** A running instance, not frozen nor stopping; ready ones first. */
  #target(pick: number): Instance | undefined {
    const usable = this.#o.instances.usable;
    const ready = usable.filter((instance) => instance.ready);
    const candidates = ready.length > 0 ? ready : usable;
    return candidates.length === 0 ? undefined : candidates[Math.floor(pick * candidates.length)];
  }

  async #kill9(record: FaultRecord, target: Instance, fresh: boolean, downMs: number): Promise<void> {
    const { instances } = this.#o;
    const pid = target.pid;
    instances.signal(target, 'SIGKILL');
    await withDeadline(target.exit!, 10_000, `${target.name} exit after SIGKILL`);
    await sleep(downMs, this.#signal);
    if (fresh) {
      target.retired = true;
      const next = instances.create();
      instances.start(next);
      record.detail = `killed ${target.name} pid ${pid}; started fresh ${next.name} (new state folder) after ${downMs} ms`;
      this.#watchReady(next, record);
    } else {
      instances.start(target);
      record.detail = `killed pid ${pid}; restarted with the same state folder after ${downMs} ms`;
      this.#watchReady(target, record);
    }
  }

  /** SIGTERM: the instance must be gone within the service's shutdown deadline. */
  async #sigterm(record: FaultRecord, target: Instance, restart: boolean, downMs: number): Promise<void> {
    const { instances } = this.#o;
    const pid = target.pid;
    const sentAt = Date.now();
    instances.signal(target, 'SIGTERM');
    const exit = await withDeadline(target.exit!, SHUTDOWN_DEADLINE_MS + SHUTDOWN_MARGIN_MS, 'exit').catch(() => undefined);
    if (exit === undefined) {
      this.#o.violation({
        kind: 'shutdown-hang',
        message: `${target.name} (pid ${pid}) still running ${(SHUTDOWN_DEADLINE_MS + SHUTDOWN_MARGIN_MS) / 1000} s after SIGTERM (${this.#o.clock.rel(sentAt)}); killed with SIGKILL`,
        details: target.tail(12),
      });
      instances.signal(target, 'SIGKILL');
      await withDeadline(target.exit!, 10_000, `${target.name} exit after SIGKILL`);
      record.detail = `SIGTERM pid ${pid}: hung, SIGKILL`;
    } else {
      const took = exit.at - sentAt;
      record.detail = `SIGTERM pid ${pid}: exited (${exit.signal ?? `code ${exit.code}`}) after ${(took / 1000).toFixed(1)} s`;
      if (exit.code === 1 || exit.signal === 'SIGKILL') {
        // Within the deadline, but not a clean stop: the service ended itself (its shutdown
        // deadline, or a client call it gave up on).
        this.#o.warn(
          `shutdown forced: ${target.name} (pid ${pid}) did not stop cleanly after SIGTERM: ` +
            `${exit.signal === 'SIGKILL' ? 'it killed itself (SIGKILL)' : `exit code ${exit.code}`} after ${(took / 1000).toFixed(1)} s; ` +
            `its last lines: ${target.tail(4).map((l) => l.slice(0, 240)).join(' | ')}`,
        );
      }
    }
    if (!restart) {
      target.retired = true;
      record.detail += '; removed';
      return;
    }
    await sleep(downMs, this.#signal);
    instances.start(target);
    record.detail += `; restarted after ${downMs} ms`;
    this.#watchReady(target, record);
  }

  /** SIGSTOP past the session timeout (10 s) and the transaction timeout (10 s), then SIGCONT. */
  async #zombie(record: FaultRecord, target: Instance, holdMs: number): Promise<void> {
    const { instances } = this.#o;
    instances.signal(target, 'SIGSTOP');
    const frozenAt = Date.now();
    await sleep(holdMs, this.#signal);
    instances.signal(target, 'SIGCONT');
    record.detail = `SIGSTOP pid ${target.pid} for ${((Date.now() - frozenAt) / 1000).toFixed(1)} s, then SIGCONT`;
    this.#watchReady(target, record);
  }

  async #brokerRestart(record: FaultRecord, fault: PlannedFault, how: 'stop' | 'kill'): Promise<void> {
    const { brokers } = this.#o;
    let node = brokers.nodes[Math.floor(fault.pick * brokers.nodes.length)]!;
    if (how === 'kill') {
      // The leader of a partition of the main topic, asked of a fresh admin client.
      const admin = new ChaosAdmin(brokers.bootstrap, 'chaos-nemesis-admin');
      try {
        const [main] = await admin.describe([this.#o.mainTopic]);
        const leaders = (main?.leaders ?? []).filter((leader) => leader >= 0);
        if (leaders.length > 0) node = leaders[Math.floor(fault.pick * leaders.length)]!;
      } finally {
        admin.disconnect();
      }
    }
    const started = Date.now();
    await brokers.restart(node, fault.holdMs, how);
    record.detail = `${how === 'kill' ? 'kill -9 of leader' : 'restart of'} broker ${node} (down ${fault.holdMs} ms), back after ${((Date.now() - started) / 1000).toFixed(1)} s`;
  }

  /** Notes (for the report) how long an instance takes to be ready again; the checker judges the end. */
  #watchReady(instance: Instance, record: FaultRecord): void {
    const since = Date.now();
    const incarnation = instance.incarnation;
    this.#watches.push(
      this.#o.instances.waitReady(instance, 120_000).then((ready) => {
        if (instance.incarnation !== incarnation) return;
        const after = ((Date.now() - since) / 1000).toFixed(1);
        if (ready) record.detail += `; ${instance.name} ready (GET /ready 200) ${after} s later`;
        else if (instance.running) record.detail += `; ${instance.name} NOT ready ${after} s later`;
      }),
    );
  }
}
