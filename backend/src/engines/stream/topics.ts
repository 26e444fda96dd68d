/**
 * A flow's topics, checked at startup through the log-client port (rule 9: co-partitioning).
 * Creating them on a broker is the Kafka adapter's (engines/kafka/topics.ts).
 */
import type { FlowDefinition } from '../../config/config.ts';
import type { LogAdmin } from '../../runtime/log/port.ts';

/** Stable codes for why the Kafka engine refused to start. */
export type KafkaStartupErrorCode = 'MISSING_TOPICS' | 'NOT_CO_PARTITIONED' | 'CHANGELOG_PARTITIONS' | 'UNDER_REPLICATED';

export class KafkaStartupError extends Error {
  readonly code: KafkaStartupErrorCode;
  constructor(code: KafkaStartupErrorCode, message: string) {
    super(message);
    this.name = 'KafkaStartupError';
    this.code = code;
  }
}

export interface FlowLayout {
  /** Partition count of main, trigger and changelog (they must agree). */
  readonly partitions: number;
  /** Partition count of every topic of the flow. */
  readonly topicPartitions: ReadonlyMap<string, number>;
}

/**
 * Checks that a flow's topics exist, that main, trigger and changelog are co-partitioned, and
 * that every topic has at least `minReplication` replicas (MIN_REPLICATION_FACTOR).
 */
export async function checkFlowTopics(admin: Pick<LogAdmin, 'describeTopics'>, flow: FlowDefinition, minReplication = 1): Promise<FlowLayout> {
  const { topics } = flow;
  const infos = await admin.describeTopics(Object.values(topics));
  const missing = infos.filter((t) => t.partitions === undefined).map((t) => t.name);
  if (missing.length > 0) {
    throw new KafkaStartupError(
      'MISSING_TOPICS',
      `flow "${flow.id}": topic(s) ${missing.join(', ')} do not exist; create them with scripts/init_topics.sh`,
    );
  }
  const thin = infos.filter((t) => t.replicationFactor !== undefined && t.replicationFactor < minReplication);
  if (thin.length > 0) {
    throw new KafkaStartupError(
      'UNDER_REPLICATED',
      `flow "${flow.id}": ${thin.map((t) => `${t.name} has ${t.replicationFactor} replica${t.replicationFactor === 1 ? '' : 's'}`).join(', ')}; ` +
        `MIN_REPLICATION_FACTOR asks for at least ${minReplication} (create topics with scripts/init_topics.sh --replication-factor ${minReplication}, or add replicas with kafka-reassign-partitions)`,
    );
  }
  const counts = new Map(infos.map((t) => [t.name, t.partitions!]));
  const main = counts.get(topics.main)!;
  const trigger = counts.get(topics.trigger)!;
  if (main !== trigger) {
    throw new KafkaStartupError(
      'NOT_CO_PARTITIONED',
      `flow "${flow.id}": ${topics.main} has ${main} partitions but ${topics.trigger} has ${trigger}; ` +
        'the main and trigger topics must have the same partition count so that a key\'s events and resume commands meet in one task',
    );
  }
  const changelog = counts.get(topics.changelog)!;
  if (changelog !== main) {
    throw new KafkaStartupError(
      'CHANGELOG_PARTITIONS',
      `flow "${flow.id}": changelog ${topics.changelog} has ${changelog} partitions but ${topics.main} has ${main}; they must match`,
    );
  }
  return { partitions: main, topicPartitions: counts };
}
