import { applyEvent } from '../../app/plan-service.ts';
import { wakeFromRun } from './app.ts';
import type { GithubDeps } from './github-effects.ts';
import { runnerFor, runRef } from './github-effects.ts';
import { runTitle } from './run-ids.ts';

// Asks GitHub about every run rea believes queued or in flight and applies what it learns as the same
// events a webhook would carry: a lost webhook costs one reconcile interval, never a stuck plan. It also
// fires the timer that cancels runs past their timeout.

export async function reconcileGithub(deps: GithubDeps): Promise<{ plans: number; runs: number }> {
  let plans = 0;
  let runs = 0;
  for (const summary of await deps.store.listPlans({ statuses: ['running', 'paused'] })) {
    const plan = await deps.store.getPlan(summary.id);
    if (!plan?.origin) continue;
    plans += 1;
    try {
      const octokit = await deps.octokitFor(plan.origin.installationId);
      const runner = runnerFor(deps, octokit, plan);
      for (const r of plan.runs) {
        if (r.status !== 'dispatched' && r.status !== 'running') continue;
        const a = r.attempts[r.attempts.length - 1]!;
        const info = a.externalId
          ? await runner.getRun(a.externalId)
          : // Runs are listed per branch: a code run is on its experiment branch.
            await runnerFor(deps, octokit, plan, runRef(plan, r.id)).findByTitle(
              runTitle({ planId: plan.id, runId: r.id, attempt: a.n }),
            );
        if (!info) continue;
        runs += 1;
        const action =
          info.status === 'completed'
            ? 'completed'
            : info.status === 'in_progress'
              ? 'in_progress'
              : 'requested';
        await wakeFromRun(deps, info, action);
        deps.metrics?.wakes.inc({ source: 'reconciler' });
      }
      await applyEvent({
        store: deps.store,
        planId: plan.id,
        event: { type: 'timer_fired' },
        now: deps.now(),
        runbooks: deps.runbooks,
      });
    } catch (err) {
      // One unreachable installation must not stop the others from being reconciled.
      deps.log.warn(
        { planId: plan.id, err: err instanceof Error ? err.message : String(err) },
        'reconcile failed for a plan',
      );
    }
  }
  return { plans, runs };
}
