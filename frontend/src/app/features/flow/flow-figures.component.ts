import { ChangeDetectionStrategy, Component, computed, inject, input } from '@angular/core';
import type { FlowMetrics } from '../../core/api/models';
import { LiveFeedStore } from '../../core/state/live-feed.store';

/**
 * A flow's figures: counters from /metrics (this instance's tasks), rates and dead letters by
 * reason from the live stream. BUFFER_FULL is shown on its own: it means a key hit its capacity.
 */
@Component({
  selector: 'ep-flow-figures',
  template: `
    <dl class="figures" data-testid="figures">
      <div>
        <dt>Paused keys</dt>
        <dd>{{ pausedKeys() ?? metrics()?.pausedKeys ?? '—' }}</dd>
      </div>
      <div>
        <dt>Buffered events</dt>
        <dd>{{ metrics()?.bufferedEvents ?? '—' }}</dd>
      </div>
      <div>
        <dt>Processed</dt>
        <dd>{{ metrics()?.processedEvents ?? '—' }} <small>{{ feed.processedPerSecond() }}/s</small></dd>
      </div>
      <div>
        <dt>Buffered now</dt>
        <dd>{{ feed.bufferedPerSecond() }}<small>/s</small></dd>
      </div>
      <div>
        <dt>Drained</dt>
        <dd>{{ metrics()?.drainedEvents ?? '—' }}</dd>
      </div>
      <div>
        <dt>Consumer lag</dt>
        <dd>{{ metrics()?.consumerLag ?? '—' }}</dd>
      </div>
      <div [class.figure-bad]="(metrics()?.deadLettered ?? 0) > 0" data-testid="dlq-total">
        <dt>Dead-lettered</dt>
        <dd>{{ metrics()?.deadLettered ?? '—' }}</dd>
      </div>
      <div [class.figure-bad]="bufferFull() > 0" data-testid="buffer-full">
        <dt>Buffer full <small>(since opened)</small></dt>
        <dd>{{ bufferFull() }}</dd>
      </div>
    </dl>
    @if (otherReasons().length > 0) {
      <p class="small">
        Dead letters since this page opened:
        @for (entry of otherReasons(); track entry[0]) {
          <span class="pill pill-bad">{{ entry[0] }} {{ entry[1] }}</span>
        }
      </p>
    }
    @if (metrics() === undefined) {
      <p class="muted small">Counters appear once this instance reports metrics for the flow.</p>
    }
  `,
  changeDetection: ChangeDetectionStrategy.OnPush,
})
export class FlowFiguresComponent {
  readonly metrics = input.required<FlowMetrics | undefined>();
  /** Paused keys in the whole flow, from the key listing (every instance). */
  readonly pausedKeys = input.required<number | undefined>();
  protected readonly feed = inject(LiveFeedStore);
  protected readonly bufferFull = computed(() => this.feed.deadLettered()['BUFFER_FULL'] ?? 0);
  protected readonly otherReasons = computed(() => Object.entries(this.feed.deadLettered()).filter(([reason]) => reason !== 'BUFFER_FULL'));
}
