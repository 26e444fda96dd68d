/** Liveness, readiness and Prometheus metrics: what an orchestrator and a scraper ask. */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { ApiContext } from '../context.ts';
import { errorBody } from '../errors.ts';
import { METRICS_CONTENT_TYPE } from '../metrics.ts';
import { ErrorResponse } from '../schemas.ts';

const tags = ['operations'];

export function opsRoutes(ctx: ApiContext): FastifyPluginAsyncTypebox {
  const engine = ctx.plane.engine;
  return async (app) => {
    app.get(
      '/health',
      {
        schema: { tags, summary: 'Liveness: the process answers', response: { 200: Type.Object({ status: Type.Literal('ok') }) } },
        logLevel: 'warn',
      },
      async () => ({ status: 'ok' as const }),
    );

    app.get(
      '/ready',
      {
        schema: {
          tags,
          summary: 'Readiness: status tables caught up and every assigned task restored (503 otherwise)',
          response: {
            200: Type.Object({ ready: Type.Boolean(), engine: Type.String() }),
            503: Type.Object({ ...ErrorResponse.properties, reasons: Type.Array(Type.String(), { description: 'what keeps the instance from being ready' }) }),
          },
        },
        logLevel: 'warn',
      },
      async (_request, reply) => {
        const readiness = engine.readiness();
        if (readiness.ready) return { ready: true, engine: engine.info.kind };
        return reply.status(503).send({
          ...errorBody('NOT_READY', `engine ${engine.info.kind} is not ready: ${readiness.reasons.join('; ')}`),
          reasons: [...readiness.reasons],
        });
      },
    );

    app.get(
      '/metrics',
      {
        schema: {
          tags,
          summary: 'Prometheus metrics (text format 0.0.4)',
          produces: ['text/plain'],
          response: { 200: Type.String() },
        },
        logLevel: 'warn',
      },
      async (_request, reply) => reply.type(METRICS_CONTENT_TYPE).send(await ctx.metrics.text()),
    );
  };
}
