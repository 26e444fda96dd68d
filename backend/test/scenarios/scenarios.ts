/**
 * The SEMANTICS.md scenarios, written once against `ScenarioHarness` and run on every engine
 * (embedded: test/embedded/scenarios.embedded.test.ts; Kafka: its own test file).
 *
 * What the suite assumes of a harness beyond harness.ts:
 *   - `setStatus` resolves once the status tables of the running instances show the write, so an
 *     event sent afterwards sees it (otherwise "pause, then send" is a race by design, see the
 *     "Known races" of SEMANTICS.md);
 *   - sends issued without awaiting each other (Promise.all) reach their topic in call order.
 * Waits are `until(...)` loops that let time pass with `elapse`: real sleeps on Kafka, clock
 * steps on the embedded engine, where the suite is therefore deterministic.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MAX_BUFFERED_KEY_BYTES } from '../../src/model/errors.ts';
import { HEADERS, headerValue } from '../../src/model/wire.ts';
import type { DeadLetterReason, Header } from '../../src/runtime/ports.ts';
import type { HarnessFactory, OutRecord, ScenarioHarness, ScenarioOptions } from './harness.ts';

const PUNCTUATE_MS = 1000;
const TIMEOUT = { timeout: 120_000 };

export function defineScenarios(name: string, factory: HarnessFactory): void {
  /** Runs `body` on a fresh harness started with `options`, and always closes it. */
  const scenario = (options: ScenarioOptions, body: (h: ScenarioHarness) => Promise<void>) => async () => {
    const h = await factory();
    try {
      await h.start({ punctuateIntervalMs: PUNCTUATE_MS, ...options });
      await body(h);
    } finally {
      await h.close();
    }
  };

  describe(`scenarios on ${name}`, () => {
    it(
      "the original's worst case: 3 events, pause, 500 events, resume and 2 new events at once: 505 in exact order (rules 1, 2, 3)",
      TIMEOUT,
      scenario({}, async (h) => {
        const key = 'worst-case';
        const ids = range('wc', 1, 505);
        for (const id of ids.slice(0, 3)) await h.sendEvent(key, id);
        await h.waitForOutput(3);
        await h.setStatus(key, 'PAUSED');
        await sendAll(h, key, ids.slice(3, 503));
        await until(h, '500 events are buffered', async () => (await h.bufferCount(key)) === 500);
        assert.equal((await h.output()).length, 3, 'nothing may pass while the key is paused');

        await Promise.all([
          h.setStatus(key, 'ACTIVE'),
          h.sendResume(key),
          (async () => {
            await h.sendEvent(key, ids[503]!);
            await h.sendEvent(key, ids[504]!);
          })(),
        ]);
        await h.elapse(PUNCTUATE_MS);
        const out = await h.waitForOutput(505);
        assert.deepEqual(idsOf(out, key), ids);
        assert.equal(out.length, 505);
        assert.equal(await h.bufferCount(key), 0);
      }),
    );

    it(
      'stranded events: a key turned ACTIVE with no command and no further event is drained within one punctuation interval (rule 4)',
      TIMEOUT,
      scenario({}, async (h) => {
        const active = 'stranded-active';
        const tombstoned = 'stranded-tombstone';
        for (const key of [active, tombstoned]) {
          await h.setStatus(key, 'PAUSED');
          await sendAll(h, key, range(key, 1, 5));
        }
        await until(h, 'both keys hold 5 events', async () => (await h.bufferCount(active)) === 5 && (await h.bufferCount(tombstoned)) === 5);
        await h.setStatus(active, 'ACTIVE');
        await h.setStatus(tombstoned, null);
        await h.elapse(PUNCTUATE_MS);
        const out = await h.waitForOutput(10, PUNCTUATE_MS);
        assert.deepEqual(idsOf(out, active), range(active, 1, 5));
        assert.deepEqual(idsOf(out, tombstoned), range(tombstoned, 1, 5), 'a tombstone means ACTIVE');
        assert.equal(await h.bufferCount(active), 0);
      }),
    );

    it(
      'status lag: a resume command processed while the status table still shows PAUSED keeps the order (rules 3, 4, 10)',
      TIMEOUT,
      scenario({}, async (h) => {
        // Writing the command before the status is the same race as a lagging status table.
        const drainedByEvent = 'lag-event';
        const drainedByPunctuator = 'lag-punctuator';
        for (const key of [drainedByEvent, drainedByPunctuator]) {
          await h.setStatus(key, 'PAUSED');
          await sendAll(h, key, range(key, 1, 3));
          await until(h, `${key} holds 3 events`, async () => (await h.bufferCount(key)) === 3);
          await h.sendResume(key);
          await until(h, `the command drained ${key}`, async () => (await h.bufferCount(key)) === 0);
          await sendAll(h, key, range(key, 4, 5));
          await until(h, `${key} is buffered again (still PAUSED in the table)`, async () => (await h.bufferCount(key)) === 2);
        }
        const early = await h.output();
        assert.deepEqual(idsOf(early, drainedByEvent), range(drainedByEvent, 1, 3));

        await h.setStatus(drainedByEvent, 'ACTIVE');
        await h.sendEvent(drainedByEvent, `${drainedByEvent}-6`);
        await h.setStatus(drainedByPunctuator, 'ACTIVE');
        await h.elapse(PUNCTUATE_MS);
        const out = await h.waitForOutput(11);
        assert.deepEqual(idsOf(out, drainedByEvent), range(drainedByEvent, 1, 6));
        assert.deepEqual(idsOf(out, drainedByPunctuator), range(drainedByPunctuator, 1, 5));
      }),
    );

    for (const guarantee of ['exactly_once', 'at_least_once'] as const) {
      it(`crash (kill -9) while a key holds buffered events, ${guarantee}: restored from the changelog, drained in order, nothing lost${guarantee === 'exactly_once' ? ' or duplicated' : ''} (rules 1, 4, 5)`, TIMEOUT, async () => {
        const h = await factory();
        try {
          await h.start({ guarantee, punctuateIntervalMs: PUNCTUATE_MS });
          const [held, stranded, flowing] = ['crash-held', 'crash-stranded', 'crash-flowing'];
          await sendAll(h, held, range(held, 1, 2));
          await h.waitForOutput(2);
          await h.setStatus(held, 'PAUSED');
          await h.setStatus(stranded, 'PAUSED');
          await sendAll(h, held, range(held, 3, 12));
          await sendAll(h, stranded, range(stranded, 1, 4));
          await until(h, 'the buffers fill', async () => (await h.bufferCount(held)) === 10 && (await h.bufferCount(stranded)) === 4);
          await h.elapse(PUNCTUATE_MS); // commits
          // Processed but not yet committed when the process dies.
          await sendAll(h, held, range(held, 13, 15));
          await sendAll(h, flowing, range(flowing, 1, 3));
          await h.crash();
          await h.restart();
          await until(h, 'the buffers are restored', async () => (await h.bufferCount(held)) === 13 && (await h.bufferCount(stranded)) === 4);

          // No command, no event: only the dirty set rebuilt from the store can drain it (rule 4).
          await h.setStatus(stranded, 'ACTIVE');
          await h.setStatus(held, 'ACTIVE');
          await h.sendResume(held);
          await h.elapse(PUNCTUATE_MS);
          const out = await h.waitForOutput(2 + 13 + 4 + 3);
          const expected: Record<string, string[]> = { [held]: range(held, 1, 15), [stranded]: range(stranded, 1, 4), [flowing]: range(flowing, 1, 3) };
          for (const [key, ids] of Object.entries(expected)) {
            const seen = idsOf(out, key);
            assert.deepEqual(guarantee === 'exactly_once' ? seen : dedupe(seen), ids, `key ${key}`);
          }
          if (guarantee === 'exactly_once') assert.equal(out.length, 22, 'exactly once: no duplicates');
        } finally {
          await h.close();
        }
      });
    }

    it('two instances: partitions and their buffers move on join and leave, order intact (rules 1, 5)', TIMEOUT, async () => {
      const h = await factory();
      try {
        await h.start({ partitions: 4, punctuateIntervalMs: PUNCTUATE_MS });
        const keys = Array.from({ length: 8 }, (_, i) => `moving-${i}`);
        const live = 'moving-live';
        const liveIds = range(live, 1, 9);
        const all = async (count: number) => (await Promise.all(keys.map((key) => h.bufferCount(key)))).every((n) => n === count);
        for (const key of keys) await h.setStatus(key, 'PAUSED');
        for (const key of keys) await sendAll(h, key, range(key, 1, 3));
        await h.sendEvent(live, liveIds[0]!);
        await until(h, 'every key holds 3 events', () => all(3));

        const second = await h.addInstance();
        await until(h, 'the moved buffers are restored on their new owner', () => all(3));
        for (const key of keys) await sendAll(h, key, range(key, 4, 6));
        await sendAll(h, live, liveIds.slice(1, 5));
        await until(h, 'every key holds 6 events', () => all(6));

        await h.stopInstance(second);
        await until(h, 'the buffers came back', () => all(6));
        for (const key of keys) await sendAll(h, key, range(key, 7, 8));
        await sendAll(h, live, liveIds.slice(5));
        await until(h, 'every key holds 8 events', () => all(8));

        for (const key of keys) {
          await h.setStatus(key, 'ACTIVE');
          await h.sendResume(key);
        }
        const out = await h.waitForOutput(keys.length * 8 + liveIds.length);
        for (const key of keys) assert.deepEqual(idsOf(out, key), range(key, 1, 8), `key ${key}`);
        assert.deepEqual(idsOf(out, live), liveIds);
        assert.equal(out.length, keys.length * 8 + liveIds.length, 'no duplicates');
      } finally {
        await h.close();
      }
    });

    it(
      'bad records go to the dead-letter topic with reason and source topic, partition, offset; the flow carries on (rule 8)',
      TIMEOUT,
      scenario({}, async (h) => {
        const key = 'bad-input';
        const { main, trigger } = h.flow.topics;
        const bad: Array<{ topic: 'main' | 'trigger'; key: string | null; value: Buffer | null; reason: DeadLetterReason }> = [
          { topic: 'main', key: null, value: Buffer.from('{"id":"no-key","data":1}'), reason: 'MISSING_KEY' },
          { topic: 'main', key, value: Buffer.from('not json'), reason: 'INVALID_EVENT' },
          { topic: 'main', key, value: Buffer.from('{"data":"no id"}'), reason: 'INVALID_EVENT' },
          { topic: 'main', key, value: null, reason: 'INVALID_EVENT' },
          { topic: 'trigger', key, value: Buffer.from('{"action":"STOP"}'), reason: 'INVALID_COMMAND' },
        ];
        await h.sendEvent(key, 'good-1');
        for (const record of bad) await h.sendRaw(record.topic, record.key, record.value);
        await h.sendEvent(key, 'good-2');

        const dead = await h.waitForDeadLetters(bad.length);
        assert.equal(dead.length, bad.length);
        const seen = new Set<string>();
        for (const record of bad) {
          const match = dead.find((d) => sameBytes(d.value, record.value) && d.key === record.key);
          assert.ok(match, `dead letter for ${record.value?.toString() ?? 'null'} on ${record.topic}`);
          assert.equal(headerValue(match.headers, HEADERS.dlqReason), record.reason);
          assert.ok((headerValue(match.headers, HEADERS.dlqMessage) ?? '').length > 0, 'a message says what is wrong');
          assert.equal(headerValue(match.headers, HEADERS.sourceTopic), record.topic === 'main' ? main : trigger);
          const partition = Number(headerValue(match.headers, HEADERS.sourcePartition));
          const offset = Number(headerValue(match.headers, HEADERS.sourceOffset));
          assert.ok(Number.isInteger(partition) && partition >= 0 && partition < h.flow.partitions, `source partition ${partition}`);
          assert.ok(Number.isInteger(offset) && offset >= 0, `source offset ${offset}`);
          const source = `${record.topic}/${partition}/${offset}`;
          assert.ok(!seen.has(source), `each dead letter names its own source record (${source})`);
          seen.add(source);
        }
        const out = await h.waitForOutput(2);
        assert.deepEqual(idsOf(out, key), ['good-1', 'good-2']);
      }),
    );

    it(
      'a record too large to buffer goes to the dead-letter topic as RECORD_TOO_LARGE, without its value; order holds around it (rules 7, 8)',
      TIMEOUT,
      scenario({}, async (h) => {
        const key = 'outsized';
        // Under the broker's 1 MiB limit, over MAX_EVENT_BYTES (960000): its changelog copy would not fit.
        const huge = Buffer.from(JSON.stringify({ id: 'huge', data: 'x'.repeat(970_000) }));
        await h.setStatus(key, 'PAUSED');
        await h.sendEvent(key, 'held-1');
        await h.sendRaw('main', key, huge);
        await h.sendEvent(key, 'held-2');
        await until(h, 'both small events are buffered', async () => (await h.bufferCount(key)) === 2);
        const [dead] = await h.waitForDeadLetters(1);
        assert.equal(headerValue(dead!.headers, HEADERS.dlqReason), 'RECORD_TOO_LARGE');
        assert.equal(dead!.value, null, 'the value is left on the source topic');
        assert.equal(headerValue(dead!.headers, HEADERS.sourceTopic), h.flow.topics.main);
        assert.match(headerValue(dead!.headers, HEADERS.dlqMessage) ?? '', /MAX_EVENT_BYTES/);
        await h.setStatus(key, 'ACTIVE');
        await h.sendResume(key);
        assert.deepEqual(idsOf(await h.waitForOutput(2), key), ['held-1', 'held-2']);
      }),
    );

    it(
      'a key too long for any buffer goes to the dead-letter topic as KEY_TOO_LARGE while paused, and flows while active (rule 8)',
      TIMEOUT,
      scenario({}, async (h) => {
        const key = `long-${'k'.repeat(MAX_BUFFERED_KEY_BYTES)}`;
        await h.setStatus(key, 'PAUSED');
        await h.sendEvent(key, 'cannot-hold');
        const [dead] = await h.waitForDeadLetters(1);
        assert.equal(headerValue(dead!.headers, HEADERS.dlqReason), 'KEY_TOO_LARGE');
        assert.match(headerValue(dead!.headers, HEADERS.dlqMessage) ?? '', new RegExp(`at most ${MAX_BUFFERED_KEY_BYTES}`));
        await h.setStatus(key, 'ACTIVE');
        await h.sendEvent(key, 'passes');
        assert.deepEqual(idsOf(await h.waitForOutput(1), key), ['passes'], 'an active key needs no buffer');
      }),
    );

    it(
      'a large buffer drains in slices while another key keeps flowing, and new events of the draining key join its back (rule 7)',
      { timeout: 600_000 },
      scenario({ partitions: 1, drainSliceSize: 500 }, async (h) => {
        const size = Number(process.env.SCENARIO_BIG_BUFFER ?? 100_000);
        const [big, small] = ['big', 'small'];
        await h.setStatus(big, 'PAUSED');
        const buffered = range(big, 1, size);
        await sendAll(h, big, buffered);
        await until(h, `${size} events are buffered`, async () => (await h.bufferCount(big)) === size, 300_000);

        await h.setStatus(big, 'ACTIVE');
        await h.sendResume(big);
        const late = range(big, size + 1, size + 20);
        const smallIds = range(small, 1, 20);
        for (let i = 0; i < 20; i++) {
          await h.sendEvent(small, smallIds[i]!);
          await h.sendEvent(big, late[i]!);
        }
        const out = await h.waitForOutput(size + 40, 300_000);
        assert.deepEqual(idsOf(out, big), [...buffered, ...late]);
        assert.deepEqual(idsOf(out, small), smallIds);
        const byOffset = [...out].sort((a, b) => a.offset - b.offset);
        const firstSmall = byOffset.findIndex((r) => r.key === small);
        const lastBuffered = byOffset.findIndex((r) => r.id === buffered[size - 1]);
        assert.ok(firstSmall < lastBuffered, `the other key flows during the drain (first small event at ${firstSmall}, drain ends at ${lastBuffered})`);
      }),
    );

    it(
      'faithful forwarding: key, value bytes, headers and timestamp are kept, straight through and through the buffer (rule 6)',
      TIMEOUT,
      scenario({}, async (h) => {
        const headers: Header[] = [
          { key: 'trace-id', value: Buffer.from('abc-123') },
          { key: 'binary', value: Buffer.from([0, 255, 1, 128]) },
          { key: 'trace-id', value: Buffer.from('repeated keys keep their order') },
        ];
        const timestamp = 1_600_000_000_123;
        const data = { amount: 12.5, note: 'café ✓', nested: [1, null, { x: true }] };
        const raw = (id: string) => Buffer.from(`{ "id" : "${id}", "data": "\\u00e9 é",  "timestamp": 7 }  `);
        const [direct, held] = ['faithful-direct', 'faithful-held'];
        await h.setStatus(held, 'PAUSED');
        for (const key of [direct, held]) {
          await h.sendEvent(key, `${key}-1`, { data, headers, timestamp });
          await h.sendRaw('main', key, raw(`${key}-raw`));
        }
        await until(h, 'the paused key holds both', async () => (await h.bufferCount(held)) === 2);
        await h.setStatus(held, 'ACTIVE');
        await h.sendResume(held);

        const out = await h.waitForOutput(4);
        for (const key of [direct, held]) {
          const [event, rawEvent] = out.filter((r) => r.key === key).sort((a, b) => a.offset - b.offset);
          assert.ok(event && rawEvent, `both events of ${key} on the output`);
          assert.equal(event.id, `${key}-1`);
          assert.deepEqual(comparableHeaders(event.headers), comparableHeaders(headers), `${key}: headers`);
          assert.equal(event.timestamp, timestamp, `${key}: original timestamp`);
          assert.deepEqual(JSON.parse(event.value!.toString('utf8')).data, data);
          assert.ok(sameBytes(rawEvent.value, raw(`${key}-raw`)), `${key}: value bytes unchanged`);
        }
      }),
    );

    it(
      'BUFFER_FULL: at a configured per-key capacity, further events go to the dead-letter topic; the rest drain in order (rule 7)',
      TIMEOUT,
      scenario({ maxBufferPerKey: 5 }, async (h) => {
        const [capped, other] = ['capped', 'capped-other'];
        const ids = range(capped, 1, 8);
        await h.setStatus(capped, 'PAUSED');
        await sendAll(h, capped, ids);
        await h.sendEvent(other, `${other}-1`);
        const dead = await h.waitForDeadLetters(3);
        assert.deepEqual(dead.map((d) => d.id), ids.slice(5));
        for (const d of dead) assert.equal(headerValue(d.headers, HEADERS.dlqReason), 'BUFFER_FULL');
        assert.equal(await h.bufferCount(capped), 5);

        await h.setStatus(capped, 'ACTIVE');
        await h.sendResume(capped);
        const out = await h.waitForOutput(6);
        assert.deepEqual(idsOf(out, capped), ids.slice(0, 5));
        assert.deepEqual(idsOf(out, other), [`${other}-1`]);
      }),
    );
  });
}

