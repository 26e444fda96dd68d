/**
 * The chaos runner (issue 8): runs real instances of the service on a broker of its own, drives a
 * seeded workload of events, pauses and resumes through them, injects faults, and checks what
 * came out with its own clients. `npm run chaos -- --help` says how to use it.
 *
 * Exit codes: 0 no violation, 1 violations, 2 the run could not be made or proved nothing
 * (bad arguments, the broker would not start, the runner's own producer failed).
 */
import { spawnSync } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { appendFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { type Brokers, Cluster, SingleBroker } from './broker.ts';
import { checkChangelog, checkDlq, checkInstances, checkOrder, checkPauses, checkTransactions, OutputWatch, type Violation } from './checker.ts';
import { ChaosAdmin, ChaosProducer, ErrorSampler } from './clients.ts';
import { type Guarantee, Instances, readiness } from './instances.ts';
import { FAULT_KINDS, type FaultKind, Nemesis, planFaults } from './nemesis.ts';
import { errorMessage, RunClock, ranges, sleep, withDeadline } from './util.ts';
import { type FlowNames, Workload } from './workload.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');

interface Profile {
  readonly name: 'pr' | 'nightly';
  readonly brokers: 'single' | 'cluster';
  readonly instances: number;
  readonly minInstances: number;
  readonly maxInstances: number;
  readonly keys: number;
  readonly events: number;
  readonly durationMs: number;
  readonly faults: number;
  readonly required: Partial<Record<FaultKind, number>>;
  readonly weights: Partial<Record<FaultKind, number>>;
  /** Faults start within this part of the workload. */
  readonly faultWindowMs: readonly [number, number];
  readonly pausedShare: number;
  readonly bulkWaveEveryMs: number;
  readonly bulkWaveKeys: readonly [number, number];
  /** After the quiet period: how long the output may take to hold every event. */
  readonly drainTimeoutMs: number;
  /**
   * The whole run, startup included, should end within this; the drain wait is shortened to fit
   * (never below MIN_DRAIN_MS) when faults ran long.
   */
  readonly budgetMs: number;
}

const MIN_DRAIN_MS = 45_000;

const PROFILES: Record<'pr' | 'nightly', Profile> = {
  pr: {
    name: 'pr',
    brokers: 'single',
    instances: 3,
    minInstances: 2,
    maxInstances: 4,
    keys: 150,
    events: 21_000,
    durationMs: 120_000,
    faults: 5,
    required: { 'broker-restart': 1, zombie: 1 },
    weights: { kill9: 3, 'kill9-fresh': 1, sigterm: 2, add: 1, remove: 1 },
    faultWindowMs: [8000, 75_000],
    pausedShare: 0.2,
    bulkWaveEveryMs: 30_000,
    bulkWaveKeys: [15, 35],
    drainTimeoutMs: 75_000,
    budgetMs: 320_000,
  },
  nightly: {
    name: 'nightly',
    brokers: 'cluster',
    instances: 4,
    minInstances: 2,
    maxInstances: 5,
    keys: 400,
    events: 210_000,
    durationMs: 1_200_000,
    faults: 32,
    required: { 'broker-restart': 3, 'leader-kill': 3, zombie: 4, kill9: 3, 'kill9-fresh': 2, sigterm: 3, add: 2, remove: 2 },
    weights: { kill9: 4, 'kill9-fresh': 1, sigterm: 3, zombie: 3, add: 1, remove: 1, 'broker-restart': 1, 'leader-kill': 2 },
    faultWindowMs: [20_000, 1_080_000],
    pausedShare: 0.2,
    bulkWaveEveryMs: 45_000,
    bulkWaveKeys: [20, 80],
    drainTimeoutMs: 300_000,
    budgetMs: 3_600_000,
  },
};

