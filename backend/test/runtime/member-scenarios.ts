/**
 * Directed scenarios of the production runtime over the in-memory log, for states the random
 * fault simulation reaches too rarely to rely on. Each returns what came out; the member tests
 * run them on FlowMember, the planted-bug test on a copy with a bug (runtime-mutants.ts).
 */
import type { ProcessingGuarantee } from '../../src/config/config.ts';
import type { FlowMember } from '../../src/engines/stream/flow-member.ts';
import type { ProcessorFactory } from '../../src/runtime/engine.ts';
import { encodeEvent } from '../../src/model/wire.ts';
import { encodeEntryKey, encodeEntryValue } from '../../src/stores/buffer-codec.ts';
import { World } from './memory-world.ts';

/**
 * at_least_once, the state a crash can leave: the changelog holds the append of input offset 1
 * (delivered), the group's committed offset is still 0, and the key is ACTIVE. A broker serves
 * the replayed input a moment after the assignment (fetch latency), so the punctuator sees the
 * restored entry first: without the trim of entries ahead of the committed offset it drains e1
 * ahead of e0 (rule 1). The same state as the broker test of engine.test.ts, without a broker.
 * Returns the ids on the output, in order.
 */
export async function entryAheadOfCommittedOffset(member?: typeof FlowMember): Promise<string[]> {
  let main = '';
  const world = new World({
    guarantee: 'at_least_once',
    partitions: 1,
    runtime: { punctuateIntervalMs: 100 },
    faults: { fetchLag: (topic) => (topic === main ? 1000 : 0) },
    ...(member === undefined ? {} : { member }),
  });
  main = world.flow.topics.main;
  const key = 'ahead';
  for (const id of ['e0', 'e1', 'e2']) world.send(key, id);
  const e1 = { seq: 1, key, value: encodeEvent({ id: 'e1', data: 'e1' }), headers: [], timestamp: world.clock.now() };
  world.cluster.produce({ topic: world.flow.topics.changelog, partition: 0, key: encodeEntryKey(key, 1), value: encodeEntryValue(e1), headers: [], timestamp: world.clock.now() });
  world.cluster.commit([], [{ group: `${world.runtime.applicationId}-${world.flow.id}`, topic: main, partition: 0, offset: 0 }]);
  world.start('a');
  try {
    await world.until('three records out', () => world.outputCount() >= 3, 30_000).catch(() => undefined);
    await world.run(2000);
    return world.output().get(key) ?? [];
  } finally {
    await world.stop('a').catch(() => undefined);
    world.dispose();
  }
}

/**
 * A resume command written before a newer pause, processed after it (issue 8, finding 2): no
 * instance runs while an operator resumes a key and pauses it again, and an event arrives 6 s
 * after that pause; then an instance starts and its broker serves the trigger partition 2 s
 * after main (fetch latency). The command must not drain past the newer pause: nothing of the
 * key may come out until the next resume. Returns the key's ids on the output before that resume
 * and after it.
 */
export async function commandBeforeNewerPause(options: { guarantee?: ProcessingGuarantee; processor?: ProcessorFactory } = {}): Promise<{ whilePaused: string[]; afterResume: string[] }> {
  let trigger = '';
  const world = new World({
    guarantee: options.guarantee ?? 'exactly_once',
    partitions: 1,
    faults: { fetchLag: (topic) => (topic === trigger ? 2000 : 0) },
    ...(options.processor === undefined ? {} : { processor: options.processor }),
  });
  trigger = world.flow.topics.trigger;
  const key = 'K';
  world.pause(key);
  world.send(key, 'K-0');
  await world.run(1000);
  world.resume(key); // ACTIVE, then the command naming it
  await world.run(1000);
  world.pause(key); // newer than the command
  await world.run(6000);
  world.send(key, 'K-1');
  world.start('a');
  try {
    await world.until('a ready', () => world.ready('a'), 30_000);
    await world.run(5000);
    const whilePaused = world.output().get(key) ?? [];
    world.resume(key);
    await world.until('K drained', () => (world.output().get(key)?.length ?? 0) >= whilePaused.length + 2, 30_000).catch(() => undefined);
    return { whilePaused, afterResume: (world.output().get(key) ?? []).slice(whilePaused.length) };
  } finally {
    await world.stop('a').catch(() => undefined);
    world.dispose();
  }
}

