/**
 * Bad settings stop startup with one line naming the setting (exit 2, no stack trace), from
 * loadSettings and from the real entry point.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import { ConfigError, loadSettings } from '../../src/config/config.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'ep-config-test-'));
const flowsFile = path.join(dir, 'flows.json');
writeFileSync(flowsFile, JSON.stringify({ applicationId: 'ep-config-test', partitions: 2, flows: [{ id: 'demo' }] }));
const aFile = path.join(dir, 'a-file');
writeFileSync(aFile, 'not a directory');
const base = { EVENT_PAUSE_CONFIG: flowsFile, STATE_DIR: path.join(dir, 'state') };

function refused(env: Record<string, string>, setting: string, message: RegExp): void {
  assert.throws(() => loadSettings({ ...base, ...env }), (error: unknown) => {
    assert.ok(error instanceof ConfigError, String(error));
    assert.equal(error.setting, setting);
    assert.match(error.message, message);
    return true;
  });
}

describe('loadSettings refuses, naming the setting', () => {
  test('LOG_LEVEL not a pino level', () => {
    refused({ LOG_LEVEL: 'verbose' }, 'LOG_LEVEL', /expected one of trace, debug, info, warn, error, fatal, silent, got "verbose"/);
    assert.equal(loadSettings({ ...base, LOG_LEVEL: 'debug' }).logLevel, 'debug');
    assert.equal(loadSettings(base).logLevel, 'info');
  });

  test('STATE_DIR that is a file, or under a file', () => {
    refused({ STATE_DIR: aFile }, 'STATE_DIR', /a-file is a file, not a directory/);
    refused({ STATE_DIR: path.join(aFile, 'state') }, 'STATE_DIR', /cannot be created: .*a-file is a file/);
    assert.equal(loadSettings({ ...base, STATE_DIR: path.join(dir, 'new', 'state') }).runtime.stateDir, path.join(dir, 'new', 'state'));
  });

  test('API_TOKEN that no Authorization header could carry; the message does not show it', () => {
    for (const token of ['two words', 'tab\there', 'naïve', 'a,b', 'tok"en']) {
      refused({ API_TOKEN: token }, 'API_TOKEN', /RFC 6750/);
      try {
        loadSettings({ ...base, API_TOKEN: token });
      } catch (error) {
        assert.ok(!(error as Error).message.includes(token), 'the secret is not echoed');
      }
    }
    for (const token of ['s3cret-token.value_~+/', 'YWJjZA==']) assert.equal(loadSettings({ ...base, API_TOKEN: token }).http.apiToken, token);
  });

  test('APPLICATION_ID with characters Kafka refuses, or too long for its topic names', () => {
    refused({ APPLICATION_ID: 'bad id!' }, 'APPLICATION_ID', /expected letters, digits, \. _ - .*got "bad id!"/);
    // 249 - "-demo-buffer-changelog".length = 227
    refused({ APPLICATION_ID: 'a'.repeat(228) }, 'APPLICATION_ID', /at most 227 characters with these flows/);
    assert.equal(loadSettings({ ...base, APPLICATION_ID: 'a'.repeat(227) }).runtime.applicationId, 'a'.repeat(227));
  });

  test('a misspelled top-level key in the flows file names the key and the known ones', () => {
    const file = path.join(dir, 'typo.json');
    writeFileSync(file, JSON.stringify({ applicationID: 'x', flows: [{ id: 'demo' }] }));
    refused({ EVENT_PAUSE_CONFIG: file }, `${file}: applicationID`, /unknown top-level setting \(known: applicationId, partitions, flows\)/);
  });
});

describe('the entry point: one line, exit 2, no stack trace', () => {
  const main = path.resolve(import.meta.dirname, '../../src/main.ts');
  const cases: Array<[string, Record<string, string>, RegExp]> = [
    ['LOG_LEVEL=verbose', { LOG_LEVEL: 'verbose' }, /^event-pause: invalid setting LOG_LEVEL: expected one of .*got "verbose"\n$/],
    ['HOST=nohost.invalid', { HOST: 'nohost.invalid' }, /^event-pause: invalid setting HOST: cannot listen on "nohost.invalid": the name does not resolve \(ENOTFOUND\).*\n$/],
    ['STATE_DIR a file', { STATE_DIR: aFile }, /^event-pause: invalid setting STATE_DIR: .*a-file is a file, not a directory\n$/],
    ['API_TOKEN with a space', { API_TOKEN: 'two words' }, /^event-pause: invalid setting API_TOKEN: .*RFC 6750.*\n$/],
    ['APPLICATION_ID bad', { APPLICATION_ID: 'bad id!' }, /^event-pause: invalid setting APPLICATION_ID: .*\n$/],
  ];
  for (const [name, env, stderr] of cases) {
    test(name, () => {
      const result = spawnSync(process.execPath, [main], {
        cwd: dir,
        env: { PATH: process.env.PATH ?? '', ...base, PORT: '0', ...env },
        encoding: 'utf8',
        timeout: 60_000,
      });
      assert.equal(result.status, 2, `exit code; stderr: ${result.stderr}`);
      assert.match(result.stderr, stderr);
      assert.doesNotMatch(result.stderr, /\n\s+at /, 'no stack trace');
    });
  }
});
