/**
 * Every environment setting of the service, in one TypeBox schema (SETTINGS_SCHEMA, an object
 * whose properties are the settings): each one's type, bounds, allowed values, and TypeBox's
 * `description` and `default` annotations, plus a `group` for --help. `setting(env, NAME)` reads
 * one through it (strictly: "12abc" is not an integer, "yes" is not a boolean), `readSettings(env)`
 * reads them all (startup does, first), and `settingsHelp()` writes `--help` from it, so they
 * cannot drift: a setting the code reads must be named here (the name is typed), and every
 * setting named here is in `--help` (backend/test/config/settings-schema.test.ts checks both ways).
 *
 * Checks that span settings or the file system (TLS files readable, SASL needs a user, STATE_DIR
 * not under a file, APPLICATION_ID short enough for the flows' topic names, each CORS origin)
 * stay in config.ts, after the schema pass.
 */
import { Type, type Static, type TBoolean, type TEnum, type TInteger, type TSchema, type TString } from 'typebox';

export const SETTING_GROUPS = ['Kafka', 'Kafka security', 'HTTP', 'Processing', 'Kafka engine', 'Alerts', 'Files and logs'] as const;
type Group = (typeof SETTING_GROUPS)[number];

/**
 * What a setting's schema carries besides its type: TypeBox's own `description` and `default`
 * (absent when the setting has none), and annotations of ours for --help and for errors. (A type,
 * not an interface: TypeBox's options take only a type with an implicit index signature.)
 */
type Annotations = {
  readonly description: string;
  /** The --help section. */
  readonly group: Group;
  /** The default as --help shows it, when it is not a plain value (computed, or "unset"). */
  readonly shown?: string;
  /** What a valid value looks like, for the error message ("expected <this>, got ..."). */
  readonly expected?: string;
  /** Never echo the value in an error (a token, a password). */
  readonly secret?: boolean;
  /** Compare case-insensitively: the value is upper- or lower-cased before it is checked. */
  readonly fold?: 'upper' | 'lower';
};

/** A setting with a default: always has a value. */
type WithDefault<S extends TSchema, D> = S & Annotations & { readonly default: D };
/** A setting without one: optional in the schema, undefined when unset. */
type WithoutDefault<S extends TSchema> = ReturnType<typeof Type.Optional<S & Annotations>>;

const int = (minimum: number, maximum: number, fallback: number, meta: Annotations): WithDefault<TInteger, number> =>
  Type.Integer({ minimum, maximum, default: fallback, ...meta }) as WithDefault<TInteger, number>;
function text(meta: Annotations & { readonly pattern?: string }): WithoutDefault<TString>;
function text(meta: Annotations & { readonly pattern?: string }, fallback: string): WithDefault<TString, string>;
function text(meta: Annotations & { readonly pattern?: string }, fallback?: string): TSchema {
  return fallback === undefined ? Type.Optional(Type.String(meta)) : Type.String({ ...meta, default: fallback });
}
function oneOf<const V extends readonly [string, ...string[]]>(values: V, fallback: undefined, meta: Annotations): WithoutDefault<TEnum<[...V]>>;
function oneOf<const V extends readonly [string, ...string[]]>(values: V, fallback: V[number], meta: Annotations): WithDefault<TEnum<[...V]>, V[number]>;
function oneOf<const V extends readonly [string, ...string[]]>(values: V, fallback: V[number] | undefined, meta: Annotations): TSchema {
  return fallback === undefined ? Type.Optional(Type.Enum(values, meta)) : Type.Enum(values, { ...meta, default: fallback });
}
const bool = (fallback: boolean, meta: Annotations): WithDefault<TBoolean, boolean> => Type.Boolean({ default: fallback, ...meta }) as WithDefault<TBoolean, boolean>;

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export const SECURITY_PROTOCOLS = ['PLAINTEXT', 'SSL', 'SASL_PLAINTEXT', 'SASL_SSL'] as const;
export const SASL_MECHANISMS = ['PLAIN', 'SCRAM-SHA-256', 'SCRAM-SHA-512'] as const;

/** 1 MiB (Kafka's default record size limit) less room for the changelog and DLQ envelopes. */
export const DEFAULT_MAX_EVENT_BYTES = 960_000;
/** How stale the status table may be before tasks hold their input. */
export const DEFAULT_STATUS_MAX_LAG_MS = 3000;
/** Default STUCK_PAUSED_MINUTES: a key paused for a day is worth a look. */
export const DEFAULT_STUCK_PAUSED_MINUTES = 24 * 60;
export const DEFAULT_STUCK_BUFFERED_EVENTS = 10_000;
/** Default SESSION_TIMEOUT_MS: the broker's group.min.session.timeout.ms is 6 s. */
export const DEFAULT_SESSION_TIMEOUT_MS = 10_000;

