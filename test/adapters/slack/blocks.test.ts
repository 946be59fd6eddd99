import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  budgetRequestMessage,
  clip,
  decisionReply,
  esc,
  escalationMessage,
  failureReply,
  finalReport,
  noticeReply,
  planMessage,
  promotionMessage,
  type SlackMessage,
  textReply,
} from '../../../src/adapters/slack/blocks.ts';
import { pct } from '../../../src/core/analysis.ts';
import { describeChange } from '../../../src/core/knobs.ts';
import type { PlanState } from '../../../src/core/model.ts';
import { buildReport, nextHypotheses, planInsights } from '../../../src/core/report.ts';
import { BLOCK_KIT_LIMITS, validateBlocks } from '../../emulators/slack/index.ts';
import { budgetRequest, escalation, finishedPlan, hugeEscalation, hugePlan, proposedPlan } from './plans.ts';

// Block Kit renderings: golden files for what people read, and Slack's limits for any plan whatsoever.

const PR = 'https://github.com/acme/ctr-ranker/pull/12';

function json(msg: SlackMessage): string {
  return `${JSON.stringify(msg, null, 2)}\n`;
}

function expectWithinLimits(msg: SlackMessage): void {
  expect(validateBlocks(msg.blocks as unknown[])).toEqual([]);
  expect(msg.blocks.length).toBeLessThanOrEqual(BLOCK_KIT_LIMITS.blocksPerMessage);
  expect(msg.text.length).toBeGreaterThan(0);
  expect(msg.text.length).toBeLessThanOrEqual(BLOCK_KIT_LIMITS.messageText);
}

function buttons(msg: SlackMessage): Array<{ action_id: string; value: string; text: string }> {
  return msg.blocks.flatMap((b) =>
    b.type === 'actions'
      ? b.elements.flatMap((e) =>
          e.type === 'button' ? [{ action_id: e.action_id!, value: e.value!, text: e.text.text }] : [],
        )
      : [],
  );
}

function allText(msg: SlackMessage): string {
  return JSON.stringify(msg.blocks);
}

describe('golden Block Kit payloads', () => {
  it('renders the plan message people approve', async () => {
    const msg = planMessage(proposedPlan(), { prUrl: PR });
    expectWithinLimits(msg);
    expect(buttons(msg)).toEqual([
      { action_id: 'rea_approve', value: 'ctr-ranker-4a2b9c', text: 'Approve' },
      { action_id: 'rea_reject', value: 'ctr-ranker-4a2b9c', text: 'Reject' },
    ]);
    await expect(json(msg)).toMatchFileSnapshot('__golden__/plan-message.json');
  });

  it('renders the finished plan message with the winner and both approvals, without buttons', async () => {
    const plan = await finishedPlan();
    const msg = planMessage(plan, { prUrl: PR });
    expectWithinLimits(msg);
    expect(buttons(msg)).toEqual([]);
    const text = allText(msg);
    expect(text).toContain('approved by <@U0ALICE> in Slack');
    expect(text).toContain('budget raised by 20.0 GPU-hours by alice in GitHub');
    expect(text).toContain(':trophy: *Winner:');
    expect(text).toContain('95% interval');
    await expect(json(msg)).toMatchFileSnapshot('__golden__/plan-message-finished.json');
  });

  it('renders an escalation with the log tail and its three buttons', async () => {
    const plan = await finishedPlan();
    const msg = escalationMessage(plan, escalation(plan));
    expectWithinLimits(msg);
    expect(buttons(msg)).toEqual([
      { action_id: 'rea_escalation_retry', value: `${plan.id}:e1`, text: 'Retry' },
      { action_id: 'rea_escalation_skip', value: `${plan.id}:e1`, text: 'Skip' },
      { action_id: 'rea_cancel', value: plan.id, text: 'Cancel plan' },
    ]);
    expect(allText(msg)).toContain('grad_norm&lt;59&gt; &amp; ok');
    expect(allText(msg)).toContain('an illegal memory access');
    await expect(json(msg)).toMatchFileSnapshot('__golden__/escalation.json');
  });

  it('renders the final report', async () => {
    const plan = await finishedPlan();
    const msg = finalReport(plan, { prUrl: PR, location: 'experiments/reports/ctr-ranker-4a2b9c.md' });
    expectWithinLimits(msg);
    const text = allText(msg);
    expect(text).toContain('*Winner:');
    expect(text).toContain('95% interval');
    expect(text).toContain('runbook `gpu-oom`');
    expect(text).toContain('runbook `loss-divergence`');
    expect(text).toContain('per 0.1% relative improvement of ne*');
    const r = buildReport(plan);
    expect(text).toContain(`*Dead ends (${r.deadEnds.length})*`);
    const count = (a: string) => r.failures.filter((f) => f.action === a).length;
    expect(text).toContain(
      `${count('retried with changes')} retried with a changed configuration, ${count('skipped')} skipped as infeasible`,
    );
    expect(text).toContain(`*Insights this plan added or changed (${planInsights(plan, [plan]).length})*`);
    // The report leads with the confirmed win, at full fidelity.
    const w = plan.winner!;
    expect(text).toContain(
      `• *win* ${describeChange(plan.baseline, w.overrides).replaceAll(' -> ', ' → ')} at fidelity 1: ${pct(w.relEffect)}`,
    );
    expect(text).toContain(`*${nextHypotheses(plan)[0]!.title.replaceAll(' -> ', ' → ')}*`);
    await expect(json(msg)).toMatchFileSnapshot('__golden__/final-report.json');
  });
});

