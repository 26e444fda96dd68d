/**
 * What the console's charts, key search, dead-letter page and stuck-key alerts ask: the figures
 * of the last 15 minutes merged over every instance, key search from the service's own indexes,
 * dead letters with replay, and keys that stay paused or hold events for too long.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyRequest } from 'fastify';
import { Type, type Static } from 'typebox';
import type { FlowDefinition } from '../../config/config.ts';
import { HEADERS } from '../../model/wire.ts';
import { KEY_SCAN_RECORDS } from '../../runtime/engine.ts';
import { partitionForKey } from '../../runtime/partitioner.ts';
import type { Header } from '../../runtime/ports.ts';
import type { StatusView } from '../../runtime/status-table.ts';
import { actionMeta, type ApiContext } from '../context.ts';
import { bufferSummary } from '../control-plane.ts';
import { ApiError } from '../errors.ts';
import { KEY_SORTS, mergeSearch, searchLocal, type KeyHit, type KeyQuery, type LocalSearch } from '../key-search.ts';
import { mergeHistories, type HistoryAnswer, type MetricsHistory } from '../metrics-history.ts';
import { Actor, ErrorResponse, FlowId, FlowKeyParams, FlowParams, Key, MAX_KEY_BYTES, MAX_PAGE_LIMIT, MAX_RECENT_LIMIT, Reason, limit } from '../schemas.ts';
import { RecentRecord } from './control.ts';

const tags = ['v1'];

/** Dead letters read per page at most (the newest of the topic). */
export const MAX_DEAD_LETTERS = 1000;
/** Dead letters replayed in one call at most. */
export const MAX_REPLAY = 500;
/** Keys one resume-matching call resumes at most. */
export const MAX_RESUME_MATCHING = 100_000;
/** Bytes of a dead letter's value shown as its preview. */
const PREVIEW_BYTES = 2048;

const HistoryPoint = Type.Object({
  t: Type.Number({ description: 'end of the interval, ms since the epoch' }),
  inPerSec: Type.Number({ description: 'input events taken in per second (passed, held, dead-lettered)' }),
  outPerSec: Type.Number({ description: 'events written to the output topic per second (passed or drained)' }),
  drainedPerSec: Type.Number(),
  deadLetteredPerSec: Type.Number(),
  bufferedEvents: Type.Number(),
  consumerLag: Type.Number(),
  pausedKeys: Type.Number(),
});
const HistoryBody = Type.Object({
  intervalMs: Type.Integer(),
  windowMs: Type.Integer(),
  countersSince: Type.Number({ description: 'when the earliest answering instance started counting (counters start at 0 with each process)' }),
  flows: Type.Array(
    Type.Object({
      flow: Type.String(),
      points: Type.Array(HistoryPoint),
      totals: Type.Object(
        {
          processedEvents: Type.Number({ description: 'passed straight through' }),
          heldEvents: Type.Number({ description: 'put into a buffer' }),
          drainedEvents: Type.Number(),
          deadLettered: Type.Number(),
          bufferedEvents: Type.Number(),
          consumerLag: Type.Number(),
          pausedKeys: Type.Number(),
        },
        { description: 'counters since countersSince and gauges now, summed over the instances that answered' },
      ),
    }),
  ),
  instances: Type.Optional(
    Type.Object({
      answered: Type.Integer(),
      failed: Type.Array(Type.String(), { description: 'instances that did not answer: their figures are missing' }),
    }),
  ),
});

