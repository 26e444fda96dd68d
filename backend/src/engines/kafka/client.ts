/**
 * The only module that touches the Kafka client (@confluentinc/kafka-javascript, librdkafka).
 * It uses the client's node-rdkafka API, which gives what the engine needs: transactions whose
 * offsets carry the consumer's group metadata (exactly-once v2), read_committed reads,
 * partition EOF events, awaited manual rebalancing (`rebalance_cb`) with the `range` assignor,
 * and per-partition seek. Everything here is promises over its callbacks, nothing more.
 */
import Kafka from '@confluentinc/kafka-javascript';
import type {
  Assignment,
  GroupDescription,
  IAdminClient,
  KafkaConsumer,
  LibrdKafkaError,
  Message,
  MessageHeader,
  Producer,
  TopicPartition,
  TopicPartitionOffset,
} from '@confluentinc/kafka-javascript';
import { ClientClosedError, ClientTimeoutError, isStaleMetadata, LogClientError, type LogErrorCode, type LogErrorKind } from '../../runtime/log/errors.ts';
import type {
  ConsumedBatch,
  GroupConsumerOptions,
  GroupInfo,
  LogAdmin,
  LogClients,
  LogConsumer,
  LogProducer,
  ProducerOptions,
  ReaderOptions,
  RebalanceKind,
  TopicInfo,
  TopicPartitionPosition,
} from '../../runtime/log/port.ts';
import type { Header, InputRecord } from '../../runtime/ports.ts';

export type { GroupDescription, Message, TopicPartition, TopicPartitionOffset };
export type { ConsumedBatch, RebalanceKind, TopicInfo };
export type { OffsetsAdmin } from '../../runtime/log/port.ts';
export { ClientClosedError, ClientTimeoutError, errorKind, isQueueFull, isStaleMetadata, isUnknownTopic } from '../../runtime/log/errors.ts';

const ERR = Kafka.CODES.ERRORS;
/** librdkafka's logical offsets. */
export const OFFSET_BEGINNING = -2;
export const OFFSET_INVALID = -1001;
const TIMEOUT_MS = 30_000;
/** A JS deadline runs this much past the native timeout it guards. */
const DEADLINE_MARGIN_MS = 5_000;
/** Longest wait for calls in flight before a client is closed; then it is abandoned instead. */
const CLOSE_IDLE_MS = TIMEOUT_MS + DEADLINE_MARGIN_MS;
const CLOSE_MS = 10_000;
/** How long a consumer lent to a producer's transaction call counts as in use (see lend). */
const LEND_MS = 1_000;
/**
 * While a commit's answer is awaited: each poll that serves it waits at most this long and takes at
 * most SERVE_BATCH records (one: bench active path, at_least_once, scale 0.5: 500 gave 72-83k ev/s
 * at 14-16 µs CPU/event, 1 gives 92-98k at 11-12 µs, as before the commit waited at all).
 */
const SERVE_POLL_MS = 2;
/** A flush waits in calls this long (see ClientProducer.flush). */
const FLUSH_SLICE_MS = 1;
const SERVE_BATCH = 1;

/** Settings passed to librdkafka as they are (see librdkafka's CONFIGURATION.md). */
export type ClientConfig = Record<string, string | number | boolean>;

export type ErrorKind = LogErrorKind;

/**
 * Errors that mean a client's view of the cluster is stale (seen after a broker restart: a
 * ListOffsets answered "leader epoch is older than broker epoch" for good): renew the client.
 */
const STALE_METADATA = new Set<number>([
  ERR.ERR_FENCED_LEADER_EPOCH,
  ERR.ERR_UNKNOWN_LEADER_EPOCH,
  ERR.ERR_NOT_LEADER_FOR_PARTITION,
  ERR.ERR_LEADER_NOT_AVAILABLE,
  ERR.ERR__TIMED_OUT,
  ERR.ERR__TRANSPORT,
  ERR.ERR__ALL_BROKERS_DOWN,
]);

const UNKNOWN_TOPIC = new Set<number>([ERR.ERR_UNKNOWN_TOPIC_OR_PART, ERR.ERR__UNKNOWN_TOPIC]);
const GENERATION = new Set<number>([ERR.ERR_ILLEGAL_GENERATION, ERR.ERR_UNKNOWN_MEMBER_ID, ERR.ERR_REBALANCE_IN_PROGRESS]);

/** A raw librdkafka error (in a native callback, before toLogError) saying the topic does not exist. */
function unknownTopic(error: unknown): boolean {
  const code = (error as Partial<LibrdKafkaError> | undefined)?.code;
  return typeof code === 'number' && UNKNOWN_TOPIC.has(code);
}

/**
 * The port's error for a librdkafka error (LogClientError, with the original as `cause`);
 * anything else is returned as it is. How to react follows librdkafka's own flags: fatal or
 * fenced -> fatal; the transaction requires an abort -> abortable; retriable -> retriable.
 */
