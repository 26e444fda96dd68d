import { Injectable, signal } from '@angular/core';

/** The current time as a signal, ticking each second, for "5 min ago" texts and rates. */
@Injectable({ providedIn: 'root' })
export class Clock {
  readonly #now = signal(Date.now());
  readonly now = this.#now.asReadonly();

  constructor() {
    setInterval(() => this.#now.set(Date.now()), 1000);
  }
}
