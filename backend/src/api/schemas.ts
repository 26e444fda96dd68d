/**
 * TypeBox building blocks shared by the routes. Each route declares its own schema from these:
 * one schema gives validation, the handler's static types and the OpenAPI document at once.
 * `description` texts double as the hint in 400 messages (see errors.ts).
 */
import { Type } from 'typebox';
import { MAX_BUFFERED_KEY_BYTES } from '../model/errors.ts';

/**
 * Longest record key the API takes, in UTF-8 bytes: what every engine can hold, the buffer
 * store's limit (lmdb's 1978-byte key limit less the 12 bytes its entry key adds; the memory
 * store enforces the same). Kafka itself takes any key up to message.max.bytes. The original
 * took any key; a longer one than this could be paused but its events never buffered.
 */
export const MAX_KEY_BYTES = MAX_BUFFERED_KEY_BYTES;
export const MAX_REASON_LENGTH = 500;
export const MAX_ACTOR_LENGTH = 100;
export const MAX_BULK_KEYS = 1000;
/** Most records input-messages / output-messages return: a larger `limit` is clamped to it (X-Limit-Clamped). */
export const MAX_RECENT_LIMIT = 1000;
export const MAX_PAGE_LIMIT = 1000;
export const MAX_DATA_LENGTH = 4096;
/** The original endpoint returned a key's whole buffer; we stop at this many events. */
export const MAX_BUFFER_LIST = 10_000;

export const FlowId = Type.String({
  pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$',
  description: 'a flow id: letters, digits, . _ - (at most 100)',
});

/** A record key. Its byte length (MAX_KEY_BYTES) is checked after the schema (keyBytesGuard in app.ts): characters are at most bytes. */
export const Key = Type.String({
  minLength: 1,
  maxLength: MAX_KEY_BYTES,
  description: `a record key, 1 to ${MAX_KEY_BYTES} UTF-8 bytes`,
});

/** Why `key` is too long, or undefined when it fits. */
export function keyTooLong(key: string, where: string): string | undefined {
  const bytes = Buffer.byteLength(key, 'utf8');
  return bytes > MAX_KEY_BYTES ? `${where} must be at most ${MAX_KEY_BYTES} UTF-8 bytes (a record key a buffer can hold), got ${bytes} bytes` : undefined;
}

export const FlowParams = Type.Object({ flow: FlowId });
export const FlowKeyParams = Type.Object({ flow: FlowId, key: Key });

export const Reason = Type.String({ maxLength: MAX_REASON_LENGTH, description: `free text, at most ${MAX_REASON_LENGTH} characters` });
export const Actor = Type.String({
  minLength: 1,
  maxLength: MAX_ACTOR_LENGTH,
  description: `who acts, 1 to ${MAX_ACTOR_LENGTH} characters`,
});

/**
 * Optional reason and actor of a pause or resume, as headers (the original endpoints take no body).
 * Non-ASCII text: RFC 8187 `UTF-8''caf%C3%A9`, percent-encoded UTF-8, or raw UTF-8 bytes (see
 * headerText in context.ts); the length limits apply to the decoded text, so the raw value may
 * be longer (12 characters per character at most: 4 UTF-8 bytes of 3 characters each).
 */
export const ActionHeaders = Type.Object({
  'x-actor': Type.Optional(
    Type.String({ maxLength: MAX_ACTOR_LENGTH * 12 + 16, description: `who acts, 1 to ${MAX_ACTOR_LENGTH} characters; non-ASCII as UTF-8''<percent-encoded UTF-8> (RFC 8187), percent-encoded or raw UTF-8` }),
  ),
  'x-reason': Type.Optional(
    Type.String({ maxLength: MAX_REASON_LENGTH * 12 + 16, description: `free text, at most ${MAX_REASON_LENGTH} characters; non-ASCII as UTF-8''<percent-encoded UTF-8> (RFC 8187), percent-encoded or raw UTF-8` }),
  ),
});

export const KeyStatus = Type.Union([Type.Literal('ACTIVE'), Type.Literal('PAUSED')]);

export function limit(defaultValue: number, max: number) {
  return Type.Integer({ minimum: 1, maximum: max, default: defaultValue, description: `an integer from 1 to ${max}` });
}

export const ErrorResponse = Type.Object(
  {
    statusCode: Type.Integer(),
    code: Type.String(),
    error: Type.String(),
    message: Type.String(),
  },
  { description: 'What is wrong' },
);

/** An event as the original's `Event` record: `{id, data, timestamp}`. */
export const WireEvent = Type.Object({
  id: Type.Union([Type.String(), Type.Null()]),
  data: Type.Unknown(),
  timestamp: Type.Union([Type.Number(), Type.Null()]),
});

export const Accepted = Type.Object({
  flow: Type.String(),
  key: Type.String(),
  status: KeyStatus,
  reason: Type.Union([Type.String(), Type.Null()]),
  actor: Type.String(),
});
