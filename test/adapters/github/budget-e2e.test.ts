import { afterEach, describe, expect, it } from 'vitest';
import { spentGpuHours } from '../../../src/core/decide.ts';
import type { PlanState } from '../../../src/core/model.ts';
import type { RunnerOutcome, RunnerRun } from '../../emulators/github/actions-engine.ts';
import { cleanUp, harness, owner, repo, requestPlan, toyOutcome, waitFor } from './harness.ts';

// Issue 21 ("Budgets that hold"), end to end on GitHub: every run pays a fixed start-up (2 minutes) on top of
// its training (10 minutes at full fidelity), and .rea.yml's cost prior knows only the training. A plan
// approved at its requested p90 must still confirm the toy's real effect and open the promotion PR without
// ever pausing to ask for more budget, and without spending more than was approved. A plan that stops for
// budget, however briefly, overspends or gives up fails here with its decisions in the message.

afterEach(cleanUp);

const STARTUP_SEC = 120;
const TRAINING_SEC = 600;

/** The toy landscape (crosses and adagrad win), with start-up plus training as the emulated run time. */
async function timedOutcome(run: RunnerRun): Promise<RunnerOutcome> {
  const fidelity = Number(run.inputs.fidelity);
  // A little wall time, so that runs overlap in flight and their commitments count against the budget.
  await new Promise((r) => setTimeout(r, 50 + 250 * fidelity));
  const outcome = toyOutcome(run);
  return { ...outcome, durationSec: STARTUP_SEC + TRAINING_SEC * fidelity };
}

describe('GitHub end to end: budgets that hold', () => {
  it('runs a plan approved at its p90 to the end without pausing for budget, when start-up dominates', async () => {
    const h = await harness({
      reaYml: (t) =>
        t
          // Only the knobs with an effect: a short plan.
          .replace(/ {2}learning_rate: .*\n/, '')
          .replace(/ {2}width: .*\n/, '')
          .replace(/ {2}batch_size: .*\n/, '')
          .replace('gpus: 2', 'gpus: 1')
          // Ten minutes on one GPU at full fidelity: the prior ignores the two minutes of start-up.
          .replace('baseline_gpu_hours: 2', 'baseline_gpu_hours: 0.1667')
          .replace('max_concurrent_runs: 2', 'max_concurrent_runs: 3'),
    });
    expect(h.emulator.readFile({ owner, repo, path: '.rea.yml' })).not.toContain('overhead_minutes');
    h.emulator.setRunner(timedOutcome);
    const { plan, pr } = await requestPlan(h);
    const requested = plan.budget.requestedGpuHours;
    expect(requested).toBeCloseTo(plan.estimate.gpuHoursP90, 6);

    await h.emulator.submitReview({ owner, repo, pull_number: pr, user: 'alice', state: 'approved' });
    // Every state the plan passes through is looked at: a pause for budget, however short, fails the test.
    const seen: PlanState[] = [];
    const done = await waitFor(
      'the plan to finish or stop',
      async () => {
        await h.rea.tick();
        const p = await h.store.getPlan(plan.id);
        if (!p) return undefined;
        seen.push(p);
        if (p.status === 'paused' || p.status === 'cancelled') return p;
        if (p.status !== 'completed') return undefined;
        // Finished: with its promotion PR opened, or without a winner (which the assertions below refuse).
        return p.winner === undefined || p.origin?.promotionPr !== undefined ? p : undefined;
      },
      90_000,
    );
    const why = JSON.stringify({
      status: done.status,
      pauseReason: done.pauseReason,
      budgetRequest: done.budgetRequest,
      budget: done.budget,
      spent: spentGpuHours(done),
      decisions: done.decisions.map((d) => `${d.phase}/${d.step}: ${d.text}`),
    });
    expect(done.status, why).toBe('completed');
    expect(done.approvals[0], why).toMatchObject({ kind: 'approve', by: 'alice', gpuHours: requested });
    expect(done.budget.approvedGpuHours, why).toBe(requested);
    expect(
      seen.filter((p) => p.pauseReason === 'budget' || p.budgetRequest),
      why,
    ).toEqual([]);
    expect(done.approvals.filter((a) => a.kind === 'budget')).toEqual([]);
    expect(spentGpuHours(done), why).toBeLessThanOrEqual(done.budget.approvedGpuHours + 1e-9);

    // rea measured what the runs took: the start-up is paid at every fidelity.
    const attempts = done.runs.flatMap((r) => r.attempts.map((a) => ({ fidelity: r.fidelity, a })));
    expect(attempts.length).toBeGreaterThan(0);
    for (const { fidelity, a } of attempts.filter(({ a }) => a.status === 'succeeded'))
      expect(a.gpuHours).toBeCloseTo((STARTUP_SEC + TRAINING_SEC * fidelity) / 3600, 2);

    // No budget request reached the PR.
    const { data: comments } = await h.app.rest.issues.listComments({ owner, repo, issue_number: pr });
    expect(comments.filter((c) => /approved budget cannot fit|\/rea budget/.test(c.body ?? ''))).toEqual([]);
    // A 4% effect under 0.1% noise, within a budget that fits it: the plan names it and proposes it.
    expect(done.winner?.overrides, why).toMatchObject({ crosses: true });
    const { data: promo } = await h.app.rest.pulls.get({
      owner,
      repo,
      pull_number: done.origin!.promotionPr!,
    });
    expect(promo.state).toBe('open');
    expect(h.emulator.violations).toEqual([]);
  }, 120_000);
});