const KeyHitSchema = Type.Object({
  key: Type.String(),
  partition: Type.Integer(),
  status: Type.Union([Type.Literal('ACTIVE'), Type.Literal('PAUSED')]),
  pausedSince: Type.Union([Type.Number(), Type.Null()]),
  bufferedCount: Type.Integer(),
  oldestBufferedTimestamp: Type.Union([Type.Number(), Type.Null()]),
});
const SearchQuery = Type.Object({
  prefix: Type.String({ default: '', maxLength: MAX_KEY_BYTES, description: 'keys starting with this (empty: every key)' }),
  key: Type.Optional(Type.String({ minLength: 1, maxLength: MAX_KEY_BYTES, description: 'exact lookup of one key (overrides prefix)' })),
  state: Type.Enum(['all', 'paused', 'buffered'], { default: 'all', description: 'all (paused or buffered), paused, or buffered' }),
  sort: Type.Enum([...KEY_SORTS], {
    default: 'key',
    description: 'key; oldest (oldest buffered event first); most (most buffered first); paused-longest (earliest pause first)',
  }),
  offset: Type.Integer({ minimum: 0, maximum: 1_000_000, default: 0 }),
  limit: limit(50, MAX_PAGE_LIMIT),
  minBuffered: Type.Optional(Type.Integer({ minimum: 0, description: 'only keys holding at least this many events' })),
  scope: Type.Enum(['cluster', 'local'], { default: 'cluster', description: 'local: this instance\'s buffers only (used between instances)' }),
});
type SearchQueryT = Static<typeof SearchQuery>;

const ReplayBody = Type.Object(
  {
    records: Type.Array(Type.Object({ partition: Type.Integer({ minimum: 0 }), offset: Type.Integer({ minimum: 0 }) }, { additionalProperties: false }), {
      minItems: 1,
      maxItems: MAX_REPLAY,
      description: `1 to ${MAX_REPLAY} dead letters, by their partition and offset in the dead-letter topic`,
    }),
    reason: Type.Optional(Reason),
    actor: Type.Optional(Actor),
  },
  { additionalProperties: false },
);

const ResumeMatchingBody = Type.Object(
  {
    prefix: Type.String({ maxLength: MAX_KEY_BYTES, description: 'resume every PAUSED key starting with this (empty: every paused key)' }),
    expectedCount: Type.Integer({
      minimum: 0,
      description: 'how many keys the operator confirmed; when the flow holds another number of matching paused keys, nothing is resumed (409)',
    }),
    reason: Type.Optional(Reason),
    actor: Type.Optional(Actor),
  },
  { additionalProperties: false },
);

function header(headers: readonly Header[], name: string): string | null {
  for (let i = headers.length - 1; i >= 0; i--) {
    const h = headers[i]!;
    if (h.key === name) return h.value === null ? null : h.value.toString('utf8');
  }
  return null;
}

/** Headers event-pause added when dead-lettering: stripped from a replayed record. */
const DLQ_HEADERS = new Set<string>([HEADERS.dlqReason, HEADERS.dlqMessage, HEADERS.sourceTopic, HEADERS.sourcePartition, HEADERS.sourceOffset]);
/** On a replayed record: the dead letter it came from (dlq topic/partition/offset). */
export const REPLAYED_FROM_HEADER = 'ep-replayed-from';
/**
 * On a replayed record: who replayed it and why. The replay's audit record travels with the
 * record itself (the input topic keeps it, the output gets it with the event): a status record
 * written for it could race an operator's pause or resume of the key and undo it.
 */
export const REPLAYED_BY_HEADER = 'ep-replayed-by';
export const REPLAY_REASON_HEADER = 'ep-replay-reason';
const REPLAY_HEADERS = new Set([REPLAYED_FROM_HEADER, REPLAYED_BY_HEADER, REPLAY_REASON_HEADER]);

