import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { SlackChat, SlackDeliveryError } from '../../../src/adapters/slack/slack-chat.ts';
import type { PlanState } from '../../../src/core/model.ts';
import { type SlackEmulator, startSlackEmulator } from '../../emulators/slack/index.ts';
import { buttonsOf, webClient } from './helpers.ts';
import {
  budgetRequest,
  CHANNEL,
  escalation,
  finishedPlan,
  hugeEscalation,
  hugePlan,
  proposedPlan,
} from './plans.ts';

// SlackChat against the emulator through the real WebClient: one parent per plan updated in place, replies
// in its thread, buttons where a decision is needed, and Slack's limits for plans of any size.

let emulator: SlackEmulator;
let posted: Array<{ planId: string; channel: string; ts: string }>;
let chat: SlackChat;

/** What rea's store does with onParentPosted: the plan remembers its thread. */
function stored(plan: PlanState): PlanState {
  const p = posted.filter((x) => x.planId === plan.id).at(-1);
  return p ? { ...plan, slack: { ...plan.slack!, channel: p.channel, ts: p.ts } } : plan;
}

beforeAll(async () => {
  emulator = await startSlackEmulator();
});
afterAll(() => emulator.close());
beforeEach(() => {
  emulator.reset();
  posted = [];
  chat = new SlackChat(webClient(emulator), {
    onParentPosted: async (planId, channel, ts) => {
      posted.push({ planId, channel, ts });
    },
  });
});

function topLevel() {
  return emulator.messages.filter((m) => m.thread_ts === undefined);
}

