import { DatePipe } from '@angular/common';
import { ChangeDetectionStrategy, Component, inject, input } from '@angular/core';
import { RouterLink } from '@angular/router';
import { LiveFeedStore } from '../../core/state/live-feed.store';

/** What the flow's tasks report as it happens: buffering, drains, status changes, dead letters. */
@Component({
  selector: 'ep-live-feed',
  imports: [DatePipe, RouterLink],
  template: `
    <div class="toolbar">
      <span class="connection connection-{{ feed.connection() }}" data-testid="feed-connection">{{ feed.connection() }}</span>
      <button type="button" class="small" (click)="feed.clear()" [disabled]="feed.entries().length === 0">Clear</button>
    </div>
    <ol class="feed" data-testid="live-feed">
      @for (entry of feed.entries(); track entry.id) {
        <li class="tone-{{ entry.tone }}">
          <time>{{ entry.at | date: 'HH:mm:ss' }}</time>
          @if (entry.key !== null) {
            <a [routerLink]="['/flows', flowId(), 'keys', entry.key]">{{ entry.text }}</a>
          } @else {
            <span>{{ entry.text }}</span>
          }
        </li>
      } @empty {
        <li class="muted">Nothing yet: pauses, buffering, drains and dead letters appear here as they happen.</li>
      }
    </ol>
  `,
  changeDetection: ChangeDetectionStrategy.OnPush,
})
export class LiveFeedComponent {
  readonly flowId = input.required<string>();
  protected readonly feed = inject(LiveFeedStore);
}
