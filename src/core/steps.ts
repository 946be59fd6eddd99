import type { CandidateDraft } from './analysis.ts';
import { pct } from './analysis.ts';
import type { Builder } from './builder.ts';
import { describeChange, fmtValue, overridesKey } from './knobs.ts';
import { spentGpuHours } from './ledger.ts';
import type { Candidate, PlanState, StepName, Verdict } from './model.ts';
import { addCandidate, addStepRuns, changeText, nextKey, stepPhase } from './plan.ts';
import { seededRng, seedFrom } from './rng.ts';
import type { Config } from './search.ts';

// What every phase rule does the same way: turning drafts into candidates and runs, entering a step, ranking
// verdicts, and finishing the plan. The rules themselves live in phase-rules/, one file per phase.

export function toCandidates(b: Builder, step: StepName, drafts: CandidateDraft[]): Candidate[] {
  return drafts.map((d) =>
    addCandidate(b.state, {
      step,
      label: d.label,
      hypothesisIds: d.hypothesisIds,
      overrides: d.overrides,
      ...(d.codeHypothesisId !== undefined ? { codeHypothesisId: d.codeHypothesisId } : {}),
    }),
  );
}

export function draftOf(c: Candidate, why: string): CandidateDraft {
  return {
    label: c.label,
    hypothesisIds: c.hypothesisIds,
    overrides: c.overrides,
    ...(c.codeHypothesisId !== undefined ? { codeHypothesisId: c.codeHypothesisId } : {}),
    why,
  };
}

export function enterStep(b: Builder, step: StepName, drafts: CandidateDraft[]): void {
  const { state } = b;
  const phaseBefore = state.phase;
  delete state.searchSpendsReserve;
  state.step = step;
  state.phase = stepPhase(step);
  addStepRuns(state, step, toCandidates(b, step, drafts));
  if (phaseBefore !== state.phase) {
    b.effects.push({
      type: 'update_insights',
      phase: phaseBefore,
      idempotencyKey: nextKey(state, 'insights'),
    });
  }
}

/**
 * A candidate whose every successful run needed the same runbook adjustment (an OOM retried with a
 * smaller batch) was measured as the adjusted configuration; the verdict, later combinations and the
 * insights must say so rather than credit the configuration that could not run.
 */
export function adoptAdjustments(state: PlanState, step: StepName): void {
  for (const c of state.candidates) {
    if (c.step !== step || c.adjustedFrom) continue;
    const runs = state.runs.filter(
      (r) => r.candidateId === c.id && r.step === step && r.status === 'succeeded',
    );
    const effective = runs.map((r) => r.attempts[r.attempts.length - 1]!.overrides);
    const first = effective[0];
    if (!first || overridesKey(first) === overridesKey(c.overrides)) continue;
    if (!effective.every((o) => overridesKey(o) === overridesKey(first))) continue;
    const why = runs[0]!.attempts.find((a) => a.runbook)?.runbook?.note ?? 'adjusted by a runbook';
    c.adjustedFrom = { overrides: c.overrides, why };
    c.overrides = first;
    c.label = `${c.label} [ran as ${describeChange(state.baseline, first)}]`;
    for (const r of runs) r.overrides = first;
  }
}

export const candidateOf = (state: PlanState, v: Verdict) =>
  state.candidates.find((c) => c.id === v.candidateId)!;
export const keyOf = (c: Pick<Candidate, 'overrides' | 'codeHypothesisId'>) =>
  `${overridesKey(c.overrides)}|${c.codeHypothesisId ?? ''}`;

/** Measured verdicts, best first (infeasible and vetoed candidates are constraints, not contenders). */
export function contenders(verdicts: readonly Verdict[]): Verdict[] {
  return verdicts
    .filter((v) => v.verdict === 'pass' || v.verdict === 'near' || v.verdict === 'fail')
    .sort((a, b) => b.relEffect - a.relEffect || a.candidateId.localeCompare(b.candidateId));
}

// Seeded by the seed base and the runs so far, not the plan id, so a replay of the same events decides the same.
export function rngFor(state: PlanState, what: string) {
  return seededRng(seedFrom(state.seedBase, what, state.runs.length));
}

export function topDrafts(
  state: PlanState,
  vs: readonly Verdict[],
  n: number,
  why: string,
): CandidateDraft[] {
  return vs.slice(0, n).map((v) => draftOf(candidateOf(state, v), why));
}

export function proposalDraft(state: PlanState, c: Config, why: string): CandidateDraft {
  const code = c.codeHypothesisId !== undefined ? { codeHypothesisId: c.codeHypothesisId } : {};
  const label = changeText(state, {
    id: '',
    step: 'refine',
    label: '',
    hypothesisIds: [],
    overrides: c.overrides,
    ...code,
  });
  const hypothesisIds = c.codeHypothesisId !== undefined ? [c.codeHypothesisId] : [];
  return { label: `search: ${label}`, hypothesisIds, overrides: c.overrides, ...code, why };
}

export function finish(b: Builder, reason: string): void {
  const { state } = b;
  state.status = 'completed';
  state.finishedReason = reason;
  b.effects.push({ type: 'update_insights', phase: state.phase, idempotencyKey: nextKey(state, 'insights') });
  b.effects.push({ type: 'write_report', idempotencyKey: nextKey(state, 'report') });
  const spent = spentGpuHours(state);
  const w = state.winner;
  b.notify(
    'plan_finished',
    w
      ? `Plan ${state.id} finished: ${describeChange(state.baseline, w.overrides)} improves ${state.spec.metric.name} by ${pct(w.relEffect)} [${pct(w.lo)}, ${pct(w.hi)}], ${w.n} seeds. Spent ${fmtHours(spent)} of ${fmtHours(state.budget.approvedGpuHours)} GPU-hours.`
      : `Plan ${state.id} finished without a confirmed winner (${reason}). Spent ${fmtHours(spent)} of ${fmtHours(state.budget.approvedGpuHours)} GPU-hours.`,
  );
}

export function fmtHours(h: number): string {
  if (h === 0) return '0';
  if (h >= 100) return h.toFixed(0);
  if (h >= 1) return h.toFixed(1);
  return fmtValue(Number(h.toPrecision(2)));
}