export function toLogError(error: unknown): unknown {
  if (error instanceof LogClientError) return error;
  const e = error as Partial<LibrdKafkaError> | undefined;
  if (typeof e?.code !== 'number') return error;
  const fenced = e.code === ERR.ERR__FENCED || e.code === ERR.ERR_PRODUCER_FENCED;
  const kind: LogErrorKind = e.isFatal === true || fenced ? 'fatal' : e.isTxnRequiresAbort === true ? 'abortable' : e.isRetriable === true ? 'retriable' : 'other';
  const staleMetadata = STALE_METADATA.has(e.code);
  const code: LogErrorCode = fenced
    ? 'FENCED'
    : e.code === ERR.ERR__QUEUE_FULL
      ? 'QUEUE_FULL'
      : UNKNOWN_TOPIC.has(e.code)
        ? 'UNKNOWN_TOPIC'
        : GENERATION.has(e.code)
          ? 'GENERATION'
          : kind === 'abortable'
            ? 'TXN_ABORTABLE'
            : staleMetadata
              ? 'STALE_METADATA'
              : 'OTHER';
  return new LogClientError(code, kind, e.message ?? String(error), { cause: error, staleMetadata, clientCode: e.code });
}

export function toClientHeaders(headers: readonly Header[]): MessageHeader[] | undefined {
  if (headers.length === 0) return undefined;
  return headers.map((h) => ({ [h.key]: h.value }));
}

export function fromClientHeaders(headers: MessageHeader[] | undefined): Header[] {
  if (headers === undefined) return [];
  const out: Header[] = [];
  for (const header of headers) {
    for (const key in header) {
      const value = header[key]!;
      out.push({ key, value: typeof value === 'string' ? Buffer.from(value) : value });
    }
  }
  return out;
}

let abandoned = 0;

/**
 * Native clients this process gave up on: a call never came back, so closing them could free
 * memory a worker thread still uses. Such a process must not wait for its thread pool at exit.
 */
export function abandonedClients(): number {
  return abandoned;
}

/**
 * The life of one native client. The binding frees its handle on close without waiting for
 * calls still running on worker threads, and some of its methods do not check the handle at
 * all (a SIGSEGV seen after an abort timed out and the member restarted). So: every callback
 * call is counted and has a deadline; close refuses new calls, waits for the counted ones, and
 * only then closes the handle; a client whose calls never return is abandoned, not closed.
 */
class Lifecycle {
  readonly #name: string;
  #state: 'open' | 'closing' | 'closed' = 'open';
  #inFlight = 0;
  #idle: (() => void)[] = [];

  constructor(name: string) {
    this.#name = name;
  }

  get name(): string {
    return this.#name;
  }

  get open(): boolean {
    return this.#state === 'open';
  }

  get closed(): boolean {
    return this.#state === 'closed';
  }

