/**
 * What request bodies each part of the API takes, by Content-Type.
 *
 * The original's /control endpoints read no body (pause and resume take nothing; send takes
 * `key` and `data` as request parameters, which Spring reads from the query string or from a
 * form body), and Spring accepted whatever Content-Type came with it. Its clients rely on that:
 * `curl -d ''` and python's `requests.post(url, data=...)` send
 * application/x-www-form-urlencoded. So /control takes any body: a form is parsed (send reads
 * key and data from it), anything else is ignored.
 *
 * /api/v1 reads JSON. It also takes a form (its fields as strings: reason, actor) and an empty
 * body of any type (no body); any other body is a 415 that names application/json, rather than
 * text handed to the schema (JSON sent as text/plain used to get "body must be object").
 */
import { parse as parseQueryString } from 'node:querystring';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ApiError } from './errors.ts';

const FORM = 'application/x-www-form-urlencoded';

function parseForm(_request: FastifyRequest, body: string, done: (error: Error | null, body?: unknown) => void): void {
  if (body.trim() === '') {
    done(null, undefined);
    return;
  }
  done(null, { ...parseQueryString(body) });
}

/** The original's endpoints: a form is parsed, any other body is read and ignored. */
export function originalApiBodies(app: FastifyInstance): void {
  app.addContentTypeParser(FORM, { parseAs: 'string' }, parseForm);
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, _body, done) => done(null, undefined));
}

/** /api/v1: JSON, a form, or nothing; anything else is a 415 naming application/json. */
export function jsonApiBodies(app: FastifyInstance): void {
  app.removeContentTypeParser('text/plain');
  app.addContentTypeParser(FORM, { parseAs: 'string' }, parseForm);
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (request, body, done) => {
    if ((body as Buffer).length === 0) {
      done(null, undefined);
      return;
    }
    done(unsupported(request.headers['content-type']));
  });
}

export function unsupported(contentType: string | undefined): ApiError {
  return new ApiError(
    'UNSUPPORTED_MEDIA_TYPE',
    `Content-Type ${contentType === undefined ? '(none)' : `"${contentType}"`} is not accepted here: send the body as application/json (a form, application/x-www-form-urlencoded, or no body also do)`,
  );
}
