import { describe, expect, it } from 'vitest';
import { renderPlanPrBody } from '../../../src/adapters/github/render.ts';
import { planMessage } from '../../../src/adapters/slack/blocks.ts';
import { renderPlan } from '../../../src/app/render.ts';
import { planJson } from '../../../src/cli/plan.ts';
import type { PlanState } from '../../../src/core/model.ts';
import { validateBlocks } from '../../emulators/slack/index.ts';
import { proposedPlan } from '../slack/plans.ts';

// A plan made with the research agent, as every surface shows it: the code hypothesis and its files, the
// agent's provenance, the fallback note and the tokens and dollars.

const PATCH = '--- a/src/model.ts\n+++ b/src/model.ts\n@@ -1 +1 @@\n-a\n+b\n';

function claudePlan(): PlanState {
  const p = proposedPlan();
  return {
    ...p,
    hypotheses: [
      ...p.hypotheses.slice(0, 2),
      {
        id: 'h9',
        title: 'gated cross layer',
        rationale: 'crosses interact with depth',
        source: 'research',
        agent: 'claude:claude-sonnet-5-5',
        kind: 'code',
        overrides: {},
        patch: PATCH,
        files: ['src/model.ts'],
        expectedEffect: 0.01,
        risk: 'medium',
        evidence: [],
      },
    ],
    notes: [
      'claude:claude-sonnet-5-5 failed (API overloaded (529) after 2 retries); hypotheses come from the offline research agent instead',
    ],
    llmUsage: [
      {
        agent: 'claude:claude-sonnet-5-5',
        model: 'claude-sonnet-5-5',
        inputTokens: 1200,
        outputTokens: 800,
        cacheReadTokens: 9000,
        cacheWriteTokens: 0,
        usd: 0.0183,
      },
    ],
  };
}

const COST =
  'claude:claude-sonnet-5-5: 1200 input tokens (+9000 cache read, 0 cache write), 800 output tokens, $0.018';

describe('a research-agent plan on every surface', () => {
  it('Markdown plan: code change with its diff, provenance, notes and cost', () => {
    const md = renderPlan(claudePlan());
    expect(md).toContain(
      '| h9 | gated cross layer | research (claude:claude-sonnet-5-5) | code (src/model.ts) | medium |',
    );
    expect(md).toContain(`\`\`\`diff\n${PATCH.trimEnd()}\n\`\`\``);
    expect(md).toContain('## Notes\n\n- claude:claude-sonnet-5-5 failed (API overloaded (529)');
    expect(md).toContain(`## Research agent cost\n\n- ${COST}`);
  });

  it('plan PR body: provenance, the note and the cost', () => {
    const body = renderPlanPrBody(claudePlan());
    expect(body).toContain(
      '| h9 | gated cross layer | research (claude:claude-sonnet-5-5) | code (src/model.ts) |',
    );
    expect(body).toContain('> claude:claude-sonnet-5-5 failed (API overloaded (529)');
    expect(body).toContain(`Research agent cost: ${COST}.`);
  });

  it('Slack plan message: provenance, the note and the cost, within Block Kit limits', () => {
    const msg = planMessage(claudePlan());
    const text = JSON.stringify(msg.blocks);
    expect(text).toContain(
      'gated cross layer · _research (claude:claude-sonnet-5-5)_ · :hammer_and_wrench: code (src/model.ts)',
    );
    expect(text).toContain(':information_source: claude:claude-sonnet-5-5 failed (API overloaded (529)');
    expect(text).toContain(`Research agent cost: ${COST}`);
    expect(validateBlocks(msg.blocks as unknown[])).toEqual([]);
  });

  it('rea plan --json: llm_usage, and files and patch of code hypotheses', () => {
    const j = planJson(claudePlan(), claudePlan().notes!);
    expect(j.hypotheses.find((h) => h.id === 'h9')).toMatchObject({
      source: 'research',
      agent: 'claude:claude-sonnet-5-5',
      kind: 'code',
      overrides: {},
      files: ['src/model.ts'],
      patch: PATCH,
    });
    expect(j.llm_usage).toEqual([
      {
        agent: 'claude:claude-sonnet-5-5',
        model: 'claude-sonnet-5-5',
        input_tokens: 1200,
        output_tokens: 800,
        cache_read_tokens: 9000,
        cache_write_tokens: 0,
        usd: 0.0183,
      },
    ]);
  });
});
