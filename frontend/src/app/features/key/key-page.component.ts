import { DatePipe } from '@angular/common';
import { ChangeDetectionStrategy, Component, DestroyRef, computed, effect, inject, input, signal, untracked } from '@angular/core';
import { describeError } from '../../core/api/api-error';
import { EventPauseApi } from '../../core/api/event-pause-api.service';
import { NotificationsStore } from '../../core/state/notifications.store';
import { RouterLink } from '@angular/router';
import { Clock } from '../../core/state/clock.service';
import { BUFFER_PAGE_SIZE, KeyDetailStore } from '../../core/state/key-detail.store';
import { LiveFeedStore } from '../../core/state/live-feed.store';
import { AgoPipe } from '../../core/ui/ago.pipe';
import { EventDataPipe } from '../../core/ui/event-data.pipe';
import { StatusBadgeComponent } from '../../core/ui/status-badge.component';
import { KeyControlFormComponent } from '../flow/key-control-form.component';
import { SendEventFormComponent } from '../flow/send-event-form.component';

/** One key of one flow: its status and who set it, its buffered events page by page, its history. */
@Component({
  selector: 'ep-key-page',
  imports: [DatePipe, RouterLink, AgoPipe, EventDataPipe, StatusBadgeComponent, KeyControlFormComponent, SendEventFormComponent],
  templateUrl: './key-page.component.html',
  changeDetection: ChangeDetectionStrategy.OnPush,
})
export class KeyPageComponent {
  /** From the route. */
  readonly flowId = input.required<string>();
  readonly key = input.required<string>();

  protected readonly detail = inject(KeyDetailStore);
  protected readonly clock = inject(Clock);
  readonly #feed = inject(LiveFeedStore);
  protected readonly pageSize = BUFFER_PAGE_SIZE;
  readonly #api = inject(EventPauseApi);
  readonly #notifications = inject(NotificationsStore);
  /** Paused by its handler (library mode): the reason is the error, the first held event the one it failed on. */
  protected readonly handlerFailed = computed(() => {
    const summary = this.detail.summary();
    return summary?.status === 'PAUSED' && summary.actor === 'handler' ? summary : undefined;
  });
  protected readonly failedEvent = computed(() => (this.detail.pageNumber() === 1 ? this.detail.events()[0] : undefined));
  /** The failure's whole stack, read when the operator opens it (undefined: not read yet). */
  protected readonly stack = signal<string | undefined>(undefined);
  protected readonly confirmingSkip = signal(false);

  protected async loadStack(event: Event): Promise<void> {
    if (!(event.target as HTMLDetailsElement).open) return;
    this.stack.set(undefined);
    try {
      const answer = await this.#api.handlerFailure(this.flowId(), this.key());
      this.stack.set(answer.failure?.stack ?? 'The stack is no longer available (the status record is not among the recent records of its partition).');
    } catch (error) {
      this.stack.set(`Could not read the stack: ${describeError(error)}`);
    }
  }
  protected readonly skipping = signal(false);

  protected async skipFirst(): Promise<void> {
    const event = this.failedEvent();
    if (event === undefined) return;
    this.skipping.set(true);
    try {
      await this.#api.skip(this.flowId(), this.key(), event.seq);
      this.#notifications.notify('success', `Skipped the first held event of ${this.key()} (to the dead-letter topic); the rest is released in order.`);
      this.confirmingSkip.set(false);
    } catch (error) {
      this.#notifications.notify('error', `Skipping failed: ${describeError(error)}`);
    } finally {
      this.skipping.set(false);
      this.detail.refreshSoon();
    }
  }

  constructor() {
    effect(() => {
      const flowId = this.flowId();
      const key = this.key();
      untracked(() => {
        this.detail.open(flowId, key);
        this.#feed.connect(flowId);
      });
    });
    // The stream reports changes of any key of the flow; refreshes coalesce, so that is cheap.
    effect(() => {
      this.#feed.changes();
      untracked(() => this.detail.refreshSoon());
    });
    inject(DestroyRef).onDestroy(() => {
      this.detail.close();
      this.#feed.disconnect();
    });
  }
}