  /** Throws ClientClosedError unless open: for synchronous native calls. */
  check(what: string): void {
    if (this.#state !== 'open') throw new ClientClosedError(`${this.#name}: ${what} on a ${this.#state} client`);
  }

  /**
   * Runs a native call that reports through `done`. Rejects with ClientTimeoutError after
   * `deadlineMs`; the call counts as in flight until the native callback does come.
   */
  call<T>(what: string, deadlineMs: number, start: (done: (error: LibrdKafkaError | Error | null | undefined, value?: T) => void) => void): Promise<T> {
    if (this.#state !== 'open') return Promise.reject(new ClientClosedError(`${this.#name}: ${what} on a ${this.#state} client`));
    this.#inFlight++;
    return new Promise<T>((resolve, reject) => {
      let answered = false;
      let returned = false;
      const timer = setTimeout(() => {
        if (answered) return;
        answered = true;
        reject(new ClientTimeoutError(`${this.#name}: ${what} did not complete within ${deadlineMs} ms`));
      }, deadlineMs);
      const done = (error: LibrdKafkaError | Error | null | undefined, value?: T): void => {
        if (returned) return;
        returned = true;
        clearTimeout(timer);
        if (--this.#inFlight === 0) for (const wake of this.#idle.splice(0)) wake();
        if (answered) return;
        answered = true;
        if (error) reject(toLogError(error));
        else resolve(value as T);
      };
      try {
        start(done);
      } catch (error) {
        done(error as Error);
      }
    });
  }

  /**
   * Closes the native client once no call is in flight. Resolves true when closed, false when
   * it was abandoned (calls still running after CLOSE_IDLE_MS, or the close never answered).
   */
  async close(nativeClose: (done: () => void) => void): Promise<boolean> {
    if (this.#state !== 'open') return this.#state === 'closed';
    this.#state = 'closing';
    if (this.#inFlight > 0) {
      const idle = new Promise<boolean>((resolve) => this.#idle.push(() => resolve(true)));
      const settled = await Promise.race([idle, sleep(CLOSE_IDLE_MS).then(() => false)]);
      if (!settled) {
        // Given up on for now; closed still when its calls do come back (a consumer left open
        // would stay in its group as a member that never polls).
        abandoned++;
        void idle.then(() => {
          try {
            nativeClose(() => undefined);
          } catch {
            // closed already
          }
          this.#state = 'closed';
          abandoned--;
        });
        return false;
      }
    }
    const closed = await Promise.race([
      new Promise<boolean>((resolve) => {
        try {
          nativeClose(() => resolve(true));
        } catch {
          resolve(true);
        }
      }),
      sleep(CLOSE_MS).then(() => false),
    ]);
    this.#state = 'closed';
    if (!closed) abandoned++;
    return closed;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

const NO_HEADERS: readonly Header[] = Object.freeze([]);

/** A librdkafka message as the port's record. */
export function toInputRecord(message: Message): InputRecord {
  const key = message.key;
  return {
    topic: message.topic,
    partition: message.partition,
    offset: message.offset,
    key: key === undefined || key === null ? null : typeof key === 'string' ? Buffer.from(key) : key,
    value: message.value,
    headers: message.headers === undefined ? NO_HEADERS : fromClientHeaders(message.headers),
    timestamp: message.timestamp ?? 0,
  };
}

/** A consumer; with a group id and `onRebalance` it is a group member that rebalances by hand. */
export class ClientConsumer implements LogConsumer {
  readonly #consumer: KafkaConsumer;
  readonly #life: Lifecycle;
  #eofs: TopicPartitionOffset[] = [];
  /**
   * Records polled while a commit's answer was awaited (see commit), handed out first by the
   * next consume. Dropped when the assignment changes or a partition is sought: the group or
   * the seek fetches them again from the committed or sought offset.
   */
  #stash: Message[] = [];
  /** One per commit sent, oldest first: librdkafka answers commits in the order they were sent. */
  #commitAnswers: ((error: LibrdKafkaError | null) => void)[] = [];

  readonly #commits: boolean;

  constructor(config: ClientConfig, onRebalance?: (kind: RebalanceKind, partitions: TopicPartition[]) => void, onError?: (error: LibrdKafkaError) => void, commits = true) {
    this.#life = new Lifecycle(`consumer ${String(config['client.id'] ?? '')}`);
    const conf: ClientConfig & { rebalance_cb?: unknown; offset_commit_cb?: unknown } = { 'enable.auto.commit': false, ...config };
    // The group's answer to each commit (the binding's commitCb only says it was queued). Only
    // where commits are made: a client that never commits keeps librdkafka's callbacks as before.
    this.#commits = commits;
    if (commits) conf.offset_commit_cb = (error: LibrdKafkaError | undefined) => this.#commitAnswers.shift()?.(error ?? null);
    if (onRebalance !== undefined) {
      conf.rebalance_cb = (error: LibrdKafkaError, partitions: TopicPartition[]) => {
        this.#stash = [];
        if (!this.#life.open) {
          // Closing: the group takes the partitions back; the owner has closed its tasks already.
          // The binding allows unassign while it closes and refuses it (an error, no crash) after.
          try {
            if (error.code === ERR.ERR__ASSIGN_PARTITIONS) this.#consumer.assign([]);
            else this.#consumer.unassign();
          } catch {
            // closed already
          }
          return;
        }
        if (error.code === ERR.ERR__ASSIGN_PARTITIONS) onRebalance('assign', partitions);
        else onRebalance(this.#assignmentLost() ? 'lost' : 'revoke', partitions);
      };
    }
    this.#consumer = new Kafka.KafkaConsumer(conf as never, { 'auto.offset.reset': 'earliest' });
    // Waits up to the timeout for the first message only, then returns what is there.
    (this.#consumer as unknown as { setDefaultIsTimeoutOnlyForFirstMessage(v: boolean): void }).setDefaultIsTimeoutOnlyForFirstMessage(true);
    this.#consumer.on('partition.eof', (eof) => this.#eofs.push(eof));
    if (onError !== undefined) this.#consumer.on('event.error', onError);
  }

  /** librdkafka's rd_kafka_assignment_lost(); the binding has it, its typings do not. */
  #assignmentLost(): boolean {
    // The binding dereferences its handle without a check: never ask a closing consumer.
    if (!this.#life.open || !this.#consumer.isConnected()) return false;
    return (this.#consumer as unknown as { assignmentLost(): boolean }).assignmentLost();
  }

  /** Whether the client is open (not closing or closed). */
  get open(): boolean {
    return this.#life.open;
  }

  /**
   * Runs `use` with the native consumer (for sendOffsetsToTransaction) counted as a call in
   * flight of this consumer, so that it is not closed under the producer's feet. The producer's
   * worker copies the group metadata when it starts and never touches the consumer again, so
   * the loan ends after LEND_MS even if the producer's call goes on (a consumer kept open for
   * the whole of a stuck transaction call would stay in the group as a ghost member).
   */
  lend<T>(what: string, deadlineMs: number, use: (raw: KafkaConsumer, done: (error: LibrdKafkaError | null | undefined) => void) => void): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      let settle: ((error: LibrdKafkaError | null | undefined) => void) | undefined;
      const loan = this.#life.call<void>(`${what} (loan)`, deadlineMs, (done) => {
        const timer = setTimeout(() => done(null), LEND_MS);
        settle = (error) => {
          clearTimeout(timer);
          done(null);
          if (error) reject(error);
          else resolve(undefined as T);
        };
      });
      loan.catch(reject);
      if (settle === undefined) return;
      try {
        use(this.#consumer, settle);
      } catch (error) {
        settle(error as LibrdKafkaError);
      }
    });
  }

  connect(): Promise<void> {
    return this.#life.call('connect', TIMEOUT_MS + DEADLINE_MARGIN_MS, (done) => this.#consumer.connect({ timeout: TIMEOUT_MS }, (error) => done(error)));
  }

  subscribe(topics: string[]): void {
    this.#life.check('subscribe');
    this.#consumer.subscribe(topics);
  }

  assign(partitions: readonly TopicPartitionPosition[]): void {
    this.#life.check('assign');
    this.#stash = [];
    this.#consumer.assign(partitions.map((p) => (p.offset === undefined ? { topic: p.topic, partition: p.partition } : { topic: p.topic, partition: p.partition, offset: p.offset })) as Assignment[]);
  }

  unassign(): void {
    this.#life.check('unassign');
    this.#stash = [];
    this.#consumer.unassign();
  }

  /** Waits at most `timeoutMs` for the first message, then takes what is ready, up to `max`. */
  consume(max: number, timeoutMs: number): Promise<ConsumedBatch> {
    this.#life.check('consume');
    if (this.#stash.length > 0) {
      const eofs = this.#eofs;
      this.#eofs = [];
      return Promise.resolve({ messages: this.#stash.splice(0, max).map(toInputRecord), eofs });
    }
    this.#consumer.setDefaultConsumeTimeout(timeoutMs);
    return this.#life.call<Message[]>('consume', timeoutMs + TIMEOUT_MS, (done) => this.#consumer.consume(max, done)).then(
      (messages) => {
        const eofs = this.#eofs;
        this.#eofs = [];
        return { messages: messages.map(toInputRecord), eofs };
      },
      (error: unknown) => {
        this.#eofs = [];
        throw error;
      },
    );
  }

  seek(partition: TopicPartitionOffset): Promise<void> {
    if (this.#stash.length > 0) this.#stash = this.#stash.filter((m) => m.topic !== partition.topic || m.partition !== partition.partition);
    return this.#life.call('seek', TIMEOUT_MS + DEADLINE_MARGIN_MS, (done) => this.#consumer.seek(partition, TIMEOUT_MS, done));
  }

  pause(partitions: TopicPartition[]): void {
    this.#life.check('pause');
    this.#consumer.pause(partitions);
  }

  resume(partitions: TopicPartition[]): void {
    this.#life.check('resume');
    this.#consumer.resume(partitions);
  }

  /** Next offset to hand out per partition: records polled for a commit's answer and kept (see commit) are not handed out yet. */
  position(partitions?: TopicPartition[]): TopicPartitionOffset[] {
    this.#life.check('position');
    const positions = this.#consumer.position(partitions);
    if (this.#stash.length === 0) return positions;
    return positions.map((position) => {
      const kept = this.#stash.find((m) => m.topic === position.topic && m.partition === position.partition);
      return kept === undefined ? position : { ...position, offset: kept.offset };
    });
  }

  /** Committed offsets of the group (OFFSET_INVALID where none). */
  committed(partitions: TopicPartition[], timeoutMs = TIMEOUT_MS): Promise<TopicPartitionOffset[]> {
    return this.#life.call('committed', timeoutMs + DEADLINE_MARGIN_MS, (done) => this.#consumer.committed(partitions, timeoutMs, done));
  }

  /**
   * Resolves once the group coordinator took the offsets; rejects with its error (a member the
   * group has moved on from: UNKNOWN_MEMBER_ID, ILLEGAL_GENERATION). The binding's commitCb
   * reports only that the commit was queued (found by the chaos run: a member thawed after
   * SIGSTOP took its refused commit for proof that it still owned its partitions). The answer
   * comes through the consumer's queue, ahead of any record, so it is polled for here.
   */
  commit(offsets: TopicPartitionOffset[]): Promise<void> {
    const consumer = this.#consumer as unknown as { commitCb(o: TopicPartitionOffset[], cb: (e: LibrdKafkaError | null) => void): void };
    if (!this.#commits) return Promise.reject(new Error(`${this.#life.name}: created with commits: false, it cannot commit`));
    const deadline = Date.now() + TIMEOUT_MS;
    return this.#life.call('commit', TIMEOUT_MS + DEADLINE_MARGIN_MS, (done) => {
      let answer: { error: LibrdKafkaError | null } | undefined;
      const onAnswer = (error: LibrdKafkaError | null): void => {
        answer = { error };
      };
      this.#commitAnswers.push(onAnswer);
      consumer.commitCb(offsets, (error) => {
        if (error) {
          // Not queued: no answer will come for it.
          this.#commitAnswers.splice(this.#commitAnswers.indexOf(onAnswer), 1);
          done(error);
          return;
        }
        // Settled only once the polling has stopped: a poll still running when the next consume
        // starts would hand its records over after that consume's (found by the chaos run).
        void this.#serveUntil(() => answer !== undefined, deadline).then((served) => {
          // Unanswered: the answer, when it comes, finds this one in the queue and is dropped.
          if (served) done(answer!.error);
          else done(new ClientTimeoutError(`${this.#life.name}: commit not answered within ${TIMEOUT_MS} ms`));
        });
      });
    });
  }

  /** Polls (keeping what it gets for the next consume) until `answered` or the deadline. */
  async #serveUntil(answered: () => boolean, deadline: number): Promise<boolean> {
    while (!answered()) {
      if (!this.#life.open || !this.#consumer.isConnected() || Date.now() >= deadline) return false;
      const polled = await new Promise<Message[] | undefined>((resolve) => {
        try {
          this.#consumer.setDefaultConsumeTimeout(SERVE_POLL_MS);
          this.#consumer.consume(SERVE_BATCH, (error, messages) => resolve(error ? undefined : messages));
        } catch {
          resolve(undefined);
        }
      });
      if (polled === undefined) await sleep(SERVE_POLL_MS);
      else for (const message of polled) this.#stash.push(message);
      // The answer crosses into JavaScript through the binding's async handle: let it run.
      await new Promise((resolve) => setImmediate(resolve));
    }
    return true;
  }

  /** Cached high watermark (updated by fetches), or undefined when not known yet. */
  cachedEndOffset(topic: string, partition: number): number | undefined {
    if (!this.#life.open) return undefined;
    try {
      const high = this.#consumer.getWatermarkOffsets(topic, partition).highOffset;
      return high >= 0 ? high : undefined;
    } catch {
      return undefined;
    }
  }

  /** Leaves the group (if any) and closes, once no call is in flight. False: abandoned. */
  disconnect(): Promise<boolean> {
    return this.#life.close((done) => {
      if (!this.#consumer.isConnected()) return done();
      this.#consumer.disconnect(() => done());
    });
  }
}

/** A producer; transactional when the config has a transactional.id. */
export class ClientProducer implements LogProducer {
  readonly #producer: Producer;
  readonly #life: Lifecycle;
  readonly #pending = new Map<number, { resolve: (r: TopicPartitionOffset) => void; reject: (e: unknown) => void }>();
  #nextOpaque = 1;
  #deliveryErrors = 0;
  #poller: NodeJS.Timeout | undefined;
  #connected = false;

  constructor(config: ClientConfig, onError?: (error: LibrdKafkaError) => void) {
    this.#life = new Lifecycle(`producer ${String(config['client.id'] ?? '')}`);
    this.#producer = new Kafka.Producer({ ...config } as never);
    this.#producer.on('delivery-report', (error, report) => {
      const opaque = report.opaque as number | undefined;
      if (opaque === undefined) {
        if (error) this.#deliveryErrors++;
        return;
      }
      const pending = this.#pending.get(opaque);
      if (pending === undefined) return;
      this.#pending.delete(opaque);
      if (error) pending.reject(toLogError(error));
      else pending.resolve(report);
    });
    if (onError !== undefined) this.#producer.on('event.error', onError);
  }

  get open(): boolean {
    return this.#life.open;
  }

  /** Connected and not closing. */
  get connected(): boolean {
    return this.#connected && this.#life.open;
  }

  connect(): Promise<void> {
    return this.#life.call<void>('connect', TIMEOUT_MS + DEADLINE_MARGIN_MS, (done) => this.#producer.connect({ timeout: TIMEOUT_MS }, (error) => done(error))).then(() => {
      this.#connected = true;
      // Our own poll timer, not the binding's setPollInterval: that one keeps polling until the
      // close has completed, on a handle a worker thread is freeing (a use-after-free).
      this.#poller = setInterval(() => {
        if (!this.#life.open) return;
        try {
          this.#producer.poll();
        } catch {
          // disconnected: the close path stops this timer
        }
      }, 20);
      this.#poller.unref();
    });
  }

  /** Queues a record; throws the client's error (e.g. queue full, see isQueueFull). */
  produce(topic: string, partition: number | undefined, key: Buffer | null, value: Buffer | null, timestamp: number, headers: readonly Header[]): void {
    this.#life.check('produce');
    try {
      this.#producer.produce(topic, partition ?? -1, value, key, timestamp, undefined, toClientHeaders(headers));
    } catch (error) {
      throw toLogError(error);
    }
  }

  /** Produces one record and resolves with where it landed (needs dr_cb in the config). */
  send(topic: string, partition: number | undefined, key: Buffer | null, value: Buffer | null, timestamp: number | undefined, headers: readonly Header[]): Promise<TopicPartitionOffset> {
    const opaque = this.#nextOpaque++;
    return new Promise((resolve, reject) => {
      // message.timeout.ms (librdkafka's default 300 s) bounds a delivery; this bounds our wait.
      const timer = setTimeout(() => {
        if (!this.#pending.delete(opaque)) return;
        reject(new ClientTimeoutError(`producer: no delivery report for a record to ${topic} within ${TIMEOUT_MS} ms`));
      }, TIMEOUT_MS);
      timer.unref();
      this.#pending.set(opaque, {
        resolve: (report) => {
          clearTimeout(timer);
          resolve(report);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      });
      try {
        this.#life.check('send');
        this.#producer.produce(topic, partition ?? -1, value, key, timestamp ?? null, opaque, toClientHeaders(headers));
      } catch (error) {
        this.#pending.delete(opaque);
        clearTimeout(timer);
        reject(toLogError(error));
      }
    });
  }

  /** Records that failed delivery since the last call (only counted with dr_cb in the config). */
  takeDeliveryErrors(): number {
    const errors = this.#deliveryErrors;
    this.#deliveryErrors = 0;
    return errors;
  }

  poll(): void {
    if (!this.#life.open) return;
    this.#producer.poll();
  }

  /**
   * Waits until everything queued is delivered or failed, and until the delivery reports of those
   * records have been counted: the binding hands reports to JavaScript through its own dispatcher,
   * which may run after flush's callback in the same turn of the event loop. Counted before that,
   * a failure would be missed and at_least_once would commit offsets past a record it lost
   * (platform.test.ts). The check phase (setImmediate) runs after that turn's callbacks.
   */
  async flush(timeoutMs = TIMEOUT_MS): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    await this.#life.call<void>('flush', timeoutMs + DEADLINE_MARGIN_MS, (done) => {
      // In slices: rd_kafka_flush checks whether everything was delivered only every 10 ms when
      // no report wakes it (delivery.report.only.error: a success reports nothing), so one call
      // took 10 ms where the broker answered in 2 (at_least_once commits: flush 10 ms p50).
      const slice = (): void => {
        const remaining = Math.max(0, deadline - Date.now());
        try {
          this.#producer.flush(Math.min(FLUSH_SLICE_MS, remaining), (error) => {
            if (error && (error as LibrdKafkaError).code === ERR.ERR__TIMED_OUT && remaining > FLUSH_SLICE_MS && this.#life.open) slice();
            else done(error);
          });
        } catch (error) {
          done(error as Error);
        }
      };
      slice();
    });
    await new Promise<void>((resolve) => setImmediate(resolve));
  }

  initTransactions(timeoutMs = TIMEOUT_MS): Promise<void> {
    return this.#life.call('initTransactions', timeoutMs + DEADLINE_MARGIN_MS, (done) => this.#producer.initTransactions(timeoutMs, done));
  }

  beginTransaction(): Promise<void> {
    return this.#life.call('beginTransaction', TIMEOUT_MS, (done) => this.#producer.beginTransaction(done));
  }

  /** Adds consumed offsets to the transaction, with the consumer's group metadata (fencing). */
  sendOffsets(offsets: TopicPartitionOffset[], consumer: LogConsumer): Promise<void> {
    if (!(consumer instanceof ClientConsumer)) return Promise.reject(new TypeError('sendOffsets needs a consumer of the same (librdkafka) adapter'));
    const deadline = TIMEOUT_MS + DEADLINE_MARGIN_MS;
    return this.#life.call('sendOffsetsToTransaction', deadline, (done) => {
      consumer.lend<void>('sendOffsetsToTransaction', deadline, (raw, lent) => this.#producer.sendOffsetsToTransaction(offsets, raw, TIMEOUT_MS, lent)).then(
        () => done(null),
        (error: unknown) => done(error as Error),
      );
    });
  }

  commitTransaction(timeoutMs = TIMEOUT_MS): Promise<void> {
    return this.#life.call('commitTransaction', timeoutMs + DEADLINE_MARGIN_MS, (done) => this.#producer.commitTransaction(timeoutMs, done));
  }

  abortTransaction(timeoutMs = TIMEOUT_MS): Promise<void> {
    return this.#life.call('abortTransaction', timeoutMs + DEADLINE_MARGIN_MS, (done) => this.#producer.abortTransaction(timeoutMs, done));
  }

  /** Flushes (up to `timeoutMs`) and closes, once no call is in flight. False: abandoned. */
  disconnect(timeoutMs = 5000): Promise<boolean> {
    return this.#life.close((done) => {
      clearInterval(this.#poller);
      for (const [opaque, pending] of this.#pending) {
        this.#pending.delete(opaque);
        pending.reject(new ClientClosedError('producer closed before the record was delivered'));
      }
      if (!this.#producer.isConnected()) return done();
      this.#producer.disconnect(timeoutMs, () => done());
    });
  }
}

