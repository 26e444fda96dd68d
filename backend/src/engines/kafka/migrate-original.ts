/**
 * Switching from the original (the Java Kafka Streams system) to event-pause with keys paused:
 * the events the original holds live in its buffer store's changelog, one record per key whose
 * value is the key's whole list of events as JSON (`[{"id","data","timestamp"}, ...]`, written by
 * Spring's JsonSerde with `__TypeId__` headers; a tombstone once drained). This moves them into
 * event-pause's buffers so that they come out first, in their order, when the key is resumed.
 *
 * How, for each partition p of the flow's input topic (the original's changelog is partitioned
 * like it, murmur2 of the key, as ours):
 *   - the original's committed offset C on p (its consumer group: its application.id) says where
 *     it stopped; every event it holds for a key of p came from an offset below C, so a key with
 *     n held events gets buffer entries with seqs C-n .. C-1 (event-pause's seq is the input
 *     offset): below any event event-pause will read from p, and in the original's order;
 *   - the entries go to event-pause's buffer changelog (what a task restores its store from);
 *   - event-pause's consumer group then gets the original's committed offsets on the input and
 *     command topics, so it starts where the original stopped: nothing is read twice or skipped.
 * The status topic is shared (same records, same format): paused keys stay paused.
 *
 * Refused (nothing written) when the original's group still has members (stop it first), when
 * event-pause's group already committed offsets for the flow (it has run: held events would land
 * behind newer ones), or when a record is not the original's format. Running it again after a
 * failure is safe: the entries are the same records again (the changelog is compacted by key).
 */
import type { FlowDefinition } from '../../config/config.ts';
import { partitionForKey } from '../../runtime/partitioner.ts';
import type { LogClients, LogConsumer, TopicPartition } from '../../runtime/log/port.ts';
import type { BufferedEvent } from '../../runtime/ports.ts';
import { encodeEntryKey, encodeEntryValue } from '../../stores/buffer-codec.ts';
import { readToEnd } from '../stream/reader.ts';

export interface MigrationOptions {
  readonly flow: FlowDefinition;
  /** event-pause's application id (its consumer group is `<applicationId>-<flow>`). */
  readonly applicationId: string;
  /** The original's buffer-store changelog topic. */
  readonly changelog: string;
  /** The original's consumer group (its application.id); found from the changelog's name when omitted. */
  readonly originalGroup?: string;
  /** Reads and checks everything, writes nothing. */
  readonly dryRun?: boolean;
  readonly progress?: (line: string) => void;
}

export interface MigrationReport {
  readonly originalGroup: string;
  readonly group: string;
  /** Keys with held events, and their events, moved. */
  readonly keys: number;
  readonly events: number;
  /** Changelog records read (every version of every key). */
  readonly recordsRead: number;
  /** The original's committed offsets, now event-pause's: input topic, then command topic. */
  readonly offsets: { readonly main: Record<number, number>; readonly trigger: Record<number, number> };
  readonly dryRun: boolean;
}

export class MigrationError extends Error {
  override readonly name = 'MigrationError';
}

interface OriginalEvent {
  readonly id: unknown;
  readonly data: unknown;
  readonly timestamp: unknown;
}

/** The original's list of events for a key, or why it is not one. */
export function parseOriginalList(value: Buffer): OriginalEvent[] | string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(value.toString('utf8'));
  } catch (error) {
    return `not JSON (${(error as Error).message})`;
  }
  if (!Array.isArray(parsed)) return 'not a JSON list of events';
  for (const [i, item] of parsed.entries()) {
    if (typeof item !== 'object' || item === null || Array.isArray(item)) return `element ${i} is not an event object`;
  }
  return parsed as OriginalEvent[];
}

/** Candidate group ids from a Kafka Streams changelog name `<application.id>-<store>-changelog`, longest first. */
export function groupCandidates(changelog: string): string[] {
  const base = changelog.endsWith('-changelog') ? changelog.slice(0, -'-changelog'.length) : changelog;
  const parts = base.split('-');
  const candidates: string[] = [];
  for (let i = parts.length - 1; i >= 1; i--) candidates.push(parts.slice(0, i).join('-'));
  return candidates;
}

