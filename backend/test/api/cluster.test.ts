/**
 * Several instances: queries for a key whose partition another instance owns are forwarded to it,
 * list queries fan out to every instance, and a forwarded query is never forwarded again.
 *
 * Two apps on real sockets share one embedded engine: "owner" sees it as it is (every partition
 * local); "front" sees it through a view in which no partition is local and the owner is the
 * other app, as an instance of a consumer group would.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { buildApp } from '../../src/api/app.ts';
import { FORWARDED_HEADER } from '../../src/api/cluster.ts';
import { EmbeddedEngine } from '../../src/engines/embedded/embedded-engine.ts';
import type { FlowEngine, PartitionOwner } from '../../src/runtime/engine.ts';
import { bufferedCount, eventually, FLOW, pauseKey, sendEvent, testSettings } from './helper.ts';
import { freePort } from '../support/net.ts';


/** The engine as an instance that owns nothing sees it. */
function ownsNothing(engine: FlowEngine, owner: () => PartitionOwner, instances: () => string[]): FlowEngine {
  return {
    info: engine.info,
    flows: engine.flows,
    start: () => engine.start(),
    stop: () => engine.stop(),
    isReady: () => engine.isReady(),
    readiness: () => engine.readiness(),
    produce: (topic, record) => engine.produce(topic, record),
    recent: (topic, limit) => engine.recent(topic, limit),
    partitions: (topic) => engine.partitions(topic),
    statusTable: (flowId) => engine.statusTable(flowId),
    partitionFor: (flowId, key) => engine.partitionFor(flowId, key),
    owner: async () => owner(),
    localBuffer: () => undefined,
    localPartitions: () => [],
    instances: async () => instances(),
    metrics: () => engine.metrics(),
    subscribe: (listener) => engine.subscribe(listener),
  };
}

let engine: EmbeddedEngine;
let owner: FastifyInstance;
let front: FastifyInstance;
let ownerUrl: string;
let frontUrl: string;
let frontOwner: PartitionOwner;
let frontInstances: string[];
const held: string[] = [];

before(async () => {
  const [ownerPort, frontPort] = [await freePort(), await freePort()];
  ownerUrl = `http://127.0.0.1:${ownerPort}`;
  frontUrl = `http://127.0.0.1:${frontPort}`;
  const ownerSettings = testSettings({ PORT: String(ownerPort), ADVERTISED_URL: ownerUrl });
  const frontSettings = testSettings({ PORT: String(frontPort), ADVERTISED_URL: frontUrl });
  engine = new EmbeddedEngine(ownerSettings, { persist: false });
  await engine.start();
  frontOwner = { kind: 'remote', url: ownerUrl };
  frontInstances = [frontUrl, ownerUrl];
  const silent = pino({ level: 'silent' });
  owner = buildApp({ engine, settings: ownerSettings, logger: silent });
  front = buildApp({
    engine: ownsNothing(engine, () => frontOwner, () => frontInstances),
    settings: frontSettings,
    logger: silent,
  });
  await owner.listen({ host: '127.0.0.1', port: ownerPort });
  await front.listen({ host: '127.0.0.1', port: frontPort });

  await pauseKey(front, 'far-key');
  for (let i = 0; i < 4; i++) held.push(await sendEvent(front, 'far-key', `far-${i}`));
  await eventually('4 buffered at the owner', async () => ((await bufferedCount(owner, 'far-key')) === 4 ? true : undefined));
});

after(async () => {
  await front.close();
  await owner.close();
  await engine.stop();
});

