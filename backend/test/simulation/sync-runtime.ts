/**
 * The deterministic simulation's instance (simulation.ts): the stream runtime's synchronous core
 * (FlowTasks: tasks, change-logged stores, trim on restore, the guarantee's write routing, the
 * code FlowMember runs) stepped by hand on an embedded cluster, with the cluster's synchronous
 * group protocol instead of a consumer, so thousands of schedules run a second. The loop around
 * the core is this file's; the async loop of production (FlowMember) has a simulation of its own
 * (member-simulation.ts). Fully synchronous: it owns the status
 * tables (one per flow, following the status topic, optionally lagging), the tasks of the
 * partitions its group assigns it (restored from their changelogs), one transaction, punctuation
 * and commits. Whoever holds it decides when time passes and when it steps: the service engine
 * on timers, the test driver and the simulation on an injected clock.
 *
 * A step: fold visible status records into the tables; give every task up to `maxPollRecords`
 * input records (its main and trigger partitions interleaved in the order they were written);
 * one drain step per task; punctuate if due; commit if due.
 *
 * Exactly-once: the task's output, dead letters and changelog records wait in the transaction and
 * reach the cluster together with the input positions at commit; a crash discards them.
 * At-least-once: writes reach the cluster at once and positions at commit, so a crash replays
 * what was processed since.
 */
import type { FlowDefinition, RuntimeSettings } from '../../src/config/config.ts';
import type { Clock } from '../../src/engines/embedded/clock.ts';
import type { EmbeddedCluster, GroupMember, GroupPosition, LogRecord, TopicWrite } from '../../src/engines/embedded/cluster.ts';
import { FlowTasks } from '../../src/engines/stream/flow-tasks.ts';
import type { EngineEvent } from '../../src/runtime/engine.ts';
import type { BufferStore, InputKind, OutputRecord, ProcessingEvent, Processor } from '../../src/runtime/ports.ts';
import { StatusTable } from '../../src/runtime/status-table.ts';
import { MemoryBufferStore } from '../../src/stores/memory-buffer-store.ts';

export type EmbeddedRuntimeSettings = Pick<
  RuntimeSettings,
  'applicationId' | 'processingGuarantee' | 'commitIntervalMs' | 'punctuateIntervalMs' | 'drainSliceSize' | 'maxBufferPerKey' | 'maxEventBytes'
>;

export interface EmbeddedRuntimeOptions {
  readonly cluster: EmbeddedCluster;
  readonly flows: readonly FlowDefinition[];
  readonly settings: EmbeddedRuntimeSettings;
  readonly clock: Clock;
  /** Unique within the group; defaults to "instance". */
  readonly memberId?: string;
  /** A status record reaches this instance's tables this long after it was written (default 0). */
  readonly statusLagMs?: number;
  /** Input records a task takes per step (default 500). */
  readonly maxPollRecords?: number;
  /** The processor of each task (default: the pause-aware processor with the settings' limits). */
  readonly processor?: (flow: FlowDefinition, partition: number) => Processor;
  /**
   * Which input a task takes next when both have records (default: the one written first). The
   * simulation picks at random: Kafka promises no order across topics.
   */
  readonly pickInput?: (event: LogRecord, command: LogRecord) => InputKind;
  readonly onEvent?: (event: EngineEvent) => void;
}

interface FlowState {
  readonly flow: FlowDefinition;
  readonly table: StatusTable;
  /** Next offset to fold, per status partition. */
  readonly statusPositions: number[];
  processed: number;
  drained: number;
  deadLettered: number;
  /** The flow's open tasks on this instance (the production core). */
  tasks: FlowTasks;
}

interface Task {
  readonly unit: string;
  readonly state: FlowState;
  readonly partition: number;
  mainPosition: number;
  triggerPosition: number;
  committedMain: number;
  committedTrigger: number;
}

const COMMIT_LATENCIES_KEPT = 200;

/** Only the fields a write has: a forwarded input record carries topic, offset and more. */
function toWrite(topic: string, record: OutputRecord): TopicWrite {
  const { key, value, headers, timestamp, partition } = record;
  return partition === undefined ? { topic, key, value, headers, timestamp } : { topic, partition, key, value, headers, timestamp };
}

export function taskUnit(flowId: string, partition: number): string {
  return `${flowId}/${partition}`;
}

