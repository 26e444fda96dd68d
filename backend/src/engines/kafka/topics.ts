/**
 * A flow's topics on a broker, created the way scripts/init_topics.sh creates them (tests and
 * benchmarks). The startup check is engine-independent: engines/stream/topics.ts.
 */
import type { FlowDefinition } from '../../config/config.ts';
import type { ClientAdmin } from './client.ts';

/** Creates a flow's topics as scripts/init_topics.sh does (existing topics are left alone). */
export async function createFlowTopics(admin: ClientAdmin, flow: FlowDefinition, partitions = flow.partitions): Promise<void> {
  const compacted = { 'cleanup.policy': 'compact' };
  const { topics } = flow;
  await admin.createTopics([
    { name: topics.main, partitions },
    { name: topics.trigger, partitions },
    { name: topics.status, partitions, config: compacted },
    { name: topics.output, partitions },
    { name: topics.dlq, partitions },
    { name: topics.changelog, partitions, config: compacted },
  ]);
  // Creation is asynchronous on the broker: wait until every topic shows in its metadata.
  const deadline = Date.now() + 15_000;
  for (;;) {
    const infos = await admin.describeTopics(Object.values(topics));
    if (infos.every((t) => t.partitions !== undefined)) return;
    if (Date.now() > deadline) throw new Error(`flow "${flow.id}": topics not visible 15 s after creating them`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

export async function deleteFlowTopics(admin: ClientAdmin, flow: FlowDefinition): Promise<void> {
  await admin.deleteTopics(Object.values(flow.topics));
}
