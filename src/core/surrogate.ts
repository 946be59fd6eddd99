import { mean, quantile, variance } from './stats.ts';

// One surrogate of the space (DESIGN section 6): a Gaussian process over every measurement of the plan, at
// every fidelity, with the fidelity an input, so that a cheap run at 10% says something about the full run
// without being taken for it. Targets are paired relative improvements over the baseline at the same fidelity
// and seed, so a fidelity's absolute level does not leak into the model. Failures (out of memory, divergence,
// a broken guardrail) are a separate, kernel-weighted constraint model: the OOM boundary and the divergence
// edge are places to stay away from, not very bad scores that would bend the surface around them.

export interface Observation {
  x: number[];
  /** Fidelity coordinate (see fidelityCoord): 0 at full fidelity, negative below. */
  s: number;
  y: number;
  /** Variance of y as measured (noise of one paired difference / number of pairs). */
  noiseVar: number;
}

export interface FailurePoint {
  x: number[];
  failed: boolean;
}

export interface Surrogate {
  obs: Observation[];
  lengthscales: number[];
  fidelityScale: number;
  signalVar: number;
  priorMean: number;
  /** Cholesky factor of K + noise, and K^-1 (y - m). */
  chol: Float64Array;
  alpha: Float64Array;
  failures: FailurePoint[];
  failureRate: number;
}

/** Fidelity as the surrogate sees it: the log of the fraction of full training. */
export function fidelityCoord(fidelity: number): number {
  return Math.log(Math.max(1e-6, Math.min(1, fidelity)));
}

function matern52(r2: number): number {
  const r = Math.sqrt(5 * r2);
  return (1 + r + (5 * r2) / 3) * Math.exp(-r);
}

function scaledDist2(a: readonly number[], b: readonly number[], ls: readonly number[]): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) {
    const d = (a[i]! - b[i]!) / ls[i]!;
    s += d * d;
  }
  return s;
}

function kernel(
  a: Observation | { x: readonly number[]; s: number },
  b: Observation | { x: readonly number[]; s: number },
  ls: readonly number[],
  fs: number,
  sv: number,
): number {
  const ds = (a.s - b.s) / fs;
  return sv * matern52(scaledDist2(a.x, b.x, ls)) * Math.exp(-0.5 * ds * ds);
}

/** In-place Cholesky of an n x n row-major matrix; false when it is not positive definite. */
function cholesky(m: Float64Array, n: number): boolean {
  for (let j = 0; j < n; j++) {
    let d = m[j * n + j]!;
    for (let k = 0; k < j; k++) d -= m[j * n + k]! ** 2;
    if (!(d > 1e-14)) return false;
    const l = Math.sqrt(d);
    m[j * n + j] = l;
    for (let i = j + 1; i < n; i++) {
      let s = m[i * n + j]!;
      for (let k = 0; k < j; k++) s -= m[i * n + k]! * m[j * n + k]!;
      m[i * n + j] = s / l;
    }
    for (let k = j + 1; k < n; k++) m[j * n + k] = 0;
  }
  return true;
}

function solveLower(l: Float64Array, n: number, b: Float64Array): Float64Array {
  const x = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let s = b[i]!;
    for (let k = 0; k < i; k++) s -= l[i * n + k]! * x[k]!;
    x[i] = s / l[i * n + i]!;
  }
  return x;
}

function solveUpper(l: Float64Array, n: number, b: Float64Array): Float64Array {
  const x = new Float64Array(n);
  for (let i = n - 1; i >= 0; i--) {
    let s = b[i]!;
    for (let k = i + 1; k < n; k++) s -= l[k * n + i]! * x[k]!;
    x[i] = s / l[i * n + i]!;
  }
  return x;
}

interface Fit {
  lml: number;
  chol: Float64Array;
  alpha: Float64Array;
}

function fitWith(
  obs: readonly Observation[],
  y: Float64Array,
  ls: readonly number[],
  fs: number,
  sv: number,
): Fit | undefined {
  const n = obs.length;
  const k = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      const v = kernel(obs[i]!, obs[j]!, ls, fs, sv);
      k[i * n + j] = v;
      k[j * n + i] = v;
    }
    // A small nugget keeps the factorisation stable when two configurations snap to the same point.
    k[i * n + i]! += obs[i]!.noiseVar + 1e-6 * sv;
  }
  if (!cholesky(k, n)) return undefined;
  const alpha = solveUpper(k, n, solveLower(k, n, y));
  let quad = 0;
  let logDet = 0;
  for (let i = 0; i < n; i++) {
    quad += y[i]! * alpha[i]!;
    logDet += Math.log(k[i * n + i]!);
  }
  return { lml: -0.5 * quad - logDet, chol: k, alpha };
}

