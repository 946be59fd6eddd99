import { noiseAt, pairedDiffs } from './analysis.ts';
import type { KnobValues } from './contract.ts';
import { encode, type KnobSpace, knobSpace, perturb, sampleUniform } from './knob-space.ts';
import { overridesKey } from './knobs.ts';
import type { PlanState } from './model.ts';
import { BASELINE_ID, fidelityFor } from './plan.ts';
import type { Rng } from './rng.ts';
import { mean, median } from './stats.ts';
import {
  expectedImprovement,
  type FailurePoint,
  fidelityCoord,
  fitSurrogate,
  type Observation,
  type Prediction,
  predict,
  type Surrogate,
} from './surrogate.ts';

// The plan's measurements as the surrogate's data, and what the surrogate proposes to measure next.

/** Above this many observations the process is refit on the most informative ones (cost grows as n^3). */
const MAX_OBSERVATIONS = 60;
/** Noise of a paired difference assumed before any replica says otherwise (1% relative). */
const DEFAULT_NOISE_SD = 0.01;

/**
 * Code hypotheses enter the space as one more choice, "which patch, if any" (at most one: patches never
 * stack), so the surrogate can say that a code change helps and the search can propose knob moves with it.
 */
const CODE_KNOB = 'rea:code';
const NO_CODE = 'none';

/** A configuration the search can propose: knob overrides and at most one code hypothesis. */
export interface Config {
  overrides: KnobValues;
  codeHypothesisId?: string | undefined;
}

export interface SearchModel {
  space: KnobSpace;
  surrogate: Surrogate | undefined;
  /** Configurations already measured (keys), never proposed again. */
  measured: Set<string>;
  /** Configurations that ran (space values), the anchors of local moves. */
  configs: KnobValues[];
  /** How full-fidelity improvements were scaled for the surrogate (undefined before any full run). */
  fullScale: { med: number; scale: number } | undefined;
  /** Whether the space has the code dimension. */
  withCode: boolean;
}

function valuesOf(model: Pick<SearchModel, 'withCode'>, c: Config): KnobValues {
  return model.withCode ? { ...c.overrides, [CODE_KNOB]: c.codeHypothesisId ?? NO_CODE } : c.overrides;
}

function configOf(values: KnobValues): Config {
  const { [CODE_KNOB]: code, ...overrides } = values;
  return code === undefined || code === NO_CODE
    ? { overrides }
    : { overrides, codeHypothesisId: String(code) };
}

export function searchModel(state: PlanState): SearchModel {
  // A patch that could not run anywhere (it does not apply) is left out of the space.
  const broken = new Set(
    state.candidates
      .filter((c) => c.codeHypothesisId !== undefined)
      .filter((c) => state.verdicts.some((v) => v.candidateId === c.id && v.verdict === 'infeasible'))
      .map((c) => c.codeHypothesisId!),
  );
  const codes = state.hypotheses.filter((h) => h.kind === 'code' && !broken.has(h.id)).map((h) => h.id);
  const withCode = codes.length > 0;
  const knobs = withCode
    ? { ...state.spec.knobs, [CODE_KNOB]: { type: 'choice' as const, values: [NO_CODE, ...codes] } }
    : state.spec.knobs;
  const space = knobSpace(knobs, withCode ? { ...state.baseline, [CODE_KNOB]: NO_CODE } : state.baseline);
  const model = { withCode };
  const obs: Observation[] = [];
  const failures: FailurePoint[] = [];
  const measured = new Set<string>([overridesKey(valuesOf(model, { overrides: {} }))]);
  const configs: KnobValues[] = [];
  const noiseSd = (f: number) => noiseAt(state, f)?.sd ?? DEFAULT_NOISE_SD;
  const base = encode(space, {});
  const fidelities = [...new Set(state.runs.map((r) => r.fidelity))];
  for (const f of fidelities) {
    const n = state.runs.filter(
      (r) => r.role === 'baseline' && r.fidelity === f && r.status === 'succeeded',
    ).length;
    if (n > 0) obs.push({ x: base, s: fidelityCoord(f), y: 0, noiseVar: noiseSd(f) ** 2 / (2 * n) });
  }
  for (const c of state.candidates) {
    if (c.id === BASELINE_ID || (c.codeHypothesisId !== undefined && broken.has(c.codeHypothesisId)))
      continue;
    const values = valuesOf(model, c);
    measured.add(overridesKey(values));
    const asked = c.adjustedFrom ? valuesOf(model, { ...c, overrides: c.adjustedFrom.overrides }) : undefined;
    if (asked) measured.add(overridesKey(asked));
    const x = encode(space, values);
    const verdict = state.verdicts.find((v) => v.candidateId === c.id);
    if (verdict?.verdict === 'infeasible' || verdict?.verdict === 'veto') {
      failures.push({ x: asked ? encode(space, asked) : x, failed: true });
      continue;
    }
    const diffs = pairedDiffs(state, c.id, c.step);
    if (diffs.length === 0) continue;
    failures.push({ x, failed: false });
    configs.push(values);
    if (asked) failures.push({ x: encode(space, asked), failed: true });
    const f = fidelityFor(state.spec, c.step);
    obs.push({ x, s: fidelityCoord(f), y: mean(diffs), noiseVar: noiseSd(f) ** 2 / diffs.length });
  }
  const scales = normalizePerFidelity(obs);
  // Keep the high-fidelity and the best observations when there are too many to fit quickly.
  const kept =
    obs.length <= MAX_OBSERVATIONS
      ? obs
      : [...obs].sort((a, b) => b.s - a.s || b.y - a.y).slice(0, MAX_OBSERVATIONS);
  return {
    space,
    surrogate: fitSurrogate(kept, failures, space.width),
    measured,
    configs,
    fullScale: scales.get(fidelityCoord(1)),
    withCode,
  };
}

