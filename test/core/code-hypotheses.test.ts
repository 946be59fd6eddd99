import { beforeAll, describe, expect, it } from 'vitest';
import { loadRunbooks } from '../../src/config/runbooks.ts';
import { decide } from '../../src/core/decide.ts';
import type { Draft } from '../../src/core/hypotheses.ts';
import { mergeHypotheses, proposeFromInsights } from '../../src/core/hypotheses.ts';
import { changeKeyOf, computeInsights } from '../../src/core/insights.ts';
import type { Effect, PlanState, Runbook, Verdict } from '../../src/core/model.ts';
import { combinationDrafts } from '../../src/core/phases.ts';
import { changeKey, createPlan } from '../../src/core/plan.ts';

const isCodeChangeKey = (key: string) => key.split(',').some((p) => p.startsWith('code:'));

import { draft, testBaseline, testSpec } from '../helpers/fixtures.ts';
import { outcome, type Sim, step } from '../helpers/world.ts';

// Given/when/then for candidates that carry a code hypothesis: they are their own candidates (never the
// baseline, never pooled with their plain config), every run of theirs is dispatched with the hypothesis id,
// they combine with config changes but never with a second code change, and insights key them apart.

let runbooks: Runbook[];
beforeAll(async () => {
  runbooks = (await loadRunbooks({})).runbooks;
});

const T0 = Date.parse('2026-11-02T09:00:00Z');
const PATCH_A = '--- a/model/net.py\n+++ b/model/net.py\n@@ -1 +1 @@\n-act = relu\n+act = gelu\n';
const PATCH_B = '--- a/model/loss.py\n+++ b/model/loss.py\n@@ -1 +1 @@\n-smooth = 0\n+smooth = 0.1\n';

function codeDraft(title: string, patch: string, overrides = {}, expectedEffect = 0.01): Draft {
  return {
    ...draft(title, overrides, expectedEffect),
    kind: 'code',
    patch,
    files: [patch.split('\n')[0]!.slice(6)],
  };
}

function newPlan(drafts: Draft[], maxConcurrentRuns = 16, knobs = testSpec().knobs): PlanState {
  return createPlan({
    id: 'p1',
    goal: 'reduce NE',
    spec: testSpec({ maxConcurrentRuns, knobs }),
    baseline: testBaseline,
    hypotheses: drafts,
    rejected: [],
    costSamples: [],
    noisePriors: [],
    seedBase: 1,
    now: new Date(T0).toISOString(),
  }).state;
}

/** The world of world.ts, plus what each code hypothesis's patch does to NE (by patch, as a runner sees it). */
const CODE_GAIN: Record<string, number> = { [PATCH_A]: 0.02, [PATCH_B]: 0.015 };

function play(sim: Sim): void {
  for (let n = 0; n < 2000; n++) {
    const run = sim.state.runs.find((r) => r.status === 'dispatched' || r.status === 'running');
    if (!run) return;
    const a = run.attempts[run.attempts.length - 1]!;
    if (a.status === 'dispatched') step(sim, { type: 'run_started', runId: run.id, attempt: a.n }, runbooks);
    const dispatch = [...sim.effects]
      .reverse()
      .find(
        (e): e is Extract<Effect, { type: 'dispatch_run' | 'retry_run' }> =>
          (e.type === 'dispatch_run' || e.type === 'retry_run') && e.runId === run.id && e.attempt === a.n,
      )!;
    const patch = sim.state.hypotheses.find((h) => h.id === dispatch.codeHypothesisId)?.patch;
    const o = outcome(a.overrides, run.fidelity, run.seed);
    if (o.kind !== 'ok') {
      step(
        sim,
        {
          type: 'run_failed',
          runId: run.id,
          attempt: a.n,
          conclusion: o.conclusion,
          reason: o.reason,
          logExcerpt: o.log,
          gpuHours: 1.6 * run.fidelity,
          durationSec: 360,
        },
        runbooks,
      );
      continue;
    }
    const ne = o.metrics.ne! * (1 - (patch ? CODE_GAIN[patch]! : 0));
    step(
      sim,
      {
        type: 'run_finished',
        runId: run.id,
        attempt: a.n,
        metrics: { ...o.metrics, ne },
        gpuHours: 16 * run.fidelity,
        durationSec: 3600,
      },
      runbooks,
    );
  }
  throw new Error('the plan did not settle');
}

