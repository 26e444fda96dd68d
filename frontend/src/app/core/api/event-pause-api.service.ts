import { HttpClient, HttpParams } from '@angular/common/http';
import { Injectable, inject } from '@angular/core';
import { firstValueFrom } from 'rxjs';
import { SettingsStore } from '../state/settings.store';
import type {
  ActionResult,
  BufferPage,
  FlowMetrics,
  FlowsResponse,
  KeyHistory,
  KeySummary,
  KeysPage,
  SendResult,
  TopicRecord,
} from './models';
import { parseFlowMetrics } from './prometheus';

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
  recent(flow: string, source: RecordSource, limit: number): Promise<TopicRecord[]> {
    return this.#get(`/control/${segment(flow)}/${source}-messages`, new HttpParams().set('limit', limit));
  }

  /** The flow's counters from /metrics; undefined when the instance reports none for it. */
  async metrics(flow: string): Promise<FlowMetrics | undefined> {
    const text = await firstValueFrom(this.#http.get(this.#url('/metrics'), { responseType: 'text' }));
    return parseFlowMetrics(text, flow);
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