const PROPERTIES = 'name=value[,name=value...]';
const HTTP_URL = '^https?://[^/\\s]+$';

export const SETTINGS = {
  KAFKA_BROKERS: text({
    group: 'Kafka',
    description: 'Kafka bootstrap servers; unset: run the embedded engine (no broker; data journaled under STATE_DIR/embedded)',
    shown: 'unset',
    pattern: '^[^\\s:,]+:\\d{1,5}(\\s*,\\s*[^\\s:,]+:\\d{1,5})*$',
    expected: 'host:port[,host:port...]',
  }),
  KAFKA_CONFIG: text({ group: 'Kafka', description: `extra librdkafka properties for every Kafka client, ${PROPERTIES} (tuning; see docs/operations.md)`, shown: 'none' }),
  KAFKA_CONSUMER_CONFIG: text({ group: 'Kafka', description: 'extra librdkafka properties for consumers only (e.g. queued.max.messages.kbytes=16384)', shown: 'none' }),
  KAFKA_PRODUCER_CONFIG: text({ group: 'Kafka', description: 'extra librdkafka properties for producers only (e.g. linger.ms=10)', shown: 'none' }),

  KAFKA_SECURITY_PROTOCOL: oneOf(SECURITY_PROTOCOLS, undefined, {
    group: 'Kafka security',
    description: 'how clients connect; a refused login or an untrusted certificate stops startup naming the setting',
    shown: 'PLAINTEXT',
    fold: 'upper',
  }),
  KAFKA_SASL_MECHANISM: oneOf(SASL_MECHANISMS, 'PLAIN', { group: 'Kafka security', description: 'SASL mechanism (SASL_* protocols)', fold: 'upper' }),
  KAFKA_SASL_USERNAME: text({ group: 'Kafka security', description: 'SASL user (SASL_* protocols)', shown: 'none' }),
  KAFKA_SASL_PASSWORD: text({ group: 'Kafka security', description: 'SASL password (never logged)', shown: 'none', secret: true }),
  KAFKA_SASL_PASSWORD_FILE: text({ group: 'Kafka security', description: 'a file holding the SASL password, instead of KAFKA_SASL_PASSWORD', shown: 'none' }),
  KAFKA_SSL_CA_FILE: text({ group: 'Kafka security', description: 'PEM file of the CA(s) that signed the brokers\' certificates (SSL, SASL_SSL)', shown: 'the system\'s roots' }),
  KAFKA_SSL_CERT_FILE: text({ group: 'Kafka security', description: 'client certificate (PEM) for brokers that require one, with KAFKA_SSL_KEY_FILE', shown: 'none' }),
  KAFKA_SSL_KEY_FILE: text({ group: 'Kafka security', description: 'the client certificate\'s private key (PEM)', shown: 'none' }),
  KAFKA_SSL_KEY_PASSWORD: text({ group: 'Kafka security', description: 'password of an encrypted KAFKA_SSL_KEY_FILE (never logged)', shown: 'none', secret: true }),
  KAFKA_SSL_ENDPOINT_IDENTIFICATION: oneOf(['https', 'none'], 'https', {
    group: 'Kafka security',
    description: 'https: check the broker\'s name against its certificate; none: do not',
    expected: 'https (check the broker\'s name against its certificate) or none',
    fold: 'lower',
  }),

  PORT: int(0, 65535, 8080, { group: 'HTTP', description: 'HTTP port' }),
  HOST: text({ group: 'HTTP', description: 'HTTP listen address' }, '0.0.0.0'),
  API_TOKEN: text({
    group: 'HTTP',
    description: 'when set, changes (pause, resume, send, skip, replay) need "Authorization: Bearer <token>"',
    shown: 'unset (open)',
    pattern: '^[A-Za-z0-9\\-._~+/]+=*$',
    expected:
      'a bearer token may hold only letters, digits and - . _ ~ + / (then = padding), no spaces (RFC 6750): with any other character no request could ever authenticate',
    secret: true,
  }),
  CORS_ORIGINS: text({ group: 'HTTP', description: 'browser origins allowed to call the API, comma-separated, or *' }, 'http://localhost:4200,http://127.0.0.1:4200'),
  ADVERTISED_URL: text({ group: 'HTTP', description: 'URL other instances use to reach this one (forwarded queries)', shown: 'http://127.0.0.1:<PORT>', pattern: HTTP_URL, expected: 'http://host:port' }),

  PROCESSING_GUARANTEE: oneOf(['exactly_once', 'at_least_once'], 'exactly_once', { group: 'Processing', description: 'what the runtime writes, exactly once (transactions) or at least once' }),
  COMMIT_INTERVAL_MS: int(1, 60_000, 100, { group: 'Processing', description: 'how often tasks commit' }),
  PUNCTUATE_INTERVAL_MS: int(10, 3_600_000, 1000, { group: 'Processing', description: 'how often stranded buffered events of ACTIVE keys are drained' }),
  DRAIN_SLICE_SIZE: int(1, 1_000_000, 2000, { group: 'Processing', description: 'most events one drain slice forwards before the task reads input again' }),
  MAX_BUFFER_PER_KEY: int(0, Number.MAX_SAFE_INTEGER, 0, { group: 'Processing', description: 'per-key buffer capacity, past it events go to the DLQ as BUFFER_FULL; 0 = unlimited' }),
  MAX_EVENT_BYTES: int(1024, 256 * 1024 * 1024, DEFAULT_MAX_EVENT_BYTES, {
    group: 'Processing',
    description: 'largest input record (key + value + headers); larger ones go to the DLQ as RECORD_TOO_LARGE (raise the broker\'s limits with it)',
  }),

  STATUS_MAX_LAG_MS: int(0, 3_600_000, DEFAULT_STATUS_MAX_LAG_MS, { group: 'Kafka engine', description: 'tasks hold their input while the status table may miss status records older than this; 0 = never hold' }),
  STANDBY_REPLICAS: int(0, 1, 0, {
    group: 'Kafka engine',
    description: '1 = each instance keeps a warm copy of the buffer store of every partition it does not own (it follows their changelog), so a partition that moves to it restores only the tail; 0 = off',
    expected: 'expected 0 (off) or 1 (each instance keeps a standby copy of every partition\'s buffer store it does not own)',
  }),
  INSTANCE_ID: text({
    group: 'Kafka engine',
    description: 'this instance\'s stable name (transactional ids, group instance id); e.g. the pod name of a StatefulSet',
    shown: 'a random id kept in STATE_DIR',
    pattern: '^[A-Za-z0-9._-]{1,64}$',
    expected: 'expected 1 to 64 of A-Z a-z 0-9 . _ - (it goes into transactional and group instance ids)',
  }),
  SESSION_TIMEOUT_MS: int(6000, 1_800_000, DEFAULT_SESSION_TIMEOUT_MS, {
    group: 'Kafka engine',
    description: 'consumer group session timeout: how soon a crashed (or, with static membership, stopped) instance\'s partitions move',
  }),
  STATIC_MEMBERSHIP: bool(false, {
    group: 'Kafka engine',
    description: 'true = static group membership (group.instance.id from INSTANCE_ID): an instance restarted within SESSION_TIMEOUT_MS gets its partitions back and nobody else\'s move; a stopped one\'s partitions wait SESSION_TIMEOUT_MS',
  }),
  MIN_REPLICATION_FACTOR: int(1, 32, 1, {
    group: 'Kafka engine',
    description: 'startup is refused when a topic of a flow has fewer replicas (production: 3, topics made with scripts/init_topics.sh --replication-factor 3)',
  }),

  STUCK_PAUSED_MINUTES: int(1, 525_600, DEFAULT_STUCK_PAUSED_MINUTES, {
    group: 'Alerts',
    description: 'a key paused longer than this is shown as stuck (console, /metrics event_pause_stuck_keys, /api/v1/flows/{flow}/stuck-keys)',
  }),
  STUCK_BUFFERED_EVENTS: int(1, 1_000_000_000, DEFAULT_STUCK_BUFFERED_EVENTS, { group: 'Alerts', description: 'a key holding more events than this is shown as stuck' }),

  STATE_DIR: text({ group: 'Files and logs', description: 'local state: buffer stores (Kafka engine), the embedded engine\'s journal', shown: '.data/state in the working directory' }),
  APPLICATION_ID: text({ group: 'Files and logs', description: 'consumer group, transactional id and changelog topic prefix', shown: 'the flows file\'s applicationId, else event-pause' }),
  EVENT_PAUSE_CONFIG: text({ group: 'Files and logs', description: 'the flows file', shown: 'config/flows.json in the working directory' }),
  LOG_LEVEL: oneOf(LOG_LEVELS, 'info', { group: 'Files and logs', description: 'pino log level' }),
} as const;

