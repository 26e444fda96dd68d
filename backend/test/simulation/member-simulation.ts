/**
 * The fault simulation of the production runtime: FlowMember and StatusFollower (the code that
 * runs on Kafka) over the in-memory log adapter, on virtual time, with faults injected at the
 * port from the seed: aborted and ambiguous (timed-out after applying) commits, fenced offsets,
 * failing end-offset lookups, slow calls, deliveries that arrive late (or, killed, never),
 * partitions fetched late (some for seconds, as while a leader moves) or one after another rather
 * than in append order; and at the process level: kill -9 (also between a produce and its
 * commit), SIGSTOP past the session timeout (a zombie), instances added and stopped, every
 * instance down for a while, a broker restart that leaves an instance's clients stuck until
 * renewed. Then the faults stop and the checker judges:
 *   order     per key exactly the events sent, in order (at_least_once: after dropping repeats);
 *   paused    no event sent while its key was paused (PAUSED written >= 5 s before, no resume
 *             written since) reaches the output before the next resume is written (rule 2);
 *   stall     every event out within 120 s of virtual time after the faults stop (rule 11);
 *   ready     every running instance ready at the end.
 */
import { ClientTimeoutError, LogClientError } from '../../src/runtime/log/errors.ts';
import type { ProcessingGuarantee } from '../../src/config/config.ts';
import type { PortFaults } from '../../src/engines/embedded/memory-log.ts';
import { decodeEvent } from '../../src/model/wire.ts';
import { World, type WorldOptions } from '../runtime/memory-world.ts';
import { Prng } from './prng.ts';

export interface MemberScheduleResult {
  readonly violations: string[];
  readonly stats: Record<string, number>;
  readonly config: string;
}

/** Grace after a PAUSED is written before events of the key must be held (status lag bound). */
const PAUSE_GRACE_MS = 5000;

export interface MemberScheduleOptions {
  readonly guarantee: ProcessingGuarantee;
  /** Wraps the fault plan (planted bugs in the port's use). */
  readonly faults?: (plan: PortFaults) => PortFaults;
  /** The FlowMember class and the processor to run (planted bugs: runtime-mutants.ts, planted-bugs.ts). */
  readonly member?: WorldOptions['member'];
  readonly processor?: WorldOptions['processor'];
  /** STANDBY_REPLICAS=1: every instance keeps standby stores of the partitions it does not own. */
  readonly standby?: boolean;
}

