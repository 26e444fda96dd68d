/**
 * The live event stream (server-sent events) behind `GET /api/v1/events`.
 *
 * It can't flood a client: 'processed' and 'buffered' events, one per record, are coalesced into
 * per-flow counts sent once per interval (with the busiest keys for 'buffered'); the others
 * ('drained', 'status-changed', 'dead-lettered') pass through up to a budget per interval, and
 * what is over the budget, or arrives while the client reads too slowly, is counted in an
 * 'overflow' event instead.
 */
import type { OutgoingHttpHeaders } from 'node:http';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { EngineEvent, FlowEngine } from '../runtime/engine.ts';

export interface EventStreamOptions {
  readonly intervalMs: number;
  readonly heartbeatMs: number;
  /** Pass-through events per client per interval. */
  readonly budget: number;
  /** A client whose socket holds more unsent bytes than this skips events. */
  readonly maxPendingBytes: number;
}

const DEFAULTS: EventStreamOptions = { intervalMs: 1000, heartbeatMs: 15_000, budget: 200, maxPendingBytes: 1 << 20 };
const TOP_KEYS = 20;

interface FlowCounts {
  processed: number;
  buffered: number;
  readonly bufferedByKey: Map<string, number>;
}

class Client {
  readonly #reply: FastifyReply;
  readonly #options: EventStreamOptions;
  readonly #counts = new Map<string, FlowCounts>();
  #sentThisInterval = 0;
  #overflow = 0;
  #nextId = 1;
  #closed = false;

  constructor(reply: FastifyReply, options: EventStreamOptions) {
    this.#reply = reply;
    this.#options = options;
  }

  get closed(): boolean {
    return this.#closed;
  }

  accept(event: EngineEvent): void {
    if (event.type === 'processed' || event.type === 'buffered') {
      let counts = this.#counts.get(event.flowId);
      if (counts === undefined) this.#counts.set(event.flowId, (counts = { processed: 0, buffered: 0, bufferedByKey: new Map() }));
      if (event.type === 'processed') {
        counts.processed++;
      } else {
        counts.buffered++;
        counts.bufferedByKey.set(event.key, (counts.bufferedByKey.get(event.key) ?? 0) + 1);
      }
      return;
    }
    if (this.#sentThisInterval >= this.#options.budget || this.#congested()) {
      this.#overflow++;
      return;
    }
    this.#sentThisInterval++;
    this.send(event.type, event);
  }

  /** Sends the coalesced counts of the interval that ends now. */
  flush(intervalMs: number): void {
    this.#sentThisInterval = 0;
    for (const [flowId, counts] of this.#counts) {
      if (counts.processed > 0) this.send('processed', { flowId, count: counts.processed, intervalMs });
      if (counts.buffered > 0) {
        const keys = [...counts.bufferedByKey].sort((a, b) => b[1] - a[1]).slice(0, TOP_KEYS);
        this.send('buffered', { flowId, count: counts.buffered, intervalMs, keys: Object.fromEntries(keys) });
      }
    }
    this.#counts.clear();
    if (this.#overflow > 0 && !this.#congested()) {
      this.send('overflow', { skipped: this.#overflow, message: 'events skipped: too many per interval, or the client reads too slowly' });
      this.#overflow = 0;
    }
  }

  send(type: string, data: unknown): void {
    if (this.#closed) return;
    this.#reply.raw.write(`id: ${this.#nextId++}\nevent: ${type}\ndata: ${JSON.stringify(data)}\n\n`);
  }

  comment(text: string): void {
    if (!this.#closed) this.#reply.raw.write(`: ${text}\n\n`);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#reply.raw.end();
  }

  markClosed(): void {
    this.#closed = true;
  }

  #congested(): boolean {
    return this.#reply.raw.writableLength > this.#options.maxPendingBytes;
  }
}

export class EventStream {
  readonly #engine: FlowEngine;
  readonly #options: EventStreamOptions;
  readonly #clients = new Set<Client>();

  constructor(engine: FlowEngine, options: Partial<EventStreamOptions> = {}) {
    this.#engine = engine;
    this.#options = { ...DEFAULTS, ...options };
  }

  get clientCount(): number {
    return this.#clients.size;
  }

  /** Takes the response over and streams until the client goes away or the server closes. */
  open(request: FastifyRequest, reply: FastifyReply, flowId: string | undefined): void {
    reply.hijack();
    // Headers set by hooks (CORS) live on the reply; a hijacked reply must write them itself.
    const headers: OutgoingHttpHeaders = {};
    for (const [name, value] of Object.entries(reply.getHeaders())) if (value !== undefined) headers[name] = value;
    reply.raw.writeHead(200, {
      ...headers,
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    const client = new Client(reply, this.#options);
    reply.raw.write(`retry: 3000\n\n`);
    client.send('hello', { flows: flowId === undefined ? this.#engine.flows.map((f) => f.id) : [flowId], intervalMs: this.#options.intervalMs });
    const unsubscribe = this.#engine.subscribe((event) => {
      if (flowId === undefined || event.flowId === flowId) client.accept(event);
    });
    const flush = setInterval(() => client.flush(this.#options.intervalMs), this.#options.intervalMs);
    const heartbeat = setInterval(() => client.comment('keep-alive'), this.#options.heartbeatMs);
    this.#clients.add(client);
    request.log.info({ flow: flowId ?? '*', clients: this.#clients.size }, 'event stream opened');
    reply.raw.on('close', () => {
      client.markClosed();
      unsubscribe();
      clearInterval(flush);
      clearInterval(heartbeat);
      this.#clients.delete(client);
      request.log.info({ clients: this.#clients.size }, 'event stream closed');
    });
  }

  /** Ends every stream, so that the server can close (clients reconnect elsewhere). */
  closeAll(): void {
    for (const client of this.#clients) client.close();
  }
}
