import { estimateRun } from './costs.ts';
import type { PlanState, Run, StepName } from './model.ts';
import { fidelityFor, seedsFor } from './plan.ts';

// What a plan has spent and committed: the numbers the budget guard and every phase decision read.

export const TERMINAL_RUN: ReadonlySet<Run['status']> = new Set(['succeeded', 'failed', 'cancelled']);
export const IN_FLIGHT: ReadonlySet<Run['status']> = new Set(['dispatched', 'running']);
const ACTIVE_PLAN: ReadonlySet<PlanState['status']> = new Set(['awaiting_approval', 'running', 'paused']);

export function spentGpuHours(state: PlanState): number {
  let s = 0;
  for (const r of state.runs) for (const a of r.attempts) s += a.gpuHours ?? 0;
  return s;
}

/**
 * Full-fidelity run equivalents of every attempt that ran: what the plan cost in units of one full
 * training run, independent of how busy the machine was while it ran (GPU-hours on a shared laptop are not).
 */
export function fullRunEquivalents(state: PlanState): number {
  let s = 0;
  for (const r of state.runs) for (const a of r.attempts) if (a.status !== 'dispatched') s += r.fidelity;
  return s;
}

export function committedGpuHours(state: PlanState): number {
  let s = 0;
  for (const r of state.runs) if (IN_FLIGHT.has(r.status)) s += r.estimate.p50;
  return s;
}

export function inFlight(state: PlanState): Run[] {
  return state.runs.filter((r) => IN_FLIGHT.has(r.status));
}

export function isTerminalPlan(state: PlanState): boolean {
  return !ACTIVE_PLAN.has(state.status);
}

/** Approved budget not yet spent or committed to runs in flight or waiting to be dispatched. */
export function budgetLeft(state: PlanState): number {
  let pending = 0;
  for (const r of state.runs) if (r.status === 'pending') pending += runCost(state, r.fidelity);
  return state.budget.approvedGpuHours - spentGpuHours(state) - committedGpuHours(state) - pending;
}

/** The estimate the budget guard will charge for one run at this fidelity, from the costs measured so far. */
export function runCost(state: PlanState, fidelity: number): number {
  return estimateRun(state.costSamples, fidelity, state.spec).p50;
}

/** The p90 of one run at this fidelity: what a reserve that must not run short holds. */
export function runCostP90(state: PlanState, fidelity: number): number {
  return estimateRun(state.costSamples, fidelity, state.spec).p90;
}

/** Baseline runs a step would add at seeds not measured yet at its fidelity, and their cost. */
export function missingBaselineCost(state: PlanState, step: StepName, cost = runCost): number {
  const f = fidelityFor(state.spec, step);
  const have = new Set(
    state.runs.filter((r) => r.role === 'baseline' && r.fidelity === f && !r.dropped).map((r) => r.seed),
  );
  return seedsFor(state, step, 'baseline').filter((s) => !have.has(s)).length * cost(state, f);
}

/**
 * What confirming k candidates costs from here: k x seeds at full fidelity, plus the baseline on those seeds.
 * The search holds it back at p90 (a confirmation that runs short of budget is the one pause a plan must not
 * need); whether it fits when it starts is judged at p50, as the budget guard charges.
 */
export function confirmCost(state: PlanState, k: number, cost = runCost): number {
  const f = fidelityFor(state.spec, 'confirm');
  return k * state.spec.seeds.exploitation * cost(state, f) + missingBaselineCost(state, 'confirm', cost);
}

/**
 * The slack of every "does it fit" comparison against the budget: relative, because GPU-hours are sums of many
 * measured costs, and a sum of a few hundred GPU-hours misses its parts by more than any fixed 1e-12 (a plan
 * that fitted exactly then asked for 1e-12 GPU-hours more). The guard and the round sizing share it, so a
 * round never holds a run that the guard then drops.
 */
export function budgetSlack(state: PlanState): number {
  return 1e-9 * Math.max(1, state.budget.approvedGpuHours);
}

/**
 * What the budget guard keeps back while the plan searches: the smallest confirmation (one candidate on every
 * confirmation seed) at p90. Confirmation itself spends it, and so does a search round started when nothing
 * is worth confirming yet.
 */
export function confirmationReserve(state: PlanState, cost = runCostP90): number {
  const smallest = reservedConfirmation(state, cost);
  return smallest > 0 ? smallest + retryHeadroom(state, cost) : 0;
}

/** The smallest confirmation still ahead of the plan, without room for retries (0 once it is spent). */
export function reservedConfirmation(state: PlanState, cost = runCostP90): number {
  if (state.step === 'confirm') return 0;
  if (state.step === 'refine' && state.searchSpendsReserve) return 0;
  return confirmCost(state, 1, cost);
}

/** Runners that have lost or failed a run once will again: room for one retry at full fidelity then. */
export function retryHeadroom(state: PlanState, cost = runCostP90): number {
  const retried = state.runs.some((r) => r.attempts.length > 1);
  return retried ? cost(state, fidelityFor(state.spec, 'confirm')) : 0;
}
