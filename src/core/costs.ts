import type { ReaConfig } from './contract.ts';
import type { CostSample, GpuEstimate, PhaseEstimate, PlanEstimate, PlanSpec } from './model.ts';
import { mean, median, quantile } from './stats.ts';

// Cost of a run = a fixed part + a part proportional to fidelity (DESIGN section 6, issue 21). The fixed part
// is what a run pays whatever the fraction of data: the runner picking the job up, checkout, start-up, data
// loading and evaluation. When it dominates, a run at fidelity 0.1 costs nearly what a full run costs, and a
// plan priced as `baseline_gpu_hours` x fidelity cannot pay for the screen it laid out. So the estimate, in
// order of preference:
//   1. three or more measured runs at this very fidelity: their median and p90;
//   2. measured runs at two or more fidelities: a least-squares line gpuHours = a + b x fidelity, with
//      the p90 scaled by how far measured runs sat above the line;
//   3. measured runs at one fidelity: that level, moved along the prior's slope to the fidelity asked (what
//      the prior did not foresee is taken to be fixed: start-up is what surprises people, not the GPU);
//   4. nothing measured: the prior, `overhead + (baseline_gpu_hours - overhead) x fidelity`, where the
//      overhead comes from `run.overhead_minutes`.
// Measured runs are pooled across the model's plans (the store hands the latest ones to each new plan).

/** Default overhead of a run on a self-hosted runner: pick-up, checkout, start-up, data loading, evaluation. */
export const DEFAULT_OVERHEAD_MINUTES = 3;
/** Without `run.overhead_minutes`, the default overhead is at most this share of a full run. */
const DEFAULT_OVERHEAD_SHARE = 0.1;

/** The fixed part of a run's cost in GPU-hours, from `.rea.yml`'s run section. */
export function overheadGpuHours(run: ReaConfig['run']): number {
  if (run.overhead_minutes !== undefined)
    return Math.min(run.baseline_gpu_hours, (run.overhead_minutes / 60) * run.gpus);
  return Math.min(
    (DEFAULT_OVERHEAD_MINUTES / 60) * run.gpus,
    DEFAULT_OVERHEAD_SHARE * run.baseline_gpu_hours,
  );
}

/** The cost prior before anything is measured: fixed part and slope, a full run costing `baselineGpuHours`. */
export function costPrior(spec: PlanSpec): { fixed: number; slope: number } {
  const fixed = Math.min(spec.baselineGpuHours, Math.max(0, spec.overheadGpuHours ?? 0));
  return { fixed, slope: spec.baselineGpuHours - fixed };
}

/** Below this many samples at one fidelity, their p90 is not trusted. */
const MIN_SAMPLES = 3;
/** Without enough history the p90 is the p50 with this much headroom. */
const FALLBACK_P90_FACTOR = 1.5;

const same = (a: number, b: number) => Math.abs(a - b) < 1e-9;

function headroom(samples: readonly CostSample[], fitted: (f: number) => number): number {
  if (samples.length < MIN_SAMPLES) return FALLBACK_P90_FACTOR;
  const ratios = samples.map((s) => s.gpuHours / Math.max(1e-12, fitted(s.fidelity)));
  return Math.max(1, quantile(ratios, 0.9));
}

export function estimateRun(samples: readonly CostSample[], fidelity: number, spec: PlanSpec): GpuEstimate {
  const here = samples.filter((s) => same(s.fidelity, fidelity)).map((s) => s.gpuHours);
  if (here.length >= MIN_SAMPLES) {
    const p50 = median(here);
    return { p50, p90: Math.max(p50, quantile(here, 0.9)) };
  }
  const { fixed, slope } = costPrior(spec);
  if (samples.length === 0) {
    const p50 = fixed + slope * fidelity;
    return { p50, p90: p50 * FALLBACK_P90_FACTOR };
  }
  const fids = [...new Set(samples.map((s) => s.fidelity))];
  let line: (f: number) => number;
  if (fids.length >= 2) {
    const mf = mean(samples.map((s) => s.fidelity));
    const mg = mean(samples.map((s) => s.gpuHours));
    let sxy = 0;
    let sxx = 0;
    for (const s of samples) {
      sxy += (s.fidelity - mf) * (s.gpuHours - mg);
      sxx += (s.fidelity - mf) ** 2;
    }
    const b = Math.max(0, sxy / sxx);
    const a = Math.max(0, mg - b * mf);
    line = (f) => a + b * f;
  } else {
    const f0 = fids[0]!;
    const level = median(samples.map((s) => s.gpuHours));
    const a = Math.max(0, level - slope * f0);
    line = (f) => a + slope * f;
  }
  const p50 = Math.max(line(fidelity), 1e-12);
  return { p50, p90: p50 * headroom(samples, line) };
}

export function usd(gpuHours: number, spec: PlanSpec): number {
  return gpuHours * spec.usdPerGpuHour;
}

export interface PhaseRunCount {
  name: PhaseEstimate['name'];
  fidelity: number;
  seeds: number;
  /** Runs at this phase's fidelity. */
  runs: number;
  /** Runs of this phase at another fidelity (exploitation's refinement runs at combination fidelity). */
  extra?: { runs: number; fidelity: number };
}

/**
 * Sums per-run estimates. The p90 of a sum is taken as the sum of p90s: an upper bound that stays
 * honest when run durations are correlated (they usually are: one slow runner slows them all).
 */
export function estimatePlan(
  counts: readonly PhaseRunCount[],
  samples: readonly CostSample[],
  spec: PlanSpec,
): PlanEstimate {
  const phases = counts.map((c): PhaseEstimate => {
    const one = estimateRun(samples, c.fidelity, spec);
    const extra = c.extra ? estimateRun(samples, c.extra.fidelity, spec) : { p50: 0, p90: 0 };
    const extraRuns = c.extra?.runs ?? 0;
    const p50 = one.p50 * c.runs + extra.p50 * extraRuns;
    const p90 = one.p90 * c.runs + extra.p90 * extraRuns;
    return {
      name: c.name,
      runs: c.runs + extraRuns,
      fidelity: c.fidelity,
      seeds: c.seeds,
      gpuHoursP50: p50,
      gpuHoursP90: p90,
      usdP50: usd(p50, spec),
      usdP90: usd(p90, spec),
    };
  });
  const gpuHoursP50 = phases.reduce((s, p) => s + p.gpuHoursP50, 0);
  const gpuHoursP90 = phases.reduce((s, p) => s + p.gpuHoursP90, 0);
  return { phases, gpuHoursP50, gpuHoursP90, usdP50: usd(gpuHoursP50, spec), usdP90: usd(gpuHoursP90, spec) };
}
