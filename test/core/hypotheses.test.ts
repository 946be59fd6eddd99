import { describe, expect, it } from 'vitest';
import {
  CODE_COST_FACTOR,
  type Draft,
  gainPerCost,
  insightPriors,
  mergeHypotheses,
} from '../../src/core/hypotheses.ts';
import { overridesKey } from '../../src/core/knobs.ts';
import { codeDigest, createPlan, layoutEstimate } from '../../src/core/plan.ts';
import { insight } from '../adapters/llm/helpers.ts';
import { draft, testBaseline, testSpec } from '../helpers/fixtures.ts';

// Ranking by expected gain per cost with the insights as prior, and fitting the ranked list to the budget.

const knobs = testSpec().knobs;
const BASE = overridesKey(testBaseline);
const code = (title: string, patch: string, expectedEffect = 0.005): Draft => ({
  ...draft(title, {}, expectedEffect),
  agent: 'claude:m',
  kind: 'code',
  patch,
  files: ['src/model.ts'],
});
const patch = (line: string) => `--- a/src/model.ts\n+++ b/src/model.ts\n@@ -1 +1 @@\n-x\n+${line}\n`;

function merge(sources: Draft[][], rows = [] as ReturnType<typeof insight>[]) {
  return mergeHypotheses({
    sources,
    suppressed: new Map(),
    knobs,
    baseline: testBaseline,
    insights: { model: 'ctr-ranker', rows },
  });
}

describe('ranking by expected gain per cost', () => {
  it('ranks a code change below a config change with the same claim, by its cost factor', () => {
    const c = code('code', patch('y'));
    const k = draft('config', { embedding_dim: 16 });
    expect(merge([[c, k]]).hypotheses.map((h) => h.title)).toEqual(['config', 'code']);
    const none = new Map<string, number>();
    expect(gainPerCost(k, none, testBaseline) / gainPerCost(c, none, testBaseline)).toBeCloseTo(
      CODE_COST_FACTOR,
    );
  });

  it('discounts a change of several knobs, which is harder to attribute', () => {
    const one = draft('one', { embedding_dim: 16 });
    const two = draft('two', { embedding_dim: 16, batch_size: 1024 });
    expect(merge([[two, one]]).hypotheses.map((h) => h.title)).toEqual(['one', 'two']);
  });

  it('uses insights as a prior: the same knob moved the same way that won goes up, that lost goes down', () => {
    const up = draft('lr up', { learning_rate: 0.06 });
    const down = draft('lr down', { learning_rate: 0.01 });
    const emb = draft('emb', { embedding_dim: 16 });
    const without = merge([[up, down, emb]]).hypotheses.map((h) => h.title);
    expect(without).toEqual(['emb', 'lr down', 'lr up']);
    const rows = [
      insight({ overrides: { learning_rate: 0.09 }, status: 'win', meanEffect: 0.01, baselineKey: BASE }),
      insight({ overrides: { learning_rate: 0.003 }, status: 'loss', meanEffect: -0.02, baselineKey: BASE }),
    ];
    expect(insightPriors('ctr-ranker', rows, testBaseline)).toEqual(
      new Map([
        ['learning_rate:up', 1.5],
        ['learning_rate:down', 0.5],
      ]),
    );
    expect(merge([[up, down, emb]], rows).hypotheses.map((h) => h.title)).toEqual([
      'lr up',
      'emb',
      'lr down',
    ]);
    // Another model's results, or results against an earlier baseline, are not this model's prior now.
    const foreign = rows.map((r) => ({ ...r, model: 'other' }));
    expect(merge([[up, down, emb]], foreign).hypotheses.map((h) => h.title)).toEqual(without);
    const older = rows.map((r) => ({ ...r, baselineKey: 'learning_rate=0.01' }));
    expect(merge([[up, down, emb]], older).hypotheses.map((h) => h.title)).toEqual(without);
  });

  it('suppresses a code change the insights recorded as a loss, by the hash of its patch', () => {
    const lost = code('lost before', patch('y'));
    const key = `code:${codeDigest(lost.patch!)}`;
    const out = mergeHypotheses({
      sources: [[lost, code('new', patch('z'))]],
      suppressed: new Map([[key, 'worse than baseline before']]),
      knobs,
      baseline: testBaseline,
    });
    expect(out.hypotheses.map((h) => h.title)).toEqual(['new']);
    expect(out.rejected[0]).toMatchObject({
      title: 'lost before',
      reason: 'suppressed by insights: worse than baseline before',
    });
  });

  it('keeps code hypotheses that change no knob, and tells patches apart', () => {
    const out = merge([[code('a', patch('y')), code('b', patch('z')), code('a again', patch('y'))]]);
    expect(out.hypotheses.map((h) => h.title)).toEqual(['a', 'b']);
    expect(out.rejected).toEqual([
      expect.objectContaining({ title: 'a again', reason: 'duplicate of a hypothesis from another source' }),
    ]);
  });
});

describe('fitting to the budget', () => {
  it('rejects the lowest-ranked hypotheses that do not fit, saying what the plan would need', () => {
    const drafts = [16, 24, 32, 48, 64, 96].map((d) => draft(`emb ${d}`, { embedding_dim: d }));
    const { state } = createPlan({
      id: 'p',
      goal: 'g',
      spec: testSpec({ maxGpuHours: 200 }),
      baseline: testBaseline,
      hypotheses: [...drafts, code('code', patch('y'))],
      rejected: [],
      costSamples: [],
      noisePriors: [],
      seedBase: 1,
      now: '2026-11-02T09:00:00.000Z',
    });
    const kept = state.candidates.filter((c) => c.step === 'validation' && c.id !== 'c0').length;
    expect(layoutEstimate(state.spec, kept, 'minimal', []).gpuHoursP90).toBeLessThanOrEqual(200);
    const over = state.rejected.filter((r) => r.reason.startsWith('does not fit the budget'));
    expect(over.length).toBeGreaterThan(0);
    expect(over.length + state.hypotheses.length).toBe(7);
    expect(over[0]!.title).toBe('code');
    expect(over[0]!.reason).toMatch(
      /^does not fit the budget: the smallest plan with it needs \d+ GPU-hours at p90, over the maximum of 200$/,
    );
  });

  it('does not take a code hypothesis that changes no knob for the baseline', () => {
    const { state } = createPlan({
      id: 'p',
      goal: 'g',
      spec: testSpec(),
      baseline: testBaseline,
      hypotheses: [code('code', patch('y'))],
      rejected: [],
      costSamples: [],
      noisePriors: [],
      seedBase: 1,
      now: '2026-11-02T09:00:00.000Z',
    });
    expect(state.hypotheses.map((h) => h.title)).toEqual(['code']);
    expect(state.rejected).toEqual([]);
  });
});
