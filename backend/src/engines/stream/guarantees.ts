/**
 * What the processing guarantee changes in the stream runtime, one object per guarantee instead
 * of `if (exactlyOnce)` across the loop: how the producer is made and opened, how a commit
 * interval is committed or dropped, how changelog records are routed (FlowTasks), and what a
 * restore and a recovery must take care of.
 *
 *   exactly_once: every write of a commit interval (output, dead letters, changelog) and the
 *     input offsets, sent with the consumer's group metadata (EOS v2 fencing), commit in one
 *     transaction. A restore first waits until no transaction is open on the changelog.
 *   at_least_once: an idempotent producer; a commit flushes the output, then sends the held
 *     changelog records (a drain's tombstones and marks), flushes again, then commits the
 *     offsets. Nothing fences a zombie's writes, so a trim needs a proof of ownership and a
 *     generation error sends the member back to the group instead of a restore in place.
 */
import type { ProcessingGuarantee } from '../../config/config.ts';
import type { LogConsumer, LogProducer, ProducerOptions, TopicPartitionOffset } from '../../runtime/log/port.ts';
import { isMarkKey } from '../../stores/buffer-codec.ts';

/** What a commit needs of the member. */
export interface CommitContext {
  readonly producer: LogProducer;
  readonly consumer: LogConsumer;
  /** The next input offset of every owned partition. */
  readonly offsets: TopicPartitionOffset[];
  /** at_least_once: queues the held changelog records (after the output they stand for). */
  sendHeld(): boolean;
  /** Waits until everything queued is delivered; throws if anything was not. */
  flushDelivered(): Promise<void>;
  /** Runs an operation again while it fails with a retriable error (a few times). */
  retrying(operation: () => Promise<void>): Promise<void>;
}

export interface Guarantee {
  readonly name: ProcessingGuarantee;
  /** The producer's guarantee settings; `transactionalId` is stable per instance and flow. */
  producer(transactionalId: string): Pick<ProducerOptions, 'transactional' | 'deliveryReports'>;
  /** After the producer connected: ready for the first commit interval. */
  open(producer: LogProducer): Promise<void>;
  /**
   * Commits the interval's writes with the input offsets. True when the group checked this
   * member's generation on the way (offsets were committed): it owned its partitions then.
   */
  commit(context: CommitContext): Promise<boolean>;
  /** Drops the interval's writes where it can (a transaction); false when that failed. */
  abort(producer: LogProducer): Promise<void>;
  /** True when this changelog record waits for the output it stands for (FlowTasks.takeHeld). */
  holds(entryKey: Buffer, entryValue: Buffer | null, trimming: boolean): boolean;
  /** A restore first waits until no transaction holds the changelog's last stable offset back. */
  readonly awaitsStableChangelog: boolean;
  /** A trim's tombstones are not fenced: ownership must be proven right before. */
  readonly trimNeedsOwnershipProof: boolean;
  /** A generation error means the group moved on: rejoin rather than restore in place. */
  readonly rejoinsOnGenerationError: boolean;
}

const exactlyOnce: Guarantee = {
  name: 'exactly_once',
  // Kafka Streams' exactly-once default: a crashed member's open transaction is aborted soon.
  producer: (id) => ({ transactional: { id, timeoutMs: 10_000 } }),
  async open(producer) {
    await producer.initTransactions();
    await producer.beginTransaction();
  },
  async commit({ producer, consumer, offsets, retrying }) {
    // Every commit carries the offsets of every owned partition, so that even a transaction of
    // drains alone is checked against the group generation (zombie fencing).
    if (offsets.length > 0) await producer.sendOffsets(offsets, consumer);
    await retrying(() => producer.commitTransaction());
    await producer.beginTransaction();
    return offsets.length > 0;
  },
  async abort(producer) {
    await producer.abortTransaction();
    await producer.beginTransaction();
  },
  holds: () => false,
  awaitsStableChangelog: true,
  trimNeedsOwnershipProof: false,
  rejoinsOnGenerationError: false,
};

const atLeastOnce: Guarantee = {
  name: 'at_least_once',
  // Only failures are reported: the commit's flush counts them. A report per delivered record
  // crossing into JavaScript is CPU spent for nothing (bench active path, scale 0.3, two paired
  // runs: 14.8 -> 13.0 and 13.0 -> 9.1 µs of process CPU per event).
  producer: () => ({ deliveryReports: 'errors' }),
  async open() {},
  async commit({ consumer, offsets, sendHeld, flushDelivered }) {
    await flushDelivered();
    if (sendHeld()) await flushDelivered();
    if (offsets.length === 0) return false;
    await consumer.commit(offsets);
    return true;
  },
  async abort() {
    // Nothing to take back: what was sent stays; the replay sends it again (at least once).
  },
  // Appends and trims at once; a drain's tombstones and marks after its output is delivered, so
  // a crash never loses a drained event whose tombstone landed while its output did not (rule 1).
  holds: (entryKey, entryValue, trimming) => !trimming && (entryValue === null || isMarkKey(entryKey)),
  awaitsStableChangelog: false,
  trimNeedsOwnershipProof: true,
  rejoinsOnGenerationError: true,
};

export const GUARANTEES: Readonly<Record<ProcessingGuarantee, Guarantee>> = { exactly_once: exactlyOnce, at_least_once: atLeastOnce };
