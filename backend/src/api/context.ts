/** What every route plugin gets: the engine behind the control plane, and the app's helpers. */
import type { FastifyRequest } from 'fastify';
import type { Settings } from '../config/config.ts';
import { ApiError } from './errors.ts';
import { MAX_ACTOR_LENGTH, MAX_REASON_LENGTH } from './schemas.ts';
import type { Cluster } from './cluster.ts';
import type { ActionMeta, ControlPlane } from './control-plane.ts';
import type { EventStream } from './event-stream.ts';
import type { ServiceMetrics } from './metrics.ts';

export interface ApiContext {
  readonly plane: ControlPlane;
  readonly cluster: Cluster;
  readonly events: EventStream;
  readonly metrics: ServiceMetrics;
  readonly settings: Settings;
}

export const DEFAULT_ACTOR = 'api';

const UTF8 = new TextDecoder('utf-8', { fatal: true });

/**
 * The text of an X-Reason / X-Actor header. HTTP header values are Latin-1 on the wire (Node reads
 * each byte as one character), so non-ASCII text arrives in one of three forms:
 * - RFC 8187 ext-value, `UTF-8''caf%C3%A9` (charset UTF-8, any language tag): percent-decoded as
 *   UTF-8; a bad escape or invalid UTF-8 is a 400;
 * - percent-encoded UTF-8, `caf%C3%A9` (what encodeURIComponent gives): decoded when every `%` starts a
 *   valid escape of valid UTF-8, else the value is taken as it is (`50% off` stays `50% off`);
 * - raw UTF-8 bytes (`curl -H 'X-Reason: café'`), which Node shows as Latin-1 mojibake (`cafÃ©`):
 *   the characters are turned back into bytes and read as UTF-8 when they are valid UTF-8;
 *   a value that is not (real Latin-1 text such as `caf\xE9`) stays Latin-1.
 */
export function headerText(raw: string, header: string): string {
  const ext = /^UTF-8'[^']*'(.*)$/i.exec(raw);
  if (ext !== null) {
    try {
      return decodeURIComponent(ext[1] ?? '');
    } catch {
      throw new ApiError('VALIDATION', `headers.${header} is an RFC 8187 value (UTF-8'...') with a bad %-escape or invalid UTF-8`);
    }
  }
  if (/%[0-9A-Fa-f]{2}/.test(raw) && !/%(?![0-9A-Fa-f]{2})/.test(raw)) {
    try {
      return decodeURIComponent(raw);
    } catch {
      // Not percent-encoded UTF-8 after all: the text as it came.
    }
  }
  // eslint-disable-next-line no-control-regex
  if (/[\u0080-\u00ff]/.test(raw) && !/[^\u0000-\u00ff]/.test(raw)) {
    try {
      return UTF8.decode(Buffer.from(raw, 'latin1'));
    } catch {
      // Real Latin-1 text, not UTF-8 bytes.
    }
  }
  return raw;
}

/** Reason and actor of a pause or resume: from the body when given, else X-Reason / X-Actor (decoded, see headerText). */
export function actionMeta(request: FastifyRequest, body?: { reason?: string; actor?: string }): ActionMeta {
  const header = (name: string, max: number): string | undefined => {
    const value = request.headers[name];
    if (typeof value !== 'string' || value === '') return undefined;
    const text = headerText(value, name);
    if ([...text].length > max) throw new ApiError('VALIDATION', `headers.${name} must NOT have more than ${max} characters`);
    return text === '' ? undefined : text;
  };
  return {
    reason: body?.reason ?? header('x-reason', MAX_REASON_LENGTH),
    actor: body?.actor ?? header('x-actor', MAX_ACTOR_LENGTH) ?? DEFAULT_ACTOR,
  };
}
