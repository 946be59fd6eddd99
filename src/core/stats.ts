// Statistics of DESIGN section 6: paired comparisons against the baseline at equal fidelity and seed, with
// noise pooled across the plan's own replicas and this model's history.

export function mean(xs: readonly number[]): number {
  if (xs.length === 0) return Number.NaN;
  let s = 0;
  for (const x of xs) s += x;
  return s / xs.length;
}

/** Sample variance (n - 1 in the denominator); NaN below two values. */
export function variance(xs: readonly number[]): number {
  if (xs.length < 2) return Number.NaN;
  const m = mean(xs);
  let s = 0;
  for (const x of xs) s += (x - m) ** 2;
  return s / (xs.length - 1);
}

/** Quantile with linear interpolation between order statistics (R's type 7). */
export function quantile(xs: readonly number[], q: number): number {
  if (xs.length === 0) return Number.NaN;
  const sorted = [...xs].sort((a, b) => a - b);
  const h = (sorted.length - 1) * q;
  const lo = Math.floor(h);
  const hi = Math.ceil(h);
  return sorted[lo]! + (h - lo) * (sorted[hi]! - sorted[lo]!);
}

export function median(xs: readonly number[]): number {
  return quantile(xs, 0.5);
}

// Two-sided 97.5% quantiles of Student's t for small df; beyond the table the normal value with the
// usual first-order correction is accurate to 3 decimals.
const T975 = [
  Number.NaN,
  12.706,
  4.303,
  3.182,
  2.776,
  2.571,
  2.447,
  2.365,
  2.306,
  2.262,
  2.228,
  2.201,
  2.179,
  2.16,
  2.145,
  2.131,
  2.12,
  2.11,
  2.101,
  2.093,
  2.086,
  2.08,
  2.074,
  2.069,
  2.064,
  2.06,
  2.056,
  2.052,
  2.048,
  2.045,
  2.042,
];

export function tCritical95(df: number): number {
  if (!(df >= 1)) return Number.POSITIVE_INFINITY;
  const d = Math.floor(df);
  if (d < T975.length) return T975[d]!;
  return 1.96 + 2.4 / d;
}

export interface NoiseEstimate {
  sd: number;
  df: number;
}

/** Pools standard deviations by their degrees of freedom; entries with no df are ignored. */
export function poolNoise(parts: readonly NoiseEstimate[]): NoiseEstimate | undefined {
  let ss = 0;
  let df = 0;
  for (const p of parts) {
    if (p.df > 0 && Number.isFinite(p.sd)) {
      ss += p.sd * p.sd * p.df;
      df += p.df;
    }
  }
  if (df === 0) return undefined;
  return { sd: Math.sqrt(ss / df), df };
}

/** Relative improvement of a candidate over its baseline value: positive is better whatever the goal. */
export function relativeImprovement(base: number, cand: number, goal: 'minimize' | 'maximize'): number {
  const denom = Math.max(Math.abs(base), 1e-12);
  return goal === 'minimize' ? (base - cand) / denom : (cand - base) / denom;
}

export interface EffectEstimate {
  mean: number;
  se: number;
  lo: number;
  hi: number;
  n: number;
  df: number;
}

/**
 * The effect of a candidate from its paired relative differences. With two or more pairs the spread of
 * the pairs themselves is used, pooled with the prior; with one pair only the prior can say how noisy it is.
 * Without any noise information the interval is unbounded, which no rule will mistake for evidence.
 */
export function estimateEffect(diffs: readonly number[], prior?: NoiseEstimate): EffectEstimate {
  const n = diffs.length;
  const m = mean(diffs);
  const own: NoiseEstimate | undefined = n >= 2 ? { sd: Math.sqrt(variance(diffs)), df: n - 1 } : undefined;
  const pooled = poolNoise([...(own ? [own] : []), ...(prior ? [prior] : [])]);
  if (!pooled || n === 0) {
    return { mean: m, se: Number.POSITIVE_INFINITY, lo: -Infinity, hi: Infinity, n, df: 0 };
  }
  const se = pooled.sd / Math.sqrt(n);
  const t = tCritical95(pooled.df);
  return { mean: m, se, lo: m - t * se, hi: m + t * se, n, df: pooled.df };
}

/**
 * Noise of a paired relative difference estimated from baseline replicas alone: the replicas' spread
 * is the noise of one run, and a difference of two independent runs has sqrt(2) times that. Pairing on
 * the seed usually removes part of it, so this errs on the side of caution.
 */
export function noiseFromReplicas(values: readonly number[]): NoiseEstimate | undefined {
  if (values.length < 2) return undefined;
  const m = Math.abs(mean(values));
  if (m < 1e-12) return undefined;
  const sdRel = Math.sqrt(variance(values)) / m;
  return { sd: sdRel * Math.SQRT2, df: values.length - 1 };
}
