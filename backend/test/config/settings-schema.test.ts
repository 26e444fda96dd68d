/**
 * The settings schema is the one list of settings: --help is written from it, every setting the
 * code reads is named in it (the name is typed), and a bad value is refused naming the setting.
 */
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { ConfigError, loadSettings } from '../../src/config/config.ts';
import { SETTINGS, setting, settingsHelp } from '../../src/config/settings-schema.ts';

const SRC = path.resolve(import.meta.dirname, '../../src');

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

  test('the service reads no environment setting outside the schema', () => {
    // Settings are read with setting(env, NAME) (typed names); a stray env.NAME would escape --help.
    const stray: string[] = [];
    for (const file of sourceFiles(SRC)) {
      if (file.includes(`${path.sep}cli${path.sep}`)) continue; // the CLI's own EVENT_PAUSE_URL / API_TOKEN
      const text = readFileSync(file, 'utf8');
      for (const match of text.matchAll(/\benv(?:\?)?\.([A-Z][A-Z0-9_]+)\b|\benv\[['"]([A-Z][A-Z0-9_]+)['"]\]/g)) {
        const name = match[1] ?? match[2]!;
        if (!(name in SETTINGS) && name !== 'UV_THREADPOOL_SIZE') stray.push(`${path.relative(SRC, file)}: ${name}`);
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