const isOffset = (offset: number | undefined): offset is number => offset !== undefined && offset >= 0;

export async function migrateFromOriginal(clients: LogClients, options: MigrationOptions): Promise<MigrationReport> {
  const { flow } = options;
  const say = options.progress ?? (() => undefined);
  const group = `${options.applicationId}-${flow.id}`;
  const admin = clients.admin({ clientId: `${group}-migrate-admin` });
  const opened: LogConsumer[] = [];
  const consumerOf = async (groupId: string): Promise<LogConsumer> => {
    const consumer = clients.groupConsumer({ clientId: `${group}-migrate`, groupId, sessionTimeoutMs: 10_000, onRebalance: () => undefined });
    opened.push(consumer);
    await consumer.connect();
    return consumer;
  };
  try {
    const infos = await admin.describeTopics([flow.topics.main, flow.topics.trigger, flow.topics.changelog, options.changelog]);
    for (const info of infos) {
      if (info.partitions === undefined) throw new MigrationError(`topic ${info.name} does not exist${info.name === options.changelog ? ' (the original\'s buffer-store changelog: see its application.id and store name)' : ' (run init-topics first)'}`);
    }
    const partitions = infos[0]!.partitions!;
    const triggerPartitions = infos[1]!.partitions!;
    if (infos[2]!.partitions !== partitions) throw new MigrationError(`${flow.topics.changelog} has ${infos[2]!.partitions} partitions, ${flow.topics.main} ${partitions}: they must match`);
    if (infos[3]!.partitions !== partitions) {
      throw new MigrationError(`${options.changelog} has ${infos[3]!.partitions} partitions, ${flow.topics.main} ${partitions}: is it the changelog of this flow's buffer store?`);
    }
    const main: TopicPartition[] = Array.from({ length: partitions }, (_, partition) => ({ topic: flow.topics.main, partition }));
    const trigger: TopicPartition[] = Array.from({ length: triggerPartitions }, (_, partition) => ({ topic: flow.topics.trigger, partition }));

    // event-pause must not have run this flow yet.
    const ours = await consumerOf(group);
    const oursCommitted = await ours.committed(main);
    if (oursCommitted.some((p) => isOffset(p.offset))) {
      throw new MigrationError(`event-pause's group ${group} already committed offsets on ${flow.topics.main}: it has processed this flow, and held events moved now would come after newer ones. Migrate before the first start.`);
    }
    if (((await admin.describeGroup(group))?.members.length ?? 0) > 0) throw new MigrationError(`event-pause's group ${group} has members: stop event-pause first`);

    // The original's group: given, or the one of the changelog's name with offsets on the input topic.
    let originalGroup = options.originalGroup;
    let originalMain: Map<number, number> | undefined;
    let originalConsumer: LogConsumer | undefined;
    for (const candidate of originalGroup === undefined ? groupCandidates(options.changelog) : [originalGroup]) {
      const consumer = await consumerOf(candidate);
      const committed = await consumer.committed(main);
      const offsets = new Map(committed.filter((p) => isOffset(p.offset)).map((p) => [p.partition, p.offset as number]));
      if (offsets.size > 0 || options.originalGroup !== undefined) {
        originalGroup = candidate;
        originalMain = offsets;
        originalConsumer = consumer;
        break;
      }
    }
    if (originalGroup === undefined || originalMain === undefined || originalConsumer === undefined) {
      throw new MigrationError(`no consumer group named after ${options.changelog} (${groupCandidates(options.changelog).join(', ')}) committed offsets on ${flow.topics.main}: name the original's application.id with --original-group`);
    }
    if (((await admin.describeGroup(originalGroup))?.members.length ?? 0) > 0) {
      throw new MigrationError(`the original's group ${originalGroup} still has members: stop the original first (its held events must not change while they move)`);
    }
    const originalTrigger = new Map(
      (await originalConsumer.committed(trigger)).filter((p) => isOffset(p.offset)).map((p) => [p.partition, p.offset as number]),
    );
    say(`the original's group ${originalGroup}: committed ${[...originalMain].map(([p, o]) => `${p}:${o}`).join(' ') || 'nothing'} on ${flow.topics.main}`);

    // The changelog's latest value per key.
    const latest = new Map<string, { partition: number; offset: number; value: Buffer | null }>();
    let recordsRead = 0;
    const reader = clients.reader({ clientId: `${group}-migrate-reader` });
    opened.push(reader);
    await reader.connect();
    await readToEnd(admin, reader, Array.from({ length: partitions }, (_, partition) => ({ topic: options.changelog, partition, from: undefined })), (messages) => {
      for (const record of messages) {
        recordsRead++;
        if (record.key === null) continue;
        latest.set(record.key.toString('utf8'), { partition: record.partition, offset: record.offset, value: record.value });
      }
    });
    say(`read ${recordsRead} records of ${options.changelog}: ${latest.size} keys`);

    // Every list checked before anything is written.
    const entries: Array<{ partition: number; key: Buffer; value: Buffer }> = [];
    let keys = 0;
    for (const [key, { partition, offset, value }] of latest) {
      if (value === null || value.length === 0) continue;
      const list = parseOriginalList(value);
      if (typeof list === 'string') throw new MigrationError(`${options.changelog} partition ${partition} offset ${offset} (key ${JSON.stringify(key)}): ${list}; nothing was written`);
      if (list.length === 0) continue;
      const p = partitionForKey(key, partitions);
      if (p !== partition) say(`note: key ${JSON.stringify(key)} is in changelog partition ${partition}, murmur2 puts it in ${p}: moved to ${p}`);
      const committed = originalMain.get(p) ?? 0;
      if (committed < list.length) {
        throw new MigrationError(`key ${JSON.stringify(key)} holds ${list.length} events but the original committed only offset ${committed} on ${flow.topics.main} partition ${p}: the changelog and the group do not belong together; nothing was written`);
      }
      list.forEach((item, i) => {
        const timestamp = typeof item.timestamp === 'number' ? item.timestamp : 0;
        const event: BufferedEvent = { seq: committed - list.length + i, key, value: Buffer.from(JSON.stringify(item)), headers: [], timestamp };
        entries.push({ partition: p, key: encodeEntryKey(key, event.seq), value: encodeEntryValue(event) });
      });
      keys++;
    }
    const report: MigrationReport = {
      originalGroup,
      group,
      keys,
      events: entries.length,
      recordsRead,
      offsets: { main: Object.fromEntries(originalMain), trigger: Object.fromEntries(originalTrigger) },
      dryRun: options.dryRun === true,
    };
    if (options.dryRun === true) return report;

    const producer = clients.producer({ clientId: `${group}-migrate`, deliveryReports: true });
    await producer.connect();
    try {
      let sent = 0;
      for (const entry of entries) {
        for (;;) {
          try {
            producer.produce(flow.topics.changelog, entry.partition, entry.key, entry.value, Date.now(), []);
            break;
          } catch {
            await producer.flush(30_000); // the queue is full: let it drain
          }
        }
        if (++sent % 100_000 === 0) say(`${sent} of ${entries.length} events written to ${flow.topics.changelog}`);
      }
      await producer.flush(60_000);
      const failed = producer.takeDeliveryErrors();
      if (failed > 0) throw new MigrationError(`${failed} of ${entries.length} changelog records were not delivered; nothing was committed: run the migration again`);
    } finally {
      await producer.disconnect();
    }
    say(`${entries.length} events of ${keys} keys written to ${flow.topics.changelog}`);

    // Last: event-pause starts where the original stopped.
    const offsets = [
      ...[...originalMain].map(([partition, offset]) => ({ topic: flow.topics.main, partition, offset })),
      ...[...originalTrigger].map(([partition, offset]) => ({ topic: flow.topics.trigger, partition, offset })),
    ];
    if (offsets.length > 0) {
      ours.assign(offsets);
      await ours.commit(offsets);
    }
    say(`group ${group} starts at the original's offsets`);
    return report;
  } finally {
    for (const consumer of opened) await consumer.disconnect().catch(() => false);
    await admin.disconnect().catch(() => false);
  }
}
