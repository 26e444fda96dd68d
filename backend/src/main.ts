/**
 * The service's entry point: settings, engine, HTTP. It only wires, listens and shuts down;
 * the app itself is the plugin in api/app.ts.
 *
 *   node backend/src/main.ts [--help]
 *
 * Exit codes: 0 clean stop, 1 failure, 2 bad configuration or usage.
 */
import './threadpool.ts';
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { pino, type Logger } from 'pino';
import { buildApp } from './api/app.ts';
import { ConfigError, loadSettings, type Settings } from './config/config.ts';
import { KafkaStartupError } from './engines/stream/topics.ts';
import type { FlowEngine } from './runtime/engine.ts';

const SHUTDOWN_TIMEOUT_MS = 15_000;
const HTTP_CLOSE_GRACE_MS = 3_000;

/** The environment main.ts reads; defaults come from config.ts (loadSettings on an empty env). */
function help(): string {
  let defaults: Settings | undefined;
  try {
    defaults = loadSettings({});
  } catch {
    defaults = undefined;
  }
  const d = <T>(pick: (s: Settings) => T): string => (defaults === undefined ? 'see config.ts' : String(pick(defaults)));
  const variables: Array<[string, string, string]> = [
    ['KAFKA_BROKERS', 'Kafka bootstrap servers, host:port[,host:port...]; unset: run the embedded engine (no broker; data journaled under STATE_DIR/embedded)', 'unset'],
    ['KAFKA_CONFIG', 'extra librdkafka properties for every Kafka client, name=value[,name=value...] (security, tuning; see docs/operations.md)', 'none'],
    ['KAFKA_CONSUMER_CONFIG', 'extra librdkafka properties for consumers only (e.g. queued.max.messages.kbytes=16384)', 'none'],
    ['KAFKA_PRODUCER_CONFIG', 'extra librdkafka properties for producers only (e.g. linger.ms=10)', 'none'],
    ['PORT', 'HTTP port', d((s) => s.http.port)],
    ['HOST', 'HTTP listen address', d((s) => s.http.host)],
    ['API_TOKEN', 'when set, mutating endpoints need "Authorization: Bearer <token>"', 'unset (open)'],
    ['CORS_ORIGINS', 'browser origins allowed to call the API, comma-separated, or *', d((s) => s.http.corsOrigins.join(','))],
    ['ADVERTISED_URL', 'URL other instances use to reach this one (forwarded queries)', 'http://127.0.0.1:<PORT>'],
    ['PROCESSING_GUARANTEE', 'exactly_once or at_least_once', d((s) => s.runtime.processingGuarantee)],
    ['COMMIT_INTERVAL_MS', 'how often tasks commit', d((s) => s.runtime.commitIntervalMs)],
    ['PUNCTUATE_INTERVAL_MS', 'how often stranded buffered events of ACTIVE keys are drained', d((s) => s.runtime.punctuateIntervalMs)],
    ['DRAIN_SLICE_SIZE', 'most events one drain slice forwards before the task reads input again', d((s) => s.runtime.drainSliceSize)],
    ['MAX_BUFFER_PER_KEY', 'per-key buffer capacity, past it events go to the DLQ as BUFFER_FULL; 0 = unlimited', d((s) => s.runtime.maxBufferPerKey)],
    ['MAX_EVENT_BYTES', 'largest input record (key + value + headers); larger ones go to the DLQ as RECORD_TOO_LARGE (raise the broker\'s limits with it)', d((s) => s.runtime.maxEventBytes)],
    ['STATUS_MAX_LAG_MS', 'Kafka engine: tasks hold their input while the status table may miss status records older than this; 0 = never hold', d((s) => s.runtime.statusMaxLagMs)],
    ['STANDBY_REPLICAS', 'Kafka engine: 1 = each instance keeps a warm copy of the buffer store of every partition it does not own (it follows their changelog), so a partition that moves to it restores only the tail; 0 = off', d((s) => s.runtime.standbyReplicas ?? 0)],
    ['STUCK_PAUSED_MINUTES', 'a key paused longer than this is shown as stuck (console, /metrics event_pause_stuck_keys, /api/v1/flows/{flow}/stuck-keys)', d((s) => s.alerts.stuckPausedMs / 60_000)],
    ['STUCK_BUFFERED_EVENTS', 'a key holding more events than this is shown as stuck', d((s) => s.alerts.stuckBufferedEvents)],
    ['INSTANCE_ID', 'Kafka engine: this instance\'s stable name (transactional ids, group instance id); e.g. the pod name of a StatefulSet', 'a random id kept in STATE_DIR'],
    ['SESSION_TIMEOUT_MS', 'Kafka engine: consumer group session timeout: how soon a crashed (or, with static membership, stopped) instance\'s partitions move', d((s) => s.runtime.sessionTimeoutMs ?? 10_000)],
    ['STATIC_MEMBERSHIP', 'Kafka engine: true = static group membership (group.instance.id from INSTANCE_ID): an instance restarted within SESSION_TIMEOUT_MS gets its partitions back and nobody else\'s move; a stopped one\'s partitions wait SESSION_TIMEOUT_MS', d((s) => String(s.runtime.staticMembership ?? false))],
    ['MIN_REPLICATION_FACTOR', 'Kafka engine: startup is refused when a topic of a flow has fewer replicas (production: 3, topics made with scripts/init_topics.sh --replication-factor 3)', d((s) => s.runtime.minReplicationFactor ?? 1)],
    ['KAFKA_SECURITY_PROTOCOL', 'Kafka engine: PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL; a refused login or an untrusted certificate stops startup naming it', 'PLAINTEXT'],
    ['KAFKA_SASL_MECHANISM', 'PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (SASL_* protocols)', 'PLAIN'],
    ['KAFKA_SASL_USERNAME', 'SASL user (SASL_* protocols)', 'none'],
    ['KAFKA_SASL_PASSWORD', 'SASL password, or KAFKA_SASL_PASSWORD_FILE: a file holding it (never logged)', 'none'],
    ['KAFKA_SSL_CA_FILE', 'PEM file of the CA(s) that signed the brokers\' certificates (SSL, SASL_SSL)', 'the system\'s roots'],
    ['KAFKA_SSL_CERT_FILE', 'client certificate (PEM) for brokers that require one, with KAFKA_SSL_KEY_FILE (and KAFKA_SSL_KEY_PASSWORD if the key is encrypted)', 'none'],
    ['KAFKA_SSL_ENDPOINT_IDENTIFICATION', 'https: check the broker\'s name against its certificate; none: do not', 'https'],
    ['STATE_DIR', 'local state: buffer stores (Kafka engine), the embedded engine journal', d((s) => s.runtime.stateDir)],
    ['APPLICATION_ID', 'consumer group and transactional id prefix', d((s) => s.runtime.applicationId)],
    ['EVENT_PAUSE_CONFIG', 'the flows file', 'config/flows.json in the working directory'],
    ['LOG_LEVEL', 'pino log level (trace, debug, info, warn, error, fatal, silent)', 'info'],
  ];
  const width = Math.max(...variables.map(([name]) => name.length)) + 2;
  const lines = variables.map(([name, what, fallback]) => `  ${name.padEnd(width)}${what}\n  ${' '.repeat(width)}(default: ${fallback})`);
  return [
    'event-pause: pause and resume Kafka event processing per key, with strict per-key ordering.',
    '',
    'Usage: node backend/src/main.ts [--help]',
    '',
    'Environment:',
    ...lines,
    '',
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

  const app = buildApp({ engine, settings, logger });

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
    const httpClosed = app.close().then(
      () => true,
      (error: unknown) => {
        code = 1;
        logger.error({ err: error }, 'closing HTTP failed');
        return true;
      },
    );
    if (!(await Promise.race([httpClosed, new Promise<boolean>((resolve) => setTimeout(() => resolve(false), HTTP_CLOSE_GRACE_MS))]))) {
      logger.warn(`HTTP connections still open after ${HTTP_CLOSE_GRACE_MS} ms: closing them`);
      app.server.closeAllConnections();
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
