/**
 * Errors of the log-client port: every adapter (librdkafka, the in-memory cluster) throws these,
 * so the runtime decides how to react from one coded list, never from a client's own error type.
 */

/**
 * How the runtime must react: `fatal` start the member afresh with new clients (fenced, timed
 * out: the outcome of the call is unknown); `abortable` abort the transaction and rewind;
 * `retriable` try the same call again; `other` abort and rewind.
 */
export type LogErrorKind = 'fatal' | 'abortable' | 'retriable' | 'other';

export type LogErrorCode =
  | 'TIMEOUT'
  | 'CLOSED'
  | 'FENCED'
  | 'TXN_ABORTABLE'
  | 'STALE_METADATA'
  /** The group's generation moved on (ILLEGAL_GENERATION, UNKNOWN_MEMBER_ID, REBALANCE_IN_PROGRESS): the member may no longer own its partitions. */
  | 'GENERATION'
  | 'QUEUE_FULL'
  | 'UNKNOWN_TOPIC'
  | 'DELIVERY_FAILED'
  | 'OTHER';

export interface LogErrorOptions {
  readonly cause?: unknown;
  /** The client's view of the cluster is stale (seen after broker restarts): renew the client. */
  readonly staleMetadata?: boolean;
  /** The adapter's own numeric code (librdkafka's), for logs. */
  readonly clientCode?: number;
}

export class LogClientError extends Error {
  readonly code: LogErrorCode;
  readonly kind: LogErrorKind;
  readonly staleMetadata: boolean;
  readonly clientCode: number | undefined;

  constructor(code: LogErrorCode, kind: LogErrorKind, message: string, options: LogErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'LogClientError';
    this.code = code;
    this.kind = kind;
    this.staleMetadata = options.staleMetadata ?? false;
    this.clientCode = options.clientCode;
  }
}

/**
 * A wait on a client passed its deadline. What the call did is unknown (a commit may or may not
 * have landed), so the caller must start over with new clients.
 */
export class ClientTimeoutError extends LogClientError {
  constructor(message: string) {
    super('TIMEOUT', 'fatal', message, { staleMetadata: true });
    this.name = 'ClientTimeoutError';
  }
}

/** A call on a client that is closing or closed. */
export class ClientClosedError extends LogClientError {
  constructor(message: string) {
    super('CLOSED', 'fatal', message, { staleMetadata: true });
    this.name = 'ClientClosedError';
  }
}

/** How the runtime must react to an error of a port call ('other' for anything not of the port). */
export function errorKind(error: unknown): LogErrorKind {
  return error instanceof LogClientError ? error.kind : 'other';
}

/** The client must be renewed (its view of the cluster is stale, or it is closed). */
export function isStaleMetadata(error: unknown): boolean {
  return error instanceof LogClientError && error.staleMetadata;
}

/** The group's generation moved on: this member's partitions may be another's already. */
export function isGenerationError(error: unknown): boolean {
  return error instanceof LogClientError && error.code === 'GENERATION';
}

export function isQueueFull(error: unknown): boolean {
  return error instanceof LogClientError && error.code === 'QUEUE_FULL';
}

export function isUnknownTopic(error: unknown): boolean {
  return error instanceof LogClientError && error.code === 'UNKNOWN_TOPIC';
}
