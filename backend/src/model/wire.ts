/**
 * Wire formats, compatible with the original Java system so that its producers and tools keep
 * working: event `{"id","data","timestamp"}`, status the JSON string `"ACTIVE"`/`"PAUSED"`
 * (tombstone = ACTIVE), resume command `{"action":"RESUME"}`, keys UTF-8 strings.
 */
import type { Header, KeyStatus } from './record.ts';

export interface Event {
  readonly id: string;
  readonly data: unknown;
  readonly timestamp?: number;
}

/** Header names event-pause adds. Values stay wire-compatible; metadata travels in headers. */
export const HEADERS = {
  reason: 'ep-reason',
  actor: 'ep-actor',
  dlqReason: 'ep-dlq-reason',
  dlqMessage: 'ep-dlq-message',
  sourceTopic: 'ep-source-topic',
  sourcePartition: 'ep-source-partition',
  sourceOffset: 'ep-source-offset',
  /**
   * On a resume command: the offset of the ACTIVE status record written just before it for the
   * same key. A PAUSED at a higher offset was written after the command and outranks it.
   */
  statusOffset: 'ep-status-offset',
} as const;

export type Decoded<T> = { ok: true; value: T } | { ok: false; error: string };

function parseJson(value: Buffer | null): Decoded<unknown> {
  if (value === null) return { ok: false, error: 'value is null' };
  try {
    return { ok: true, value: JSON.parse(value.toString('utf8')) };
  } catch (error) {
    return { ok: false, error: `value is not JSON: ${(error as Error).message}` };
  }
}

export function decodeEvent(value: Buffer | null): Decoded<Event> {
  const parsed = parseJson(value);
  if (!parsed.ok) return parsed;
  const event = parsed.value as Record<string, unknown>;
  if (typeof event !== 'object' || event === null || Array.isArray(event)) {
    return { ok: false, error: 'event must be a JSON object {"id","data","timestamp"}' };
  }
  if (typeof event.id !== 'string' || event.id === '') return { ok: false, error: 'event.id must be a non-empty string' };
  if (event.timestamp !== undefined && event.timestamp !== null && typeof event.timestamp !== 'number') {
    return { ok: false, error: 'event.timestamp must be a number (ms since epoch)' };
  }
  return { ok: true, value: event as unknown as Event };
}

export function encodeEvent(event: Event): Buffer {
  return Buffer.from(JSON.stringify({ id: event.id, data: event.data, timestamp: event.timestamp }));
}

export function decodeResumeCommand(value: Buffer | null): Decoded<{ action: 'RESUME' }> {
  const parsed = parseJson(value);
  if (!parsed.ok) return parsed;
  const command = parsed.value as Record<string, unknown> | null;
  if (typeof command !== 'object' || command === null || command.action !== 'RESUME') {
    return { ok: false, error: 'command must be {"action":"RESUME"}' };
  }
  return { ok: true, value: { action: 'RESUME' } };
}

export const RESUME_COMMAND: Buffer = Buffer.from('{"action":"RESUME"}');

/** A tombstone or missing value means ACTIVE. */
const STATUS_PAUSED: Decoded<KeyStatus> = Object.freeze({ ok: true, value: 'PAUSED' });
const STATUS_ACTIVE: Decoded<KeyStatus> = Object.freeze({ ok: true, value: 'ACTIVE' });
const PAUSED_BYTES = Buffer.from('"PAUSED"');
const ACTIVE_BYTES = Buffer.from('"ACTIVE"');

export function decodeStatus(value: Buffer | null): Decoded<KeyStatus> {
  if (value === null || value.length === 0) return STATUS_ACTIVE;
  // The encodings every writer uses, compared as bytes: no parse for millions of status records.
  if (value.equals(PAUSED_BYTES)) return STATUS_PAUSED;
  if (value.equals(ACTIVE_BYTES)) return STATUS_ACTIVE;
  const parsed = parseJson(value);
  if (!parsed.ok) return parsed;
  if (parsed.value === 'ACTIVE' || parsed.value === 'PAUSED') return { ok: true, value: parsed.value };
  return { ok: false, error: `status must be "ACTIVE" or "PAUSED", got ${JSON.stringify(parsed.value)}` };
}

export function encodeStatus(status: KeyStatus): Buffer {
  return Buffer.from(JSON.stringify(status));
}

export function headerValue(headers: readonly Header[], key: string): string | undefined {
  for (let i = headers.length - 1; i >= 0; i--) {
    const header = headers[i];
    if (header !== undefined && header.key === key) return header.value.toString('utf8');
  }
  return undefined;
}
