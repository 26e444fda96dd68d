import { ChangeDetectionStrategy, Component, computed, inject, input, signal } from '@angular/core';
import { FormsModule } from '@angular/forms';
import { RouterLink } from '@angular/router';
import { SettingsStore } from '../../core/state/settings.store';
import {
  KeyActions,
  MAX_KEY_BYTES,
  keyBytes,
  MAX_KEYS_PER_ACTION,
  MAX_REASON_LENGTH,
  parseKeys,
} from '../../core/state/key-actions.service';

type Action = 'pause' | 'resume';

/**
 * Pauses or resumes keys with a reason, recorded with the operator's name. On a flow's page the
 * operator types one key or many; on a key's page the key is given.
 */
@Component({
  selector: 'ep-key-control-form',
  imports: [FormsModule, RouterLink],
  template: `
    <form class="form">
      @if (fixedKey() === undefined) {
        <label>
          Keys
          <textarea name="keys" rows="2" [(ngModel)]="keysText" placeholder="A, or several: A, B, C or one per line"></textarea>
        </label>
      }
      <label>
        <span>Reason <span class="muted">(optional)</span></span>
        <input
          name="reason"
          [(ngModel)]="reason"
          maxlength="500"
          placeholder="e.g. fraud review #1234"
          autocomplete="off"
          [attr.aria-description]="'Enter: ' + primary()"
          (keydown.enter)="$event.preventDefault(); apply(primary())"
        />
      </label>
      @if (problem(); as problem) {
        <p class="field-error" role="alert">{{ problem }}</p>
      }
      <div class="actions">
        <button type="button" class="warn" [disabled]="busy()" (click)="apply('pause')">Pause{{ countLabel() }}</button>
        <button type="button" class="good" [disabled]="busy()" (click)="apply('resume')">Resume{{ countLabel() }}</button>
        <span class="muted small">as {{ settings.actor() }} (<a routerLink="/settings">change</a>)</span>
      </div>
      @if (fixedKey() === undefined && keys().length === 1) {
        <p class="small">
          <a [routerLink]="['/flows', flowId(), 'keys', keys()[0]]">Status, buffer and history of {{ keys()[0] }} →</a>
        </p>
      }
    </form>
  `,
  changeDetection: ChangeDetectionStrategy.OnPush,
})
export class KeyControlFormComponent {
  readonly flowId = input.required<string>();
  /** Acts on this key only (the key's own page). */
  readonly fixedKey = input<string>();
  /** What Enter in the reason field does (a paused key's page: resume). */
  readonly primary = input<Action>('pause');

  readonly #actions = inject(KeyActions);
  protected readonly settings = inject(SettingsStore);
  protected readonly keysText = signal('');
  protected readonly reason = signal('');
  protected readonly busy = signal(false);
  protected readonly problem = signal<string | undefined>(undefined);
  protected readonly keys = computed(() => {
    const fixed = this.fixedKey();
    return fixed === undefined ? parseKeys(this.keysText()) : [fixed];
  });
  protected readonly countLabel = computed(() => (this.keys().length > 1 ? ` ${this.keys().length} keys` : ''));

  protected async apply(action: Action): Promise<void> {
    const keys = this.keys();
    const reason = this.reason().trim();
    const problem = this.#check(keys, reason);
    this.problem.set(problem);
    if (problem !== undefined) return;
    this.busy.set(true);
    try {
      const done = await (action === 'pause' ? this.#actions.pause(this.flowId(), keys, reason) : this.#actions.resume(this.flowId(), keys, reason));
      if (done) this.reason.set('');
    } finally {
      this.busy.set(false);
    }
  }

  #check(keys: readonly string[], reason: string): string | undefined {
    if (keys.length === 0) return 'Enter at least one key.';
    if (keys.length > MAX_KEYS_PER_ACTION) return `At most ${MAX_KEYS_PER_ACTION} keys at once (${keys.length} entered).`;
    const long = keys.find((key) => keyBytes(key) > MAX_KEY_BYTES);
    if (long !== undefined) return `A key has at most ${MAX_KEY_BYTES} bytes (UTF-8): “${long.slice(0, 30)}…” has ${keyBytes(long)}.`;
    if (reason.length > MAX_REASON_LENGTH) return `A reason has at most ${MAX_REASON_LENGTH} characters.`;
    return undefined;
  }
}
