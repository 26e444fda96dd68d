import { DatePipe } from '@angular/common';
import { ChangeDetectionStrategy, Component, inject } from '@angular/core';
import { NotificationsStore } from '../../core/state/notifications.store';

/** What the operator did in this session and how it went, newest first. */
@Component({
  selector: 'ep-activity-log',
  imports: [DatePipe],
  template: `
    <div class="toolbar">
      <button type="button" class="small" (click)="notifications.clearLog()" [disabled]="notifications.log().length === 0">Clear</button>
    </div>
    <ol class="feed" data-testid="activity-log">
      @for (item of notifications.log(); track item.id) {
        <li class="tone-{{ item.kind }}">
          <time>{{ item.at | date: 'HH:mm:ss' }}</time>
          <span>{{ item.text }}</span>
        </li>
      } @empty {
        <li class="muted">No activity yet. Start by sending events or pausing a key.</li>
      }
    </ol>
  `,
  changeDetection: ChangeDetectionStrategy.OnPush,
})
export class ActivityLogComponent {
  protected readonly notifications = inject(NotificationsStore);
}
