import { describe, expect, it } from 'vitest';
import type { KnobValues } from '../../src/config/rea-config.ts';
import { proposeFromInsights } from '../../src/core/hypotheses.ts';
import { computeInsights } from '../../src/core/insights.ts';
import { overridesKey } from '../../src/core/knobs.ts';
import type {
  Candidate,
  GithubOrigin,
  Hypothesis,
  InsightRow,
  PlanState,
  Run,
  StepName,
  Verdict,
  VerdictKind,
} from '../../src/core/model.ts';
import { BASELINE_ID, createPlan } from '../../src/core/plan.ts';
import { testBaseline, testSpec } from '../helpers/fixtures.ts';

// Insight estimates on fixed run logs, checked against values worked out by hand (the arithmetic is in
// the comments). The fixture's fidelities are validation 0.1, combination 0.3; the metric is NE
// (minimised), so a relative improvement is (baseline - candidate) / baseline, paired on the seed.

interface Measured {
  seed: number;
  ne?: number;
  qps?: number;
  /** A failed run with this outcome. */
  failed?: string;
}

interface Change {
  id: string;
  overrides: KnobValues;
  step: StepName;
  fidelity: number;
  runs: Measured[];
  verdict: VerdictKind;
  reason?: string;
  rationale?: string;
  kind?: 'config' | 'code';
  patch?: string;
}

function run(
  id: string,
  candidateId: string,
  step: StepName,
  fidelity: number,
  m: Measured,
  overrides: KnobValues,
): Run {
  return {
    id,
    phase: step === 'validation' ? 'validation' : 'combination',
    step,
    candidateId,
    role: candidateId === BASELINE_ID ? 'baseline' : 'candidate',
    overrides,
    fidelity,
    seed: m.seed,
    status: m.failed ? 'failed' : 'succeeded',
    attempts: [],
    maxAttempts: 2,
    estimate: { p50: 1, p90: 2 },
    ...(m.failed ? { outcome: m.failed } : { metrics: { ne: m.ne!, qps: m.qps ?? 1000 } }),
  };
}

/** A plan whose log is exactly the given baseline runs and changes (one hypothesis per change). */
function plan(args: {
  id: string;
  createdAt: string;
  baseline?: KnobValues;
  /** Baseline NE per fidelity and seed. */
  base: Record<number, Array<[number, number]>>;
  changes: Change[];
  origin?: GithubOrigin;
  status?: PlanState['status'];
}): PlanState {
  const { state } = createPlan({
    id: args.id,
    goal: 'g',
    spec: testSpec(),
    baseline: args.baseline ?? testBaseline,
    hypotheses: [],
    rejected: [],
    costSamples: [],
    noisePriors: [],
    seedBase: 1,
    now: args.createdAt,
  });
  const runs: Run[] = [];
  const rid = () => `r${runs.length + 1}`;
  for (const [fidelity, seeds] of Object.entries(args.base)) {
    for (const [seed, ne] of seeds) {
      runs.push(
        run(
          rid(),
          BASELINE_ID,
          Number(fidelity) === 0.1 ? 'validation' : 'combination',
          Number(fidelity),
          { seed, ne },
          {},
        ),
      );
    }
  }
  const hypotheses: Hypothesis[] = [];
  const candidates: Candidate[] = [
    { id: BASELINE_ID, step: 'validation', label: 'baseline', hypothesisIds: [], overrides: {} },
  ];
  const verdicts: Verdict[] = [];
  for (const c of args.changes) {
    const hid = `h-${c.id}`;
    hypotheses.push({
      id: hid,
      title: c.id,
      rationale: c.rationale ?? '',
      source: 'research',
      agent: 'offline',
      kind: c.kind ?? 'config',
      overrides: c.overrides,
      ...(c.patch ? { patch: c.patch, files: ['src/model.ts'] } : {}),
      expectedEffect: 0.01,
      risk: 'low',
      evidence: [],
    });
    candidates.push({ id: c.id, step: c.step, label: c.id, hypothesisIds: [hid], overrides: c.overrides });
    for (const m of c.runs) runs.push(run(rid(), c.id, c.step, c.fidelity, m, c.overrides));
    verdicts.push({
      candidateId: c.id,
      step: c.step,
      fidelity: c.fidelity,
      relEffect: 0,
      se: 0,
      lo: 0,
      hi: 0,
      n: c.runs.length,
      verdict: c.verdict,
      reason: c.reason ?? c.verdict,
    });
  }
  return {
    ...state,
    status: args.status ?? 'completed',
    createdAt: args.createdAt,
    ...(args.origin ? { origin: args.origin } : {}),
    hypotheses,
    candidates,
    runs,
    verdicts,
  };
}

