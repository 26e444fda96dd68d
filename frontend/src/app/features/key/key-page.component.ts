import { DatePipe } from '@angular/common';
import { ChangeDetectionStrategy, Component, DestroyRef, effect, inject, input, untracked } from '@angular/core';
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
