/**
 * One event-pause instance on Kafka as a child process, for tests that crash it (kill -9) or run
 * several in one group. Settings come from the environment exactly as for the service
 * (EVENT_PAUSE_CONFIG, KAFKA_BROKERS, STATE_DIR, ADVERTISED_URL, PROCESSING_GUARANTEE, ...), plus
 * EP_INSTANCE_ID and EP_SESSION_TIMEOUT_MS. Prints `READY {...}` on stdout once started; logs
 * (pino, JSON) go to stderr.
 *
 * IPC (when forked): { id, op: 'bufferCount', flowId, key } -> { id, value: number | null }
 *   (null: the key's partition is not local), { id, op: 'localPartitions', flowId } -> { id, value },
 *   { id, op: 'statusSeen', flowId, key, partition, offset } -> { id, value: boolean } (whether the
 *   status table has applied that status record), { id, op: 'readiness' } -> { id, value: Readiness },
 *   { id, op: 'metrics' } -> { id, value: EngineMetrics }.
 * SIGTERM / SIGINT: clean stop (commit, checkpoint, leave the group), then exit 0.
 */
import { pino } from 'pino';
import { loadSettings } from '../../src/config/config.ts';
import { KafkaEngine } from '../../src/engines/kafka/kafka-engine.ts';

const logger = pino({ level: process.env.LOG_LEVEL ?? 'info' }, pino.destination(2));
const settings = loadSettings(process.env);
const sessionTimeoutMs = process.env.EP_SESSION_TIMEOUT_MS === undefined ? undefined : Number(process.env.EP_SESSION_TIMEOUT_MS);
const engine = new KafkaEngine(settings, {
  logger,
  ...(process.env.EP_INSTANCE_ID === undefined ? {} : { instanceId: process.env.EP_INSTANCE_ID }),
  ...(sessionTimeoutMs === undefined ? {} : { sessionTimeoutMs }),
});

let stopping: Promise<void> | undefined;
function stop(): void {
  // As main.ts: a stop that outlives its deadline ends the process the hard way.
  setTimeout(() => {
    logger.error('stop took longer than 15000 ms: exiting');
    process.kill(process.pid, 'SIGKILL');
  }, 15_000).unref();
  stopping ??= engine.stop().then(
    () => process.exit(0),
    (error: unknown) => {
      logger.error({ err: error }, 'stop failed');
      process.exit(1);
    },
  );
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);

interface Request {
  readonly id: number;
  readonly op: 'bufferCount' | 'localPartitions' | 'statusSeen' | 'readiness' | 'metrics';
  readonly flowId: string;
  readonly key?: string;
  readonly partition?: number;
  readonly offset?: number;
}

process.on('message', (message: Request) => {
  let value: unknown;
  try {
    if (message.op === 'bufferCount') {
      const partition = engine.partitionFor(message.flowId, message.key ?? '');
      value = engine.localBuffer(message.flowId, partition)?.count(message.key ?? '') ?? null;
    } else if (message.op === 'statusSeen') {
      const latest = engine.statusTable(message.flowId).latest(message.key ?? '');
      value = latest !== undefined && latest.partition === message.partition && latest.offset >= (message.offset ?? 0);
    } else if (message.op === 'readiness') {
      value = engine.readiness();
    } else if (message.op === 'metrics') {
      value = engine.metrics();
    } else {
      value = engine.localPartitions(message.flowId);
    }
    process.send?.({ id: message.id, value });
  } catch (error) {
    process.send?.({ id: message.id, error: (error as Error).message });
  }
});

try {
  await engine.start();
} catch (error) {
  logger.error({ err: error }, 'start failed');
  process.stderr.write(`START FAILED ${(error as Error).message}\n`);
  process.exit(2);
}
const partitions = Object.fromEntries(settings.flows.map((flow) => [flow.id, engine.localPartitions(flow.id)]));
process.stdout.write(`READY ${JSON.stringify({ pid: process.pid, url: settings.http.advertisedUrl, partitions })}\n`);
