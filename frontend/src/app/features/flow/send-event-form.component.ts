import { ChangeDetectionStrategy, Component, inject, input, signal } from '@angular/core';
import { FormsModule } from '@angular/forms';
import { KeyActions, MAX_DATA_LENGTH, MAX_KEY_BYTES, keyBytes } from '../../core/state/key-actions.service';

/** More would be a load test, not a test event: those belong in a script. */
const MAX_SEND_COUNT = 100;

/** Sends test events `{id, data, timestamp}` to a flow's input topic, one or several in order. */
@Component({
  selector: 'ep-send-event-form',
  imports: [FormsModule],
  template: `
    <form class="form" (ngSubmit)="send()">
      @if (fixedKey() === undefined) {
        <label>Key <input name="key" [(ngModel)]="key" placeholder="e.g. A" autocomplete="off" /></label>
      }
      <label>Data <input name="data" [(ngModel)]="data" maxlength="4096" placeholder="e.g. Hello 1" autocomplete="off" /></label>
      <label class="narrow">Count <input name="count" type="number" min="1" max="100" [(ngModel)]="count" /></label>
      @if (problem(); as problem) {
        <p class="field-error" role="alert">{{ problem }}</p>
      }
      <p class="muted small">With a count above 1 the data of each event ends in “#1”, “#2”, … so that their order shows.</p>
      <div class="actions">
        <button type="submit" class="primary" [disabled]="busy()">{{ busy() ? 'Sending…' : 'Send' }}</button>
      </div>
    </form>
  `,
  changeDetection: ChangeDetectionStrategy.OnPush,
})
export class SendEventFormComponent {
  readonly flowId = input.required<string>();
  /** Sends to this key only (the key's own page); otherwise the operator types the key. */
  readonly fixedKey = input<string>();

  readonly #actions = inject(KeyActions);
  protected readonly key = signal('');
  protected readonly data = signal('');
  protected readonly count = signal(1);
  protected readonly busy = signal(false);
  protected readonly problem = signal<string | undefined>(undefined);

  protected async send(): Promise<void> {
    const key = (this.fixedKey() ?? this.key()).trim();
    const data = this.data();
    const count = Number(this.count());
    const problem = this.#check(key, data, count);
    this.problem.set(problem);
    if (problem !== undefined) return;
    this.busy.set(true);
    try {
      await this.#actions.send(this.flowId(), key, data, count);
    } finally {
      this.busy.set(false);
    }
  }

  #check(key: string, data: string, count: number): string | undefined {
    if (key === '') return 'Enter the key to send to.';
    if (keyBytes(key) > MAX_KEY_BYTES) return `A key has at most ${MAX_KEY_BYTES} bytes (UTF-8); this one has ${keyBytes(key)}.`;
    if (!Number.isInteger(count) || count < 1 || count > MAX_SEND_COUNT) return `Count is a whole number from 1 to ${MAX_SEND_COUNT}.`;
    const suffix = count > 1 ? ` #${count}`.length : 0;
    if (data.length + suffix > MAX_DATA_LENGTH) return `Data has at most ${MAX_DATA_LENGTH - suffix} characters here.`;
    return undefined;
  }
}
