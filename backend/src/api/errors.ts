/**
 * The API's errors: one closed list of codes, each mapped to its HTTP status in one place
 * (like fastify's own lib/errors.js). Every error response has the same shape,
 * `{statusCode, code, error, message}`, and a message that says what is wrong.
 */
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { MAX_BUFFERED_KEY_BYTES } from '../model/errors.ts';

export const ERRORS = {
  VALIDATION: 400,
  BAD_REQUEST: 400,
  UNAUTHORIZED: 401,
  FLOW_NOT_FOUND: 404,
  ROUTE_NOT_FOUND: 404,
  REQUEST_TIMEOUT: 408,
  BODY_TOO_LARGE: 413,
  URI_TOO_LONG: 414,
  UNSUPPORTED_MEDIA_TYPE: 415,
  HEADERS_TOO_LARGE: 431,
  OWNER_UNREACHABLE: 502,
  NOT_READY: 503,
  PARTITION_UNASSIGNED: 503,
  OWNERSHIP_MOVED: 503,
  ENGINE_UNAVAILABLE: 503,
  INTERNAL: 500,
} as const;

export type ErrorCode = keyof typeof ERRORS;

export class ApiError extends Error {
  readonly code: ErrorCode;
  readonly statusCode: number;
  constructor(code: ErrorCode, message: string) {
    super(message);
    this.name = 'ApiError';
    this.code = code;
    this.statusCode = ERRORS[code];
  }
}

export interface ErrorBody {
  readonly statusCode: number;
  readonly code: ErrorCode;
  readonly error: string;
  readonly message: string;
}

export function errorBody(code: ErrorCode, message: string): ErrorBody {
  const statusCode = ERRORS[code];
  return { statusCode, code, error: STATUS_CODES[statusCode] ?? 'Error', message };
}

/** Fastify's own error codes that are the client's fault, and what they mean in our list. */
const FASTIFY_CODES: Readonly<Record<string, ErrorCode>> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'BODY_TOO_LARGE',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'BAD_REQUEST',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'BAD_REQUEST',
  FST_ERR_CTP_INVALID_JSON_BODY: 'BAD_REQUEST',
};

interface ValidationIssue {
  readonly instancePath: string;
  readonly keyword: string;
  readonly message?: string;
  readonly params: Record<string, unknown>;
  readonly parentSchema?: { readonly description?: string };
  /** The offending value (ajv's `verbose` option). */
  readonly data?: unknown;
}

function shown(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

/**
 * Turns schema errors into one sentence naming the field, what it must be and what it got:
 * `params.key must NOT have more than 256 characters (a record key, 1 to 256 characters)`.
 */
export function describeValidation(issues: readonly ValidationIssue[], context: string): string {
  return issues
    .slice(0, 3)
    .map((issue) => {
      const where = context + issue.instancePath.replaceAll('/', '.');
      const hint = issue.parentSchema?.description;
      switch (issue.keyword) {
        case 'required':
          return `${where}.${String(issue.params.missingProperty)} is required`;
        case 'additionalProperties':
          return `${where} has an unknown property "${String(issue.params.additionalProperty)}"`;
        case 'enum':
          return `${where} must be one of ${(issue.params.allowedValues as unknown[]).map(shown).join(', ')}, got ${shown(issue.data)}`;
        case 'type': {
          const type = String(issue.params.type);
          const article = /^[aeiou]/.test(type) ? 'an' : 'a';
          return `${where} must be ${article} ${type}${hint === undefined ? '' : ` (${hint})`}, got ${shown(issue.data)}`;
        }
        case 'pattern':
        case 'format':
          return `${where} must be ${hint ?? `of the form ${String(issue.params.pattern ?? issue.params.format)}`}, got ${shown(issue.data)}`;
        default:
          return hint === undefined ? `${where} ${issue.message ?? 'is invalid'}` : `${where} ${issue.message ?? 'is invalid'} (${hint})`;
      }
    })
    .join('; ');
}

export function toErrorBody(error: FastifyError | ApiError | Error): ErrorBody {
  if (error instanceof ApiError) return errorBody(error.code, error.message);
  const fastifyError = error as FastifyError;
  if (fastifyError.validation !== undefined) {
    const context = fastifyError.validationContext ?? 'request';
    return errorBody('VALIDATION', describeValidation(fastifyError.validation as ValidationIssue[], context));
  }
  const mapped = fastifyError.code === undefined ? undefined : FASTIFY_CODES[fastifyError.code];
  if (mapped === 'UNSUPPORTED_MEDIA_TYPE') return errorBody(mapped, `${fastifyError.message}; this API takes application/json`);
  if (mapped !== undefined) return errorBody(mapped, fastifyError.message);
  const status = fastifyError.statusCode;
  if (status !== undefined && status >= 400 && status < 500) return errorBody('BAD_REQUEST', fastifyError.message);
  return errorBody('INTERNAL', 'internal error; the server log has the details');
}

export function errorHandler(error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  const body = toErrorBody(error);
  if (body.statusCode >= 500) request.log.error({ err: error }, 'request failed');
  else request.log.info({ code: body.code, message: body.message }, 'request rejected');
  if (body.code === 'UNAUTHORIZED') reply.header('www-authenticate', 'Bearer');
  void reply.status(body.statusCode).send(body);
}

export function notFoundHandler(request: FastifyRequest, reply: FastifyReply): void {
  const body = errorBody('ROUTE_NOT_FOUND', `no route ${request.method} ${request.url.split('?')[0]}; the API is described at /docs`);
  void reply.status(body.statusCode).send(body);
}

/**
 * Errors Fastify answers before any route runs (its `frameworkErrors` option): a URL with a bad
 * %-escape, a path parameter over the router's limit. Same shape as every other error.
 */
export function frameworkErrorHandler(error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  const path = request.url.split('?')[0] ?? request.url;
  let body: ErrorBody;
  if (error.code === 'FST_ERR_BAD_URL') {
    body = errorBody('BAD_REQUEST', `the URL ${shown(path)} has a bad %-escape: a % must start %XX (two hex digits) of valid UTF-8; write a literal % as %25`);
  } else if (error.code === 'FST_ERR_MAX_PARAM_LENGTH') {
    body = errorBody('URI_TOO_LONG', `a path parameter is too long (a key is at most ${MAX_BUFFERED_KEY_BYTES} UTF-8 bytes)`);
  } else {
    body = toErrorBody(error);
  }
  request.log.info({ code: body.code, message: body.message }, 'request rejected');
  void reply.status(body.statusCode).send(body);
}

/**
 * Errors Node's HTTP parser meets before Fastify sees a request (the server's clientError):
 * headers over the size limit (431), a request that took too long (408), a malformed request
 * (400). Fastify's default answers these in a shape of its own; this one answers in ours.
 */
export function clientErrorHandler(error: NodeJS.ErrnoException, socket: Socket): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const body =
    error.code === 'HPE_HEADER_OVERFLOW'
      ? errorBody('HEADERS_TOO_LARGE', 'the request\'s headers (with the URL) exceed the server\'s limit of 16 KiB; send long keys in a bulk body, not in the URL')
      : error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? errorBody('REQUEST_TIMEOUT', 'the request was not received in time')
        : errorBody('BAD_REQUEST', `malformed HTTP request (${error.code ?? 'parse error'})`);
  const text = JSON.stringify(body);
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${body.statusCode} ${body.error}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(text)}\r\nConnection: close\r\n\r\n${text}`,
    );
  }
  socket.destroy(error);
}
