/**
 * The HTTP control plane as a Fastify app. `eventPauseApp` is the app itself, a plugin: CORS,
 * OpenAPI at /docs, the bearer guard, and the routes. `buildApp` wraps it in a Fastify instance
 * with the server options (logger, body limit, validation); main.ts only listens and shuts down.
 * Tests call `buildApp(...).inject()`.
 */
import cors from '@fastify/cors';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyPluginAsyncTypebox, TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { type FastifyInstance } from 'fastify';
import { pino, type Logger } from 'pino';
import type { Settings } from '../config/config.ts';
import type { FlowEngine } from '../runtime/engine.ts';
import { bearerGuard } from './auth.ts';
import { Cluster } from './cluster.ts';
import type { ApiContext } from './context.ts';
import { ControlPlane } from './control-plane.ts';
import { dashboardRoutes } from './dashboard.ts';
import { errorHandler, notFoundHandler } from './errors.ts';
import { EventStream, type EventStreamOptions } from './event-stream.ts';
import { CommitLatencyHistogram } from './metrics.ts';
import { controlRoutes } from './routes/control.ts';
import { eventRoutes } from './routes/events.ts';
import { flowRoutes } from './routes/flows.ts';
import { opsRoutes } from './routes/ops.ts';
import { strictBodyTypes } from './strict-body.ts';
import { MAX_KEY_LENGTH } from './schemas.ts';

/** Largest request body: a bulk call of 1000 keys of the longest length fits comfortably. */
export const BODY_LIMIT_BYTES = 512 * 1024;

export interface AppOptions {
  readonly engine: FlowEngine;
  readonly settings: Settings;
  readonly logger?: Logger;
  readonly eventStream?: Partial<EventStreamOptions>;
}

export interface EventPauseAppOptions {
  readonly engine: FlowEngine;
  readonly settings: Settings;
  readonly eventStream?: Partial<EventStreamOptions>;
}

export const eventPauseApp: FastifyPluginAsyncTypebox<EventPauseAppOptions> = async (app, options) => {
  const { engine, settings } = options;
  const events = new EventStream(engine, options.eventStream);
  const ctx: ApiContext = {
    plane: new ControlPlane(engine),
    cluster: new Cluster(engine, settings.http.advertisedUrl),
    events,
    histogram: new CommitLatencyHistogram(),
    settings,
  };

  const origins = settings.http.corsOrigins;
  await app.register(cors, {
    origin: origins.includes('*') ? '*' : [...origins],
    methods: ['GET', 'POST', 'OPTIONS'],
    allowedHeaders: ['Content-Type', 'Authorization', 'X-Actor', 'X-Reason', 'Last-Event-ID'],
    exposedHeaders: ['ep-buffered-total'],
    maxAge: 600,
  });
  await app.register(swagger, {
    openapi: {
      info: {
        title: 'event-pause',
        description: 'Pause and resume Kafka event processing per key with strict per-key ordering.',
        version: '1',
      },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      tags: [
        { name: 'control (original API)', description: 'The original system\'s endpoints, unchanged' },
        { name: 'v1', description: 'Flows, keys, buffers, history, bulk actions, live events' },
        { name: 'operations', description: 'Health, readiness, metrics' },
      ],
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });

  // Bodies keep their JSON types (no coercion, see strict-body.ts): added before any route.
  app.addHook('onRoute', strictBodyTypes);

  const token = settings.http.apiToken;
  if (token !== undefined) app.addHook('onRequest', bearerGuard(token));
  app.addHook('preClose', async () => events.closeAll());

  await app.register(opsRoutes(ctx));
  await app.register(controlRoutes(ctx));
  await app.register(flowRoutes(ctx));
  await app.register(eventRoutes(ctx));
  await app.register(dashboardRoutes());
};

export function buildApp(options: AppOptions): FastifyInstance {
  const logger = options.logger ?? pino({ level: process.env.LOG_LEVEL ?? 'info' });
  const app = Fastify({
    loggerInstance: logger,
    bodyLimit: BODY_LIMIT_BYTES,
    // Keys travel in the path; let their length be judged by the schema, with a clear message.
    routerOptions: { maxParamLength: MAX_KEY_LENGTH * 12 },
    ajv: { customOptions: { removeAdditional: false, verbose: true, allErrors: false } },
    // Long-lived event streams must not hold shutdown up: they are ended in preClose.
    forceCloseConnections: 'idle',
  }).withTypeProvider<TypeBoxTypeProvider>();

  app.setErrorHandler(errorHandler);
  app.setNotFoundHandler(notFoundHandler);
  // The original dashboard posts `{}`; curl posts nothing with a JSON content type: both are fine.
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    const text = body.toString();
    if (text.trim() === '') {
      done(null, undefined);
      return;
    }
    parseJson(request, text, done);
  });

  void app.register(eventPauseApp, { engine: options.engine, settings: options.settings, eventStream: options.eventStream });
  return app as unknown as FastifyInstance;
}
