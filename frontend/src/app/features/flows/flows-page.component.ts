import { ChangeDetectionStrategy, Component, inject } from '@angular/core';
import { RouterLink } from '@angular/router';
import { FlowsStore } from '../../core/state/flows.store';

/** The start page: every configured flow with its topics and how many keys are paused. */
@Component({
  selector: 'ep-flows-page',
  imports: [RouterLink],
  template: `
    <h1>Flows</h1>
    <p class="muted">
      Each flow reads events from its input topic and forwards them to its output topic, holding the events of paused keys
      in a per-key buffer until they are resumed. Open a flow to send events, pause and resume keys, and watch its buffers.
    </p>
    @if (!flows.loaded() && !flows.error()) {
      <p class="muted">Loading…</p>
    }
    <div class="cards">
      @for (flow of flows.flows(); track flow.id) {
        <a class="card" [routerLink]="['/flows', flow.id]" data-testid="flow-card">
          <h2>{{ flow.id }}</h2>
          <p class="mono">{{ flow.topics.main.name }} → {{ flow.topics.output.name }}</p>
          <p class="muted">
            {{ flow.partitions }} partitions · dead letters to <span class="mono">{{ flow.topics.dlq.name }}</span>
          </p>
          <p>
            @if (flow.pausedKeys > 0) {
              <span class="pill pill-warn">{{ flow.pausedKeys }} paused</span>
            } @else {
              <span class="pill pill-good">no key paused</span>
            }
          </p>
        </a>
      }
    </div>
  `,
  changeDetection: ChangeDetectionStrategy.OnPush,
})
export class FlowsPageComponent {
  protected readonly flows = inject(FlowsStore);
}
