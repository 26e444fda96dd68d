/**
 * The production runtime (FlowMember, StatusFollower, readToEnd) without a broker: over the
 * in-memory log adapter, on virtual time. Members join and leave, die (kill -9) and freeze
 * (zombies), and the output must still be every event once, in per-key order (rules 1-5, 11).
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { commandBeforeNewerPause, entryAheadOfCommittedOffset, frozenWhileReadingCheckpointEnd, killMidDrainAfterCheckpoint } from './member-scenarios.ts';
import { encodeEvent } from '../../src/model/wire.ts';
import { LogClientError } from '../../src/runtime/log/errors.ts';
import { encodeEntryKey, encodeEntryValue } from '../../src/stores/buffer-codec.ts';
import { World } from './memory-world.ts';

const worlds: World[] = [];
after(() => worlds.forEach((world) => world.dispose()));
const track = (world: World): World => (worlds.push(world), world);

function expected(keys: readonly string[], perKey: number): Map<string, string[]> {
  return new Map(keys.map((key) => [key, Array.from({ length: perKey }, (_, i) => `${key}-${i}`)]));
}

function sorted(map: Map<string, string[]>): Array<[string, string[]]> {
  return [...map].sort(([a], [b]) => (a < b ? -1 : 1));
}

describe('FlowMember over the in-memory log (no broker, virtual time)', () => {
  for (const guarantee of ['exactly_once', 'at_least_once'] as const) {
    test(`${guarantee}, STANDBY_REPLICAS=1: the survivor of a kill -9 takes the partitions over from its standby stores; every event once, in order`, async () => {
      const world = track(new World({ guarantee, partitions: 2, runtime: { standbyReplicas: 1 } }));
      world.start('a');
      await world.until('a ready', () => world.ready('a'));
      world.start('b');
      await world.until('both own a partition', () => world.instances.get('a')!.member.partitionsOwned.length === 1 && world.instances.get('b')?.member.partitionsOwned.length === 1);
      const keys = ['p', 'q', 'r', 's'];
      for (const key of keys) world.pause(key);
      await world.run(500);
      const sent = expected(keys, 40);
      for (let i = 0; i < 40; i++) for (const key of keys) world.send(key, `${key}-${i}`);
      const b = world.instances.get('b')!.member;
      const ownedByA = world.instances.get('a')!.member.partitionsOwned;
      await world.until('b follows a\'s partition', () => b.standbyPartitions.join() === ownedByA.join());
      await world.run(3000);
      assert.equal(b.standbyLag(), 0, 'b\'s standby caught up');
      world.kill('a');
      await world.until('b owns both partitions', () => b.partitionsOwned.length === 2, 30_000);
      assert.equal(b.standbyHandovers, 1, 'a\'s partition came from b\'s standby store');
      assert.deepEqual(b.standbyPartitions, []);
      for (const key of keys) world.resume(key);
      await world.until('every event out', () => world.outputCount() >= 160, 30_000);
      await world.run(500);
      const out = world.output();
      if (guarantee === 'at_least_once') for (const [key, ids] of out) out.set(key, ids.filter((id, i) => ids.indexOf(id) === i));
      assert.deepEqual(sorted(out), sorted(sent));
      await world.stop('b');
    });
  }

  test('events flow; a paused key buffers; the resume drains its buffer first, in order; offsets are committed', async () => {
    const world = track(new World());
    world.start('a');
    await world.until('a ready', () => world.ready('a'));
    for (let i = 0; i < 3; i++) world.send('K', `K-${i}`);
    world.send('O', 'O-0');
    await world.until('4 forwarded', () => world.outputCount() === 4);
    world.pause('K');
    await world.run(500);
    for (let i = 3; i < 8; i++) world.send('K', `K-${i}`);
    world.send('O', 'O-1');
    await world.until('O-1 forwarded', () => world.outputCount() === 5);
    await world.run(2000);
    assert.deepEqual(world.output().get('K'), ['K-0', 'K-1', 'K-2'], 'nothing of K forwarded while paused');
    world.resume('K');
    world.send('K', 'K-8');
    await world.until('K drained', () => world.output().get('K')?.length === 9);
    assert.deepEqual(world.output().get('K'), Array.from({ length: 9 }, (_, i) => `K-${i}`));
    await world.run(500);
    assert.equal(world.committedMain().reduce((a, b) => a + b, 0), 11, 'every input offset committed');
    await world.stop('a');
  });

  for (const guarantee of ['exactly_once', 'at_least_once'] as const) {
    test(`${guarantee}: instances join, one is killed -9 and one leaves; every event once, in order`, async () => {
      const world = track(new World({ guarantee }));
      const keys = ['a', 'b', 'c', 'd', 'e', 'f'];
      world.start('x');
      await world.until('x ready', () => world.ready('x'));
      let next = 0;
      const round = (n: number): void => {
        for (let i = 0; i < n; i++) for (const key of keys) world.send(key, `${key}-${next + i}`);
        next += n;
      };
      round(5);
      world.pause('c');
      await world.run(300);
      round(5);
      world.start('y');
      await world.until('y ready', () => world.ready('y'));
      round(5);
      await world.run(300);
      world.kill('x');
      round(5);
      await world.run(8000); // past the session timeout: y takes x's partitions
      world.start('z');
      round(5);
      await world.until('z ready', () => world.ready('z'));
      world.resume('c');
      round(5);
      await world.stop('y');
      round(5);
      await world.until('every event out', () => world.outputCount() >= keys.length * next, 120_000);
      await world.run(1000);
      const out = world.output();
      if (guarantee === 'exactly_once') {
        assert.deepEqual(sorted(out), sorted(expected(keys, next)));
      } else {
        // at_least_once: a replayed suffix may repeat; without repeats the order is exact (rule 1).
        const deduped = new Map([...out].map(([key, ids]) => [key, ids.filter((id, i) => ids.indexOf(id) === i)]));
        assert.deepEqual(sorted(deduped), sorted(expected(keys, next)));
      }
      await world.stop('z');
    });
  }

  test('a zombie (frozen past its session) is fenced when it comes back: no duplicate, and it rejoins', async () => {
    const world = track(new World());
    const keys = ['p', 'q', 'r', 's'];
    world.start('one');
    world.start('two');
    await world.until('both ready', () => world.ready('one') && world.ready('two'));
    let next = 0;
    const round = (n: number): void => {
      for (let i = 0; i < n; i++) for (const key of keys) world.send(key, `${key}-${next + i}`);
      next += n;
    };
    round(5);
    await world.run(50);
    world.instances.get('one')!.clients.freeze(true);
    round(5);
    await world.run(10_000);
    round(5);
    world.instances.get('one')!.clients.freeze(false);
    round(5);
    await world.until('every event out', () => world.outputCount() >= keys.length * next);
    await world.until('both ready again', () => world.ready('one') && world.ready('two'), 60_000);
    round(3);
    await world.until('the last round out', () => world.outputCount() >= keys.length * next);
    await world.run(1000);
    assert.deepEqual(sorted(world.output()), sorted(expected(keys, next)));
    await world.stop('one');
    await world.stop('two');
  });

  test('at_least_once: a member frozen during its restore, and expired meanwhile, deletes nothing the new owner buffered', async () => {
    // Found by the fault simulation (4 events lost): after the thaw the zombie finished its
    // restore and trimmed the entries ahead of the committed offsets it had read before the
    // freeze: the new owner's, with tombstones no transaction fences.
    let freezeOnRestore = false;
    const world: World = track(
      new World({
        guarantee: 'at_least_once',
        partitions: 1,
        faults: {
          before(_call, client) {
            if (freezeOnRestore && client.process === 'a' && client.clientId.includes('-restore-')) {
              freezeOnRestore = false;
              world.instances.get('a')!.clients.freeze(true);
            }
          },
        },
      }),
    );
    world.start('a');
    await world.until('a ready', () => world.ready('a'));
    world.pause('K');
    await world.run(4000);
    world.send('K', 'K-0');
    world.send('K', 'K-1');
    await world.until('both buffered and committed', () => world.committedMain()[0] === 2);
    freezeOnRestore = true;
    world.start('b'); // the rebalance gives the partition to a again (range order): a restores, and freezes
    await world.until('a frozen', () => !freezeOnRestore);
    await world.until('b owns the partition', () => world.instances.get('b')!.member.partitionsOwned.length === 1, 30_000);
    world.send('K', 'K-2');
    world.send('K', 'K-3');
    await world.until('b buffered and committed them', () => world.committedMain()[0] === 4);
    world.instances.get('a')!.clients.freeze(false);
    await world.run(3000);
    // b's store is lost: the next owner has only the changelog.
    world.kill('b');
    world.start('c');
    await world.until('a and c ready', () => world.ready('a') && world.ready('c'), 60_000);
    world.resume('K');
    await world.until('K drained', () => (world.output().get('K')?.length ?? 0) >= 4, 30_000).catch(() => undefined);
    assert.deepEqual(world.output().get('K'), ['K-0', 'K-1', 'K-2', 'K-3']);
    await world.stop('a');
    await world.stop('c');
  });

  test('at_least_once: a member frozen while the commit proving its ownership is answered trims nothing after the thaw (no entry of the new owner deleted)', async () => {
    // The trim's tombstones are fenced by nothing: the proof must still hold once the answer is in.
    let freezeOnProof = false;
    const world: World = track(
      new World({
        guarantee: 'at_least_once',
        partitions: 1,
        faults: {
          after(call, client) {
            if (!freezeOnProof || call !== 'commit' || client.process !== 'a') return;
            freezeOnProof = false;
            world.instances.get('a')!.clients.freeze(true); // the answer comes after the thaw
          },
        },
      }),
    );
    const main = world.flow.topics.main;
    const group = `${world.runtime.applicationId}-${world.flow.id}`;
    world.pause('K');
    world.send('K', 'e0');
    world.send('K', 'e1');
    // A crash left the append of e1 (offset 1) in the changelog, the group's offset still at 0.
    const e1 = { seq: 1, key: 'K', value: encodeEvent({ id: 'e1', data: 'e1' }), headers: [], timestamp: world.clock.now() };
    world.cluster.produce({ topic: world.flow.topics.changelog, partition: 0, key: encodeEntryKey('K', 1), value: encodeEntryValue(e1), headers: [], timestamp: world.clock.now() });
    world.cluster.commit([], [{ group, topic: main, partition: 0, offset: 0 }]);
    await world.run(4000); // the pause is old enough to hold e0 and e1
    freezeOnProof = true;
    world.start('a'); // restores e1, proves its ownership (a commit) before the trim: frozen on the answer
    await world.until('a frozen on the proof', () => !freezeOnProof, 30_000);
    world.start('b');
    await world.until('b buffered e0 and e1 again and committed', () => world.committedMain()[0] === 2, 60_000);
    world.instances.get('a')!.clients.freeze(false);
    await world.run(5000);
    // b's store is lost: the next owner has only the changelog.
    world.kill('b');
    world.start('c');
    await world.until('c owns the partition', () => world.instances.get('c')!.member.partitionsOwned.length === 1 || world.instances.get('a')!.member.partitionsOwned.length === 1, 60_000);
    world.resume('K');
    await world.until('K drained', () => (world.output().get('K')?.length ?? 0) >= 2, 30_000).catch(() => undefined);
    await world.run(1000);
    assert.deepEqual(world.output().get('K'), ['e0', 'e1']);
    await world.stop('a');
    await world.stop('c');
  });

  test('a broker restart that leaves every client of an instance stuck: it renews them all, and processes again', async () => {
    // Issue 8, finding 1, in the simulation: polls return nothing, every other call times out,
    // heartbeats go on (the group keeps the partitions with the stuck member). The status
    // follower's admin client was kept across its renewals: the end offsets stayed unknown and
    // the member held its input for good (found by the fault simulation).
    const world = track(new World({ partitions: 2 }));
    world.start('a');
    await world.until('a ready', () => world.ready('a'));
    world.send('K', 'K-0');
    await world.until('K-0 out', () => world.outputCount() === 1);
    assert.ok(world.instances.get('a')!.clients.wedge() >= 4, 'consumer, producer and admin clients of the member and the follower');
    for (let i = 1; i < 5; i++) world.send('K', `K-${i}`);
    await world.until('every event out', () => world.outputCount() >= 5, 120_000);
    await world.until('a ready again', () => world.ready('a'), 60_000);
    assert.deepEqual(world.output().get('K'), ['K-0', 'K-1', 'K-2', 'K-3', 'K-4']);
    await world.stop('a');
  });

  test('kill -9 mid-drain: the restart opens the store at its commit checkpoint, restores the tail, and drains the rest exactly once in order', async () => {
    const { sent, out, atKill } = await killMidDrainAfterCheckpoint();
    assert.ok(atKill > 0 && atKill < sent.length, `the kill came mid-drain (${atKill} of ${sent.length} out)`);
    assert.deepEqual(out, sent);
  });

  for (const guarantee of ['exactly_once', 'at_least_once'] as const) {
    test(`${guarantee}: a member frozen while it reads the changelog end for its commit checkpoint records no end the next owner wrote below (no second drain)`, async () => {
      const { sent, out, frozeOnEnd } = await frozenWhileReadingCheckpointEnd({ guarantee });
      assert.ok(frozeOnEnd, 'the freeze came on the end offsets of the commit checkpoint');
      assert.deepEqual(out, sent);
    });
  }

  test('exactly_once: an aborted transaction rebuilds the stores from their commit checkpoints: only the changelog tail is read again', async () => {
    let failNextCommit = false;
    const world = track(
      new World({
        partitions: 1,
        faults: {
          before(call, client) {
            if (!failNextCommit || call !== 'commitTransaction' || client.process !== 'a') return;
            failNextCommit = false;
            throw new LogClientError('TXN_ABORTABLE', 'abortable', 'injected: the transaction must be aborted');
          },
        },
      }),
    );
    world.pause('K');
    world.start('a');
    await world.until('a ready', () => world.ready('a'));
    const sent = Array.from({ length: 3000 }, (_, i) => `K-${i}`);
    for (const id of sent.slice(0, 2990)) world.send('K', id);
    await world.until('buffered and committed', () => world.committedMain()[0] === 2990);
    await world.run(2000); // a commit checkpoint
    const member = world.instances.get('a')!.member;
    const before = member.restoredRecords;
    failNextCommit = true;
    for (const id of sent.slice(2990)) world.send('K', id); // buffered in the transaction that aborts
    await world.until('the abort came', () => !failNextCommit);
    await world.until('buffered again and committed', () => world.committedMain()[0] === 3000, 30_000);
    const restored = member.restoredRecords - before;
    assert.ok(restored < 100, `the recovery read ${restored} changelog records again (the whole changelog: about 3,000)`);
    assert.ok(world.disk.abandonedAtCheckpoint > 0, 'the store was abandoned at its commit checkpoint');
    assert.equal(member.bufferedEvents, 3000, 'the reopened task counts its store when first asked');
    world.send('K', 'K-3000'); // counted on top of that count
    sent.push('K-3000');
    await world.until('one more buffered', () => member.bufferedEvents === 3001, 10_000);
    world.resume('K');
    await world.until('K drained', () => (world.output().get('K')?.length ?? 0) >= sent.length, 60_000).catch(() => undefined);
    await world.run(1000);
    assert.deepEqual(world.output().get('K'), sent);
    assert.equal(member.bufferedEvents, 0);
    await world.stop('a');
  });

  for (const guarantee of ['exactly_once', 'at_least_once'] as const) {
    test(`${guarantee}, handler mode: a key made ACTIVE without a command reaches the handler by punctuation, with no more input (rule 4)`, async () => {
      const handled: string[] = [];
      const world = track(
        new World({
          guarantee,
          partitions: 1,
          handler: {
            handle: async (event) => void handled.push(JSON.parse(event.value!.toString()).id as string),
            retries: 0,
            backoffMs: 10,
            concurrency: 1,
            timeoutMs: 1000,
          },
        }),
      );
      world.pause('K');
      world.start('a');
      await world.until('a ready', () => world.ready('a'));
      // No more than one drain slice (3): the punctuation drains the whole buffer by itself.
      const sent = ['K-0', 'K-1', 'K-2'];
      for (const id of sent) world.send('K', id);
      await world.until('buffered and committed', () => world.committedMain()[0] === sent.length);
      await world.run(300); // a commit checkpoint owed
      world.activate('K');
      await world.until('handled', () => handled.length >= sent.length, 10_000).catch(() => undefined);
      assert.deepEqual(handled, sent);
      await world.stop('a');
    });
  }

  test('at_least_once: an entry restored ahead of the committed offset is dropped, so the replay keeps the order (rule 1)', async () => {
    assert.deepEqual(await entryAheadOfCommittedOffset(), ['e0', 'e1', 'e2']);
  });

  for (const guarantee of ['exactly_once', 'at_least_once'] as const) {
    test(`${guarantee}: a resume command processed after a newer pause drains nothing; the next resume drains in order (rule 3)`, async () => {
      assert.deepEqual(await commandBeforeNewerPause({ guarantee }), { whilePaused: [], afterResume: ['K-0', 'K-1'] });
    });
  }
});
