/**
 * Runs fault-simulation schedules in a worker thread and posts each result: the test runner
 * tracks async context on every promise of its own thread, which slows a simulation that makes
 * millions of them about threefold; a worker has none of that.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { ProcessingGuarantee } from '../../src/config/config.ts';
import { runMemberSchedule } from './member-simulation.ts';

const { seeds, guarantee, standby } = workerData as { seeds: number[]; guarantee: ProcessingGuarantee; standby?: boolean };
for (const seed of seeds) {
  const result = await runMemberSchedule(seed, { guarantee, standby: standby === true });
  parentPort!.postMessage({ seed, ...result });
}