export interface NewTopic {
  readonly name: string;
  readonly partitions: number;
  /** Default: the broker's default.replication.factor. */
  readonly replicationFactor?: number;
  readonly config?: Record<string, string>;
}

export class ClientAdmin {
  readonly #admin: IAdminClient;
  readonly #life: Lifecycle;

  constructor(config: ClientConfig) {
    this.#life = new Lifecycle(`admin ${String(config['client.id'] ?? '')}`);
    this.#admin = Kafka.AdminClient.create({ ...config } as never);
  }

  get open(): boolean {
    return this.#life.open;
  }

  async createTopics(topics: readonly NewTopic[]): Promise<void> {
    for (const topic of topics) {
      await this.#life.call<void>('createTopic', TIMEOUT_MS + DEADLINE_MARGIN_MS, (done) =>
        this.#admin.createTopic(
          { topic: topic.name, num_partitions: topic.partitions, replication_factor: topic.replicationFactor ?? -1, config: topic.config ?? {} },
          TIMEOUT_MS,
          (error) => done(error && error.code !== ERR.ERR_TOPIC_ALREADY_EXISTS ? error : null),
        ),
      );
    }
  }

  async deleteTopics(names: readonly string[]): Promise<void> {
    for (const name of names) {
      await this.#life.call<void>('deleteTopic', TIMEOUT_MS + DEADLINE_MARGIN_MS, (done) =>
        this.#admin.deleteTopic(name, TIMEOUT_MS, (error) => done(error && !unknownTopic(error) ? error : null)),
      );
    }
  }

  async describeTopics(names: readonly string[]): Promise<TopicInfo[]> {
    return Promise.all(
      names.map((name) =>
        this.#life.call<TopicInfo>('describeTopics', TIMEOUT_MS + DEADLINE_MARGIN_MS, (done) =>
          this.#admin.describeTopics([name], { timeout: TIMEOUT_MS }, (error, result) => {
            if (error) return unknownTopic(error) ? done(null, { name, partitions: undefined }) : done(error);
            const description = result[0];
            if (description === undefined || (description.error && unknownTopic(description.error))) {
              return done(null, { name, partitions: undefined });
            }
            if (description.error) return done(description.error);
            const replicationFactor = Math.min(...description.partitions.map((p) => p.replicas.length));
            done(null, { name, partitions: description.partitions.length, replicationFactor });
          }),
        ),
      ),
    );
  }

  /** End offsets (read_committed: the last stable offset) or start offsets of partitions. */
  listOffsets(partitions: readonly TopicPartition[], which: 'earliest' | 'latest', readCommitted: boolean, timeoutMs = TIMEOUT_MS): Promise<TopicPartitionOffset[]> {
    if (partitions.length === 0) return Promise.resolve([]);
    const spec = which === 'earliest' ? Kafka.OffsetSpec.EARLIEST : Kafka.OffsetSpec.LATEST;
    return this.#life.call('listOffsets', timeoutMs + DEADLINE_MARGIN_MS, (done) =>
      this.#admin.listOffsets(
        partitions.map((p) => ({ topic: p.topic, partition: p.partition, offset: spec })),
        { timeout: timeoutMs, isolationLevel: readCommitted ? Kafka.IsolationLevel.READ_COMMITTED : Kafka.IsolationLevel.READ_UNCOMMITTED },
        (error, result) => {
          if (error) return done(error);
          const failed = result.find((r) => r.error);
          if (failed?.error) return done(failed.error);
          done(null, result.map((r) => ({ topic: r.topic, partition: r.partition, offset: r.offset })));
        },
      ),
    );
  }

  describeGroup(groupId: string): Promise<GroupDescription | undefined> {
    return this.#life.call('describeGroups', 10_000 + DEADLINE_MARGIN_MS, (done) =>
      this.#admin.describeGroups([groupId], { timeout: 10_000 }, (error, result) => done(error, error ? undefined : result.groups[0])),
    );
  }

  /** Closes once no call is in flight (the binding's close is synchronous and frees the handle). */
  disconnect(): Promise<boolean> {
    return this.#life.close((done) => {
      try {
        this.#admin.disconnect();
      } finally {
        done();
      }
    });
  }
}