const LENGTHSCALES = [0.15, 0.3, 0.6, 1.2];
const FIDELITY_SCALES = [0.7, 2, 6];
const SIGNAL_FACTORS = [0.5, 1, 2];

/**
 * Fits the process: hyperparameters by marginal likelihood over a small grid, then one pass of per-coordinate
 * length scales (x0.5 or x4, kept when the likelihood improves), which lets knobs that do nothing fade out.
 */
export function fitSurrogate(
  observations: readonly Observation[],
  failures: readonly FailurePoint[],
  width: number,
): Surrogate | undefined {
  if (observations.length < 2) return undefined;
  const raw = observations.map((o) => o.y);
  // The bad tail is winsorised: how much worse than the baseline a hopeless configuration is does not matter
  // for finding the best one, and it would flatten the surface where the search happens.
  const floor = quantile(raw, 0.2);
  const obs = observations.map((o) => ({ ...o, y: Math.max(o.y, floor) }));
  const ys = obs.map((o) => o.y);
  const priorMean = mean(ys);
  const y = Float64Array.from(ys, (v) => v - priorMean);
  const spread = Math.max(variance(ys) || 0, mean(obs.map((o) => o.noiseVar)), 1e-10);
  let best: { fit: Fit; ls: number[]; fs: number; sv: number } | undefined;
  for (const l of LENGTHSCALES) {
    for (const fs of FIDELITY_SCALES) {
      for (const f of SIGNAL_FACTORS) {
        const ls = new Array<number>(width).fill(l);
        const fit = fitWith(obs, y, ls, fs, spread * f);
        if (fit && (!best || fit.lml > best.fit.lml)) best = { fit, ls, fs, sv: spread * f };
      }
    }
  }
  if (!best) return undefined;
  for (let d = 0; d < width; d++) {
    for (const factor of [0.5, 4]) {
      const ls: number[] = [...best.ls];
      ls[d] = ls[d]! * factor;
      const fit = fitWith(obs, y, ls, best.fs, best.sv);
      if (fit && fit.lml > best.fit.lml + 1e-9) best = { ...best, fit, ls };
    }
  }
  const fails = failures.filter((f) => f.failed).length;
  return {
    obs,
    lengthscales: best.ls,
    fidelityScale: best.fs,
    signalVar: best.sv,
    priorMean,
    chol: best.fit.chol,
    alpha: best.fit.alpha,
    failures: [...failures],
    failureRate: (fails + 0.5) / (failures.length + 2.5),
  };
}

export interface Prediction {
  mean: number;
  sd: number;
  pFail: number;
}

export function predict(model: Surrogate, x: readonly number[], s: number): Prediction {
  const n = model.obs.length;
  const kx = new Float64Array(n);
  for (let i = 0; i < n; i++)
    kx[i] = kernel(model.obs[i]!, { x, s }, model.lengthscales, model.fidelityScale, model.signalVar);
  let m = model.priorMean;
  for (let i = 0; i < n; i++) m += kx[i]! * model.alpha[i]!;
  const v = solveLower(model.chol, n, kx);
  let vv = 0;
  for (let i = 0; i < n; i++) vv += v[i]! * v[i]!;
  const sd = Math.sqrt(Math.max(1e-16, model.signalVar - vv));
  return { mean: m, sd, pFail: failureProbability(model, x) };
}

/** Kernel-weighted share of failures near x, shrunk towards the plan's overall failure rate. */
export function failureProbability(model: Surrogate, x: readonly number[]): number {
  let w = 0;
  let wf = 0;
  for (const f of model.failures) {
    const k = matern52(scaledDist2(f.x, x, model.lengthscales));
    w += k;
    if (f.failed) wf += k;
  }
  return (wf + model.failureRate) / (w + 1);
}

export function normalCdf(z: number): number {
  // Abramowitz and Stegun 7.1.26 through erf; accurate to 1e-7, plenty for ranking proposals.
  const t = 1 / (1 + (0.3275911 * Math.abs(z)) / Math.SQRT2);
  const erf =
    1 -
    ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) *
      t *
      Math.exp(-(z * z) / 2);
  return z >= 0 ? 0.5 * (1 + erf) : 0.5 * (1 - erf);
}

/** Expected improvement over `best` of a normal belief (mean, sd). */
export function expectedImprovement(mu: number, sd: number, best: number): number {
  if (!(sd > 0)) return Math.max(0, mu - best);
  const z = (mu - best) / sd;
  const pdf = Math.exp(-0.5 * z * z) / Math.sqrt(2 * Math.PI);
  return (mu - best) * normalCdf(z) + sd * pdf;
}
