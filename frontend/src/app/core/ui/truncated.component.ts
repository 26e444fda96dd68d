import { ChangeDetectionStrategy, Component, input, signal } from '@angular/core';
import { RouterLink } from '@angular/router';

/**
 * Long text (a key of hundreds of characters, a JSON value) cut to its column with an ellipsis: the whole
 * text in the tooltip, and a button that copies it.
 */
@Component({
  selector: 'ep-truncated',
  imports: [RouterLink],
  template: `<span class="truncated" [class.mono]="mono()" [title]="text()"
      >@if (link(); as link) {<a class="truncated-text" [routerLink]="link">{{ text() }}</a>} @else {<span class="truncated-text">{{ text() }}</span>}<button type="button" class="copy" [attr.aria-label]="'Copy ' + (label() || 'text')" (click)="copy($event)">
        {{ copied() ? '✓' : '⧉' }}
      </button></span
    >`,
  changeDetection: ChangeDetectionStrategy.OnPush,
})
export class TruncatedComponent {
  readonly text = input.required<string>();
  readonly mono = input(true);
  /** Router commands: the text is a link there (the copy button stays outside the link). */
  readonly link = input<readonly unknown[] | undefined>(undefined);
  /** What the text is, for the copy button's label. */
  readonly label = input('');
  protected readonly copied = signal(false);

  protected async copy(event: Event): Promise<void> {
    event.preventDefault();
    event.stopPropagation();
    try {
      await navigator.clipboard.writeText(this.text());
    } catch {
      // No clipboard (an insecure origin): select the text for a manual copy instead.
      const node = (event.target as HTMLElement).parentElement?.querySelector('.truncated-text');
      if (node !== null && node !== undefined) window.getSelection()?.selectAllChildren(node);
      return;
    }
    this.copied.set(true);
    setTimeout(() => this.copied.set(false), 1500);
  }
}
