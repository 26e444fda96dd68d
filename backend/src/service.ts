/**
 * The service itself: settings, engine, HTTP. It only wires, listens and shuts down; the app
 * itself is the plugin in api/app.ts. Started by main.ts (the entry point), after the compile cache.
 *
 * Exit codes: 0 clean stop, 1 failure, 2 bad configuration or usage.
 */
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { pino, type Logger } from 'pino';
import type { buildApp } from './api/app.ts';
import { ConfigError, loadSettings, settingsHelp, type Settings } from './config/config.ts';
import { KafkaStartupError } from './engines/stream/topics.ts';
import type { FlowEngine } from './runtime/engine.ts';

const SHUTDOWN_TIMEOUT_MS = 15_000;
const HTTP_CLOSE_GRACE_MS = 3_000;

/** Usage, then every setting of the environment: written from the settings schema (config/settings-schema.ts). */
function help(): string {
  return [
    'event-pause: pause and resume Kafka event processing per key, with strict per-key ordering.',
    '',
    'Usage: node backend/src/main.ts [--help]',
    '',
    'Settings come from the environment:',
    '',
    settingsHelp(),
    'API: /docs (OpenAPI), /control/... (the original endpoints), /api/v1/..., /health, /ready, /metrics',
    '',
  ].join('\n');
}

async function createEngine(settings: Settings, logger: Logger): Promise<FlowEngine> {
  if (settings.kafkaBrokers !== undefined) {
    const { KafkaEngine } = await import('./engines/kafka/kafka-engine.ts');
    return new KafkaEngine(settings, { logger: logger.child({ component: 'engine' }) });
  }
  const { EmbeddedEngine } = await import('./engines/embedded/embedded-engine.ts');
  return new EmbeddedEngine(settings, { logger: logger.child({ component: 'engine' }) });
}

function displayUrl(host: string, port: number): string {
  const shown = host === '0.0.0.0' || host === '::' || host === '' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
  return `http://${shown}:${port}`;
}

/**
 * Exits at once. process.exit() waits for the thread pool's threads, and a native Kafka call
 * stuck on one of them (a broker gone mid-call) would keep a stopped process alive for good:
 * after the shutdown deadline the process kills itself instead.
 */
function hardExit(): never {
  process.kill(process.pid, 'SIGKILL');
  process.exit(1);
}

/** HOST must be an address or a name that resolves: checked before anything starts. */
async function checkHost(host: string): Promise<void> {
  if (host === '' || isIP(host) !== 0) return;
  try {
    await lookup(host);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    throw new ConfigError('HOST', `cannot listen on "${host}": the name does not resolve (${code}); give an address of this machine (0.0.0.0 for all, 127.0.0.1) or a name that resolves to one`);
  }
}

/** A listen failure the operator can fix (address in use, not ours, not allowed), named by its setting; else undefined. */
function listenProblem(error: unknown, host: string, port: number): ConfigError | undefined {
  const code = (error as NodeJS.ErrnoException).code;
  switch (code) {
    case 'EADDRINUSE':
      return new ConfigError('PORT', `port ${port} is already in use on ${host}`);
    case 'EACCES':
      return new ConfigError('PORT', `not allowed to listen on port ${port} (ports below 1024 need privileges)`);
    case 'EADDRNOTAVAIL':
      return new ConfigError('HOST', `"${host}" is not an address of this machine`);
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return new ConfigError('HOST', `cannot listen on "${host}": the name does not resolve (${code})`);
    default:
      return undefined;
  }
}

/** Bad configuration: one line naming what is wrong, exit 2. */
function configFailure(error: Error): never {
  process.stderr.write(`event-pause: ${error.message}\n`);
  process.exit(2);
}

