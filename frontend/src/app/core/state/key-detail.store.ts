import { Injectable, computed, inject, signal } from '@angular/core';
import { describeError } from '../api/api-error';
import { EventPauseApi } from '../api/event-pause-api.service';
import type { BufferPage, HistoryEntry, KeySummary } from '../api/models';
import { Poller } from './poller';

const REFRESH_MS = 3000;
export const BUFFER_PAGE_SIZE = 50;

/**
 * One key of one flow, kept current while its page is open: status with reason and actor,
 * buffered count, a page of its buffer (oldest first), and its status history.
 */
@Injectable({ providedIn: 'root' })
export class KeyDetailStore {
  readonly #api = inject(EventPauseApi);
  readonly #target = signal<{ readonly flowId: string; readonly key: string } | undefined>(undefined);
  readonly #summary = signal<KeySummary | undefined>(undefined);
  readonly #page = signal<BufferPage | undefined>(undefined);
  /** The `after` cursor (a seq) of every buffer page from the first to the one shown. */
  readonly #cursors = signal<ReadonlyArray<number | undefined>>([undefined]);
  readonly #history = signal<readonly HistoryEntry[]>([]);
  readonly #error = signal<string | undefined>(undefined);
  readonly #poller = new Poller(() => this.#load(), REFRESH_MS);

  readonly target = this.#target.asReadonly();
  readonly summary = this.#summary.asReadonly();
  readonly events = computed(() => this.#page()?.items ?? []);
  readonly total = computed(() => this.#page()?.total ?? this.#summary()?.bufferedCount ?? 0);
  readonly pageNumber = computed(() => this.#cursors().length);
  /** Position of the first event shown, counted from the oldest (approximate while draining). */
  readonly firstShown = computed(() => (this.pageNumber() - 1) * BUFFER_PAGE_SIZE + 1);
  readonly hasPrevious = computed(() => this.#cursors().length > 1);
  readonly hasNext = computed(() => (this.#page()?.nextAfter ?? null) !== null);
  /** Newest first. */
  readonly history = computed(() => [...this.#history()].reverse());
  readonly error = this.#error.asReadonly();
  /** The key's summary, buffer and history were read at least once (since it was opened). */
  readonly loaded = computed(() => this.#page() !== undefined);

  open(flowId: string, key: string): void {
    const target = this.#target();
    if (target?.flowId !== flowId || target.key !== key) {
      this.#target.set({ flowId, key });
      this.#summary.set(undefined);
      this.#page.set(undefined);
      this.#cursors.set([undefined]);
      this.#history.set([]);
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

  nextPage(): void {
    const after = this.#page()?.nextAfter;
    if (after === null || after === undefined) return;
    this.#cursors.update((cursors) => [...cursors, after]);
    this.#poller.soon();
  }

  previousPage(): void {
    this.#cursors.update((cursors) => (cursors.length > 1 ? cursors.slice(0, -1) : cursors));
    this.#poller.soon();
  }

  firstPage(): void {
    this.#cursors.set([undefined]);
    this.#poller.soon();
  }

  async #load(): Promise<void> {
    const target = this.#target();
    if (target === undefined) return;
    const { flowId, key } = target;
    const after = this.#cursors().at(-1);
    try {
      const [summary, page, history] = await Promise.all([
        this.#api.key(flowId, key),
        this.#api.buffer(flowId, key, BUFFER_PAGE_SIZE, after),
        this.#api.history(flowId, key),
      ]);
      if (this.#target() !== target) return;
      this.#summary.set(summary);
      this.#history.set(history.items);
      this.#error.set(undefined);
      if (this.#cursors().at(-1) !== after) return;
      // A later page that drained away falls back to the first page.
      if (page.items.length === 0 && this.#cursors().length > 1) {
        this.firstPage();
        return;
      }
      this.#page.set(page);
    } catch (error) {
      if (this.#target() === target) this.#error.set(describeError(error));
    }
  }
}
