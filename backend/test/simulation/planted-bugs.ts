/**
 * Processors with one deliberate bug each, to show that the simulation's checker catches them.
 * Test-only subclasses of the real processor: production code carries no switch for them.
 */
import { decodeEvent, HEADERS } from '../../src/model/wire.ts';
import { PauseAwareProcessor, type PauseAwareOptions } from '../../src/processor/pause-aware-processor.ts';
import type { BufferStore, InputKind, InputRecord, Processor, ProcessorContext } from '../../src/runtime/ports.ts';

export const PLANTED_BUGS = {
  /** Forgets buffered keys across a restart or move: the dirty set is not rebuilt from the store. */
  'no-dirty-set-rebuild': (options: PauseAwareOptions) => new NoDirtySetRebuild(options),
  /** Forwards an event of an ACTIVE key at once, without draining its buffer first. */
  'forward-without-drain': (options: PauseAwareOptions) => new ForwardWithoutDrain(options),
  /** Deletes what a drain reads before forwarding it, so whatever the slice does not forward is lost. */
  'delete-before-forward': (options: PauseAwareOptions) => new DeleteBeforeForward(options),
  /** The punctuator drains every buffered key, paused or not. */
  'punctuator-ignores-pause': (options: PauseAwareOptions) => new PunctuatorIgnoresPause(options),
  /** A resume command does nothing while the status table still shows PAUSED. */
  'command-ignored-while-paused': (options: PauseAwareOptions) => new CommandIgnoredWhilePaused(options),
  /** A restart forgets the resume commands whose drains were under way (their drain marks). */
  'drain-marks-forgotten': (options: PauseAwareOptions) => new DrainMarksForgotten(options),
  /** Drain marks lose their bound: after a restart a command's drain takes later events too. */
  'drain-mark-unbounded': (options: PauseAwareOptions) => new DrainMarkUnbounded(options),
  /** A resume command processed late outranks a pause written after it (issue 8, finding 2). */
  'command-outranks-newer-pause': (options: PauseAwareOptions) => new CommandOutranksNewerPause(options),
} as const satisfies Record<string, (options: PauseAwareOptions) => Processor>;

export type PlantedBug = keyof typeof PLANTED_BUGS;

function overriding(buffer: BufferStore, overrides: Partial<BufferStore>): BufferStore {
  return {
    append: (event) => buffer.append(event),
    read: (key, limit) => buffer.read(key, limit),
    remove: (key, seqs) => buffer.remove(key, seqs),
    count: (key) => buffer.count(key),
    keys: () => buffer.keys(),
    setDrainMark: (key, mark) => buffer.setDrainMark(key, mark),
    drainMarks: () => buffer.drainMarks(),
    ...overrides,
  };
}

class NoDirtySetRebuild extends PauseAwareProcessor {
  override init(context: ProcessorContext): void {
    super.init({ ...context, buffer: overriding(context.buffer, { keys: () => [] }) });
  }
}

class DrainMarksForgotten extends PauseAwareProcessor {
  override init(context: ProcessorContext): void {
    super.init({ ...context, buffer: overriding(context.buffer, { drainMarks: () => [] }) });
  }
}

class DrainMarkUnbounded extends PauseAwareProcessor {
  override init(context: ProcessorContext): void {
    const buffer = context.buffer;
    super.init({
      ...context,
      buffer: overriding(buffer, { setDrainMark: (key, mark) => buffer.setDrainMark(key, mark && { ...mark, stopBeforeSeq: null }) }),
    });
  }
}

class ForwardWithoutDrain extends PauseAwareProcessor {
  #context!: ProcessorContext;

  override init(context: ProcessorContext): void {
    this.#context = context;
    super.init(context);
  }

  override process(record: InputRecord, kind: InputKind): void {
    const key = record.key?.toString('utf8');
    if (kind === 'event' && key !== undefined && decodeEvent(record.value).ok && this.#context.status(key).status === 'ACTIVE') {
      this.#context.forward(record);
      return;
    }
    super.process(record, kind);
  }
}

class DeleteBeforeForward extends PauseAwareProcessor {
  override init(context: ProcessorContext): void {
    const buffer = context.buffer;
    const read = (key: string, limit: number) => {
      const events = buffer.read(key, limit);
      buffer.remove(key, events.map((event) => event.seq));
      return events;
    };
    super.init({ ...context, buffer: overriding(buffer, { read }) });
  }
}

class PunctuatorIgnoresPause extends PauseAwareProcessor {
  #punctuating = false;

  override init(context: ProcessorContext): void {
    super.init({
      ...context,
      status: (key) => (this.#punctuating ? { ...context.status(key), status: 'ACTIVE' } : context.status(key)),
    });
  }

  override punctuate(now: number): void {
    this.#punctuating = true;
    try {
      super.punctuate(now);
    } finally {
      this.#punctuating = false;
    }
  }
}

class CommandOutranksNewerPause extends PauseAwareProcessor {
  override process(record: InputRecord, kind: InputKind): void {
    if (kind !== 'command') return super.process(record, kind);
    // As if every command were written after every status: no named offset, the latest stamp.
    const headers = record.headers.filter((header) => header.key !== HEADERS.statusOffset);
    super.process({ ...record, headers, timestamp: Number.MAX_SAFE_INTEGER }, kind);
  }
}

class CommandIgnoredWhilePaused extends PauseAwareProcessor {
  #context!: ProcessorContext;

  override init(context: ProcessorContext): void {
    this.#context = context;
    super.init(context);
  }

  override process(record: InputRecord, kind: InputKind): void {
    const key = record.key?.toString('utf8');
    if (kind === 'command' && key !== undefined && this.#context.status(key).status === 'PAUSED') return;
    super.process(record, kind);
  }
}
