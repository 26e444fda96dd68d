import { Injectable, computed, inject, signal } from '@angular/core';
import { describeError } from '../api/api-error';
import { EventPauseApi } from '../api/event-pause-api.service';
import type { FlowTotals, HistoryPoint, MetricsHistory } from '../api/models';
import { Poller } from './poller';

/** The server samples every 5 s; asking more often shows nothing new. */
const REFRESH_MS = 5000;

/**
 * One flow's figures over the last 15 minutes and its counters now, summed over every instance
 * by the server (/api/v1/metrics/history): what the charts and the figures show.
 */
@Injectable({ providedIn: 'root' })
export class FlowMetricsStore {
  readonly #api = inject(EventPauseApi);
  readonly #flowId = signal<string | undefined>(undefined);
  readonly #history = signal<MetricsHistory | undefined>(undefined);
  readonly #error = signal<string | undefined>(undefined);
  readonly #poller = new Poller(() => this.#load(), REFRESH_MS);

  readonly error = this.#error.asReadonly();
  readonly loaded = computed(() => this.#history() !== undefined);
  readonly points = computed<readonly HistoryPoint[]>(() => this.#flow()?.points ?? []);
  readonly totals = computed<FlowTotals | undefined>(() => this.#flow()?.totals);
  /** When counting began (counters start at 0 with each instance). */
  readonly countersSince = computed(() => this.#history()?.countersSince);
  /** Instances whose figures are missing (they did not answer). */
  readonly failedInstances = computed(() => this.#history()?.instances?.failed ?? []);
  readonly intervalMs = computed(() => this.#history()?.intervalMs ?? REFRESH_MS);

  readonly #flow = computed(() => {
    const flowId = this.#flowId();
    return this.#history()?.flows.find((flow) => flow.flow === flowId);
  });

  open(flowId: string): void {
    if (this.#flowId() !== flowId) {
      this.#flowId.set(flowId);
      this.#history.set(undefined);
      this.#error.set(undefined);
    }
    this.#poller.start();
  }

  close(): void {
    this.#poller.stop();
  }

  async #load(): Promise<void> {
    const flowId = this.#flowId();
    if (flowId === undefined) return;
    try {
      const history = await this.#api.metricsHistory(flowId);
      if (this.#flowId() !== flowId) return;
      this.#history.set(history);
      this.#error.set(undefined);
    } catch (error) {
      if (this.#flowId() === flowId) this.#error.set(describeError(error));
    }
  }
}