describe('other messages', () => {
  it('offers to raise the budget by what the next step needs', async () => {
    const plan = await finishedPlan();
    const msg = budgetRequestMessage(plan, budgetRequest());
    expectWithinLimits(msg);
    expect(buttons(msg)).toEqual([
      { action_id: 'rea_budget', value: `${plan.id}:+38`, text: 'Raise by 38 GPU-hours' },
      { action_id: 'rea_cancel', value: plan.id, text: 'Cancel plan' },
    ]);
    expect(allText(msg)).toContain('6 more combination runs');
  });

  it('turns Slack user ids of people who acted into mentions, and escapes the rest', () => {
    const msg = noticeReply('plan_approved', 'Approved by U0ALICE (slack) <with> & budget', {
      mentions: ['U0ALICE'],
    });
    expect(allText(msg)).toContain('Approved by <@U0ALICE> (slack) &lt;with&gt; &amp; budget');
    expect(decisionReply('Validation: 3 of 6 passed').blocks).toHaveLength(1);
    expect(allText(failureReply('run r7 failed'))).toContain(':wrench: run r7 failed');
  });

  it('tells how to promote the winner', async () => {
    const plan = await finishedPlan();
    const msg = promotionMessage(plan, {
      type: 'open_promotion',
      overrides: plan.winner!.overrides,
      idempotencyKey: 'promote:1',
    });
    expectWithinLimits(msg);
    expect(allText(msg)).toContain('`feature_crosses: true`');
  });
});

describe("Slack's limits", () => {
  let huge: PlanState;

  it('holds for a plan with 200 hypotheses and 5,000 runs in every state', async () => {
    huge = await hugePlan();
    for (const status of ['awaiting_approval', 'running', 'paused', 'completed', 'cancelled'] as const) {
      const msg = planMessage({ ...huge, status, pauseReason: 'escalation' }, { prUrl: PR });
      expectWithinLimits(msg);
    }
    const parent = planMessage({ ...huge, status: 'awaiting_approval' }, { prUrl: PR });
    expect(allText(parent)).toMatch(/… and \d+ more: see the full list in the <https:[^|]+\|plan PR>/);
    expect(buttons(parent).map((b) => b.action_id)).toEqual(['rea_approve', 'rea_reject']);
    expect(parent.blocks[0]).toMatchObject({ type: 'header' });
  });

  it('holds for the final report of that plan, saying how much was left out', async () => {
    huge ??= await hugePlan();
    const msg = finalReport(huge, { prUrl: PR, location: 'https://example.com/report.md' });
    expectWithinLimits(msg);
    const text = allText(msg);
    expect(text).toMatch(/… and \d+ more decisions/);
    expect(text).toMatch(/… and \d+ more failures/);
    expect(text).toContain('Failures and what rea did (6667)');
  });

  it('holds for escalations, budget requests and replies of any length', async () => {
    huge ??= await hugePlan();
    const esc1 = escalationMessage(huge, hugeEscalation(huge));
    expectWithinLimits(esc1);
    expect(allText(esc1)).toContain('the last line');
    expect(allText(esc1)).toContain('earlier lines cut');
    expectWithinLimits(
      budgetRequestMessage(huge, { ...budgetRequest(), wouldBuy: 'runs '.repeat(5000), neededGpuHours: 1e9 }),
    );
    expectWithinLimits(noticeReply('phase_decision', 'a <b> & c '.repeat(20_000), { mentions: ['U0ALICE'] }));
    expectWithinLimits(textReply('status line\n'.repeat(20_000)));
    expectWithinLimits(
      promotionMessage(huge, {
        type: 'open_promotion',
        overrides: Object.fromEntries(Array.from({ length: 500 }, (_, i) => [`knob_${i}`, 'x'.repeat(40)])),
        idempotencyKey: 'k',
      }),
    );
  });

  it('clips escaped text to any length without breaking an escape or a mention', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: fc.constantFrom('a', ' ', '&', '<', '>', '\n', '`', 'é', '😀'), maxLength: 400 }),
        fc.integer({ min: 1, max: 300 }),
        (raw, max) => {
          const out = clip(`<@U0ALICE> ${esc(raw)}`, max);
          expect(out.length).toBeLessThanOrEqual(max);
          const body = out.replace(/<@U0ALICE>/g, '');
          // Every & that remains starts a whole escape, and no control sequence is left open.
          expect(body.replace(/&(amp|lt|gt);/g, '')).not.toMatch(/[&<>]/);
        },
      ),
      { numRuns: 300 },
    );
  });
});
