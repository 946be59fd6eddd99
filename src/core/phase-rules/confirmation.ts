import { pct, ranked } from '../analysis.ts';
import type { Builder } from '../builder.ts';
import { budgetLeft, budgetSlack, confirmCost, runCostP90 } from '../ledger.ts';
import type { Candidate, PlanState, Run, Verdict } from '../model.ts';
import { changeText } from '../plan.ts';
import { predictFull, searchModel } from '../search.ts';
import { candidateOf, contenders, draftOf, enterStep, finish, fmtHours, keyOf } from '../steps.ts';

// Confirmation: the top full-fidelity candidates on fresh seeds, with an interval corrected for picking the
// best of several; a winner ends the plan, nothing held up sends it back to search.

/** Candidates confirmation measures at most (each one widens every interval: Bonferroni). */
const MAX_CONFIRM = 3;

/** Full-fidelity candidates worth confirming: measured better than the baseline, not confirmed yet. */
export function confirmable(state: PlanState): Candidate[] {
  const confirmed = new Set(state.candidates.filter((c) => c.step === 'confirm').map(keyOf));
  return contenders(state.verdicts.filter((v) => v.step === 'refine'))
    .filter((v) => v.relEffect > 0 && v.verdict !== 'fail')
    .map((v) => candidateOf(state, v))
    .filter((c) => !confirmed.has(keyOf(c)));
}

export function enterConfirm(b: Builder, summary: string, fallback: Candidate[] = []): void {
  const { state } = b;
  const model = searchModel(state);
  // Ranked by the measurement and what the surrogate believes at full fidelity, averaged: one seed alone
  // overrates the lucky ones, and the surrogate alone smooths over a narrow peak.
  const measuredAt = (c: Candidate) =>
    state.verdicts.find((v) => v.step === 'refine' && v.candidateId === c.id)?.relEffect ?? 0;
  const ready = confirmable(state)
    .map((c) => ({
      c,
      m: model.fullScale
        ? (measuredAt(c) + (predictFull(model, c)?.mean ?? measuredAt(c))) / 2
        : measuredAt(c),
    }))
    .sort((x, y) => y.m - x.m)
    .map((x) => x.c);
  if (ready.length === 0) ready.push(...fallback);
  if (ready.length === 0) {
    b.decision(
      `${summary} No full-fidelity candidate beat the baseline, and the budget left does not cover another search round.`,
    );
    finish(b, 'no candidate beat the baseline at full fidelity');
    return;
  }
  let k = Math.min(MAX_CONFIRM, ready.length);
  while (k > 1 && confirmCost(state, k, runCostP90) > budgetLeft(state) + budgetSlack(state)) k--;
  // When even one confirmation no longer fits at the measured costs, the plan still enters it: the budget
  // guard then pauses and asks for what it needs (the one case a plan asks for more), rather than finish
  // without a winner with budget unspent and a candidate that was never checked on fresh seeds.
  const short = confirmCost(state, k) - budgetLeft(state);
  if (short > budgetSlack(state) && state.step === 'refine' && state.searchSpendsReserve) {
    // The last round spent the reserve when nothing was worth confirming: what it found cannot be
    // confirmed with what is left, and asking for more to check it was never part of the plan approved.
    b.decision(
      `${summary} The budget left (${fmtHours(budgetLeft(state))} GPU-hours) cannot confirm ${changeText(state, ready[0]!)} on ${state.spec.seeds.exploitation} fresh seeds, having gone to search when nothing was worth confirming: finishing without a winner.`,
    );
    finish(b, 'the budget left could not cover a confirmation');
    return;
  }
  if (short > budgetSlack(state)) {
    summary += ` Confirming needs about ${fmtHours(short)} GPU-hours more than is left at the measured costs.`;
  }
  const chosen = ready.slice(0, k);
  b.decision(
    `${summary} Confirming ${chosen.length === 1 ? changeText(state, chosen[0]!) : `the top ${chosen.length}: ${chosen.map((c) => changeText(state, c)).join('; ')}`} at full fidelity over ${state.spec.seeds.exploitation} fresh seeds.`,
  );
  enterStep(
    b,
    'confirm',
    chosen.map((c) => draftOf(c, 'confirmation')),
  );
}

function meanOf(state: PlanState, runs: Run[]): number {
  return runs.reduce((s, r) => s + (r.metrics?.[state.spec.metric.name] ?? 0), 0) / Math.max(1, runs.length);
}

/**
 * Names the winner and finishes the plan, or, when nothing held up on fresh seeds, returns what to say as the
 * plan goes back to search (the router in phases.ts sends it there).
 */
export function afterConfirm(b: Builder, verdicts: Verdict[]): string | undefined {
  const { state } = b;
  const v = ranked(verdicts, 'pass')[0];
  if (!v) {
    const why = verdicts.map((x) => `${changeText(state, candidateOf(state, x))}: ${x.reason}`).join('; ');
    return `Confirmation: nothing held up on fresh seeds (${why}).`;
  }
  const c = candidateOf(state, v);
  const base = state.runs.filter(
    (r) =>
      r.step === 'confirm' && r.role === 'baseline' && r.status === 'succeeded' && r.fidelity === v.fidelity,
  );
  const cand = state.runs.filter((r) => r.candidateId === c.id && r.status === 'succeeded');
  state.winner = {
    candidateId: c.id,
    label: c.label,
    overrides: c.overrides,
    ...(c.codeHypothesisId !== undefined ? { codeHypothesisId: c.codeHypothesisId } : {}),
    relEffect: v.relEffect,
    lo: v.lo,
    hi: v.hi,
    n: v.n,
    baselineMean: meanOf(state, base),
    candidateMean: meanOf(state, cand),
  };
  const others =
    verdicts.length > 1
      ? ` (best of ${verdicts.length} confirmed together, interval corrected for the selection)`
      : '';
  b.decision(
    `Confirmation: ${changeText(state, c)} improves ${state.spec.metric.name} by ${pct(v.relEffect)} (interval [${pct(v.lo)}, ${pct(v.hi)}], ${v.n} fresh seeds at fidelity ${v.fidelity})${others}.`,
  );
  b.effects.push({ type: 'open_promotion', overrides: c.overrides, idempotencyKey: `promotion:${state.id}` });
  finish(b, 'confirmed a winner');
  return undefined;
}
