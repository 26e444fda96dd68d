/**
 * Thousands of seeded schedules per processing guarantee, each judged by the observer and the
 * checker. A failure prints its seed; `SEED=<n> node_modules/.bin/node --test backend/test/simulation/simulation.test.ts`
 * replays just that schedule (SIM_SCHEDULES=<n> changes how many run).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runSchedule } from './simulation.ts';

const SCHEDULES = Number(process.env.SIM_SCHEDULES ?? 2000);
const SEED = process.env.SEED === undefined ? undefined : Number(process.env.SEED);

describe('deterministic simulation', () => {
  for (const guarantee of ['exactly_once', 'at_least_once'] as const) {
    const seeds = SEED === undefined ? Array.from({ length: SCHEDULES }, (_, i) => i + 1) : [SEED];
    it(`${seeds.length} schedule(s) under ${guarantee} keep rules 1-8`, () => {
      const totals: Record<string, number> = {};
      for (const seed of seeds) {
        const result = runSchedule(seed, { guarantee });
        for (const [name, count] of Object.entries(result.stats)) totals[name] = (totals[name] ?? 0) + count;
        if (result.violations.length > 0) {
          assert.fail(
            [
              `schedule SEED=${seed} (${guarantee}) broke the contract; replay it with`,
              `  SEED=${seed} node_modules/.bin/node --test backend/test/simulation/simulation.test.ts`,
              `config: ${result.config}`,
              ...result.violations.map((v) => `  ${v}`),
            ].join('\n'),
          );
        }
      }
      process.stdout.write(`# ${guarantee}: ${JSON.stringify(totals)}\n`);
      if (SEED !== undefined) return;
      // The paths that matter were actually taken, many times.
      for (const path of ['crashes', 'rebalances', 'drainedByCommandWhilePaused', 'restored', 'punctuations'] as const) {
        assert.ok((totals[path] ?? 0) > seeds.length / 10, `only ${totals[path]} ${path} in ${seeds.length} schedules`);
      }
      if (guarantee === 'exactly_once') assert.ok((totals.bufferFull ?? 0) > 0, 'some schedules reach the per-key capacity');
      else assert.ok((totals.duplicates ?? 0) > 0, 'some crashes replay already written output');
    });
  }
});
