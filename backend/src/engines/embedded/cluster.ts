/**
 * An in-process stand-in for a Kafka cluster, synchronous and deterministic: topics of partitioned,
 * offset-addressed logs (compacted or not), consumer-group positions, atomic transactions and group
 * membership with partition assignment. The embedded runtime, the test driver and the simulation
 * drive it directly; a journal (journal.ts) makes it durable.
 *
 * Only committed data is ever in a log: a transaction's records are appended together with the
 * group positions it commits, in one step, so every reader is read_committed and an aborted (or
 * crashed) transaction never reaches the cluster at all.
 */
import { partitionForKey } from '../../runtime/partitioner.ts';
import type { Header } from '../../runtime/ports.ts';
import type { Clock } from './clock.ts';

export interface TopicConfig {
  readonly partitions: number;
  /**
   * 'compact': the latest record per key is kept (a null value is a tombstone). 'delete': a
   * partition keeps its last `retainRecords` records, and never drops what a group that consumes
   * the topic has not committed past.
   */
  readonly cleanup: 'delete' | 'compact';
  readonly retainRecords?: number;
  /**
   * Compaction drops tombstones as well. Only safe when no reader stops midway through the log:
   * changelogs are read start to end in one go; status tables follow the log and must see them.
   */
  readonly dropTombstones?: boolean;
}

/** A record in a log. Also a valid `InputRecord`, so tasks get log records without copies. */
export interface LogRecord {
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
  readonly key: Buffer | null;
  readonly value: Buffer | null;
  readonly headers: readonly Header[];
  readonly timestamp: number;
  /** Cluster-wide append order: a task interleaves its input partitions by it. */
  readonly sequence: number;
  /** Clock time the record became visible; status-table lag is measured from it. */
  readonly appendTime: number;
}

export interface TopicWrite {
  readonly topic: string;
  /** Unset: the Java-compatible murmur2 partitioner for a key, round-robin for a null key. */
  readonly partition?: number;
  readonly key: Buffer | null;
  readonly value: Buffer | null;
  readonly headers: readonly Header[];
  readonly timestamp: number;
}

export interface GroupPosition {
  readonly group: string;
  readonly topic: string;
  readonly partition: number;
  /** The next offset the group reads. */
  readonly offset: number;
}

/** One durable mutation. The cluster's data is the fold of its entries (see `entries()`). */
export type ClusterEntry =
  | { readonly type: 'topic'; readonly name: string; readonly config: TopicConfig }
  | { readonly type: 'commit'; readonly records: readonly LogRecord[]; readonly positions: readonly GroupPosition[] };

export interface ClusterJournal {
  /** Makes the entry durable, or throws; the cluster applies it only afterwards. */
  write(entry: ClusterEntry): void;
}

/** A member of a consumer group: an embedded runtime instance. */
export interface GroupMember {
  readonly memberId: string;
  /** Units taken away: commit and close their tasks. Called before any unit is assigned elsewhere. */
  revoke(units: readonly string[]): void;
  /** Units given: restore their tasks. */
  assign(units: readonly string[]): void;
}

export interface GroupSubscription {
  /** The units of work (tasks) the group shares out; every member must name the same ones. */
  readonly units: readonly string[];
  /** Topics the group consumes: retention never drops what it has not committed past. */
  readonly inputs: readonly string[];
}

interface Group {
  readonly units: readonly string[];
  readonly inputs: ReadonlySet<string>;
  readonly members: GroupMember[];
  readonly assignment: Map<string, readonly string[]>;
}

interface Topic {
  readonly config: TopicConfig;
  readonly logs: PartitionLog[];
  nextNullKeyPartition: number;
}

/** Compaction waits until this many records (and at least as many as are live) are garbage. */
const COMPACT_MIN_GARBAGE = 1000;

class PartitionLog {
  records: LogRecord[] = [];
  /** The log end offset: the next offset to assign. */
  end = 0;
  /** Compacted logs: the latest offset of every key, so garbage is counted without a scan. */
  readonly latest: Map<string, number> | undefined;
  tombstones = 0;

