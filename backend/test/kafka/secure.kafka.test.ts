/**
 * Secure Kafka: a second, secured broker (scripts/start_secure_broker.sh: SASL_SSL with PLAIN,
 * SCRAM-SHA-256 and SCRAM-SHA-512 users made with Kafka's own tools, and an SSL listener that
 * requires client certificates; certificates made at test time with openssl and keytool). The
 * service connects with the KAFKA_SECURITY_PROTOCOL / KAFKA_SASL_* / KAFKA_SSL_* settings and
 * pauses, holds and releases; a wrong password or an untrusted certificate stops startup (exit 2)
 * with a message that says which.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { flowsFile, pauseHoldRelease, script, startService } from './processes.ts';
import { randomId } from './support.ts';

const DATA = mkdtempSync(path.join(tmpdir(), 'ep-secure-'));
const PORTS = { SECURE_PORT: '19193', SECURE_INTERNAL_PORT: '19194', SECURE_CONTROLLER_PORT: '19195', SECURE_SSL_PORT: '19196' };
const ENV = { ...PORTS, SECURE_DATA_DIR: DATA };
const CERTS = path.join(DATA, 'certs');
const SASL_SSL = `127.0.0.1:${PORTS.SECURE_PORT}`;

describe('Kafka: secured clusters (SASL_SSL, SSL with client certificates)', { timeout: 600_000 }, () => {
  let config: string;
  let flow: string;

  before(async () => {
    const started = await script('start_secure_broker.sh', [], ENV);
    assert.equal(started.code, 0, started.out);
    flow = randomId('sec');
    config = flowsFile(randomId('ep'), flow);
    // Topics through the broker's internal listener (init_topics.sh speaks PLAINTEXT).
    const topics = await script('init_topics.sh', ['--config', config], { KAFKA_BROKERS: `127.0.0.1:${PORTS.SECURE_INTERNAL_PORT}` });
    assert.equal(topics.code, 0, topics.out);
  });
  after(async () => {
    await script('start_secure_broker.sh', ['--wipe'], ENV);
  });

  const sasl = (mechanism: string, username: string, password: string, extra: Record<string, string> = {}) => ({
    KAFKA_BROKERS: SASL_SSL,
    KAFKA_SECURITY_PROTOCOL: 'SASL_SSL',
    KAFKA_SASL_MECHANISM: mechanism,
    KAFKA_SASL_USERNAME: username,
    KAFKA_SASL_PASSWORD: password,
    KAFKA_SSL_CA_FILE: path.join(CERTS, 'ca.pem'),
    ...extra,
  });

  test('SASL_SSL with SCRAM-SHA-512 (password from a file): pause, hold, release in order', async () => {
    const passwordFile = path.join(mkdtempSync(path.join(tmpdir(), 'ep-pw-')), 'password');
    writeFileSync(passwordFile, 'scram512-secret\n');
    const env = sasl('SCRAM-SHA-512', 'scram512', '', { KAFKA_SASL_PASSWORD_FILE: passwordFile });
    const service = await startService(config, env);
    try {
      assert.equal(service.ready, true, service.output());
      await pauseHoldRelease(service.url, flow, 'K512');
      assert.doesNotMatch(service.output(), /scram512-secret/, 'the password is never logged');
    } finally {
      service.child.kill('SIGKILL');
    }
  });

  test('SASL_SSL with SCRAM-SHA-256 and with PLAIN start and serve', async () => {
    for (const env of [sasl('SCRAM-SHA-256', 'scram256', 'scram256-secret'), sasl('PLAIN', 'alice', 'alice-secret')]) {
      const service = await startService(config, env);
      try {
        assert.equal(service.ready, true, `${env.KAFKA_SASL_MECHANISM}: ${service.output()}`);
        await pauseHoldRelease(service.url, flow, `K-${env.KAFKA_SASL_MECHANISM}`);
      } finally {
        service.child.kill('SIGKILL');
      }
    }
  });

  test('SSL with a client certificate (the listener requires one)', async () => {
    const service = await startService(config, {
      KAFKA_BROKERS: `127.0.0.1:${PORTS.SECURE_SSL_PORT}`,
      KAFKA_SECURITY_PROTOCOL: 'SSL',
      KAFKA_SSL_CA_FILE: path.join(CERTS, 'ca.pem'),
      KAFKA_SSL_CERT_FILE: path.join(CERTS, 'client.pem'),
      KAFKA_SSL_KEY_FILE: path.join(CERTS, 'client.key'),
    });
    try {
      assert.equal(service.ready, true, service.output());
      await pauseHoldRelease(service.url, flow, 'K-mtls');
    } finally {
      service.child.kill('SIGKILL');
    }
  });

  test('a wrong password stops startup, saying the credentials were refused', async () => {
    const service = await startService(config, sasl('SCRAM-SHA-256', 'scram256', 'not-the-password'));
    assert.equal(service.ready, false);
    assert.equal(service.child.exitCode, 2, service.output());
    assert.match(service.output(), /refused the SASL credentials \(user KAFKA_SASL_USERNAME=scram256, mechanism KAFKA_SASL_MECHANISM=SCRAM-SHA-256; check KAFKA_SASL_PASSWORD\)/);
    assert.doesNotMatch(service.output(), /not-the-password/);
  });

  test('a certificate the CA file does not trust stops startup, saying the TLS handshake failed', async () => {
    const service = await startService(config, sasl('SCRAM-SHA-256', 'scram256', 'scram256-secret', { KAFKA_SSL_CA_FILE: path.join(CERTS, 'other-ca.pem') }));
    assert.equal(service.ready, false);
    assert.equal(service.child.exitCode, 2, service.output());
    assert.match(service.output(), /invalid setting KAFKA_SSL_CA_FILE: the TLS handshake with Kafka at .* failed .*certificate verify failed/);
  });
});
