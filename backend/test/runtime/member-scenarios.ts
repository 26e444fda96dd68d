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
