import { Injectable, computed, inject, signal } from '@angular/core';
import { EventPauseApi } from '../api/event-pause-api.service';
import type { StreamEvent, StreamEventType } from '../api/models';
import { Clock } from './clock.service';

export type FeedConnection = 'closed' | 'connecting' | 'open' | 'reconnecting';
export type FeedTone = 'neutral' | 'good' | 'warn' | 'bad';

export interface FeedEntry {
  readonly id: number;
  readonly at: number;
  readonly type: StreamEventType;
  readonly key: string | null;
  readonly text: string;
  readonly tone: FeedTone;
}

interface Rate {
  readonly count: number;
  readonly intervalMs: number;
  readonly at: number;
}

const MAX_ENTRIES = 200;
const RECONNECT_MS = 5000;
const STREAM_TYPES: readonly StreamEventType[] = ['processed', 'buffered', 'drained', 'status-changed', 'dead-lettered', 'overflow'];

function describe(event: StreamEvent): Pick<FeedEntry, 'key' | 'text' | 'tone'> | undefined {
  switch (event.type) {
    case 'processed':
      return undefined;
    case 'buffered': {
      const keys = Object.entries(event.keys)
        .map(([key, count]) => `${key} (${count})`)
        .join(', ');
      const only = Object.keys(event.keys);
      return { key: only.length === 1 ? (only[0] ?? null) : null, text: `${event.count} buffered: ${keys}`, tone: 'warn' };
    }
    case 'drained':
      return {
        key: event.key,
        text: `${event.key}: ${event.count} drained to output, ${event.remaining} left`,
        tone: 'good',
      };
    case 'status-changed': {
      const by = event.actor ? ` by ${event.actor}` : '';
      const why = event.reason ? `: ${event.reason}` : '';
      return {
        key: event.key,
        text: `${event.key} ${event.status === 'PAUSED' ? 'paused' : 'resumed'}${by}${why}`,
        tone: event.status === 'PAUSED' ? 'warn' : 'good',
      };
    }
    case 'dead-lettered':
      return { key: event.key, text: `${event.key ?? '(no key)'} dead-lettered: ${event.reason}`, tone: 'bad' };
    case 'overflow':
      return { key: null, text: `${event.skipped} events not shown: ${event.message}`, tone: 'neutral' };
  }
}

/**
 * The live event stream of the open flow (GET /api/v1/events, server-sent events): a feed of
 * what happened, processing rates, and dead-letter counts by reason since it connected.
 */
@Injectable({ providedIn: 'root' })
export class LiveFeedStore {
  readonly #api = inject(EventPauseApi);
  readonly #clock = inject(Clock);
  readonly #connection = signal<FeedConnection>('closed');
  readonly #entries = signal<readonly FeedEntry[]>([]);
  readonly #processed = signal<Rate | undefined>(undefined);
  readonly #buffered = signal<Rate | undefined>(undefined);
  readonly #deadLettered = signal<Readonly<Record<string, number>>>({});
  readonly #changes = signal(0);
  #source: EventSource | undefined;
  #flowId: string | undefined;
  #reconnect: ReturnType<typeof setTimeout> | undefined;
  #nextId = 1;

  readonly connection = this.#connection.asReadonly();
  /** Newest first. */
  readonly entries = this.#entries.asReadonly();
  readonly processedPerSecond = computed(() => this.#perSecond(this.#processed()));
  readonly bufferedPerSecond = computed(() => this.#perSecond(this.#buffered()));
  /** Dead-lettered records by reason (BUFFER_FULL, INVALID_EVENT, ...) seen since connecting. */
  readonly deadLettered = this.#deadLettered.asReadonly();
  /** Bumps whenever the stream reports something that changes keys, buffers or topics. */
  readonly changes = this.#changes.asReadonly();

  connect(flowId: string): void {
    if (this.#flowId === flowId && this.#source !== undefined) return;
    this.disconnect();
    this.#flowId = flowId;
    this.#entries.set([]);
    this.#deadLettered.set({});
    this.#processed.set(undefined);
    this.#buffered.set(undefined);
    this.#open('connecting');
  }

  disconnect(): void {
    clearTimeout(this.#reconnect);
    this.#source?.close();
    this.#source = undefined;
    this.#flowId = undefined;
    this.#connection.set('closed');
  }

  clear(): void {
    this.#entries.set([]);
  }

  #open(state: FeedConnection): void {
    const flowId = this.#flowId;
    if (flowId === undefined) return;
    this.#connection.set(state);
    const source = new EventSource(this.#api.eventStreamUrl(flowId));
    this.#source = source;
    source.onopen = () => this.#connection.set('open');
    source.onerror = () => {
      // The browser retries by itself unless the answer was not an event stream at all.
      this.#connection.set('reconnecting');
      if (source.readyState === EventSource.CLOSED) {
        this.#reconnect = setTimeout(() => this.#source === source && this.#open('reconnecting'), RECONNECT_MS);
      }
    };
    for (const type of STREAM_TYPES) {
      source.addEventListener(type, (message) => this.#receive(type, (message as MessageEvent<string>).data));
    }
  }

  #receive(type: StreamEventType, data: string): void {
    let event: StreamEvent;
    try {
      event = { ...JSON.parse(data), type } as StreamEvent;
    } catch {
      return;
    }
    const now = Date.now();
    if (event.type === 'processed') this.#processed.set({ count: event.count, intervalMs: event.intervalMs, at: now });
    if (event.type === 'buffered') this.#buffered.set({ count: event.count, intervalMs: event.intervalMs, at: now });
    if (event.type === 'dead-lettered') {
      const reason = event.reason;
      this.#deadLettered.update((counts) => ({ ...counts, [reason]: (counts[reason] ?? 0) + 1 }));
    }
    const shown = describe(event);
    if (shown !== undefined) {
      const entry: FeedEntry = { id: this.#nextId++, at: now, type, ...shown };
      this.#entries.update((entries) => [entry, ...entries].slice(0, MAX_ENTRIES));
    }
    if (event.type !== 'overflow') this.#changes.update((n) => n + 1);
  }

  /** A rate stays shown for a little over one interval: the stream sends nothing when idle. */
  #perSecond(rate: Rate | undefined): number {
    if (rate === undefined || this.#clock.now() - rate.at > rate.intervalMs * 2 + 500) return 0;
    return Math.round((rate.count * 1000) / rate.intervalMs);
  }
}
