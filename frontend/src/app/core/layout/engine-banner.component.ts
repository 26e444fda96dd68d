import { ChangeDetectionStrategy, Component, inject } from '@angular/core';
import { FlowsStore } from '../state/flows.store';
import { SettingsStore } from '../state/settings.store';

/**
 * Which engine runs and whether what operators do survives a restart: an in-memory engine loses
 * paused statuses and buffered events when the service stops, and people must know that.
 */
@Component({
  selector: 'ep-engine-banner',
  template: `
    @if (flows.error(); as error) {
      <div class="banner banner-bad" role="alert" data-testid="api-error">
        <strong>The API at {{ settings.apiLabel() }} cannot be read:</strong> {{ error }}
      </div>
    }
    @if (flows.engine(); as engine) {
      <div class="banner" [class.banner-warn]="!engine.durable" [class.banner-stale]="flows.error()" data-testid="engine-banner">
        @if (flows.error()) {
          <strong>Last known</strong> (the API does not answer now):
        }
        Engine: <strong>{{ engine.kind }}</strong> ({{ engine.description }}).
        @if (engine.durable) {
          Durable: paused keys and buffered events survive a restart.
        } @else {
          <strong>In memory:</strong> paused keys and buffered events are lost when the service stops.
        }
        @if (!flows.ready()) {
          <strong class="not-ready">Not ready yet:</strong> status tables are catching up or partitions are restoring.
        }
      </div>
    }
  `,
  changeDetection: ChangeDetectionStrategy.OnPush,
})
export class EngineBannerComponent {
  protected readonly flows = inject(FlowsStore);
  protected readonly settings = inject(SettingsStore);
}
