/**
 * What a process costs, read from /proc: CPU time (user + system, all threads, children excluded)
 * and memory (VmRSS, RssAnon: the part that is neither file-backed nor shared, i.e. the heap and
 * what native code allocated; lmdb's mapped pages are file-backed and not in it).
 */
import { readFileSync } from 'node:fs';

const TICKS_PER_SECOND = 100; // USER_HZ on Linux

/** CPU seconds used so far by `pid` (all its threads), or undefined once it is gone. */
export function cpuSeconds(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces) start after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const utime = Number(fields[11]);
    const stime = Number(fields[12]);
    return (utime + stime) / TICKS_PER_SECOND;
  } catch {
    return undefined;
  }
}

export interface Memory {
  readonly rssBytes: number;
  readonly anonBytes: number;
}

export function memory(pid: number): Memory | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (name: string): number => Number(/^(\w+):\s+(\d+) kB$/m.exec(status.split('\n').find((line) => line.startsWith(`${name}:`)) ?? '')?.[2] ?? 0) * 1024;
    return { rssBytes: kb('VmRSS'), anonBytes: kb('RssAnon') };
  } catch {
    return undefined;
  }
}

/** Samples a process's memory every `everyMs` and keeps the peaks (and a time series for plots). */
export class Sampler {
  readonly #pid: number;
  readonly #timer: NodeJS.Timeout;
  readonly #started = performance.now();
  peakRss = 0;
  peakAnon = 0;
  readonly series: { t: number; rss: number; anon: number }[] = [];

  constructor(pid: number, everyMs = 200) {
    this.#pid = pid;
    this.#timer = setInterval(() => this.sample(), everyMs);
    this.#timer.unref();
    this.sample();
  }

  sample(): Memory | undefined {
    const now = memory(this.#pid);
    if (now === undefined) return undefined;
    this.peakRss = Math.max(this.peakRss, now.rssBytes);
    this.peakAnon = Math.max(this.peakAnon, now.anonBytes);
    this.series.push({ t: (performance.now() - this.#started) / 1000, rss: now.rssBytes, anon: now.anonBytes });
    return now;
  }

  /** Starts the peaks again (a measure's window), keeping the series. */
  resetPeaks(): void {
    this.peakRss = 0;
    this.peakAnon = 0;
    this.sample();
  }

  stop(): void {
    clearInterval(this.#timer);
  }
}