/** `${prefix}-${from}` .. `${prefix}-${to}`. */
function range(prefix: string, from: number, to: number): string[] {
  return Array.from({ length: to - from + 1 }, (_, i) => `${prefix}-${from + i}`);
}

/** Sends a key's events in order, up to 1000 in flight. */
async function sendAll(h: ScenarioHarness, key: string, ids: readonly string[]): Promise<void> {
  for (let i = 0; i < ids.length; i += 1000) await Promise.all(ids.slice(i, i + 1000).map((id) => h.sendEvent(key, id)));
}

/** Checks, letting time pass between tries, until `check` holds. */
async function until(h: ScenarioHarness, what: string, check: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const step = 100;
  for (let waited = 0; !(await check()); waited += step) {
    if (waited >= timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting until ${what}`);
    await h.elapse(step);
  }
}

/** The event ids of a key's output records, in output (offset) order. */
function idsOf(records: readonly OutRecord[], key: string): Array<string | undefined> {
  return records.filter((r) => r.key === key).sort((a, b) => a.offset - b.offset).map((r) => r.id);
}

/** At-least-once: drops repeats, keeping first occurrences. */
function dedupe(ids: ReadonlyArray<string | undefined>): Array<string | undefined> {
  return [...new Set(ids)];
}

function sameBytes(a: Buffer | null, b: Buffer | null): boolean {
  return a === null || b === null ? a === b : Buffer.compare(a, b) === 0;
}

function comparableHeaders(headers: readonly Header[]): Array<[string, string]> {
  return headers.map((header) => [header.key, Buffer.from(header.value).toString('hex')]);
}
