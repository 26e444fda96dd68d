/**
 * The shapes the backend answers with (backend/src/api/routes/*.ts, OpenAPI at /docs/json).
 * Only what the dashboard reads is typed.
 */

export type KeyStatus = 'ACTIVE' | 'PAUSED';

export interface EngineInfo {
  readonly kind: string;
  /** Whether topics, buffers and statuses survive a restart of the service. */
  readonly durable: boolean;
  readonly description: string;
}

export interface Topic {
  readonly name: string;
  readonly partitions: number;
}

export interface Flow {
  readonly id: string;
  readonly partitions: number;
  readonly topics: {
    readonly main: Topic;
    readonly trigger: Topic;
    readonly status: Topic;
    readonly output: Topic;
    readonly dlq: Topic;
    readonly changelog: Topic;
  };
  readonly localPartitions: readonly number[];
  readonly pausedKeys: number;
}

export interface FlowsResponse {
  readonly engine: EngineInfo;
  readonly ready: boolean;
  readonly flows: readonly Flow[];
}

/** A key that is paused or holds buffered events. */
export interface KeyItem {
  readonly key: string;
  readonly partition: number;
  readonly status: KeyStatus;
  readonly reason: string | null;
  readonly actor: string | null;
  readonly statusChangedAt: number | null;
  readonly bufferedCount: number;
  readonly oldestBufferedTimestamp: number | null;
}

export interface KeysPage {
  readonly flow: string;
  readonly items: readonly KeyItem[];
  /** Pass as `after` for the next page; null on the last page. */
  readonly nextCursor: string | null;
  readonly pausedKeys: number;
}

export type KeySummary = KeyItem & { readonly flow: string; readonly answeredBy: string };

export interface BufferedEvent {
  /** The event's offset in the flow's main topic. */
  readonly seq: number;
  readonly id: string | null;
  readonly data: unknown;
  readonly timestamp: number | null;
  readonly recordTimestamp: number;
}

export interface BufferPage {
  readonly flow: string;
  readonly key: string;
  readonly total: number;
  readonly items: readonly BufferedEvent[];
  /** Pass as `after` for the next page; null on the last page. */
  readonly nextAfter: number | null;
}

export interface HistoryEntry {
  readonly status: KeyStatus;
  readonly reason: string | null;
  readonly actor: string | null;
  readonly timestamp: number;
  readonly partition: number;
  readonly offset: number;
}

export interface KeyHistory {
  readonly flow: string;
  readonly key: string;
  readonly items: readonly HistoryEntry[];
}

export interface ActionResult {
  readonly flow: string;
  readonly status: KeyStatus;
  readonly keys: readonly string[];
  readonly reason: string | null;
  readonly actor: string;
}

/** A record of the input or output topic, as the original's consumer showed it. */
export interface TopicRecord {
  readonly key: string | null;
  readonly eventId: string | null;
  readonly data: unknown;
  readonly timestamp: number | null;
  readonly partition: number;
  readonly offset: number;
  readonly consumedAt: number;
}

export interface SendResult {
  readonly message: string;
  readonly eventId: string;
}

/** The body of every error answer. */
export interface ErrorBody {
  readonly statusCode: number;
  readonly code: string;
  readonly error: string;
  readonly message: string;
}

/** Events of GET /api/v1/events (server-sent events). */
export type DeadLetterReason = 'MISSING_KEY' | 'INVALID_EVENT' | 'INVALID_COMMAND' | 'BUFFER_FULL' | 'RECORD_TOO_LARGE' | 'KEY_TOO_LARGE';

export type StreamEvent =
  | { readonly type: 'processed'; readonly flowId: string; readonly count: number; readonly intervalMs: number }
  | {
      readonly type: 'buffered';
      readonly flowId: string;
      readonly count: number;
      readonly intervalMs: number;
      readonly keys: Readonly<Record<string, number>>;
    }
  | {
      readonly type: 'drained';
      readonly flowId: string;
      readonly key: string;
      readonly partition: number;
      readonly count: number;
      readonly remaining: number;
    }
  | {
      readonly type: 'status-changed';
      readonly flowId: string;
      readonly key: string;
      readonly status: KeyStatus;
      readonly reason?: string;
      readonly actor?: string;
      readonly timestamp: number;
    }
  | {
      readonly type: 'dead-lettered';
      readonly flowId: string;
      readonly key: string | null;
      readonly partition: number;
      readonly reason: DeadLetterReason | string;
    }
  | { readonly type: 'overflow'; readonly skipped: number; readonly message: string };

export type StreamEventType = StreamEvent['type'];

/** One flow at one 5 s boundary, summed over every instance (/api/v1/metrics/history). */
export interface HistoryPoint {
  readonly t: number;
  readonly inPerSec: number;
  readonly outPerSec: number;
  readonly drainedPerSec: number;
  readonly deadLetteredPerSec: number;
  readonly bufferedEvents: number;
  readonly consumerLag: number;
  readonly pausedKeys: number;
}

export interface FlowTotals {
  readonly processedEvents: number;
  readonly heldEvents: number;
  readonly drainedEvents: number;
  readonly deadLettered: number;
  readonly bufferedEvents: number;
  readonly consumerLag: number;
  readonly pausedKeys: number;
}

export interface MetricsHistory {
  readonly intervalMs: number;
  readonly windowMs: number;
  /** When counting began on the earliest instance that answered (counters restart with each process). */
  readonly countersSince: number;
  readonly flows: ReadonlyArray<{ readonly flow: string; readonly points: readonly HistoryPoint[]; readonly totals: FlowTotals }>;
  readonly instances?: { readonly answered: number; readonly failed: readonly string[] };
}

export type KeySort = 'key' | 'oldest' | 'most' | 'paused-longest';
export type KeySearchState = 'all' | 'paused' | 'buffered';

export interface KeyHit {
  readonly key: string;
  readonly partition: number;
  readonly status: KeyStatus;
  readonly pausedSince: number | null;
  readonly bufferedCount: number;
  readonly oldestBufferedTimestamp: number | null;
}

export interface KeySearchResult {
  readonly flow: string;
  readonly total: number;
  readonly offset: number;
  readonly items: readonly KeyHit[];
  readonly incomplete: boolean;
  readonly missingPartitions: readonly number[];
}

export interface DeadLetter {
  readonly partition: number;
  readonly offset: number;
  readonly timestamp: number;
  readonly key: string | null;
  readonly reason: string | null;
  readonly message: string | null;
  readonly source: { readonly topic: string | null; readonly partition: number | null; readonly offset: number | null };
  readonly headers: ReadonlyArray<{ readonly key: string; readonly value: string | null }>;
  readonly valuePreview: string | null;
  readonly valueBytes: number | null;
  readonly replayable: boolean;
}

export interface DeadLetters {
  readonly flow: string;
  readonly topic: string;
  readonly items: readonly DeadLetter[];
  readonly countsByReason: Readonly<Record<string, number>>;
}

export interface StuckKeys {
  readonly flow: string;
  readonly thresholds: { readonly pausedMinutes: number; readonly bufferedEvents: number };
  readonly pausedTooLong: { readonly count: number; readonly items: readonly KeyHit[] };
  readonly bufferedTooMany: { readonly count: number; readonly items: readonly KeyHit[] };
}