/**
 * What the surrogate believes a configuration does at full fidelity, as a relative improvement once full
 * runs exist (before that, on the surrogate's own scale: good for ranking, not for reading).
 */
export function predictFull(model: SearchModel, c: Config): Prediction | undefined {
  if (!model.surrogate) return undefined;
  const p = predict(model.surrogate, encode(model.space, valuesOf(model, c)), fidelityCoord(1));
  const f = model.fullScale;
  return f ? { ...p, mean: p.mean * f.scale + f.med, sd: p.sd * f.scale } : p;
}

/**
 * Proposes up to n new configurations for full-fidelity runs: expected improvement over the best predicted
 * full-fidelity value, discounted by the chance of failing, over a pool of uniform draws and joint moves
 * around the best configurations so far; each pick penalises the pool near it, so a batch spreads out.
 */
export function proposeBatch(
  model: SearchModel,
  rng: Rng,
  n: number,
  avoid: readonly Config[] = [],
): Config[] {
  const { space, surrogate } = model;
  const seen = new Set([...model.measured, ...avoid.map((c) => overridesKey(valuesOf(model, c)))]);
  const pool: KnobValues[] = [];
  for (let i = 0; i < 300; i++) pool.push(sampleUniform(space, rng));
  const s1 = fidelityCoord(1);
  const anchors: KnobValues[] = [{}];
  if (surrogate) {
    const scored = model.configs.map((o) => ({ o, m: predict(surrogate, encode(space, o), s1).mean }));
    scored.sort((a, b) => b.m - a.m);
    for (const a of scored.slice(0, 4)) anchors.push(a.o);
  }
  for (const a of anchors) {
    for (const scale of [0.05, 0.15, 0.35]) {
      for (let i = 0; i < 40; i++) pool.push(perturb(space, a, rng, scale));
    }
  }
  const unique = new Map<string, KnobValues>();
  for (const o of pool) {
    const k = overridesKey(o);
    if (!seen.has(k) && !unique.has(k)) unique.set(k, o);
  }
  const items = [...unique.values()].map((o) => ({ o, x: encode(space, o), score: 0 }));
  if (items.length === 0) return [];
  if (!surrogate) return items.slice(0, n).map((i) => configOf(i.o));
  let incumbent = 0;
  for (const o of surrogate.obs) incumbent = Math.max(incumbent, predict(surrogate, o.x, s1).mean);
  for (const it of items) {
    const p = predict(surrogate, it.x, s1);
    it.score = expectedImprovement(p.mean, p.sd, incumbent) * (1 - p.pFail) ** 2;
  }
  const out: Config[] = [];
  const ls = surrogate.lengthscales;
  for (let k = 0; k < n && items.length > 0; k++) {
    let bi = 0;
    for (let i = 1; i < items.length; i++) if (items[i]!.score > items[bi]!.score) bi = i;
    const chosen = items.splice(bi, 1)[0]!;
    out.push(configOf(chosen.o));
    for (const it of items) {
      let d = 0;
      for (let j = 0; j < it.x.length; j++) d += ((it.x[j]! - chosen.x[j]!) / ls[j]!) ** 2;
      it.score *= 1 - Math.exp(-d);
    }
  }
  return out;
}

/**
 * Puts each fidelity's improvements on one robust scale (median 0, MAD 1, the tails clipped): relative effects at
 * a tenth of the data can be orders of magnitude larger than at full data (a baseline that barely learned
 * turns every change into +2000%), and on their raw scale they would swamp the full-fidelity points. What
 * the surrogate then learns across fidelities is how configurations rank, which is what the search needs.
 */
function normalizePerFidelity(obs: Observation[]): Map<number, { med: number; scale: number }> {
  const out = new Map<number, { med: number; scale: number }>();
  for (const s of new Set(obs.map((o) => o.s))) {
    const group = obs.filter((o) => o.s === s);
    const ys = group.map((o) => o.y);
    const med = median(ys);
    const mad = 1.4826 * median(ys.map((y) => Math.abs(y - med)));
    const noise = Math.sqrt(mean(group.map((o) => o.noiseVar)));
    const scale = Math.max(mad, noise, 1e-9);
    out.set(s, { med, scale });
    for (const o of group) {
      // The top of a low-fidelity screen is clipped (a +2000% at a tenth of the data is not 100 times better
      // than a +20%); at full fidelity the top is what the search is after and stays as measured.
      const z = Math.max(-4, (o.y - med) / scale);
      o.y = s < 0 ? Math.min(6, z) : z;
      o.noiseVar /= scale * scale;
    }
  }
  return out;
}
