/**
 * One deterministic simulation schedule: a seeded PRNG picks a configuration (keys, partitions,
 * tiny drain slices, poll batch sizes, intervals, status-table lag, capacity, one or two
 * instances, input interleaving) and a sequence of actions over one flow on an embedded cluster:
 * events (some with headers or old timestamps), bad records, status writes, resume commands
 * (before and after the status change), steps, idle settles, clock moves (punctuations, lagged
 * statuses), commits, crashes with restarts, instances joining and leaving, forced compaction.
 * Every processor is wrapped by the observer; at the end every key is set ACTIVE, the tables
 * catch up, one punctuation interval passes, and the checker judges what reached the topics.
 */
import { DEFAULT_MAX_EVENT_BYTES, parseFlowsFile, type ProcessingGuarantee } from '../../src/config/config.ts';
import { ManualClock } from '../../src/engines/embedded/clock.ts';
import { EmbeddedCluster, type LogRecord } from '../../src/engines/embedded/cluster.ts';
import { EmbeddedRuntime, type EmbeddedRuntimeSettings } from './sync-runtime.ts';
import { createFlowTopics } from '../../src/engines/embedded/topics.ts';
import { encodeEvent, encodeStatus, HEADERS, RESUME_COMMAND } from '../../src/model/wire.ts';
import { PauseAwareProcessor } from '../../src/processor/pause-aware-processor.ts';
import type { DeadLetterReason, Header, KeyStatus } from '../../src/runtime/ports.ts';
import { MemoryBufferStore } from '../../src/stores/memory-buffer-store.ts';
import { checkOutcome, type SentBadRecord } from './checker.ts';
import { ObservedProcessor, Observer, type Coverage, type SentEvent } from './observer.ts';
import { PLANTED_BUGS, type PlantedBug } from './planted-bugs.ts';
import { Prng } from './prng.ts';

export interface ScheduleOptions {
  readonly guarantee: ProcessingGuarantee;
  readonly bug?: PlantedBug;
}

export interface ScheduleResult {
  readonly seed: number;
  readonly violations: readonly string[];
  /** The configuration the seed picked, for a failure report. */
  readonly config: string;
  readonly stats: { events: number; crashes: number; rebalances: number; duplicates: number } & Coverage;
}

const APPLICATION_ID = 'simulation';

