import { DatePipe, DecimalPipe } from '@angular/common';
import { HttpErrorResponse } from '@angular/common/http';
import { ChangeDetectionStrategy, Component, DestroyRef, computed, effect, inject, input, signal, untracked } from '@angular/core';
import { FormsModule } from '@angular/forms';
import { Router, RouterLink } from '@angular/router';
import { describeError } from '../../core/api/api-error';
import { EventPauseApi } from '../../core/api/event-pause-api.service';
import type { KeySearchResult, KeySearchState, KeySort } from '../../core/api/models';
import { Clock } from '../../core/state/clock.service';
import { KeyActions } from '../../core/state/key-actions.service';
import { NotificationsStore } from '../../core/state/notifications.store';
import { Poller } from '../../core/state/poller';
import { AgoPipe } from '../../core/ui/ago.pipe';
import { StatusBadgeComponent } from '../../core/ui/status-badge.component';
import { TruncatedComponent } from '../../core/ui/truncated.component';

const PAGE_SIZE = 50;
const REFRESH_MS = 5000;
const SORTS: ReadonlyArray<[KeySort, string]> = [
  ['key', 'Key'],
  ['oldest', 'Oldest buffered first'],
  ['most', 'Most buffered first'],
  ['paused-longest', 'Paused longest first'],
];
const STATES: ReadonlyArray<[KeySearchState, string]> = [
  ['all', 'Paused or buffered'],
  ['paused', 'Paused'],
  ['buffered', 'Holding events'],
];

function pick<T extends string>(value: string | undefined, allowed: ReadonlyArray<[T, string]>, fallback: T): T {
  return allowed.some(([v]) => v === value) ? (value as T) : fallback;
}

/**
 * Key search over paused and buffered keys (the service's own index, never a topic scan): exact
 * key or prefix, state, sort, total, pages. Everything is in the URL's query, so a filtered view
 * can be shared. Bulk resume acts on the selected keys, or on every paused key matching the
 * prefix after the operator confirmed how many.
 */
