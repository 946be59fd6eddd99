import type { KnobValues } from './contract.ts';
import { fmtValue } from './knobs.ts';
import type { Candidate, PlanState, Run, StepName, Verdict, VerdictKind } from './model.ts';
import { BASELINE_ID, changeText, fidelityFor } from './plan.ts';
import {
  estimateEffect,
  mean,
  type NoiseEstimate,
  noiseFromReplicas,
  poolNoise,
  relativeImprovement,
  tCritical,
  variance,
} from './stats.ts';

// Turning finished runs into verdicts.

/** Family-wise error of confirmation: the chance that any candidate it confirms is not better at all. */
export const CONFIRM_ALPHA = 0.05;

function primary(state: PlanState, run: Run): number | undefined {
  const v = run.metrics?.[state.spec.metric.name];
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

export function baselineValues(state: PlanState, fidelity: number): Map<number, number> {
  const out = new Map<number, number>();
  for (const r of state.runs) {
    if (r.role !== 'baseline' || r.fidelity !== fidelity || r.status !== 'succeeded') continue;
    const v = primary(state, r);
    if (v !== undefined) out.set(r.seed, v);
  }
  return out;
}

/** Noise of a paired relative difference at a fidelity: this plan's baseline replicas plus history. */
export function noiseAt(state: PlanState, fidelity: number): NoiseEstimate | undefined {
  const replicas = noiseFromReplicas([...baselineValues(state, fidelity).values()]);
  const history = state.noisePriors.filter((p) => p.fidelity === fidelity);
  return poolNoise([...(replicas ? [replicas] : []), ...history]);
}

export function pairedDiffs(state: PlanState, candidateId: string, step: StepName): number[] {
  const fidelity = fidelityFor(state.spec, step);
  const base = baselineValues(state, fidelity);
  const diffs: number[] = [];
  for (const r of state.runs) {
    if (r.candidateId !== candidateId || r.step !== step || r.status !== 'succeeded') continue;
    const c = primary(state, r);
    const b = base.get(r.seed);
    if (c !== undefined && b !== undefined) diffs.push(relativeImprovement(b, c, state.spec.metric.goal));
  }
  return diffs;
}

function guardrailProblem(state: PlanState, runs: Run[]): string | undefined {
  for (const g of state.spec.guardrails) {
    const values = runs.map((r) => r.metrics?.[g.metric]).filter((v): v is number => typeof v === 'number');
    if (values.length === 0) return `guardrail metric ${g.metric} was not reported`;
    const m = mean(values);
    if (g.min !== undefined && m < g.min) return `guardrail ${g.metric} ${fmtValue(m)} is below ${g.min}`;
    if (g.max !== undefined && m > g.max) return `guardrail ${g.metric} ${fmtValue(m)} is above ${g.max}`;
  }
  return undefined;
}

export function pct(x: number): string {
  if (!Number.isFinite(x)) return x > 0 ? '+inf%' : '-inf%';
  return `${x >= 0 ? '+' : ''}${(x * 100).toFixed(2)}%`;
}

/**
 * The confirmation interval, corrected for selection: the candidates reached confirmation because they looked
 * best on the search's seeds, so the fresh seeds alone decide, the noise is never taken as smaller than what
 * the baseline replicas measured at this fidelity, and the level is split over every candidate the plan
 * confirms (Bonferroni), so that the chance of any false winner stays at 5%.
 */
function confirmInterval(
  diffs: readonly number[],
  noise: NoiseEstimate | undefined,
  looks: number,
): { lo: number; hi: number; se: number } {
  const n = diffs.length;
  const own = n >= 2 ? Math.sqrt(variance(diffs)) : 0;
  const sd = Math.max(own, noise?.sd ?? 0);
  const df = (n >= 2 ? n - 1 : 0) + (noise?.df ?? 0);
  if (n === 0 || !(sd > 0) || df < 1) return { lo: -Infinity, hi: Infinity, se: Infinity };
  const se = sd / Math.sqrt(n);
  const t = tCritical(df, CONFIRM_ALPHA / Math.max(1, looks));
  const m = mean(diffs);
  return { lo: m - t * se, hi: m + t * se, se };
}

/** Verdicts for every candidate of a step. Confirmation asks for an interval; screening for one SE. */
export function analyzeStep(state: PlanState, step: StepName): Verdict[] {
  const fidelity = fidelityFor(state.spec, step);
  const noise = noiseAt(state, fidelity);
  const minEffect = state.spec.metric.min_effect;
  const verdicts: Verdict[] = [];
  const looks = state.candidates.filter((c) => c.step === 'confirm').length;
  for (const c of state.candidates) {
    if (c.id === BASELINE_ID || c.step !== step) continue;
    const runs = state.runs.filter((r) => r.candidateId === c.id && r.step === step);
    // Dropped when the plan was re-planned to fit its budget: not measured, so no verdict either way; and a
    // confirmation is never judged on fewer fresh seeds than it asks for.
    if (runs.length > 0 && runs.every((r) => r.dropped)) continue;
    if (step === 'confirm' && runs.some((r) => r.dropped)) continue;
    const ok = runs.filter((r) => r.status === 'succeeded');
    const base = { candidateId: c.id, step, fidelity };
    if (ok.length === 0) {
      const why = runs.map((r) => r.outcome).find((o) => o) ?? 'every run failed';
      verdicts.push({
        ...base,
        relEffect: Number.NaN,
        se: Number.NaN,
        lo: Number.NaN,
        hi: Number.NaN,
        n: 0,
        verdict: 'infeasible',
        reason: why,
      });
      continue;
    }
    const diffs = pairedDiffs(state, c.id, step);
    const est = estimateEffect(diffs, noise);
    const numbers = { relEffect: est.mean, se: est.se, lo: est.lo, hi: est.hi, n: est.n };
    if (diffs.length === 0) {
      verdicts.push({
        ...base,
        ...numbers,
        verdict: 'fail',
        reason: 'no baseline run with the same seed succeeded',
      });
      continue;
    }
    const guard = guardrailProblem(state, ok);
    if (guard) {
      verdicts.push({ ...base, ...numbers, verdict: 'veto', reason: guard });
      continue;
    }
    let verdict: VerdictKind;
    let reason: string;
    if (step === 'confirm') {
      const ci = confirmInterval(diffs, noise, looks);
      Object.assign(numbers, ci);
      const level = `${(100 - (100 * CONFIRM_ALPHA) / Math.max(1, looks)).toFixed(1)}% interval`;
      const holds = ci.lo > 0 && est.mean >= minEffect;
      verdict = holds ? 'pass' : est.mean >= 0 ? 'near' : 'fail';
      reason = holds
        ? `${level} [${pct(ci.lo)}, ${pct(ci.hi)}] excludes zero and the effect beats min effect ${pct(minEffect)}`
        : ci.lo > 0
          ? `${pct(est.mean)} is below min effect ${pct(minEffect)}`
          : `${level} [${pct(ci.lo)}, ${pct(ci.hi)}] includes zero or is worse`;
    } else if (est.mean >= minEffect && est.mean > est.se) {
      verdict = 'pass';
      reason = `${pct(est.mean)} beats min effect ${pct(minEffect)} and one standard error (${pct(est.se)})`;
    } else if (est.mean >= -est.se) {
      verdict = 'near';
      reason = `${pct(est.mean)} is within one standard error (${pct(est.se)}): kept as a combination candidate`;
    } else {
      verdict = 'fail';
      reason = `${pct(est.mean)} is worse than baseline by more than one standard error (${pct(est.se)})`;
    }
    verdicts.push({ ...base, ...numbers, verdict, reason });
  }
  return verdicts;
}

function byEffect(a: Verdict, b: Verdict): number {
  return b.relEffect - a.relEffect || a.candidateId.localeCompare(b.candidateId);
}

export function ranked(verdicts: Verdict[], kind: VerdictKind): Verdict[] {
  return verdicts.filter((v) => v.verdict === kind).sort(byEffect);
}

/** Merges overrides; undefined when two of them set the same knob differently (not compatible). */
export function stack(parts: KnobValues[]): KnobValues | undefined {
  const out: KnobValues = {};
  for (const p of parts) {
    for (const [k, v] of Object.entries(p)) {
      if (k in out && out[k] !== v) return undefined;
      out[k] = v;
    }
  }
  return out;
}

export interface CandidateDraft {
  label: string;
  hypothesisIds: string[];
  overrides: KnobValues;
  codeHypothesisId?: string;
  why: string;
}

/**
 * Whether candidates can be measured together: their overrides stack and at most one of them carries code.
 * Two code hypotheses are never combined: each patch runs on its own branch made from the base commit, and
 * whether two patches apply together in order is only known with the files at hand.
 */
export function combinable(parts: Candidate[]): KnobValues | undefined {
  if (parts.filter((p) => p.codeHypothesisId !== undefined).length > 1) return undefined;
  return stack(parts.map((p) => p.overrides));
}

export function summarizeVerdicts(state: PlanState, verdicts: Verdict[]): string {
  const count = (k: VerdictKind) => verdicts.filter((v) => v.verdict === k).length;
  const parts = [`${count('pass')} of ${verdicts.length} passed`];
  if (count('near')) parts.push(`${count('near')} came close`);
  if (count('fail')) parts.push(`${count('fail')} were worse`);
  if (count('veto')) parts.push(`${count('veto')} broke a guardrail`);
  if (count('infeasible')) parts.push(`${count('infeasible')} were infeasible`);
  const best = ranked(verdicts, 'pass')[0];
  if (best) {
    const c = state.candidates.find((x) => x.id === best.candidateId)!;
    parts.push(`best: ${changeText(state, c)} ${pct(best.relEffect)}`);
  }
  return parts.join('; ');
}