describe('SlackChat', () => {
  it('posts the parent once, then updates it in place as the plan moves', async () => {
    const plan = proposedPlan();
    await chat.publishPlan(plan);
    expect(posted).toEqual([{ planId: plan.id, channel: CHANNEL, ts: expect.any(String) }]);
    const parent = emulator.message(CHANNEL, posted[0]!.ts)!;
    expect(buttonsOf(parent.blocks).map((b) => b.action_id)).toEqual(['rea_approve', 'rea_reject']);
    expect(JSON.stringify(parent.blocks)).toContain('<https://github.com/acme/ctr-ranker/pull/12|Plan PR>');

    const finished = stored(await finishedPlan());
    await chat.publishPlan(finished);
    await chat.publishPlan(finished);

    expect(topLevel()).toHaveLength(1);
    expect(parent.updates).toHaveLength(2);
    expect(buttonsOf(parent.blocks)).toEqual([]);
    expect(JSON.stringify(parent.blocks)).toContain('approved by <@U0ALICE> in Slack');
    expect(posted).toHaveLength(1);
    expect(emulator.calls.map((c) => c.method)).toEqual(['chat.postMessage', 'chat.update', 'chat.update']);
  });

  it('does not start a second thread when the store has not caught up with the first', async () => {
    const plan = proposedPlan();
    await Promise.all([chat.publishPlan(plan), chat.notify(plan, 'plan_approved', 'Approved by U0ALICE')]);
    await chat.publishPlan(plan);
    expect(topLevel()).toHaveLength(1);
    const [parent] = topLevel();
    expect(emulator.thread(CHANNEL, parent!.ts)).toHaveLength(2);
  });

  it('replies in the thread: decisions, failures, escalations and budget requests with their buttons', async () => {
    const plan = proposedPlan();
    await chat.publishPlan(plan);
    const done = stored(await finishedPlan());
    await chat.notify(done, 'plan_approved', 'Approved by U0ALICE (slack) with a budget of 338 GPU-hours.');
    await chat.notify(
      done,
      'phase_decision',
      'Validation: 3 of 6 passed; best: feature_crosses false -> true',
    );
    await chat.notify(
      done,
      'failure_handled',
      'run r7 failed: exited with code 1. GPU out of memory: retrying',
    );
    await chat.escalate(done, escalation(done));
    await chat.requestBudget(done, budgetRequest());
    await chat.report(done, '# Report\n', 'experiments/reports/x.md');
    await chat.promote(done, {
      type: 'open_promotion',
      overrides: done.winner!.overrides,
      idempotencyKey: 'p',
    });

    const [parent, ...replies] = emulator.thread(CHANNEL, posted[0]!.ts);
    expect(parent!.thread_ts).toBeUndefined();
    // The report is two replies: the Block Kit message and the chart shared under it.
    expect(replies).toHaveLength(8);
    expect(replies.every((r) => r.thread_ts === parent!.ts)).toBe(true);
    expect(replies[0]!.text).toContain('Approved by U0ALICE');
    expect(JSON.stringify(replies[0]!.blocks)).toContain('Approved by <@U0ALICE> (slack)');
    expect(JSON.stringify(replies[1]!.blocks)).toContain('feature_crosses false → true');
    expect(buttonsOf(replies[3]!.blocks)).toEqual([
      { action_id: 'rea_escalation_retry', value: `${done.id}:e1`, text: 'Retry' },
      { action_id: 'rea_escalation_skip', value: `${done.id}:e1`, text: 'Skip' },
      { action_id: 'rea_cancel', value: done.id, text: 'Cancel plan' },
    ]);
    expect(buttonsOf(replies[4]!.blocks)).toEqual([
      { action_id: 'rea_budget', value: `${done.id}:+38`, text: 'Raise by 38 GPU-hours' },
      { action_id: 'rea_cancel', value: done.id, text: 'Cancel plan' },
    ]);
    expect(JSON.stringify(replies[5]!.blocks)).toContain('Final report');
    expect(replies[6]!.files).toEqual([emulator.files[0]!.id]);
    expect(JSON.stringify(replies[7]!.blocks)).toContain('`feature_crosses: true`');
    expect(topLevel()).toHaveLength(1);
  });

  it('stays silent for a plan without a Slack thread', async () => {
    const plan: PlanState = { ...proposedPlan() };
    delete plan.slack;
    await chat.publishPlan(plan);
    await chat.notify(plan, 'phase_decision', 'x');
    await chat.escalate(plan, escalation(plan));
    expect(emulator.calls).toEqual([]);
  });

  it('posts the parent before a reply when the plan has a channel but no parent yet', async () => {
    const plan = proposedPlan();
    await chat.notify(plan, 'paused', 'Paused by U0ALICE');
    expect(posted).toHaveLength(1);
    const thread = emulator.thread(CHANNEL, posted[0]!.ts);
    expect(thread.map((m) => m.text)).toEqual([
      expect.stringContaining('Plan ctr-ranker-4a2b9c'),
      'Paused by U0ALICE',
    ]);
  });

  it('starts the thread again when someone deleted the parent', async () => {
    const plan = proposedPlan();
    await chat.publishPlan(plan);
    await webClient(emulator).chat.delete({ channel: CHANNEL, ts: posted[0]!.ts });
    await chat.publishPlan(stored(plan));
    expect(posted).toHaveLength(2);
    expect(posted[1]!.ts).not.toBe(posted[0]!.ts);
  });

  it("throws a typed error with Slack's code, so that the outbox retries", async () => {
    const plan = proposedPlan();
    emulator.failNext('chat.postMessage', 'not_in_channel');
    const err = await chat.publishPlan(plan).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SlackDeliveryError);
    expect(err).toMatchObject({
      code: 'slack_delivery_failed',
      slackError: 'not_in_channel',
      planId: plan.id,
    });
    expect(posted).toEqual([]);
    await chat.publishPlan(plan);
    expect(topLevel()).toHaveLength(1);
  });

  it('delivers every message of a plan with 200 hypotheses and 5,000 runs within Slack limits', async () => {
    const huge = await hugePlan();
    huge.status = 'awaiting_approval';
    await chat.publishPlan(huge);
    const live = stored({ ...huge, status: 'paused', pauseReason: 'escalation' });
    await chat.publishPlan(live);
    await chat.notify(live, 'phase_decision', `${'a long decision <with> & stuff '.repeat(3000)}`);
    await chat.escalate(live, hugeEscalation(live));
    await chat.requestBudget(live, { ...budgetRequest(), wouldBuy: 'more runs '.repeat(2000) });
    await chat.report({ ...live, status: 'completed' }, '# huge\n');
    // The emulator refuses (invalid_blocks, msg_too_long) whatever Slack would refuse.
    expect(emulator.calls.filter((c) => !c.result.ok)).toEqual([]);
    // Six messages, plus the report's look at its thread and the chart's two upload calls.
    expect(emulator.calls.map((c) => c.method)).toEqual([
      'chat.postMessage',
      'chat.update',
      'chat.postMessage',
      'chat.postMessage',
      'chat.postMessage',
      'conversations.replies',
      'chat.postMessage',
      'files.getUploadURLExternal',
      'files.completeUploadExternal',
    ]);
    expect(topLevel()).toHaveLength(1);
  });
});
