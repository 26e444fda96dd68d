/**
 * The settings schema is the one list of settings: --help (service and CLI) is written from it and
 * names no other, the code reads the environment only through it, the README names each of them,
 * and a bad value of any of them is refused at startup naming the setting.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import { Value } from 'typebox/value';
import { main as cli } from '../../src/cli/main.ts';
import { ConfigError, loadSettings } from '../../src/config/config.ts';
import { readSettings, SETTING_GROUPS, SETTINGS, SETTINGS_SCHEMA, setting, settingsHelp, type SettingName } from '../../src/config/settings-schema.ts';

const SRC = path.resolve(import.meta.dirname, '../../src');
const ROOT = path.resolve(SRC, '../..');
const NAMES = Object.keys(SETTINGS).sort();

/** A setting's schema as JSON Schema. */
function schemaOf(name: SettingName): Record<string, unknown> {
  return SETTINGS[name] as unknown as Record<string, unknown>;
}

/**
 * The settings a --help text lists (a line "  NAME  description"), and every other word of it
 * that looks like a setting (UPPER_SNAKE) but is none of the schema's settings or values.
 */
function helpNames(help: string): { listed: string[]; strays: string[] } {
  const listed = [...help.matchAll(/^ {2}([A-Z][A-Z0-9_]+) {2,}\S/gm)].map((m) => m[1]!).sort();
  const values = new Set(Object.values(SETTINGS).flatMap((schema) => ((schema as { enum?: string[] }).enum ?? [])));
  const deadLetterReasons = new Set(['BUFFER_FULL', 'RECORD_TOO_LARGE']);
  const strays = [...new Set(help.match(/\b[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+\b/g) ?? [])].filter((word) => !(word in SETTINGS) && !values.has(word) && !deadLetterReasons.has(word));
  return { listed, strays };
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(full);
    return entry.name.endsWith('.ts') ? [full] : [];
  });
}

