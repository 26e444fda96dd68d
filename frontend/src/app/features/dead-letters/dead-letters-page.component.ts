import { DatePipe, DecimalPipe, KeyValuePipe } from '@angular/common';
import { ChangeDetectionStrategy, Component, DestroyRef, computed, effect, inject, input, signal, untracked } from '@angular/core';
import { FormsModule } from '@angular/forms';
import { RouterLink } from '@angular/router';
import { describeError } from '../../core/api/api-error';
import { EventPauseApi } from '../../core/api/event-pause-api.service';
import type { DeadLetter, DeadLetters } from '../../core/api/models';
import { NotificationsStore } from '../../core/state/notifications.store';
import { Poller } from '../../core/state/poller';
import { TruncatedComponent } from '../../core/ui/truncated.component';

const LIMIT = 200;
const REFRESH_MS = 5000;

const id = (letter: DeadLetter): string => `${letter.partition}:${letter.offset}`;

/**
 * A flow's dead letters, newest first: why (reason and message), where from (source topic,
 * partition, offset), headers and a value preview; counts by reason; replay of chosen ones back
 * to their topic after a fix, confirmed first. The reason filter is in the URL.
 */
@Component({
  selector: 'ep-dead-letters-page',
  imports: [FormsModule, RouterLink, DatePipe, DecimalPipe, KeyValuePipe, TruncatedComponent],
  template: `
    <div class="page-head">
      <h1>Dead letters <span class="muted">of</span> <a [routerLink]="['/flows', flowId()]">{{ flowId() }}</a></h1>
      @if (letters(); as l) {
        <p class="muted">The newest {{ limit }} records of <span class="mono">{{ l.topic }}</span>, newest first.</p>
      }
    </div>
    @if (error(); as error) {
      <div class="banner banner-bad" role="alert" data-testid="dlq-error">Could not read the dead letters: {{ error }}</div>
    }
    @if (letters(); as l) {
      <p class="reasons" data-testid="dlq-reasons">
        <a class="pill" [class.pill-on]="reason() === undefined" [routerLink]="[]" [queryParams]="{ reason: null }">all</a>
        @for (entry of l.countsByReason | keyvalue; track entry.key) {
          <a class="pill pill-bad" [class.pill-on]="reason() === entry.key" [routerLink]="[]" [queryParams]="{ reason: entry.key }">{{ entry.key }} {{ entry.value | number }}</a>
        }
      </p>
    }
    <section class="panel">
      <div class="toolbar">
        <label class="inline">Reason for the replay <input name="replayReason" [(ngModel)]="replayReason" maxlength="500" placeholder="e.g. parser fixed" autocomplete="off" /></label>
        <button type="button" class="good" [disabled]="busy() || chosen().length === 0" (click)="confirming.set(true)" data-testid="replay">Replay selected ({{ chosen().length }})…</button>
      </div>
      @if (confirming()) {
        <div class="banner banner-warn confirm" role="alertdialog" data-testid="confirm-replay">
          Send {{ chosen().length }} dead {{ chosen().length === 1 ? 'letter' : 'letters' }} back to the topic they came from, in the order shown (oldest first)?
          They are processed again like new events.
          <button type="button" class="good" [disabled]="busy()" (click)="replay()" data-testid="confirm-replay-yes">Replay {{ chosen().length }}</button>
          <button type="button" (click)="confirming.set(false)">Cancel</button>
        </div>
      }
      <div class="table-wrap">
        <table data-testid="dlq-table">
          <thead>
            <tr>
              <th class="check"></th>
              <th>Time</th>
              <th>Key</th>
              <th>Reason</th>
              <th>Message</th>
              <th>Source</th>
              <th>Value</th>
              <th>Headers</th>
            </tr>
          </thead>
          <tbody>
            @for (letter of shown(); track letter.partition + ':' + letter.offset) {
              <tr>
                <td class="check">
                  <input
                    type="checkbox"
                    [attr.aria-label]="'Select dead letter ' + letter.partition + '/' + letter.offset"
                    [disabled]="!letter.replayable"
                    [title]="letter.replayable ? '' : 'No key, or its value was not kept: cannot be replayed'"
                    [checked]="selected().has(idOf(letter))"
                    (change)="toggle(letter, $any($event.target).checked)"
                  />
                </td>
                <td [title]="letter.timestamp | date: 'medium'">{{ letter.timestamp | date: 'MMM d, HH:mm:ss' }}</td>
                <td class="key-cell">
                  @if (letter.key !== null) {
                    <ep-truncated [text]="letter.key" label="key" [link]="['/flows', flowId(), 'keys', letter.key]" />
                  } @else {
                    <span class="muted">no key</span>
                  }
                </td>
                <td><span class="pill pill-bad">{{ letter.reason ?? '?' }}</span></td>
                <td class="reason">{{ letter.message ?? '—' }}</td>
                <td class="mono small">{{ letter.source.topic ?? '?' }}/{{ letter.source.partition ?? '?' }}/{{ letter.source.offset ?? '?' }}</td>
                <td class="value-cell">
                  @if (letter.valuePreview !== null) {
                    <ep-truncated [text]="letter.valuePreview" label="value" />
                    <small class="muted">{{ letter.valueBytes | number }} B</small>
                  } @else {
                    <span class="muted">not kept</span>
                  }
                </td>
                <td class="small">
                  @for (h of letter.headers; track $index) {
                    <div class="mono" [title]="h.key + ': ' + (h.value ?? '')">{{ h.key }}</div>
                  }
                </td>
              </tr>
            } @empty {
              <tr>
                <td colspan="8" class="empty">{{ letters() === undefined ? (error() ? 'Could not load.' : 'Loading…') : 'No dead letters.' }}</td>
              </tr>
            }
          </tbody>
        </table>
      </div>
    </section>
  `,
  changeDetection: ChangeDetectionStrategy.OnPush,
})
export class DeadLettersPageComponent {
  readonly flowId = input.required<string>();
  /** From the query: only this reason. */
  readonly reason = input<string | undefined>(undefined);