/**
 * An admin client that is replaced by a new one when a call fails with an error that says its
 * view of the cluster is stale (isStaleMetadata): after a broker restart a long-lived admin
 * client may keep failing ListOffsets for good, while a new one succeeds at once.
 */
export class RenewingAdmin implements LogAdmin {
  readonly #config: ClientConfig;
  readonly #onRenew: ((error: unknown) => void) | undefined;
  #admin: ClientAdmin;

  constructor(config: ClientConfig, onRenew?: (error: unknown) => void) {
    this.#config = config;
    this.#onRenew = onRenew;
    this.#admin = new ClientAdmin(config);
  }

  /** Runs `operation` on the current client; on a stale-metadata error renews it and rethrows. */
  async run<T>(operation: (admin: ClientAdmin) => Promise<T>): Promise<T> {
    const admin = this.#admin;
    try {
      return await operation(admin);
    } catch (error) {
      if (isStaleMetadata(error) && admin === this.#admin && admin.open) {
        this.#onRenew?.(error);
        this.renew();
      }
      throw error;
    }
  }

  /** A fresh client now; the old one closes when its calls are done. */
  renew(): void {
    const old = this.#admin;
    this.#admin = new ClientAdmin(this.#config);
    void old.disconnect();
  }

  listOffsets(partitions: readonly TopicPartition[], which: 'earliest' | 'latest', readCommitted: boolean, timeoutMs?: number): Promise<TopicPartitionOffset[]> {
    return this.run((admin) => admin.listOffsets(partitions, which, readCommitted, timeoutMs));
  }