describe('settings schema', () => {
  test('--help lists every setting of the schema, with its default', () => {
    const help = settingsHelp();
    for (const name of Object.keys(SETTINGS)) assert.match(help, new RegExp(`^  ${name} `, 'm'), name);
    assert.match(help, /PORT\s+HTTP port\n\s+\(integer 0\.\.65535; default: 8080\)/);
    assert.match(help, /LOG_LEVEL\s+pino log level\n\s+\(trace \| debug \| info \| warn \| error \| fatal \| silent; default: info\)/);
  });

  test('node backend/src/main.ts --help and event-pause start --help list exactly the schema\'s settings, and name no other', async () => {
    const run = spawnSync(process.execPath, [path.join(SRC, 'main.ts'), '--help'], { cwd: ROOT, encoding: 'utf8' });
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stdout, /^Usage: node backend\/src\/main\.ts \[--help\]$/m);
    const service = helpNames(run.stdout);
    assert.deepEqual(service.listed, NAMES);
    assert.deepEqual(service.strays, []);

    const lines: string[] = [];
    assert.equal(await cli(['start', '--help'], { log: (line) => lines.push(line), error: (line) => lines.push(line) }), 0);
    const start = helpNames(lines.join('\n'));
    assert.deepEqual(start.listed, NAMES);
    assert.deepEqual(start.strays, []);
  });

  test('the schema describes each setting: TypeBox description and default, a group, and its values check against it', () => {
    for (const name of NAMES as SettingName[]) {
      const schema = schemaOf(name);
      assert.ok(typeof schema['description'] === 'string' && schema['description'] !== '', `${name}: description`);
      assert.ok((SETTING_GROUPS as readonly unknown[]).includes(schema['group']), `${name}: group`);
      assert.ok('default' in schema || typeof schema['shown'] === 'string', `${name}: a default, or what --help shows instead`);
      if ('default' in schema) assert.ok(Value.Check(SETTINGS[name], schema['default']), `${name}: its default is one of its values`);
    }
    // The environment read as a whole is an instance of the one schema; unset settings take the schema's defaults.
    const defaults = readSettings({});
    assert.ok(Value.Check(SETTINGS_SCHEMA, defaults));
    for (const name of NAMES as SettingName[]) assert.equal(defaults[name], schemaOf(name)['default'], name);
    const full = readSettings({ KAFKA_BROKERS: 'b1:9092', KAFKA_SECURITY_PROTOCOL: 'sasl_ssl', STATIC_MEMBERSHIP: '1', PORT: '9000', INSTANCE_ID: 'pod-0' });
    assert.ok(Value.Check(SETTINGS_SCHEMA, full));
    assert.equal(full.KAFKA_SECURITY_PROTOCOL, 'SASL_SSL');
  });

  test('every setting of the schema refuses a bad value at startup, naming the setting, what it expects and what it got', (t) => {
    const dir = mkdtempSync(path.join(tmpdir(), 'ep-schema-test-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const flowsFile = path.join(dir, 'flows.json');
    writeFileSync(flowsFile, JSON.stringify({ flows: [{ id: 'demo' }] }));
    const base = { EVENT_PAUSE_CONFIG: flowsFile, STATE_DIR: path.join(dir, 'state') };
    let checked = 0;
    for (const name of NAMES as SettingName[]) {
      const schema = schemaOf(name);
      const bad =
        schema['type'] === 'integer'
          ? ['12abc', '1e3', String(Number(schema['maximum']) + 1)]
          : schema['type'] === 'boolean'
            ? ['yes']
            : schema['enum'] !== undefined
              ? ['bogus']
              : schema['pattern'] !== undefined
                ? ['two words']
                : []; // free text (a file, a librdkafka list, a password): checked by code after the schema pass
      for (const value of bad) {
        checked++;
        assert.throws(
          () => loadSettings({ ...base, [name]: value }),
          (error: unknown) => {
            assert.ok(error instanceof ConfigError, `${name}=${value}: ${String(error)}`);
            assert.equal(error.setting, name, error.message);
            assert.match(error.message, new RegExp(`^invalid setting ${name}: (expected|must be|a bearer token)`));
            if (schema['secret'] !== true) assert.ok(error.message.includes(value), error.message);
            else assert.ok(!error.message.includes(value), `a secret is not echoed: ${error.message}`);
            return true;
          },
          `${name}=${value}`,
        );
      }
    }
    assert.ok(checked >= 40, `${checked} bad values`);
  });

  test('the README names every setting of the schema, with the schema\'s default where it gives one', () => {
    const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
    for (const name of NAMES) assert.match(readme, new RegExp(`\`${name}[\`=]`), `README: ${name}`);
    // "`NAME` (default 3000)", "`NAME` (100)": the figure must be the schema's.
    for (const [, name, shown] of readme.matchAll(/`([A-Z][A-Z0-9_]+)` \((?:default )?([0-9][0-9_]*)\b/g)) {
      if (!(name! in SETTINGS)) continue;
      assert.equal(shown, String(schemaOf(name as SettingName)['default']), `README's default of ${name}`);
    }
  });

  test('the service reads the environment only through the schema', () => {
    // Settings are read with setting(env, NAME) or readSettings(env) (typed names). A stray
    // env.NAME would escape --help if the schema lacks it, and its checks and defaults if not
    // (library mode once gave pino LOG_LEVEL raw: " warn " passed the schema and crashed pino).
    const stray: string[] = [];
    for (const file of sourceFiles(SRC)) {
      if (file.includes(`${path.sep}cli${path.sep}`)) continue; // the CLI's own EVENT_PAUSE_URL / API_TOKEN
      const text = readFileSync(file, 'utf8');
      for (const match of text.matchAll(/\benv(?:\?)?\.([A-Z][A-Z0-9_]+)\b|\benv\[['"]([A-Z][A-Z0-9_]+)['"]\]/g)) {
        const name = match[1] ?? match[2]!;
        if (name !== 'UV_THREADPOOL_SIZE') stray.push(`${path.relative(SRC, file)}: ${name}`); // libuv's, set by threadpool.ts
      }
    }
    assert.deepEqual(stray, []);
  });

  test('values are read strictly: integers, booleans, enums (case-folded where documented), patterns', () => {
    assert.equal(setting({ PORT: ' 9090 ' }, 'PORT'), 9090);
    assert.equal(setting({}, 'PORT'), 8080);
    assert.equal(setting({ PORT: '' }, 'PORT'), 8080);
    assert.throws(() => setting({ PORT: '12abc' }, 'PORT'), /invalid setting PORT: expected an integer, got "12abc"/);
    assert.throws(() => setting({ PORT: '70000' }, 'PORT'), /invalid setting PORT: must be between 0 and 65535, got 70000/);
    assert.equal(setting({ STATIC_MEMBERSHIP: 'TRUE' }, 'STATIC_MEMBERSHIP'), true);
    assert.throws(() => setting({ STATIC_MEMBERSHIP: 'yes' }, 'STATIC_MEMBERSHIP'), /expected true or false, got "yes"/);
    assert.equal(setting({ KAFKA_SECURITY_PROTOCOL: 'sasl_ssl' }, 'KAFKA_SECURITY_PROTOCOL'), 'SASL_SSL');
    assert.equal(setting({}, 'KAFKA_SECURITY_PROTOCOL'), undefined);
    assert.throws(() => setting({ PROCESSING_GUARANTEE: 'maybe_once' }, 'PROCESSING_GUARANTEE'), /expected one of exactly_once, at_least_once, got "maybe_once"/);
    assert.throws(() => setting({ KAFKA_BROKERS: 'nohost' }, 'KAFKA_BROKERS'), /invalid setting KAFKA_BROKERS: expected host:port\[,host:port\.\.\.\], got "nohost"/);
    assert.equal(setting({ KAFKA_BROKERS: 'a:9092, b:9093' }, 'KAFKA_BROKERS'), 'a:9092, b:9093');
    assert.throws(() => setting({ STANDBY_REPLICAS: '2' }, 'STANDBY_REPLICAS'), /expected 0 \(off\) or 1 .*got "2"/);
  });

  test('a secret is never echoed in its error', () => {
    const error = (() => {
      try {
        setting({ API_TOKEN: 'two words' }, 'API_TOKEN');
      } catch (caught) {
        return caught as ConfigError;
      }
      return undefined;
    })();
    assert.ok(error instanceof ConfigError);
    assert.equal(error.setting, 'API_TOKEN');
    assert.match(error.message, /RFC 6750/);
    assert.ok(!error.message.includes('two words'), error.message);
  });

  test('loadSettings takes its figures from the schema', () => {
    const flows = { flows: [{ id: 'demo' }] };
    const settings = loadSettings({ COMMIT_INTERVAL_MS: '250', STUCK_PAUSED_MINUTES: '2' }, flows);
    assert.equal(settings.runtime.commitIntervalMs, 250);
    assert.equal(settings.alerts.stuckPausedMs, 120_000);
    assert.equal(settings.runtime.drainSliceSize, 2000);
    assert.throws(() => loadSettings({ DRAIN_SLICE_SIZE: '0' }, flows), /invalid setting DRAIN_SLICE_SIZE: must be between 1 and 1000000, got 0/);
  });
});
