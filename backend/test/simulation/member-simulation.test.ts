/**
 * Seeded schedules of the production runtime under injected faults (member-simulation.ts). A
 * failure prints its seed; `SEED=<n> node_modules/.bin/node --test backend/test/simulation/member-simulation.test.ts`
 * replays it (MEMBER_SCHEDULES=<n> changes how many run; SIM_TRACE=1 prints each action of the
 * schedule, LOG_LEVEL=info the instances' logs, both with the virtual time).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Worker } from 'node:worker_threads';
import type { ProcessingGuarantee } from '../../src/config/config.ts';
import type { MemberScheduleResult } from './member-simulation.ts';

/** Runs the schedules in a worker thread (member-simulation-worker.ts says why), in seed order. */
function runInWorker(seeds: readonly number[], guarantee: ProcessingGuarantee, standby = false): Promise<Array<MemberScheduleResult & { seed: number }>> {
  return new Promise((resolve, reject) => {
    const results: Array<MemberScheduleResult & { seed: number }> = [];
    const worker = new Worker(new URL('./member-simulation-worker.ts', import.meta.url), { workerData: { seeds, guarantee, standby } });
    worker.on('message', (result: MemberScheduleResult & { seed: number }) => results.push(result));
    worker.on('error', reject);
    worker.on('exit', (code) => (code === 0 ? resolve(results) : reject(new Error(`the simulation worker exited with code ${code}`))));
  });
}

const SCHEDULES = Number(process.env.MEMBER_SCHEDULES ?? 200);
/** Schedules of the STANDBY_REPLICAS=1 variant (fewer: the same faults, standby hand-overs on top). */
const STANDBY_SCHEDULES = Number(process.env.MEMBER_STANDBY_SCHEDULES ?? 60);
const SEED = process.env.SEED === undefined ? undefined : Number(process.env.SEED);

describe('fault simulation of the production runtime (FlowMember over the in-memory log)', () => {
  const guarantees = (['exactly_once', 'at_least_once'] as const).filter((g) => process.env.GUARANTEE === undefined || process.env.GUARANTEE === g);
  // STANDBY=1: only the STANDBY_REPLICAS=1 variant; STANDBY=0: only the default.
  const variants = [false, true].filter((standby) => process.env.STANDBY === undefined || process.env.STANDBY === (standby ? '1' : '0'));
  for (const standby of variants) {
    for (const guarantee of guarantees) {
      const count = standby ? STANDBY_SCHEDULES : SCHEDULES;
      const seeds = SEED === undefined ? Array.from({ length: count }, (_, i) => i + 1) : [SEED];
      const variant = standby ? ' with STANDBY_REPLICAS=1' : '';
      const replay = `SEED=<n> GUARANTEE=${guarantee}${standby ? ' STANDBY=1' : ''}`;
      it(`${seeds.length} schedule(s) under ${guarantee}${variant}: order, pauses, no stall, all ready`, { timeout: 600_000 }, async () => {
        const totals: Record<string, number> = {};
        const started = Date.now();
        const results = await runInWorker(seeds, guarantee, standby);
        assert.equal(results.length, seeds.length, 'every schedule ran');
        for (const result of results) {
          const { seed } = result;
          for (const [name, n] of Object.entries(result.stats)) totals[name] = (totals[name] ?? 0) + n;
          if (result.violations.length > 0) {
            assert.fail(
              [
                `schedule SEED=${seed} (${guarantee}${variant}) broke the contract; replay it with`,
                `  ${replay.replace('<n>', String(seed))} node_modules/.bin/node --test backend/test/simulation/member-simulation.test.ts`,
                `config: ${result.config}`,
                ...result.violations.map((v) => `  ${v}`),
              ].join('\n'),
            );
          }
        }
        const perMinute = Math.round((seeds.length / (Date.now() - started)) * 60_000);
        process.stdout.write(`# member simulation ${guarantee}${variant}: ${seeds.length} schedules, ${perMinute}/min, ${JSON.stringify(totals)}\n`);
        if (SEED !== undefined) return;
        const paths = [
          'kills',
          'restarts',
          'freezes',
          'wedges',
          'outages',
          'partitionStalls',
          'ambiguousCommits',
          'failedOffsetLookups',
          'pauses',
          'crashReopensAtCheckpoint',
          ...(guarantee === 'exactly_once' ? ['abortedCommits'] : ['duplicates', 'delayedDeliveries']),
          ...(standby ? ['standbyHandovers'] : []),
        ];
        for (const path of paths) {
          assert.ok((totals[path] ?? 0) > 0, `no ${path} in ${seeds.length} schedules`);
        }
      });
    }
  }
});