  describeTopics(names: readonly string[]): Promise<TopicInfo[]> {
    return this.run((admin) => admin.describeTopics(names));
  }

  async describeGroup(groupId: string): Promise<GroupInfo | undefined> {
    const group = await this.run((admin) => admin.describeGroup(groupId));
    if (group === undefined) return undefined;
    return {
      members: group.members.map((member) => ({
        clientId: member.clientId,
        assignment: (member.assignment?.topicPartitions ?? []).map(({ topic, partition }) => ({ topic, partition })),
      })),
    };
  }

  disconnect(): Promise<boolean> {
    return this.#admin.disconnect();
  }
}

/**
 * librdkafka's own verdict on a configuration (unknown property, bad value), without connecting:
 * the clients are built but never started. Undefined when it takes the configuration.
 */
export function clientConfigError(config: ClientConfig, kind: 'consumer' | 'producer'): string | undefined {
  try {
    if (kind === 'consumer') new Kafka.KafkaConsumer({ ...config, 'group.id': 'event-pause-config-check' } as never, {});
    else new Kafka.Producer(config as never);
    return undefined;
  } catch (error) {
    return (error as Error).message;
  }
}

/** What a first connection to the cluster found. */
export type ProbeResult =
  | { readonly ok: true }
  | { readonly ok: false; readonly problem: 'authentication' | 'tls' | 'unreachable'; readonly message: string };