export function runSchedule(seed: number, options: ScheduleOptions): ScheduleResult {
  const rng = new Prng(seed);
  const exactlyOnce = options.guarantee === 'exactly_once';
  const keys = Array.from({ length: rng.int(1, 5) }, (_, i) => `k${i}`);
  const partitions = rng.int(1, 3);
  const statusLagMs = rng.chance(0.4) ? 0 : rng.int(1, 1500);
  const settings: EmbeddedRuntimeSettings = {
    applicationId: APPLICATION_ID,
    processingGuarantee: options.guarantee,
    commitIntervalMs: rng.int(20, 400),
    punctuateIntervalMs: rng.int(2, 20) * 50,
    drainSliceSize: rng.int(1, 4),
    maxBufferPerKey: exactlyOnce && rng.chance(0.2) ? rng.int(2, 6) : 0,
    maxEventBytes: DEFAULT_MAX_EVENT_BYTES,
  };
  const maxPollRecords = rng.int(1, 6);
  const randomInputOrder = rng.chance(0.5);
  const twoInstances = rng.chance(0.25);
  const actions = rng.int(20, 140);
  const config = JSON.stringify({ ...settings, keys: keys.length, partitions, statusLagMs, maxPollRecords, randomInputOrder, twoInstances, actions });

  const clock = new ManualClock(1_000_000);
  const cluster = new EmbeddedCluster({ clock: clock.now });
  const flow = parseFlowsFile({ partitions, flows: [{ id: 'sim' }] }, 'simulation').flows[0]!;
  const topics = flow.topics;
  createFlowTopics(cluster, flow);

  const sent = new Map<string, SentEvent>();
  const events: SentEvent[] = [];
  const bad: SentBadRecord[] = [];
  const observer = new Observer(sent, settings);
  const makeProcessor = options.bug === undefined ? (o: typeof settings) => new PauseAwareProcessor(o) : PLANTED_BUGS[options.bug];
  const stats = { events: 0, crashes: 0, rebalances: 0, duplicates: 0 };

  const slots: Array<{ runtime: EmbeddedRuntime; tag: string } | undefined> = [undefined, undefined];
  let generation = 0;
  const start = (slot: number) => {
    const tag = `i${slot}.${++generation}`;
    const runtime = new EmbeddedRuntime({
      cluster,
      flows: [flow],
      settings,
      clock: clock.now,
      memberId: tag,
      statusLagMs,
      maxPollRecords,
      ...(randomInputOrder ? { pickInput: () => (rng.chance(0.5) ? 'event' : 'command') } : {}),
      processor: (_flow, partition) =>
        new ObservedProcessor(makeProcessor(settings), observer, tag, () => cluster.committed(APPLICATION_ID, topics.main, partition) ?? 0),
    });
    runtime.statusTable(flow.id).onChange((change) => observer.statusChanged(tag, change.key));
    runtime.start();
    slots[slot] = { runtime, tag };
  };
  const live = () => slots.filter((s) => s !== undefined);
  const settle = () => {
    for (const { runtime, tag } of live()) {
      runtime.runUntilIdle();
      observer.checkIdle(tag);
    }
  };
  const produce = (topic: string, key: string | null, value: Buffer | null, headers: readonly Header[] = [], timestamp = clock.now()) =>
    cluster.produce({ topic, key: key === null ? null : Buffer.from(key, 'utf8'), value, headers, timestamp });
  const setStatus = (key: string, status: KeyStatus | null) => produce(topics.status, key, status === null ? null : encodeStatus(status));
  const sendBad = (topic: 'main' | 'trigger', key: string | null, value: Buffer | null, reason: DeadLetterReason) => {
    const { partition, offset } = produce(topics[topic], key, value);
    bad.push({ topic: topics[topic], partition, offset, reason });
  };

  start(0);
  for (let n = 0; n < actions; n++) {
    const action = rng.weighted({
      event: 36,
      bad: 2,
      status: 12,
      resume: 8,
      step: 16,
      settle: 5,
      time: 10,
      commit: 4,
      crash: 2,
      instances: twoInstances ? 3 : 0,
      compact: 1,
    });
    switch (action) {
      case 'event': {
        const key = rng.pick(keys);
        const id = `${key}.${n}`;
        const headers: Header[] = rng.chance(0.2) ? [{ key: 'h', value: Buffer.from([n & 0xff, 0]) }, { key: 'h', value: Buffer.from('again') }] : [];
        const timestamp = rng.chance(0.15) ? rng.int(0, 999_999) : clock.now();
        const value = encodeEvent({ id, data: { n }, timestamp });
        const { partition, offset } = produce(topics.main, key, value, headers, timestamp);
        const event: SentEvent = { id, key, partition, offset, value, headers, timestamp };
        sent.set(id, event);
        events.push(event);
        stats.events++;
        break;
      }
      case 'bad': {
        const key = rng.pick(keys);
        const variant = rng.int(0, 4);
        if (variant === 0) sendBad('main', null, encodeEvent({ id: `no-key.${n}`, data: null }), 'MISSING_KEY');
        else if (variant === 1) sendBad('main', key, Buffer.from('{not json'), 'INVALID_EVENT');
        else if (variant === 2) sendBad('main', key, null, 'INVALID_EVENT');
        else if (variant === 3) sendBad('trigger', key, Buffer.from('{"action":"PAUSE"}'), 'INVALID_COMMAND');
        else sendBad('trigger', null, RESUME_COMMAND, 'MISSING_KEY');
        break;
      }
      case 'status':
        setStatus(rng.pick(keys), rng.weighted({ PAUSED: 50, ACTIVE: 35, tombstone: 15 }) === 'PAUSED' ? 'PAUSED' : rng.chance(0.7) ? 'ACTIVE' : null);
        break;
      case 'resume': {
        const key = rng.pick(keys);
        const order = rng.weighted({ commandOnly: 4, statusFirst: 4, commandFirst: 2, named: 3 });
        if (order === 'named') {
          // As the API resumes: ACTIVE, then a command naming that record's offset.
          const active = setStatus(key, 'ACTIVE');
          produce(topics.trigger, key, RESUME_COMMAND, [{ key: HEADERS.statusOffset, value: Buffer.from(String(active.offset)) }]);
          break;
        }
        if (order === 'statusFirst') setStatus(key, 'ACTIVE');
        produce(topics.trigger, key, RESUME_COMMAND);
        if (order === 'commandFirst') setStatus(key, 'ACTIVE');
        break;
      }
      case 'step': {
        const slot = rng.pick(live());
        slot?.runtime.step();
        break;
      }
      case 'settle':
        settle();
        break;
      case 'time':
        clock.advance(rng.int(0, Math.ceil(settings.punctuateIntervalMs * 1.5)));
        for (const { runtime } of live()) runtime.step();
        break;
      case 'commit':
        rng.pick(live())?.runtime.commit();
        break;
      case 'crash': {
        const down = slots.findIndex((s, i) => s === undefined && (i === 0 || twoInstances));
        if (down >= 0 && rng.chance(0.5)) {
          start(down);
        } else {
          const slot = rng.int(0, 1);
          const victim = slots[slot];
          if (victim === undefined) break;
          victim.runtime.crash();
          observer.crashed(victim.tag);
          slots[slot] = undefined;
          stats.crashes++;
          if (rng.chance(0.6)) start(slot);
        }
        break;
      }
      case 'instances': {
        const second = slots[1];
        if (second === undefined) start(1);
        else {
          second.runtime.stop();
          slots[1] = undefined;
        }
        stats.rebalances++;
        break;
      }
      case 'compact':
        cluster.maintain({ force: true });
        break;
    }
  }

  // Settle: everything ACTIVE, tables caught up, one punctuation interval, commit.
  if (live().length === 0) start(0);
  for (const key of keys) setStatus(key, rng.chance(0.3) ? null : 'ACTIVE');
  const pass = (ms: number) => {
    for (let left = ms; left > 0; left -= settings.commitIntervalMs) {
      clock.advance(Math.min(settings.commitIntervalMs, left));
      settle();
    }
  };
  settle();
  pass(statusLagMs + 1);
  pass(settings.punctuateIntervalMs);
  for (const { runtime, tag } of live()) {
    runtime.commit();
    observer.checkEmpty(tag);
  }
  for (let p = 0; p < partitions; p++) {
    const restored = new MemoryBufferStore();
    for (const record of cluster.read(topics.changelog, p, 0)) if (record.key !== null) restored.restore(record.key, record.value);
    for (const key of restored.keys()) observer.violation(`rule 5: the changelog of p${p} still holds ${restored.count(key)} events of ${key} after the buffers emptied`);
  }

  const readAll = (topic: string) => {
    const records: LogRecord[] = [];
    for (let p = 0; p < partitions; p++) records.push(...cluster.read(topic, p, 0));
    return records;
  };
  const output = readAll(topics.output);
  const violations = [...observer.violations, ...checkOutcome({ guarantee: options.guarantee, events, bad, output, deadLetters: readAll(topics.dlq) })];
  stats.duplicates = output.length - new Set(output.map((r) => r.value?.toString('latin1'))).size;
  return { seed, violations, config, stats: { ...stats, ...observer.coverage } };
}
