/**
 * The log-client port (runtime/log/port.ts) over the in-memory cluster: the same consumer-group,
 * transaction and offset semantics the runtime relies on with librdkafka, on a Clock, so the
 * production loop (FlowMember, StatusFollower, readToEnd) runs without a broker, and in the
 * simulation on virtual time with faults injected at the port.
 *
 * What is modelled, as Kafka does it:
 * - consumer groups with the eager protocol and the range assignor: a rebalance first revokes
 *   every member's partitions, waits until each has handed them back (`unassign`) or left, then
 *   bumps the generation and assigns; callbacks reach a member during its `consume`;
 * - session timeouts: a member of a killed or frozen process is dropped after its session
 *   timeout on the clock; a frozen one that comes back gets `lost`;
 * - transactions: records and offsets are staged in the producer and applied in one atomic
 *   cluster commit; `initTransactions` bumps the transactional id's epoch, fencing older
 *   producers (FENCED, fatal); offsets sent with a stale group generation make the transaction
 *   abortable (TXN_ABORTABLE), as the coordinator's ILLEGAL_GENERATION does;
 * - only committed data is ever in a log (the cluster's model), so the last stable offset is the
 *   high watermark and read_committed is the only isolation.
 */
import type { Clock } from '../../runtime/clock.ts';
import { ClientClosedError, ClientTimeoutError, LogClientError } from '../../runtime/log/errors.ts';
import {
  type ConsumedBatch,
  type GroupConsumerOptions,
  type GroupInfo,
  type LogAdmin,
  type LogClients,
  type LogConsumer,
  type LogProducer,
  OFFSET_BEGINNING,
  OFFSET_INVALID,
  type ProducerOptions,
  type ReaderOptions,
  type RebalanceKind,
  type TopicInfo,
  type TopicPartition,
  type TopicPartitionOffset,
  type TopicPartitionPosition,
} from '../../runtime/log/port.ts';
import type { Header, InputRecord } from '../../runtime/ports.ts';
import type { EmbeddedCluster, GroupPosition, LogRecord, TopicWrite } from './cluster.ts';

const tpKey = (topic: string, partition: number): string => `${topic}\u0000${partition}`;

/** Fault decision points: the adapter asks around each asynchronous call; a thrown error is the call's. */
export interface PortFaults {
  /** Before the call: may throw (the call did nothing) or return a delay in ms. */
  before?(call: string, client: { readonly process: string; readonly clientId: string }): number | void;
  /** After the call did its work: may throw (an ambiguous outcome: it happened, the caller hears it failed). */
  after?(call: string, client: { readonly process: string; readonly clientId: string }): void;
  /**
   * How long a record of a producer without transactions takes to reach its partition (0: at
   * once). A partition's records keep their order; those of different partitions arrive
   * independently; a flush delivers everything; a killed process's undelivered records are lost.
   */
  deliveryDelay?(topic: string, client: { readonly process: string; readonly clientId: string }): number;
  /**
   * How long after a partition is assigned or sought its records can be fetched (ms): a broker
   * serves partitions independently, so a first poll can bring one partition's records and not
   * another's.
   */
  fetchLag?(topic: string, client: { readonly process: string; readonly clientId: string }): number;
  /**
   * Per poll: true serves the batch partition after partition (as a fetch response holds them),
   * from a rotating first partition, instead of merged in append order across partitions.
   */
  fetchByPartition?(client: { readonly process: string; readonly clientId: string }): boolean;
}

interface Member {
  readonly id: string;
  readonly consumer: MemoryConsumer;
  readonly sessionTimeoutMs: number;
  /** Partitions the member owns (revoked: emptied until the next assignment). */
  assigned: TopicPartition[];
  /** The member still has to hand its partitions back in the current rebalance. */
  revoking: boolean;
  /** Clock time of its last sign of life (polls; its process's heartbeats while alive). */
  lastSeen: number;
}

interface GroupState {
  readonly id: string;
  generation: number;
  /** A rebalance is under way: waiting for members to hand their partitions back. */
  preparing: boolean;
  readonly members: Map<string, Member>;
  topics: string[];
}

