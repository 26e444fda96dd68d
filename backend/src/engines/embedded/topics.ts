/**
 * A flow's six topics on the embedded cluster, all with the flow's partition count (main and
 * trigger co-partitioned by construction, rule 9). Inputs, output and dead letters keep their
 * last records; the status topic and the changelog are compacted.
 */
import type { FlowDefinition } from '../../config/config.ts';
import type { EmbeddedCluster } from './cluster.ts';

/** Records a delete-policy partition keeps (unconsumed input is kept regardless). */
export const RETAINED_RECORDS = 100_000;

export function createFlowTopics(cluster: EmbeddedCluster, flow: FlowDefinition): void {
  const { main, trigger, status, output, dlq, changelog } = flow.topics;
  const partitions = flow.partitions;
  try {
    for (const topic of [main, trigger, output, dlq]) {
      cluster.createTopic(topic, { partitions, cleanup: 'delete', retainRecords: RETAINED_RECORDS });
    }
    cluster.createTopic(status, { partitions, cleanup: 'compact' });
    cluster.createTopic(changelog, { partitions, cleanup: 'compact', dropTombstones: true });
  } catch (error) {
    throw new Error(`flow ${flow.id} (partitions ${partitions}): ${(error as Error).message}`, { cause: error });
  }
}
