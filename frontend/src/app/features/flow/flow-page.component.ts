import { ChangeDetectionStrategy, Component, DestroyRef, computed, effect, inject, input, untracked } from '@angular/core';
import { FormsModule } from '@angular/forms';
import { RouterLink } from '@angular/router';
import { Clock } from '../../core/state/clock.service';
import { FlowDashboardStore, RECENT_LIMITS } from '../../core/state/flow-dashboard.store';
import { FlowMetricsStore } from '../../core/state/flow-metrics.store';
import { FlowsStore } from '../../core/state/flows.store';
import { LiveFeedStore } from '../../core/state/live-feed.store';
import { AgoPipe } from '../../core/ui/ago.pipe';
import { ActivityLogComponent } from './activity-log.component';
import { FlowChartsComponent } from './flow-charts.component';
import { StuckKeysComponent } from './stuck-keys.component';
import { FlowFiguresComponent } from './flow-figures.component';
import { KeyControlFormComponent } from './key-control-form.component';
import { KeyTableComponent } from './key-table.component';
import { LiveFeedComponent } from './live-feed.component';
import { SendEventFormComponent } from './send-event-form.component';
import { TopicRecordsComponent } from './topic-records.component';

/**
 * One flow: its figures, the key actions (send, pause, resume), the keys that are paused or hold
 * events, its latest input and output records, and what happens live. Kept current by polling
 * and, sooner, whenever the live stream reports a change.
 */
@Component({
  selector: 'ep-flow-page',
  imports: [
    FormsModule,
    RouterLink,
    AgoPipe,
    ActivityLogComponent,
    FlowChartsComponent,
    FlowFiguresComponent,
    StuckKeysComponent,
    KeyControlFormComponent,
    KeyTableComponent,
    LiveFeedComponent,
    SendEventFormComponent,
    TopicRecordsComponent,
  ],
  templateUrl: './flow-page.component.html',
  changeDetection: ChangeDetectionStrategy.OnPush,
})
export class FlowPageComponent {
  /** From the route. */
  readonly flowId = input.required<string>();

  protected readonly dashboard = inject(FlowDashboardStore);
  readonly #metrics = inject(FlowMetricsStore);
  protected readonly flows = inject(FlowsStore);
  protected readonly feed = inject(LiveFeedStore);
  protected readonly clock = inject(Clock);
  protected readonly recentLimits = RECENT_LIMITS;
  protected recordKey = '';
  protected readonly flow = computed(() => this.flows.flows().find((flow) => flow.id === this.flowId()));
  protected readonly unknown = computed(() => this.flows.loaded() && this.flow() === undefined);

  constructor() {
    effect(() => {
      const flowId = this.flowId();
      untracked(() => {
        this.flows.select(flowId);
        this.dashboard.open(flowId);
        this.#metrics.open(flowId);
        this.feed.connect(flowId);
      });
    });
    effect(() => {
      this.feed.changes();
      untracked(() => {
        this.dashboard.refreshSoon();
        this.flows.refreshSoon();
      });
    });
    inject(DestroyRef).onDestroy(() => {
      this.dashboard.close();
      this.#metrics.close();
      this.feed.disconnect();
      this.flows.select(undefined);
    });
  }
}
