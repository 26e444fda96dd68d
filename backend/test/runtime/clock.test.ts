import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { systemClock, VirtualClock } from '../../src/runtime/clock.ts';

describe('VirtualClock', () => {
  test('timers fire in time order, ties in the order they were set, and chains run between them', async () => {
    const clock = new VirtualClock(1000);
    const seen: string[] = [];
    const loop = async (name: string, every: number, times: number): Promise<void> => {
      for (let i = 0; i < times; i++) {
        await clock.sleep(every);
        // Work after the wake, through a few awaits, happens before the next timer fires.
        await Promise.resolve();
        seen.push(`${name}@${clock.now()}`);
      }
    };
    const a = loop('a', 30, 3);
    const b = loop('b', 45, 2);
    const c = loop('c', 30, 1);
    await clock.advance(100);
    await Promise.all([a, b, c]);
    assert.deepEqual(seen, ['a@1030', 'c@1030', 'b@1045', 'a@1060', 'b@1090', 'a@1090']);
    assert.equal(clock.now(), 1100);
    assert.equal(clock.pending, 0);
  });

  test('advance stops at its target: later timers wait; an aborted sleep resolves at once', async () => {
    const clock = new VirtualClock();
    let woke = false;
    void clock.sleep(500).then(() => (woke = true));
    await clock.advance(499);
    assert.equal(woke, false);
    await clock.advance(1);
    assert.equal(woke, true);

    const controller = new AbortController();
    const sleeping = clock.sleep(10_000, controller.signal);
    controller.abort();
    await sleeping;
    assert.equal(clock.pending, 0);
    await assert.rejects(clock.advance(-1), RangeError);
  });
});

describe('systemClock', () => {
  test('sleeps on real time and wakes early on abort', async () => {
    const started = Date.now();
    await systemClock.sleep(20);
    assert.ok(Date.now() - started >= 15);
    const controller = new AbortController();
    const sleeping = systemClock.sleep(60_000, controller.signal);
    controller.abort();
    await sleeping;
    assert.ok(Date.now() - started < 5000);
  });
});