const USAGE = `Usage: npm run chaos -- [--profile pr|nightly] [--seed N] [options]

Runs instances of event-pause on a Kafka of its own, with a seeded workload (events with per-key
sequence numbers; pauses and resumes through the API and straight on the topics; bulk waves) and
seeded faults (kill -9, SIGTERM, SIGSTOP past the timeouts, add/remove instances, broker restart,
leader kill on a cluster), then checks with its own read_committed clients: per-key order, pauses
that hold, no hanging transaction, empty changelogs, empty DLQ, every instance ready at the end.

Profiles:
  pr        one broker of its own (scripts/start_infra.sh on --broker-port), 3 instances,
            21,000 events over 150 keys in 2 minutes, 5 faults including a broker restart and a
            zombie; about 4 minutes, at most 6
  nightly   3-node cluster (scripts/start_cluster.sh on --cluster-base-port), replication factor 3,
            min.insync.replicas 2, 4 instances, 210,000 events over 400 keys, 32 faults including
            leader kills; about 25-30 minutes

Options:
  --seed N                 the seed (default: random, printed); the same seed replays the same choices
  --guarantee G            exactly_once (default) or at_least_once
  --instances N            instances at the start
  --keys N --events N      workload size
  --duration S             seconds over which the events are produced
  --faults N               number of faults
  --broker-port P          pr: the broker's port (default 29092); the controller gets --controller-port (29093)
  --cluster-base-port P    nightly: brokers on P..P+2, controllers on P+10..P+12 (default 29192)
  --http-base-port P       instance i<n> listens on P+n (default 18100)
  --log-level L            the instances' LOG_LEVEL (default info)
  --run-dir DIR            where logs and state go (default: a fresh folder under ${tmpdir()})
  --keep                   keep broker data and state folders after a passing run
  -h, --help               this text

Exit codes: 0 no violation, 1 violations (listed, with the command that replays the run),
2 the run could not be made (bad arguments, no broker, the runner's own producer failed).`;

class UsageError extends Error {}

interface Args {
  profile: Profile;
  seed: number;
  guarantee: Guarantee;
  brokerPort: number;
  controllerPort: number;
  clusterBasePort: number;
  httpBasePort: number;
  logLevel: string;
  runDir: string | undefined;
  keep: boolean;
  /** The arguments that shape the run, for the replay command. */
  replay: string[];
}