export async function runMemberSchedule(seed: number, options: MemberScheduleOptions): Promise<MemberScheduleResult> {
  const rng = new Prng(seed);
  const stats: Record<string, number> = {};
  const count = (name: string, n = 1): void => {
    stats[name] = (stats[name] ?? 0) + n;
  };
  let faultsOn = true;
  /**
   * Processes whose freeze lands at their next client call: a SIGSTOP between a check and the
   * request it guards (the request goes out after the thaw, and sees the broker as it is then).
   */
  const freezeAtCall = new Map<string, string>();
  /** Client calls seen, by name: a freeze at a call picks its kind evenly, not by frequency (polls). */
  const callsSeen = new Set<string>();
  /** Frozen (or armed) processes and when they thaw, virtual ms. */
  const thawAt = new Map<string, number>();
  const p = {
    abortCommit: rng.chance(0.5) ? rng.next() * 0.05 : 0,
    ambiguousCommit: rng.chance(0.5) ? rng.next() * 0.03 : 0,
    failOffsets: rng.chance(0.4) ? rng.next() * 0.1 : 0,
    slowCall: rng.chance(0.5) ? rng.next() * 0.05 : 0,
    /** Longest delivery delay of an at_least_once write, ms (0: deliveries at once). */
    slowDelivery: rng.chance(0.5) ? rng.int(1, 3000) : 0,
    /** Longest wait before a (re)assigned or sought partition is fetched, ms. */
    fetchLag: rng.chance(0.5) ? rng.int(1, 300) : 0,
    /** Longest stall of one partition after an assignment (its leader moving), ms. */
    leaderMove: rng.chance(0.4) ? rng.int(1000, 8000) : 0,
    /** Share of polls served partition by partition rather than in append order. */
    byPartition: rng.chance(0.5) ? rng.next() : 0,
  };
  const plan: PortFaults = {
    before(call, client) {
      if (!faultsOn) return;
      callsSeen.add(call);
      if (freezeAtCall.get(client.process) === call) {
        freezeAtCall.delete(client.process);
        world.instances.get(client.process)?.clients.freeze(true);
        count('freezesAtCall');
        return 1; // the request waits for the thaw
      }
      if (call === 'commitTransaction' && rng.chance(p.abortCommit)) {
        count('abortedCommits');
        throw new LogClientError('TXN_ABORTABLE', 'abortable', 'injected: the transaction must be aborted');
      }
      if (call === 'listOffsets' && rng.chance(p.failOffsets)) {
        count('failedOffsetLookups');
        throw new LogClientError('STALE_METADATA', 'other', 'injected: leader epoch is older than broker epoch', { staleMetadata: true });
      }
      if (rng.chance(p.slowCall)) {
        count('slowCalls');
        return rng.int(1, 400);
      }
    },
    after(call) {
      if (!faultsOn) return;
      if ((call === 'commitTransaction' || call === 'commit') && rng.chance(p.ambiguousCommit)) {
        count('ambiguousCommits');
        throw new ClientTimeoutError(`injected: ${call} did not complete within the deadline (it did)`);
      }
    },
    fetchLag() {
      if (!faultsOn) return 0;
      if (p.leaderMove > 0 && rng.chance(0.15)) {
        count('partitionStalls');
        return rng.int(500, p.leaderMove);
      }
      return p.fetchLag === 0 ? 0 : rng.int(0, p.fetchLag);
    },
    fetchByPartition() {
      return faultsOn && p.byPartition > 0 && rng.chance(p.byPartition);
    },
    deliveryDelay() {
      if (!faultsOn || p.slowDelivery === 0 || !rng.chance(0.5)) return 0;
      count('delayedDeliveries');
      return rng.int(1, p.slowDelivery);
    },
  };
  const partitions = rng.int(1, 4);
  const world = new World({
    guarantee: options.guarantee,
    partitions,
    stepMs: 50,
    faults: options.faults === undefined ? plan : options.faults(plan),
    ...(options.member === undefined ? {} : { member: options.member }),
    ...(options.processor === undefined ? {} : { processor: options.processor }),
    runtime: {
      commitIntervalMs: rng.int(20, 400),
      punctuateIntervalMs: rng.int(2, 20) * 50,
      drainSliceSize: rng.int(1, 5),
      ...(options.standby === true ? { standbyReplicas: 1 } : {}),
    },
  });
  const keys = Array.from({ length: rng.int(2, 8) }, (_, i) => `k${i}`);
  const config = `partitions=${partitions} keys=${keys.length} faults=${JSON.stringify(p)}`;
  const violations: string[] = [];
  const sent = new Map<string, string[]>(keys.map((k) => [k, []]));
  const sentAt = new Map<string, number>();
  /** Per key: pause windows [pausedAt, resumedAt). */
  const windows = new Map<string, Array<{ from: number; to: number }>>(keys.map((k) => [k, []]));
  const paused = new Map<string, number>();
  let nextName = 0;
  const live: string[] = [];
  const newInstance = (): void => {
    const name = `i${nextName++}`;
    world.start(name);
    live.push(name);
  };
  const frozen = new Set<string>();
  /** Every instance down (a deploy, a power cut) until `until`: the input and commands pile up. */
  let down: { names: string[]; until: number } | undefined;
  const backUp = (): void => {
    if (down === undefined) return;
    for (const name of down.names) {
      world.start(name);
      live.push(name);
    }
    down = undefined;
  };
  /** Standby hand-overs seen per member object (a restarted instance has a new one). */
  const handovers = new WeakMap<object, number>();
  const noteStandbys = (): void => {
    for (const instance of world.instances.values()) {
      const member = instance.member;
      const seen = handovers.get(member) ?? 0;
      if (member.standbyHandovers > seen) count('standbyHandovers', member.standbyHandovers - seen);
      handovers.set(member, member.standbyHandovers);
    }
  };
  try {
    newInstance();
    if (rng.chance(0.5)) newInstance();
    await world.run(rng.int(0, 2000));
    const actions = rng.int(30, 120);
    const thawDue = (all: boolean): void => {
      for (const [name, at] of [...thawAt]) {
        if (!all && world.clock.now() < at) continue;
        thawAt.delete(name);
        freezeAtCall.delete(name);
        frozen.delete(name);
        world.instances.get(name)?.clients.freeze(false);
      }
    };
    for (let a = 0; a < actions; a++) {
      if (down !== undefined && world.clock.now() >= down.until) backUp();
      thawDue(false);
      noteStandbys();
      const action = rng.weighted({ send: 12, pause: 2, resume: 2, time: 4, kill: 0.6, freeze: 0.4, add: 0.5, stop: 0.3, wedge: 0.3, down: 0.15 });
      const key = rng.pick(keys);
      if (process.env.SIM_TRACE) console.log(JSON.stringify({ vt: world.clock.now(), msg: `ACTION ${action} ${key}`, instance: live.join('/') }));
      switch (action) {
        case 'send': {
          for (let i = rng.int(1, 5); i > 0; i--) {
            const list = sent.get(key)!;
            const id = `${key}-${list.length}`;
            list.push(id);
            sentAt.set(id, world.clock.now());
            world.send(key, id);
          }
          break;
        }
        case 'pause':
          if (!paused.has(key)) {
            world.pause(key);
            paused.set(key, world.clock.now());
            count('pauses');
          }
          break;
        case 'resume':
          if (paused.has(key)) {
            windows.get(key)!.push({ from: paused.get(key)!, to: world.clock.now() });
            paused.delete(key);
            world.resume(key);
            count('resumes');
          }
          break;
        case 'time':
          await world.run(rng.int(10, 3000));
          break;
        case 'kill': {
          const running = live.filter((n) => !frozen.has(n));
          if (running.length === 0) break;
          const name = rng.pick(running);
          // Mid-flight: some virtual time first, so a produce or a commit may be under way.
          await world.run(rng.int(0, 150));
          world.kill(name);
          live.splice(live.indexOf(name), 1);
          count('kills');
          if (live.length === 0 || rng.chance(0.5)) {
            await world.run(rng.int(0, 3000));
            world.start(name); // the same instance id and state folder: fences its zombie self
            live.push(name);
            count('restarts');
          }
          break;
        }
        case 'freeze': {
          const candidates = live.filter((n) => !frozen.has(n));
          if (candidates.length === 0) break;
          const name = rng.pick(candidates);
          // Now, or at its next client call; the workload and the other faults go on meanwhile.
          if (rng.chance(0.5)) world.instances.get(name)!.clients.freeze(true);
          else freezeAtCall.set(name, rng.pick([...callsSeen].sort()));
          frozen.add(name);
          thawAt.set(name, world.clock.now() + rng.int(1000, 12_000)); // past the session timeout (6 s) or not
          if (live.length === frozen.size) newInstance();
          count('freezes');
          break;
        }
        case 'wedge': {
          // A broker restart that leaves one process's clients stuck until it renews them.
          const candidates = live.filter((n) => !frozen.has(n));
          if (candidates.length === 0) break;
          world.instances.get(rng.pick(candidates))!.clients.wedge();
          count('wedges');
          break;
        }
        case 'down': {
          const names = live.filter((n) => !frozen.has(n));
          if (down !== undefined || names.length !== live.length || names.length === 0) break;
          for (const name of names) world.kill(name);
          live.length = 0;
          down = { names, until: world.clock.now() + rng.int(3000, 20_000) };
          count('outages');
          break;
        }
        case 'add':
          if (live.length < 4) {
            newInstance();
            count('adds');
          }
          break;
        case 'stop':
          if (live.length > 1 && live.some((n) => !frozen.has(n))) {
            const name = rng.pick(live.filter((n) => !frozen.has(n)));
            await world.stop(name);
            live.splice(live.indexOf(name), 1);
            count('stops');
          }
          break;
      }
    }
    // Quiet: the faults stop, every key is resumed, everything must come out.
    backUp();
    faultsOn = false;
    thawDue(true);
    for (const [key, at] of paused) {
      windows.get(key)!.push({ from: at, to: world.clock.now() });
      world.resume(key);
    }
    paused.clear();
    const total = [...sent.values()].reduce((n, ids) => n + ids.length, 0);
    const outIds = (): number => {
      let distinct = 0;
      for (const ids of world.output().values()) distinct += new Set(ids).size;
      return distinct;
    };
    try {
      await world.until('every event on the output', () => outIds() >= total, 120_000);
      await world.run(500);
    } catch {
      violations.push(`stall: ${outIds()} of ${total} events on the output 120 s after the faults stopped`);
    }
    try {
      await world.until('every instance ready', () => live.every((n) => world.ready(n)), 60_000);
    } catch {
      violations.push(`ready: not ready at the end: ${live.filter((n) => !world.ready(n)).join(', ')}`);
    }

    // Order (rule 1).
    const output = world.output();
    for (const key of keys) {
      const expected = sent.get(key)!;
      let got = output.get(key) ?? [];
      if (options.guarantee === 'at_least_once') {
        const repeats = got.length - new Set(got).size;
        if (repeats > 0) count('duplicates', repeats);
        got = got.filter((id, i) => got.indexOf(id) === i);
      }
      if (got.join(',') !== expected.join(',')) {
        violations.push(`order: key ${key}: expected ${expected.length} events in order, got ${got.length}: ${firstDifference(expected, got)}`);
      }
    }
    // Pauses hold (rule 2): from the records' append times on the output.
    for (let part = 0; part < world.flow.partitions; part++) {
      for (const record of world.cluster.read(world.flow.topics.output, part, 0)) {
        const decoded = decodeEvent(record.value);
        if (!decoded.ok) continue;
        const key = record.key!.toString();
        const sentTime = sentAt.get(decoded.value.id);
        if (sentTime === undefined) continue;
        for (const window of windows.get(key) ?? []) {
          if (sentTime >= window.from + PAUSE_GRACE_MS && sentTime < window.to && record.appendTime < window.to) {
            violations.push(`paused: ${decoded.value.id} sent ${sentTime - window.from} ms after its key was paused, forwarded ${window.to - record.appendTime} ms before the resume`);
          }
        }
      }
    }
    noteStandbys();
    count('events', total);
    count('crashReopensAtCheckpoint', world.disk.reopenedAtCheckpoint);
    count('abandonedAtCheckpoint', world.disk.abandonedAtCheckpoint);
  } finally {
    for (const name of [...world.instances.keys()]) world.instances.get(name)!.clients.freeze(false);
    for (const name of [...world.instances.keys()]) {
      if (!live.includes(name)) continue;
      try {
        await world.stop(name);
      } catch (error) {
        violations.push(`stop: ${name} did not stop: ${(error as Error).message}`);
      }
    }
    for (const name of [...world.instances.keys()]) world.kill(name);
    world.dispose();
  }
  return { violations: violations.slice(0, 20), stats, config };
}

function firstDifference(expected: readonly string[], got: readonly string[]): string {
  for (let i = 0; i < Math.max(expected.length, got.length); i++) {
    if (expected[i] !== got[i]) return `at ${i}: expected ${expected[i] ?? '(end)'}, got ${got[i] ?? '(end)'} (around: ${got.slice(Math.max(0, i - 2), i + 3).join(',')})`;
  }
  return 'same';
}