const ORIGIN: GithubOrigin = {
  kind: 'github',
  owner: 'acme',
  repo: 'ranker',
  installationId: 1,
  baseRef: 'main',
  baseSha: 'abc',
  requestedBy: 'alice',
  pr: 12,
};

// Plan A: baseline NE at fidelity 0.3 is 0.500 (seed 1) and 0.505 (seed 2).
//   crosses 0.490, 0.48985   -> (0.500-0.490)/0.500 = 0.02; (0.505-0.48985)/0.505 = 0.01515/0.505 = 0.03
//   adam    0.510, 0.52015   -> -0.02; (0.505-0.52015)/0.505 = -0.03
//   lr 0.9 at fidelity 0.1 diverged (baseline at 0.1: 0.6 on seed 1).
const planA = () =>
  plan({
    id: 'pa',
    createdAt: '2026-11-02T09:00:00.000Z',
    origin: ORIGIN,
    base: {
      0.1: [[1, 0.6]],
      0.3: [
        [1, 0.5],
        [2, 0.505],
      ],
    },
    changes: [
      {
        id: 'crosses',
        overrides: { feature_crosses: true },
        step: 'combination',
        fidelity: 0.3,
        runs: [
          { seed: 1, ne: 0.49 },
          { seed: 2, ne: 0.48985 },
        ],
        verdict: 'pass',
        rationale: 'Crosses capture user-by-ad interactions.',
      },
      {
        id: 'adam',
        overrides: { optimizer: 'adam' },
        step: 'combination',
        fidelity: 0.3,
        runs: [
          { seed: 1, ne: 0.51 },
          { seed: 2, ne: 0.52015 },
        ],
        verdict: 'fail',
      },
      {
        id: 'lr-x30',
        overrides: { learning_rate: 0.9 },
        step: 'validation',
        fidelity: 0.1,
        runs: [{ seed: 1, failed: 'loss is nan at step 120' }],
        verdict: 'infeasible',
        reason: 'loss is nan at step 120',
      },
    ],
  });

// Plan B, other seeds: baseline at 0.3 is 0.400 (seed 10001) and 0.404 (seed 10002).
//   crosses 0.396, 0.39188   -> 0.004/0.4 = 0.01; 0.01212/0.404 = 0.03
//   emb 16  0.3996, 0.404404 -> +0.001; -0.000404/0.404 = -0.001
//   batch 256 improves NE but its QPS (850) breaks the guardrail (min 900): vetoed.
const planB = () =>
  plan({
    id: 'pb',
    createdAt: '2026-11-09T09:00:00.000Z',
    base: {
      0.3: [
        [10_001, 0.4],
        [10_002, 0.404],
      ],
    },
    changes: [
      {
        id: 'crosses',
        overrides: { feature_crosses: true },
        step: 'combination',
        fidelity: 0.3,
        runs: [
          { seed: 10_001, ne: 0.396 },
          { seed: 10_002, ne: 0.39188 },
        ],
        verdict: 'pass',
        rationale: 'Feature crosses helped the sibling ranker.',
      },
      {
        id: 'emb16',
        overrides: { embedding_dim: 16 },
        step: 'combination',
        fidelity: 0.3,
        runs: [
          { seed: 10_001, ne: 0.3996 },
          { seed: 10_002, ne: 0.404404 },
        ],
        verdict: 'near',
      },
      {
        id: 'b256',
        overrides: { batch_size: 256 },
        step: 'combination',
        fidelity: 0.3,
        runs: [
          { seed: 10_001, ne: 0.39, qps: 850 },
          { seed: 10_002, ne: 0.394, qps: 850 },
        ],
        verdict: 'veto',
        reason: 'guardrail qps 850 is below 900',
      },
    ],
  });

