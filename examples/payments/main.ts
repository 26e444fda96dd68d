/**
 * The payments example as a service process: `node examples/payments/main.ts` with the settings
 * of npm start in the environment (KAFKA_BROKERS, STATE_DIR, PORT, ...). The ledger is a file of
 * JSON lines (LEDGER_FILE); merchants listed in REJECTS_FILE (one per line, read on every
 * payment) are rejected, as a ledger under review would. PAYMENTS_FLOW names the flow (default
 * payments). The control plane and the console are served on PORT.
 */
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import Fastify from 'fastify';
import { paymentsService, type Ledger } from './payments.ts';

const ledgerFile = process.env.LEDGER_FILE ?? 'ledger.jsonl';
const rejectsFile = process.env.REJECTS_FILE;
const rejects = (): Set<string> =>
  new Set(rejectsFile !== undefined && existsSync(rejectsFile) ? readFileSync(rejectsFile, 'utf8').split('\n').map((l) => l.trim()).filter((l) => l !== '') : []);

const ledger: Ledger = {
  get rejects() {
    return rejects();
  },
  async apply(payment) {
    if (rejects().has(payment.merchant)) throw new Error(`ledger rejected payment ${payment.id} of ${payment.merchant}: merchant under review`);
    appendFileSync(ledgerFile, `${JSON.stringify(payment)}\n`);
  },
};

const ep = paymentsService({ ledger, env: process.env, flowId: process.env.PAYMENTS_FLOW ?? 'payments', applicationId: process.env.APPLICATION_ID ?? 'payments-svc' });
await ep.start();
const app = Fastify();
await app.register(ep.plugin);
await app.listen({ host: '127.0.0.1', port: Number(process.env.PORT ?? 8080) });
process.stdout.write(`READY ${process.env.PORT ?? 8080}\n`);
const stop = async (): Promise<void> => {
  await app.close();
  await ep.stop();
  process.exit(0);
};
process.on('SIGTERM', () => void stop());
process.on('SIGINT', () => void stop());