async function main(argv: readonly string[]): Promise<void> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(help());
    return;
  }
  if (argv.length > 0) {
    process.stderr.write(`event-pause: unknown argument ${argv[0]}; settings come from the environment (see --help)\n`);
    process.exit(2);
  }

  let settings: Settings;
  try {
    settings = loadSettings();
    await checkHost(settings.http.host);
  } catch (error) {
    if (error instanceof ConfigError) configFailure(error);
    throw error;
  }

  const logger = pino({ level: settings.logLevel, base: { service: 'event-pause', pid: process.pid } });
  let engine: FlowEngine;
  try {
    engine = await createEngine(settings, logger);
  } catch (error) {
    if (error instanceof ConfigError) configFailure(error);
    throw error;
  }
  const { info } = engine;
  const persistence = info.durable ? 'durable: buffers and statuses survive a restart' : 'in memory: buffers and statuses are lost when the process stops';
  logger.info({ engine: info.kind, durable: info.durable, description: info.description }, `engine: ${info.kind} (${info.description}), ${persistence}`);
  logger.info({ flows: settings.flows.map((flow) => flow.id) }, `flows: ${settings.flows.map((flow) => flow.id).join(', ')}`);
  if (settings.http.apiToken !== undefined) {
    logger.info({ apiToken: 'set' }, 'API_TOKEN is set: mutating endpoints require Authorization: Bearer <token>');
  } else {
    logger.warn({ apiToken: 'unset' }, 'API_TOKEN is not set: anyone who can reach the API can pause, resume and send events');
  }

  // The HTTP app (fastify, its plugins, the API's schemas: a third of the modules, and 0.2-0.4 s
  // of CPU to get ready) is loaded, built and made ready while the engine starts, which mostly
  // waits on the broker; before it, it would delay the engine, after it, the first records.
  let app: ReturnType<typeof buildApp> | undefined;
  const appReady = import('./api/app.ts').then(
    async (module) => {
      app = module.buildApp({ engine, settings, logger });
      await app.ready();
      return undefined;
    },
    (error: unknown) => error,
  ).catch((error: unknown) => error);

  let stopping = false;
  const shutdown = async (signal: string): Promise<void> => {
    if (stopping) {
      logger.warn({ signal }, 'second signal during shutdown: exiting now');
      process.exit(1);
    }
    stopping = true;
    logger.info({ signal }, 'shutting down: closing HTTP, then stopping the engine');
    const timer = setTimeout(() => {
      logger.error(`shutdown took longer than ${SHUTDOWN_TIMEOUT_MS} ms: exiting`);
      hardExit();
    }, SHUTDOWN_TIMEOUT_MS);
    timer.unref();
    let code = 0;
    // HTTP gets a short grace: a request waiting on Kafka, or a client that keeps its connection
    // open, must not eat the engine's share of the shutdown deadline.
    const httpClosed = (app?.close() ?? Promise.resolve()).then(
      () => true,
      (error: unknown) => {
        code = 1;
        logger.error({ err: error }, 'closing HTTP failed');
        return true;
      },
    );
    if (!(await Promise.race([httpClosed, new Promise<boolean>((resolve) => setTimeout(() => resolve(false), HTTP_CLOSE_GRACE_MS))]))) {
      logger.warn(`HTTP connections still open after ${HTTP_CLOSE_GRACE_MS} ms: closing them`);
      app?.server.closeAllConnections();
    }
    try {
      await engine.stop();
    } catch (error) {
      code = 1;
      logger.error({ err: error }, 'stopping the engine failed');
    }
    logger.info('stopped');
    if (settings.kafkaBrokers !== undefined) {
      const { abandonedClients } = await import('./engines/kafka/client.ts');
      if (abandonedClients() > 0) {
        logger.warn({ abandoned: abandonedClients() }, 'a Kafka client call never returned: exiting without waiting for it');
        hardExit();
      }
    }
    process.exit(code);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));

  try {
    await engine.start();
  } catch (error) {
    if (error instanceof ConfigError || error instanceof KafkaStartupError) {
      logger.fatal({ err: error }, 'the engine refused to start');
      await engine.stop().catch(() => undefined);
      configFailure(error);
    }
    logger.fatal({ err: error }, 'the engine failed to start');
    await engine.stop().catch(() => undefined);
    process.exit(1);
  }
  const appFailed = await appReady;
  if (appFailed !== undefined || app === undefined) throw appFailed;
  if (stopping) return; // a signal came during the start: the shutdown has it
  try {
    await app.listen({ host: settings.http.host, port: settings.http.port });
  } catch (error) {
    const problem = listenProblem(error, settings.http.host, settings.http.port);
    if (problem === undefined) throw error;
    await engine.stop().catch(() => undefined);
    configFailure(problem);
  }
  const address = app.server.address();
  const port = typeof address === 'object' && address !== null ? address.port : settings.http.port;
  const url = displayUrl(settings.http.host, port);
  const engineLine = info.durable ? `engine: ${info.kind}, durable` : `engine: ${info.kind}, in memory`;
  logger.info({ url, docs: `${url}/docs` }, 'listening');
  process.stdout.write(`event-pause ready: ${url} (${engineLine})\n`);
}

main(process.argv.slice(2)).catch((error: unknown) => {
  process.stderr.write(`event-pause: failed to start: ${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
});