/**
 * Connects once (metadata request) and says whether the cluster took the credentials and the
 * TLS setup. librdkafka retries authentication and TLS failures forever and reports them only
 * as error events, so a service with a wrong password would wait on timeouts; this asks within
 * `timeoutMs` and names the failure. Never throws.
 */
export async function probeCluster(config: ClientConfig, timeoutMs = 15_000): Promise<ProbeResult> {
  // Short attempts: a connect call cannot be cut short, and a process cannot exit while one runs;
  // a refused login or handshake shows within the first attempt.
  const deadline = Date.now() + timeoutMs;
  let last: ProbeResult = { ok: false, problem: 'unreachable', message: 'no answer' };
  while (Date.now() < deadline) {
    last = await probeOnce(config, Math.min(PROBE_ATTEMPT_MS, Math.max(500, deadline - Date.now())));
    if (last.ok || last.problem !== 'unreachable') return last;
  }
  return last;
}

const PROBE_ATTEMPT_MS = 2_000;

function classifyProbeError(error: { code?: number; message?: string }): ProbeResult | undefined {
  const message = error.message ?? String(error);
  if (error.code === Kafka.CODES.ERRORS.ERR__AUTHENTICATION || /SASL authentication|Authentication failed/i.test(message)) {
    return { ok: false, problem: 'authentication', message };
  }
  if (error.code === Kafka.CODES.ERRORS.ERR__SSL || /SSL handshake failed|certificate verify failed/i.test(message)) return { ok: false, problem: 'tls', message };
  return undefined;
}

