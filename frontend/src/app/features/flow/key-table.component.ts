import { DatePipe } from '@angular/common';
import { ChangeDetectionStrategy, Component, computed, inject, input, output, signal } from '@angular/core';
import { FormsModule } from '@angular/forms';
import type { KeyItem } from '../../core/api/models';
import { Clock } from '../../core/state/clock.service';
import type { KeyListView } from '../../core/state/flow-dashboard.store';
import { KeyActions } from '../../core/state/key-actions.service';
import { AgoPipe } from '../../core/ui/ago.pipe';
import { StatusBadgeComponent } from '../../core/ui/status-badge.component';
import { TruncatedComponent } from '../../core/ui/truncated.component';

/**
 * One page of keys (paused ones, or ones holding buffered events) with who changed them and why,
 * how much they hold and since when; keys can be selected and resumed or paused together.
 */
@Component({
  selector: 'ep-key-table',
  imports: [FormsModule, DatePipe, AgoPipe, StatusBadgeComponent, TruncatedComponent],
  template: `
    <div class="toolbar">
      <label class="inline">
        Reason
        <input
          name="bulkReason"
          [(ngModel)]="reason"
          maxlength="500"
          placeholder="optional"
          autocomplete="off"
          (keydown.enter)="$event.preventDefault(); act('resume', selectedKeys())"
        />
      </label>
      <button type="button" class="good" [disabled]="busy() || selectedKeys().length === 0" (click)="act('resume', selectedKeys())">
        Resume selected ({{ selectedKeys().length }})
      </button>
      @if (offerPause()) {
        <button type="button" class="warn" [disabled]="busy() || selectedKeys().length === 0" (click)="act('pause', selectedKeys())">
          Pause selected ({{ selectedKeys().length }})
        </button>
      }
    </div>
    <div class="table-wrap">
      <table>
        <thead>
          <tr>
            <th class="check">
              <input
                type="checkbox"
                aria-label="Select every key on this page"
                [checked]="allSelected()"
                [disabled]="view().items.length === 0"
                (change)="selectAll($any($event.target).checked)"
              />
            </th>
            <th>Key</th>
            <th>Status</th>
            <th class="num">Buffered</th>
            <th>Oldest buffered</th>
            <th>Changed by</th>
            <th>Reason</th>
            <th>Since</th>
            <th class="num">Partition</th>
            <th></th>
          </tr>
        </thead>
        <tbody>
          @for (item of view().items; track item.key) {
            <tr>
              <td class="check">
                <input
                  type="checkbox"
                  [attr.aria-label]="'Select ' + item.key"
                  [checked]="selected().has(item.key)"
                  (change)="toggle(item.key, $any($event.target).checked)"
                />
              </td>
              <td class="key-cell"><ep-truncated [text]="item.key" label="key" [link]="['/flows', flowId(), 'keys', item.key]" /></td>
              <td><ep-status-badge [status]="item.status" /></td>
              <td class="num">{{ item.bufferedCount }}</td>
              <td [title]="(item.oldestBufferedTimestamp | date: 'medium') ?? ''">{{ item.oldestBufferedTimestamp | ago: clock.now() }}</td>
              <td>{{ item.actor ?? '—' }}</td>
              <td class="reason">{{ item.reason ?? '—' }}</td>
              <td [title]="(item.statusChangedAt | date: 'medium') ?? ''">{{ item.statusChangedAt | ago: clock.now() }}</td>
              <td class="num">{{ item.partition }}</td>
              <td class="row-actions">
                @if (item.status === 'PAUSED') {
                  <button type="button" class="good small" [disabled]="busy()" (click)="act('resume', [item.key])">Resume</button>
                } @else {
                  <button type="button" class="warn small" [disabled]="busy()" (click)="act('pause', [item.key])">Pause</button>
                }
              </td>
            </tr>
          } @empty {
            <tr>
              <td colspan="10" class="empty">{{ view().loaded ? emptyText() : 'Loading…' }}</td>
            </tr>
          }
        </tbody>
      </table>
    </div>
    @if (view().hasPrevious || view().hasNext) {
      <div class="pager">
        <button type="button" [disabled]="!view().hasPrevious" (click)="previous.emit()">← Previous</button>
        <span>Page {{ view().pageNumber }}</span>
        <button type="button" [disabled]="!view().hasNext" (click)="next.emit()">Next →</button>
      </div>
    }
  `,
  changeDetection: ChangeDetectionStrategy.OnPush,
})
export class KeyTableComponent {
  readonly flowId = input.required<string>();
  readonly view = input.required<KeyListView>();
  readonly emptyText = input.required<string>();
  /** Whether selected keys can also be paused (keys holding events may be active, draining). */
  readonly offerPause = input(false);
  readonly next = output();
  readonly previous = output();

  readonly #actions = inject(KeyActions);
  protected readonly clock = inject(Clock);
  protected readonly reason = signal('');
  protected readonly busy = signal(false);
  protected readonly selected = signal<ReadonlySet<string>>(new Set());
  /** Selected keys that are still on the page: the list moves as keys are resumed and drained. */
  protected readonly selectedKeys = computed(() => this.view().items.filter((item: KeyItem) => this.selected().has(item.key)).map((item) => item.key));
  protected readonly allSelected = computed(() => this.view().items.length > 0 && this.selectedKeys().length === this.view().items.length);

  protected toggle(key: string, on: boolean): void {
    this.selected.update((selected) => {
      const next = new Set(selected);
      if (on) next.add(key);
      else next.delete(key);
      return next;
    });
  }

  protected selectAll(on: boolean): void {
    this.selected.set(on ? new Set(this.view().items.map((item) => item.key)) : new Set());
  }

  protected async act(action: 'pause' | 'resume', keys: readonly string[]): Promise<void> {
    if (keys.length === 0) return;
    this.busy.set(true);
    try {
      const reason = this.reason().trim();
      const done = await (action === 'pause' ? this.#actions.pause(this.flowId(), keys, reason) : this.#actions.resume(this.flowId(), keys, reason));
      if (done) {
        this.reason.set('');
        this.selected.update((selected) => new Set([...selected].filter((key) => !keys.includes(key))));
      }
    } finally {
      this.busy.set(false);
    }
  }
}
