import { ChangeDetectionStrategy, Component, inject } from '@angular/core';
import { NotificationsStore } from '../state/notifications.store';

/** The latest notifications, in a corner; errors stay longer and are announced as alerts. */
@Component({
  selector: 'ep-toasts',
  template: `
    <div class="toasts" aria-live="polite">
      @for (item of notifications.items(); track item.id) {
        <div class="toast toast-{{ item.kind }}" [attr.role]="item.kind === 'error' ? 'alert' : 'status'" data-testid="toast">
          <span>{{ item.text }}</span>
          <button type="button" class="icon" (click)="notifications.dismiss(item.id)" aria-label="Dismiss">×</button>
        </div>
      }
    </div>
  `,
  changeDetection: ChangeDetectionStrategy.OnPush,
})
export class ToastsComponent {
  protected readonly notifications = inject(NotificationsStore);
}