/** The environment's settings as one TypeBox object: each property a setting, its values typed (SettingValues). */
export const SETTINGS_SCHEMA = Type.Object(SETTINGS);
export type SettingValues = Static<typeof SETTINGS_SCHEMA>;
export type SettingName = keyof typeof SETTINGS;
type Env = Readonly<Record<string, string | undefined>>;

/** One setting's schema as JSON Schema, for the reader and --help. */
type SettingSchema = TSchema &
  Annotations & { readonly type?: string; readonly enum?: readonly string[]; readonly minimum?: number; readonly maximum?: number; readonly default?: unknown };

export class ConfigError extends Error {
  readonly setting: string;
  constructor(setting: string, message: string) {
    super(`invalid setting ${setting}: ${message}`);
    this.name = 'ConfigError';
    this.setting = setting;
  }
}

/**
 * The keywords the settings' schemas use (bounds, enum, pattern), checked by hand: typebox's
 * Value module takes a fifth of the service's start to load (0.2 s on 2 cores).
 */
function conforms(schema: SettingSchema, value: unknown): boolean {
  const keywords = schema as { minimum?: number; maximum?: number; enum?: readonly string[]; pattern?: string };
  if (typeof value === 'number') {
    return Number.isSafeInteger(value) && (keywords.minimum === undefined || value >= keywords.minimum) && (keywords.maximum === undefined || value <= keywords.maximum);
  }
  if (typeof value !== 'string') return false;
  if (keywords.enum !== undefined && !keywords.enum.includes(value)) return false;
  return keywords.pattern === undefined || new RegExp(keywords.pattern).test(value);
}