export function insightRoutes(ctx: ApiContext, history: MetricsHistory): FastifyPluginAsyncTypebox {
  const { plane, cluster, settings } = ctx;
  const engine = plane.engine;

  const localBuffers = (flowId: string) => {
    const buffers = [];
    for (const partition of engine.localPartitions(flowId)) {
      const buffer = engine.localBuffer(flowId, partition);
      if (buffer !== undefined) buffers.push({ partition, buffer });
    }
    return buffers;
  };

  const keyQuery = (q: SearchQueryT): KeyQuery => ({
    prefix: q.prefix,
    ...(q.key === undefined ? {} : { exact: q.key }),
    state: q.state as KeyQuery['state'],
    sort: q.sort as KeyQuery['sort'],
    offset: q.offset,
    limit: q.limit,
    ...(q.minBuffered === undefined ? {} : { minCount: q.minBuffered }),
  });

  /** One key's buffer summary from its owner (for paused keys on a page that no instance listed). */
  const summary = async (request: FastifyRequest, flowId: string, key: string): Promise<{ bufferedCount: number; oldestBufferedTimestamp: number | null }> => {
    const location = await cluster.locate(flowId, key, request);
    if (location.kind === 'local') return bufferSummary(location.buffer, key);
    return (await cluster.get(location.url, `/api/v1/flows/${encodeURIComponent(flowId)}/keys/${encodeURIComponent(key)}`, request)) as {
      bufferedCount: number;
      oldestBufferedTimestamp: number | null;
    };
  };

  return async (app) => {
    app.get(
      '/api/v1/metrics/history',
      {
        schema: {
          tags,
          summary: 'Each flow\'s figures over the last 15 minutes, every 5 s, summed over every instance (the console\'s charts)',
          description:
            'Rates are per second over each interval; buffered events and consumer lag are summed over instances, paused keys (a replicated table) are the largest. ' +
            'An instance that does not answer is named in instances.failed and its figures are missing.',
          querystring: Type.Object({
            flow: Type.Optional(FlowId),
            scope: Type.Enum(['cluster', 'local'], { default: 'cluster' }),
          }),
          response: { 200: HistoryBody, 400: ErrorResponse, 404: ErrorResponse },
        },
        logLevel: 'warn',
      },
      async (request) => {
        const flowId = request.query.flow;
        if (flowId !== undefined) plane.flow(flowId);
        if (request.query.scope === 'local' || cluster.isForwarded(request)) return history.local(flowId);
        const query = new URLSearchParams({ scope: 'local' });
        if (flowId !== undefined) query.set('flow', flowId);
        const { answers, failed } = await cluster.fanOutSettled<HistoryAnswer>(request, `/api/v1/metrics/history?${query}`, () => history.local(flowId));
        return { ...mergeHistories(answers), instances: { answered: answers.length, failed } };
      },
    );

    app.get(
      '/api/v1/flows/:flow/key-search',
      {
        schema: {
          tags,
          summary: 'Search paused and buffered keys: exact key or prefix, sorted, with the total',
          description:
            'Answered from the status table and each instance\'s in-memory index of its buffers (never a topic scan). ' +
            '`total` counts every matching key; `items` is the page at `offset`. PAUSED keys come from the replicated status table, buffered keys from the instances that own them.',
          params: FlowParams,
          querystring: SearchQuery,
          response: {
            200: Type.Union([
              Type.Object({
                flow: Type.String(),
                total: Type.Integer(),
                offset: Type.Integer(),
                items: Type.Array(KeyHitSchema),
                incomplete: Type.Boolean({ description: 'some partitions could not be searched (restoring, rebalancing): their buffered keys may be missing' }),
                missingPartitions: Type.Array(Type.Integer()),
              }),
              Type.Object({
                bufferedMatching: Type.Integer(),
                bufferedNotPaused: Type.Integer(),
                hits: Type.Array(KeyHitSchema),
                partitions: Type.Array(Type.Integer()),
              }),
            ]),
            400: ErrorResponse,
            404: ErrorResponse,
            502: ErrorResponse,
          },
        },
      },
      async (request) => {
        const flow = plane.flow(request.params.flow);
        const query = keyQuery(request.query);
        const table = engine.statusTable(flow.id);
        const local = (): LocalSearch => searchLocal(localBuffers(flow.id), table, query);
        if (request.query.scope === 'local' || cluster.isForwarded(request)) return local();
        // Every instance answers its first offset + limit: the page lies within their union.
        const locals = await searchEverywhere(request, flow, { ...query, offset: 0, limit: query.offset + query.limit });
        const merged = mergeSearch(locals, table.pausedKeyNames(), table, (key) => engine.partitionFor(flow.id, key), query);
        const items = await withSummaries(request, flow.id, merged.hits, new Set(merged.needsSummary));
        const searched = new Set<number>();
        for (const l of locals) for (const partition of l.partitions) searched.add(partition);
        const partitions = engine.partitions(flow.topics.main) || flow.partitions;
        const missingPartitions = Array.from({ length: partitions }, (_, p) => p).filter((p) => !searched.has(p));
        return { flow: flow.id, total: merged.total, offset: query.offset, items, incomplete: missingPartitions.length > 0, missingPartitions };
      },
    );

    app.get(
      '/api/v1/flows/:flow/records',
      {
        schema: {
          tags,
          summary: 'Recent records of the flow\'s input or output topic, newest last, optionally of one key only',
          description: `With \`key\`, the records of that key among the last ${KEY_SCAN_RECORDS.toLocaleString('en-US')} of its partition.`,
          params: FlowParams,
          querystring: Type.Object({
            topic: Type.Enum(['input', 'output'], { description: 'the flow\'s input (main) or output topic' }),
            key: Type.Optional(Key),
            limit: limit(50, MAX_RECENT_LIMIT),
          }),
          response: { 200: Type.Array(RecentRecord), 400: ErrorResponse, 404: ErrorResponse, 503: ErrorResponse },
        },
      },
      async (request) => {
        const flow = plane.flow(request.params.flow);
        const { key, limit: count } = request.query;
        const topic = request.query.topic === 'input' ? flow.topics.main : flow.topics.output;
        // Records are partitioned by the murmur2 hash of their key over the topic's partitions.
        const partitions = engine.partitions(topic) || flow.partitions;
        const scope = key === undefined ? undefined : { key, partition: partitionForKey(key, partitions) };
        return plane.recent(topic, count, scope);
      },
    );

    app.get(
      '/api/v1/flows/:flow/keys/:key/handler-failure',
      {
        schema: {
          tags,
          summary: 'Handler mode: the last failure of the key\'s handler that paused it: the error, and its whole stack',
          description:
            'Read from the PAUSED status record the handler wrote (its ep-handler-error header: the stack, at most 8 KiB), found through the key\'s history. `failure` is null when no handler ever paused the key, or when the key was changed since (the current status is not that pause).',
          params: FlowKeyParams,
          response: {
            200: Type.Object({
              flow: Type.String(),
              key: Type.String(),
              failure: Type.Union([
                Type.Object({
                  reason: Type.Union([Type.String(), Type.Null()]),
                  timestamp: Type.Number(),
                  stack: Type.Union([Type.String(), Type.Null()], { description: 'null when the status record is no longer among the recent records of its partition' }),
                }),
                Type.Null(),
              ]),
            }),
            400: ErrorResponse,
            404: ErrorResponse,
            503: ErrorResponse,
          },
        },
      },
      async (request) => {
        const flow = plane.flow(request.params.flow);
        const { key } = request.params;
        const last = engine.statusTable(flow.id).history(key).at(-1);
        if (last === undefined || last.status !== 'PAUSED' || last.actor !== 'handler') return { flow: flow.id, key, failure: null };
        let records;
        try {
          records = await engine.recent(flow.topics.status, 1, { partition: last.partition, key, before: last.offset + 1 });
        } catch (error) {
          throw new ApiError('ENGINE_UNAVAILABLE', `could not read topic ${flow.topics.status}: ${(error as Error).message}`);
        }
        const record = records.find((r) => r.offset === last.offset);
        const stack = record === undefined ? null : header(record.headers, HEADERS.handlerError);
        return { flow: flow.id, key, failure: { reason: last.reason ?? null, timestamp: last.timestamp, stack } };
      },
    );

    app.post(
      '/api/v1/flows/:flow/keys/:key/skip',
      {
        schema: {
          tags,
          summary: 'Handler mode: dead-letter the key\'s first held event (the one its handler failed on), then resume the key',
          description:
            'Writes `{"action":"SKIP","seq":N}` on the command topic: the task that owns the key sends its first held event to the dead-letter topic (reason SKIPPED) if its seq is N, and sets the key ACTIVE in the same transaction, which releases the rest in order (a stale seq skips nothing and leaves the key paused). `seq` is that event\'s seq as the key\'s buffer lists it, so a skip acts once, on the event the operator saw.',
          params: FlowKeyParams,
          body: Type.Object(
            { seq: Type.Integer({ minimum: 0, description: 'the seq of the key\'s first held event' }), reason: Type.Optional(Reason), actor: Type.Optional(Actor) },
            { additionalProperties: false },
          ),
          response: { 202: Type.Object({ flow: Type.String(), key: Type.String(), seq: Type.Integer(), reason: Type.Union([Type.String(), Type.Null()]), actor: Type.String() }), 400: ErrorResponse, 404: ErrorResponse, 503: ErrorResponse },
        },
      },
      async (request, reply) => {
        const flow = plane.flow(request.params.flow);
        const meta = actionMeta(request, request.body);
        await plane.skip(flow, request.params.key, request.body.seq, meta);
        return reply.status(202).send({ flow: flow.id, key: request.params.key, seq: request.body.seq, reason: meta.reason ?? null, actor: meta.actor });
      },
    );

    app.post(
      '/api/v1/flows/:flow/resume-matching',
      {
        schema: {
          tags,
          summary: 'Resume every PAUSED key with a prefix, once the operator confirmed how many',
          description:
            'Counts the matching paused keys first: when that is not `expectedCount` (keys were paused or resumed since the operator looked), nothing is resumed and the answer is 409 with the current count. ' +
            `At most ${MAX_RESUME_MATCHING.toLocaleString('en-US')} keys per call.`,
          params: FlowParams,
          body: ResumeMatchingBody,
          response: {
            202: Type.Object({ flow: Type.String(), resumed: Type.Integer(), reason: Type.Union([Type.String(), Type.Null()]), actor: Type.String() }),
            400: ErrorResponse,
            404: ErrorResponse,
            409: Type.Object({ ...ErrorResponse.properties, count: Type.Integer({ description: 'matching paused keys now' }) }),
            503: ErrorResponse,
          },
        },
      },
      async (request, reply) => {
        const flow = plane.flow(request.params.flow);
        const { prefix, expectedCount } = request.body;
        const keys: string[] = [];
        for (const key of engine.statusTable(flow.id).pausedKeyNames()) if (key.startsWith(prefix)) keys.push(key);
        if (keys.length !== expectedCount) {
          return reply.status(409).send({
            statusCode: 409,
            code: 'COUNT_CHANGED',
            error: 'Conflict',
            message: `${keys.length} paused keys match prefix "${prefix}" now, not the ${expectedCount} confirmed: nothing was resumed; confirm the new count`,
            count: keys.length,
          });
        }
        if (keys.length > MAX_RESUME_MATCHING) {
          throw new ApiError('BAD_REQUEST', `${keys.length} keys match: at most ${MAX_RESUME_MATCHING} per call; narrow the prefix`);
        }
        const meta = actionMeta(request, request.body);
        keys.sort();
        for (let i = 0; i < keys.length; i += 1000) await plane.resume(flow, keys.slice(i, i + 1000), meta);
        request.log.info({ flow: flow.id, prefix, resumed: keys.length, actor: meta.actor, reason: meta.reason }, 'resumed matching keys');
        return reply.status(202).send({ flow: flow.id, resumed: keys.length, reason: meta.reason ?? null, actor: meta.actor });
      },
    );

    app.get(
      '/api/v1/flows/:flow/dead-letters',
      {
        schema: {
          tags,
          summary: 'The newest dead letters of a flow: reason, source coordinates, headers, a value preview, counts by reason',
          params: FlowParams,
          querystring: Type.Object({
            limit: limit(100, MAX_DEAD_LETTERS),
            reason: Type.Optional(Type.String({ maxLength: 64, description: 'only this reason (BUFFER_FULL, INVALID_EVENT, ...)' })),
            key: Type.Optional(Key),
          }),
          response: {
            200: Type.Object({
              flow: Type.String(),
              topic: Type.String(),
              items: Type.Array(
                Type.Object({
                  partition: Type.Integer(),
                  offset: Type.Integer(),
                  timestamp: Type.Number(),
                  key: Type.Union([Type.String(), Type.Null()]),
                  reason: Type.Union([Type.String(), Type.Null()]),
                  message: Type.Union([Type.String(), Type.Null()]),
                  source: Type.Object({
                    topic: Type.Union([Type.String(), Type.Null()]),
                    partition: Type.Union([Type.Integer(), Type.Null()]),
                    offset: Type.Union([Type.Integer(), Type.Null()]),
                  }),
                  headers: Type.Array(Type.Object({ key: Type.String(), value: Type.Union([Type.String(), Type.Null()]) })),
                  valuePreview: Type.Union([Type.String(), Type.Null()]),
                  valueBytes: Type.Union([Type.Integer(), Type.Null()]),
                  replayable: Type.Boolean({ description: 'false when the record has no key or its value was not kept (RECORD_TOO_LARGE)' }),
                }),
              ),
              countsByReason: Type.Record(Type.String(), Type.Integer(), { description: 'over the dead letters read (the newest `limit`)' }),
            }),
            400: ErrorResponse,
            404: ErrorResponse,
            503: ErrorResponse,
          },
        },
      },
      async (request) => {
        const flow = plane.flow(request.params.flow);
        const { key, reason } = request.query;
        const scope = key === undefined ? {} : { key, partition: engine.partitionFor(flow.id, key) };
        let records;
        try {
          records = await engine.recent(flow.topics.dlq, request.query.limit, scope);
        } catch (error) {
          throw new ApiError('ENGINE_UNAVAILABLE', `could not read topic ${flow.topics.dlq}: ${(error as Error).message}`);
        }
        const countsByReason: Record<string, number> = {};
        const items = [];
        for (const record of records.reverse()) {
          const why = header(record.headers, HEADERS.dlqReason);
          countsByReason[why ?? 'UNKNOWN'] = (countsByReason[why ?? 'UNKNOWN'] ?? 0) + 1;
          if (reason !== undefined && why !== reason) continue;
          const sourcePartition = header(record.headers, HEADERS.sourcePartition);
          const sourceOffset = header(record.headers, HEADERS.sourceOffset);
          items.push({
            partition: record.partition,
            offset: record.offset,
            timestamp: record.timestamp,
            key: record.key,
            reason: why,
            message: header(record.headers, HEADERS.dlqMessage),
            source: {
              topic: header(record.headers, HEADERS.sourceTopic),
              partition: sourcePartition === null ? null : Number(sourcePartition),
              offset: sourceOffset === null ? null : Number(sourceOffset),
            },
            headers: record.headers.map((h) => ({ key: h.key, value: h.value === null ? null : h.value.toString('utf8') })),
            valuePreview: record.value === null ? null : record.value.subarray(0, PREVIEW_BYTES).toString('utf8'),
            valueBytes: record.value === null ? null : record.value.length,
            replayable: record.key !== null && record.value !== null,
          });
        }
        return { flow: flow.id, topic: flow.topics.dlq, items, countsByReason };
      },
    );

    app.post(
      '/api/v1/flows/:flow/dead-letters/replay',
      {
        schema: {
          tags,
          summary: 'Send chosen dead letters back to the topic they came from (after a fix), in the order given',
          description:
            `Each record is read from the dead-letter topic by partition and offset and produced to its source topic (the flow's input or command topic) with its key, value and original headers; ` +
            `the headers event-pause added are dropped; \`${REPLAYED_FROM_HEADER}\` names the dead letter, \`${REPLAYED_BY_HEADER}\` and \`${REPLAY_REASON_HEADER}\` the actor and reason (the replay's audit record). Records without a key or value cannot be replayed (400, nothing sent).`,
          params: FlowParams,
          body: ReplayBody,
          response: {
            202: Type.Object({
              flow: Type.String(),
              replayed: Type.Array(Type.Object({ partition: Type.Integer(), offset: Type.Integer(), key: Type.String(), topic: Type.String(), to: Type.Object({ partition: Type.Integer(), offset: Type.Integer() }) })),
              reason: Type.Union([Type.String(), Type.Null()]),
              actor: Type.String(),
            }),
            400: ErrorResponse,
            404: ErrorResponse,
            503: ErrorResponse,
          },
        },
      },
      async (request, reply) => {
        const flow = plane.flow(request.params.flow);
        const meta = actionMeta(request, request.body);
        const chosen = [];
        // All are read and checked before any is sent: a bad choice sends nothing.
        for (const { partition, offset } of request.body.records) {
          let found;
          try {
            [found] = await engine.recent(flow.topics.dlq, 1, { partition, before: offset + 1 });
          } catch (error) {
            throw new ApiError('ENGINE_UNAVAILABLE', `could not read topic ${flow.topics.dlq}: ${(error as Error).message}`);
          }
          if (found === undefined || found.offset !== offset) {
            throw new ApiError('BAD_REQUEST', `no dead letter at partition ${partition} offset ${offset} of ${flow.topics.dlq} (deleted by retention, or never there)`);
          }
          if (found.key === null || found.value === null) {
            throw new ApiError('BAD_REQUEST', `the dead letter at partition ${partition} offset ${offset} has no ${found.key === null ? 'key' : 'value (not kept: RECORD_TOO_LARGE)'}; it cannot be replayed`);
          }
          const source = header(found.headers, HEADERS.sourceTopic);
          const topic = source === flow.topics.trigger ? flow.topics.trigger : flow.topics.main;
          chosen.push({ partition, offset, record: found, key: found.key, value: found.value, topic });
        }
        const replayed = [];
        for (const c of chosen) {
          const headers: Header[] = c.record.headers.filter((h) => !DLQ_HEADERS.has(h.key) && !REPLAY_HEADERS.has(h.key));
          headers.push({ key: REPLAYED_FROM_HEADER, value: Buffer.from(`${flow.topics.dlq}/${c.partition}/${c.offset}`) });
          headers.push({ key: REPLAYED_BY_HEADER, value: Buffer.from(meta.actor) });
          if (meta.reason !== undefined) headers.push({ key: REPLAY_REASON_HEADER, value: Buffer.from(meta.reason) });
          const to = await engine.produce(c.topic, { key: c.key, value: c.value, headers });
          replayed.push({ partition: c.partition, offset: c.offset, key: c.key, topic: c.topic, to });
        }
        request.log.info({ flow: flow.id, replayed: replayed.length, actor: meta.actor, reason: meta.reason }, 'dead letters replayed');
        return reply.status(202).send({ flow: flow.id, replayed, reason: meta.reason ?? null, actor: meta.actor });
      },
    );

    app.get(
      '/api/v1/flows/:flow/stuck-keys',
      {
        schema: {
          tags,
          summary: 'Keys paused longer than STUCK_PAUSED_MINUTES, and keys holding more than STUCK_BUFFERED_EVENTS events',
          params: FlowParams,
          querystring: Type.Object({ limit: limit(20, MAX_PAGE_LIMIT) }),
          response: {
            200: Type.Object({
              flow: Type.String(),
              thresholds: Type.Object({ pausedMinutes: Type.Number(), bufferedEvents: Type.Integer() }),
              pausedTooLong: Type.Object({ count: Type.Integer(), items: Type.Array(KeyHitSchema, { description: 'the longest paused first' }) }),
              bufferedTooMany: Type.Object({ count: Type.Integer(), items: Type.Array(KeyHitSchema, { description: 'the most buffered first' }) }),
            }),
            400: ErrorResponse,
            404: ErrorResponse,
            502: ErrorResponse,
          },
        },
      },
      async (request) => {
        const flow = plane.flow(request.params.flow);
        const { stuckPausedMs, stuckBufferedEvents } = settings.alerts;
        const max = request.query.limit;
        const table = engine.statusTable(flow.id);
        const longKeys = pausedLongerThan(table, stuckPausedMs, Date.now());
        longKeys.sort((a, b) => table.get(a).timestamp - table.get(b).timestamp || (a < b ? -1 : 1));
        const longPage: KeyHit[] = longKeys.slice(0, max).map((key) => ({
          key,
          partition: engine.partitionFor(flow.id, key),
          status: 'PAUSED',
          pausedSince: table.get(key).timestamp,
          bufferedCount: 0,
          oldestBufferedTimestamp: null,
        }));
        const heavyQuery: KeyQuery = { prefix: '', state: 'all', sort: 'most', offset: 0, limit: max, minCount: stuckBufferedEvents + 1 };
        const locals = await searchEverywhere(request, flow, heavyQuery);
        const heavy = mergeSearch(locals, [], table, (key) => engine.partitionFor(flow.id, key), { ...heavyQuery, state: 'buffered' });
        return {
          flow: flow.id,
          thresholds: { pausedMinutes: stuckPausedMs / 60_000, bufferedEvents: stuckBufferedEvents },
          pausedTooLong: { count: longKeys.length, items: await withSummaries(request, flow.id, longPage, new Set(longKeys)) },
          bufferedTooMany: { count: heavy.total, items: heavy.hits },
        };
      },
    );
  };

  /** This instance's answer and every other's (scope local) for the same query. */
  function searchEverywhere(request: FastifyRequest, flow: FlowDefinition, query: KeyQuery): Promise<LocalSearch[]> {
    const table = engine.statusTable(flow.id);
    const forward = new URLSearchParams({
      scope: 'local',
      prefix: query.prefix,
      state: query.state,
      sort: query.sort,
      offset: String(query.offset),
      limit: String(query.limit),
    });
    if (query.exact !== undefined) forward.set('key', query.exact);
    if (query.minCount !== undefined) forward.set('minBuffered', String(query.minCount));
    return cluster.fanOut(request, `/api/v1/flows/${encodeURIComponent(flow.id)}/key-search?${forward}`, () => searchLocal(localBuffers(flow.id), table, query));
  }

  /** The hits, with the buffer summary of those in `ask` filled in from their owners. */
  async function withSummaries(request: FastifyRequest, flowId: string, hits: readonly KeyHit[], ask: ReadonlySet<string>): Promise<KeyHit[]> {
    const items: KeyHit[] = [];
    for (const hit of hits) {
      if (!ask.has(hit.key)) {
        items.push(hit);
        continue;
      }
      try {
        items.push({ ...hit, ...(await summary(request, flowId, hit.key)) });
      } catch {
        items.push(hit); // its owner is moving: shown without a count
      }
    }
    return items;
  }
}

/** Paused keys whose pause is older than `ms`. */
export function pausedLongerThan(table: StatusView, ms: number, now: number): string[] {
  const keys: string[] = [];
  for (const key of table.pausedKeyNames()) if (now - table.get(key).timestamp > ms) keys.push(key);
  return keys;
}