function row(
  rows: InsightRow[],
  overrides: KnobValues,
  fidelity: number,
  baseline = testBaseline,
): InsightRow {
  const r = rows.find(
    (x) =>
      x.changeKey === overridesKey(overrides) &&
      x.fidelity === fidelity &&
      x.baselineKey === overridesKey(baseline),
  );
  if (!r) throw new Error(`no row for ${JSON.stringify(overrides)} at ${fidelity}`);
  return r;
}

const NOW = '2026-11-10T00:00:00.000Z';
const opts = { reportPath: (id: string) => `/data/reports/${id}.md` };

describe('insight estimates on fixed run logs (hand-computed)', () => {
  it('pools two plans, each difference paired with its own plan baseline', () => {
    const rows = computeInsights([planA(), planB()], NOW, opts);
    const r = row(rows, { feature_crosses: true }, 0.3);
    // Diffs 0.02, 0.03 (plan A) and 0.01, 0.03 (plan B): mean 0.09 / 4 = 0.0225.
    expect(r.nRuns).toBe(4);
    expect(r.nPlans).toBe(2);
    expect(r.meanEffect).toBeCloseTo(0.0225, 10);
    expect(r.sum).toBeCloseTo(0.09, 10);
    expect(r.sumSq).toBeCloseTo(0.0004 + 0.0009 + 0.0001 + 0.0009, 10);
    // Noise: the diffs' own squares about the mean, 0.0025^2+0.0075^2+0.0125^2+0.0075^2 = 2.75e-4 (df 3),
    // pooled with each plan's baseline replicas once: sqrt(2) * sd / mean = 0.005/0.5025 and 0.004/0.402,
    // both 0.00995025 (df 1 each), so 2 * 0.00995025^2 = 1.98015e-4 (df 2). Pooled sd = sqrt(4.73015e-4 / 5)
    // = 0.00972641; se = sd / sqrt(4) = 0.00486320; t(5) = 2.571; half-width 0.01250330.
    expect(r.lo).toBeCloseTo(0.0099967, 6);
    expect(r.hi).toBeCloseTo(0.0350033, 6);
    expect(r.status).toBe('win');
    expect(r.reason).toBe('better than baseline in 4 paired runs');
    expect(r.planIds).toEqual(['pa', 'pb']);
    expect(r.runIds).toHaveLength(4);
    // Why it was tried, from both plans' hypotheses; and where the evidence lives.
    expect(r.rationale).toContain('Crosses capture user-by-ad interactions.');
    expect(r.rationale).toContain('Feature crosses helped the sibling ranker.');
    expect(r.links).toEqual([
      'https://github.com/acme/ranker/pull/12',
      '/data/reports/pa.md',
      '/data/reports/pb.md',
    ]);
    expect(r.title).toBe('feature_crosses false -> true');
  });

  it("counts each plan's baseline replicas once, even when a later plan carries them as its prior", () => {
    // Plan B was made with plan A's noise as its prior (as requestPlan does); pooling both plans must not
    // count plan A's replicas twice (that would claim df 6 and a narrower interval).
    const b = { ...planB(), noisePriors: [{ fidelity: 0.3, sd: 0.005 / 0.5025, df: 1 }] };
    const r = row(computeInsights([planA(), b], NOW), { feature_crosses: true }, 0.3);
    expect(r.lo).toBeCloseTo(0.0099967, 6);
    expect(r.hi).toBeCloseTo(0.0350033, 6);
  });

  it('keeps a negative result, with its interval', () => {
    const r = row(computeInsights([planA(), planB()], NOW), { optimizer: 'adam' }, 0.3);
    // Diffs -0.02, -0.03: mean -0.025, own ss 2 * 0.005^2 = 5e-5 (df 1), with the replicas' 1.98015e-4
    // (df 2): sd = sqrt(2.48015e-4 / 3) = 0.00909240, se = sd / sqrt(2) = 0.00642930, t(3) = 3.182.
    expect(r.meanEffect).toBeCloseTo(-0.025, 10);
    expect(r.lo).toBeCloseTo(-0.045458, 6);
    expect(r.hi).toBeCloseTo(-0.004542, 6);
    expect(r.status).toBe('loss');
    expect(r.reason).toBe('worse than baseline in 2 paired runs');
  });

  it('keeps a null result', () => {
    const r = row(computeInsights([planA(), planB()], NOW), { embedding_dim: 16 }, 0.3);
    expect(r.meanEffect).toBeCloseTo(0, 10);
    expect(r.lo).toBeLessThan(0);
    expect(r.hi).toBeGreaterThan(0);
    expect(r.status).toBe('null');
    expect(r.nPlans).toBe(1);
  });

  it('records an infeasible change with the failure reason, and a veto as a loss with its reason', () => {
    const rows = computeInsights([planA(), planB()], NOW);
    const nan = row(rows, { learning_rate: 0.9 }, 0.1);
    expect(nan.status).toBe('infeasible');
    expect(nan.nRuns).toBe(0);
    expect(nan.reason).toMatch(/^loss is nan at step 120 \(plan pa, run r\d+\)$/);
    expect([nan.meanEffect, nan.lo, nan.hi]).toEqual([0, 0, 0]);
    const veto = row(rows, { batch_size: 256 }, 0.3);
    // It did improve NE ((0.4-0.39)/0.4 = 0.025, (0.404-0.394)/0.404 = 0.024752), but broke a guardrail.
    expect(veto.meanEffect).toBeCloseTo((0.025 + 0.01 / 0.404) / 2, 10);
    expect(veto.status).toBe('loss');
    expect(veto.reason).toBe('vetoed: guardrail qps 850 is below 900 (plan pb)');
  });

  it('starts a new reference after a promotion: two baselines, two rows', () => {
    const promoted: KnobValues = { ...testBaseline, learning_rate: 0.05 };
    // Plan C runs on the promoted baseline: 0.450 / 0.460 at 0.3; crosses 0.44775 / 0.4577 -> 0.005, 0.005.
    const planC = plan({
      id: 'pc',
      createdAt: '2026-11-16T09:00:00.000Z',
      baseline: promoted,
      base: {
        0.3: [
          [20_001, 0.45],
          [20_002, 0.46],
        ],
      },
      changes: [
        {
          id: 'crosses',
          overrides: { feature_crosses: true },
          step: 'combination',
          fidelity: 0.3,
          runs: [
            { seed: 20_001, ne: 0.44775 },
            { seed: 20_002, ne: 0.4577 },
          ],
          verdict: 'near',
        },
      ],
    });
    const rows = computeInsights([planA(), planB(), planC], NOW);
    const old = row(rows, { feature_crosses: true }, 0.3);
    const fresh = row(rows, { feature_crosses: true }, 0.3, promoted);
    // The old reference is untouched by plan C; the new one holds only plan C's pairs.
    expect(old.meanEffect).toBeCloseTo(0.0225, 10);
    expect(old.nRuns).toBe(4);
    expect(fresh.planIds).toEqual(['pc']);
    expect(fresh.nRuns).toBe(2);
    expect(fresh.meanEffect).toBeCloseTo(0.005, 10);
    // Own spread 0 (df 1) with plan C's replicas only: sqrt(2) sd / mean = 0.01 / 0.455 = 0.021978 (df 1);
    // pooled sd = sqrt(0.021978^2 / 2) = 0.015541, se = 0.010989, t(2) = 4.303: interval includes zero.
    expect(fresh.lo).toBeCloseTo(0.005 - 4.303 * 0.010989, 5);
    expect(fresh.status).toBe('null');

    // Proposals read only the current baseline's wins; the win against the old baseline is not re-proposed,
    // but what could not run before stays suppressed, citing the insight.
    const args = { model: 'ctr-ranker', rows, knobs: testSpec().knobs };
    const before = proposeFromInsights({ ...args, baseline: testBaseline });
    expect(before.hypotheses.map((h) => h.overrides)).toContainEqual({ feature_crosses: true });
    const win = before.hypotheses.find((h) => h.overrides.feature_crosses === true)!;
    expect(win.evidence[0]).toBe(
      'insight "feature_crosses false -> true" (win at fidelity 0.3): +2.25% [+1.00%, +3.50%], 4 runs, plans pa, pb',
    );
    const after = proposeFromInsights({ ...args, baseline: promoted });
    expect(after.hypotheses.map((h) => h.overrides)).not.toContainEqual({ feature_crosses: true });
    expect(after.suppressed.get(overridesKey({ learning_rate: 0.9 }))).toMatch(
      /^failed before \(against an earlier baseline\): loss is nan at step 120 .*insight "learning_rate 0.03 -> 0.9"/,
    );
    // A loss is relative to its baseline: adam lost against the old one, which says little about the new.
    expect(after.suppressed.has(overridesKey({ optimizer: 'adam' }))).toBe(false);
    expect(before.suppressed.get(overridesKey({ optimizer: 'adam' }))).toMatch(/^worse than baseline before/);
  });

  it('calls a change that ran without a comparable baseline run unmeasured, not a failure', () => {
    const p = plan({
      id: 'pd',
      createdAt: '2026-11-03T09:00:00.000Z',
      // The baseline run of seed 2 failed, so the candidate's seed-2 run has nothing to be paired with.
      base: { 0.3: [[1, 0.5]] },
      changes: [
        {
          id: 'l2',
          overrides: { embedding_dim: 32 },
          step: 'combination',
          fidelity: 0.3,
          runs: [{ seed: 2, ne: 0.49 }],
          verdict: 'fail',
          reason: 'no baseline run with the same seed succeeded',
        },
      ],
    });
    const rows = computeInsights([p], NOW);
    const r = row(rows, { embedding_dim: 32 }, 0.3);
    expect(r.status).toBe('null');
    expect(r.nRuns).toBe(0);
    expect(r.reason).toBe('not measured: no baseline run with the same seed succeeded (plan pd)');
    const prop = proposeFromInsights({
      model: 'ctr-ranker',
      rows,
      knobs: testSpec().knobs,
      baseline: testBaseline,
    });
    expect(prop.suppressed.has(overridesKey({ embedding_dim: 32 }))).toBe(false);
  });

  it('keys a code change by its patch, so two patches are two insights', () => {
    const p = planA();
    const code = (id: string, patch: string): Change => ({
      id,
      overrides: {},
      step: 'combination',
      fidelity: 0.3,
      runs: [
        { seed: 1, ne: 0.495 },
        { seed: 2, ne: 0.5 },
      ],
      verdict: 'near',
      kind: 'code',
      patch,
      rationale: `patch ${id}`,
    });
    const withCode = plan({
      id: 'pcode',
      createdAt: '2026-11-03T09:00:00.000Z',
      base: {
        0.3: [
          [1, 0.5],
          [2, 0.505],
        ],
      },
      changes: [
        code('gelu', '--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\n'),
        code('norm', '--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+c\n'),
      ],
    });
    const rows = computeInsights([p, withCode], NOW).filter((r) => r.changeKey.startsWith('code:'));
    expect(rows.map((r) => r.title).sort()).toEqual(['gelu', 'norm']);
    expect(new Set(rows.map((r) => r.changeKey)).size).toBe(2);
    // Nothing to re-propose from a code row (it keeps the identity of the patch, not the patch).
    const prop = proposeFromInsights({
      model: 'ctr-ranker',
      rows,
      knobs: testSpec().knobs,
      baseline: testBaseline,
    });
    expect(prop.hypotheses).toEqual([]);
  });

  it('is idempotent and does not depend on the order of plans', () => {
    const a = computeInsights([planA(), planB()], NOW, opts);
    const b = computeInsights([planB(), planA()], NOW, opts);
    const strip = (rows: InsightRow[]) => rows.map((r) => ({ ...r, runIds: [...r.runIds].sort() }));
    expect(strip(b)).toEqual(strip(a));
  });
});