  constructor(compacted: boolean) {
    this.latest = compacted ? new Map() : undefined;
  }

  append(record: LogRecord): void {
    if (record.offset < this.end) throw new Error(`offset ${record.offset} is behind the log end ${this.end}`);
    this.records.push(record);
    this.end = record.offset + 1;
    if (this.latest !== undefined && record.key !== null) {
      this.latest.set(record.key.toString('latin1'), record.offset);
      if (record.value === null) this.tombstones++;
    }
  }

  /** Index of the first record at or after `offset`. */
  indexOf(offset: number): number {
    const records = this.records;
    if (records.length === 0) return 0;
    const first = records[0]!.offset;
    if (offset <= first) return 0;
    if (offset >= this.end) return records.length;
    const guess = offset - first;
    if (guess < records.length && records[guess]!.offset === offset) return guess;
    let low = 0;
    let high = records.length;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if (records[mid]!.offset < offset) low = mid + 1;
      else high = mid;
    }
    return low;
  }

  get start(): number {
    return this.records[0]?.offset ?? this.end;
  }

  garbage(dropTombstones: boolean): number {
    if (this.latest === undefined) return 0;
    return this.records.length - this.latest.size + (dropTombstones ? this.tombstones : 0);
  }

  compact(dropTombstones: boolean): void {
    const latest = this.latest;
    if (latest === undefined) return;
    const kept: LogRecord[] = [];
    let tombstones = 0;
    for (const record of this.records) {
      if (record.key === null) {
        kept.push(record);
        continue;
      }
      const id = record.key.toString('latin1');
      if (latest.get(id) !== record.offset) continue;
      if (record.value === null) {
        if (dropTombstones) {
          latest.delete(id);
          continue;
        }
        tombstones++;
      }
      kept.push(record);
    }
    this.records = kept;
    this.tombstones = tombstones;
  }

  trimBefore(offset: number): void {
    const index = this.indexOf(offset);
    if (index > 0) this.records = this.records.slice(index);
  }
}

export class EmbeddedCluster {
  readonly #topics = new Map<string, Topic>();
  readonly #positions = new Map<string, number>();
  readonly #groups = new Map<string, Group>();
  readonly #clock: Clock;
  #journal: ClusterJournal | undefined;
  #sequence = 0;

  constructor(options: { readonly clock?: Clock } = {}) {
    this.#clock = options.clock ?? Date.now;
  }

  /** From now on every mutation is written to the journal before it is applied. */
  attachJournal(journal: ClusterJournal): void {
    this.#journal = journal;
  }

  /** Creates a topic, or checks that an existing one has the same partition count. */
  createTopic(name: string, config: TopicConfig): void {
    const existing = this.#topics.get(name);
    if (existing !== undefined) {
      if (existing.config.partitions !== config.partitions) {
        throw new Error(`topic ${name} exists with ${existing.config.partitions} partitions, not ${config.partitions}`);
      }
      return;
    }
    if (!Number.isInteger(config.partitions) || config.partitions < 1) {
      throw new RangeError(`topic ${name}: partitions must be a positive integer, got ${config.partitions}`);
    }
    this.#mutate({ type: 'topic', name, config });
  }

  hasTopic(name: string): boolean {
    return this.#topics.has(name);
  }

