/** The live event stream: server-sent events of one flow, or of all flows. */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { ApiContext } from '../context.ts';
import { ErrorResponse, FlowId } from '../schemas.ts';

export function eventRoutes(ctx: ApiContext): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.get(
      '/api/v1/events',
      {
        schema: {
          tags: ['v1'],
          summary: 'Server-sent events: processed and buffered counts per second, drained, status-changed, dead-lettered',
          description:
            'Events: hello (once), processed {flowId, count, intervalMs}, buffered {flowId, count, intervalMs, keys}, ' +
            'drained {flowId, key, partition, count, remaining}, status-changed {flowId, key, status, reason, actor, ...}, ' +
            'dead-lettered {flowId, key, partition, reason}, overflow {skipped}. Events are those of this instance\'s tasks; ' +
            'status changes are seen by every instance.',
          produces: ['text/event-stream'],
          querystring: Type.Object({ flow: Type.Optional(FlowId) }),
          response: { 200: Type.String({ description: 'text/event-stream' }), 400: ErrorResponse, 404: ErrorResponse },
        },
      },
      async (request, reply) => {
        const flowId = request.query.flow;
        if (flowId !== undefined) ctx.plane.flow(flowId);
        ctx.events.open(request, reply, flowId);
      },
    );
  };
}
