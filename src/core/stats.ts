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

/** ln Gamma (Lanczos), for the incomplete beta function below. */
function lnGamma(z: number): number {
  const g = [
    676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059, 12.507343278686905,
    -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
  ];
  if (z < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * z)) - lnGamma(1 - z);
  const x = z - 1;
  let a = 0.99999999999980993;
  const t = x + 7.5;
  for (let i = 0; i < g.length; i++) a += g[i]! / (x + i + 1);
  return 0.5 * Math.log(2 * Math.PI) + (x + 0.5) * Math.log(t) - t + Math.log(a);
}

/** Continued fraction of the regularized incomplete beta function (Numerical Recipes' betacf). */
function betaCf(a: number, b: number, x: number): number {
  const tiny = 1e-300;
  let c = 1;
  let d = 1 - ((a + b) * x) / (a + 1);
  if (Math.abs(d) < tiny) d = tiny;
  d = 1 / d;
  let h = d;
  for (let m = 1; m <= 200; m++) {
    const m2 = 2 * m;
    let aa = (m * (b - m) * x) / ((a + m2 - 1) * (a + m2));
    d = 1 + aa * d;
    if (Math.abs(d) < tiny) d = tiny;
    c = 1 + aa / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    h *= d * c;
    aa = (-(a + m) * (a + b + m) * x) / ((a + m2) * (a + m2 + 1));
    d = 1 + aa * d;
    if (Math.abs(d) < tiny) d = tiny;
    c = 1 + aa / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const del = d * c;
    h *= del;
    if (Math.abs(del - 1) < 1e-12) break;
  }
  return h;
}

function incompleteBeta(a: number, b: number, x: number): number {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const front = Math.exp(lnGamma(a + b) - lnGamma(a) - lnGamma(b) + a * Math.log(x) + b * Math.log(1 - x));
  if (x < (a + 1) / (a + b + 2)) return (front * betaCf(a, b, x)) / a;
  return 1 - (front * betaCf(b, a, 1 - x)) / b;
}

/** P(T <= t) for Student's t with df degrees of freedom. */
export function studentTCdf(t: number, df: number): number {
  const x = df / (df + t * t);
  const tail = 0.5 * incompleteBeta(df / 2, 0.5, x);
  return t >= 0 ? 1 - tail : tail;
}

/**
 * The two-sided critical value of Student's t at level alpha: P(|T| > t) = alpha. Confirmation divides
 * alpha by the number of candidates it looks at (Bonferroni), which the fixed 95% table cannot serve.
 */
export function tCritical(df: number, alpha: number): number {
  if (!(df >= 1)) return Number.POSITIVE_INFINITY;
  const target = 1 - alpha / 2;
  let lo = 0;
  let hi = 1;
  while (studentTCdf(hi, df) < target && hi < 1e6) hi *= 2;
  for (let i = 0; i < 100; i++) {
    const mid = (lo + hi) / 2;
    if (studentTCdf(mid, df) < target) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2;
}

function ranks(xs: readonly number[]): number[] {
  const order = xs.map((x, i) => ({ x, i })).sort((a, b) => a.x - b.x);
  const r = new Array<number>(xs.length);
  for (let k = 0; k < order.length; ) {
    let j = k;
    while (j + 1 < order.length && order[j + 1]!.x === order[k]!.x) j++;
    for (let m = k; m <= j; m++) r[order[m]!.i] = (k + j) / 2 + 1;
    k = j + 1;
  }
  return r;
}

/** Spearman's rank correlation (ties get their mean rank); NaN below 3 pairs or with no spread. */
export function spearman(a: readonly number[], b: readonly number[]): number {
  if (a.length !== b.length || a.length < 3) return Number.NaN;
  const ra = ranks(a);
  const rb = ranks(b);
  const ma = mean(ra);
  const mb = mean(rb);
  let sab = 0;
  let saa = 0;
  let sbb = 0;
  for (let i = 0; i < ra.length; i++) {
    sab += (ra[i]! - ma) * (rb[i]! - mb);
    saa += (ra[i]! - ma) ** 2;
    sbb += (rb[i]! - mb) ** 2;
  }
  return saa > 0 && sbb > 0 ? sab / Math.sqrt(saa * sbb) : Number.NaN;
}
