/**
 * Settings: the flows file plus environment variables. Every bad value stops startup with an
 * error that names the setting (SEMANTICS rule 8).
 */
import { accessSync, constants, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { ConfigError, isSet, readSettings, setting } from './settings-schema.ts';

export {
  ConfigError,
  DEFAULT_MAX_EVENT_BYTES,
  DEFAULT_SESSION_TIMEOUT_MS,
  DEFAULT_STATUS_MAX_LAG_MS,
  DEFAULT_STUCK_BUFFERED_EVENTS,
  DEFAULT_STUCK_PAUSED_MINUTES,
  LOG_LEVELS,
  settingsHelp,
} from './settings-schema.ts';

export interface FlowTopics {
  readonly main: string;
  readonly trigger: string;
  readonly status: string;
  readonly output: string;
  readonly dlq: string;
  readonly changelog: string;
}

export interface FlowDefinition {
  readonly id: string;
  readonly topics: FlowTopics;
  /** Partitions to create the flow's topics with (init_topics, embedded engine). */
  readonly partitions: number;
}

export type ProcessingGuarantee = 'exactly_once' | 'at_least_once';

export interface RuntimeSettings {
  readonly applicationId: string;
  readonly processingGuarantee: ProcessingGuarantee;
  readonly commitIntervalMs: number;
  readonly punctuateIntervalMs: number;
  /** Most events one drain slice forwards before the task returns to its input (rule 7). */
  readonly drainSliceSize: number;
  /** Per-key buffer capacity; 0 means unlimited. Events past it go to the DLQ as BUFFER_FULL. */
  readonly maxBufferPerKey: number;
  /**
   * Largest input record (key + value + headers) the processor takes; larger ones go to the DLQ
   * as RECORD_TOO_LARGE, without their value. Keeps every copy (output, changelog, DLQ) under the
   * producers' message.max.bytes, so an outsized record can never wedge a task.
   */
  readonly maxEventBytes: number;
  /**
   * Kafka engine: a task holds its input while the status table is not known to hold every
   * status record written more than this long ago (a status reader cut off by a broker restart
   * must not let events of a paused key through). 0 turns the check off.
   */
  readonly statusMaxLagMs: number;
  readonly stateDir: string;
  /**
   * Kafka Streams' num.standby.replicas, 0 or 1 (STANDBY_REPLICAS): with 1 every member keeps a
   * warm copy of the store of every partition it does not own by following its changelog, so a
   * partition that moves to it restores only the tail (standby.ts). Unset: 0.
   */
  readonly standbyReplicas?: number;
  /**
   * This instance's stable name (INSTANCE_ID): its transactional ids, client ids and, with static
   * membership, its group.instance.id. Unset: a random id kept in STATE_DIR.
   */
  readonly instanceId?: string;
  /** Consumer group session timeout (SESSION_TIMEOUT_MS): how soon a crashed instance's partitions move. */
  readonly sessionTimeoutMs?: number;
  /**
   * Static group membership (STATIC_MEMBERSHIP): group.instance.id from the instance's stable
   * name, so that an instance restarted within the session timeout gets its partitions back and
   * nobody else's move (no rebalance). Its partitions also wait out the session timeout when it
   * stops for good (a static member does not leave the group).
   */
  readonly staticMembership?: boolean;
  /** Kafka: startup is refused when a flow's topic has fewer replicas (MIN_REPLICATION_FACTOR). */
  readonly minReplicationFactor?: number;
}

export interface Settings {
  readonly flows: readonly FlowDefinition[];
  /** pino level (LOG_LEVEL): trace, debug, info, warn, error, fatal or silent. */
  readonly logLevel: string;
  readonly runtime: RuntimeSettings;
  /** Set: run on Kafka. Unset: run on the embedded engine. */
  readonly kafkaBrokers: string | undefined;
  /** Extra librdkafka properties (KAFKA_CONFIG, KAFKA_CONSUMER_CONFIG, KAFKA_PRODUCER_CONFIG). */
  readonly kafkaClientConfig: KafkaClientProperties;
  /** Stuck-key alerts (console, /metrics, /api/v1/flows/{flow}/stuck-keys). */
  readonly alerts: {
    /** A key paused longer than this is stuck (STUCK_PAUSED_MINUTES). */
    readonly stuckPausedMs: number;
    /** A key holding more events than this is stuck (STUCK_BUFFERED_EVENTS). */
    readonly stuckBufferedEvents: number;
  };
  readonly http: {
    readonly host: string;
    readonly port: number;
    readonly apiToken: string | undefined;
    readonly corsOrigins: readonly string[];
    /** host:port other instances use to reach this one (interactive queries). */
    readonly advertisedUrl: string;
  };
}


/** librdkafka properties by the clients they go to; values as written (librdkafka parses them). */
export interface KafkaClientProperties {
  readonly all: Readonly<Record<string, string>>;
  readonly consumer: Readonly<Record<string, string>>;
  readonly producer: Readonly<Record<string, string>>;
}

/**
 * Properties event-pause sets itself because its guarantees rest on them (group and transactional
 * ids, read_committed, idempotence, manual offset stores, the Java client's partitioner so keys land
 * where the original's producers put them) or because another setting owns them.
 */
const RESERVED_CLIENT_PROPERTIES: Readonly<Record<string, string>> = {
  'bootstrap.servers': 'set KAFKA_BROKERS instead',
  'metadata.broker.list': 'set KAFKA_BROKERS instead',
  'group.id': 'the consumer group is APPLICATION_ID-<flow>',
  'client.id': 'event-pause names each client after its role',
  'transactional.id': 'event-pause derives transactional ids from APPLICATION_ID',
  'isolation.level': 'event-pause reads read_committed',
  'enable.idempotence': 'event-pause always produces idempotently',
  'enable.auto.commit': 'event-pause commits offsets with its outputs',
  'enable.auto.offset.store': 'event-pause stores offsets itself',
  'enable.partition.eof': 'event-pause sets it per client',
  partitioner: 'event-pause uses murmur2_random, the Java client\'s partitioner',
  'processing.guarantee': 'set PROCESSING_GUARANTEE instead',
  dr_cb: 'event-pause sets delivery reports per producer',
  dr_msg_cb: 'event-pause sets delivery reports per producer',
};

/** `name=value[,name=value...]` (a value cannot hold a comma) into librdkafka properties. */
function clientProperties(value: string | undefined, name: 'KAFKA_CONFIG' | 'KAFKA_CONSUMER_CONFIG' | 'KAFKA_PRODUCER_CONFIG'): Record<string, string> {
  const raw = value?.trim();
  const out: Record<string, string> = {};
  if (raw === undefined || raw === '') return out;
  for (const part of raw.split(',')) {
    const item = part.trim();
    if (item === '') continue;
    const eq = item.indexOf('=');
    if (eq <= 0) throw new ConfigError(name, `expected name=value[,name=value...] (librdkafka properties), got "${item}"`);
    const key = item.slice(0, eq).trim();
    const value = item.slice(eq + 1).trim();
    if (!/^[a-z][a-z0-9_.]*$/.test(key)) throw new ConfigError(name, `"${key}" is not a librdkafka property name`);
    const reserved = RESERVED_CLIENT_PROPERTIES[key];
    if (reserved !== undefined) throw new ConfigError(name, `${key} cannot be set here: ${reserved}`);
    if (key in out) throw new ConfigError(name, `${key} is given twice`);
    out[key] = value;
  }
  return out;
}


/** A file a setting names: it must exist and be readable (checked now, not at the first connection). */
function readableFile(env: Env, name: 'KAFKA_SASL_PASSWORD_FILE' | 'KAFKA_SSL_CA_FILE' | 'KAFKA_SSL_CERT_FILE' | 'KAFKA_SSL_KEY_FILE'): string | undefined {
  const file = setting(env, name)?.trim();
  if (file === undefined || file === '') return undefined;
  try {
    accessSync(file, constants.R_OK);
    if (!statSync(file).isFile()) throw new Error('not a file');
  } catch (error) {
    throw new ConfigError(name, `cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  return file;
}

/**
 * Secure Kafka from settings of their own (KAFKA_SECURITY_PROTOCOL, KAFKA_SASL_*, KAFKA_SSL_*),
 * as librdkafka properties for every client. The password never reaches a log: Settings keep it
 * in kafkaClientConfig only, and nothing logs that.
 */
export function kafkaSecurity(env: Env): Record<string, string> {
  const out: Record<string, string> = {};
  const sasl = (['KAFKA_SASL_MECHANISM', 'KAFKA_SASL_USERNAME', 'KAFKA_SASL_PASSWORD', 'KAFKA_SASL_PASSWORD_FILE'] as const).filter((n) => isSet(env, n));
  const ssl = (['KAFKA_SSL_CA_FILE', 'KAFKA_SSL_CERT_FILE', 'KAFKA_SSL_KEY_FILE', 'KAFKA_SSL_KEY_PASSWORD', 'KAFKA_SSL_ENDPOINT_IDENTIFICATION'] as const).filter((n) => isSet(env, n));
  const protocol = setting(env, 'KAFKA_SECURITY_PROTOCOL');
  if (protocol === undefined) {
    if (sasl.length > 0 || ssl.length > 0) throw new ConfigError('KAFKA_SECURITY_PROTOCOL', `${[...sasl, ...ssl].join(', ')} given but no KAFKA_SECURITY_PROTOCOL (SASL_SSL, SSL, SASL_PLAINTEXT)`);
    return out;
  }
  out['security.protocol'] = protocol.toLowerCase();
  if (protocol.startsWith('SASL_')) {
    const mechanism = setting(env, 'KAFKA_SASL_MECHANISM');
    const username = setting(env, 'KAFKA_SASL_USERNAME')?.trim();
    if (username === undefined || username === '') throw new ConfigError('KAFKA_SASL_USERNAME', `${protocol} needs a user name`);
    const passwordFile = readableFile(env, 'KAFKA_SASL_PASSWORD_FILE');
    if (passwordFile !== undefined && (setting(env, 'KAFKA_SASL_PASSWORD') ?? '') !== '') throw new ConfigError('KAFKA_SASL_PASSWORD_FILE', 'give KAFKA_SASL_PASSWORD or KAFKA_SASL_PASSWORD_FILE, not both');
    const password = passwordFile !== undefined ? readFileSync(passwordFile, 'utf8').replace(/\r?\n$/, '') : setting(env, 'KAFKA_SASL_PASSWORD');
    if (password === undefined || password === '') throw new ConfigError('KAFKA_SASL_PASSWORD', `${protocol} needs a password (KAFKA_SASL_PASSWORD or KAFKA_SASL_PASSWORD_FILE)`);
    Object.assign(out, { 'sasl.mechanisms': mechanism, 'sasl.username': username, 'sasl.password': password });
  } else if (sasl.length > 0) {
    throw new ConfigError(sasl[0]!, `SASL settings need KAFKA_SECURITY_PROTOCOL SASL_SSL or SASL_PLAINTEXT, not ${protocol}`);
  }
  if (protocol.endsWith('SSL')) {
    const ca = readableFile(env, 'KAFKA_SSL_CA_FILE');
    if (ca !== undefined) out['ssl.ca.location'] = ca;
    const cert = readableFile(env, 'KAFKA_SSL_CERT_FILE');
    const key = readableFile(env, 'KAFKA_SSL_KEY_FILE');
    if ((cert === undefined) !== (key === undefined)) throw new ConfigError(cert === undefined ? 'KAFKA_SSL_CERT_FILE' : 'KAFKA_SSL_KEY_FILE', 'a client certificate needs both KAFKA_SSL_CERT_FILE and KAFKA_SSL_KEY_FILE');
    if (cert !== undefined && key !== undefined) Object.assign(out, { 'ssl.certificate.location': cert, 'ssl.key.location': key });
    const keyPassword = setting(env, 'KAFKA_SSL_KEY_PASSWORD');
    if (keyPassword !== undefined && keyPassword !== '') out['ssl.key.password'] = keyPassword;
    out['ssl.endpoint.identification.algorithm'] = setting(env, 'KAFKA_SSL_ENDPOINT_IDENTIFICATION');
  } else if (ssl.length > 0) {
    throw new ConfigError(ssl[0]!, `TLS settings need KAFKA_SECURITY_PROTOCOL SSL or SASL_SSL, not ${protocol}`);
  }
  return out;
}

/** KAFKA_CONFIG and the security settings together; one property from both is refused. */
function withSecurity(all: Record<string, string>, security: Record<string, string>): Record<string, string> {
  for (const key of Object.keys(security)) {
    if (key in all) throw new ConfigError('KAFKA_CONFIG', `${key} is set by the KAFKA_SECURITY_PROTOCOL / KAFKA_SASL_* / KAFKA_SSL_* settings too: give it once`);
  }
  return { ...all, ...security };
}

const FLOW_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;
const TOPIC_NAME = /^[A-Za-z0-9._-]{1,249}$/;
/** Kafka's longest topic name. */
const MAX_TOPIC_NAME = 249;
/** What the flows file may hold at its top level. */
const FLOWS_FILE_KEYS = ['applicationId', 'partitions', 'flows'] as const;

/**
 * An application id names consumer groups (`<id>-<flow>`), transactional ids and changelog topics
 * (`<id>-<flow>-buffer-changelog`): Kafka's legal characters, and short enough that the longest
 * derived topic name fits Kafka's 249.
 */
function applicationIdSetting(value: unknown, setting: string, flowIds: readonly string[]): string {
  if (typeof value !== 'string' || !/^[A-Za-z0-9._-]+$/.test(value)) {
    throw new ConfigError(setting, `expected letters, digits, . _ - (the characters Kafka allows in topic and group names), got ${JSON.stringify(value)}`);
  }
  const suffix = Math.max(...flowIds.map((id) => `-${id}-buffer-changelog`.length));
  if (value.length + suffix > MAX_TOPIC_NAME) {
    throw new ConfigError(
      setting,
      `at most ${MAX_TOPIC_NAME - suffix} characters with these flows (topic <applicationId>-<flow>-buffer-changelog must fit Kafka's ${MAX_TOPIC_NAME}), got ${value.length}`,
    );
  }
  return value;
}

/** STATE_DIR must be a directory, or not exist yet (it is created), and not lie under a file. */
function stateDirSetting(value: string | undefined): string {
  const dir = value ?? path.resolve('.data', 'state');
  for (let at = path.resolve(dir); ; at = path.dirname(at)) {
    let isDirectory: boolean | undefined;
    try {
      isDirectory = statSync(at).isDirectory();
    } catch {
      isDirectory = undefined;
    }
    if (isDirectory === false) {
      throw new ConfigError('STATE_DIR', at === path.resolve(dir) ? `${dir} is a file, not a directory` : `${dir} cannot be created: ${at} is a file`);
    }
    if (isDirectory === true || path.dirname(at) === at) return dir;
  }
}

export function repoRoot(): string {
  return path.resolve(import.meta.dirname, '../../..');
}

type Env = Readonly<Record<string, string | undefined>>;

function object(value: unknown, setting: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ConfigError(setting, 'expected an object');
  }
  return value as Record<string, unknown>;
}

function topicName(value: unknown, setting: string, fallback: string): string {
  if (value === undefined) return fallback;
  if (typeof value !== 'string' || !TOPIC_NAME.test(value)) {
    throw new ConfigError(setting, `expected a Kafka topic name (letters, digits, . _ -), got ${JSON.stringify(value)}`);
  }
  return value;
}

/** Parses the flows file's content. `source` names the file in error messages. */
export function parseFlowsFile(
  json: unknown,
  source: string,
): { applicationId: string; flows: FlowDefinition[] } {
  const root = object(json, source);
  for (const key of Object.keys(root)) {
    if (!(FLOWS_FILE_KEYS as readonly string[]).includes(key)) {
      throw new ConfigError(`${source}: ${key}`, `unknown top-level setting (known: ${FLOWS_FILE_KEYS.join(', ')})`);
    }
  }
  const applicationId = root.applicationId ?? 'event-pause';
  if (typeof applicationId !== 'string' || !FLOW_ID.test(applicationId)) {
    throw new ConfigError(`${source}: applicationId`, `expected letters, digits, . _ -, got ${JSON.stringify(applicationId)}`);
  }
  const defaultPartitions = root.partitions ?? 6;
  if (!Number.isInteger(defaultPartitions) || (defaultPartitions as number) < 1 || (defaultPartitions as number) > 1000) {
    throw new ConfigError(`${source}: partitions`, `expected an integer from 1 to 1000, got ${JSON.stringify(defaultPartitions)}`);
  }
  if (!Array.isArray(root.flows) || root.flows.length === 0) {
    throw new ConfigError(`${source}: flows`, 'expected a non-empty array of flows');
  }
  const seen = new Set<string>();
  const flows = root.flows.map((entry: unknown, i: number): FlowDefinition => {
    const at = `${source}: flows[${i}]`;
    const flow = object(entry, at);
    const id = flow.id;
    if (typeof id !== 'string' || !FLOW_ID.test(id)) {
      throw new ConfigError(`${at}.id`, `expected letters, digits, . _ - (at most 100), got ${JSON.stringify(id)}`);
    }
    if (seen.has(id)) throw new ConfigError(`${at}.id`, `duplicate flow id "${id}"`);
    seen.add(id);
    const partitions = flow.partitions ?? defaultPartitions;
    if (!Number.isInteger(partitions) || (partitions as number) < 1 || (partitions as number) > 1000) {
      throw new ConfigError(`${at}.partitions`, `expected an integer from 1 to 1000, got ${JSON.stringify(partitions)}`);
    }
    const known = new Set(['id', 'partitions', 'mainTopic', 'triggerTopic', 'statusTopic', 'outputTopic', 'dlqTopic']);
    for (const field of Object.keys(flow)) {
      if (!known.has(field)) throw new ConfigError(`${at}.${field}`, `unknown setting (known: ${[...known].join(', ')})`);
    }
    const topics: FlowTopics = {
      main: topicName(flow.mainTopic, `${at}.mainTopic`, `${id}-in`),
      trigger: topicName(flow.triggerTopic, `${at}.triggerTopic`, `${id}-resume`),
      status: topicName(flow.statusTopic, `${at}.statusTopic`, `${id}-status`),
      output: topicName(flow.outputTopic, `${at}.outputTopic`, `${id}-out`),
      dlq: topicName(flow.dlqTopic, `${at}.dlqTopic`, `${id}-dlq`),
      changelog: `${applicationId}-${id}-buffer-changelog`,
    };
    const names = Object.values(topics);
    if (new Set(names).size !== names.length) throw new ConfigError(at, 'a flow needs five distinct topics');
    return { id, topics, partitions: partitions as number };
  });
  applicationIdSetting(applicationId, `${source}: applicationId`, flows.map((flow) => flow.id));
  return { applicationId, flows };
}

/**
 * The settings from the environment. The flows come from the flows file (EVENT_PAUSE_CONFIG,
 * default config/flows.json of the working directory), or from `flowsJson`: the same shape,
 * defined in code (library mode), checked the same way.
 */
export function loadSettings(env: Env = process.env, flowsJson?: unknown): Settings {
  // First every setting through the schema (type, bounds, allowed values), then what spans settings or files.
  const values = readSettings(env);
  let json: unknown = flowsJson;
  // Defaults are the working directory's, as for any command: an installed package works too.
  const file = flowsJson === undefined ? (values.EVENT_PAUSE_CONFIG ?? path.resolve('config', 'flows.json')) : 'the flows given in code';
  if (flowsJson === undefined) {
    try {
      json = JSON.parse(readFileSync(file, 'utf8'));
    } catch (error) {
      throw new ConfigError('EVENT_PAUSE_CONFIG', `cannot read flows file ${file}: ${(error as Error).message}`);
    }
  }
  const { applicationId, flows } = parseFlowsFile(json, file);

  const brokers = values.KAFKA_BROKERS?.trim();
  const port = values.PORT;
  const corsOrigins = values.CORS_ORIGINS
    .split(',')
    .map((o) => o.trim())
    .filter((o) => o !== '');
  for (const origin of corsOrigins) {
    if (origin !== '*' && !/^https?:\/\/[^/\s]+$/.test(origin)) {
      throw new ConfigError('CORS_ORIGINS', `expected origins like http://host:port, got "${origin}"`);
    }
  }
  const instanceId = values.INSTANCE_ID?.trim();
  return {
    flows,
    logLevel: values.LOG_LEVEL,
    kafkaBrokers: brokers,
    kafkaClientConfig: {
      all: withSecurity(clientProperties(values.KAFKA_CONFIG, 'KAFKA_CONFIG'), kafkaSecurity(env)),
      consumer: clientProperties(values.KAFKA_CONSUMER_CONFIG, 'KAFKA_CONSUMER_CONFIG'),
      producer: clientProperties(values.KAFKA_PRODUCER_CONFIG, 'KAFKA_PRODUCER_CONFIG'),
    },
    runtime: {
      applicationId: values.APPLICATION_ID === undefined ? applicationId : applicationIdSetting(values.APPLICATION_ID, 'APPLICATION_ID', flows.map((flow) => flow.id)),
      processingGuarantee: values.PROCESSING_GUARANTEE,
      commitIntervalMs: values.COMMIT_INTERVAL_MS,
      punctuateIntervalMs: values.PUNCTUATE_INTERVAL_MS,
      drainSliceSize: values.DRAIN_SLICE_SIZE,
      maxBufferPerKey: values.MAX_BUFFER_PER_KEY,
      maxEventBytes: values.MAX_EVENT_BYTES,
      statusMaxLagMs: values.STATUS_MAX_LAG_MS,
      stateDir: stateDirSetting(values.STATE_DIR),
      standbyReplicas: values.STANDBY_REPLICAS,
      ...(instanceId === undefined ? {} : { instanceId }),
      sessionTimeoutMs: values.SESSION_TIMEOUT_MS,
      staticMembership: values.STATIC_MEMBERSHIP,
      minReplicationFactor: values.MIN_REPLICATION_FACTOR,
    },
    alerts: {
      stuckPausedMs: values.STUCK_PAUSED_MINUTES * 60_000,
      stuckBufferedEvents: values.STUCK_BUFFERED_EVENTS,
    },
    http: { host: values.HOST, port, apiToken: values.API_TOKEN, corsOrigins, advertisedUrl: values.ADVERTISED_URL ?? `http://127.0.0.1:${port}` },
  };
}
