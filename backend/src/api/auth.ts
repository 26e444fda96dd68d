/**
 * Bearer-token guard for mutating requests. With API_TOKEN unset the API is open (a local demo);
 * with it set, every POST/PUT/PATCH/DELETE needs `Authorization: Bearer <token>`. Reads stay open
 * so dashboards and other instances' forwarded queries need no secret.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { ApiError } from './errors.ts';

/** Methods that need the token when API_TOKEN is set. */
export const MUTATING_METHODS: ReadonlySet<string> = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

function digest(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}

/** Compares digests, so neither the token's content nor its length leaks through timing. */
export function tokenMatches(presented: string, expected: string): boolean {
  return timingSafeEqual(digest(presented), digest(expected));
}

export function bearerGuard(token: string): (request: FastifyRequest) => Promise<void> {
  return async (request) => {
    if (!MUTATING_METHODS.has(request.method)) return;
    const header = request.headers.authorization;
    if (header === undefined || header === '') {
      throw new ApiError('UNAUTHORIZED', 'this endpoint changes state and needs an "Authorization: Bearer <API_TOKEN>" header');
    }
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (match === null) {
      throw new ApiError('UNAUTHORIZED', 'the Authorization header must have the form "Bearer <API_TOKEN>"');
    }
    if (!tokenMatches(match[1] ?? '', token)) throw new ApiError('UNAUTHORIZED', 'the bearer token is not valid');
  };
}
