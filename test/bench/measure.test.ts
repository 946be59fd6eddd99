import { describe, expect, it } from 'vitest';
import {
  chargeFor,
  FRESH_SEED_BASE,
  freshSeeds,
  hoursToReach,
  improvementAt,
  medianCurve,
  pairedImprovement,
  spread,
} from '../../src/bench/measure.ts';

describe('chargeFor', () => {
  it('charges fidelity times the full-run GPU-hours, whatever the configuration', () => {
    expect(chargeFor(1, 16)).toBe(16);
    expect(chargeFor(0.1, 16)).toBeCloseTo(1.6, 12);
  });
});

describe('pairedImprovement', () => {
  it('pairs by seed and averages the relative improvements (minimize)', () => {
    // seed 1: (1.0 - 0.9)/1.0 = 10%; seed 2: (2.0 - 1.9)/2.0 = 5%
    expect(pairedImprovement([1.0, 2.0], [0.9, 1.9], 'minimize')).toBeCloseTo(0.075, 12);
  });
  it('is not the ratio of means: pairing matters', () => {
    const unpaired = (2.0 + 1.0 - (1.9 + 0.9)) / 3.0;
    const paired = pairedImprovement([1.0, 2.0], [0.9, 1.9], 'minimize')!;
    expect(Math.abs(paired - unpaired)).toBeGreaterThan(1e-3);
  });
  it('flips the sign for a metric to maximize', () => {
    expect(pairedImprovement([0.5, 0.5], [0.55, 0.6], 'maximize')).toBeCloseTo(0.15, 12);
    expect(pairedImprovement([0.5, 0.5], [0.55, 0.6], 'minimize')).toBeCloseTo(-0.15, 12);
  });
  it('leaves out a seed where either side failed, and gives undefined when nothing pairs', () => {
    expect(pairedImprovement([1, undefined, 1], [0.5, 0.9, undefined], 'minimize')).toBeCloseTo(0.5, 12);
    expect(pairedImprovement([undefined], [1], 'minimize')).toBeUndefined();
  });
  it('refuses arrays of different lengths (a pairing bug, not data)', () => {
    expect(() => pairedImprovement([1, 2], [1], 'minimize')).toThrow(/one value per seed/);
  });
  it('evaluates on seeds no search uses', () => {
    expect(freshSeeds(3)).toEqual([FRESH_SEED_BASE, FRESH_SEED_BASE + 1, FRESH_SEED_BASE + 2]);
  });
});

describe('hoursToReach', () => {
  const traj = [
    { gpuHours: 1, improvement: 0 },
    { gpuHours: 2, improvement: 0.04 },
    { gpuHours: 3, improvement: 0.03 },
    { gpuHours: 5, improvement: 0.1 },
  ];
  it('is the first GPU-hours where the pick reaches the target', () => {
    expect(hoursToReach(traj, 0.05)).toBe(5);
    expect(hoursToReach(traj, 0.04)).toBe(2);
    expect(hoursToReach(traj, 0.035)).toBe(2);
  });
  it('is undefined when never reached, and 0 for a target of zero (the baseline is free)', () => {
    expect(hoursToReach(traj, 0.11)).toBeUndefined();
    expect(hoursToReach(traj, 0)).toBe(0);
  });
  it('does not depend on the order points come in', () => {
    expect(hoursToReach([...traj].reverse(), 0.04)).toBe(2);
  });
  it('improvementAt is the step function of the pick', () => {
    expect(improvementAt(traj, 0.5)).toBe(0);
    expect(improvementAt(traj, 2)).toBe(0.04);
    expect(improvementAt(traj, 4.9)).toBe(0.03);
    expect(improvementAt(traj, 100)).toBe(0.1);
  });
  it('medianCurve takes the median over seeds at each grid point', () => {
    const a = [{ gpuHours: 1, improvement: 0.1 }];
    const b = [{ gpuHours: 2, improvement: 0.2 }];
    const c = [{ gpuHours: 3, improvement: 0.3 }];
    expect(medianCurve([a, b, c], [0, 1, 2, 3])).toEqual([0, 0, 0.1, 0.2]);
  });
});

describe('spread', () => {
  it('gives median, quartiles and range', () => {
    const s = spread([1, 2, 3, 4, 5]);
    expect(s).toEqual({ n: 5, median: 3, q1: 2, q3: 4, min: 1, max: 5 });
  });
  it('counts never-reached as infinite rather than leaving it out', () => {
    const s = spread([1, undefined, undefined]);
    expect(s.median).toBe(Number.POSITIVE_INFINITY);
    expect(s.min).toBe(1);
    expect(spread([1, 2, undefined]).median).toBe(2);
    expect(spread([1, 2, 3, undefined]).median).toBe(2.5);
    expect(spread([1, 2, undefined, undefined]).median).toBe(Number.POSITIVE_INFINITY);
  });
});