export class EmbeddedRuntime implements GroupMember {
  readonly memberId: string;
  readonly settings: EmbeddedRuntimeSettings;
  readonly #cluster: EmbeddedCluster;
  readonly #clock: Clock;
  readonly #flows = new Map<string, FlowState>();
  readonly #tasks = new Map<string, Task>();
  readonly #maxPollRecords: number;
  readonly #processor: ((flow: FlowDefinition, partition: number) => Processor) | undefined;
  readonly #pickInput: ((event: LogRecord, command: LogRecord) => InputKind) | undefined;
  readonly #onEvent: ((event: EngineEvent) => void) | undefined;
  readonly #transaction: TopicWrite[] = [];
  readonly #commitLatencies: number[] = [];
  #statusLagMs: number;
  #uncommitted = false;
  #nextPunctuation = 0;
  #nextCommit = 0;
  #commits = 0;
  #state: 'new' | 'running' | 'stopped' | 'crashed' = 'new';

  constructor(options: EmbeddedRuntimeOptions) {
    this.#cluster = options.cluster;
    this.#clock = options.clock;
    this.settings = options.settings;
    this.memberId = options.memberId ?? 'instance';
    this.#statusLagMs = options.statusLagMs ?? 0;
    this.#maxPollRecords = options.maxPollRecords ?? 500;
    this.#pickInput = options.pickInput;
    this.#onEvent = options.onEvent;
    this.#processor = options.processor;
    for (const flow of options.flows) {
      const table = new StatusTable();
      const partitions = this.#cluster.partitions(flow.topics.status);
      table.setPartitions(partitions);
      const state: FlowState = { flow, table, statusPositions: new Array<number>(partitions).fill(0), processed: 0, drained: 0, deadLettered: 0, tasks: undefined! };
      state.tasks = this.#newTasks(state);
      this.#flows.set(flow.id, state);
      table.onChange((change) => this.#onEvent?.({ flowId: flow.id, type: 'status-changed', ...change }));
    }
  }

  get group(): string {
    return this.settings.applicationId;
  }

  /** Catches the status tables up (lag ignored, as a restoring global table), then joins the group. */
  start(): void {
    if (this.#state !== 'new') throw new Error(`runtime ${this.memberId} cannot start: it is ${this.#state}`);
    this.#state = 'running';
    this.pollStatus(Infinity);
    const now = this.#clock();
    this.#nextPunctuation = now + this.settings.punctuateIntervalMs;
    this.#nextCommit = now + this.settings.commitIntervalMs;
    const units: string[] = [];
    const inputs: string[] = [];
    for (const { flow } of this.#flows.values()) {
      for (let p = 0; p < flow.partitions; p++) units.push(taskUnit(flow.id, p));
      inputs.push(flow.topics.main, flow.topics.trigger);
    }
    this.#cluster.joinGroup(this.group, this, { units, inputs });
  }

  get running(): boolean {
    return this.#state === 'running';
  }

  get statusLagMs(): number {
    return this.#statusLagMs;
  }

  set statusLagMs(ms: number) {
    this.#statusLagMs = ms;
  }

  /** One round of work; false when there was nothing to do. */
  step(): boolean {
    this.#checkRunning();
    const now = this.#clock();
    this.pollStatus(now);
    let worked = this.processInput(this.#maxPollRecords) > 0;
    if (this.drainStep() > 0) worked = true;
    if (now >= this.#nextPunctuation) {
      this.punctuate(now);
      worked = true;
    }
    if (now >= this.#nextCommit) this.commit();
    return worked;
  }

  /** Steps until a step finds nothing to do; returns the steps taken. */
  runUntilIdle(maxSteps = 10_000_000): number {
    for (let steps = 1; steps <= maxSteps; steps++) if (!this.step()) return steps;
    throw new Error(`runtime ${this.memberId} still busy after ${maxSteps} steps`);
  }

  /** Folds status records written at least `statusLagMs` before `now` into the tables. */
  pollStatus(now: number = this.#clock()): number {
    this.#checkRunning();
    const visibleUntil = now - this.#statusLagMs;
    let applied = 0;
    for (const state of this.#flows.values()) {
      const topic = state.flow.topics.status;
      state.statusPositions.forEach((position, partition) => {
        for (const record of this.#cluster.read(topic, partition, position)) {
          if (record.appendTime > visibleUntil) break;
          state.table.apply(record);
          state.statusPositions[partition] = record.offset + 1;
          applied++;
        }
      });
    }
    return applied;
  }

  /** Gives each task up to `maxRecords` input records; returns how many were processed. */
  processInput(maxRecords: number): number {
    this.#checkRunning();
    let processed = 0;
    for (const task of this.#tasks.values()) {
      const { main, trigger } = task.state.flow.topics;
      for (let n = 0; n < maxRecords; n++) {
        const event = this.#cluster.recordAt(main, task.partition, task.mainPosition);
        const command = this.#cluster.recordAt(trigger, task.partition, task.triggerPosition);
        if (event === undefined && command === undefined) break;
        const kind: InputKind =
          event === undefined ? 'command'
          : command === undefined ? 'event'
          : (this.#pickInput?.(event, command) ?? (event.sequence < command.sequence ? 'event' : 'command'));
        const record = kind === 'event' ? event! : command!;
        if (kind === 'event') task.mainPosition = record.offset + 1;
        else task.triggerPosition = record.offset + 1;
        this.#uncommitted = true;
        task.state.tasks.process(record, kind);
        processed++;
      }
    }
    return processed;
  }

  /** One drain step per task (a slice at most); returns the events forwarded. */
  drainStep(): number {
    this.#checkRunning();
    let forwarded = 0;
    for (const state of this.#flows.values()) forwarded += state.tasks.drainStep();
    return forwarded;
  }

  punctuate(now: number = this.#clock()): void {
    this.#checkRunning();
    for (const state of this.#flows.values()) state.tasks.punctuateAll(now);
    const interval = this.settings.punctuateIntervalMs;
    // Wall-clock schedule: the next multiple of the interval after now (missed ones are skipped).
    this.#nextPunctuation += Math.max(1, Math.ceil((now + 1 - this.#nextPunctuation) / interval)) * interval;
  }

  get nextPunctuation(): number {
    return this.#nextPunctuation;
  }

  /** Commits the transaction: writes (exactly-once) and input positions, atomically. */
  commit(): void {
    this.#checkRunning();
    this.#nextCommit = this.#clock() + this.settings.commitIntervalMs;
    // at_least_once: the drains' tombstones and marks, now that their output is written.
    for (const state of this.#flows.values()) for (const { topic, partition, record } of state.tasks.takeHeld()) this.#write(toWrite(topic, { ...record, ...(partition === undefined ? {} : { partition }) }));
    if (!this.#uncommitted) return;
    const started = performance.now();
    const positions: GroupPosition[] = [];
    for (const task of this.#tasks.values()) {
      const { main, trigger } = task.state.flow.topics;
      if (task.mainPosition !== task.committedMain) {
        positions.push({ group: this.group, topic: main, partition: task.partition, offset: task.mainPosition });
      }
      if (task.triggerPosition !== task.committedTrigger) {
        positions.push({ group: this.group, topic: trigger, partition: task.partition, offset: task.triggerPosition });
      }
    }
    this.#cluster.commit(this.#transaction, positions);
    this.#transaction.length = 0;
    this.#uncommitted = false;
    for (const task of this.#tasks.values()) {
      task.committedMain = task.mainPosition;
      task.committedTrigger = task.triggerPosition;
    }
    this.#commits++;
    this.#commitLatencies.push(performance.now() - started);
    if (this.#commitLatencies.length > COMMIT_LATENCIES_KEPT) this.#commitLatencies.shift();
  }

  /** Input records not processed yet, in this instance's tasks. */
  hasPendingInput(): boolean {
    for (const task of this.#tasks.values()) {
      const { main, trigger } = task.state.flow.topics;
      if (this.#cluster.endOffset(main, task.partition) > task.mainPosition) return true;
      if (this.#cluster.endOffset(trigger, task.partition) > task.triggerPosition) return true;
    }
    return false;
  }

  /** Clean shutdown: commit, close the tasks, leave the group (the others take the partitions). */
  stop(): void {
    if (this.#state !== 'running') return;
    this.commit();
    for (const task of this.#tasks.values()) this.#close(task);
    this.#tasks.clear();
    this.#state = 'stopped';
    this.#cluster.leaveGroup(this.group, this.memberId);
  }

  /** kill -9: the transaction and all task memory are lost; the group hands the partitions on. */
  crash(): void {
    if (this.#state !== 'running') return;
    this.#transaction.length = 0;
    this.#tasks.clear();
    for (const state of this.#flows.values()) state.tasks.closeAll();
    this.#state = 'crashed';
    this.#cluster.leaveGroup(this.group, this.memberId);
  }

  statusTable(flowId: string): StatusTable {
    return this.#flowState(flowId).table;
  }

  /** Partitions of a flow this instance has a task for, ascending. */
  partitions(flowId: string): number[] {
    const partitions: number[] = [];
    for (const task of this.#tasks.values()) if (task.state.flow.id === flowId) partitions.push(task.partition);
    return partitions.sort((a, b) => a - b);
  }

  buffer(flowId: string, partition: number): BufferStore | undefined {
    return this.#flowState(flowId).tasks.get(partition)?.logged;
  }

  flowCounters(flowId: string): { processed: number; drained: number; deadLettered: number; buffered: number; lag: number } {
    const state = this.#flowState(flowId);
    let buffered = 0;
    let lag = 0;
    const { main, trigger } = state.flow.topics;
    for (const task of this.#tasks.values()) {
      if (task.state !== state) continue;
      const store = state.tasks.get(task.partition)?.logged;
      for (const key of store?.keys() ?? []) buffered += store!.count(key);
      lag += this.#cluster.endOffset(main, task.partition) - task.mainPosition;
      lag += this.#cluster.endOffset(trigger, task.partition) - task.triggerPosition;
    }
    return { processed: state.processed, drained: state.drained, deadLettered: state.deadLettered, buffered, lag };
  }

  get commits(): number {
    return this.#commits;
  }

  get commitLatenciesMs(): readonly number[] {
    return this.#commitLatencies;
  }

  /** Group callback: commit everything, then close the tasks that move away. */
  revoke(units: readonly string[]): void {
    if (this.#state !== 'running') return;
    this.commit();
    for (const unit of units) {
      const task = this.#tasks.get(unit);
      if (task === undefined) continue;
      this.#close(task);
      this.#tasks.delete(unit);
    }
  }

  /** Group callback: restore each task's buffer from its changelog, then resume from the committed positions. */
  assign(units: readonly string[]): void {
    if (this.#state !== 'running') return;
    for (const unit of units) this.#open(unit);
  }

  #open(unit: string): void {
    const slash = unit.lastIndexOf('/');
    const state = this.#flowState(unit.slice(0, slash));
    const partition = Number(unit.slice(slash + 1));
    const { main, trigger, changelog } = state.flow.topics;
    const store = new MemoryBufferStore();
    for (const record of this.#cluster.read(changelog, partition, 0)) {
      if (record.key !== null) store.restore(record.key, record.value);
    }
    const committedMain = this.#cluster.committed(this.group, main, partition);
    const committedTrigger = this.#cluster.committed(this.group, trigger, partition) ?? 0;
    // Entries ahead of the committed offset are trimmed: the replay buffers them again.
    state.tasks.open(partition, store, committedMain);
    this.#tasks.set(unit, {
      unit,
      state,
      partition,
      mainPosition: committedMain ?? 0,
      triggerPosition: committedTrigger,
      committedMain: committedMain ?? 0,
      committedTrigger,
    });
  }

  #close(task: Task): void {
    task.state.tasks.close(task.partition);
  }

  #newTasks(state: FlowState): FlowTasks {
    return new FlowTasks({
      flow: state.flow,
      runtime: this.settings,
      status: (key) => state.table.get(key),
      write: (topic, partition, record) => this.#write(toWrite(topic, { ...record, ...(partition === undefined ? {} : { partition }) })),
      now: () => this.#clock(),
      ...(this.#processor === undefined ? {} : { processor: this.#processor }),
      report: (flowId, event) => this.#report(state, flowId, event),
    });
  }

  #write(write: TopicWrite): void {
    const placed = write.partition === undefined ? { ...write, partition: this.#cluster.partitionFor(write.topic, write.key) } : write;
    if (this.settings.processingGuarantee === 'exactly_once') {
      this.#transaction.push(placed);
    } else {
      this.#cluster.produce(placed);
    }
    this.#uncommitted = true;
  }

  #report(state: FlowState, flowId: string, event: ProcessingEvent): void {
    if (event.type === 'processed') state.processed++;
    else if (event.type === 'drained') state.drained += event.count;
    else if (event.type === 'dead-lettered') state.deadLettered++;
    this.#onEvent?.({ flowId, ...event });
  }

  #flowState(flowId: string): FlowState {
    const state = this.#flows.get(flowId);
    if (state === undefined) throw new Error(`unknown flow ${flowId}`);
    return state;
  }

  #checkRunning(): void {
    if (this.#state !== 'running') throw new Error(`runtime ${this.memberId} is ${this.#state}`);
  }
}
