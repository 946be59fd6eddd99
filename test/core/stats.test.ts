import { describe, expect, it } from 'vitest';
import { estimateRun, overheadGpuHours } from '../../src/core/costs.ts';
import { fromJsonSafe, toJsonSafe } from '../../src/core/serialize.ts';
import {
  estimateEffect,
  noiseFromReplicas,
  poolNoise,
  quantile,
  relativeImprovement,
  tCritical95,
} from '../../src/core/stats.ts';
import { testSpec } from '../helpers/fixtures.ts';

// Hand-computed values for the statistics and the cost model.

describe('statistics', () => {
  it('computes a paired effect with a t interval', () => {
    // diffs 0.01, 0.02, 0.03: mean 0.02, sd 0.01, se 0.01/sqrt(3) = 0.005774, t(2) = 4.303.
    const e = estimateEffect([0.01, 0.02, 0.03]);
    expect(e.mean).toBeCloseTo(0.02, 12);
    expect(e.se).toBeCloseTo(0.005774, 6);
    expect(e.lo).toBeCloseTo(0.02 - 4.303 * 0.0057735, 5);
    expect(e.hi).toBeCloseTo(0.02 + 4.303 * 0.0057735, 5);
    expect(e.df).toBe(2);
  });

  it('pools its own spread with a prior by degrees of freedom', () => {
    // own sd 0.01 (df 2), prior sd 0.02 (df 6): pooled sqrt((0.0001*2 + 0.0004*6)/8) = 0.018028.
    const e = estimateEffect([0.01, 0.02, 0.03], { sd: 0.02, df: 6 });
    expect(e.df).toBe(8);
    expect(e.se).toBeCloseTo(0.018028 / Math.sqrt(3), 6);
    expect(
      poolNoise([
        { sd: 0.01, df: 2 },
        { sd: 0.02, df: 6 },
      ])!.sd,
    ).toBeCloseTo(0.018028, 6);
  });

  it('with one pair and no prior, admits it knows nothing about the noise', () => {
    const e = estimateEffect([0.05]);
    expect(e.se).toBe(Number.POSITIVE_INFINITY);
    expect(e.lo).toBe(Number.NEGATIVE_INFINITY);
  });

  it('turns baseline replicas into the noise of a paired difference', () => {
    // values 0.80, 0.81, 0.79: sd 0.01, mean 0.80, relative 0.0125, times sqrt 2 for a difference.
    const n = noiseFromReplicas([0.8, 0.81, 0.79])!;
    expect(n.sd).toBeCloseTo(0.0125 * Math.SQRT2, 6);
    expect(n.df).toBe(2);
  });

  it('measures improvement in the direction of the goal', () => {
    expect(relativeImprovement(0.8, 0.76, 'minimize')).toBeCloseTo(0.05, 12);
    expect(relativeImprovement(0.7, 0.77, 'maximize')).toBeCloseTo(0.1, 12);
  });

  it('has the t table and type-7 quantiles right', () => {
    expect(tCritical95(1)).toBe(12.706);
    expect(tCritical95(30)).toBe(2.042);
    expect(tCritical95(120)).toBeCloseTo(1.98, 2);
    expect(quantile([1, 2, 3, 4], 0.9)).toBeCloseTo(3.7, 12);
  });

  it('carries NaN and infinities through JSON', () => {
    const v = { a: Number.NaN, b: [Number.POSITIVE_INFINITY, -Infinity, 1], c: 'x' };
    const back = fromJsonSafe<typeof v>(JSON.parse(JSON.stringify(toJsonSafe(v))));
    expect(back.a).toBeNaN();
    expect(back.b).toEqual([Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 1]);
    expect(back.c).toBe('x');
  });
});

describe('cost estimates', () => {
  const spec = testSpec({ baselineGpuHours: 16 });
  const run = {
    command: 'python train.py',
    workflow: 'rea-experiment.yml',
    runner_labels: ['self-hosted', 'gpu'],
    gpus: 1,
    usd_per_gpu_hour: 2.5,
    timeout_minutes: 720,
    baseline_gpu_hours: 16,
  };

  it('falls back to baseline_gpu_hours x fidelity with headroom', () => {
    expect(estimateRun([], 0.1, spec)).toEqual({ p50: 1.6, p90: 1.6 * 1.5 });
  });

  it('uses median and p90 of runs measured at the same fidelity', () => {
    const s = [10, 12, 14, 30].map((g) => ({ gpuHours: g, fidelity: 1 }));
    const e = estimateRun(s, 1, spec);
    expect(e.p50).toBe(13);
    expect(e.p90).toBeCloseTo(quantile([10, 12, 14, 30], 0.9), 12);
  });

  it('learns a fixed overhead from runs at two fidelities', () => {
    // Exactly 2 + 10 x fidelity: the fit recovers both, so fidelity 0.3 costs 5, not 3.
    const s = [0.1, 0.1, 1, 1].map((f) => ({ gpuHours: 2 + 10 * f, fidelity: f }));
    const e = estimateRun(s, 0.3, spec);
    expect(e.p50).toBeCloseTo(5, 9);
    expect(e.p90).toBeCloseTo(5, 9);
  });

  it('starts from the overhead prior: a fixed part paid at any fidelity, a full run still baseline_gpu_hours', () => {
    // 8 GPUs for 15 minutes of start-up is 2 GPU-h of the 16: fidelity 0.1 costs 2 + 14 x 0.1.
    const withOverhead = testSpec({ baselineGpuHours: 16, overheadGpuHours: 2 });
    expect(estimateRun([], 0.1, withOverhead).p50).toBeCloseTo(3.4, 12);
    expect(estimateRun([], 1, withOverhead).p50).toBeCloseTo(16, 12);
    expect(overheadGpuHours({ ...run, gpus: 8, overhead_minutes: 15 })).toBeCloseTo(2, 12);
  });

  it('defaults the overhead to 3 minutes of the runner, or a tenth of a full run if that is shorter', () => {
    expect(overheadGpuHours({ ...run, gpus: 8 })).toBeCloseTo(0.4, 12);
    expect(overheadGpuHours({ ...run, gpus: 1, baseline_gpu_hours: 0.2 })).toBeCloseTo(0.02, 12);
  });

  it('moves a single measured level along the declared slope', () => {
    // Measured 2.6 at 0.1 with slope 16: overhead 1.0, so fidelity 1 costs 17.
    const e = estimateRun([{ gpuHours: 2.6, fidelity: 0.1 }], 1, spec);
    expect(e.p50).toBeCloseTo(17, 9);
    expect(e.p90).toBeCloseTo(17 * 1.5, 9);
  });
});
