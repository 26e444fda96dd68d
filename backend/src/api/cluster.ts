/**
 * Interactive queries across instances, as Kafka Streams does them: a key's buffer lives in the
 * task of its partition, so a query for it is answered by the instance that owns that partition;
 * this one forwards the request there. List queries fan out to every instance and merge.
 *
 * A forwarded request carries FORWARDED_HEADER; an instance never forwards such a request again
 * (ownership may have moved in between), it answers 503 and the client retries.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { FlowEngine } from '../runtime/engine.ts';
import type { BufferView } from '../runtime/ports.ts';
import { ApiError, ERRORS, type ErrorCode } from './errors.ts';

export const FORWARDED_HEADER = 'ep-forwarded-by';
const FORWARD_TIMEOUT_MS = 5000;

export type KeyLocation =
  | { readonly kind: 'local'; readonly partition: number; readonly buffer: BufferView }
  | { readonly kind: 'remote'; readonly partition: number; readonly url: string };

export interface RemoteResponse {
  readonly statusCode: number;
  readonly body: unknown;
  /** The owner's `ep-` headers (e.g. ep-buffered-total), to pass on. */
  readonly headers: Record<string, string>;
}

function normalizeUrl(url: string): string {
  return url.replace(/\/+$/, '');
}

export class Cluster {
  readonly #engine: FlowEngine;
  readonly #selfUrl: string;

  constructor(engine: FlowEngine, selfUrl: string) {
    this.#engine = engine;
    this.#selfUrl = normalizeUrl(selfUrl);
  }

  get selfUrl(): string {
    return this.#selfUrl;
  }

  isForwarded(request: FastifyRequest): boolean {
    return request.headers[FORWARDED_HEADER] !== undefined;
  }

  /** Where a key's buffer lives. Throws a 503 ApiError while its partition has no owner. */
  async locate(flowId: string, key: string, request: FastifyRequest): Promise<KeyLocation> {
    const partition = this.#engine.partitionFor(flowId, key);
    const local = this.#engine.localBuffer(flowId, partition);
    if (local !== undefined) return { kind: 'local', partition, buffer: local };
    const owner = await this.#engine.owner(flowId, partition);
    if (owner.kind === 'local') {
      // Owned here but its store is not open yet (restoring).
      throw new ApiError('PARTITION_UNASSIGNED', `partition ${partition} of flow "${flowId}" is being restored on this instance; retry shortly`);
    }
    if (owner.kind === 'unassigned') {
      throw new ApiError('PARTITION_UNASSIGNED', `partition ${partition} of flow "${flowId}" has no owner yet (rebalancing); retry shortly`);
    }
    const url = normalizeUrl(owner.url);
    if (url === this.#selfUrl || this.isForwarded(request)) {
      throw new ApiError(
        'OWNERSHIP_MOVED',
        `partition ${partition} of flow "${flowId}" is not owned by this instance (ownership is moving); retry shortly`,
      );
    }
    return { kind: 'remote', partition, url };
  }

  /**
   * Answers a query about one key where its buffer lives: `local` here, or the owner's answer
   * (status, `ep-` headers and body, as is) when another instance owns the key's partition.
   */
  async fromOwner<T>(
    request: FastifyRequest,
    reply: FastifyReply,
    flowId: string,
    key: string,
    local: (location: Extract<KeyLocation, { kind: 'local' }>) => T,
  ): Promise<T> {
    const location = await this.locate(flowId, key, request);
    if (location.kind === 'local') return local(location);
    const answer = await this.forward(request, location.url);
    return reply.status(answer.statusCode).headers(answer.headers).send(answer.body) as never;
  }

  /** Sends the same GET to `url` (path and query unchanged) and returns its answer as is. */
  async forward(request: FastifyRequest, url: string): Promise<RemoteResponse> {
    return this.#get(`${url}${request.url}`, request);
  }

  /**
   * Runs `local` here and GETs `path` from every other instance; returns all answers, this
   * instance's first. An instance that cannot be reached fails the whole query: a partial list
   * would silently hide keys.
   */
  async fanOut<T>(request: FastifyRequest, path: string, local: () => T): Promise<T[]> {
    const urls = (await this.#engine.instances()).map(normalizeUrl);
    const others = [...new Set(urls)].filter((url) => url !== this.#selfUrl);
    const remote = await Promise.all(others.map(async (url) => (await this.get(url, path, request)) as T));
    return [local(), ...remote];
  }

  /**
   * As fanOut, but an instance that does not answer is left out and named in `failed`: for
   * figures, where part of the picture beats none.
   */
  async fanOutSettled<T>(request: FastifyRequest, path: string, local: () => T): Promise<{ answers: T[]; failed: string[] }> {
    const urls = (await this.#engine.instances()).map(normalizeUrl);
    const others = [...new Set(urls)].filter((url) => url !== this.#selfUrl);
    const settled = await Promise.allSettled(others.map(async (url) => (await this.get(url, path, request)) as T));
    const answers = [local()];
    const failed: string[] = [];
    settled.forEach((result, i) => {
      if (result.status === 'fulfilled') answers.push(result.value);
      else failed.push(others[i]!);
    });
    return { answers, failed };
  }

  /** GETs `path` from the instance at `url`; any answer but 200 becomes an ApiError. */
  async get(url: string, path: string, request: FastifyRequest): Promise<unknown> {
    const answer = await this.#get(`${url}${path}`, request);
    if (answer.statusCode === 200) return answer.body;
    const body = answer.body as { code?: unknown; message?: unknown } | null;
    const code = typeof body?.code === 'string' && body.code in ERRORS ? (body.code as ErrorCode) : 'OWNER_UNREACHABLE';
    throw new ApiError(code, `instance ${url} answered ${answer.statusCode}: ${String(body?.message ?? 'no message')}`);
  }

  async #get(target: string, request: FastifyRequest): Promise<RemoteResponse> {
    request.log.debug({ target }, 'forwarding query to the owning instance');
    let response: Response;
    try {
      response = await fetch(target, {
        headers: { accept: 'application/json', [FORWARDED_HEADER]: this.#selfUrl },
        signal: AbortSignal.timeout(FORWARD_TIMEOUT_MS),
      });
    } catch (error) {
      throw new ApiError('OWNER_UNREACHABLE', `instance at ${new URL(target).origin} did not answer: ${(error as Error).message}`);
    }
    const text = await response.text();
    let body: unknown = null;
    try {
      body = text === '' ? null : JSON.parse(text);
    } catch {
      throw new ApiError('OWNER_UNREACHABLE', `instance at ${new URL(target).origin} answered ${response.status} with a body that is not JSON`);
    }
    const headers: Record<string, string> = {};
    response.headers.forEach((value, name) => {
      if (name.startsWith('ep-')) headers[name] = value;
    });
    return { statusCode: response.status, body, headers };
  }
}
