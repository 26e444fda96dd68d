/**
 * One task: partition p of a flow's main and trigger topics, its buffer store and its processor.
 * Synchronous: an engine feeds it records, punctuations and drain steps, and collects what it
 * writes through a `TaskSink` (inside the engine's transaction). Engines own consumers,
 * producers, restore and commits; the task owns none of them.
 */
import { HEADERS } from '../model/wire.ts';
import type {
  BufferStore,
  DeadLetterReason,
  Header,
  InputKind,
  InputRecord,
  OutputRecord,
  ProcessingEvent,
  Processor,
  ProcessorContext,
  StatusEntry,
} from './ports.ts';

/** Where a task's writes go. The engine routes them to topics within its current transaction. */
export interface TaskSink {
  output(record: OutputRecord): void;
  deadLetter(record: OutputRecord): void;
}

export interface StreamTaskOptions {
  readonly flowId: string;
  readonly partition: number;
  readonly processor: Processor;
  /** The task's store, already restored, with change logging wired in by the engine. */
  readonly buffer: BufferStore;
  readonly status: (key: string) => StatusEntry;
  readonly sink: TaskSink;
  readonly report?: (flowId: string, event: ProcessingEvent) => void;
  /** The input topic (source of dead letters made from buffered events). */
  readonly inputTopic?: string;
}

export class StreamTask {
  readonly flowId: string;
  readonly partition: number;
  readonly buffer: BufferStore;
  readonly #processor: Processor;

  constructor(options: StreamTaskOptions) {
    this.flowId = options.flowId;
    this.partition = options.partition;
    this.buffer = options.buffer;
    this.#processor = options.processor;
    const { sink, report, flowId, partition } = options;
    const context: ProcessorContext = {
      partition,
      ...(options.inputTopic === undefined ? {} : { inputTopic: options.inputTopic }),
      buffer: options.buffer,
      status: options.status,
      forward: (record) => sink.output(record),
      deadLetter: (record, reason, message) => {
        sink.deadLetter(deadLetterRecord(record, reason, message));
        report?.(flowId, { type: 'dead-lettered', key: record.key?.toString('utf8') ?? null, partition, reason });
      },
      report: (event) => report?.(flowId, event),
    };
    this.#processor.init(context);
  }

  process(record: InputRecord, kind: InputKind): void {
    this.#processor.process(record, kind);
  }

  punctuate(now: number): void {
    this.#processor.punctuate(now);
  }

  /** Continues pending drains; returns events forwarded (0: nothing pending). */
  drainStep(budget: number): number {
    return this.#processor.drainStep(budget);
  }

  /** Handler mode: the runtime put `added` events of the key back (Processor.hold). */
  hold(key: string, added: number): void {
    if (this.#processor.hold === undefined) throw new Error('this processor cannot run with a handler (it has no hold)');
    this.#processor.hold(key, added);
  }

  close(): void {
    this.#processor.close();
  }
}

/**
 * The original record, with why it failed and where it came from in headers (rule 8). A record
 * too large to handle is dead-lettered without its value (it would not fit either); the source
 * headers say where to find it.
 */
export function deadLetterRecord(record: InputRecord, reason: DeadLetterReason, message: string): OutputRecord {
  const headers: Header[] = [
    ...record.headers,
    { key: HEADERS.dlqReason, value: Buffer.from(reason) },
    { key: HEADERS.dlqMessage, value: Buffer.from(message) },
    { key: HEADERS.sourceTopic, value: Buffer.from(record.topic) },
    { key: HEADERS.sourcePartition, value: Buffer.from(String(record.partition)) },
    { key: HEADERS.sourceOffset, value: Buffer.from(String(record.offset)) },
  ];
  const value = reason === 'RECORD_TOO_LARGE' ? null : record.value;
  return { key: record.key, value, headers: reason === 'RECORD_TOO_LARGE' ? headers.slice(record.headers.length) : headers, timestamp: record.timestamp };
}
