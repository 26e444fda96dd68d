import { HttpClient, HttpParams } from '@angular/common/http';
import { Injectable, inject } from '@angular/core';
import { firstValueFrom } from 'rxjs';
import { SettingsStore } from '../state/settings.store';
import type {
  ActionResult,
  BufferPage,
  DeadLetters,
  KeySearchResult,
  KeySearchState,
  KeySort,
  MetricsHistory,
  StuckKeys,
  FlowsResponse,
  KeyHistory,
  KeySummary,
  KeysPage,
  SendResult,
  TopicRecord,
} from './models';

export type KeyListState = 'paused' | 'buffered';
export type RecordSource = 'input' | 'output';

const segment = encodeURIComponent;

/**
 * The event-pause HTTP API as promises. This is the edge where RxJS stops: the stores above it
 * await these calls and keep what they get in signals.
 */
@Injectable({ providedIn: 'root' })
export class EventPauseApi {
  readonly #http = inject(HttpClient);
  readonly #settings = inject(SettingsStore);

  flows(): Promise<FlowsResponse> {
    return this.#get('/api/v1/flows');
  }

  /** One page of paused keys, or of keys holding buffered events, sorted by key. */
  keys(flow: string, state: KeyListState, limit: number, after?: string): Promise<KeysPage> {
    let params = new HttpParams().set('state', state).set('limit', limit);
    if (after !== undefined) params = params.set('after', after);
    return this.#get(`/api/v1/flows/${segment(flow)}/keys`, params);
  }

  key(flow: string, key: string): Promise<KeySummary> {
    return this.#get(`/api/v1/flows/${segment(flow)}/keys/${segment(key)}`);
  }

  /** A page of a key's buffered events, oldest first, after a seq cursor (stable while it drains). */
  buffer(flow: string, key: string, limit: number, after?: number): Promise<BufferPage> {
    let params = new HttpParams().set('limit', limit);
    if (after !== undefined) params = params.set('after', after);
    return this.#get(`/api/v1/flows/${segment(flow)}/keys/${segment(key)}/buffer`, params);
  }

  history(flow: string, key: string): Promise<KeyHistory> {
    return this.#get(`/api/v1/flows/${segment(flow)}/keys/${segment(key)}/history`);
  }

  pause(flow: string, keys: readonly string[], reason: string): Promise<ActionResult> {
    return this.#action(flow, 'pause', keys, reason);
  }

  resume(flow: string, keys: readonly string[], reason: string): Promise<ActionResult> {
    return this.#action(flow, 'resume', keys, reason);
  }

  /** Sends a test event `{id, data, timestamp}` (the original's endpoint). */
  send(flow: string, key: string, data: string): Promise<SendResult> {
    const params = new HttpParams().set('key', key).set('data', data);
    return firstValueFrom(this.#http.post<SendResult>(this.#url(`/control/${segment(flow)}/send`), null, { params }));
  }

  /** The last `limit` records of the flow's input or output topic, newest last. */
  recent(flow: string, source: RecordSource, limit: number, key?: string): Promise<TopicRecord[]> {
    if (key !== undefined) {
      return this.#get(`/api/v1/flows/${segment(flow)}/records`, new HttpParams().set('topic', source).set('key', key).set('limit', limit));
    }
    return this.#get(`/control/${segment(flow)}/${source}-messages`, new HttpParams().set('limit', limit));
  }

  /** The last 15 minutes of the flow's figures and its counters now, over every instance. */
  metricsHistory(flow: string): Promise<MetricsHistory> {
    return this.#get('/api/v1/metrics/history', new HttpParams().set('flow', flow));
  }

  /** Paused and buffered keys: exact key or prefix, sorted, one page at `offset`, with the total. */
  searchKeys(flow: string, query: { prefix: string; exact?: string; state: KeySearchState; sort: KeySort; offset: number; limit: number }): Promise<KeySearchResult> {
    let params = new HttpParams().set('prefix', query.prefix).set('state', query.state).set('sort', query.sort).set('offset', query.offset).set('limit', query.limit);
    if (query.exact !== undefined) params = params.set('key', query.exact);
    return this.#get(`/api/v1/flows/${segment(flow)}/key-search`, params);
  }

  /** Resumes every paused key with the prefix; refused (409, with the count now) when that is not `expectedCount`. */
  resumeMatching(flow: string, prefix: string, expectedCount: number, reason: string): Promise<{ resumed: number; actor: string }> {
    const body: Record<string, unknown> = { prefix, expectedCount, actor: this.#settings.actor() };
    if (reason !== '') body['reason'] = reason;
    return firstValueFrom(this.#http.post<{ resumed: number; actor: string }>(this.#url(`/api/v1/flows/${segment(flow)}/resume-matching`), body));
  }

  deadLetters(flow: string, limit: number, reason?: string, key?: string): Promise<DeadLetters> {
    let params = new HttpParams().set('limit', limit);
    if (reason !== undefined) params = params.set('reason', reason);
    if (key !== undefined) params = params.set('key', key);
    return this.#get(`/api/v1/flows/${segment(flow)}/dead-letters`, params);
  }

  replayDeadLetters(flow: string, records: ReadonlyArray<{ partition: number; offset: number }>, reason: string): Promise<{ replayed: readonly unknown[] }> {
    const body: Record<string, unknown> = { records, actor: this.#settings.actor() };
    if (reason !== '') body['reason'] = reason;
    return firstValueFrom(this.#http.post<{ replayed: readonly unknown[] }>(this.#url(`/api/v1/flows/${segment(flow)}/dead-letters/replay`), body));
  }

  /** Handler mode: dead-letters the key's first held event (seq) and resumes the key. */
  skip(flow: string, key: string, seq: number): Promise<unknown> {
    return firstValueFrom(this.#http.post(this.#url(`/api/v1/flows/${segment(flow)}/keys/${segment(key)}/skip`), { seq, actor: this.#settings.actor() }));
  }

  /** Handler mode: the handler failure that paused the key (the error and its whole stack), or null. */
  handlerFailure(flow: string, key: string): Promise<{ failure: { reason: string | null; timestamp: number; stack: string | null } | null }> {
    return this.#get(`/api/v1/flows/${segment(flow)}/keys/${segment(key)}/handler-failure`, new HttpParams());
  }

  stuckKeys(flow: string): Promise<StuckKeys> {
    return this.#get(`/api/v1/flows/${segment(flow)}/stuck-keys`, new HttpParams().set('limit', 10));
  }

  /** URL of the live event stream (server-sent events) of one flow. */
  eventStreamUrl(flow: string): string {
    return this.#url(`/api/v1/events?flow=${segment(flow)}`);
  }

  #action(flow: string, action: 'pause' | 'resume', keys: readonly string[], reason: string): Promise<ActionResult> {
    const body: { keys: readonly string[]; actor: string; reason?: string } = { keys, actor: this.#settings.actor() };
    if (reason !== '') body.reason = reason;
    return firstValueFrom(this.#http.post<ActionResult>(this.#url(`/api/v1/flows/${segment(flow)}/${action}`), body));
  }

  #get<T>(path: string, params?: HttpParams): Promise<T> {
    return firstValueFrom(this.#http.get<T>(this.#url(path), params === undefined ? {} : { params }));
  }

  #url(path: string): string {
    return `${this.#settings.apiBase()}${path}`;
  }
}
