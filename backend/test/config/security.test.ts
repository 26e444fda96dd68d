import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { ConfigError, loadSettings } from '../../src/config/config.ts';

const base = { EVENT_PAUSE_CONFIG: 'config/flows.json', KAFKA_BROKERS: 'b1:9092,b2:9092' };
const dir = mkdtempSync(path.join(tmpdir(), 'ep-security-'));
const ca = path.join(dir, 'ca.pem');
writeFileSync(ca, 'pem');
const pw = path.join(dir, 'password');
writeFileSync(pw, 's3cret\n');

function refused(env: Record<string, string>, setting: string, message: RegExp): void {
  assert.throws(() => loadSettings({ ...base, ...env }), (error: unknown) => {
    assert.ok(error instanceof ConfigError, String(error));
    assert.equal(error.setting, setting);
    assert.match(error.message, message);
    return true;
  });
}

test('KAFKA_SECURITY_PROTOCOL and the SASL / TLS settings become librdkafka properties of every client', () => {
  const all = loadSettings({
    ...base,
    KAFKA_SECURITY_PROTOCOL: 'sasl_ssl',
    KAFKA_SASL_MECHANISM: 'SCRAM-SHA-512',
    KAFKA_SASL_USERNAME: 'svc',
    KAFKA_SASL_PASSWORD_FILE: pw,
    KAFKA_SSL_CA_FILE: ca,
  }).kafkaClientConfig.all;
  assert.deepEqual(all, {
    'security.protocol': 'sasl_ssl',
    'sasl.mechanisms': 'SCRAM-SHA-512',
    'sasl.username': 'svc',
    'sasl.password': 's3cret',
    'ssl.ca.location': ca,
    'ssl.endpoint.identification.algorithm': 'https',
  });
  assert.equal(loadSettings({ ...base, KAFKA_SECURITY_PROTOCOL: 'SASL_SSL', KAFKA_SASL_USERNAME: 'u', KAFKA_SASL_PASSWORD: 'p' }).kafkaClientConfig.all['sasl.mechanisms'], 'PLAIN', 'PLAIN by default');
  assert.deepEqual(loadSettings(base).kafkaClientConfig.all, {}, 'nothing by default');
});

test('security settings that cannot work stop startup naming the setting', () => {
  refused({ KAFKA_SECURITY_PROTOCOL: 'TLS' }, 'KAFKA_SECURITY_PROTOCOL', /expected one of PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL, got "TLS"/);
  refused({ KAFKA_SASL_USERNAME: 'u' }, 'KAFKA_SECURITY_PROTOCOL', /KAFKA_SASL_USERNAME given but no KAFKA_SECURITY_PROTOCOL/);
  refused({ KAFKA_SECURITY_PROTOCOL: 'SASL_SSL', KAFKA_SASL_PASSWORD: 'p' }, 'KAFKA_SASL_USERNAME', /needs a user name/);
  refused({ KAFKA_SECURITY_PROTOCOL: 'SASL_SSL', KAFKA_SASL_USERNAME: 'u' }, 'KAFKA_SASL_PASSWORD', /needs a password/);
  refused({ KAFKA_SECURITY_PROTOCOL: 'SASL_SSL', KAFKA_SASL_USERNAME: 'u', KAFKA_SASL_PASSWORD: 'p', KAFKA_SASL_MECHANISM: 'GSSAPI' }, 'KAFKA_SASL_MECHANISM', /expected one of PLAIN, SCRAM-SHA-256, SCRAM-SHA-512/);
  refused({ KAFKA_SECURITY_PROTOCOL: 'SSL', KAFKA_SSL_CA_FILE: path.join(dir, 'missing.pem') }, 'KAFKA_SSL_CA_FILE', /cannot read .*missing\.pem: ENOENT/);
  refused({ KAFKA_SECURITY_PROTOCOL: 'SSL', KAFKA_SSL_CERT_FILE: ca }, 'KAFKA_SSL_KEY_FILE', /needs both KAFKA_SSL_CERT_FILE and KAFKA_SSL_KEY_FILE/);
  refused({ KAFKA_SECURITY_PROTOCOL: 'SSL', KAFKA_SASL_USERNAME: 'u' }, 'KAFKA_SASL_USERNAME', /SASL settings need KAFKA_SECURITY_PROTOCOL SASL_SSL or SASL_PLAINTEXT, not SSL/);
  refused({ KAFKA_SECURITY_PROTOCOL: 'SASL_PLAINTEXT', KAFKA_SASL_USERNAME: 'u', KAFKA_SASL_PASSWORD: 'p', KAFKA_SSL_CA_FILE: ca }, 'KAFKA_SSL_CA_FILE', /TLS settings need/);
  refused({ KAFKA_SECURITY_PROTOCOL: 'SSL', KAFKA_CONFIG: 'security.protocol=ssl' }, 'KAFKA_CONFIG', /security\.protocol is set by the KAFKA_SECURITY_PROTOCOL/);
});
