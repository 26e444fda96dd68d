/** Small helpers shared by the chaos runner's parts: deadlines, sleeping, the run's clock, logging. */

export class DeadlineError extends Error {
  constructor(what: string, ms: number) {
    super(`${what}: no answer within ${ms} ms`);
    this.name = 'DeadlineError';
  }
}

/** Resolves or rejects like `promise`, or rejects with a DeadlineError after `ms`. */
export function withDeadline<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new DeadlineError(what, ms)), ms);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** The runner's clock: milliseconds since the run started, for reports. */
export class RunClock {
  readonly startedAt = Date.now();

  /** Seconds since the start, e.g. "t+12.3s". */
  rel(at: number = Date.now()): string {
    return `t+${((at - this.startedAt) / 1000).toFixed(1)}s`;
  }

  seconds(at: number = Date.now()): number {
    return Math.round((at - this.startedAt) / 100) / 10;
  }
}

export type Log = (line: string) => void;

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** "3-7, 9, 12-15" for a sorted list of integers. */
export function ranges(values: readonly number[], max = 12): string {
  const parts: string[] = [];
  let i = 0;
  while (i < values.length && parts.length < max) {
    const start = values[i]!;
    let end = start;
    while (i + 1 < values.length && values[i + 1] === end + 1) end = values[++i]!;
    parts.push(start === end ? String(start) : `${start}-${end}`);
    i++;
  }
  if (i < values.length) parts.push('...');
  return parts.join(', ');
}
