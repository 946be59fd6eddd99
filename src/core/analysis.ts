import type { KnobValues } from './contract.ts';
import { fmtValue, isNumericKnob, overridesKey, scaleKnob } from './knobs.ts';
import type { Candidate, PlanState, Run, StepName, Verdict, VerdictKind } from './model.ts';
import { BASELINE_ID, changeText, fidelityFor, MAX_COMBOS, MAX_REFINE } from './plan.ts';
import {
  estimateEffect,
  mean,
  type NoiseEstimate,
  noiseFromReplicas,
  poolNoise,
  relativeImprovement,
} from './stats.ts';

// Turning finished runs into verdicts, and verdicts into the next step's candidates.

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

/** Verdicts for every candidate of a step. Confirmation asks for an interval; screening for one SE. */
export function analyzeStep(state: PlanState, step: StepName): Verdict[] {
  const fidelity = fidelityFor(state.spec, step);
  const noise = noiseAt(state, fidelity);
  const minEffect = state.spec.metric.min_effect;
  const verdicts: Verdict[] = [];
  for (const c of state.candidates) {
    if (c.id === BASELINE_ID || c.step !== step) continue;
    const runs = state.runs.filter((r) => r.candidateId === c.id && r.step === step);
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
      verdict = est.lo > 0 ? 'pass' : est.mean >= 0 ? 'near' : 'fail';
      reason =
        verdict === 'pass'
          ? `95% interval [${pct(est.lo)}, ${pct(est.hi)}] excludes zero`
          : `95% interval [${pct(est.lo)}, ${pct(est.hi)}] includes zero or is worse`;
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

/**
 * Combination candidates: what passed, stacked and in pairs; near-neutral hypotheses paired with the best
 * one (a change useless alone can be half of a winning pair); and the best near-miss alone, re-checked at
 * the higher fidelity (effects change with scale).
 */
export function combinationDrafts(state: PlanState, verdicts: Verdict[]): CandidateDraft[] {
  const cand = (v: Verdict) => state.candidates.find((c) => c.id === v.candidateId)!;
  const passed = ranked(verdicts, 'pass').map(cand);
  const near = ranked(verdicts, 'near').map(cand);
  const drafts: CandidateDraft[] = [];
  const seen = new Set<string>();
  const add = (parts: Candidate[], why: string) => {
    const overrides = combinable(parts);
    if (!overrides) return;
    const code = parts.find((p) => p.codeHypothesisId !== undefined)?.codeHypothesisId;
    const key = `${overridesKey(overrides)}|${code ?? ''}`;
    if (seen.has(key)) return;
    seen.add(key);
    const codePart = code !== undefined ? { codeHypothesisId: code } : {};
    drafts.push({
      label:
        parts.length === 1
          ? parts[0]!.label
          : changeText(state, {
              id: '',
              step: 'combination',
              label: '',
              hypothesisIds: [],
              overrides,
              ...codePart,
            }),
      hypothesisIds: parts.flatMap((p) => p.hypothesisIds),
      overrides,
      ...codePart,
      why,
    });
  };
  if (passed.length >= 2) {
    const all: Candidate[] = [];
    for (const p of passed) if (combinable([...all, p])) all.push(p);
    if (all.length >= 2) add(all, 'all compatible passes stacked');
  }
  // Every pass paired with the best one first: a small effect at low fidelity (capacity, crosses) can be
  // the larger half of a pair at full fidelity, so rank at low fidelity does not decide who gets a pair.
  if (passed[0]) for (const p of passed.slice(1)) add([passed[0], p], 'paired with the best pass');
  const top = passed.slice(1, 3);
  for (let i = 0; i < top.length; i++) {
    for (let j = i + 1; j < top.length; j++) add([top[i]!, top[j]!], 'pair of passes');
  }
  if (passed[0]) add([passed[0]], 'best pass re-checked at higher fidelity');
  if (passed[0])
    for (const n of near.slice(0, 2)) add([passed[0], n], 'near-neutral change paired with the best pass');
  if (near[0]) add([near[0]], 'most promising near-miss re-checked at higher fidelity');
  if (passed.length === 0 && near.length >= 2) add([near[0]!, near[1]!], 'pair of near-misses');
  return drafts.slice(0, MAX_COMBOS);
}

const REFINE_FACTOR = 1.5;

/** Local search around the best combination: a joint move of its numeric knobs, then one knob at a time. */
export function refineDrafts(state: PlanState, best: Candidate): CandidateDraft[] {
  const numeric = Object.keys(best.overrides)
    .filter((k) => {
      const knob = state.spec.knobs[k];
      return knob !== undefined && isNumericKnob(knob);
    })
    .sort();
  const drafts: CandidateDraft[] = [];
  const seen = new Set<string>([overridesKey(best.overrides)]);
  const add = (overrides: KnobValues, why: string, moreHypotheses: readonly string[] = []) => {
    const key = overridesKey(overrides);
    if (seen.has(key)) return;
    seen.add(key);
    drafts.push({
      label: `${best.label} (${why})`,
      hypothesisIds: [...new Set([...best.hypothesisIds, ...moreHypotheses])],
      overrides,
      ...(best.codeHypothesisId !== undefined ? { codeHypothesisId: best.codeHypothesisId } : {}),
      why,
    });
  };
  // Further along the direction the combination moved from the baseline, all numeric knobs together.
  const joint: KnobValues = { ...best.overrides };
  let moved = false;
  for (const k of numeric) {
    const v = best.overrides[k]!;
    const b = state.baseline[k];
    if (typeof v !== 'number' || typeof b !== 'number' || v === b) continue;
    const next = scaleKnob(state.spec.knobs[k]!, v, v > b ? REFINE_FACTOR : 1 / REFINE_FACTOR);
    if (next !== undefined) {
      joint[k] = next;
      moved = true;
    }
  }
  if (moved) add(joint, 'joint step further');
  for (const k of numeric) {
    for (const f of [REFINE_FACTOR, 1 / REFINE_FACTOR]) {
      const next = scaleKnob(state.spec.knobs[k]!, best.overrides[k]!, f);
      if (next !== undefined) add({ ...best.overrides, [k]: next }, `${k} ${fmtValue(next)}`);
    }
  }
  // A combination with few numeric knobs leaves refinement slots empty: spend them on a greedy step of
  // forward selection instead, the best combination plus one more change that passed (or came close in)
  // validation on a knob it does not touch yet, best validation effect first.
  const validation = state.verdicts.filter((v) => v.step === 'validation');
  const more = [...ranked(validation, 'pass'), ...ranked(validation, 'near')];
  for (const v of more) {
    if (drafts.length >= MAX_REFINE) break;
    const c = state.candidates.find((x) => x.id === v.candidateId);
    // Code changes are combined in the combination step, each on its own branch; not stacked here.
    if (!c || c.codeHypothesisId !== undefined) continue;
    if (Object.keys(c.overrides).some((k) => k in best.overrides)) continue;
    const stacked = stack([best.overrides, c.overrides]);
    if (stacked) add(stacked, `plus ${changeText(state, c)}`, c.hypothesisIds);
  }
  return drafts.slice(0, MAX_REFINE);
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