function probeOnce(config: ClientConfig, attemptMs: number): Promise<ProbeResult> {
  return new Promise((resolve) => {
    let producer: InstanceType<typeof Kafka.Producer>;
    try {
      producer = new Kafka.Producer({ ...config, 'client.id': `${String(config['client.id'] ?? 'event-pause')}-probe` } as never);
    } catch (error) {
      resolve({ ok: false, problem: 'unreachable', message: (error as Error).message });
      return;
    }
    let last = 'no answer';
    let problem: ProbeResult | undefined;
    // librdkafka reports a refused login or handshake as an error event or only as a log line.
    const seen = (error: { code?: number; message?: string }): void => {
      last = error.message ?? String(error);
      problem ??= classifyProbeError(error);
    };
    producer.on('event.error', seen);
    producer.on('event.log', (log: { message?: string }) => {
      const message = (log.message ?? '').replace(/^\[thrd:[^\]]*\]: /, '');
      if (classifyProbeError({ message }) !== undefined) seen({ message });
    });
    producer.connect({ timeout: attemptMs } as never, (error: unknown) => {
      const result: ProbeResult =
        error === null || error === undefined
          ? { ok: true }
          : (problem ?? classifyProbeError(error as { code?: number; message?: string }) ?? { ok: false, problem: 'unreachable', message: (error as Error).message ?? last });
      try {
        producer.disconnect(() => resolve(result));
      } catch {
        resolve(result);
      }
    });
  });
}

/** A consumer that reads assigned partitions only: no group membership, no commits. */
export function readerConsumer(base: ClientConfig, name: string, overrides: ClientConfig = {}): ClientConsumer {
  return new ClientConsumer({
    ...base,
    // librdkafka wants a group id even for assign(); this one never joins or commits.
    'group.id': `${name}-reader`,
    'client.id': name,
    'isolation.level': 'read_committed',
    'enable.partition.eof': true,
    'fetch.message.max.bytes': 16 * 1024 * 1024,
    'queued.max.messages.kbytes': 131072,
    ...overrides,
  });
}

/** The port's clients over librdkafka, all with the same connection settings. */
export class LibrdkafkaClients implements LogClients {
  readonly config: ClientConfig;
  /** Properties applied last, over event-pause's own defaults, to consumers / producers only. */
  readonly overrides: { readonly consumer: ClientConfig; readonly producer: ClientConfig };

  constructor(config: ClientConfig, overrides: { readonly consumer?: ClientConfig; readonly producer?: ClientConfig } = {}) {
    this.config = config;
    this.overrides = { consumer: overrides.consumer ?? {}, producer: overrides.producer ?? {} };
  }

  groupConsumer(options: GroupConsumerOptions): ClientConsumer {
    return new ClientConsumer(
      {
        ...this.config,
        'group.id': options.groupId,
        ...(options.groupInstanceId === undefined ? {} : { 'group.instance.id': options.groupInstanceId }),
        'client.id': options.clientId,
        'partition.assignment.strategy': 'range',
        'isolation.level': 'read_committed',
        'session.timeout.ms': options.sessionTimeoutMs,
        'heartbeat.interval.ms': Math.max(500, Math.floor(options.sessionTimeoutMs / 4)),
        'max.poll.interval.ms': 300_000,
        ...this.overrides.consumer,
        'enable.auto.offset.store': false,
      },
      options.onRebalance,
      options.onError,
      options.commits ?? true,
    );
  }

  reader(options: ReaderOptions): ClientConsumer {
    return readerConsumer(this.config, options.clientId, { ...this.overrides.consumer, ...options.tuning });
  }

  producer(options: ProducerOptions): ClientProducer {
    const config: ClientConfig = {
      ...this.config,
      'client.id': options.clientId,
      partitioner: 'murmur2_random',
      'enable.idempotence': true,
      'linger.ms': options.lingerMs ?? 5,
      'queue.buffering.max.messages': 500_000,
      // The Java client's buffer.memory (32 MiB), not librdkafka's 1 GiB: a drain produces from
      // the local store faster than the broker takes it, and whatever waits in this queue waits
      // ahead of every active key's event. Full, it throws QUEUE_FULL and the member waits.
      // At least two of the largest record, which must always fit.
      'queue.buffering.max.kbytes': Math.max(32 * 1024, Math.ceil((2 * (options.maxMessageBytes ?? 0)) / 1024)),
      'batch.num.messages': 10_000,
      'message.max.bytes': Math.max(1_000_000, options.maxMessageBytes ?? 0),
      ...this.overrides.producer,
    };
    if (options.messageTimeoutMs !== undefined) config['message.timeout.ms'] = options.messageTimeoutMs;
    if (options.transactional !== undefined) {
      config['transactional.id'] = options.transactional.id;
      config['transaction.timeout.ms'] = options.transactional.timeoutMs;
    }
    if (options.deliveryReports !== undefined && options.deliveryReports !== false) config.dr_cb = true;
    if (options.deliveryReports === 'errors') config['delivery.report.only.error'] = true;
    return new ClientProducer(config, options.onError);
  }

  admin(options: { readonly clientId: string; readonly onRenew?: (error: unknown) => void }): RenewingAdmin {
    return new RenewingAdmin({ ...this.config, 'client.id': options.clientId }, options.onRenew);
  }
}
