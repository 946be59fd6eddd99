import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadRunbooks } from '../../src/config/runbooks.ts';
import { committedGpuHours, decide, inFlight, isTerminalPlan, spentGpuHours } from '../../src/core/decide.ts';
import { confirmCost, runCost } from '../../src/core/ledger.ts';
import type { DecideContext, PlanEvent, PlanState, Runbook } from '../../src/core/model.ts';
import { seededRng } from '../../src/core/rng.ts';
import { testDrafts, testPlan, testSpec } from '../helpers/fixtures.ts';
import { outcome, outcomeEvent } from '../helpers/world.ts';

// The budget promise (issue 21) over generated plans whose runs cost what the estimate did not foresee: a
// fixed start-up from nothing to ten times the training time, a training time from half to twice the declared
// one, run-to-run spread, runs lost to the runner, approvals at p50 and at p90, completions in any order.
//   - spend plus what is committed to runs in flight never passes the approved budget when a run is dispatched;
//   - a plan asks for more only when the smallest confirmation no longer fits at the measured costs, and one
//     approved at its p90 only when the smallest plan that can name a winner (baseline replicas and one
//     confirmation, at the true costs) could not have fitted what was approved;
//   - a plan that ends without a confirmed winner leaves at most 10% of its budget unspent (or less than one
//     more full-fidelity run, when one run is more than a tenth of the budget);
//   - no run attempt is dispatched twice, and the same state and event always decide the same.

let runbooks: Runbook[];
beforeAll(async () => {
  runbooks = (await loadRunbooks({})).runbooks;
});

const T0 = Date.parse('2026-12-01T09:00:00Z');

const scenario = fc.record({
  hypotheses: fc.integer({ min: 1, max: testDrafts.length }),
  concurrency: fc.integer({ min: 1, max: 4 }),
  /** Training time of a full run over the declared baseline_gpu_hours. */
  trainFactor: fc.double({ min: 0.5, max: 2, noNaN: true }),
  /** Fixed start-up of every run, in units of the training time of a full run. */
  overhead: fc.oneof(fc.constant(0), fc.double({ min: 0, max: 10, noNaN: true })),
  /** What `run.overhead_minutes` told the prior, as a share of baseline_gpu_hours. */
  priorOverhead: fc.constantFrom(0, 0.1, 0.3),
  spread: fc.double({ min: 0, max: 0.3, noNaN: true }),
  lostRate: fc.constantFrom(0, 0.05, 0.15),
  /** No knob matters: every configuration measures as the baseline does (or fails as it would). */
  flat: fc.boolean(),
  atP90: fc.boolean(),
  seed: fc.integer({ min: 1, max: 2 ** 30 }),
});

type Scenario = typeof scenario extends fc.Arbitrary<infer T> ? T : never;

interface Played {
  state: PlanState;
  asked: number;
  /** The smallest plan that can name a winner, at the true costs: baseline replicas and one confirmation. */
  smallest: number;
  approvedAtStart: number;
  /** What one full-fidelity run really costs. */
  fullRun: number;
}

