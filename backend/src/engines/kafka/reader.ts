/**
 * Reading partitions from a start offset up to their end offset (read_committed: the last
 * stable offset) with a group-less consumer: used to restore buffer stores from their changelog,
 * to catch the status table up, and to show the tail of a topic.
 */
import { type Clock, systemClock } from '../../runtime/clock.ts';
import type { Header, InputRecord } from '../../runtime/ports.ts';
import { type ClientConfig, ClientConsumer, ClientTimeoutError, fromClientHeaders, type Message, OFFSET_BEGINNING, type OffsetsAdmin } from './client.ts';

/** readToEnd gives up when no partition moves for this long (a broker gone: polls return nothing). */
const STALL_MS = 30_000;

export function toInputRecord(message: Message): InputRecord {
  const key = message.key;
  return {
    topic: message.topic,
    partition: message.partition,
    offset: message.offset,
    key: key === undefined || key === null ? null : typeof key === 'string' ? Buffer.from(key) : key,
    value: message.value,
    headers: message.headers === undefined ? NO_HEADERS : fromClientHeaders(message.headers),
    timestamp: message.timestamp ?? 0,
  };
}

const NO_HEADERS: readonly Header[] = Object.freeze([]);

/** A consumer that reads assigned partitions only: no group membership, no commits. */
export function readerConsumer(base: ClientConfig, name: string, overrides: ClientConfig = {}): ClientConsumer {
  return new ClientConsumer({
    ...base,
    // librdkafka wants a group id even for assign(); this one never joins or commits.
    'group.id': `${name}-reader`,
    'client.id': name,
    'isolation.level': 'read_committed',
    'enable.partition.eof': true,
    'fetch.message.max.bytes': 16 * 1024 * 1024,
    'queued.max.messages.kbytes': 131072,
    ...overrides,
  });
}

export interface ReadRange {
  readonly topic: string;
  readonly partition: number;
  /** First offset to read; undefined: from the beginning. */
  readonly from: number | undefined;
}

/**
 * Reads each range up to the partition's end offset as of the call, in offset order per
 * partition; resolves with the end offsets reached. `onBatch` gets the messages of each poll.
 */
export async function readToEnd(
  admin: OffsetsAdmin,
  consumer: ClientConsumer,
  ranges: readonly ReadRange[],
  onBatch: (messages: readonly Message[]) => void,
  clock: Clock = systemClock,
): Promise<Map<string, number>> {
  const ends = new Map<string, number>();
  if (ranges.length === 0) return ends;
  const fromStart = ranges.filter((range) => range.from === undefined);
  const [endOffsets, startOffsets] = await Promise.all([
    admin.listOffsets(ranges, 'latest', true),
    admin.listOffsets(fromStart, 'earliest', false),
  ]);
  for (const end of endOffsets) ends.set(`${end.topic}:${end.partition}`, end.offset);
  const starts = new Map(startOffsets.map((start) => [`${start.topic}:${start.partition}`, start.offset]));
  const open = new Map<string, { topic: string; partition: number; end: number }>();
  const assignment = [];
  for (const range of ranges) {
    const id = `${range.topic}:${range.partition}`;
    const end = ends.get(id) ?? 0;
    if ((range.from ?? starts.get(id) ?? 0) >= end) continue;
    open.set(id, { topic: range.topic, partition: range.partition, end });
    assignment.push({ topic: range.topic, partition: range.partition, offset: range.from ?? OFFSET_BEGINNING });
  }
  if (assignment.length === 0) return ends;
  consumer.assign(assignment);
  let moved = clock.now();
  const positions = new Map<string, number>();
  try {
    while (open.size > 0) {
      const { messages, eofs } = await consumer.consume(10_000, 200);
      if (messages.length > 0 || eofs.length > 0) moved = clock.now();
      else if (clock.now() - moved > STALL_MS) {
        const waiting = [...open.keys()].join(', ');
        throw new ClientTimeoutError(`reading ${waiting} to its end: nothing arrived for ${STALL_MS / 1000} s`);
      }
      if (messages.length > 0) onBatch(messages);
      for (const message of messages) {
        const id = `${message.topic}:${message.partition}`;
        const entry = open.get(id);
        if (entry !== undefined && message.offset + 1 >= entry.end) open.delete(id);
      }
      for (const eof of eofs) {
        const id = `${eof.topic}:${eof.partition}`;
        const entry = open.get(id);
        if (entry !== undefined && eof.offset >= entry.end) open.delete(id);
      }
      if (open.size === 0) break;
      // Transaction markers at the end are never delivered; the position moves past them.
      for (const position of consumer.position([...open.values()].map(({ topic, partition }) => ({ topic, partition })))) {
        const id = `${position.topic}:${position.partition}`;
        // A position that moves is progress too (a long run of aborted records delivers nothing).
        if (position.offset !== undefined && position.offset !== positions.get(id)) {
          positions.set(id, position.offset);
          moved = clock.now();
        }
        const entry = open.get(id);
        if (entry !== undefined && position.offset !== undefined && position.offset >= entry.end) open.delete(id);
      }
    }
  } finally {
    consumer.unassign();
  }
  return ends;
}