/** The coordinator side shared by every process on one cluster: groups, transactional ids. */
/** The reason a wait for data ends early (a constant: `abort()` with none builds a DOMException each time). */
const WOKEN = 'data appended';

export class MemoryBroker {
  readonly cluster: EmbeddedCluster;
  readonly clock: Clock;
  readonly #groups = new Map<string, GroupState>();
  readonly #epochs = new Map<string, number>();
  readonly #waiters = new Set<() => void>();
  #nextMember = 0;

  /**
   * How long a poll that does not wait takes at least, in the clock's time (default 0). On a
   * virtual clock work takes no time, so a member draining a big buffer (polling without a wait
   * between slices) would finish before any other record is written; a fetch round trip per such
   * poll lets other writes interleave as they do on a broker. A poll that waits for data costs
   * its wait already.
   */
  readonly pollMs: number;

  constructor(cluster: EmbeddedCluster, clock: Clock, options: { readonly pollMs?: number } = {}) {
    this.cluster = cluster;
    this.clock = clock;
    this.pollMs = options.pollMs ?? 0;
  }

  /** Wakes consumers waiting for data. */
  notifyAppend(): void {
    for (const wake of [...this.#waiters]) wake();
  }

  /** Resolves at the next append or after `ms`, whichever is first. */
  async waitForData(ms: number): Promise<void> {
    if (ms <= 0) return;
    const controller = new AbortController();
    const wake = (): void => controller.abort(WOKEN);
    this.#waiters.add(wake);
    try {
      await this.clock.sleep(ms, controller.signal);
    } finally {
      this.#waiters.delete(wake);
    }
  }

  // ---- transactional ids

  initProducer(transactionalId: string): number {
    const epoch = (this.#epochs.get(transactionalId) ?? -1) + 1;
    this.#epochs.set(transactionalId, epoch);
    return epoch;
  }

  isCurrentEpoch(transactionalId: string, epoch: number): boolean {
    return this.#epochs.get(transactionalId) === epoch;
  }

  // ---- groups

  join(groupId: string, consumer: MemoryConsumer, topics: string[], sessionTimeoutMs: number): Member {
    let group = this.#groups.get(groupId);
    if (group === undefined) {
      group = { id: groupId, generation: 0, preparing: false, members: new Map(), topics };
      this.#groups.set(groupId, group);
    }
    group.topics = topics;
    const member: Member = { id: `${consumer.clientId}-${this.#nextMember++}`, consumer, sessionTimeoutMs, assigned: [], revoking: false, lastSeen: this.clock.now() };
    group.members.set(member.id, member);
    this.#rebalance(group);
    return member;
  }

  leave(groupId: string, memberId: string): void {
    const group = this.#groups.get(groupId);
    if (group === undefined || !group.members.delete(memberId)) return;
    this.#rebalance(group);
  }

  generation(groupId: string): number {
    return this.#groups.get(groupId)?.generation ?? -1;
  }

  isMember(groupId: string, memberId: string): boolean {
    return this.#groups.get(groupId)?.members.has(memberId) ?? false;
  }

  /** A member handed its partitions back (unassign after a revoke). */
  revoked(groupId: string, memberId: string): void {
    const group = this.#groups.get(groupId);
    const member = group?.members.get(memberId);
    if (group === undefined || member === undefined || !member.revoking) return;
    member.revoking = false;
    this.#maybeComplete(group);
  }

  /** Drops members whose session expired (their process died or froze); called on every poll. */
  expire(groupId: string): void {
    const group = this.#groups.get(groupId);
    if (group === undefined) return;
    const now = this.clock.now();
    let changed = false;
    for (const member of [...group.members.values()]) {
      if (member.consumer.alive) member.lastSeen = now;
      else if (now - member.lastSeen > member.sessionTimeoutMs) {
        group.members.delete(member.id);
        member.consumer.expired();
        changed = true;
      }
    }
    if (changed) this.#rebalance(group);
  }

  describe(groupId: string): GroupInfo | undefined {
    const group = this.#groups.get(groupId);
    if (group === undefined) return undefined;
    return { members: [...group.members.values()].map((m) => ({ clientId: m.consumer.clientId, assignment: m.assigned })) };
  }

  #rebalance(group: GroupState): void {
    group.preparing = true;
    for (const member of group.members.values()) {
      if (member.assigned.length > 0) {
        member.revoking = true;
        member.consumer.deliver('revoke', member.assigned);
        member.assigned = [];
      }
    }
    this.notifyAppend();
    this.#maybeComplete(group);
  }

  #maybeComplete(group: GroupState): void {
    if (!group.preparing || [...group.members.values()].some((m) => m.revoking)) return;
    group.preparing = false;
    group.generation++;
    const members = [...group.members.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    if (members.length === 0) return;
    const assignment = new Map<string, TopicPartition[]>(members.map((m) => [m.id, []]));
    // The range assignor: per topic, contiguous ranges of partitions in member order, so
    // co-partitioned topics put partition p of each on the same member.
    for (const topic of group.topics) {
      if (!this.cluster.hasTopic(topic)) continue;
      const count = this.cluster.partitions(topic);
      const per = Math.floor(count / members.length);
      const extra = count % members.length;
      let partition = 0;
      members.forEach((member, i) => {
        const take = per + (i < extra ? 1 : 0);
        for (let k = 0; k < take; k++) assignment.get(member.id)!.push({ topic, partition: partition++ });
      });
    }
    for (const member of members) {
      member.assigned = assignment.get(member.id)!;
      member.consumer.deliver('assign', member.assigned);
    }
    this.notifyAppend();
  }
}

interface Position {
  offset: number;
  /** Not fetched before this clock time (PortFaults.fetchLag). */
  fetchableAt: number;
  /** The end offset last reported as EOF (readers). */
  eofAt: number;
  paused: boolean;
}

/** One process's clients: `kill` is kill -9 of that process (nothing it started settles again). */
export class MemoryLogClients implements LogClients {
  readonly broker: MemoryBroker;
  readonly process: string;
  readonly faults: PortFaults | undefined;
  #alive = true;
  #frozen = false;
  #thawed: Promise<void> = Promise.resolve();
  #thaw: (() => void) | undefined;
  readonly #clients = new Set<MemoryClient>();

  constructor(broker: MemoryBroker, process: string, faults?: PortFaults) {
    this.broker = broker;
    this.process = process;
    this.faults = faults;
  }

  get alive(): boolean {
    return this.#alive && !this.#frozen;
  }

  get dead(): boolean {
    return !this.#alive;
  }

  /** kill -9: every client stops; pending calls never settle; group members expire with their session. */
  kill(): void {
    this.#alive = false;
    for (const client of this.#clients) client.kill();
  }

  /** SIGSTOP / SIGCONT: no heartbeats while frozen, and every call waits until the thaw. */
  freeze(frozen: boolean): void {
    if (frozen === this.#frozen) return;
    this.#frozen = frozen;
    if (frozen) this.#thawed = new Promise((resolve) => (this.#thaw = resolve));
    else this.#thaw?.();
  }

  /** Resolves once the process is not frozen. */
  get thawed(): Promise<void> {
    return this.#thawed;
  }

  /**
   * A broker restart as librdkafka sometimes lives through it (issue 8, finding 1: "leader epoch
   * is older than broker epoch"): every client open now is stuck until it is closed. Its polls
   * return nothing, every other call times out; a new client works. Heartbeats go on, so the
   * group keeps the partitions with a member that cannot process them: only renewing the
   * clients gets them moving again.
   */
  wedge(): number {
    let wedged = 0;
    for (const client of this.#clients) {
      if (!client.open) continue;
      client.wedged = true;
      wedged++;
    }
    return wedged;
  }

  /** Clients made and not closed (a test's leak check). */
  get openClients(): number {
    let open = 0;
    for (const client of this.#clients) if (client.open) open++;
    return open;
  }

  track(client: MemoryClient): void {
    this.#clients.add(client);
  }

  /** A closed client is forgotten (kill and wedge reach open clients only). */
  untrack(client: MemoryClient): void {
    this.#clients.delete(client);
  }

  groupConsumer(options: GroupConsumerOptions): MemoryConsumer {
    return new MemoryConsumer(this, options.clientId, options);
  }

  reader(options: ReaderOptions): MemoryConsumer {
    return new MemoryConsumer(this, options.clientId, undefined);
  }

  producer(options: ProducerOptions): MemoryProducer {
    return new MemoryProducer(this, options);
  }

  admin(options: { readonly clientId: string }): MemoryAdmin {
    return new MemoryAdmin(this, options.clientId);
  }
}

/** A promise that never settles: what a call of a killed process sees. */
const NEVER = new Promise<never>(() => undefined);

/** How long a call of a wedged client takes to time out (librdkafka's request timeouts are seconds). */
const WEDGED_CALL_MS = 5000;

abstract class MemoryClient {
  readonly owner: MemoryLogClients;
  readonly clientId: string;
  protected state: 'new' | 'open' | 'closed' = 'new';
  protected killed = false;
  /** Stuck until closed (MemoryLogClients.wedge). */
  wedged = false;

  constructor(owner: MemoryLogClients, clientId: string) {
    this.owner = owner;
    this.clientId = clientId;
    owner.track(this);
  }

  get open(): boolean {
    return this.state !== 'closed' && !this.killed;
  }

  kill(): void {
    this.killed = true;
  }

  protected get broker(): MemoryBroker {
    return this.owner.broker;
  }

  /** Runs a call through the fault plan; a killed process's calls never return. */
  protected async call<T>(name: string, body: () => T | Promise<T>): Promise<T> {
    if (this.killed) return NEVER;
    await this.owner.thawed;
    if (this.killed) return NEVER;
    if (this.state === 'closed') throw new ClientClosedError(`${this.clientId}: ${name} on a closed client`);
    if (this.wedged) {
      await this.broker.clock.sleep(WEDGED_CALL_MS);
      if (this.killed) return NEVER;
      throw new ClientTimeoutError(`${this.clientId}: ${name} timed out (the client is stuck since a broker restart)`);
    }
    const delay = this.owner.faults?.before?.(name, { process: this.owner.process, clientId: this.clientId });
    if (typeof delay === 'number' && delay > 0) {
      await this.broker.clock.sleep(delay);
      // Frozen meanwhile (the delay is the caller's own, before the request leaves): the request
      // goes out after the thaw, and sees the broker as it is then.
      await this.owner.thawed;
    }
    if (this.killed) return NEVER;
    const result = await body();
    this.owner.faults?.after?.(name, { process: this.owner.process, clientId: this.clientId });
    // A process frozen while its request was served hears the answer after the thaw.
    await this.owner.thawed;
    if (this.killed) return NEVER;
    return result;
  }

  protected check(name: string): void {
    if (this.killed || this.state === 'closed') throw new ClientClosedError(`${this.clientId}: ${name} on a closed client`);
  }
}

export class MemoryConsumer extends MemoryClient implements LogConsumer {
  readonly #group: GroupConsumerOptions | undefined;
  #member: string | undefined;
  #generation = -1;
  readonly #positions = new Map<string, Position & TopicPartition>();
  #callbacks: { kind: RebalanceKind; partitions: TopicPartition[] }[] = [];
  #lost = false;
  #topics: string[] | undefined;
  /** First partition of the next batch served partition by partition. */
  #rotation = 0;

  constructor(owner: MemoryLogClients, clientId: string, group: GroupConsumerOptions | undefined) {
    super(owner, clientId);
    this.#group = group;
  }

  get alive(): boolean {
    return this.owner.alive && !this.killed && this.state !== 'closed';
  }

  /** The group generation this member last got an assignment in (the group metadata of its commits). */
  get generation(): number {
    return this.#generation;
  }

  get memberId(): string | undefined {
    return this.#member;
  }

  get groupId(): string | undefined {
    return this.#group?.groupId;
  }

  /** From the broker: a rebalance callback for the next poll. */
  deliver(kind: 'assign' | 'revoke', partitions: readonly TopicPartition[]): void {
    this.#callbacks.push({ kind, partitions: [...partitions] });
    if (kind === 'assign') this.#generation = this.broker.generation(this.#group!.groupId);
  }

  /** From the broker: the session expired; the member learns it (`lost`) on its next poll. */
  expired(): void {
    this.#member = undefined;
    this.#lost = true;
  }

  connect(): Promise<void> {
    return this.call('connect', () => {
      this.state = 'open';
    });
  }

  subscribe(topics: string[]): void {
    this.check('subscribe');
    const group = this.#group;
    if (group === undefined) throw new Error(`${this.clientId}: subscribe needs a group consumer`);
    this.#topics = [...topics];
    this.#member = this.broker.join(group.groupId, this, topics, group.sessionTimeoutMs).id;
  }

  assign(partitions: readonly TopicPartitionPosition[]): void {
    this.check('assign');
    for (const p of partitions) {
      const offset = this.#startOffset(p);
      this.#positions.set(tpKey(p.topic, p.partition), { topic: p.topic, partition: p.partition, offset, eofAt: -1, paused: false, fetchableAt: this.#fetchableAt(p.topic) });
    }
  }

  #startOffset(p: TopicPartitionPosition): number {
    const { cluster } = this.broker;
    const start = cluster.startOffset(p.topic, p.partition);
    if (p.offset !== undefined && p.offset >= 0) return Math.max(p.offset, start);
    if (p.offset === undefined && this.#group !== undefined) {
      const committed = cluster.committed(this.#group.groupId, p.topic, p.partition);
      if (committed !== undefined) return Math.max(committed, start);
    }
    return start;
  }

  unassign(): void {
    this.check('unassign');
    this.#positions.clear();
    if (this.#group !== undefined && this.#member !== undefined) this.broker.revoked(this.#group.groupId, this.#member);
  }

  async consume(max: number, timeoutMs: number): Promise<ConsumedBatch> {
    if (this.wedged && this.open) {
      // A stuck consumer polls nothing, quietly: the runtime has to notice by itself.
      await this.broker.clock.sleep(Math.max(timeoutMs, 1));
      return this.killed ? NEVER : { messages: [], eofs: [] };
    }
    return this.call('consume', async () => {
      if (this.#group !== undefined) {
        this.broker.expire(this.#group.groupId);
        if (this.#deliverCallbacks()) return { messages: [], eofs: [] };
      }
      if (this.broker.pollMs > 0 && timeoutMs <= 0) {
        await this.broker.clock.sleep(this.broker.pollMs);
        if (this.killed) return NEVER;
      }
      let batch = this.#take(max);
      if (batch.messages.length === 0 && batch.eofs.length === 0 && timeoutMs > 0) {
        await this.broker.waitForData(timeoutMs);
        if (this.killed) return NEVER;
        if (this.#group !== undefined && this.#deliverCallbacks()) return { messages: [], eofs: [] };
        batch = this.#take(max);
      }
      return batch;
    });
  }

  #deliverCallbacks(): boolean {
    const group = this.#group!;
    if (this.#lost) {
      this.#lost = false;
      const owned = [...this.#positions.values()].map(({ topic, partition }) => ({ topic, partition }));
      this.#callbacks = [];
      group.onRebalance('lost', owned);
      // Back in the group as a new member, as librdkafka rejoins after a lost assignment.
      if (this.state !== 'closed' && !this.killed) {
        const topics = this.#subscribedTopics();
        if (topics !== undefined) this.#member = this.broker.join(group.groupId, this, topics, group.sessionTimeoutMs).id;
      }
      return true;
    }
    if (this.#callbacks.length === 0) return false;
    const callbacks = this.#callbacks;
    this.#callbacks = [];
    for (const { kind, partitions } of callbacks) group.onRebalance(kind, partitions);
    return true;
  }

  #subscribedTopics(): string[] | undefined {
    return this.#topics;
  }

  /** Records in cluster append order across the assigned partitions, up to `max`. */
  #fetchableAt(topic: string): number {
    const lag = this.owner.faults?.fetchLag?.(topic, { process: this.owner.process, clientId: this.clientId }) ?? 0;
    return lag > 0 ? this.broker.clock.now() + lag : 0;
  }

  #take(max: number): ConsumedBatch {
    const { cluster } = this.broker;
    const messages: InputRecord[] = [];
    const eofs: TopicPartitionOffset[] = [];
    const candidates: { position: Position & TopicPartition; records: LogRecord[] }[] = [];
    const now = this.broker.clock.now();
    for (const position of this.#positions.values()) {
      if (position.paused || position.fetchableAt > now) continue;
      const records = cluster.read(position.topic, position.partition, position.offset, max);
      if (records.length > 0) candidates.push({ position, records });
      else if (this.#group === undefined) {
        const end = cluster.endOffset(position.topic, position.partition);
        if (position.offset >= end && position.eofAt !== end) {
          position.eofAt = end;
          eofs.push({ topic: position.topic, partition: position.partition, offset: end });
        }
      }
    }
    if (candidates.length > 1 && this.owner.faults?.fetchByPartition?.({ process: this.owner.process, clientId: this.clientId })) {
      const first = this.#rotation++ % candidates.length;
      for (let i = 0; i < candidates.length && messages.length < max; i++) {
        const { position, records } = candidates[(first + i) % candidates.length]!;
        for (const record of records) {
          if (messages.length >= max) break;
          messages.push(record);
          position.offset = record.offset + 1;
        }
      }
      return { messages, eofs };
    }
    // Merge by the cluster-wide append sequence: the order a broker would most likely serve.
    const heads = candidates.map(() => 0);
    while (messages.length < max) {
      let best = -1;
      for (let i = 0; i < candidates.length; i++) {
        const record = candidates[i]!.records[heads[i]!];
        if (record === undefined) continue;
        if (best < 0 || record.sequence < candidates[best]!.records[heads[best]!]!.sequence) best = i;
      }
      if (best < 0) break;
      const record = candidates[best]!.records[heads[best]!++]!;
      messages.push(record);
      candidates[best]!.position.offset = record.offset + 1;
    }
    return { messages, eofs };
  }

  seek(partition: TopicPartitionOffset): Promise<void> {
    return this.call('seek', () => {
      const position = this.#positions.get(tpKey(partition.topic, partition.partition));
      if (position === undefined) return;
      position.offset = partition.offset === OFFSET_BEGINNING ? this.broker.cluster.startOffset(partition.topic, partition.partition) : partition.offset;
      position.eofAt = -1;
      position.fetchableAt = this.#fetchableAt(partition.topic);
    });
  }

  position(partitions?: TopicPartition[]): TopicPartitionPosition[] {
    this.check('position');
    const all = [...this.#positions.values()];
    const wanted = partitions === undefined ? all : partitions.map((p) => this.#positions.get(tpKey(p.topic, p.partition)) ?? { ...p, offset: OFFSET_INVALID });
    return wanted.map(({ topic, partition, offset }) => ({ topic, partition, offset }));
  }

  committed(partitions: TopicPartition[]): Promise<TopicPartitionPosition[]> {
    return this.call('committed', () => {
      const group = this.#group?.groupId ?? `${this.clientId}-reader`;
      return partitions.map(({ topic, partition }) => ({ topic, partition, offset: this.broker.cluster.committed(group, topic, partition) ?? OFFSET_INVALID }));
    });
  }

  commit(offsets: TopicPartitionOffset[]): Promise<void> {
    return this.call('commit', () => {
      const group = this.#group;
      if (group === undefined) throw new LogClientError('OTHER', 'other', `${this.clientId}: commit needs a group`);
      this.#checkGeneration('other');
      this.broker.cluster.commit(
        [],
        offsets.map(({ topic, partition, offset }) => ({ group: group.groupId, topic, partition, offset })),
      );
    });
  }

  /** Throws unless this member is in its group at its current generation (no rebalance pending for it). */
  checkGeneration(kind: 'abortable' | 'other'): void {
    this.#checkGeneration(kind);
  }

  #checkGeneration(kind: 'abortable' | 'other'): void {
    const group = this.#group!;
    const member = this.#member;
    if (member === undefined || !this.broker.isMember(group.groupId, member) || this.broker.generation(group.groupId) !== this.#generation) {
      throw new LogClientError('GENERATION', kind, `${this.clientId}: the group generation moved on (ILLEGAL_GENERATION)`);
    }
  }

  cachedEndOffset(topic: string, partition: number): number | undefined {
    if (!this.#positions.has(tpKey(topic, partition))) return undefined;
    return this.broker.cluster.endOffset(topic, partition);
  }

  disconnect(): Promise<boolean> {
    if (this.killed) return Promise.resolve(false);
    if (this.state === 'closed') return Promise.resolve(true);
    this.state = 'closed';
    this.owner.untrack(this);
    this.#positions.clear();
    if (this.#group !== undefined && this.#member !== undefined) this.broker.leave(this.#group.groupId, this.#member);
    this.#member = undefined;
    return Promise.resolve(true);
  }

}

export class MemoryProducer extends MemoryClient implements LogProducer {
  readonly #options: ProducerOptions;
  #epoch = -1;
  #inTransaction = false;
  #writes: TopicWrite[] = [];
  #offsets: GroupPosition[] = [];
  /** The consumer whose group metadata came with the transaction's offsets. */
  #offsetsFrom: MemoryConsumer | undefined;
  #deliveryErrors = 0;
  /** Records on their way (PortFaults.deliveryDelay), per "topic:partition", in order. */
  readonly #inFlight = new Map<string, TopicWrite[]>();

  constructor(owner: MemoryLogClients, options: ProducerOptions) {
    super(owner, options.clientId);
    this.#options = options;
  }

  get connected(): boolean {
    return this.state === 'open' && !this.killed;
  }

  connect(): Promise<void> {
    return this.call('connect', () => {
      this.state = 'open';
    });
  }

  produce(topic: string, partition: number | undefined, key: Buffer | null, value: Buffer | null, timestamp: number, headers: readonly Header[]): void {
    this.check('produce');
    const write: TopicWrite = { topic, ...(partition === undefined ? {} : { partition }), key, value, headers, timestamp };
    if (this.#options.transactional !== undefined) {
      if (!this.#inTransaction) throw new LogClientError('OTHER', 'fatal', `${this.clientId}: produce outside a transaction`);
      this.#writes.push(write);
      return;
    }
    const delay = this.owner.faults?.deliveryDelay?.(topic, { process: this.owner.process, clientId: this.clientId }) ?? 0;
    const id = tpKey(topic, partition ?? this.broker.cluster.partitionFor(topic, key));
    const queue = this.#inFlight.get(id);
    if (queue !== undefined) {
      queue.push(write); // behind the records of its partition still on their way
    } else if (delay > 0) {
      this.#inFlight.set(id, [write]);
      void this.broker.clock.sleep(delay).then(async () => {
        await this.owner.thawed; // a frozen process sends nothing
        this.#deliver(id);
      });
    } else {
      this.broker.cluster.produce(write);
      this.broker.notifyAppend();
    }
  }

  #deliver(id: string): void {
    const queue = this.#inFlight.get(id);
    if (queue === undefined || this.killed) return;
    this.#inFlight.delete(id);
    for (const write of queue) this.broker.cluster.produce(write);
    this.broker.notifyAppend();
  }

  #deliverAll(): void {
    for (const id of [...this.#inFlight.keys()]) this.#deliver(id);
  }

  send(topic: string, partition: number | undefined, key: Buffer | null, value: Buffer | null, timestamp: number | undefined, headers: readonly Header[]): Promise<TopicPartitionOffset> {
    return this.call('send', () => {
      const placed = this.broker.cluster.produce({ topic, ...(partition === undefined ? {} : { partition }), key, value, headers, timestamp: timestamp ?? this.broker.clock.now() });
      this.broker.notifyAppend();
      return { topic, partition: placed.partition, offset: placed.offset };
    });
  }

  takeDeliveryErrors(): number {
    const errors = this.#deliveryErrors;
    this.#deliveryErrors = 0;
    return errors;
  }

  poll(): void {
    // Deliveries happen on their own (at once, or after PortFaults.deliveryDelay).
  }

  flush(): Promise<void> {
    return this.call('flush', () => this.#deliverAll());
  }

  initTransactions(): Promise<void> {
    return this.call('initTransactions', () => {
      const id = this.#transactionalId();
      this.#epoch = this.broker.initProducer(id);
      this.#inTransaction = false;
    });
  }

  beginTransaction(): Promise<void> {
    return this.call('beginTransaction', () => {
      this.#fenceCheck();
      this.#inTransaction = true;
      this.#writes = [];
      this.#offsets = [];
      this.#offsetsFrom = undefined;
    });
  }

  sendOffsets(offsets: TopicPartitionOffset[], consumer: LogConsumer): Promise<void> {
    return this.call('sendOffsets', () => {
      if (!(consumer instanceof MemoryConsumer) || consumer.groupId === undefined) throw new TypeError('sendOffsets needs a group consumer of the same (memory) adapter');
      this.#fenceCheck();
      consumer.checkGeneration('abortable');
      const group = consumer.groupId;
      for (const { topic, partition, offset } of offsets) this.#offsets.push({ group, topic, partition, offset });
      this.#offsetsFrom = consumer;
    });
  }

  commitTransaction(): Promise<void> {
    return this.call('commitTransaction', () => {
      this.#fenceCheck();
      if (!this.#inTransaction) throw new LogClientError('OTHER', 'fatal', `${this.clientId}: commit without a transaction`);
      try {
        // The coordinator's check of the offsets' group generation (KIP-447).
        if (this.#offsets.length > 0) this.#offsetsFrom?.checkGeneration('abortable');
      } catch (error) {
        this.#discard();
        throw error;
      }
      const writes = this.#writes;
      const offsets = this.#offsets;
      this.#discard();
      this.broker.cluster.commit(writes, offsets);
      if (writes.length > 0) this.broker.notifyAppend();
    });
  }

  abortTransaction(): Promise<void> {
    return this.call('abortTransaction', () => {
      this.#fenceCheck();
      this.#discard();
    });
  }

  disconnect(): Promise<boolean> {
    if (this.killed) return Promise.resolve(false);
    this.#deliverAll(); // a clean close sends what is queued
    this.state = 'closed';
    this.owner.untrack(this);
    this.#discard();
    return Promise.resolve(true);
  }

  override kill(): void {
    super.kill();
    this.#inFlight.clear();
    this.#discard();
  }

  #discard(): void {
    this.#inTransaction = false;
    this.#writes = [];
    this.#offsets = [];
    this.#offsetsFrom = undefined;
  }

  #transactionalId(): string {
    const id = this.#options.transactional?.id;
    if (id === undefined) throw new LogClientError('OTHER', 'fatal', `${this.clientId}: not a transactional producer`);
    return id;
  }

  #fenceCheck(): void {
    if (!this.broker.isCurrentEpoch(this.#transactionalId(), this.#epoch)) {
      this.#discard();
      throw new LogClientError('FENCED', 'fatal', `${this.clientId}: producer fenced by a newer instance with the same transactional id`);
    }
  }
}

export class MemoryAdmin extends MemoryClient implements LogAdmin {
  constructor(owner: MemoryLogClients, clientId: string) {
    super(owner, clientId);
    this.state = 'open';
  }

  listOffsets(partitions: readonly TopicPartition[], which: 'earliest' | 'latest'): Promise<TopicPartitionOffset[]> {
    return this.call('listOffsets', () => {
      const { cluster } = this.broker;
      return partitions.map(({ topic, partition }) => {
        if (!cluster.hasTopic(topic)) throw new LogClientError('UNKNOWN_TOPIC', 'other', `unknown topic ${topic}`);
        return { topic, partition, offset: which === 'earliest' ? cluster.startOffset(topic, partition) : cluster.endOffset(topic, partition) };
      });
    });
  }

  describeTopics(names: readonly string[]): Promise<TopicInfo[]> {
    return this.call('describeTopics', () => names.map((name) => ({ name, partitions: this.broker.cluster.hasTopic(name) ? this.broker.cluster.partitions(name) : undefined })));
  }

  describeGroup(groupId: string): Promise<GroupInfo | undefined> {
    return this.call('describeGroup', () => this.broker.describe(groupId));
  }

  disconnect(): Promise<boolean> {
    this.state = 'closed';
    this.owner.untrack(this);
    return Promise.resolve(!this.killed);
  }
}