describe('given hypotheses with code', () => {
  it('a code hypothesis without overrides is its own candidate, not the baseline', () => {
    const plan = newPlan([codeDraft('gelu', PATCH_A), draft('crosses on', { feature_crosses: true })]);
    const code = plan.hypotheses.find((h) => h.kind === 'code')!;
    const c = plan.candidates.find((x) => x.codeHypothesisId === code.id)!;
    expect(c.id).not.toBe('c0');
    expect(c.overrides).toEqual({});
    expect(plan.runs.filter((r) => r.candidateId === c.id && r.role === 'candidate')).toHaveLength(1);
    expect(plan.candidates.find((x) => x.id === 'c0')!.codeHypothesisId).toBeUndefined();
  });

  it('the same config with and without code are two hypotheses; a code hypothesis with no patch is rejected', () => {
    const plan = newPlan([
      draft('crosses on', { feature_crosses: true }),
      codeDraft('crosses on with gelu', PATCH_A, { feature_crosses: true }),
      { ...codeDraft('no patch', PATCH_B), patch: '  ' },
    ]);
    expect(plan.hypotheses.map((h) => h.title)).toEqual(['crosses on', 'crosses on with gelu']);
    expect(plan.rejected).toEqual([
      expect.objectContaining({ title: 'no patch', reason: 'a code hypothesis without a patch' }),
    ]);
    expect(changeKey({ feature_crosses: true }, PATCH_A)).not.toBe(changeKey({ feature_crosses: true }));
    expect(isCodeChangeKey(changeKey({}, PATCH_A))).toBe(true);
    expect(isCodeChangeKey(changeKey({ feature_crosses: true }))).toBe(false);
  });

  it('merging keeps a code hypothesis that changes no knob and does not call it a duplicate of its config', () => {
    const merged = mergeHypotheses({
      sources: [[draft('crosses on', { feature_crosses: true })], [codeDraft('gelu', PATCH_A)]],
      suppressed: new Map(),
      knobs: testSpec().knobs,
      baseline: testBaseline,
    });
    expect(merged.rejected).toEqual([]);
    expect(merged.hypotheses.map((h) => h.title).sort()).toEqual(['crosses on', 'gelu']);
  });

  it('when approved, then every run of a code candidate is dispatched with its hypothesis id and no other is', () => {
    const plan = newPlan([codeDraft('gelu', PATCH_A), draft('crosses on', { feature_crosses: true })]);
    const out = decide(
      plan,
      { type: 'approved', by: 'alice', via: 'cli' },
      { now: new Date(T0).toISOString(), runbooks },
    );
    const dispatches = out.effects.filter((e) => e.type === 'dispatch_run');
    const code = out.state.candidates.find((c) => c.codeHypothesisId !== undefined)!;
    for (const d of dispatches) {
      const run = out.state.runs.find((r) => r.id === d.runId)!;
      if (run.candidateId === code.id) expect(d.codeHypothesisId).toBe(code.codeHypothesisId);
      else expect(d).not.toHaveProperty('codeHypothesisId');
    }
    expect(dispatches.some((d) => d.codeHypothesisId !== undefined)).toBe(true);
  });

  it('combination pairs a code change with config changes but never stacks two code changes', () => {
    const plan = newPlan([
      codeDraft('gelu', PATCH_A),
      codeDraft('label smoothing', PATCH_B),
      draft('crosses on', { feature_crosses: true }),
    ]);
    const verdict = (candidateId: string, relEffect: number): Verdict => ({
      candidateId,
      step: 'validation',
      fidelity: 0.1,
      relEffect,
      se: 0.001,
      lo: relEffect - 0.002,
      hi: relEffect + 0.002,
      n: 1,
      verdict: 'pass',
      reason: 'test',
    });
    const byTitle = (t: string) =>
      plan.candidates.find((c) => c.hypothesisIds[0] === plan.hypotheses.find((h) => h.title === t)!.id)!;
    const drafts = combinationDrafts(
      plan,
      [
        verdict(byTitle('crosses on').id, 0.03),
        verdict(byTitle('gelu').id, 0.02),
        verdict(byTitle('label smoothing').id, 0.015),
      ],
      10,
    );
    expect(drafts.length).toBeGreaterThan(0);
    const codeIds = new Set(plan.hypotheses.filter((h) => h.kind === 'code').map((h) => h.id));
    for (const d of drafts) {
      expect(d.hypothesisIds.filter((id) => codeIds.has(id)).length).toBeLessThanOrEqual(1);
      const code = d.hypothesisIds.find((id) => codeIds.has(id));
      expect(d.codeHypothesisId).toBe(code);
    }
    const pairs = drafts.filter((d) => d.hypothesisIds.length === 2);
    expect(pairs.map((d) => d.label)).toContain('feature_crosses false -> true, code: gelu');
  });

  it('a plan whose best change is code confirms it with the code and keys its insight apart from the config', () => {
    // Only knobs whose best setting (adagrad, +1%) is worth less than the code change (+2%).
    const { optimizer, learning_rate } = testSpec().knobs;
    const knobs = { optimizer: optimizer!, learning_rate: learning_rate! };
    const sim: Sim = {
      state: newPlan([codeDraft('gelu', PATCH_A), draft('adagrad', { optimizer: 'adagrad' })], 16, knobs),
      effects: [],
      events: [],
      clock: T0,
    };
    step(sim, { type: 'approved', by: 'alice', via: 'cli' }, runbooks);
    play(sim);
    const s = sim.state;
    expect(s.status).toBe('completed');
    const gelu = s.hypotheses.find((h) => h.title === 'gelu')!;
    const confirm = s.candidates.find((c) => c.id === s.winner?.candidateId)!;
    expect(confirm.codeHypothesisId).toBe(gelu.id);
    expect(s.winner?.label).toContain('gelu');
    // Every run of a candidate with code was dispatched with it, in every step.
    for (const r of s.runs) {
      const c = s.candidates.find((x) => x.id === r.candidateId)!;
      const d = sim.effects.find((e) => e.type === 'dispatch_run' && e.runId === r.id) as
        | Extract<Effect, { type: 'dispatch_run' }>
        | undefined;
      expect(d?.codeHypothesisId).toBe(c.codeHypothesisId);
    }
    expect(s.decisions.at(-1)!.text).toContain('code: gelu');
    const rows = computeInsights([s], new Date(T0).toISOString());
    const codeRows = rows.filter((r) => isCodeChangeKey(r.changeKey));
    expect(codeRows.length).toBeGreaterThan(0);
    expect(codeRows.every((r) => r.title.includes('gelu'))).toBe(true);
    // The key a hypothesis is merged and suppressed by is the key its insight is stored under.
    const confirmKey = changeKeyOf(s, confirm);
    expect(confirmKey).toBe(changeKey(confirm.overrides, gelu.patch));
    expect(rows.some((r) => r.changeKey === confirmKey)).toBe(true);
    // The adagrad-only row and the adagrad+gelu row never share a key.
    const plain = rows.filter((r) => r.changeKey === changeKey({ optimizer: 'adagrad' }));
    expect(plain.length).toBeGreaterThan(0);
    expect(plain.every((r) => !r.title.includes('gelu'))).toBe(true);
    // A code win is not re-proposed as a plain config change by the next plan.
    const next = proposeFromInsights({
      model: s.spec.model,
      rows,
      knobs: s.spec.knobs,
      baseline: s.baseline,
    });
    expect(next.hypotheses.every((h) => !h.title.includes('gelu'))).toBe(true);
  });
});