  readonly #api = inject(EventPauseApi);
  readonly #notifications = inject(NotificationsStore);
  protected readonly limit = LIMIT;
  protected readonly letters = signal<DeadLetters | undefined>(undefined);
  protected readonly error = signal<string | undefined>(undefined);
  protected readonly busy = signal(false);
  protected readonly confirming = signal(false);
  protected readonly selected = signal<ReadonlySet<string>>(new Set());
  protected readonly shown = computed(() => {
    const reason = this.reason();
    return (this.letters()?.items ?? []).filter((letter) => reason === undefined || letter.reason === reason);
  });
  /** Selected letters, oldest first: the order they are replayed in. */
  protected readonly chosen = computed(() =>
    this.shown()
      .filter((letter) => this.selected().has(id(letter)))
      .sort((a, b) => a.timestamp - b.timestamp || a.partition - b.partition || a.offset - b.offset),
  );
  protected replayReason = '';
  protected readonly idOf = id;
  readonly #poller = new Poller(() => this.#load(), REFRESH_MS);

  constructor() {
    effect(() => {
      this.flowId();
      untracked(() => {
        this.letters.set(undefined);
        this.selected.set(new Set());
        this.#poller.start();
      });
    });
    inject(DestroyRef).onDestroy(() => this.#poller.stop());
  }

  protected toggle(letter: DeadLetter, on: boolean): void {
    this.selected.update((selected) => {
      const next = new Set(selected);
      if (on) next.add(id(letter));
      else next.delete(id(letter));
      return next;
    });
  }

  protected async replay(): Promise<void> {
    const records = this.chosen().map((letter) => ({ partition: letter.partition, offset: letter.offset }));
    if (records.length === 0) return;
    this.busy.set(true);
    try {
      const result = await this.#api.replayDeadLetters(this.flowId(), records, this.replayReason.trim());
      this.#notifications.notify('success', `Replayed ${result.replayed.length} dead letters to their topic.`);
      this.selected.set(new Set());
      this.confirming.set(false);
      this.replayReason = '';
    } catch (error) {
      this.#notifications.notify('error', `Replay failed, nothing was sent: ${describeError(error)}`);
    } finally {
      this.busy.set(false);
      this.#poller.soon();
    }
  }

  async #load(): Promise<void> {
    const flowId = this.flowId();
    try {
      const letters = await this.#api.deadLetters(flowId, LIMIT);
      if (flowId !== this.flowId()) return;
      this.letters.set(letters);
      this.error.set(undefined);
    } catch (error) {
      this.error.set(describeError(error));
    }
  }
}
