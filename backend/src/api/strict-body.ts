/**
 * Request bodies are JSON and keep their types: Fastify's ajv coerces by default (coerceTypes
 * 'array', which the query string needs: its values are all text), so `{"keys":"A"}` became
 * `["A"]`, `[1,2]` became `["1","2"]` and `"reason":123` became `"123"`: a client's bug paused
 * real keys. Turning coercion off for the whole app would break every integer in a query string,
 * and the default compiler cannot be told apart per part of the request; so each route with a
 * body schema gets a check, before ajv runs, that the body's values have the schema's JSON types
 * (TypeBox's own validator, which never coerces). Anything else (lengths, patterns, unknown
 * properties) is left to ajv and its messages.
 */
import type { FastifyRequest, RouteOptions } from 'fastify';
import type { TSchema } from 'typebox';
import { Compile } from 'typebox/compile';
import { ApiError, describeValidation } from './errors.ts';

function at(value: unknown, pointer: string): unknown {
  let current = value;
  for (const part of pointer.split('/').slice(1)) {
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Record<string, unknown>)[part.replaceAll('~1', '/').replaceAll('~0', '~')];
  }
  return current;
}

/** onRoute hook: adds the type check to a route that declares a body schema. */
export function strictBodyTypes(route: RouteOptions): void {
  const schema = route.schema?.body as TSchema | undefined;
  if (schema === undefined) return;
  const validator = Compile(schema);
  const check = async (request: FastifyRequest): Promise<void> => {
    const body = request.body;
    if (body === undefined || validator.Check(body)) return;
    const issues = validator
      .Errors(body)
      .filter((error) => error.keyword === 'type')
      .map((error) => ({
        instancePath: error.instancePath,
        keyword: 'type',
        params: error.params as Record<string, unknown>,
        data: at(body, error.instancePath),
        parentSchema: at(schema, error.schemaPath.replace(/^#/, '')) as { description?: string } | undefined,
      }));
    if (issues.length > 0) throw new ApiError('VALIDATION', describeValidation(issues, 'body'));
  };
  const existing = route.preValidation;
  route.preValidation = existing === undefined ? [check] : [...(Array.isArray(existing) ? existing : [existing]), check];
}
