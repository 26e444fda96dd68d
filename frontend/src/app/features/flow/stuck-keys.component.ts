import { ChangeDetectionStrategy, Component, DestroyRef, effect, inject, input, signal, untracked } from '@angular/core';
import { EventPauseApi } from '../../core/api/event-pause-api.service';
import type { StuckKeys } from '../../core/api/models';
import { Clock } from '../../core/state/clock.service';
import { Poller } from '../../core/state/poller';
import { AgoPipe } from '../../core/ui/ago.pipe';
import { TruncatedComponent } from '../../core/ui/truncated.component';

const REFRESH_MS = 15_000;

/**
 * Keys that need a look: paused longer than STUCK_PAUSED_MINUTES, or holding more than
 * STUCK_BUFFERED_EVENTS events (the thresholds are the server's settings). Shown only when some are.
 */
@Component({
  selector: 'ep-stuck-keys',
  imports: [AgoPipe, TruncatedComponent],
  template: `
    @if (stuck(); as stuck) {
      @if (stuck.pausedTooLong.count > 0 || stuck.bufferedTooMany.count > 0) {
        <div class="banner banner-warn" role="status" data-testid="stuck-keys">
          <strong>Stuck keys:</strong>
          @if (stuck.pausedTooLong.count > 0) {
            {{ stuck.pausedTooLong.count }} paused longer than {{ hours(stuck.thresholds.pausedMinutes) }}
            <span class="stuck-list">
              @for (hit of stuck.pausedTooLong.items; track hit.key) {
                <ep-truncated [text]="hit.key" label="key" [link]="['/flows', flowId(), 'keys', hit.key]" />
                <small>({{ hit.pausedSince | ago: clock.now() }})</small>
              }
            </span>
          }
          @if (stuck.bufferedTooMany.count > 0) {
            {{ stuck.bufferedTooMany.count }} holding more than {{ stuck.thresholds.bufferedEvents }} events
            <span class="stuck-list">
              @for (hit of stuck.bufferedTooMany.items; track hit.key) {
                <ep-truncated [text]="hit.key" label="key" [link]="['/flows', flowId(), 'keys', hit.key]" />
                <small>({{ hit.bufferedCount }})</small>
              }
            </span>
          }
        </div>
      }
    }
  `,
  changeDetection: ChangeDetectionStrategy.OnPush,
})
export class StuckKeysComponent {
  readonly flowId = input.required<string>();
  readonly #api = inject(EventPauseApi);
  protected readonly clock = inject(Clock);
  protected readonly stuck = signal<StuckKeys | undefined>(undefined);
  readonly #poller = new Poller(() => this.#load(), REFRESH_MS);

  constructor() {
    effect(() => {
      this.flowId();
      untracked(() => {
        this.stuck.set(undefined);
        this.#poller.start();
      });
    });
    inject(DestroyRef).onDestroy(() => this.#poller.stop());
  }

  protected hours(minutes: number): string {
    return minutes % 60 === 0 ? `${minutes / 60} h` : `${minutes} min`;
  }

  async #load(): Promise<void> {
    const flowId = this.flowId();
    try {
      const stuck = await this.#api.stuckKeys(flowId);
      if (flowId === this.flowId()) this.stuck.set(stuck);
    } catch {
      // Alerts are a bonus: the page's own error banner speaks for an API that is down.
    }
  }
}
