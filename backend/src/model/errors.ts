/**
 * Errors the service decides on, each with a stable code from one closed list (as
 * platformatic/kafka's src/errors.ts): code paths test `error.code`, never an error's class from
 * the standard library or its message.
 */

export const ERROR_CODES = {
  /** A record key longer than a buffer can hold (MAX_BUFFERED_KEY_BYTES): dead-lettered as KEY_TOO_LARGE. */
  KEY_TOO_LARGE: 'record key too large to buffer',
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export class EventPauseError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'EventPauseError';
    this.code = code;
  }
}

export function hasErrorCode(error: unknown, code: ErrorCode): error is EventPauseError {
  return error instanceof EventPauseError && error.code === code;
}

/**
 * The longest record key (UTF-8 bytes) any buffer holds, the same on every engine: lmdb's key
 * limit (1978 bytes with its default page size) less the 12 bytes a buffer entry key adds.
 */
export const MAX_BUFFERED_KEY_BYTES = 1966;
