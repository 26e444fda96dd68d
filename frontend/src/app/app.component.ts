import { ChangeDetectionStrategy, Component, inject } from '@angular/core';
import { RouterLink, RouterLinkActive, RouterOutlet } from '@angular/router';
import { EngineBannerComponent } from './core/layout/engine-banner.component';
import { ToastsComponent } from './core/layout/toasts.component';
import { FlowsStore } from './core/state/flows.store';
import { SettingsStore } from './core/state/settings.store';

/** The shell: one tab per flow, settings, the engine banner, the open page, notifications. */
@Component({
  selector: 'ep-root',
  imports: [RouterOutlet, RouterLink, RouterLinkActive, EngineBannerComponent, ToastsComponent],
  template: `
    <header class="topbar">
      <a class="brand" routerLink="/">event-pause</a>
      <nav class="tabs" aria-label="Flows">
        @for (flow of flows.flows(); track flow.id) {
          <a [routerLink]="['/flows', flow.id]" routerLinkActive="active" ariaCurrentWhenActive="page">
            {{ flow.id }}
            @if (flow.pausedKeys > 0) {
              <span class="pill pill-warn">{{ flow.pausedKeys }} paused</span>
            }
          </a>
        }
      </nav>
      <a class="tab-end" routerLink="/settings" routerLinkActive="active" ariaCurrentWhenActive="page">
        Settings
        @if (settings.token() !== '') {
          <span class="pill">token set</span>
        }
      </a>
    </header>
    <ep-engine-banner />
    <main class="page">
      <router-outlet />
    </main>
    <ep-toasts />
  `,
  changeDetection: ChangeDetectionStrategy.OnPush,
})
export class AppComponent {
  protected readonly flows = inject(FlowsStore);
  protected readonly settings = inject(SettingsStore);

  constructor() {
    this.flows.watch();
  }
}
