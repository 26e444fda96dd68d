import { ChangeDetectionStrategy, Component, inject, signal } from '@angular/core';
import { FormsModule } from '@angular/forms';
import { NotificationsStore } from '../../core/state/notifications.store';
import { SettingsStore } from '../../core/state/settings.store';

/** Per-browser settings: the API token, the name recorded with pauses and resumes, the API's address. */
@Component({
  selector: 'ep-settings-page',
  imports: [FormsModule],
  template: `
    <h1>Settings</h1>
    <p class="muted">Kept in this browser only.</p>
    <form class="form panel narrow-form" (ngSubmit)="save()">
      <label>
        API token
        <span class="field-row">
          <input name="token" [type]="showToken() ? 'text' : 'password'" [(ngModel)]="token" autocomplete="off" spellcheck="false" />
          <button type="button" class="small" (click)="showToken.set(!showToken())">{{ showToken() ? 'Hide' : 'Show' }}</button>
        </span>
        <span class="muted small">
          Needed when the service runs with API_TOKEN set: pausing, resuming and sending then require it. Reading stays open.
        </span>
      </label>
      <label>
        Your name
        <input name="actor" [(ngModel)]="actor" maxlength="100" autocomplete="off" />
        <span class="muted small">Recorded with every pause and resume you make, beside the reason.</span>
      </label>
      <label>
        API address
        <input name="apiBase" [(ngModel)]="apiBase" placeholder="empty: this page's own address" autocomplete="off" spellcheck="false" />
        <span class="muted small">
          Leave empty when the service itself serves this dashboard. Another address must allow this origin in CORS_ORIGINS;
          changing it reloads the page.
        </span>
      </label>
      <div class="actions">
        <button type="submit" class="primary">Save</button>
      </div>
    </form>
  `,
  changeDetection: ChangeDetectionStrategy.OnPush,
})
export class SettingsPageComponent {
  readonly #settings = inject(SettingsStore);
  readonly #notifications = inject(NotificationsStore);
  protected readonly token = signal(this.#settings.token());
  protected readonly actor = signal(this.#settings.actor());
  protected readonly apiBase = signal(this.#settings.apiBase());
  protected readonly showToken = signal(false);

  protected save(): void {
    this.#settings.update({ token: this.token(), actor: this.actor(), apiBase: this.apiBase() });
    const token = this.#settings.token() === '' ? 'no API token' : 'API token set';
    this.#notifications.notify('success', `Settings saved: ${token}, acting as ${this.#settings.actor()}.`);
  }
}