function play(sc: Scenario): Played {
  const spec = testSpec({
    maxConcurrentRuns: sc.concurrency,
    maxGpuHours: 100_000,
    overheadGpuHours: sc.priorOverhead * 16,
  });
  let state = testPlan(spec, sc.hypotheses, T0);
  const rng = seededRng(sc.seed);
  const seen = new Set<string>();
  let clock = T0;
  let asked = 0;
  const apply = (ev: PlanEvent) => {
    clock += 60_000;
    const ctx: DecideContext = { now: new Date(clock).toISOString(), runbooks };
    const a = decide(state, ev, ctx);
    const b = decide(state, ev, ctx);
    expect(JSON.stringify(b)).toBe(JSON.stringify(a));
    const s = a.state;
    const dispatches = a.effects.filter((e) => e.type === 'dispatch_run' || e.type === 'retry_run');
    for (const d of dispatches) {
      const key = `${d.runId}#${d.attempt}`;
      expect(seen.has(key), `second dispatch of ${key}`).toBe(false);
      seen.add(key);
    }
    if (dispatches.length > 0) {
      expect(spentGpuHours(s) + committedGpuHours(s)).toBeLessThanOrEqual(s.budget.approvedGpuHours + 1e-9);
    }
    if (a.effects.some((e) => e.type === 'request_budget')) {
      asked += 1;
      // Asking is allowed only when the smallest confirmation does not fit what is left, at measured costs.
      const left = s.budget.approvedGpuHours - spentGpuHours(s) - committedGpuHours(s);
      expect(left, `asked for more with ${left} left in ${s.step}`).toBeLessThan(
        confirmCost(s, 1, runCost) + 1e-9,
      );
    }
    state = s;
  };

  const p90 = state.budget.requestedGpuHours;
  const p50 = state.estimate.gpuHoursP50;
  apply({ type: 'approved', by: 'alice', via: 'github', gpuHours: sc.atP90 ? p90 : p50 });
  const train = 16 * sc.trainFactor;
  for (let i = 0; i < 4000 && !isTerminalPlan(state); i++) {
    if (state.status === 'paused') {
      const esc = state.escalations.find((e) => !e.resolved);
      if (esc) {
        apply({ type: 'escalation_resolved', escalationId: esc.id, action: 'skip', by: 'alice', via: 'cli' });
      } else if (state.pauseReason === 'budget') {
        // The approvers grant what was asked for, as they would when it buys the confirmation.
        const more = (state.budgetRequest?.neededGpuHours ?? 0) * 1.05 + 1e-6;
        apply({ type: 'budget_raised', gpuHours: more, by: 'alice', via: 'cli' });
      } else apply({ type: 'resumed', by: 'alice', via: 'cli' });
      continue;
    }
    const live = inFlight(state);
    if (live.length === 0) {
      apply({ type: 'timer_fired' });
      if (inFlight(state).length === 0 && state.status === 'running') break;
      continue;
    }
    const run = live[Math.floor(rng() * live.length)]!;
    const a = run.attempts[run.attempts.length - 1]!;
    if (a.status === 'dispatched') apply({ type: 'run_started', runId: run.id, attempt: a.n });
    const gpuHours = (sc.overhead * train + train * run.fidelity) * (1 + sc.spread * (2 * rng() - 1));
    if (rng() < sc.lostRate) {
      apply({
        type: 'run_failed',
        runId: run.id,
        attempt: a.n,
        conclusion: 'runner_lost',
        reason: 'the runner stopped responding',
        logExcerpt: 'The runner has received a shutdown signal.',
        gpuHours: gpuHours / 2,
        durationSec: 600,
      });
      continue;
    }
    const own = outcome(a.overrides, run.fidelity, run.seed);
    const o = sc.flat && own.kind === 'ok' ? outcome({}, run.fidelity, run.seed) : own;
    apply(outcomeEvent(run.id, a.n, o, gpuHours));
  }
  const cost = (f: number) => sc.overhead * train + train * f;
  const smallest = 3 * cost(spec.fidelity.validation) + 2 * spec.seeds.exploitation * cost(1);
  return { state, asked, smallest, approvedAtStart: sc.atP90 ? p90 : p50, fullRun: cost(1) };
}

describe('the budget promise', () => {
  it(
    'holds over generated plans with unforeseen costs, and every plan ends',
    () => {
      fc.assert(
        fc.property(scenario, (sc) => {
          const { state, asked, smallest, approvedAtStart, fullRun } = play(sc);
          // REA_PROPERTY_TRACE=1 prints each plan's decisions (with REA_PROPERTY_EXAMPLE, one counterexample's).
          if (process.env.REA_PROPERTY_TRACE) for (const d of state.decisions) console.log(d.step, d.text);
          // Asking is for a budget that could not have paid for the smallest plan at what runs really cost
          // (with room for their spread and lost runs), not for a screen that ran over.
          // (A plan approved at its p50 may come back for a top-up when runs cost what the p90 allowed for.)
          // A runner lost during the confirmation itself makes it cost more than any estimate could hold back;
          // asking to finish it is then right.
          const lostInConfirmation = state.runs.some((r) => r.step === 'confirm' && r.attempts.length > 1);
          if (asked > 0 && sc.atP90 && !lostInConfirmation) {
            expect(
              smallest * (1 + sc.spread) * 1.2,
              'asked for more though the smallest plan fitted',
            ).toBeGreaterThan(approvedAtStart);
          }
          expect(isTerminalPlan(state), `plan stuck in ${state.status}/${state.step}`).toBe(true);
          if (state.status === 'completed' && !state.winner) {
            const approved = state.budget.approvedGpuHours;
            const unspent = approved - spentGpuHours(state);
            expect(unspent, `${state.finishedReason}: ${unspent} of ${approved} unspent`).toBeLessThanOrEqual(
              // 10% of the budget, or what one more full-fidelity run really costs when that is more (a budget
              // of a few runs, or a start-up many times the training): then nothing useful is left to buy.
              Math.max(0.1 * approved, fullRun * (1 + sc.spread)) + 1e-9,
            );
          }
        }),
        // 200 plans keep `npm test` within its time; the 1,000 are one variable away (about 4 minutes on
        // an idle 2-core machine): REA_PROPERTY_RUNS=1000 npx vitest run test/core/budget.property.test.ts
        // The suite's 200 are a fixed sample (seed 21), so CI is reproducible; REA_PROPERTY_SEED draws others.
        {
          numRuns: Number(process.env.REA_PROPERTY_RUNS ?? 200),
          seed: Number(process.env.REA_PROPERTY_SEED ?? 21),
          // A counterexample fast-check printed, replayed first: REA_PROPERTY_EXAMPLE='{"hypotheses":2,...}'
          examples: process.env.REA_PROPERTY_EXAMPLE ? [[JSON.parse(process.env.REA_PROPERTY_EXAMPLE)]] : [],
        },
      );
      // The time limit grows with the number of plans asked for, so a 1,000-plan run is not cut short.
    },
    900_000 * Math.max(1, Number(process.env.REA_PROPERTY_RUNS ?? 200) / 200),
  );
});
