import type { Builder } from './builder.ts';
import { estimateRun } from './costs.ts';
import { fmtValue, overridesKey } from './knobs.ts';
import {
  budgetSlack,
  committedGpuHours,
  confirmationReserve,
  inFlight,
  reservedConfirmation,
  runCost,
  spentGpuHours,
} from './ledger.ts';
import type { Run } from './model.ts';
import { changeText, nextKey, reestimate } from './plan.ts';
import { fmtHours } from './steps.ts';

// Dispatch under the budget guard: what may start now, and what happens when the next run no longer fits
// (re-plan the step from measured costs, shrink the confirmation, or, last, pause and ask for more).

/**
 * Dispatches pending runs of the current step within the concurrency cap and the budget guard. While the plan
 * searches, the guard keeps the smallest confirmation back; when the next run no longer fits and nothing is in
 * flight, the rest of the step is dropped (re-planned from measured costs, and said so) rather than paused. It
 * pauses to ask for more only when even the smallest confirmation does not fit. Returns true when it dropped
 * runs, so that the caller advances the plan again.
 */
export function schedule(b: Builder): boolean {
  const { state } = b;
  if (state.status !== 'running') return false;
  const estimateNow = (r: Run) => estimateRun(state.costSamples, r.fidelity, state.spec);
  const reserve = confirmationReserve(state);
  const approved = state.budget.approvedGpuHours;
  const slack = budgetSlack(state);
  let flying = inFlight(state).length;
  let committed = spentGpuHours(state) + committedGpuHours(state);
  const pending = state.runs.filter((r) => r.status === 'pending' && r.step === state.step);
  let blocked: Run[] = [];
  for (const r of pending) {
    if (flying >= state.concurrencyCap) break;
    const est = estimateNow(r);
    if (committed + est.p50 + reserve > approved + slack) {
      blocked = pending.slice(pending.indexOf(r));
      break;
    }
    dispatch(b, r, est);
    flying += 1;
    committed += est.p50;
  }
  let replanned = false;
  if (blocked.length > 0 && flying === 0) {
    // Held at p90 (and with room for a retry) while searching; whether the smallest confirmation fits at all
    // is judged at p50, as the guard charges, and without the retry room: asking is for a confirmation that
    // cannot be paid, not for headroom.
    if (state.step !== 'confirm' && committed + reservedConfirmation(state, runCost) <= approved + slack) {
      dropForBudget(b, blocked, reserve);
      replanned = true;
    } else if (!shrinkConfirmation(b)) {
      askForBudget(b, committed, reserve);
    } else replanned = true;
  }
  state.estimate = reestimate(state);
  return replanned;
}

function dispatch(b: Builder, r: Run, est: Run['estimate']): void {
  const { state, ctx } = b;
  r.estimate = est;
  const n = r.attempts.length + 1;
  const overrides = r.attemptOverrides ?? r.overrides;
  const previous = r.attempts[r.attempts.length - 1];
  r.attempts.push({ n, status: 'dispatched', overrides, dispatchedAt: ctx.now });
  r.status = 'dispatched';
  const key = `dispatch:${state.id}:${r.id}:${n}`;
  const codeId = state.candidates.find((c) => c.id === r.candidateId)?.codeHypothesisId;
  const code = codeId !== undefined ? { codeHypothesisId: codeId } : {};
  const common = { runId: r.id, attempt: n, overrides, fidelity: r.fidelity, seed: r.seed, ...code };
  b.effects.push(
    previous && overridesKey(previous.overrides) === overridesKey(overrides)
      ? { type: 'retry_run', ...common, previousAttempt: previous.n, idempotencyKey: key }
      : { type: 'dispatch_run', ...common, idempotencyKey: key },
  );
}

