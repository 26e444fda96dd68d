import { Injectable, signal } from '@angular/core';

export type NotificationKind = 'success' | 'info' | 'error';

export interface Notification {
  readonly id: number;
  readonly kind: NotificationKind;
  readonly text: string;
  readonly at: number;
}

const MAX_SHOWN = 5;
const MAX_LOGGED = 100;
const LIFETIME_MS: Readonly<Record<NotificationKind, number>> = { success: 5000, info: 5000, error: 12_000 };

/**
 * Short messages about what an operator did and what failed: shown as toasts for a while, and
 * kept in an activity log for the session.
 */
@Injectable({ providedIn: 'root' })
export class NotificationsStore {
  readonly #items = signal<readonly Notification[]>([]);
  readonly #log = signal<readonly Notification[]>([]);
  readonly items = this.#items.asReadonly();
  /** Every notification of this session, newest first. */
  readonly log = this.#log.asReadonly();
  #nextId = 1;

  notify(kind: NotificationKind, text: string): void {
    const item: Notification = { id: this.#nextId++, kind, text, at: Date.now() };
    this.#items.update((items) => [...items, item].slice(-MAX_SHOWN));
    this.#log.update((log) => [item, ...log].slice(0, MAX_LOGGED));
    setTimeout(() => this.dismiss(item.id), LIFETIME_MS[kind]);
  }

  clearLog(): void {
    this.#log.set([]);
  }

  dismiss(id: number): void {
    this.#items.update((items) => items.filter((item) => item.id !== id));
  }
}
