/**
 * A payments service that uses event-pause as a library: each payment event is applied to a
 * ledger by a handler. When the ledger rejects a merchant's payment (here: a merchant under
 * review), that merchant parks itself: its payment stays first in its buffer and its later
 * payments queue behind it, in order, while every other merchant's payments go on. An operator
 * resumes the merchant once fixed (the handler is called again from the failed payment), or
 * skips the failed payment (it goes to the dead-letter topic) and releases the rest.
 *
 * Run by backend/test/examples/payments.test.ts on the embedded engine, and as a process on
 * Kafka (examples/payments/main.ts) by backend/test/kafka/payments-example.kafka.test.ts.
 */
import type { Logger } from 'pino';
import { createEventPause, type EventPause } from '../../backend/src/index.ts';

export interface Payment {
  readonly merchant: string;
  readonly id: string | null;
  readonly amount: unknown;
}

/** The ledger the handler writes to; `rejects` lists merchants whose payments it turns away. */
export interface Ledger {
  apply(payment: Payment): Promise<void>;
  readonly rejects: Set<string>;
}

export function memoryLedger(): Ledger & { readonly applied: Payment[] } {
  const applied: Payment[] = [];
  const rejects = new Set<string>();
  return {
    applied,
    rejects,
    async apply(payment) {
      if (rejects.has(payment.merchant)) throw new Error(`ledger rejected payment ${payment.id} of ${payment.merchant}: merchant under review`);
      applied.push(payment);
    },
  };
}

export function paymentsService(options: { ledger: Ledger; env: Record<string, string | undefined>; logger?: Logger; applicationId?: string; flowId?: string }): EventPause {
  return createEventPause({
    applicationId: options.applicationId ?? 'payments-svc',
    flows: [
      {
        id: options.flowId ?? 'payments',
        handler: async (event, ctx) => {
          await options.ledger.apply({ merchant: ctx.key, id: event.id, amount: event.data });
        },
        retries: 1,
        backoffMs: 20,
        concurrency: 8,
      },
    ],
    env: options.env,
    ...(options.logger === undefined ? {} : { logger: options.logger }),
  });
}