/** Shrinks the current step to what the budget can pay for while it keeps the confirmation reserve. */
function dropForBudget(b: Builder, blocked: Run[], reserve: number): void {
  const { state } = b;
  const stepRuns = state.runs.filter((r) => r.step === state.step);
  const candidatesIn = (runs: Run[]) =>
    new Set(runs.filter((r) => r.role === 'candidate').map((r) => r.candidateId)).size;
  const planned = candidatesIn(stepRuns);
  for (const r of blocked) {
    r.status = 'cancelled';
    r.dropped = true;
    r.outcome = 'dropped when the plan was re-planned to fit its budget';
  }
  const kept = candidatesIn(stepRuns.filter((r) => !r.dropped));
  const f = blocked[0]!.fidelity;
  const ratio = estimateRun(state.costSamples, f, state.spec).p50 / estimateRun([], f, state.spec).p50;
  const costs =
    Math.abs(ratio - 1) >= 0.05
      ? `measured runs at fidelity ${fmtValue(f)} cost ${ratio.toFixed(1)}x the first estimate`
      : 'the budget left';
  b.decision(
    `Re-planned from measured costs: ${state.step} measures ${kept} instead of ${planned} configurations (${blocked.length} runs dropped): ${costs}, and ${fmtHours(reserve)} GPU-hours are kept for confirming on ${state.spec.seeds.exploitation} fresh seeds.`,
  );
}

/**
 * Confirmation ran over (a lost runner's retry, runs dearer than measured): with more than one candidate on
 * fresh seeds, the lowest-ranked one (added last) leaves, so that the rest keep every seed .rea.yml asks for.
 * False when only the smallest confirmation is left: then the plan asks for more.
 */
function shrinkConfirmation(b: Builder): boolean {
  const { state } = b;
  // The candidates of this confirmation still waiting for seeds (earlier confirmations are over).
  const confirming = state.candidates.filter(
    (c) => c.step === 'confirm' && state.runs.some((r) => r.candidateId === c.id && r.status === 'pending'),
  );
  if (confirming.length < 2) return false;
  const last = confirming[confirming.length - 1]!;
  for (const r of state.runs) {
    if (r.candidateId !== last.id || r.status !== 'pending') continue;
    r.status = 'cancelled';
    r.dropped = true;
    r.outcome = 'dropped when the plan was re-planned to fit its budget';
  }
  b.decision(
    `Re-planned from measured costs: confirming ${confirming.length - 1} instead of ${confirming.length} candidates (${changeText(state, last)} leaves), so that the rest keep all ${state.spec.seeds.exploitation} fresh seeds within the approved budget.`,
  );
  return true;
}

/** The smallest confirmation does not fit: pause, and say what more budget would buy. */
function askForBudget(b: Builder, committed: number, reserve: number): void {
  const { state, ctx } = b;
  const pendingCost = state.runs
    .filter((r) => r.status === 'pending' && r.step === state.step)
    .reduce((s, r) => s + estimateRun(state.costSamples, r.fidelity, state.spec).p50, 0);
  const approved = state.budget.approvedGpuHours;
  const confirming = state.step === 'confirm';
  const needed = Math.max(committed + (confirming ? pendingCost : reserve) - approved, Number.MIN_VALUE);
  state.status = 'paused';
  state.pauseReason = 'budget';
  const wouldBuy = confirming
    ? `the confirmation at full fidelity on ${state.spec.seeds.exploitation} fresh seeds; about ${fmtHours(needed)} GPU-hours more finishes it`
    : `one confirmation at full fidelity on ${state.spec.seeds.exploitation} fresh seeds, the smallest plan that can name a winner; about ${fmtHours(needed)} GPU-hours more`;
  state.budgetRequest = { neededGpuHours: needed, wouldBuy, at: ctx.now };
  b.effects.push({
    type: 'request_budget',
    neededGpuHours: needed,
    wouldBuy,
    idempotencyKey: nextKey(state, 'budget'),
  });
  b.notify(
    'paused',
    `Paused: the approved budget of ${fmtHours(approved)} GPU-hours cannot pay for the smallest confirmation at the measured costs. ${fmtHours(needed)} GPU-hours more would buy ${wouldBuy.split(';')[0]}.`,
  );
}