@Component({
  selector: 'ep-key-search-page',
  imports: [FormsModule, RouterLink, DatePipe, DecimalPipe, AgoPipe, StatusBadgeComponent, TruncatedComponent],
  template: `
    <div class="page-head">
      <h1>Find keys <span class="muted">in</span> <a [routerLink]="['/flows', flowId()]">{{ flowId() }}</a></h1>
    </div>
    <form class="toolbar search-form" (ngSubmit)="apply()" role="search">
      <label class="inline">
        Key
        <input name="q" [(ngModel)]="draft" placeholder="prefix, or the whole key" autocomplete="off" data-testid="search-q" />
      </label>
      <label class="inline"><input type="checkbox" name="exact" [(ngModel)]="draftExact" /> exact key</label>
      <label class="inline">
        Show
        <select name="state" [ngModel]="state()" (ngModelChange)="navigate({ state: $event, page: null })" data-testid="search-state">
          @for (s of states; track s[0]) {
            <option [value]="s[0]">{{ s[1] }}</option>
          }
        </select>
      </label>
      <label class="inline">
        Sort
        <select name="sort" [ngModel]="sort()" (ngModelChange)="navigate({ sort: $event, page: null })" data-testid="search-sort">
          @for (s of sorts; track s[0]) {
            <option [value]="s[0]">{{ s[1] }}</option>
          }
        </select>
      </label>
      <button type="submit">Search</button>
    </form>

    @if (error(); as error) {
      <div class="banner banner-bad" role="alert" data-testid="search-error">Search failed: {{ error }}</div>
    }

    <section class="panel">
      <div class="toolbar">
        <span data-testid="search-total">
          @if (result(); as r) {
            <strong>{{ r.total | number }}</strong> {{ r.total === 1 ? 'key matches' : 'keys match' }}
            @if (r.total > 0) {
              · {{ r.offset + 1 | number }}–{{ r.offset + r.items.length | number }} shown
            }
          } @else if (!error()) {
            Searching…
          }
        </span>
        <label class="inline">
          Reason <input name="bulkReason" [(ngModel)]="reason" maxlength="500" placeholder="optional" autocomplete="off" (keydown.enter)="resumeSelected()" />
        </label>
        <button type="button" class="good" [disabled]="busy() || selectedKeys().length === 0" (click)="resumeSelected()">Resume selected ({{ selectedKeys().length }})</button>
        @if (!exact()) {
          <button type="button" class="good" [disabled]="busy() || confirming() !== undefined" (click)="askResumeMatching()" data-testid="resume-matching">
            Resume all matching…
          </button>
        }
      </div>
      @if (confirming(); as count) {
        <div class="banner banner-warn confirm" role="alertdialog" aria-live="assertive" data-testid="confirm-matching">
          @if (count === 0) {
            No paused key {{ q() === '' ? 'in this flow' : 'starts with “' + q() + '”' }}.
            <button type="button" (click)="confirming.set(undefined)">OK</button>
          } @else {
            Resume <strong>{{ count | number }}</strong> paused {{ count === 1 ? 'key' : 'keys' }}
            {{ q() === '' ? 'in this flow' : 'starting with “' + q() + '”' }}? Their buffered events drain in order.
            <button type="button" class="good" [disabled]="busy()" (click)="resumeMatching(count)" data-testid="confirm-yes">Resume {{ count | number }}</button>
            <button type="button" (click)="confirming.set(undefined)">Cancel</button>
          }
        </div>
      }
      <div class="table-wrap">
        <table data-testid="search-results">
          <thead>
            <tr>
              <th class="check">
                <input type="checkbox" aria-label="Select every key on this page" [checked]="allSelected()" [disabled]="items().length === 0" (change)="selectAll($any($event.target).checked)" />
              </th>
              <th>Key</th>
              <th>Status</th>
              <th class="num">Buffered</th>
              <th>Oldest buffered</th>
              <th>Paused</th>
              <th class="num">Partition</th>
            </tr>
          </thead>
          <tbody>
            @for (item of items(); track item.key) {
              <tr>
                <td class="check">
                  <input type="checkbox" [attr.aria-label]="'Select ' + item.key" [checked]="selected().has(item.key)" (change)="toggle(item.key, $any($event.target).checked)" />
                </td>
                <td class="key-cell"><ep-truncated [text]="item.key" label="key" [link]="['/flows', flowId(), 'keys', item.key]" /></td>
                <td><ep-status-badge [status]="item.status" /></td>
                <td class="num">{{ item.bufferedCount | number }}</td>
                <td [title]="(item.oldestBufferedTimestamp | date: 'medium') ?? ''">{{ item.oldestBufferedTimestamp | ago: clock.now() }}</td>
                <td [title]="(item.pausedSince | date: 'medium') ?? ''">{{ item.pausedSince | ago: clock.now() }}</td>
                <td class="num">{{ item.partition }}</td>
              </tr>
            } @empty {
              <tr>
                <td colspan="7" class="empty">{{ result() === undefined ? (error() ? 'Could not search.' : 'Searching…') : 'No key matches.' }}</td>
              </tr>
            }
          </tbody>
        </table>
      </div>
      @if (result()?.incomplete) {
        <p class="muted small">Partitions {{ result()?.missingPartitions?.join(', ') }} could not be searched (restoring or moving): their buffered keys may be missing.</p>
      }
      @if (pages() > 1) {
        <div class="pager">
          <button type="button" [disabled]="page() <= 1" (click)="navigate({ page: page() - 1 })">← Previous</button>
          <span>Page {{ page() }} of {{ pages() }}</span>
          <button type="button" [disabled]="page() >= pages()" (click)="navigate({ page: page() + 1 })">Next →</button>
        </div>
      }
    </section>
  `,
  changeDetection: ChangeDetectionStrategy.OnPush,
})
export class KeySearchPageComponent {
  /** From the route and its query (deep links). */
  readonly flowId = input.required<string>();
  readonly q = input<string, string | undefined>('', { transform: (v) => v ?? '' });
  readonly match = input<string | undefined>(undefined);
  readonly stateParam = input<string | undefined>(undefined, { alias: 'state' });
  readonly sortParam = input<string | undefined>(undefined, { alias: 'sort' });
  readonly pageParam = input<string | undefined>(undefined, { alias: 'page' });

  readonly #api = inject(EventPauseApi);
  readonly #router = inject(Router);
  readonly #actions = inject(KeyActions);
  readonly #notifications = inject(NotificationsStore);
  protected readonly clock = inject(Clock);
  protected readonly sorts = SORTS;
  protected readonly states = STATES;

