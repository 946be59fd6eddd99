import { beforeAll, describe, expect, it } from 'vitest';
import { offlineProposals } from '../../src/adapters/llm/offline-research-agent.ts';
import { loadRunbooks } from '../../src/config/runbooks.ts';
import { mergeHypotheses, proposeFromInsights } from '../../src/core/hypotheses.ts';
import { computeInsights } from '../../src/core/insights.ts';
import { overridesKey } from '../../src/core/knobs.ts';
import type { InsightRow, PlanState, Runbook } from '../../src/core/model.ts';
import { createPlan } from '../../src/core/plan.ts';
import { draft, testBaseline, testDrafts, testSpec } from '../helpers/fixtures.ts';
import { outcome, runToQuiescence, type Sim, step } from '../helpers/world.ts';

let runbooks: Runbook[];
beforeAll(async () => {
  runbooks = (await loadRunbooks({})).runbooks;
});

function runPlan(id: string, seedBase: number, drafts = testDrafts): PlanState {
  const { state } = createPlan({
    id,
    goal: 'g',
    spec: testSpec(),
    baseline: testBaseline,
    hypotheses: drafts,
    rejected: [],
    costSamples: [],
    noisePriors: [],
    seedBase,
    now: '2026-11-02T09:00:00.000Z',
  });
  const sim: Sim = { state, effects: [], events: [], clock: Date.parse('2026-11-02T09:00:00Z') };
  step(sim, { type: 'approved', by: 'alice', via: 'cli' }, runbooks);
  runToQuiescence(sim, runbooks);
  return sim.state;
}

const rel = (o: ReturnType<typeof outcome>, b: ReturnType<typeof outcome>) =>
  o.kind === 'ok' && b.kind === 'ok' ? (b.metrics.ne! - o.metrics.ne!) / b.metrics.ne! : Number.NaN;

function row(rows: InsightRow[], overrides: Record<string, unknown>, fidelity: number): InsightRow {
  const r = rows.find((x) => x.changeKey === overridesKey(overrides as never) && x.fidelity === fidelity);
  if (!r) throw new Error(`no row for ${JSON.stringify(overrides)} at ${fidelity}`);
  return r;
}

describe('insight estimates', () => {
  it('pairs each difference with its own plan baseline and pools across plans', () => {
    const a = runPlan('pa', 1);
    const b = runPlan('pb', 10_001);
    const rows = computeInsights([a, b], '2026-11-03T00:00:00.000Z');
    const crosses = row(rows, { feature_crosses: true }, 0.1);
    // One validation seed per plan: seedBase 1 and 10001.
    const d1 = rel(outcome({ feature_crosses: true }, 0.1, 1), outcome({}, 0.1, 1));
    const d2 = rel(outcome({ feature_crosses: true }, 0.1, 10_001), outcome({}, 0.1, 10_001));
    expect(crosses.nRuns).toBe(2);
    expect(crosses.nPlans).toBe(2);
    expect(crosses.meanEffect).toBeCloseTo((d1 + d2) / 2, 12);
    expect(crosses.sum).toBeCloseTo(d1 + d2, 12);
    expect(crosses.sumSq).toBeCloseTo(d1 * d1 + d2 * d2, 12);
    expect(crosses.status).toBe('win');
    expect(crosses.lo).toBeGreaterThan(0);
    expect(crosses.planIds.sort()).toEqual(['pa', 'pb']);
  });

  it('keeps failures and what could not run as insights with their reason', () => {
    const rows = computeInsights([runPlan('pa', 1)], '2026-11-03T00:00:00.000Z');
    const diverged = row(rows, { learning_rate: 0.9 }, 0.1);
    expect(diverged.status).toBe('infeasible');
    expect(diverged.reason).toMatch(/nan/i);
    const oom = row(rows, { batch_size: 4096 }, 0.1);
    expect(oom.status).toBe('infeasible');
    expect(oom.reason).toMatch(/out of memory/i);
    // What the OOM run measured instead is its own row.
    expect(row(rows, { batch_size: 1024 }, 0.1).nRuns).toBe(1);
  });
});

describe('hypotheses from insights', () => {
  it('proposes wins, suppresses failures with the evidence, and merges with the offline agent', () => {
    const plan = runPlan('pa', 1);
    const rows = computeInsights([plan], '2026-11-03T00:00:00.000Z');
    const fromInsights = proposeFromInsights({
      model: 'ctr-ranker',
      rows,
      knobs: testSpec().knobs,
      baseline: testBaseline,
    });
    const winner = fromInsights.hypotheses[0]!;
    expect(winner.source).toBe('insights');
    // The strongest win is what the plan confirmed: crosses with adagrad (the two real gains), whatever else
    // the search changed along with them.
    expect(winner.overrides).toMatchObject({ feature_crosses: true, optimizer: 'adagrad' });
    // The plan confirmed the best of its top two, which the scripted world measures alike; both are proposed
    // first, with the same expected effect.
    const top = fromInsights.hypotheses.filter(
      (h) => Math.abs(h.expectedEffect - winner.expectedEffect) < 1e-9,
    );
    expect(top.map((h) => h.overrides)).toContainEqual(plan.winner!.overrides);
    expect(winner.expectedEffect).toBeCloseTo(plan.winner!.relEffect, 3);
    expect(winner.evidence[0]).toContain('plan pa');
    expect(fromInsights.suppressed.get(overridesKey({ learning_rate: 0.9 }))).toMatch(/failed before/);

    const offline = offlineProposals(testSpec().knobs, testBaseline);
    const merged = mergeHypotheses({
      sources: [fromInsights.hypotheses, offline],
      suppressed: fromInsights.suppressed,
      knobs: testSpec().knobs,
      baseline: testBaseline,
    });
    expect(merged.hypotheses[0]!.source).toBe('insights');
    const keys = merged.hypotheses.map((h) => overridesKey(h.overrides));
    expect(new Set(keys).size).toBe(keys.length);
    expect(merged.rejected.some((r) => r.reason.startsWith('suppressed by insights'))).toBe(true);
  });

  it('rejects proposals outside the knob space, no-ops, and caps hypotheses per knob', () => {
    const knobs = testSpec().knobs;
    const many = [0.01, 0.02, 0.04, 0.05, 0.06].map((lr) => draft(`lr ${lr}`, { learning_rate: lr }));
    const merged = mergeHypotheses({
      sources: [[draft('too big', { learning_rate: 5 }), draft('same', { learning_rate: 0.03 }), ...many]],
      suppressed: new Map(),
      knobs,
      baseline: testBaseline,
    });
    expect(merged.rejected.find((r) => r.title === 'too big')!.reason).toMatch(/outside the knob space/);
    expect(merged.rejected.find((r) => r.title === 'same')!.reason).toMatch(/changes nothing/);
    expect(merged.hypotheses).toHaveLength(3);
    expect(merged.rejected.filter((r) => r.reason.startsWith('diversity cap'))).toHaveLength(2);
  });

  it('offline proposals stay inside the knob space and are deterministic', () => {
    const a = offlineProposals(testSpec().knobs, testBaseline);
    expect(a).toEqual(offlineProposals(testSpec().knobs, testBaseline));
    const merged = mergeHypotheses({
      sources: [a],
      suppressed: new Map(),
      knobs: testSpec().knobs,
      baseline: testBaseline,
    });
    expect(merged.rejected.filter((r) => r.reason.startsWith('outside'))).toEqual([]);
    expect(a.some((h) => h.overrides.batch_size === 4096)).toBe(true);
  });
});
