/**
 * The checker is only worth its green if it turns red: each planted bug must be caught within
 * the schedule budget, under both guarantees.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PLANTED_BUGS, type PlantedBug } from './planted-bugs.ts';
import { runSchedule } from './simulation.ts';

const BUDGET = 2000;
/** Bugs that need a rare path: a command-only resume, a drain cut by a commit, then a crash. */
const BUDGETS: Partial<Record<PlantedBug, number>> = { 'drain-marks-forgotten': 10_000, 'drain-mark-unbounded': 10_000 };

describe('the simulation catches planted bugs', { skip: process.env.SEED !== undefined && 'SEED replays one schedule only' }, () => {
  for (const bug of Object.keys(PLANTED_BUGS) as PlantedBug[]) {
    for (const guarantee of ['exactly_once', 'at_least_once'] as const) {
      it(`${bug} (${guarantee})`, () => {
        const budget = BUDGETS[bug] ?? BUDGET;
        for (let seed = 1; seed <= budget; seed++) {
          const { violations } = runSchedule(seed, { guarantee, bug });
          if (violations.length > 0) {
            process.stdout.write(`# ${bug} (${guarantee}) caught by schedule ${seed}: ${violations[0]}\n`);
            return;
          }
        }
        assert.fail(`${bug} went unnoticed through ${budget} schedules`);
      });
    }
  }
});
