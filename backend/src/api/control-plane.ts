/**
 * What the routes do, written once against the FlowEngine port: find a flow, pause and resume
 * keys (the status stays the original's wire value; reason and actor travel in headers), and
 * read buffers, statuses and recent records in the shapes the API shows.
 */
import type { FlowDefinition } from '../config/config.ts';
import { decodeEvent, encodeHistory, encodeStatus, HEADERS, RESUME_COMMAND, skipCommand } from '../model/wire.ts';
import type { FlowEngine, RecentScope, StoredRecord } from '../runtime/engine.ts';
import type { BufferedEvent, BufferView, Header, KeyStatus } from '../runtime/ports.ts';
import { mergeHistory, type StatusChange } from '../runtime/status-table.ts';
import { ApiError } from './errors.ts';

export interface ActionMeta {
  readonly reason: string | undefined;
  readonly actor: string;
}

/** A record as the original's OutputTopicConsumer showed it. */
export interface RecordView {
  key: string | null;
  eventId: string | null;
  data: unknown;
  timestamp: number | null;
  partition: number;
  offset: number;
  consumedAt: number;
}

export interface EventView {
  id: string | null;
  data: unknown;
  timestamp: number | null;
}

export interface BufferedEventView extends EventView {
  seq: number;
  recordTimestamp: number;
}

export interface BufferSummary {
  bufferedCount: number;
  oldestBufferedTimestamp: number | null;
}

export interface StatusView {
  status: KeyStatus;
  reason: string | null;
  actor: string | null;
  timestamp: number | null;
}

/** Keys whose status changes this instance wrote are remembered for their trail, at most this many. */
const WRITTEN_KEYS = 10_000;
/** Changes remembered per key written here: what a trail carries. */
const HISTORY_KEEP = 50;

export class ControlPlane {
  readonly #engine: FlowEngine;
  readonly #flows: ReadonlyMap<string, FlowDefinition>;
  /**
   * Status changes this instance wrote, by flow and key, least recent first: the status table may
   * not have read them back yet when the next change of the key is written (pause, resume, pause
   * in quick succession), and that one's trail must hold them.
   */
  readonly #written = new Map<string, StatusChange[]>();

  constructor(engine: FlowEngine) {
    this.#engine = engine;
    this.#flows = new Map(engine.flows.map((flow) => [flow.id, flow]));
  }

  get engine(): FlowEngine {
    return this.#engine;
  }

  get flows(): readonly FlowDefinition[] {
    return this.#engine.flows;
  }

  flow(flowId: string): FlowDefinition {
    const flow = this.#flows.get(flowId);
    if (flow === undefined) {
      throw new ApiError('FLOW_NOT_FOUND', `unknown flow "${flowId}"; known flows: ${[...this.#flows.keys()].join(', ')}`);
    }
    return flow;
  }

  async pause(flow: FlowDefinition, keys: readonly string[], meta: ActionMeta): Promise<void> {
    await this.#writeStatus(flow, keys, 'PAUSED', meta);
  }

  /**
   * ACTIVE to the status topic first, then a resume command per key (drains its buffer now). The
   * command names the offset of its ACTIVE record, so that a pause written after it, even one
   * processed before it, outranks it (SEMANTICS rule 3).
   */
  async resume(flow: FlowDefinition, keys: readonly string[], meta: ActionMeta): Promise<void> {
    const written = await this.#writeStatus(flow, keys, 'ACTIVE', meta);
    const headers = metaHeaders(meta);
    await this.#produceAll(
      keys.map((key, i) => () =>
        this.#engine.produce(flow.topics.trigger, {
          key,
          value: RESUME_COMMAND,
          headers: [...headers, { key: HEADERS.statusOffset, value: Buffer.from(String(written[i]!.offset)) }],
        }),
      ),
    );
  }

  /**
   * Handler mode: `{"action":"SKIP","seq":N}` on the command topic, the status left as it is: the
   * task that owns the key dead-letters its first held event if that is seq N, then sets the key
   * ACTIVE itself (so no drain can hand the event out before the skip lands).
   */
  async skip(flow: FlowDefinition, key: string, seq: number, meta: ActionMeta): Promise<void> {
    await this.#produceAll([() => this.#engine.produce(flow.topics.trigger, { key, value: skipCommand(seq), headers: metaHeaders(meta) })]);
  }


  /**
   * Writes the status records, each with the key's earlier changes in its ep-history header (the
   * durable audit trail, see runtime/status-table.ts): what the status table holds of the key, and
   * what this instance wrote that the table may not have read back yet.
   */
  async #writeStatus(flow: FlowDefinition, keys: readonly string[], status: KeyStatus, meta: ActionMeta): Promise<{ partition: number; offset: number }[]> {
    const headers = metaHeaders(meta);
    const value = encodeStatus(status);
    const table = this.#engine.statusTable(flow.id);
    const timestamp = Date.now();
    const written = await this.#produceAll(
      keys.map((key) => () => {
        const earlier = mergeHistory(key, [], [...table.history(key), ...(this.#written.get(`${flow.id}\u0000${key}`) ?? [])]);
        const trail = encodeHistory(earlier);
        const withTrail = trail === undefined ? headers : [...headers, { key: HEADERS.history, value: trail }];
        return this.#engine.produce(flow.topics.status, { key, value, headers: withTrail, timestamp });
      }),
    );
    keys.forEach((key, i) => {
      const { partition, offset } = written[i]!;
      this.#rememberWritten(flow.id, { key, status, version: 0, position: offset, reason: meta.reason || undefined, actor: meta.actor, timestamp, partition, offset });
    });
    return written;
  }

  #rememberWritten(flowId: string, change: StatusChange): void {
    const id = `${flowId}\u0000${change.key}`;
    const changes = this.#written.get(id) ?? [];
    this.#written.delete(id);
    changes.push(change);
    if (changes.length > HISTORY_KEEP) changes.shift();
    this.#written.set(id, changes);
    if (this.#written.size > WRITTEN_KEYS) {
      const oldest = this.#written.keys().next().value;
      if (oldest !== undefined) this.#written.delete(oldest);
    }
  }

  async #produceAll<T>(sends: ReadonlyArray<() => Promise<T>>): Promise<T[]> {
    try {
      return await Promise.all(sends.map((send) => send()));
    } catch (error) {
      throw new ApiError('ENGINE_UNAVAILABLE', `could not write to Kafka: ${(error as Error).message}`);
    }
  }

  async send(flow: FlowDefinition, key: string, id: string, data: unknown): Promise<void> {
    const timestamp = Date.now();
    const value = Buffer.from(JSON.stringify({ id, data, timestamp }));
    try {
      await this.#engine.produce(flow.topics.main, { key, value, timestamp });
    } catch (error) {
      throw new ApiError('ENGINE_UNAVAILABLE', `could not write to Kafka: ${(error as Error).message}`);
    }
  }

  async recent(topic: string, limit: number, scope?: RecentScope): Promise<RecordView[]> {
    let records: StoredRecord[];
    try {
      records = await this.#engine.recent(topic, limit, scope);
    } catch (error) {
      throw new ApiError('ENGINE_UNAVAILABLE', `could not read topic ${topic}: ${(error as Error).message}`);
    }
    const consumedAt = Date.now();
    return records.map((record) => {
      const event = eventView(record.value);
      return {
        key: record.key,
        eventId: event.id,
        data: event.data,
        timestamp: event.timestamp,
        partition: record.partition,
        offset: record.offset,
        consumedAt,
      };
    });
  }

  status(flowId: string, key: string): StatusView {
    const latest = this.#engine.statusTable(flowId).latest(key);
    return latest === undefined ? { status: 'ACTIVE', reason: null, actor: null, timestamp: null } : statusView(latest);
  }
}

