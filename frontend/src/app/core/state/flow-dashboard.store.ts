import { Injectable, computed, inject, signal } from '@angular/core';
import { describeError } from '../api/api-error';
import { EventPauseApi, type KeyListState } from '../api/event-pause-api.service';
import type { KeysPage, TopicRecord } from '../api/models';
import { Poller } from './poller';

const REFRESH_MS = 3000;
export const KEY_PAGE_SIZE = 20;
export const RECENT_LIMITS = [20, 50, 100, 200] as const;

/** One cursor-paginated list of keys: the page shown and the cursors that lead back to earlier pages. */
class KeyList {
  readonly state: KeyListState;
  readonly page = signal<KeysPage | undefined>(undefined);
  /** The `after` cursor of every page from the first to the one shown. */
  readonly cursors = signal<ReadonlyArray<string | undefined>>([undefined]);

  constructor(state: KeyListState) {
    this.state = state;
  }

  get current(): string | undefined {
    return this.cursors().at(-1);
  }

  reset(): void {
    this.cursors.set([undefined]);
    this.page.set(undefined);
  }
}

/** The view of one list of keys that components read. */
export interface KeyListView {
  readonly items: KeysPage['items'];
  readonly loaded: boolean;
  readonly pageNumber: number;
  readonly hasPrevious: boolean;
  readonly hasNext: boolean;
}

function view(list: KeyList): KeyListView {
  const page = list.page();
  return {
    items: page?.items ?? [],
    loaded: page !== undefined,
    pageNumber: list.cursors().length,
    hasPrevious: list.cursors().length > 1,
    hasNext: (page?.nextCursor ?? null) !== null,
  };
}

/**
 * What the overview of one flow shows, kept current while it is open: paused keys, keys holding
 * buffered events, recent input and output records, and the flow's counters.
 */
@Injectable({ providedIn: 'root' })
export class FlowDashboardStore {
  readonly #api = inject(EventPauseApi);
  readonly #flowId = signal<string | undefined>(undefined);
  readonly #paused = new KeyList('paused');
  readonly #buffered = new KeyList('buffered');
  readonly #input = signal<readonly TopicRecord[]>([]);
  readonly #output = signal<readonly TopicRecord[]>([]);
  readonly #recentLimit = signal<number>(50);
  /** Only this key's records in the input and output views ('' = every key). */
  readonly #recordKey = signal('');
  readonly #updatedAt = signal<number | undefined>(undefined);
  readonly #error = signal<string | undefined>(undefined);
  readonly #poller = new Poller(() => this.#load(), REFRESH_MS);

  readonly flowId = this.#flowId.asReadonly();
  readonly paused = computed(() => view(this.#paused));
  readonly buffered = computed(() => view(this.#buffered));
  /** Paused keys in the whole flow (every page). */
  readonly pausedTotal = computed(() => this.#paused.page()?.pausedKeys);
  /** Newest last, as the topics hold them. */
  readonly input = this.#input.asReadonly();
  readonly output = this.#output.asReadonly();
  readonly recentLimit = this.#recentLimit.asReadonly();
  readonly recordKey = this.#recordKey.asReadonly();
  readonly updatedAt = this.#updatedAt.asReadonly();
  readonly error = this.#error.asReadonly();

  /** Shows `flowId` and keeps it current until `close()`. */
  open(flowId: string): void {
    if (this.#flowId() !== flowId) {
      this.#flowId.set(flowId);
      this.#paused.reset();
      this.#buffered.reset();
      this.#input.set([]);
      this.#output.set([]);
      this.#updatedAt.set(undefined);
      this.#error.set(undefined);
    }
    this.#poller.start();
  }

  close(): void {
    this.#poller.stop();
  }

  refreshSoon(): void {
    this.#poller.soon();
  }

  nextPage(list: KeyListState): void {
    const keys = this.#list(list);
    const cursor = keys.page()?.nextCursor;
    if (cursor === null || cursor === undefined) return;
    keys.cursors.update((cursors) => [...cursors, cursor]);
    this.#poller.soon();
  }

  previousPage(list: KeyListState): void {
    this.#list(list).cursors.update((cursors) => (cursors.length > 1 ? cursors.slice(0, -1) : cursors));
    this.#poller.soon();
  }

  setRecentLimit(limit: number): void {
    this.#recentLimit.set(limit);
    this.#poller.soon();
  }

  /** Shows only this key's records in the input and output views ('' for every key). */
  setRecordKey(key: string): void {
    this.#recordKey.set(key.trim());
    this.#input.set([]);
    this.#output.set([]);
    this.#poller.soon();
  }

  #list(state: KeyListState): KeyList {
    return state === 'paused' ? this.#paused : this.#buffered;
  }

  async #load(): Promise<void> {
    const flowId = this.#flowId();
    if (flowId === undefined) return;
    const limit = this.#recentLimit();
    const recordKey = this.#recordKey() === '' ? undefined : this.#recordKey();
    const pausedAfter = this.#paused.current;
    const bufferedAfter = this.#buffered.current;
    try {
      const [paused, buffered, input, output] = await Promise.all([
        this.#api.keys(flowId, 'paused', KEY_PAGE_SIZE, pausedAfter),
        this.#api.keys(flowId, 'buffered', KEY_PAGE_SIZE, bufferedAfter),
        this.#api.recent(flowId, 'input', limit, recordKey),
        this.#api.recent(flowId, 'output', limit, recordKey),
      ]);
      if (this.#flowId() !== flowId) return;
      if ((this.#recordKey() === '' ? undefined : this.#recordKey()) !== recordKey) return;
      this.#show(this.#paused, pausedAfter, paused);
      this.#show(this.#buffered, bufferedAfter, buffered);
      this.#input.set(input);
      this.#output.set(output);
      this.#updatedAt.set(Date.now());
      this.#error.set(undefined);
    } catch (error) {
      if (this.#flowId() === flowId) this.#error.set(describeError(error));
    }
  }

  /**
   * Shows a page unless the operator paged on meanwhile. A later page that emptied (its keys were
   * resumed or drained) falls back to the first page.
   */
  #show(list: KeyList, after: string | undefined, page: KeysPage): void {
    if (list.current !== after) return;
    if (page.items.length === 0 && list.cursors().length > 1) {
      list.reset();
      this.#poller.soon();
      return;
    }
    list.page.set(page);
  }
}
