/**
 * Reading partitions from a start offset up to their end offset (read_committed: the last
 * stable offset) with a group-less consumer: used to restore buffer stores from their changelog,
 * to catch the status table up, and to show the tail of a topic.
 */
import { type Clock, systemClock } from '../../runtime/clock.ts';
import { ClientTimeoutError } from '../../runtime/log/errors.ts';
import { type LogConsumer, OFFSET_BEGINNING, type OffsetsAdmin } from '../../runtime/log/port.ts';
import type { InputRecord } from '../../runtime/ports.ts';

/** readToEnd gives up when no partition moves for this long (a broker gone: polls return nothing). */
const STALL_MS = 30_000;

export interface ReadRange {
  readonly topic: string;
  readonly partition: number;
  /** First offset to read; undefined: from the beginning. */
  readonly from: number | undefined;
  /** Stop before this offset (default: the partition's end offset as of the call). */
  readonly to?: number;
}

/**
 * Reads each range up to the partition's end offset as of the call (or its `to`), in offset
 * order per partition; resolves with the partitions' end offsets. A batch may hold records at
 * or past a range's `to`: callers that set one filter them. `onBatch` gets the messages of each poll.
 */
export async function readToEnd(
  admin: OffsetsAdmin,
  consumer: LogConsumer,
  ranges: readonly ReadRange[],
  onBatch: (messages: readonly InputRecord[]) => void,
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
    const end = Math.min(ends.get(id) ?? 0, range.to ?? Number.MAX_SAFE_INTEGER);
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
