/**
 * The command line (`npx event-pause`, linked by npm ci) against the service on the embedded
 * engine, listening on a free port: what it prints, and the exit codes scripts rely on.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { eventually, FLOW, startApp, type TestApp } from '../api/helper.ts';

const BIN = path.resolve(import.meta.dirname, '../../../node_modules/.bin/event-pause');
const TOKEN = 'cli-test-token';

interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

function cli(args: readonly string[], env: Record<string, string> = {}, input?: string): Promise<Run> {
  return new Promise((resolve) => {
    const child = execFile(BIN, [...args], { env: { ...process.env, API_TOKEN: '', EVENT_PAUSE_URL: '', ...env }, timeout: 60_000 }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : 1, stdout, stderr });
    });
    if (input !== undefined) child.stdin?.end(input);
  });
}

describe('event-pause CLI', () => {
  let t: TestApp;
  let url: string;
  const run = (args: readonly string[], input?: string) => cli(args, { EVENT_PAUSE_URL: url, API_TOKEN: TOKEN }, input);

  before(async () => {
    t = await startApp({ env: { API_TOKEN: TOKEN } });
    await t.app.listen({ host: '127.0.0.1', port: 0 });
    const address = t.app.server.address();
    assert.ok(typeof address === 'object' && address !== null);
    url = `http://127.0.0.1:${address.port}`;
  });
  after(async () => t.close());

  test('--help lists the commands and the exit codes; every command has its own --help; unknown ones are usage errors (2)', async () => {
    const help = await cli(['--help']);
    assert.equal(help.code, 0);
    for (const command of ['start', 'init-topics', 'pause', 'resume', 'status', 'list', 'buffer', 'skip', 'dlq', 'migrate-from-original']) assert.match(help.stdout, new RegExp(`\\n  ${command} `));
    assert.match(help.stdout, /exit codes: 0 done, 1 request failed/);
    const pause = await cli(['pause', '--help']);
    assert.equal(pause.code, 0);
    assert.match(pause.stdout, /usage: event-pause pause <flow> <key>\.\.\. \[--reason R\]/);
    assert.match(pause.stdout, /--from-file F/);
    assert.equal((await cli(['frobnicate'])).code, 2);
    const badOption = await cli(['status', FLOW, 'k', '--colour']);
    assert.equal(badOption.code, 2);
    assert.match(badOption.stderr, /Unknown option '--colour'/);
  });

  test('pause with a reason, status and list show it; resume from a file (and standard input) lets the key go', async () => {
    const paused = await run(['pause', FLOW, 'c1', 'c2', '--reason', 'fraud review', '--actor', 'ops']);
    assert.equal(paused.code, 0, paused.stderr);
    assert.match(paused.stdout, /paused 2 keys of demo/);
    const status = await eventually('c1 PAUSED', async () => {
      const answer = await run(['status', FLOW, 'c1', '--json']);
      assert.equal(answer.code, 0, answer.stderr);
      const body = JSON.parse(answer.stdout) as { status: string; reason: string; actor: string };
      return body.status === 'PAUSED' ? body : undefined;
    });
    assert.equal(status.reason, 'fraud review');
    assert.equal(status.actor, 'ops');
    const human = await run(['status', FLOW, 'c1']);
    assert.match(human.stdout, /status\s+PAUSED/);
    assert.match(human.stdout, /reason\s+fraud review/);

    for (const data of ['held-1', 'held-2']) {
      const sent = await t.app.inject({ method: 'POST', url: `/control/${FLOW}/send`, query: { key: 'c1', data }, headers: { authorization: `Bearer ${TOKEN}` } });
      assert.equal(sent.statusCode, 200, sent.body);
    }
    await eventually('2 held', async () => (JSON.parse((await run(['buffer', FLOW, 'c1', '--json'])).stdout) as { total: number }).total === 2 || undefined);
    const buffer = JSON.parse((await run(['buffer', FLOW, 'c1', '--json'])).stdout) as { items: Array<{ data: string }> };
    assert.deepEqual(buffer.items.map((e) => e.data), ['held-1', 'held-2']);

    const list = JSON.parse((await run(['list', FLOW, '--paused', '--prefix', 'c', '--json'])).stdout) as { total: number; items: Array<{ key: string; bufferedCount: number }> };
    assert.equal(list.total, 2);
    assert.deepEqual(list.items.map((i) => [i.key, i.bufferedCount]), [['c1', 2], ['c2', 0]]);
    const table = await run(['list', FLOW, '--paused', '--prefix', 'c']);
    assert.match(table.stdout, /^KEY\s+STATUS\s+BUFFERED/);
    assert.match(table.stderr, /2 of 2 keys/);

    const dir = mkdtempSync(path.join(tmpdir(), 'ep-cli-'));
    writeFileSync(path.join(dir, 'keys.txt'), 'c1\n\n');
    const resumed = await run(['resume', FLOW, '--from-file', path.join(dir, 'keys.txt'), '--reason', 'cleared']);
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.match(resumed.stdout, /resumed 1 key of demo/);
    const fromStdin = await run(['resume', FLOW, '--from-file', '-'], 'c2\n');
    assert.equal(fromStdin.code, 0, fromStdin.stderr);
    await eventually('c1 and c2 ACTIVE', () => (['c1', 'c2'].every((k) => t.engine.statusTable(FLOW).get(k).status === 'ACTIVE') ? true : undefined));
  });

  test('skip: --seq acts only on the event that is still first; --first reads it; the rest is released in order', async () => {
    const send = async (key: string, data: string): Promise<void> => {
      const sent = await t.app.inject({ method: 'POST', url: `/control/${FLOW}/send`, query: { key, data }, headers: { authorization: `Bearer ${TOKEN}` } });
      assert.equal(sent.statusCode, 200, sent.body);
    };
    assert.equal((await run(['pause', FLOW, 'sk1'])).code, 0);
    await eventually('sk1 PAUSED', () => (t.engine.statusTable(FLOW).get('sk1').status === 'PAUSED' ? true : undefined));
    for (const data of ['poison', 'next-1', 'next-2']) await send('sk1', data);
    const held = await eventually('3 held', async () => {
      const page = JSON.parse((await run(['buffer', FLOW, 'sk1', '--json'])).stdout) as { total: number; items: Array<{ seq: number; data: string }> };
      return page.total === 3 ? page.items : undefined;
    });
    const usage = await run(['skip', FLOW, 'sk1']);
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /give --seq N .* or --first/);
    assert.equal((await run(['skip', FLOW, 'sk1', '--seq', '-1'])).code, 2);

    // A stale seq (the second event's) skips nothing, and the key stays paused.
    const stale = await run(['skip', FLOW, 'sk1', '--seq', String(held[1]!.seq), '--reason', 'stale']);
    assert.equal(stale.code, 0, stale.stderr);
    const first = await run(['skip', FLOW, 'sk1', '--first', '--reason', 'bad payload']);
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stderr, new RegExp(`first held event of sk1: offset ${held[0]!.seq}, data "poison"`));
    const letter = await eventually('the poison event dead-lettered as SKIPPED', async () => {
      const body = JSON.parse((await run(['dlq', FLOW, '--key', 'sk1', '--json'])).stdout) as { items: Array<{ reason: string; source: { offset: number } }> };
      return body.items.length > 0 ? body.items : undefined;
    });
    assert.deepEqual(letter.map((l) => [l.reason, l.source.offset]), [['SKIPPED', held[0]!.seq]]);
    await eventually('sk1 ACTIVE', () => (t.engine.statusTable(FLOW).get('sk1').status === 'ACTIVE' ? true : undefined));
    const output = await eventually('next-1 and next-2 out', async () => {
      const records = (await t.app.inject({ method: 'GET', url: `/api/v1/flows/${FLOW}/records?topic=output&key=sk1`, headers: { authorization: `Bearer ${TOKEN}` } })).json() as Array<{ data: string }>;
      return records.length === 2 ? records.map((r) => r.data) : undefined;
    });
    assert.deepEqual(output, ['next-1', 'next-2']);
    const nothing = await run(['skip', FLOW, 'sk1', '--first']);
    assert.equal(nothing.code, 3);
    assert.match(nothing.stderr, /holds no event/);
  });

  test('dead letters with their reason', async () => {
    const flow = t.engine.flows.find((f) => f.id === FLOW)!;
    await t.engine.produce(flow.topics.main, { key: 'bad-1', value: Buffer.from('not json') });
    const answer = await eventually('a dead letter', async () => {
      const body = JSON.parse((await run(['dlq', FLOW, '--key', 'bad-1', '--json'])).stdout) as { items: Array<{ reason: string }> };
      return body.items.length > 0 ? body : undefined;
    });
    assert.equal(answer.items[0]!.reason, 'INVALID_EVENT');
    const human = await run(['dlq', FLOW, '--reason', 'INVALID_EVENT']);
    assert.match(human.stdout, /INVALID_EVENT\s+bad-1/);
  });

  test('exit codes: 3 unknown flow, 4 refused token, 1 no service, 2 bad input', async () => {
    const unknown = await run(['status', 'nope', 'k']);
    assert.equal(unknown.code, 3);
    assert.match(unknown.stderr, /unknown flow "nope"/);
    const refused = await cli(['pause', FLOW, 'k'], { EVENT_PAUSE_URL: url, API_TOKEN: 'wrong' });
    assert.equal(refused.code, 4);
    assert.match(refused.stderr, /pass --token or set API_TOKEN/);
    const down = await cli(['status', FLOW, 'k', '--url', 'http://127.0.0.1:9']);
    assert.equal(down.code, 1);
    assert.match(down.stderr, /no answer from http:\/\/127\.0\.0\.1:9 .*is the service running\?/);
    const bad = await run(['buffer', FLOW, 'k', '--limit', '0']);
    assert.equal(bad.code, 2);
    const noKeys = await run(['pause', FLOW]);
    assert.equal(noKeys.code, 2);
    assert.match(noKeys.stderr, /no key given/);
  });

  test('migrate-from-original without Kafka names the missing setting (2)', async () => {
    const answer = await cli(['migrate-from-original', '--flow', FLOW, '--changelog', 'x-changelog'], { KAFKA_BROKERS: '', EVENT_PAUSE_CONFIG: 'config/flows.json' });
    assert.equal(answer.code, 2, answer.stderr);
    assert.match(answer.stderr, /KAFKA_BROKERS/);
  });
});
