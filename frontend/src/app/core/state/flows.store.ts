import { Injectable, computed, inject, signal } from '@angular/core';
import { describeError } from '../api/api-error';
import { EventPauseApi } from '../api/event-pause-api.service';
import type { FlowsResponse } from '../api/models';
import { Poller } from './poller';

const REFRESH_MS = 10_000;

/** The engine that runs, whether it is ready, the configured flows, and which one is open. */
@Injectable({ providedIn: 'root' })
export class FlowsStore {
  readonly #api = inject(EventPauseApi);
  readonly #response = signal<FlowsResponse | undefined>(undefined);
  readonly #error = signal<string | undefined>(undefined);
  readonly #selectedId = signal<string | undefined>(undefined);
  readonly #poller = new Poller(() => this.#load(), REFRESH_MS);

  readonly loaded = computed(() => this.#response() !== undefined);
  readonly engine = computed(() => this.#response()?.engine);
  readonly ready = computed(() => this.#response()?.ready ?? false);
  readonly flows = computed(() => this.#response()?.flows ?? []);
  /** Why the API could not be read, while it cannot. */
  readonly error = this.#error.asReadonly();
  readonly selectedId = this.#selectedId.asReadonly();
  readonly selected = computed(() => this.flows().find((flow) => flow.id === this.#selectedId()));

  /** Loads now, then keeps the engine's readiness and the flows' paused counts current. */
  watch(): void {
    this.#poller.start();
  }

  refreshSoon(): void {
    this.#poller.soon();
  }

  select(flowId: string | undefined): void {
    this.#selectedId.set(flowId);
  }

  async #load(): Promise<void> {
    try {
      this.#response.set(await this.#api.flows());
      this.#error.set(undefined);
    } catch (error) {
      this.#error.set(describeError(error));
    }
  }
}