/**
 * One setting from the environment, through its schema: unset or empty gives its default (or
 * undefined), anything else must be of its type and within its bounds, or a ConfigError names it.
 */
export function setting<N extends SettingName>(env: Env, name: N): SettingValues[N] {
  const schema: SettingSchema = SETTINGS[name];
  const raw = env[name];
  const trimmed = raw?.trim();
  if (trimmed === undefined || trimmed === '') return schema.default as SettingValues[N];
  const got = schema.secret === true ? '' : `, got "${raw}"`;
  const refuse = (message: string): never => {
    if (schema.expected === undefined) throw new ConfigError(name, message);
    throw new ConfigError(name, schema.secret === true ? schema.expected : `${schema.expected.startsWith('expected ') ? '' : 'expected '}${schema.expected}${got}`);
  };
  let value: unknown;
  if (schema.type === 'integer') {
    // Strict: "12abc", "1e3" and "0x10" are not integers (Number() would take the last two).
    if (!/^-?\d+$/.test(trimmed)) refuse(`expected an integer${got}`);
    value = Number(trimmed);
    if (!conforms(schema, value)) refuse(`must be between ${String(schema.minimum)} and ${String(schema.maximum)}, got ${String(value)}`);
  } else if (schema.type === 'boolean') {
    const word = trimmed.toLowerCase();
    if (word === 'true' || word === '1') value = true;
    else if (word === 'false' || word === '0') value = false;
    else refuse(`expected true or false${got}`);
  } else {
    // Strings are taken as written (a password may end in a space); an enum compares trimmed.
    const values = schema.enum;
    value = values === undefined ? raw : schema.fold === 'upper' ? trimmed.toUpperCase() : schema.fold === 'lower' ? trimmed.toLowerCase() : trimmed;
    if (!conforms(schema, value)) refuse(values === undefined ? `expected a valid value${got}` : `expected one of ${values.join(', ')}${got}`);
  }
  return value as SettingValues[N];
}

/**
 * Every setting of the schema from the environment, each through setting(): the first bad one
 * throws its ConfigError, whether or not this run would use it. Unset settings without a default
 * are absent.
 */
export function readSettings(env: Env): SettingValues {
  const values: Record<string, unknown> = {};
  for (const name of Object.keys(SETTINGS) as SettingName[]) {
    const value = setting(env, name);
    if (value !== undefined) values[name] = value;
  }
  return values as SettingValues;
}

/** Whether the environment gives the setting a non-empty value. */
export function isSet(env: Env, name: SettingName): boolean {
  return (env[name] ?? '').trim() !== '';
}

/** The settings part of `--help`, grouped, each with its type and default; written from SETTINGS_SCHEMA. */
export function settingsHelp(): string {
  const settings = Object.entries(SETTINGS_SCHEMA.properties) as [SettingName, SettingSchema][];
  const width = Math.max(...settings.map(([name]) => name.length)) + 2;
  const lines: string[] = [];
  for (const group of SETTING_GROUPS) {
    lines.push(`${group}:`);
    for (const [name, schema] of settings) {
      if (schema.group !== group) continue;
      const kind =
        schema.enum !== undefined
          ? schema.enum.join(' | ')
          : schema.type === 'integer'
            ? `integer ${String(schema.minimum)}..${String(schema.maximum)}`
            : schema.type === 'boolean'
              ? 'true | false'
              : undefined;
      const shown = schema.shown ?? (schema.default === undefined ? 'unset' : String(schema.default));
      lines.push(`  ${name.padEnd(width)}${schema.description}`);
      lines.push(`  ${' '.repeat(width)}(${kind === undefined ? '' : `${kind}; `}default: ${shown})`);
    }
    lines.push('');
  }
  return lines.join('\n');
}
