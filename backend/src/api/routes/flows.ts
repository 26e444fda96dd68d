/**
 * The versioned API, /api/v1: what the original lacked. Flows with their topics; paused and
 * buffered keys over every instance, paginated by key cursor; one key's summary and buffer
 * pages from the instance that owns it; status history; pause and resume of many keys at once,
 * each with a reason and an actor.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyRequest } from 'fastify';
import { Type, type Static } from 'typebox';
import type { FlowDefinition } from '../../config/config.ts';
import { jsonApiBodies } from '../body-parsers.ts';
import { actionMeta, type ApiContext } from '../context.ts';
import { bufferedEventView, bufferPage, bufferSummary, localBufferedKeys, searchedPartitions, statusView, type ActionMeta } from '../control-plane.ts';
import {
  Actor,
  ErrorResponse,
  FlowKeyParams,
  FlowParams,
  Key,
  KeyStatus,
  limit,
  MAX_BULK_KEYS,
  MAX_KEY_BYTES,
  MAX_PAGE_LIMIT,
  Reason,
} from '../schemas.ts';

const tags = ['v1'];
const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(schema: T) => Type.Union([schema, Type.Null()]);

const Topic = Type.Object({ name: Type.String(), partitions: Type.Integer() });
const Flow = Type.Object({
  id: Type.String(),
  partitions: Type.Integer(),
  topics: Type.Object({ main: Topic, trigger: Topic, status: Topic, output: Topic, dlq: Topic, changelog: Topic }),
  localPartitions: Type.Array(Type.Integer(), { description: 'partitions whose tasks run on the instance that answered' }),
  pausedKeys: Type.Integer(),
});
const EngineInfo = Type.Object({ kind: Type.String(), durable: Type.Boolean(), description: Type.String() });

const StatusFields = {
  status: KeyStatus,
  reason: Nullable(Type.String()),
  actor: Nullable(Type.String()),
  statusChangedAt: Nullable(Type.Number()),
};

const KeyItem = Type.Object({
  key: Type.String(),
  partition: Type.Integer(),
  ...StatusFields,
  bufferedCount: Type.Integer(),
  oldestBufferedTimestamp: Nullable(Type.Number()),
});
type KeyItemT = Static<typeof KeyItem>;

const LocalBufferedKey = Type.Object({
  key: Type.String(),
  partition: Type.Integer(),
  bufferedCount: Type.Integer(),
  oldestBufferedTimestamp: Nullable(Type.Number()),
});
type LocalBufferedKeyT = Static<typeof LocalBufferedKey>;

const KeysQuery = Type.Object({
  state: Type.Enum(['all', 'paused', 'buffered'], {
    default: 'all',
    description: 'all (paused or buffered), paused, or buffered',
  }),
  after: Type.Optional(Type.String({ maxLength: MAX_KEY_BYTES, description: 'the nextCursor of the previous page' })),
  limit: limit(100, MAX_PAGE_LIMIT),
  scope: Type.Enum(['cluster', 'local'], {
    default: 'cluster',
    description: 'cluster: every instance; local: buffered keys of this instance\'s tasks only (used between instances)',
  }),
});

const ActionBody = Type.Object(
  { reason: Type.Optional(Reason), actor: Type.Optional(Actor) },
  { additionalProperties: false },
);
const BulkBody = Type.Object(
  {
    keys: Type.Array(Key, { minItems: 1, maxItems: MAX_BULK_KEYS, uniqueItems: true, description: `1 to ${MAX_BULK_KEYS} distinct keys` }),
    reason: Type.Optional(Reason),
    actor: Type.Optional(Actor),
  },
  { additionalProperties: false },
);
const ActionResult = Type.Object({
  flow: Type.String(),
  status: KeyStatus,
  keys: Type.Array(Type.String()),
  reason: Nullable(Type.String()),
  actor: Type.String(),
});

/** Maps with at most `concurrency` calls in flight; results in input order. */
async function mapLimit<T, R>(items: readonly T[], concurrency: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
  return results;
}

