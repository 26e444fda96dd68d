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
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify';
import { pino, type Logger } from 'pino';
import type { Settings } from '../config/config.ts';
import type { FlowEngine } from '../runtime/engine.ts';
import { bearerGuard, MUTATING_METHODS } from './auth.ts';
import { Cluster } from './cluster.ts';
import type { ApiContext } from './context.ts';
import { ControlPlane } from './control-plane.ts';
import { dashboardRoutes } from './dashboard.ts';
import { ApiError, clientErrorHandler, errorHandler, frameworkErrorHandler, notFoundHandler } from './errors.ts';
import { EventStream, type EventStreamOptions } from './event-stream.ts';
import { ServiceMetrics } from './metrics.ts';
import { MetricsHistory, type MetricsHistoryOptions } from './metrics-history.ts';
import { controlRoutes } from './routes/control.ts';
import { eventRoutes } from './routes/events.ts';
import { flowRoutes } from './routes/flows.ts';
import { insightRoutes } from './routes/insights.ts';
import { opsRoutes } from './routes/ops.ts';
import { keyTooLong, MAX_KEY_BYTES } from './schemas.ts';
import { strictBodyTypes } from './strict-body.ts';

/** Largest request body: a bulk call of 1000 keys of the longest length (MAX_KEY_BYTES) fits comfortably. */
export const BODY_LIMIT_BYTES = 4 * 1024 * 1024;

/**
 * Keys are limited in UTF-8 bytes (MAX_KEY_BYTES), which a JSON schema cannot say: checked after
 * validation, wherever a key comes (path, send's query, a bulk body), with a 400 naming the field.
 */
async function keyBytesGuard(request: FastifyRequest): Promise<void> {
  const params = request.params as { key?: unknown } | undefined;
  const query = request.query as { key?: unknown } | undefined;
  const body = request.body as { keys?: unknown } | undefined;
  const problems: Array<string | undefined> = [];
  if (typeof params?.key === 'string') problems.push(keyTooLong(params.key, 'params.key'));
  if (typeof query?.key === 'string') problems.push(keyTooLong(query.key, 'querystring.key'));
  if (Array.isArray(body?.keys)) body.keys.forEach((key, i) => typeof key === 'string' && problems.push(keyTooLong(key, `body.keys.${i}`)));
  const problem = problems.find((p) => p !== undefined);
  if (problem !== undefined) throw new ApiError('VALIDATION', problem);
}

export interface AppOptions {
  readonly engine: FlowEngine;
  readonly settings: Settings;
  readonly logger?: Logger;
  readonly eventStream?: Partial<EventStreamOptions>;
  readonly metricsHistory?: MetricsHistoryOptions;
}

export interface EventPauseAppOptions {
  readonly engine: FlowEngine;
  readonly settings: Settings;
  readonly eventStream?: Partial<EventStreamOptions>;
  /** The charts' sampling (default: every 5 s, 15 minutes kept). */
  readonly metricsHistory?: MetricsHistoryOptions;
}

export const eventPauseApp: FastifyPluginAsyncTypebox<EventPauseAppOptions> = async (app, options) => {
  const { engine, settings } = options;
  const events = new EventStream(engine, options.eventStream);
  const ctx: ApiContext = {
    plane: new ControlPlane(engine),
    cluster: new Cluster(engine, settings.http.advertisedUrl),
    events,
    metrics: new ServiceMetrics(options.engine, options.settings.alerts),
    settings,
  };

  const origins = settings.http.corsOrigins;
  // As the original (Spring's allowedHeaders("*"), allowCredentials(true)): any request header a
  // preflight asks for is allowed (no allowedHeaders list: the requested ones are echoed) and
  // credentials are allowed, for the origins of CORS_ORIGINS. `*` allows any origin: it is echoed
  // rather than sent as `*`, which browsers refuse together with credentials.
  await app.register(cors, {
    origin: origins.includes('*') ? true : [...origins],
    credentials: true,
    methods: ['GET', 'POST', 'OPTIONS'],
    exposedHeaders: ['ep-buffered-total', 'x-limit-clamped'],
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
  app.addHook('preHandler', keyBytesGuard);

  const token = settings.http.apiToken;
  if (token !== undefined) {
    app.addHook('onRequest', bearerGuard(token));
    // Operations the guard covers declare the bearer scheme, so that Swagger UI's Authorize sends
    // the token with them (OpenAPI applies no security to an operation that declares none).
    app.addHook('onRoute', (route) => {
      const methods = Array.isArray(route.method) ? route.method : [route.method];
      if (!methods.some((method) => MUTATING_METHODS.has(method))) return;
      route.schema = { ...route.schema, security: [{ bearer: [] }] };
    });
  }
  app.addHook('preClose', async () => events.closeAll());
  const history = new MetricsHistory(engine, options.metricsHistory);
  app.addHook('onReady', async () => history.start());
  app.addHook('onClose', async () => history.stop());

  await app.register(opsRoutes(ctx));
  await app.register(controlRoutes(ctx));
  await app.register(flowRoutes(ctx));
  await app.register(eventRoutes(ctx));
  await app.register(insightRoutes(ctx, history));
  await app.register(dashboardRoutes());
};

export function buildApp(options: AppOptions): FastifyInstance {
  const logger = options.logger ?? pino({ level: options.settings.logLevel });
  const app = Fastify({
    loggerInstance: logger,
    bodyLimit: BODY_LIMIT_BYTES,
    // Keys travel in the path, percent-encoded (3 characters a byte); let their length be judged by
    // the schema and keyBytesGuard, with a clear message, up to what Node's header limit lets in.
    routerOptions: { maxParamLength: Math.max(MAX_KEY_BYTES * 3 * 2, 16 * 1024) },
    ajv: { customOptions: { removeAdditional: false, verbose: true, allErrors: false } },
    // Bad %-escapes, malformed requests and oversized headers answer in the documented error shape.
    frameworkErrors: frameworkErrorHandler,
    clientErrorHandler,
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

  void app.register(eventPauseApp, { engine: options.engine, settings: options.settings, eventStream: options.eventStream, ...(options.metricsHistory === undefined ? {} : { metricsHistory: options.metricsHistory }) });
  return app as unknown as FastifyInstance;
}
