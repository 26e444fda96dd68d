import { Injectable, signal } from '@angular/core';

export type NotificationKind = 'success' | 'info' | 'error';

export interface Notification {
  readonly id: number;
  readonly kind: NotificationKind;
  readonly text: string;
  readonly at: number;
}

const MAX_SHOWN = 5;
const LIFETIME_MS: Readonly<Record<NotificationKind, number>> = { success: 5000, info: 5000, error: 12_000 };

/** Short messages about what an operator did and what failed, shown as toasts. */
@Injectable({ providedIn: 'root' })
export class NotificationsStore {
  readonly #items = signal<readonly Notification[]>([]);
  readonly items = this.#items.asReadonly();
  #nextId = 1;

  notify(kind: NotificationKind, text: string): void {
    const item: Notification = { id: this.#nextId++, kind, text, at: Date.now() };
    this.#items.update((items) => [...items, item].slice(-MAX_SHOWN));
    setTimeout(() => this.dismiss(item.id), LIFETIME_MS[kind]);
  }

  dismiss(id: number): void {
    this.#items.update((items) => items.filter((item) => item.id !== id));
  }
}