export function flowRoutes(ctx: ApiContext): FastifyPluginAsyncTypebox {
  const { plane, cluster } = ctx;
  const engine = plane.engine;

  const flowView = (flow: FlowDefinition): Static<typeof Flow> => {
    const topic = (name: string) => ({ name, partitions: engine.partitions(name) });
    const t = flow.topics;
    return {
      id: flow.id,
      partitions: flow.partitions,
      topics: {
        main: topic(t.main),
        trigger: topic(t.trigger),
        status: topic(t.status),
        output: topic(t.output),
        dlq: topic(t.dlq),
        changelog: topic(t.changelog),
      },
      localPartitions: engine.localPartitions(flow.id),
      pausedKeys: engine.statusTable(flow.id).pausedCount,
    };
  };

  const statusFields = (flowId: string, key: string) => {
    const view = plane.status(flowId, key);
    return { status: view.status, reason: view.reason, actor: view.actor, statusChangedAt: view.timestamp };
  };

  /** One key's buffered count and oldest timestamp, from the instance that owns its partition. */
  const keySummary = async (request: FastifyRequest, flowId: string, key: string): Promise<LocalBufferedKeyT | undefined> => {
    const location = await cluster.locate(flowId, key, request);
    if (location.kind === 'local') return { key, partition: location.partition, ...bufferSummary(location.buffer, key) };
    const answer = await cluster.get(location.url, `/api/v1/flows/${encodeURIComponent(flowId)}/keys/${encodeURIComponent(key)}`, request);
    return answer as LocalBufferedKeyT;
  };

  const actionResult = (flow: FlowDefinition, status: 'ACTIVE' | 'PAUSED', keys: string[], meta: ActionMeta) => ({
    flow: flow.id,
    status,
    keys,
    reason: meta.reason ?? null,
    actor: meta.actor,
  });

  return async (app) => {
    jsonApiBodies(app);

    app.get(
      '/api/v1/flows',
      {
        schema: {
          tags,
          summary: 'Flows with their topics and partition counts, and the engine that runs them',
          response: { 200: Type.Object({ engine: EngineInfo, ready: Type.Boolean(), flows: Type.Array(Flow) }) },
        },
      },
      async () => ({ engine: { ...engine.info }, ready: engine.isReady(), flows: plane.flows.map(flowView) }),
    );

    app.get(
      '/api/v1/flows/:flow',
      { schema: { tags, summary: 'One flow', params: FlowParams, response: { 200: Flow, 400: ErrorResponse, 404: ErrorResponse } } },
      async (request) => flowView(plane.flow(request.params.flow)),
    );

    app.get(
      '/api/v1/flows/:flow/keys',
      {
        schema: {
          tags,
          summary: 'Keys that are paused or hold buffered events, over every instance, sorted by key',
          description:
            'Cursor pagination: pass the answer\'s nextCursor as `after` to get the next page; nextCursor is null on the last page. ' +
            'Buffered counts come from the instances that own the keys\' partitions.',
          params: FlowParams,
          querystring: KeysQuery,
          response: {
            200: Type.Union([
              Type.Object({
                flow: Type.String(),
                items: Type.Array(KeyItem),
                nextCursor: Nullable(Type.String()),
                pausedKeys: Type.Integer({ description: 'paused keys in the whole flow' }),
                incomplete: Type.Boolean({
                  description: 'true when some partitions could not be searched for buffered keys (no running task: restoring, rebalancing, an instance recovering); their keys may be missing',
                }),
                missingPartitions: Type.Array(Type.Integer(), { description: 'the partitions that could not be searched' }),
              }),
              Type.Object({
                flow: Type.String(),
                local: Type.Array(LocalBufferedKey),
                partitions: Type.Array(Type.Integer(), { description: 'partitions whose buffers this answer searched' }),
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
        const { state, after, limit: pageSize } = request.query;
        // Ask one more than a page from every source: a page is full and more exist iff the union has more.
        const want = pageSize + 1;
        if (request.query.scope === 'local' || cluster.isForwarded(request)) {
          return { flow: flow.id, local: localBufferedKeys(engine, flow.id, after, want), partitions: searchedPartitions(engine, flow.id) };
        }
        const searched = new Set<number>();
        const table = engine.statusTable(flow.id);
        const buffered = new Map<string, LocalBufferedKeyT>();
        const candidates = new Set<string>();
        if (state !== 'buffered') {
          const paused: string[] = [];
          for (const key of table.pausedKeyNames()) if (after === undefined || key > after) paused.push(key);
          for (const key of paused.sort().slice(0, want)) candidates.add(key);
        }
        if (state !== 'paused') {
          // Each instance answers its first page of buffered keys after the cursor; the union's
          // first page is then exact, and a key on it that no instance listed holds no events.
          const query = new URLSearchParams({ scope: 'local', limit: String(pageSize) });
          if (after !== undefined) query.set('after', after);
          const answers = await cluster.fanOut(request, `/api/v1/flows/${encodeURIComponent(flow.id)}/keys?${query}`, () => ({
            local: localBufferedKeys(engine, flow.id, after, want),
            partitions: searchedPartitions(engine, flow.id),
          }));
          for (const answer of answers) {
            for (const partition of answer.partitions ?? []) searched.add(partition);
            for (const item of answer.local) {
              buffered.set(item.key, item);
              candidates.add(item.key);
            }
          }
        }
        const sorted = [...candidates].sort();
        const page = sorted.slice(0, pageSize);
        if (state === 'paused') {
          // A paused key's events may sit on any instance: ask the owner of each key on the page.
          for (const summary of await mapLimit(page, 16, (key) => keySummary(request, flow.id, key))) {
            if (summary !== undefined) buffered.set(summary.key, summary);
          }
        }
        const items: KeyItemT[] = page.map((key) => {
          const held = buffered.get(key);
          return {
            key,
            partition: held?.partition ?? engine.partitionFor(flow.id, key),
            ...statusFields(flow.id, key),
            bufferedCount: held?.bufferedCount ?? 0,
            oldestBufferedTimestamp: held?.oldestBufferedTimestamp ?? null,
          };
        });
        const nextCursor = sorted.length > pageSize ? (page.at(-1) ?? null) : null;
        // Rule 12: an answer that could not search every partition's buffer says so.
        const missingPartitions =
          state === 'paused' ? [] : Array.from({ length: engine.partitions(flow.topics.main) || flow.partitions }, (_, partition) => partition).filter((partition) => !searched.has(partition));
        return { flow: flow.id, items, nextCursor, pausedKeys: table.pausedCount, incomplete: missingPartitions.length > 0, missingPartitions };
      },
    );

    app.get(
      '/api/v1/flows/:flow/keys/:key',
      {
        schema: {
          tags,
          summary: 'One key: status with reason and actor, partition, buffered count and oldest buffered timestamp (no events)',
          params: FlowKeyParams,
          response: {
            200: Type.Object({ flow: Type.String(), key: Type.String(), partition: Type.Integer(), ...StatusFields, bufferedCount: Type.Integer(), oldestBufferedTimestamp: Nullable(Type.Number()), answeredBy: Type.String() }),
            400: ErrorResponse,
            404: ErrorResponse,
            502: ErrorResponse,
            503: ErrorResponse,
          },
        },
      },
      async (request, reply) => {
        const { flow: flowId, key } = request.params;
        plane.flow(flowId);
        return cluster.fromOwner(request, reply, flowId, key, ({ partition, buffer }) => ({
          flow: flowId,
          key,
          partition,
          ...statusFields(flowId, key),
          ...bufferSummary(buffer, key),
          answeredBy: cluster.selfUrl,
        }));
      },
    );

    app.get(
      '/api/v1/flows/:flow/keys/:key/buffer',
      {
        schema: {
          tags,
          summary: 'A page of a key\'s buffered events, oldest first, from the instance that owns it',
          description:
            'Either `after` (a seq from the previous page\'s nextAfter; stable while the buffer drains) or `offset`. ' +
            'seq is the event\'s offset in the main topic.',
          params: FlowKeyParams,
          querystring: Type.Object({
            limit: limit(100, MAX_PAGE_LIMIT),
            offset: Type.Integer({ minimum: 0, default: 0, description: 'events to skip from the oldest' }),
            after: Type.Optional(Type.Integer({ minimum: -1, description: 'return events with seq greater than this' })),
          }),
          response: {
            200: Type.Object({
              flow: Type.String(),
              key: Type.String(),
              total: Type.Integer(),
              items: Type.Array(
                Type.Object({
                  seq: Type.Integer(),
                  id: Nullable(Type.String()),
                  data: Type.Unknown(),
                  timestamp: Nullable(Type.Number()),
                  recordTimestamp: Type.Number(),
                }),
              ),
              nextAfter: Nullable(Type.Integer()),
            }),
            400: ErrorResponse,
            404: ErrorResponse,
            502: ErrorResponse,
            503: ErrorResponse,
          },
        },
      },
      async (request, reply) => {
        const { flow: flowId, key } = request.params;
        plane.flow(flowId);
        const { limit: pageSize, offset, after } = request.query;
        return cluster.fromOwner(request, reply, flowId, key, ({ buffer }) => {
          const { items, total } = bufferPage(buffer, key, { limit: pageSize, offset, after });
          const last = items.at(-1);
          const more = last !== undefined && (after === undefined ? offset + items.length < total : items.length === pageSize);
          return { flow: flowId, key, total, items: items.map(bufferedEventView), nextAfter: more ? last.seq : null };
        });
      },
    );

    app.get(
      '/api/v1/flows/:flow/keys/:key/history',
      {
        schema: {
          tags,
          summary:
            'Status changes of a key, oldest first, with reason and actor: at most 50. Durable: each status record carries the key\'s earlier changes (header ep-history), so the history survives restarts, compaction and partition moves. Kept in memory for the 10,000 most recent changes and for every paused key; an ACTIVE key changed long ago shows none until the next restart reads its trail again.',
          params: FlowKeyParams,
          response: {
            200: Type.Object({
              flow: Type.String(),
              key: Type.String(),
              items: Type.Array(
                Type.Object({
                  status: KeyStatus,
                  reason: Nullable(Type.String()),
                  actor: Nullable(Type.String()),
                  timestamp: Type.Number(),
                  partition: Type.Integer(),
                  offset: Type.Integer(),
                }),
              ),
            }),
            400: ErrorResponse,
            404: ErrorResponse,
          },
        },
      },
      async (request) => {
        const { flow: flowId, key } = request.params;
        plane.flow(flowId);
        const items = engine
          .statusTable(flowId)
          .history(key)
          .map((change) => ({ ...statusView(change), timestamp: change.timestamp, partition: change.partition, offset: change.offset }));
        return { flow: flowId, key, items };
      },
    );

    for (const action of ['pause', 'resume'] as const) {
      const status = action === 'pause' ? 'PAUSED' : 'ACTIVE';
      const run = (flow: FlowDefinition, keys: string[], meta: ActionMeta) =>
        action === 'pause' ? plane.pause(flow, keys, meta) : plane.resume(flow, keys, meta);
      const responses = { 202: ActionResult, 400: ErrorResponse, 401: ErrorResponse, 404: ErrorResponse, 503: ErrorResponse };

      app.post(
        `/api/v1/flows/:flow/keys/:key/${action}`,
        {
          schema: {
            tags,
            summary: action === 'pause' ? 'Pause one key, with a reason and an actor' : 'Resume one key (drains its buffer), with a reason and an actor',
            params: FlowKeyParams,
            body: ActionBody,
            response: responses,
          },
          // The body is optional: no body means no reason, and the actor from X-Actor or "api".
          preValidation: async (request) => {
            request.body ??= {};
          },
        },
        async (request, reply) => {
          const flow = plane.flow(request.params.flow);
          const meta = actionMeta(request, request.body);
          await run(flow, [request.params.key], meta);
          return reply.status(202).send(actionResult(flow, status, [request.params.key], meta));
        },
      );

      app.post(
        `/api/v1/flows/:flow/${action}`,
        {
          schema: {
            tags,
            summary: `${action === 'pause' ? 'Pause' : 'Resume'} many keys in one call (up to ${MAX_BULK_KEYS})`,
            params: FlowParams,
            body: BulkBody,
            response: responses,
          },
        },
        async (request, reply) => {
          const flow = plane.flow(request.params.flow);
          const meta = actionMeta(request, request.body);
          await run(flow, request.body.keys, meta);
          return reply.status(202).send(actionResult(flow, status, request.body.keys, meta));
        },
      );
    }
  };
}
