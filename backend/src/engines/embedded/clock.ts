/** Wall-clock time in ms. The service passes `Date.now`; tests and the simulation a `ManualClock`. */
export type Clock = () => number;

/** A clock that moves only when told to: deterministic time for the test driver and the simulation. */
export class ManualClock {
  #now: number;

  constructor(start = 0) {
    this.#now = start;
  }

  readonly now: Clock = () => this.#now;

  advance(ms: number): void {
    if (!(ms >= 0)) throw new RangeError(`cannot move the clock back (advance by ${ms} ms)`);
    this.#now += ms;
  }
}
