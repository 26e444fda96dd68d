/**
 * Runs a task now and then `intervalMs` after each run settles, never two runs at once. `soon()`
 * asks for an extra run shortly, coalescing bursts (several live events in a row cost one run).
 * The task handles its own errors.
 */
export class Poller {
  static readonly COALESCE_MS = 150;

  readonly #task: () => Promise<void>;
  readonly #intervalMs: number;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #soonTimer: ReturnType<typeof setTimeout> | undefined;
  #running = false;
  #again = false;
  #active = false;

  constructor(task: () => Promise<void>, intervalMs: number) {
    this.#task = task;
    this.#intervalMs = intervalMs;
  }

  start(): void {
    this.stop();
    this.#active = true;
    void this.#run();
  }

  stop(): void {
    this.#active = false;
    this.#again = false;
    clearTimeout(this.#timer);
    clearTimeout(this.#soonTimer);
    this.#soonTimer = undefined;
  }

  /** Runs again shortly (once the current run, if any, settles). */
  soon(): void {
    if (!this.#active || this.#soonTimer !== undefined) return;
    this.#soonTimer = setTimeout(() => {
      this.#soonTimer = undefined;
      if (this.#running) {
        this.#again = true;
      } else {
        clearTimeout(this.#timer);
        void this.#run();
      }
    }, Poller.COALESCE_MS);
  }

  async #run(): Promise<void> {
    this.#running = true;
    try {
      await this.#task();
    } finally {
      this.#running = false;
    }
    if (!this.#active) return;
    if (this.#again) {
      this.#again = false;
      void this.#run();
    } else {
      this.#timer = setTimeout(() => void this.#run(), this.#intervalMs);
    }
  }
}