  protected readonly state = computed(() => pick(this.stateParam(), STATES, 'all'));
  protected readonly sort = computed(() => pick(this.sortParam(), SORTS, 'key'));
  protected readonly exact = computed(() => this.match() === 'exact');
  protected readonly page = computed(() => Math.max(1, Math.floor(Number(this.pageParam() ?? '1')) || 1));
  protected readonly result = signal<KeySearchResult | undefined>(undefined);
  protected readonly error = signal<string | undefined>(undefined);
  protected readonly items = computed(() => this.result()?.items ?? []);
  protected readonly pages = computed(() => Math.max(1, Math.ceil((this.result()?.total ?? 0) / PAGE_SIZE)));
  protected readonly busy = signal(false);
  protected readonly confirming = signal<number | undefined>(undefined);
  protected readonly selected = signal<ReadonlySet<string>>(new Set());
  protected readonly selectedKeys = computed(() => this.items().filter((item) => this.selected().has(item.key)).map((item) => item.key));
  protected readonly allSelected = computed(() => this.items().length > 0 && this.selectedKeys().length === this.items().length);
  protected draft = '';
  protected draftExact = false;
  protected reason = '';
  readonly #poller = new Poller(() => this.#load(), REFRESH_MS);

  constructor() {
    effect(() => {
      // Any change of the query: show it in the form, search again.
      this.flowId();
      const q = this.q();
      const exact = this.exact();
      this.state();
      this.sort();
      this.page();
      untracked(() => {
        this.draft = q;
        this.draftExact = exact;
        this.result.set(undefined);
        this.confirming.set(undefined);
        this.#poller.start();
      });
    });
    inject(DestroyRef).onDestroy(() => this.#poller.stop());
  }

  protected apply(): void {
    this.navigate({ q: this.draft.trim() === '' ? null : this.draft.trim(), match: this.draftExact ? 'exact' : null, page: null });
  }

  protected navigate(params: Record<string, string | number | null>): void {
    void this.#router.navigate([], { queryParams: params, queryParamsHandling: 'merge' });
  }

  protected toggle(key: string, on: boolean): void {
    this.selected.update((selected) => {
      const next = new Set(selected);
      if (on) next.add(key);
      else next.delete(key);
      return next;
    });
  }

  protected selectAll(on: boolean): void {
    this.selected.set(on ? new Set(this.items().map((item) => item.key)) : new Set());
  }

  protected async resumeSelected(): Promise<void> {
    const keys = this.selectedKeys();
    if (keys.length === 0 || this.busy()) return;
    this.busy.set(true);
    try {
      if (await this.#actions.resume(this.flowId(), keys, this.reason.trim())) {
        this.reason = '';
        this.selected.set(new Set());
      }
    } finally {
      this.busy.set(false);
      this.#poller.soon();
    }
  }

  /** Counts the paused keys that match first: the operator confirms that number. */
  protected async askResumeMatching(): Promise<void> {
    this.busy.set(true);
    try {
      const paused = await this.#api.searchKeys(this.flowId(), { prefix: this.q(), state: 'paused', sort: 'key', offset: 0, limit: 1 });
      this.confirming.set(paused.total);
    } catch (error) {
      this.#notifications.notify('error', `Counting the matching keys failed: ${describeError(error)}`);
    } finally {
      this.busy.set(false);
    }
  }

  protected async resumeMatching(count: number): Promise<void> {
    this.busy.set(true);
    try {
      const result = await this.#api.resumeMatching(this.flowId(), this.q(), count, this.reason.trim());
      this.#notifications.notify('success', `Resumed ${result.resumed} keys (by ${result.actor}): their buffered events drain in order.`);
      this.confirming.set(undefined);
      this.reason = '';
    } catch (error) {
      if (error instanceof HttpErrorResponse && error.status === 409 && typeof error.error?.count === 'number') {
        // Keys were paused or resumed meanwhile: confirm the new number.
        this.#notifications.notify('info', `The number of matching paused keys changed to ${error.error.count}: confirm again.`);
        this.confirming.set(error.error.count as number);
      } else {
        this.#notifications.notify('error', `Resuming the matching keys failed: ${describeError(error)}`);
      }
    } finally {
      this.busy.set(false);
      this.#poller.soon();
    }
  }

  async #load(): Promise<void> {
    const flowId = this.flowId();
    const query = {
      prefix: this.exact() ? '' : this.q(),
      ...(this.exact() && this.q() !== '' ? { exact: this.q() } : {}),
      state: this.state(),
      sort: this.sort(),
      offset: (this.page() - 1) * PAGE_SIZE,
      limit: PAGE_SIZE,
    };
    try {
      const result = await this.#api.searchKeys(flowId, query);
      if (flowId !== this.flowId()) return;
      this.result.set(result);
      this.error.set(undefined);
    } catch (error) {
      this.error.set(describeError(error));
    }
  }
}
