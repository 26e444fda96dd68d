/**
 * Topics for production on a local 3-broker cluster (scripts/start_cluster.sh, the chaos runner's
 * nightly cluster): init_topics.sh creates them with replication factor 3 and min.insync.replicas
 * 2; the service refuses topics with fewer replicas than MIN_REPLICATION_FACTOR, naming them, and
 * on well-replicated topics keeps pausing, holding and releasing with one broker killed.
 */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { flowsFile, pauseHoldRelease, script as runScript, startService } from './processes.ts';
import { randomId } from './support.ts';

const BASE_PORT = 19_492;
const DATA = mkdtempSync(path.join(tmpdir(), 'ep-cluster-'));
const BOOTSTRAP = [0, 1, 2].map((i) => `127.0.0.1:${BASE_PORT + i}`).join(',');
const CLUSTER_ENV = { CLUSTER_BASE_PORT: String(BASE_PORT), CLUSTER_DATA_DIR: DATA };

function script(name: string, args: readonly string[], env: Record<string, string> = {}) {
  return runScript(name, args, { ...CLUSTER_ENV, ...env });
}

describe('Kafka: topics for production on a 3-broker cluster', { timeout: 600_000 }, () => {
  before(async () => {
    const started = await script('start_cluster.sh', []);
    assert.equal(started.code, 0, started.out);
  });
  after(async () => {
    await script('stop_cluster.sh', ['--kill', '--wipe']);
  });

  test('init_topics makes replication factor 3 and min.insync.replicas 2; the service refuses fewer replicas than MIN_REPLICATION_FACTOR and runs with a broker down', async () => {
    const app = randomId('ep');
    const weakFlow = randomId('weak');
    const weak = flowsFile(app, weakFlow);
    const one = await script('init_topics.sh', ['--config', weak, '--replication-factor', '1'], { KAFKA_BROKERS: BOOTSTRAP });
    assert.equal(one.code, 0, one.out);
    const refused = await startService(weak, { KAFKA_BROKERS: BOOTSTRAP, MIN_REPLICATION_FACTOR: '3' });
    assert.equal(refused.ready, false, 'the service must not start on topics with 1 replica');
    assert.equal(refused.child.exitCode, 2, refused.output());
    assert.match(refused.output(), new RegExp(`${weakFlow}-in has 1 replica.*MIN_REPLICATION_FACTOR asks for at least 3`));

    const flow = randomId('prod');
    const config = flowsFile(app, flow);
    const made = await script('init_topics.sh', ['--config', config, '--replication-factor', '3', '--min-insync-replicas', '2'], { KAFKA_BROKERS: BOOTSTRAP });
    assert.equal(made.code, 0, made.out);
    const lines = made.out.split('\n').filter((line) => /^\s+created /.test(line));
    assert.equal(lines.length, 6, made.out);
    for (const line of lines) assert.match(line, /replication\.factor=3 min\.insync\.replicas=2/);

    const running = await startService(config, { KAFKA_BROKERS: BOOTSTRAP, MIN_REPLICATION_FACTOR: '3' });
    try {
      assert.equal(running.ready, true, running.output());
      const { url } = running;
      // A broker goes down (kill -9): with 2 of 3 replicas in sync, writes go on.
      const killed = await script('stop_cluster.sh', ['--node', '3', '--kill']);
      assert.equal(killed.code, 0, killed.out);
      await pauseHoldRelease(url, flow);
    } finally {
      running.child.kill('SIGKILL');
    }
  });
});
