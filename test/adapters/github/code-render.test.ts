import { describe, expect, it } from 'vitest';
import { renderPlanPrBody, renderStickyComment } from '../../../src/adapters/github/render.ts';
import { planMessage } from '../../../src/adapters/slack/blocks.ts';
import { renderPlan, renderReport } from '../../../src/app/render.ts';
import type { Draft } from '../../../src/core/hypotheses.ts';
import type { PlanState } from '../../../src/core/model.ts';
import { createPlan } from '../../../src/core/plan.ts';
import { draft, testBaseline, testSpec } from '../../helpers/fixtures.ts';

// How a plan shows its code hypotheses: marked in the hypothesis table, their diffs folded in the plan
// and its PR for review, and their draft experiment PRs linked (GitHub, Slack) once they exist.

const PATCH = '--- a/model/net.py\n+++ b/model/net.py\n@@ -1 +1 @@\n-act = relu\n+act = gelu\n';

function plan(): PlanState {
  const code: Draft = {
    ...draft('gelu activation', {}, 0.02),
    kind: 'code',
    patch: PATCH,
    files: ['model/net.py'],
  };
  const p = createPlan({
    id: 'p1',
    goal: 'reduce NE',
    spec: testSpec(),
    baseline: testBaseline,
    hypotheses: [code, draft('crosses on', { feature_crosses: true })],
    rejected: [],
    costSamples: [],
    noisePriors: [],
    seedBase: 1,
    now: '2026-11-02T09:00:00.000Z',
  }).state;
  return {
    ...p,
    origin: {
      kind: 'github',
      owner: 'acme',
      repo: 'ctr',
      installationId: 1,
      baseRef: 'main',
      baseSha: 'a'.repeat(40),
      requestedBy: 'alice',
      pr: 7,
    },
  };
}

describe('a plan with a code hypothesis', () => {
  it('marks it and folds its diff into the plan and the plan PR, for review before approval', () => {
    const p = plan();
    const h = p.hypotheses.find((x) => x.kind === 'code')!;
    for (const text of [renderPlan(p), renderPlanPrBody(p)]) {
      expect(text).toContain(
        `| ${h.id} | gelu activation | research (offline) | code (model/net.py) | medium |`,
      );
      expect(text).toContain(`<details><summary>${h.id} code: gelu activation</summary>`);
      expect(text).toContain(
        '```diff\n--- a/model/net.py\n+++ b/model/net.py\n@@ -1 +1 @@\n-act = relu\n+act = gelu\n```',
      );
    }
    expect(renderPlanPrBody(p)).toContain(`**Code hypotheses (${h.id})**`);
    expect(renderStickyComment(p)).not.toContain('Code experiments');
  });

  it('links its draft PR once it exists: sticky comment, plan, Slack', () => {
    const p = plan();
    const h = p.hypotheses.find((x) => x.kind === 'code')!;
    p.origin!.experimentPrs = { [h.id]: 12 };
    expect(renderStickyComment(p)).toContain(
      `**Code experiments (draft PRs)**\n- ${h.id} gelu activation: #12`,
    );
    expect(renderPlan(p)).toContain('code (model/net.py), draft PR #12');
    const slack = JSON.stringify(planMessage(p, { prUrl: 'https://github.example/acme/ctr/pull/7' }).blocks);
    expect(slack).toContain(
      ':hammer_and_wrench: code (model/net.py) · <https://github.example/acme/ctr/pull/12|draft PR #12>',
    );
    const plain = JSON.stringify(planMessage(p).blocks);
    expect(plain).toContain(':hammer_and_wrench: code (model/net.py) · draft PR #12');
  });

  it('names the code in a winner and in the report', () => {
    const p = plan();
    const h = p.hypotheses.find((x) => x.kind === 'code')!;
    const c = p.candidates.find((x) => x.codeHypothesisId === h.id)!;
    p.origin!.experimentPrs = { [h.id]: 12 };
    p.status = 'completed';
    p.winner = {
      candidateId: c.id,
      label: c.label,
      overrides: { feature_crosses: true },
      codeHypothesisId: h.id,
      relEffect: 0.03,
      lo: 0.01,
      hi: 0.05,
      n: 3,
      baselineMean: 0.8,
      candidateMean: 0.776,
    };
    expect(renderStickyComment(p)).toContain(
      '**Winner:** feature_crosses false -> true, code: gelu activation (draft PR #12): +3.00%',
    );
    expect(renderReport(p)).toContain('**Winner: feature_crosses false -> true, code: gelu activation**');
  });
});