function metaHeaders(meta: ActionMeta): Header[] {
  const headers: Header[] = [{ key: HEADERS.actor, value: Buffer.from(meta.actor) }];
  if (meta.reason !== undefined && meta.reason !== '') headers.push({ key: HEADERS.reason, value: Buffer.from(meta.reason) });
  return headers;
}

export function statusView(change: StatusChange): StatusView {
  return { status: change.status, reason: change.reason ?? null, actor: change.actor ?? null, timestamp: change.timestamp };
}

/** An event value as `{id, data, timestamp}`; a value that is not an event shows as raw text. */
export function eventView(value: Buffer | null): EventView {
  const decoded = decodeEvent(value);
  if (decoded.ok) return { id: decoded.value.id, data: decoded.value.data, timestamp: decoded.value.timestamp ?? null };
  return { id: null, data: value?.toString('utf8') ?? null, timestamp: null };
}

export function bufferedEventView(event: BufferedEvent): BufferedEventView {
  return { seq: event.seq, ...eventView(event.value), recordTimestamp: event.timestamp };
}

export function bufferSummary(store: BufferView, key: string): BufferSummary {
  const bufferedCount = store.count(key);
  const oldest = bufferedCount > 0 ? store.read(key, 1)[0] : undefined;
  return { bufferedCount, oldestBufferedTimestamp: oldest?.timestamp ?? null };
}

/**
 * One page of a key's buffer, oldest first: after a seq (cursor) or from an offset. The store
 * port reads from the head only, so a page deep into a huge buffer costs its position.
 */
export function bufferPage(
  store: BufferView,
  key: string,
  page: { offset: number; limit: number; after: number | undefined },
): { items: BufferedEvent[]; total: number } {
  const total = store.count(key);
  if (page.after === undefined) {
    return { items: store.read(key, page.offset + page.limit).slice(page.offset), total };
  }
  // Read windows of growing size until the page is covered, so a cursor near the head stays cheap.
  const after = page.after;
  for (let window = Math.max(1024, page.limit * 2); ; window = Math.min(window * 4, total)) {
    const head = store.read(key, window);
    const start = head.findIndex((event) => event.seq > after);
    const complete = head.length < window || head.length >= total;
    if (start >= 0 && (start + page.limit <= head.length || complete)) {
      return { items: head.slice(start, start + page.limit), total };
    }
    if (complete) return { items: [], total };
  }
}

/** Keys with buffered events in this instance's tasks of a flow, sorted, after a cursor. */
/** Partitions of the flow whose buffer stores this instance has open (tasks running). */
export function searchedPartitions(engine: FlowEngine, flowId: string): number[] {
  return engine.localPartitions(flowId).filter((partition) => engine.localBuffer(flowId, partition) !== undefined);
}

export function localBufferedKeys(
  engine: FlowEngine,
  flowId: string,
  after: string | undefined,
  limit: number,
): Array<{ key: string; partition: number } & BufferSummary> {
  const found: Array<{ key: string; partition: number; store: BufferView }> = [];
  for (const partition of engine.localPartitions(flowId)) {
    const store = engine.localBuffer(flowId, partition);
    if (store === undefined) continue;
    for (const key of store.keys()) {
      if (after === undefined || key > after) found.push({ key, partition, store });
    }
  }
  found.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return found.slice(0, limit).map(({ key, partition, store }) => ({ key, partition, ...bufferSummary(store, key) }));
}
