import { Injectable, inject } from '@angular/core';
import { describeError } from '../api/api-error';
import { EventPauseApi } from '../api/event-pause-api.service';
import { FlowDashboardStore } from './flow-dashboard.store';
import { FlowsStore } from './flows.store';
import { KeyDetailStore } from './key-detail.store';
import { NotificationsStore } from './notifications.store';

export const MAX_KEYS_PER_ACTION = 1000;
/** The API's limit: the UTF-8 bytes a key's buffer can hold (lmdb's key size less the store's prefix). */
export const MAX_KEY_BYTES = 1966;

/** UTF-8 bytes of a key. */
export function keyBytes(key: string): number {
  return new TextEncoder().encode(key).length;
}
export const MAX_REASON_LENGTH = 500;
export const MAX_DATA_LENGTH = 4096;

/** Keys typed by an operator: separated by commas or new lines, trimmed, without repeats. */
export function parseKeys(text: string): string[] {
  return [...new Set(text.split(/[,\n]/).map((key) => key.trim()).filter((key) => key !== ''))];
}

function listed(keys: readonly string[]): string {
  return keys.length <= 3 ? keys.join(', ') : `${keys.slice(0, 3).join(', ')} and ${keys.length - 3} more`;
}

/**
 * What an operator does to a flow: send test events, pause and resume keys. Each action reports
 * its outcome as a notification and asks the open views to refresh. Resolves to whether it worked.
 */
@Injectable({ providedIn: 'root' })
export class KeyActions {
  readonly #api = inject(EventPauseApi);
  readonly #notifications = inject(NotificationsStore);
  readonly #flows = inject(FlowsStore);
  readonly #dashboard = inject(FlowDashboardStore);
  readonly #keyDetail = inject(KeyDetailStore);

  /** Sends `count` events in order; with more than one, each `data` gets a "#n" suffix. */
  async send(flowId: string, key: string, data: string, count = 1): Promise<boolean> {
    try {
      let last = '';
      for (let n = 1; n <= count; n++) {
        const result = await this.#api.send(flowId, key, count === 1 ? data : `${data} #${n}`);
        last = result.eventId;
      }
      this.#notifications.notify('success', count === 1 ? `Sent to ${key}: event ${last}` : `Sent ${count} events to ${key}`);
      return true;
    } catch (error) {
      this.#notifications.notify('error', `Sending to ${key} failed: ${describeError(error)}`);
      return false;
    } finally {
      this.#refresh();
    }
  }

  async pause(flowId: string, keys: readonly string[], reason: string): Promise<boolean> {
    try {
      const result = await this.#api.pause(flowId, keys, reason);
      this.#notifications.notify('info', `Paused ${listed(result.keys)} (by ${result.actor}). Takes effect as each instance sees it.`);
      return true;
    } catch (error) {
      this.#notifications.notify('error', `Pausing ${listed(keys)} failed: ${describeError(error)}`);
      return false;
    } finally {
      this.#refresh();
    }
  }

  async resume(flowId: string, keys: readonly string[], reason: string): Promise<boolean> {
    try {
      const result = await this.#api.resume(flowId, keys, reason);
      this.#notifications.notify('success', `Resumed ${listed(result.keys)} (by ${result.actor}): buffered events drain in order.`);
      return true;
    } catch (error) {
      this.#notifications.notify('error', `Resuming ${listed(keys)} failed: ${describeError(error)}`);
      return false;
    } finally {
      this.#refresh();
    }
  }

  #refresh(): void {
    this.#flows.refreshSoon();
    this.#dashboard.refreshSoon();
    this.#keyDetail.refreshSoon();
  }
}
