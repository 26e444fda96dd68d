import { ChangeDetectionStrategy, Component, input } from '@angular/core';
import type { KeyStatus } from '../api/models';

@Component({
  selector: 'ep-status-badge',
  template: `<span class="badge" [class.badge-paused]="status() === 'PAUSED'" [class.badge-active]="status() === 'ACTIVE'">{{
    status()
  }}</span>`,
  changeDetection: ChangeDetectionStrategy.OnPush,
})
export class StatusBadgeComponent {
  readonly status = input.required<KeyStatus>();
}
