import { DatePipe } from '@angular/common';
import { ChangeDetectionStrategy, Component, computed, inject, input } from '@angular/core';
import { FlowMetricsStore } from '../../core/state/flow-metrics.store';
import { LiveFeedStore } from '../../core/state/live-feed.store';

/**
 * A flow's figures: counters and gauges summed over every instance (FlowMetricsStore; counters
 * start at 0 with each instance, and say since when), rates and dead letters by reason from the
 * live stream. BUFFER_FULL is shown on its own: it means a key hit its capacity.
 */
@Component({
  selector: 'ep-flow-figures',
  imports: [DatePipe],
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
        <dt>Held</dt>
        <dd>{{ metrics()?.heldEvents ?? '—' }}</dd>
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
    @if (since(); as since) {
      <p class="muted small" data-testid="counters-since">
        Counters since {{ since | date: 'MMM d, HH:mm:ss' }} (they start at 0 when an instance starts)@if (failed().length > 0) {;
          <span class="text-bad">no answer from {{ failed().join(', ') }}: their figures are missing</span>
        }
      </p>
    } @else if (store.error(); as error) {
      <p class="muted small">Counters unavailable: {{ error }}</p>
    } @else {
      <p class="muted small">Loading counters…</p>
    }
  `,
  changeDetection: ChangeDetectionStrategy.OnPush,
})
export class FlowFiguresComponent {
  protected readonly store = inject(FlowMetricsStore);
  protected readonly metrics = this.store.totals;
  protected readonly since = this.store.countersSince;
  protected readonly failed = this.store.failedInstances;
  /** Paused keys in the whole flow, from the key listing (every instance). */
  readonly pausedKeys = input.required<number | undefined>();
  protected readonly feed = inject(LiveFeedStore);
  protected readonly bufferFull = computed(() => this.feed.deadLettered()['BUFFER_FULL'] ?? 0);
  protected readonly otherReasons = computed(() => Object.entries(this.feed.deadLettered()).filter(([reason]) => reason !== 'BUFFER_FULL'));
}
