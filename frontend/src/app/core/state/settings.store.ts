import { DOCUMENT, Injectable, computed, inject, signal } from '@angular/core';

/** What an operator sets once per browser: where the API is, its token, and who they are. */
export interface Settings {
  /** Origin (and path prefix) of the event-pause API; empty means the dashboard's own origin. */
  readonly apiBase: string;
  /** Bearer token for pause, resume and send when the service runs with API_TOKEN set. */
  readonly token: string;
  /** Recorded as the actor of pauses and resumes. */
  readonly actor: string;
}

const STORAGE_KEY = 'event-pause.settings';
const DEFAULT_ACTOR = 'dashboard';
/** A deployment can point a prebuilt dashboard elsewhere by editing this tag in index.html. */
const API_BASE_META = 'event-pause-api-base';

export function normalizeApiBase(value: string): string {
  return value.trim().replace(/\/+$/, '');
}

@Injectable({ providedIn: 'root' })
export class SettingsStore {
  readonly #document = inject(DOCUMENT);
  readonly #defaults: Settings = {
    apiBase: normalizeApiBase(this.#document.querySelector(`meta[name="${API_BASE_META}"]`)?.getAttribute('content') ?? ''),
    token: '',
    actor: DEFAULT_ACTOR,
  };
  readonly #settings = signal<Settings>({ ...this.#defaults, ...this.#stored() });

  readonly settings = this.#settings.asReadonly();
  readonly apiBase = computed(() => this.#settings().apiBase);
  readonly token = computed(() => this.#settings().token);
  readonly actor = computed(() => this.#settings().actor || DEFAULT_ACTOR);
  /** Where the dashboard's requests go, for people to read. */
  readonly apiLabel = computed(() => this.apiBase() || this.#document.location.origin);

  /**
   * Saves new settings. A new API base reloads the page so that every store, poller and event
   * stream starts over against the new server.
   */
  update(changes: Partial<Settings>): void {
    const previous = this.#settings();
    const next: Settings = {
      apiBase: normalizeApiBase(changes.apiBase ?? previous.apiBase),
      token: (changes.token ?? previous.token).trim(),
      actor: (changes.actor ?? previous.actor).trim(),
    };
    this.#settings.set(next);
    this.#document.defaultView?.localStorage.setItem(STORAGE_KEY, JSON.stringify(next));
    if (next.apiBase !== previous.apiBase) this.#document.location.reload();
  }

  #stored(): Partial<Settings> {
    try {
      const text = this.#document.defaultView?.localStorage.getItem(STORAGE_KEY);
      const value: unknown = text ? JSON.parse(text) : {};
      if (typeof value !== 'object' || value === null) return {};
      const stored: Partial<Record<keyof Settings, unknown>> = value;
      const picked: { -readonly [K in keyof Settings]?: string } = {};
      for (const name of ['apiBase', 'token', 'actor'] as const) {
        const field = stored[name];
        if (typeof field === 'string') picked[name] = field;
      }
      return picked;
    } catch {
      return {};
    }
  }
}