/**
 * exactly_once, a kill -9 in the middle of a drain, with the store's commit checkpoint (issue 10)
 * in play: 300 events of one key buffered, a resume, and the instance killed 250 ms into the drain
 * (between two commits; slices of 3 events per step). The restarted instance opens its store at
 * its last commit checkpoint and restores the changelog after it. Returns the key's ids on the
 * output, in order: all 300, once each, in order, if the checkpoint only ever covers committed writes.
 */
export async function killMidDrainAfterCheckpoint(member?: typeof FlowMember): Promise<{ sent: string[]; out: string[]; atKill: number }> {
  // Each poll takes 5 ms: the drain (3 events a step) spans several commits.
  const world = new World({
    guarantee: 'exactly_once',
    partitions: 1,
    faults: { before: (call) => (call === 'consume' ? 5 : undefined) },
    ...(member === undefined ? {} : { member }),
  });
  const key = 'D';
  const sent = Array.from({ length: 300 }, (_, i) => `D-${i}`);
  world.pause(key);
  world.start('a');
  try {
    await world.until('a ready', () => world.ready('a'), 30_000);
    for (const id of sent) world.send(key, id);
    await world.run(3000);
    world.resume(key);
    await world.until('the drain under way', () => world.outputCount() > 0, 30_000);
    await world.run(250);
    const atKill = world.outputCount();
    world.kill('a');
    world.start('a');
    await world.until('all out', () => world.outputCount() >= sent.length, 60_000).catch(() => undefined);
    await world.run(2000);
    return { sent, out: world.output().get(key) ?? [], atKill };
  } finally {
    await world.stop('a').catch(() => undefined);
    world.dispose();
  }
}

/**
 * A zombie's commit checkpoint (found by the chaos run of CI, seed 766249762: 13 events of a key
 * out twice under exactly_once). Member a commits with ownership proven and asks the broker for
 * the changelog's end, for its commit checkpoint; the process freezes before the answer. Its
 * session expires, b takes the partition over, the key is resumed and b drains it (tombstones in
 * the changelog). Only then does a hear the end: b's records are below it. Were a to record that
 * end as its checkpoint, a later owner-again a would restore nothing of b's drain and drain the key
 * a second time. Returns the key's ids on the output, in order.
 */
export async function frozenWhileReadingCheckpointEnd(options: { guarantee?: ProcessingGuarantee; member?: typeof FlowMember } = {}): Promise<{ sent: string[]; out: string[]; frozeOnEnd: boolean }> {
  let freezeOnEnd = false;
  let frozeOnEnd = false;
  const world: World = new World({
    guarantee: options.guarantee ?? 'exactly_once',
    partitions: 1,
    faults: {
      before(call, client) {
        if (!freezeOnEnd || call !== 'listOffsets' || client.process !== 'a' || !client.clientId.endsWith('/admin')) return;
        freezeOnEnd = false;
        frozeOnEnd = true;
        world.instances.get('a')!.clients.freeze(true);
        return 30_000; // the answer arrives after b's drain
      },
    },
    ...(options.member === undefined ? {} : { member: options.member }),
  });
  const key = 'K';
  const sent = Array.from({ length: 5 }, (_, i) => `K-${i}`);
  world.pause(key);
  world.start('a');
  try {
    await world.until('a ready', () => world.ready('a'), 30_000);
    world.start('b');
    await world.until('b ready', () => world.ready('b'), 30_000);
    await world.until('a owns the partition', () => world.instances.get('a')!.member.partitionsOwned.length === 1, 30_000);
    for (const id of sent) world.send(key, id);
    await world.until('buffered and committed', () => world.committedMain()[0] === sent.length, 30_000);
    await world.run(1000);
    freezeOnEnd = true;
    world.send('other', 'other-0'); // a commit, then a commit checkpoint
    await world.until('a frozen on the end offsets', () => frozeOnEnd, 30_000);
    await world.until('b owns the partition', () => world.instances.get('b')!.member.partitionsOwned.length === 1, 30_000);
    world.resume(key);
    await world.until('b drained the key', () => (world.output().get(key)?.length ?? 0) >= sent.length, 30_000);
    await world.run(30_000); // a hears the end offsets
    world.instances.get('a')!.clients.freeze(false);
    await world.run(3000);
    await world.stop('b'); // a owns the partition again, from its store
    await world.until('a owns the partition again', () => world.instances.get('a')!.member.partitionsOwned.length === 1, 30_000);
    await world.run(5000);
    return { sent, out: world.output().get(key) ?? [], frozeOnEnd };
  } finally {
    await world.stop('a').catch(() => undefined);
    await world.stop('b').catch(() => undefined);
    world.dispose();
  }
}