function parse(argv: string[]): Args | undefined {
  const { values } = parseArgs({
    args: argv,
    options: {
      profile: { type: 'string', default: 'pr' },
      seed: { type: 'string' },
      guarantee: { type: 'string', default: 'exactly_once' },
      instances: { type: 'string' },
      keys: { type: 'string' },
      events: { type: 'string' },
      duration: { type: 'string' },
      faults: { type: 'string' },
      'broker-port': { type: 'string', default: '29092' },
      'controller-port': { type: 'string', default: '29093' },
      'cluster-base-port': { type: 'string', default: '29192' },
      'http-base-port': { type: 'string', default: '18100' },
      'log-level': { type: 'string', default: 'info' },
      'run-dir': { type: 'string' },
      keep: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.help) return undefined;
  const int = (name: string, raw: string | undefined, min: number, max: number): number | undefined => {
    if (raw === undefined) return undefined;
    if (!/^\d+$/.test(raw) || Number(raw) < min || Number(raw) > max) throw new UsageError(`--${name} must be an integer from ${min} to ${max}, got "${raw}"`);
    return Number(raw);
  };
  const base = PROFILES[values.profile as 'pr' | 'nightly'];
  if (base === undefined) throw new UsageError(`--profile must be pr or nightly, got "${values.profile}"`);
  if (values.guarantee !== 'exactly_once' && values.guarantee !== 'at_least_once') {
    throw new UsageError(`--guarantee must be exactly_once or at_least_once, got "${values.guarantee}"`);
  }
  const profile: Profile = {
    ...base,
    instances: int('instances', values.instances, 1, 20) ?? base.instances,
    keys: int('keys', values.keys, 1, 100_000) ?? base.keys,
    events: int('events', values.events, 1, 100_000_000) ?? base.events,
    durationMs: (int('duration', values.duration, 10, 86_400) ?? base.durationMs / 1000) * 1000,
    faults: int('faults', values.faults, 0, 10_000) ?? base.faults,
  };
  if (profile.instances < profile.minInstances || profile.instances > profile.maxInstances) {
    Object.assign(profile, { minInstances: Math.min(profile.minInstances, profile.instances), maxInstances: Math.max(profile.maxInstances, profile.instances) });
  }
  if (values.duration !== undefined) {
    // Faults keep to the same share of a shorter or longer workload.
    const scale = profile.durationMs / base.durationMs;
    Object.assign(profile, { faultWindowMs: [Math.round(base.faultWindowMs[0] * scale), Math.round(base.faultWindowMs[1] * scale)] });
  }
  const seed = int('seed', values.seed, 0, 2 ** 32 - 1) ?? randomInt(1, 2 ** 31);
  const replay = ['--profile', profile.name, '--seed', String(seed)];
  for (const name of ['guarantee', 'instances', 'keys', 'events', 'duration', 'faults'] as const) {
    if (values[name] !== undefined && !(name === 'guarantee' && values[name] === 'exactly_once')) replay.push(`--${name}`, String(values[name]));
  }
  return {
    profile,
    seed,
    guarantee: values.guarantee,
    brokerPort: int('broker-port', values['broker-port'], 1024, 65535)!,
    controllerPort: int('controller-port', values['controller-port'], 1024, 65535)!,
    clusterBasePort: int('cluster-base-port', values['cluster-base-port'], 1024, 65500)!,
    httpBasePort: int('http-base-port', values['http-base-port'], 1024, 65000)!,
    logLevel: values['log-level'],
    runDir: values['run-dir'],
    keep: values.keep,
    replay,
  };
}

/** What a run leaves behind: started processes to stop whatever happens. */
interface Running {
  brokers?: Brokers;
  instances?: Instances;
}

async function run(args: Args, running: Running, abort: AbortController): Promise<number> {
  const { profile, seed } = args;
  const clock = new RunClock();
  const runDir = args.runDir ?? mkdtempSync(path.join(tmpdir(), `chaos-${profile.name}-${seed}-`));
  mkdirSync(runDir, { recursive: true });
  const runnerLog = path.join(runDir, 'runner.log');
  const log = (line: string): void => {
    const text = `[chaos ${clock.rel()}] ${line}`;
    process.stdout.write(`${text}\n`);
    appendFileSync(runnerLog, `${text}\n`);
  };
  const warnings: string[] = [];
  const warn = (line: string): void => {
    warnings.push(`${clock.rel()} ${line}`);
    log(`warning: ${line}`);
  };
  const violations: Violation[] = [];
  const violation = (v: Violation): void => {
    violations.push(v);
    log(`VIOLATION ${v.kind}: ${v.message}`);
  };
  const replay = `npm run chaos -- ${args.replay.join(' ')}`;
  const revision = serviceCode();
  log(`profile ${profile.name}, seed ${seed}, ${args.guarantee}; run dir ${runDir}`);
  log(`t+0 is ${new Date(clock.startedAt).toISOString()} (epoch ${clock.startedAt} ms; instance logs carry epoch "time" fields)`);
  log(`replay: ${replay}`);
  log(`service code: ${revision}`);

  // The run's Kafka.
  const brokers: Brokers =
    profile.brokers === 'single'
      ? new SingleBroker(ROOT, runDir, args.brokerPort, args.controllerPort, log)
      : new Cluster(ROOT, runDir, args.clusterBasePort, log);
  running.brokers = brokers;
  try {
    await brokers.start();
  } catch (error) {
    log(`the run's Kafka did not start: ${errorMessage(error)} (see ${path.join(runDir, 'broker-scripts.log')})`);
    return 2;
  }
  log(`Kafka up: ${brokers.bootstrap}`);
  if (abort.signal.aborted) return 130;

  // The flow and its topics, created by the runner with the configs the service checks.
  const applicationId = `chaos-${seed}-${randomBytes(3).toString('hex')}`;
  const flowId = 'chaos';
  const partitions = 6;
  const flow: FlowNames = {
    id: flowId,
    main: `${flowId}-in`,
    trigger: `${flowId}-resume`,
    status: `${flowId}-status`,
    output: `${flowId}-out`,
    dlq: `${flowId}-dlq`,
    changelog: `${applicationId}-${flowId}-buffer-changelog`,
    partitions,
  };
  const configFile = path.join(runDir, 'flows.json');
  writeFileSync(configFile, JSON.stringify({ applicationId, partitions, flows: [{ id: flowId }] }, null, 2));
  const errors = new ErrorSampler();
  const setupAdmin = new ChaosAdmin(brokers.bootstrap, 'chaos-setup-admin');
  try {
    const compacted = { 'cleanup.policy': 'compact' };
    for (const [name, config] of [
      [flow.main, {}],
      [flow.trigger, {}],
      [flow.status, compacted],
      [flow.output, {}],
      [flow.dlq, {}],
      [flow.changelog, compacted],
    ] as const) {
      await setupAdmin.createTopic({ name, partitions, replicationFactor: brokers.replicationFactor, config: { ...config, ...brokers.topicConfig } });
    }
    const deadline = Date.now() + 30_000;
    while ((await setupAdmin.describe(Object.values(flow).filter((v): v is string => typeof v === 'string' && v !== flowId))).length < 6) {
      if (Date.now() > deadline) throw new Error('topics not visible 30 s after creating them');
      await sleep(200);
    }
  } catch (error) {
    log(`could not create the flow's topics: ${errorMessage(error)}`);
    return 2;
  } finally {
    setupAdmin.disconnect();
  }
  log(`topics of flow "${flowId}" created (${partitions} partitions, replication factor ${brokers.replicationFactor}); application ${applicationId}`);

  // The runner's clients.
  const eventsProducer = new ChaosProducer(brokers.bootstrap, 'chaos-events', errors);
  const controlProducer = new ChaosProducer(brokers.bootstrap, 'chaos-control', errors, { 'linger.ms': 0, 'message.timeout.ms': 60_000 });
  const watch = new OutputWatch(brokers.bootstrap, flow, errors);
  const instances = new Instances({
    root: ROOT,
    runDir,
    bootstrap: brokers.bootstrap,
    configFile,
    guarantee: args.guarantee,
    logLevel: args.logLevel,
    basePort: args.httpBasePort,
    clock,
    onCrash: (instance, detail) =>
      violation({
        kind: 'crash',
        message: `${instance.name} (pid ${instance.pid}, incarnation ${instance.incarnation}) ${detail} at ${clock.rel()}`,
        details: instance.tail(15),
      }),
  });
  running.instances = instances;
  const workload = new Workload({
    seed,
    flow,
    keys: profile.keys,
    events: profile.events,
    durationMs: profile.durationMs,
    pausedShare: profile.pausedShare,
    bulkWaveEveryMs: profile.bulkWaveEveryMs,
    bulkWaveKeys: profile.bulkWaveKeys,
    bootstrap: brokers.bootstrap,
    eventsProducer,
    controlProducer,
    instances,
    errors,
    clock,
  });
  const nemesis = new Nemesis({
    instances,
    brokers,
    mainTopic: flow.main,
    minInstances: profile.minInstances,
    maxInstances: profile.maxInstances,
    clock,
    log,
    violation,
    warn,
  });
  const plan = planFaults({
    seed,
    count: profile.faults,
    startMs: profile.faultWindowMs[0],
    endMs: profile.faultWindowMs[1],
    required: profile.required,
    weights: profile.weights,
  });
  log(`fault plan: ${plan.map((f) => `${f.kind}@${(f.at / 1000).toFixed(0)}s`).join(', ') || 'none'}`);

  let pauseStats = 'not judged (the run did not get that far)';
  let phase = 'starting';
  let monitor: NodeJS.Timeout | undefined;
  let progress: NodeJS.Timeout | undefined;
  const startedAt = Date.now();
  const summaryBase = { seed, profile: profile.name, guarantee: args.guarantee, runDir, replay, serviceCode: revision };
  try {
    await eventsProducer.connect();
    await controlProducer.connect();
    await watch.start();
    await workload.startReader();

    if (abort.signal.aborted) throw new Abandon();
    for (let i = 0; i < profile.instances; i++) instances.start(instances.create());
    const readyAll = await Promise.all(instances.members.map((instance) => instances.waitReady(instance, 120_000, abort.signal)));
    if (readyAll.some((ready) => !ready)) {
      for (const instance of instances.members.filter((_, i) => !readyAll[i])) {
        violation({
          kind: 'startup',
          message: `${instance.name} not ready 120 s after it started (${instance.running ? 'running' : 'exited'})`,
          details: instance.tail(10),
        });
      }
      throw new Abandon();
    }
    log(`${instances.members.length} instances ready: ${instances.members.map((i) => `${i.name} ${i.url} pid ${i.pid}`).join(', ')}`);

    // Readiness as seen by the runner, for progress lines and fault targets.
    monitor = setInterval(() => {
      for (const instance of instances.usable) {
        void readiness(instance).then((answer) => {
          if (instance.usable) instance.ready = answer.status === 200;
        });
      }
    }, 2000);
    progress = setInterval(() => {
      const states = instances.all
        .filter((i) => i.running || !i.retired)
        .map((i) => `${i.name}:${!i.running ? 'down' : i.frozen ? 'frozen' : i.sent !== undefined ? 'stopping' : i.ready ? 'ready' : 'not-ready'}`)
        .join(' ');
      const fault = nemesis.current === undefined ? '' : ` | fault ${nemesis.current.kind} on ${nemesis.current.target}`;
      log(
        `${phase}: events ${workload.produced}/${profile.events} (acked ${workload.delivered}), output ${watch.distinct} distinct (${watch.total} records), ` +
          `paused ${workload.pausedKeys}, busy ${workload.busyKeys}, faults ${nemesis.done.length}/${plan.length}, load ${loadavg()[0]!.toFixed(1)} | ${states}${fault}`,
      );
    }, 5000);

    // The workload and the faults.
    phase = 'workload';
    const workStart = Date.now();
    const producing = workload.produceEvents(abort.signal);
    const controlling = workload.runControl(abort.signal);
    const faults = nemesis.run(plan, workStart, abort.signal);
    await producing;
    await faults;
    if (abort.signal.aborted) throw new Abandon();
    log(`workload done: ${workload.produced} events in ${((Date.now() - workStart) / 1000).toFixed(0)} s; faults done: ${nemesis.done.length}`);
    const done = nemesis.counts();
    for (const [kind, n] of Object.entries(profile.required) as Array<[FaultKind, number]>) {
      const planned = Math.min(n, plan.filter((fault) => fault.kind === kind).length);
      if ((done.get(kind) ?? 0) < planned) warn(`the profile asks for ${planned} ${kind} fault(s); ${done.get(kind) ?? 0} happened`);
    }

    // Quiet: no new pause or resume; every operation settled; every key resumed.
    phase = 'quiet';
    workload.stopControl();
    await controlling;
    await workload.settleAll(50_000);
    try {
      await eventsProducer.flush(90_000);
    } catch (error) {
      log(`the runner's producer did not deliver every event: ${errorMessage(error)}`);
    }
    // The delivery reports of the last records reach JavaScript on the producer's next polls.
    const reportsBy = Date.now() + 30_000;
    while (workload.delivered + workload.deliveryFailures.length < workload.produced && Date.now() < reportsBy) await sleep(50);
    if (workload.delivered < workload.produced || workload.deliveryFailures.length > 0) {
      log(
        `INCONCLUSIVE: ${workload.produced - workload.delivered} event(s) not delivered by the runner's producer` +
          (workload.deliveryFailures.length === 0 ? ' (no delivery report within 30 s of the flush)' : `: ${workload.deliveryFailures.slice(0, 5).join('; ')}`),
      );
      return finish(2);
    }
    workload.checkInputOrder();
    if (workload.inputOrderErrors.length > 0) {
      log(`INCONCLUSIVE: the main topic does not hold the events in sequence order: ${workload.inputOrderErrors.slice(0, 5).join('; ')}`);
      return finish(2);
    }
    const resumeAt = Date.now();
    await workload.resumeAll();
    const failedResumes = workload.ops.filter((op) => op.path === 'final' && op.outcome !== 'ok');
    if (failedResumes.length > 0) {
      log(`INCONCLUSIVE: ${failedResumes.length} final resume(s) not acknowledged: ${failedResumes.slice(0, 3).map((op) => op.error).join('; ')}`);
      return finish(2);
    }
    log(`every key resumed (ACTIVE and a command on the topics) in ${Date.now() - resumeAt} ms; waiting for the output`);

    // The output must hold every event, within the drain deadline.
    phase = 'drain';
    const drainMs = Math.max(MIN_DRAIN_MS, Math.min(profile.drainTimeoutMs, clock.startedAt + profile.budgetMs - 45_000 - Date.now()));
    const drainDeadline = Date.now() + drainMs;
    while (watch.distinct < workload.produced && Date.now() < drainDeadline && !abort.signal.aborted) await sleep(500);
    if (abort.signal.aborted) throw new Abandon();
    if (watch.distinct < workload.produced) {
      // Judge the topic, not the live reader: read it again with a new one before a verdict.
      const before = watch.distinct;
      log(`output ${before}/${workload.produced} at the deadline; reading the output topic again with a new reader`);
      await watch.reread(brokers.bootstrap, flow, errors, () => watch.distinct >= workload.produced, 30_000);
      if (watch.distinct > before) {
        warnings.push(`the runner's live output reader had stalled: a new reader found ${watch.distinct - before} more event(s) on the output`);
      }
    }
    if (watch.distinct < workload.produced) {
      const missing = watch.missing(workload);
      const byPartition = new Map<number | undefined, number>();
      for (const m of missing) byPartition.set(m.partition, (byPartition.get(m.partition) ?? 0) + m.missing.length);
      const owners = await ownership(instances, flowId);
      violation({
        kind: 'stall',
        message:
          `${workload.produced - watch.distinct} event(s) of ${missing.length} key(s) not on the output ${Math.round(drainMs / 1000)} s after every key was resumed ` +
          `(missing per input partition: ${[...byPartition].sort((a, b) => (a[0] ?? -1) - (b[0] ?? -1)).map(([p, n]) => `p${p}: ${n}`).join(', ')})`,
        details: [
          ...missing.slice(0, 15).map((m) => `${m.key} (partition ${m.partition}): missing seq ${ranges(m.missing)} of ${workload.sentCount(m.key)}`),
          ...owners,
        ],
      });
    } else {
      log(`output complete: ${watch.distinct} events in ${((Date.now() - resumeAt) / 1000).toFixed(1)} s after the final resume`);
      // Late copies (a zombie's writes, a replay) would show up now.
      await sleep(3000);
    }

    // The checks.
    phase = 'checking';
    clearInterval(monitor);
    monitor = undefined;
    const instanceChecks = checkInstances(instances, 15_000);
    const checkAdmin = new ChaosAdmin(brokers.bootstrap, 'chaos-check-admin');
    let changelogRecords = 0;
    try {
      for (const v of await checkTransactions(
        checkAdmin,
        [flow.output, flow.dlq, flow.changelog].map((topic) => ({ topic, partitions })),
        15_000,
      )) violation(v);
      const changelog = await checkChangelog(brokers.bootstrap, checkAdmin, flow, errors, 10_000);
      changelogRecords = changelog.records;
      for (const v of changelog.violations) violation(v);
      for (const v of await checkDlq(brokers.bootstrap, checkAdmin, flow, errors)) violation(v);
    } catch (error) {
      violation({ kind: 'hanging-transaction', message: `could not read the topics to check them: ${errorMessage(error)}` });
    } finally {
      checkAdmin.disconnect();
    }
    for (const v of await instanceChecks) violation(v);
    if (watch.foreign.length > 0) {
      violation({ kind: 'foreign-output', message: `${watch.foreign.length} output record(s) that are not one of the workload's events`, details: watch.foreign.slice(0, 10) });
    }
    for (const v of checkOrder(workload, watch, args.guarantee, clock)) violation(v);
    const pauses = checkPauses(workload, watch, clock);
    for (const v of pauses.violations) violation(v);
    pauseStats =
      `${pauses.windows} judged, ${pauses.checkedEvents} events sent while paused checked` +
      (pauses.skippedWindows > 0 ? `; ${pauses.skippedWindows} not judged (a control write of unknown fate)` : '');
    log(`pause windows: ${pauseStats}; changelog ${changelogRecords} records`);
    return finish(violations.length === 0 ? 0 : 1);
  } catch (error) {
    if (!(error instanceof Abandon)) {
      log(`the runner failed: ${(error as Error).stack ?? errorMessage(error)}`);
      return finish(2);
    }
    return finish(abort.signal.aborted ? 130 : 1);
  } finally {
    if (monitor !== undefined) clearInterval(monitor);
    if (progress !== undefined) clearInterval(progress);
    abort.abort();
    log('stopping instances, clients and Kafka');
    await instances.stopAll(20_000);
    await Promise.all([workload.stopReader(), watch.stop(), eventsProducer.disconnect(), controlProducer.disconnect()]).catch(() => undefined);
    await brokers.stop().catch((error: unknown) => log(`stopping Kafka failed: ${errorMessage(error)}`));
    if (violations.length === 0 && !args.keep) {
      for (const dir of ['state', 'kafka', 'cluster']) rmSync(path.join(runDir, dir), { recursive: true, force: true });
    }
  }

  function finish(code: number): number {
    const counts = nemesis.counts();
    const byKind = new Map<string, Violation[]>();
    for (const v of violations) byKind.set(v.kind, [...(byKind.get(v.kind) ?? []), v]);
    const lines = [
      '',
      `===== chaos summary: ${code === 0 ? 'PASSED' : code === 1 ? 'FAILED' : code === 130 ? 'INTERRUPTED' : 'INCONCLUSIVE'} =====`,
      `seed ${seed}, profile ${profile.name}, ${args.guarantee}, ${profile.instances} instances at the start, brokers ${brokers.bootstrap}`,
      `service code: ${revision}`,
      `events: ${workload.produced} sent over ${profile.keys} keys, ${watch.distinct} distinct on the output (${watch.total} records)`,
      `pauses: ${[...workload.stats.pauses].map(([p, n]) => `${p} ${n}`).join(', ')}; bulk waves ${workload.stats.bulkWaves}`,
      `resumes: ${[...workload.stats.resumes].map(([p, n]) => `${p} ${n}`).join(', ')}`,
      `control operations failed ${workload.stats.failed}, of unknown outcome ${workload.stats.ambiguous}, keys tainted ${workload.stats.taintedKeys}`,
      `pause windows: ${pauseStats}`,
      `faults: ${nemesis.done.length} (${FAULT_KINDS.filter((k) => counts.has(k)).map((k) => `${k} ${counts.get(k)}`).join(', ')})`,
      ...nemesis.done.map((f) => `  ${clock.rel(f.startAt)} ${f.kind} ${f.target}: ${f.detail}`),
      `client errors seen by the runner's clients: ${errors.count}${watch.rereads > 0 ? `; output records read twice at one offset (ignored): ${watch.rereads}` : ''}`,
      ...errors.samples.slice(0, 8).map((sample) => `  ${sample}`),
      ...(warnings.length === 0 ? [] : ['warnings:', ...warnings.map((w) => `  ${w}`)]),
      `violations: ${violations.length}${violations.length === 0 ? '' : ` (${[...byKind].map(([k, vs]) => `${k} ${vs.length}`).join(', ')})`}`,
      ...violations.flatMap((v) => [`  [${v.kind}] ${v.message}`, ...(v.details ?? []).slice(0, 12).map((d) => `      ${d}`)]),
      `duration: ${((Date.now() - clock.startedAt) / 1000).toFixed(0)} s; run dir ${runDir} (instance logs i<n>.log, runner.log, broker-scripts.log)`,
      ...(code === 0 ? [] : [`replay: ${replay}`]),
      '',
    ];
    for (const line of lines) log(line);
    writeFileSync(
      path.join(runDir, 'summary.json'),
      JSON.stringify(
        {
          ...summaryBase,
          result: code,
          events: workload.produced,
          outputDistinct: watch.distinct,
          outputRecords: watch.total,
          faults: Object.fromEntries(counts),
          faultLog: nemesis.done.map((f) => ({ ...f, startAt: clock.seconds(f.startAt), endAt: f.endAt === undefined ? null : clock.seconds(f.endAt) })),
          violations,
          warnings,
          durationSeconds: Math.round((Date.now() - clock.startedAt) / 1000),
          workloadSeconds: Math.round((Date.now() - startedAt) / 1000),
        },
        null,
        2,
      ),
    );
    return code;
  }
}

class Abandon extends Error {}

/** The commit the instances run, and whether the service's sources differ from it. */
function serviceCode(): string {
  const git = (...args: string[]): string => spawnSync('git', args, { cwd: ROOT, encoding: 'utf8', timeout: 10_000 }).stdout?.trim() ?? '';
  const commit = git('rev-parse', '--short', 'HEAD') || 'unknown commit';
  const dirty = git('status', '--porcelain', '--', 'backend/src');
  return dirty === '' ? `commit ${commit}` : `commit ${commit} plus uncommitted changes in backend/src (${dirty.split('\n').length} file(s))`;
}

/** Which partitions each running instance says it runs (diagnostics for a stall). */
async function ownership(instances: Instances, flowId: string): Promise<string[]> {
  return Promise.all(
    instances.running.map(async (instance) => {
      const ready = await readiness(instance);
      let local = '?';
      try {
        const response = await fetch(`${instance.url}/api/v1/flows/${flowId}`, { signal: AbortSignal.timeout(3000) });
        local = JSON.stringify(((await response.json()) as { localPartitions?: number[] }).localPartitions ?? '?');
      } catch (error) {
        local = errorMessage(error);
      }
      const errorsLogged = instance.grep(/"level":(40|50|60)/, 3).map((line) => line.slice(0, 300));
      return `${instance.name} (pid ${instance.pid}): /ready ${ready.status}, local partitions ${local}; last warnings/errors: ${errorsLogged.join(' | ') || 'none'}`;
    }),
  );
}

async function main(): Promise<void> {
  let args: Args | undefined;
  try {
    args = parse(process.argv.slice(2));
  } catch (error) {
    process.stderr.write(`chaos: ${errorMessage(error)} (--help lists the options)\n`);
    process.exit(2);
  }
  if (args === undefined) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const running: Running = {};
  const abort = new AbortController();
  // Ctrl-C or SIGTERM: stop the run; the finally blocks stop what it started. A second one exits now.
  let interrupted = 0;
  const onSignal = (signal: string): void => {
    interrupted++;
    process.stderr.write(`\nchaos: ${signal}: stopping the instances and the broker\n`);
    if (interrupted === 1) {
      abort.abort();
      // If the orderly stop takes too long, stop hard.
      setTimeout(() => process.exit(130), 60_000).unref();
    } else {
      process.exit(130);
    }
  };
  process.on('SIGINT', () => onSignal('SIGINT'));
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  // Whatever way the process ends, nothing it started stays behind.
  process.on('exit', () => {
    running.instances?.killAll();
    running.brokers?.stopSync();
  });
  const code = await withDeadline(run(args, running, abort), 24 * 3600_000, 'chaos run');
  process.exit(code);
}

main().catch((error: unknown) => {
  process.stderr.write(`chaos: ${(error as Error).stack ?? String(error)}\n`);
  process.exit(2);
});
