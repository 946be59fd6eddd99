import { mean, quantile, relativeImprovement } from '../core/stats.ts';
import type { MetricGoal, TrajectoryPoint } from './types.ts';

export type { TrajectoryPoint } from './types.ts';

// The pure half of `rea bench search`: how a strategy's search is charged, what it found, and how fast.
// Everything here is a function of numbers, so it is unit-tested without training anything.

/** Seeds of the final evaluation start here: no strategy's search uses seeds this high. */
export const FRESH_SEED_BASE = 900_001;

export function freshSeeds(n: number): number[] {
  return Array.from({ length: n }, (_, i) => FRESH_SEED_BASE + i);
}

/**
 * GPU-hours charged for one run, the same rule for every strategy: fidelity x the GPU-hours of one full
 * run (`run.baseline_gpu_hours`, which is already the whole job's GPU-hours: the planner's cost model
 * uses it the same way). It does not depend on how busy the machine is, or on the configuration.
 */
export function chargeFor(fidelity: number, fullRunGpuHours: number): number {
  return fidelity * fullRunGpuHours;
}

/**
 * Relative improvement of a candidate over the baseline, paired by seed: the mean over seeds of
 * relativeImprovement(baseline[seed], candidate[seed]). Both arrays hold one value per seed in the same
 * order; a seed with a missing value on either side (a failed run) is left out of the pairing.
 */
export function pairedImprovement(
  baseline: ReadonlyArray<number | undefined>,
  candidate: ReadonlyArray<number | undefined>,
  goal: MetricGoal,
): number | undefined {
  if (baseline.length !== candidate.length) {
    throw new Error(
      `paired evaluation needs one value per seed on both sides (${baseline.length} vs ${candidate.length})`,
    );
  }
  const diffs: number[] = [];
  for (let i = 0; i < baseline.length; i++) {
    const b = baseline[i];
    const c = candidate[i];
    if (b === undefined || c === undefined || !Number.isFinite(b) || !Number.isFinite(c)) continue;
    diffs.push(relativeImprovement(b, c, goal));
  }
  return diffs.length > 0 ? mean(diffs) : undefined;
}

/**
 * GPU-hours after which the chosen-best trajectory first reaches `target` (improvement >= target), or
 * undefined when it never does. Before the first point the pick is the baseline (improvement 0), so a
 * target of 0 or less is reached at 0 GPU-hours.
 */
export function hoursToReach(points: readonly TrajectoryPoint[], target: number): number | undefined {
  if (target <= 0) return 0;
  const sorted = [...points].sort((a, b) => a.gpuHours - b.gpuHours);
  for (const p of sorted) if (p.improvement >= target) return p.gpuHours;
  return undefined;
}

/** The trajectory as a step function: the improvement of the pick after `hours` of search. */
export function improvementAt(points: readonly TrajectoryPoint[], hours: number): number {
  let v = 0;
  for (const p of [...points].sort((a, b) => a.gpuHours - b.gpuHours)) {
    if (p.gpuHours > hours + 1e-15) break;
    v = p.improvement;
  }
  return v;
}

export interface Spread {
  n: number;
  median: number;
  q1: number;
  q3: number;
  min: number;
  max: number;
}

/**
 * Median, quartiles and range. "Never reached" counts as +Infinity (it is the worst outcome, and leaving it
 * out would flatter the strategy), so a median can be Infinity: it then reads "not reached".
 */
export function spread(values: ReadonlyArray<number | undefined>): Spread {
  const xs = values.map((v) => (v === undefined ? Number.POSITIVE_INFINITY : v));
  const q = (p: number) => (xs.length === 0 ? Number.NaN : quantileInf(xs, p));
  return {
    n: xs.length,
    median: q(0.5),
    q1: q(0.25),
    q3: q(0.75),
    min: xs.length ? Math.min(...xs) : Number.NaN,
    max: xs.length ? Math.max(...xs) : Number.NaN,
  };
}

/** quantile() that keeps +Infinity meaningful (interpolating between a number and Infinity gives Infinity). */
function quantileInf(xs: readonly number[], p: number): number {
  const finite = xs.every(Number.isFinite);
  if (finite) return quantile(xs, p);
  const sorted = [...xs].sort((a, b) => a - b);
  const h = (sorted.length - 1) * p;
  const lo = sorted[Math.floor(h)]!;
  const hi = sorted[Math.ceil(h)]!;
  if (lo === hi) return lo;
  if (!Number.isFinite(hi)) return h === Math.floor(h) ? lo : Number.POSITIVE_INFINITY;
  return lo + (h - Math.floor(h)) * (hi - lo);
}

/** Median of per-seed step functions at each grid point: the line a chart draws for one strategy. */
export function medianCurve(
  trajectories: ReadonlyArray<readonly TrajectoryPoint[]>,
  grid: readonly number[],
): number[] {
  return grid.map((h) =>
    quantile(
      trajectories.map((t) => improvementAt(t, h)),
      0.5,
    ),
  );
}