  topicNames(): string[] {
    return [...this.#topics.keys()];
  }

  partitions(topic: string): number {
    return this.#topic(topic).logs.length;
  }

  /** A non-transactional write: durable and visible at once. */
  produce(write: TopicWrite): { partition: number; offset: number } {
    const [record] = this.#mutateCommit([write], []);
    return { partition: record!.partition, offset: record!.offset };
  }

  /**
   * Commits a transaction: every write and every position, atomically. `writes` in order; the
   * records of one partition keep it.
   */
  commit(writes: readonly TopicWrite[], positions: readonly GroupPosition[]): void {
    if (writes.length === 0 && positions.length === 0) return;
    this.#mutateCommit(writes, positions);
  }

  /** The partition a write goes to (murmur2 of its key unless set; round-robin for a null key). */
  partitionFor(topic: string, key: Buffer | null): number {
    const t = this.#topic(topic);
    if (key === null) {
      const partition = t.nextNullKeyPartition;
      t.nextNullKeyPartition = (partition + 1) % t.logs.length;
      return partition;
    }
    return partitionForKey(key, t.logs.length);
  }

  endOffset(topic: string, partition: number): number {
    return this.#log(topic, partition).end;
  }

  startOffset(topic: string, partition: number): number {
    return this.#log(topic, partition).start;
  }

  /** The first record at or after `offset`, if any. */
  recordAt(topic: string, partition: number, offset: number): LogRecord | undefined {
    const log = this.#log(topic, partition);
    return log.records[log.indexOf(offset)];
  }

  /** Up to `max` records from `offset` on. */
  read(topic: string, partition: number, offset: number, max = Infinity): LogRecord[] {
    const log = this.#log(topic, partition);
    const from = log.indexOf(offset);
    return log.records.slice(from, Math.min(log.records.length, from + max));
  }

  /** The last `limit` records of a partition, oldest first. */
  tail(topic: string, partition: number, limit: number): LogRecord[] {
    const records = this.#log(topic, partition).records;
    return records.slice(Math.max(0, records.length - limit));
  }

  committed(group: string, topic: string, partition: number): number | undefined {
    return this.#positions.get(positionKey(group, topic, partition));
  }

  joinGroup(groupId: string, member: GroupMember, subscription: GroupSubscription): void {
    let group = this.#groups.get(groupId);
    if (group === undefined) {
      group = { units: [...subscription.units], inputs: new Set(subscription.inputs), members: [], assignment: new Map() };
      this.#groups.set(groupId, group);
    } else if (group.units.join('\n') !== subscription.units.join('\n')) {
      throw new Error(`members of group ${groupId} disagree on its tasks`);
    }
    if (group.members.some((m) => m.memberId === member.memberId)) {
      throw new Error(`group ${groupId} already has a member ${member.memberId}`);
    }
    group.members.push(member);
    this.#rebalance(group);
  }

  /** Removes a member (clean stop or crash) and gives its units to the others. */
  leaveGroup(groupId: string, memberId: string): void {
    const group = this.#groups.get(groupId);
    if (group === undefined) return;
    const at = group.members.findIndex((m) => m.memberId === memberId);
    if (at < 0) return;
    group.members.splice(at, 1);
    group.assignment.delete(memberId);
    this.#rebalance(group);
  }

  assignment(groupId: string, memberId: string): readonly string[] {
    return this.#groups.get(groupId)?.assignment.get(memberId) ?? [];
  }

  members(groupId: string): string[] {
    return this.#groups.get(groupId)?.members.map((m) => m.memberId) ?? [];
  }

  /** Compaction and retention. `force` compacts whatever garbage there is (tests). */
  maintain(options: { readonly force?: boolean } = {}): void {
    for (const [name, topic] of this.#topics) {
      const { config } = topic;
      topic.logs.forEach((log, partition) => {
        if (config.cleanup === 'compact') {
          const garbage = log.garbage(config.dropTombstones === true);
          const live = log.records.length - garbage;
          if (garbage > 0 && (options.force === true || garbage >= Math.max(COMPACT_MIN_GARBAGE, live))) {
            log.compact(config.dropTombstones === true);
          }
        } else if (config.retainRecords !== undefined) {
          log.trimBefore(Math.min(log.end - config.retainRecords, this.#consumedUpTo(name, partition)));
        }
      });
    }
  }

  /** Applies a journal entry without journaling it again (loading). */
  apply(entry: ClusterEntry): void {
    if (entry.type === 'topic') {
      const compacted = entry.config.cleanup === 'compact';
      const logs = Array.from({ length: entry.config.partitions }, () => new PartitionLog(compacted));
      this.#topics.set(entry.name, { config: entry.config, logs, nextNullKeyPartition: 0 });
      return;
    }
    for (const record of entry.records) {
      this.#log(record.topic, record.partition).append(record);
      if (record.sequence >= this.#sequence) this.#sequence = record.sequence + 1;
    }
    for (const p of entry.positions) this.#positions.set(positionKey(p.group, p.topic, p.partition), p.offset);
  }

  /** The live data as entries: what a snapshot of the journal holds. */
  *entries(): Iterable<ClusterEntry> {
    for (const [name, topic] of this.#topics) yield { type: 'topic', name, config: topic.config };
    const chunk = 4096;
    for (const topic of this.#topics.values()) {
      for (const log of topic.logs) {
        for (let i = 0; i < log.records.length; i += chunk) {
          yield { type: 'commit', records: log.records.slice(i, i + chunk), positions: [] };
        }
      }
    }
    const positions: GroupPosition[] = [];
    for (const [key, offset] of this.#positions) {
      const [group, topic, partition] = key.split('\0') as [string, string, string];
      positions.push({ group, topic, partition: Number(partition), offset });
    }
    yield { type: 'commit', records: [], positions };
  }

  #mutate(entry: ClusterEntry): void {
    this.#journal?.write(entry);
    this.apply(entry);
  }

  #mutateCommit(writes: readonly TopicWrite[], positions: readonly GroupPosition[]): LogRecord[] {
    const appendTime = this.#clock();
    const next = new Map<PartitionLog, number>();
    let sequence = this.#sequence;
    const records = writes.map((write): LogRecord => {
      const partition = write.partition ?? this.partitionFor(write.topic, write.key);
      const log = this.#log(write.topic, partition);
      const offset = next.get(log) ?? log.end;
      next.set(log, offset + 1);
      return {
        topic: write.topic,
        partition,
        offset,
        key: write.key,
        value: write.value,
        headers: write.headers,
        timestamp: write.timestamp,
        sequence: sequence++,
        appendTime,
      };
    });
    for (const p of positions) this.#log(p.topic, p.partition);
    this.#mutate({ type: 'commit', records, positions });
    return records;
  }

  /** Lowest committed position over the groups consuming this topic (Infinity if none does). */
  #consumedUpTo(topic: string, partition: number): number {
    let upTo = Infinity;
    for (const [groupId, group] of this.#groups) {
      if (group.inputs.has(topic)) upTo = Math.min(upTo, this.committed(groupId, topic, partition) ?? 0);
    }
    return upTo;
  }

  #rebalance(group: Group): void {
    const members = group.members;
    const next = new Map<string, string[]>(members.map((m) => [m.memberId, []]));
    if (members.length > 0) group.units.forEach((unit, i) => next.get(members[i % members.length]!.memberId)!.push(unit));
    for (const member of members) {
      const had = group.assignment.get(member.memberId) ?? [];
      const keeps = new Set(next.get(member.memberId));
      const revoked = had.filter((unit) => !keeps.has(unit));
      if (revoked.length > 0) {
        member.revoke(revoked);
        group.assignment.set(member.memberId, had.filter((unit) => keeps.has(unit)));
      }
    }
    for (const member of members) {
      const had = new Set(group.assignment.get(member.memberId) ?? []);
      const units = next.get(member.memberId)!;
      group.assignment.set(member.memberId, units);
      const added = units.filter((unit) => !had.has(unit));
      if (added.length > 0) member.assign(added);
    }
  }

  #topic(name: string): Topic {
    const topic = this.#topics.get(name);
    if (topic === undefined) throw new Error(`unknown topic ${name}`);
    return topic;
  }

  #log(topic: string, partition: number): PartitionLog {
    const log = this.#topic(topic).logs[partition];
    if (log === undefined) throw new RangeError(`topic ${topic} has no partition ${partition}`);
    return log;
  }
}

function positionKey(group: string, topic: string, partition: number): string {
  return `${group}\0${topic}\0${partition}`;
}
