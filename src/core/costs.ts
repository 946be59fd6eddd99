import type { GpuEstimate, PhaseEstimate, PlanEstimate, PlanSpec } from './model.ts';
import { median, quantile } from './stats.ts';

// Cost of a run = GPU-hours at fidelity 1 x fidelity, where GPU-hours at fidelity 1 come from this
// model's measured history once there is enough of it, and from `baseline_gpu_hours` before that.

/** Samples below this count are too few to trust a p90; the declared baseline cost is used instead. */
const MIN_SAMPLES = 3;
/** Without history the p90 is the declared cost with this much headroom. */
const FALLBACK_P90_FACTOR = 1.5;

export function estimateRun(samples: readonly number[], fidelity: number, spec: PlanSpec): GpuEstimate {
  if (samples.length >= MIN_SAMPLES) {
    const p50 = median(samples) * fidelity;
    const p90 = Math.max(p50, quantile(samples, 0.9) * fidelity);
    return { p50, p90 };
  }
  const p50 = spec.baselineGpuHours * fidelity;
  const seen = samples.length > 0 ? Math.max(...samples) * fidelity : 0;
  return { p50, p90: Math.max(p50 * FALLBACK_P90_FACTOR, seen) };
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
  samples: readonly number[],
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
