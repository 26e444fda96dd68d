/**
 * The original system's endpoints, same paths, parameters and response shapes, so that its
 * dashboard and scripts keep working. Additions are optional: X-Actor / X-Reason headers on
 * pause and resume, and a `limit` on the buffer listing (the original returned it all).
 */
import { randomUUID } from 'node:crypto';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyReply } from 'fastify';
import { Type } from 'typebox';
import { originalApiBodies } from '../body-parsers.ts';
import { actionMeta, type ApiContext } from '../context.ts';
import { bufferedEventView } from '../control-plane.ts';
import {
  ActionHeaders,
  ErrorResponse,
  FlowKeyParams,
  FlowParams,
  Key,
  KeyStatus,
  limit,
  MAX_BUFFER_LIST,
  MAX_DATA_LENGTH,
  MAX_RECENT_LIMIT,
  WireEvent,
} from '../schemas.ts';

const tags = ['control (original API)'];

export const RecentRecord = Type.Object({
  key: Type.Union([Type.String(), Type.Null()]),
  eventId: Type.Union([Type.String(), Type.Null()]),
  data: Type.Unknown(),
  timestamp: Type.Union([Type.Number(), Type.Null()]),
  partition: Type.Integer(),
  offset: Type.Integer(),
  consumedAt: Type.Number(),
});

const recentSchema = (which: 'input' | 'output') => ({
  tags,
  summary: `Recent records of the flow's ${which} topic, newest last`,
  params: FlowParams,
  description: `\`limit\` takes any positive integer, as the original did; above ${MAX_RECENT_LIMIT} it is clamped to ${MAX_RECENT_LIMIT} and the answer says so in the header X-Limit-Clamped: ${MAX_RECENT_LIMIT}.`,
  querystring: Type.Object({
    limit: Type.Integer({ minimum: 1, default: 50, description: `a positive integer; above ${MAX_RECENT_LIMIT} it is clamped to ${MAX_RECENT_LIMIT}` }),
  }),
  response: { 200: Type.Array(RecentRecord), 400: ErrorResponse, 404: ErrorResponse },
});

/** The original took any int; we return at most MAX_RECENT_LIMIT records and say so when clamped. */
function recentLimit(requested: number, reply: FastifyReply): number {
  if (requested <= MAX_RECENT_LIMIT) return requested;
  void reply.header('x-limit-clamped', String(MAX_RECENT_LIMIT));
  return MAX_RECENT_LIMIT;
}

const actionSchema = (action: 'pause' | 'resume') => ({
  tags,
  summary:
    action === 'pause'
      ? 'Pause a key: writes PAUSED to the status topic (takes effect where each instance sees it)'
      : 'Resume a key: writes ACTIVE to the status topic, then a resume command that drains its buffer',
  params: FlowKeyParams,
  headers: ActionHeaders,
  response: { 202: Type.Unknown({ description: 'Accepted; no body, as the original' }), 400: ErrorResponse, 401: ErrorResponse, 404: ErrorResponse },
});

export function controlRoutes(ctx: ApiContext): FastifyPluginAsyncTypebox {
  const { plane, cluster } = ctx;
  return async (app) => {
    originalApiBodies(app);

    app.post('/control/:flow/pause/:key', { schema: actionSchema('pause') }, async (request, reply) => {
      const flow = plane.flow(request.params.flow);
      await plane.pause(flow, [request.params.key], actionMeta(request));
      return reply.status(202).send();
    });

    app.post('/control/:flow/resume/:key', { schema: actionSchema('resume') }, async (request, reply) => {
      const flow = plane.flow(request.params.flow);
      await plane.resume(flow, [request.params.key], actionMeta(request));
      return reply.status(202).send();
    });

    app.post(
      '/control/:flow/send',
      {
        schema: {
          tags,
          summary: 'Send a test event {id, data, timestamp} with a fresh id to the flow\'s main topic',
          description: 'key and data come from the query string or, as the original took them, from a form body (application/x-www-form-urlencoded).',
          params: FlowParams,
          querystring: Type.Object({
            key: Key,
            data: Type.String({ maxLength: MAX_DATA_LENGTH, description: `text, at most ${MAX_DATA_LENGTH} characters` }),
          }),
          response: {
            200: Type.Object({ message: Type.String(), eventId: Type.String() }),
            400: ErrorResponse,
            401: ErrorResponse,
            404: ErrorResponse,
          },
        },
        // Spring's @RequestParam reads a form body too: its fields fill what the query lacks.
        preValidation: async (request) => {
          const form = request.body as Record<string, unknown> | undefined;
          if (form === undefined || form === null || typeof form !== 'object') return;
          const query = request.query as Record<string, unknown>;
          for (const name of ['key', 'data']) if (query[name] === undefined && typeof form[name] === 'string') query[name] = form[name];
        },
      },
      async (request) => {
        const flow = plane.flow(request.params.flow);
        const id = randomUUID();
        await plane.send(flow, request.query.key, id, request.query.data);
        return { message: `Event sent: ${id}`, eventId: id };
      },
    );

    app.get('/control/:flow/input-messages', { schema: recentSchema('input') }, async (request, reply) => {
      const flow = plane.flow(request.params.flow);
      return plane.recent(flow.topics.main, recentLimit(request.query.limit, reply));
    });

    app.get('/control/:flow/output-messages', { schema: recentSchema('output') }, async (request, reply) => {
      const flow = plane.flow(request.params.flow);
      return plane.recent(flow.topics.output, recentLimit(request.query.limit, reply));
    });

    app.get(
      '/control/:flow/buffer/:key',
      {
        schema: {
          tags,
          summary: 'Buffered events of a key, oldest first, asked of the instance that owns its partition',
          description: `At most \`limit\` events (default ${MAX_BUFFER_LIST}); the header ep-buffered-total gives the full count. For large buffers use /api/v1/flows/{flow}/keys/{key}/buffer.`,
          params: FlowKeyParams,
          querystring: Type.Object({ limit: limit(MAX_BUFFER_LIST, MAX_BUFFER_LIST) }),
          response: { 200: Type.Array(WireEvent), 400: ErrorResponse, 404: ErrorResponse, 502: ErrorResponse, 503: ErrorResponse },
        },
      },
      async (request, reply) => {
        const { flow: flowId, key } = request.params;
        plane.flow(flowId);
        return cluster.fromOwner(request, reply, flowId, key, ({ buffer }) => {
          void reply.header('ep-buffered-total', String(buffer.count(key)));
          return buffer.read(key, request.query.limit).map((event) => {
            const { id, data, timestamp } = bufferedEventView(event);
            return { id, data, timestamp };
          });
        });
      },
    );

    app.get(
      '/control/:flow/status/:key',
      {
        schema: {
          tags,
          summary: 'Status of a key (ACTIVE when never set) from the replicated status table',
          params: FlowKeyParams,
          response: { 200: Type.Object({ key: Type.String(), status: KeyStatus }), 400: ErrorResponse, 404: ErrorResponse },
        },
      },
      async (request) => {
        const { flow: flowId, key } = request.params;
        plane.flow(flowId);
        return { key, status: plane.status(flowId, key).status };
      },
    );
  };
}