describe('forwarding to the owner of a key\'s partition', () => {
  test('GET /control/{flow}/buffer/{key} on a non-owner answers with the owner\'s buffer', async () => {
    const response = await front.inject({ method: 'GET', url: `/control/${FLOW}/buffer/far-key` });
    assert.equal(response.statusCode, 200, response.body);
    assert.deepEqual((response.json() as Array<{ id: string }>).map((e) => e.id), held);
    assert.equal(response.headers['ep-buffered-total'], '4');
  });

  test('GET /api/v1/flows/{flow}/keys/{key} and its buffer pages come from the owner', async () => {
    const summary = await front.inject({ method: 'GET', url: `/api/v1/flows/${FLOW}/keys/far-key` });
    const body = summary.json() as { bufferedCount: number; answeredBy: string; status: string };
    assert.equal(body.answeredBy, ownerUrl);
    assert.equal(body.bufferedCount, 4);
    assert.equal(body.status, 'PAUSED');
    const page = await front.inject({ method: 'GET', url: `/api/v1/flows/${FLOW}/keys/far-key/buffer?offset=1&limit=2` });
    assert.deepEqual((page.json() as { items: Array<{ id: string }> }).items.map((e) => e.id), held.slice(1, 3));
  });

  test('list endpoints fan out to every instance', async () => {
    const response = await front.inject({ method: 'GET', url: `/api/v1/flows/${FLOW}/keys?state=buffered` });
    assert.equal(response.statusCode, 200, response.body);
    const items = (response.json() as { items: Array<{ key: string; bufferedCount: number }> }).items;
    assert.deepEqual(items, [{ ...items[0], key: 'far-key', bufferedCount: 4 }]);
    const paused = await front.inject({ method: 'GET', url: `/api/v1/flows/${FLOW}/keys?state=paused` });
    const pausedItems = (paused.json() as { items: Array<{ key: string; bufferedCount: number }> }).items;
    assert.equal(pausedItems.find((item) => item.key === 'far-key')?.bufferedCount, 4);
  });

  test('a forwarded query is never forwarded again: 503 with a message to retry', async () => {
    const response = await front.inject({
      method: 'GET',
      url: `/control/${FLOW}/buffer/far-key`,
      headers: { [FORWARDED_HEADER]: ownerUrl },
    });
    assert.equal(response.statusCode, 503);
    const body = response.json() as { code: string; message: string };
    assert.equal(body.code, 'OWNERSHIP_MOVED');
    assert.match(body.message, /not owned by this instance .*retry/);
  });

  test('a partition without an owner is a 503 that says so', async () => {
    frontOwner = { kind: 'unassigned' };
    try {
      const response = await front.inject({ method: 'GET', url: `/api/v1/flows/${FLOW}/keys/far-key` });
      assert.equal(response.statusCode, 503);
      assert.match((response.json() as { message: string }).message, /has no owner yet \(rebalancing\); retry shortly/);
    } finally {
      frontOwner = { kind: 'remote', url: ownerUrl };
    }
  });

  test('an owner that does not answer is a 502 naming it', async () => {
    const gone = `http://127.0.0.1:${await freePort()}`;
    frontOwner = { kind: 'remote', url: gone };
    frontInstances = [frontUrl, gone];
    try {
      const response = await front.inject({ method: 'GET', url: `/control/${FLOW}/buffer/far-key` });
      assert.equal(response.statusCode, 502);
      assert.match((response.json() as { message: string }).message, new RegExp(`instance at ${gone} did not answer`));
      const list = await front.inject({ method: 'GET', url: `/api/v1/flows/${FLOW}/keys` });
      assert.equal(list.statusCode, 502, 'a list that misses an instance fails rather than hides keys');
    } finally {
      frontOwner = { kind: 'remote', url: ownerUrl };
      frontInstances = [frontUrl, ownerUrl];
    }
  });

  test('rule 12: a list that could not search some partitions (no running task anywhere) says so', async () => {
    // Only the front answers, and it has no task running: as during a restore or a member's restart.
    frontInstances = [frontUrl];
    try {
      const response = await front.inject({ method: 'GET', url: `/api/v1/flows/${FLOW}/keys?state=buffered` });
      assert.equal(response.statusCode, 200, response.body);
      const body = response.json() as { items: unknown[]; incomplete: boolean; missingPartitions: number[] };
      assert.deepEqual(body.items, []);
      assert.equal(body.incomplete, true, 'an empty list that looks complete hides the buffered key');
      assert.deepEqual(body.missingPartitions, Array.from({ length: engine.partitions(engine.flows[0]!.topics.main) }, (_, p) => p));
    } finally {
      frontInstances = [frontUrl, ownerUrl];
    }
    const complete = await front.inject({ method: 'GET', url: `/api/v1/flows/${FLOW}/keys?state=buffered` });
    const body = complete.json() as { incomplete: boolean; missingPartitions: number[] };
    assert.equal(body.incomplete, false);
    assert.deepEqual(body.missingPartitions, []);
  });

  test('status is answered locally: the table is replicated on every instance', async () => {
    const response = await front.inject({ method: 'GET', url: `/control/${FLOW}/status/far-key` });
    assert.deepEqual(response.json(), { key: 'far-key', status: 'PAUSED' });
  });
});
