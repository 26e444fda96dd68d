/**
 * Time, as a port: the stream runtime reads the time and waits only through a Clock, so the same
 * code runs on the wall clock in production and on virtual time in the simulation, where a
 * schedule's timers fire in a seeded, repeatable order and an hour passes in microseconds.
 */
export interface Clock {
  /** Milliseconds since the epoch (or since the start of a virtual run). */
  now(): number;
  /** Resolves after `ms`, or as soon as `signal` aborts. Never rejects. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms, signal) =>
    new Promise<void>((resolve) => {
      if (signal?.aborted) return resolve();
      const done = (): void => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      signal?.addEventListener('abort', done, { once: true });
    }),
};

interface Timer {
  readonly at: number;
  readonly order: number;
  readonly fire: () => void;
}

/**
 * Virtual time. `sleep` registers a timer; `advance` moves time forward timer by timer, and after
 * each one lets every promise chain that does not wait on the clock run to its end (a macrotask
 * turn), so what happens at each instant is decided by the code, not by real timing.
 */
export class VirtualClock implements Clock {
  #now: number;
  #order = 0;
  #timers: Timer[] = [];

  constructor(start = 0) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  /** Timers waiting. */
  get pending(): number {
    return this.#timers.length;
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise<void>((resolve) => {
      if (signal?.aborted) return resolve();
      const timer: Timer = {
        at: this.#now + Math.max(0, ms),
        order: this.#order++,
        fire: () => {
          signal?.removeEventListener('abort', cancel);
          resolve();
        },
      };
      const cancel = (): void => {
        this.#timers = this.#timers.filter((t) => t !== timer);
        resolve();
      };
      signal?.addEventListener('abort', cancel, { once: true });
      this.#insert(timer);
    });
  }

  /** Lets every chain that does not wait on the clock finish (one macrotask turn). */
  static settle(): Promise<void> {
    return new Promise((resolve) => setImmediate(resolve));
  }

  /** Moves time forward by `ms`, firing the timers due on the way, earliest first. */
  async advance(ms: number): Promise<void> {
    if (!(ms >= 0)) throw new RangeError(`cannot move the clock back (advance by ${ms} ms)`);
    const target = this.#now + ms;
    await VirtualClock.settle();
    for (;;) {
      const next = this.#timers[0];
      if (next === undefined || next.at > target) break;
      this.#timers.shift();
      this.#now = Math.max(this.#now, next.at);
      next.fire();
      await VirtualClock.settle();
    }
    this.#now = target;
  }

  #insert(timer: Timer): void {
    let i = this.#timers.length;
    while (i > 0) {
      const before = this.#timers[i - 1]!;
      if (before.at < timer.at || (before.at === timer.at && before.order < timer.order)) break;
      i--;
    }
    this.#timers.splice(i, 0, timer);
  }
}
