import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { SlackChat, SlackDeliveryError } from '../../../src/adapters/slack/slack-chat.ts';
import { PNG_SIGNATURE, pngDimensions } from '../../../src/app/charts/render.ts';
import type { PlanState } from '../../../src/core/model.ts';
import { type SlackEmulator, startSlackEmulator } from '../../emulators/slack/index.ts';
import { webClient } from './helpers.ts';
import { CHANNEL, finishedPlan, hugePlan, proposedPlan } from './plans.ts';

// The final report in the plan's thread: the Block Kit reply, then the chart PNG under it, delivered once
// even when the outbox retries after the upload failed or a new process takes over.

let emulator: SlackEmulator;

beforeAll(async () => {
  emulator = await startSlackEmulator();
});
afterAll(() => emulator.close());
beforeEach(() => emulator.reset());

function newChat(history?: PlanState[]): SlackChat {
  return new SlackChat(webClient(emulator), {
    onParentPosted: async () => {},
    ...(history ? { history: async () => history } : {}),
  });
}

/** The finished plan with its thread already in Slack (the parent posted as the plan was proposed). */
async function threaded(plan?: PlanState): Promise<PlanState> {
  const done = plan ?? (await finishedPlan());
  const parent = await webClient(emulator).chat.postMessage({ channel: CHANNEL, text: `Plan ${done.id}` });
  return { ...done, slack: { channel: CHANNEL, ts: parent.ts! } };
}

function reportReplies(plan: PlanState) {
  return emulator
    .thread(CHANNEL, plan.slack!.ts!)
    .slice(1)
    .filter((m) => JSON.stringify(m.blocks ?? []).includes(`Final report: plan ${plan.id}`));
}

describe('SlackChat.report', () => {
  it('replies with the report, then shares the chart PNG in the same thread', async () => {
    const plan = await threaded();
    await newChat().report(plan, '# Report\n', 'experiments/reports/x.md');

    const [parent, reply, chartMessage] = emulator.thread(CHANNEL, plan.slack!.ts!);
    expect(parent!.ts).toBe(plan.slack!.ts);
    expect(JSON.stringify(reply!.blocks)).toContain('The chart of ne by run and phase follows');
    expect(emulator.files).toHaveLength(1);
    const file = emulator.files[0]!;
    expect(file).toMatchObject({
      channel: CHANNEL,
      thread_ts: plan.slack!.ts,
      mimetype: 'image/png',
      name: `rea-${plan.id}-ne.png`,
      title: `ne by run and phase, plan ${plan.id}`,
    });
    const ok = plan.runs.filter((r) => r.status === 'succeeded').length;
    expect(file.alt_text).toMatch(new RegExp(`^Scatter plot of ne for ${ok} successful runs`));
    expect(chartMessage!.files).toEqual([file.id]);
    expect(file.bytes.subarray(0, 8).equals(PNG_SIGNATURE)).toBe(true);
    expect(pngDimensions(file.bytes)).toEqual({ width: 900, height: 450 });
    expect(file.declaredLength).toBe(file.bytes.length);
  });

  it('does not post the reply twice when the outbox retries after a failed upload', async () => {
    const plan = await threaded();
    const chat = newChat();
    emulator.failNext('files.completeUploadExternal', 'ratelimited');
    const err = await chat.report(plan, '# r\n').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SlackDeliveryError);
    expect(err).toMatchObject({ method: 'files.uploadV2', slackError: 'ratelimited' });
    expect(reportReplies(plan)).toHaveLength(1);
    expect(emulator.files).toHaveLength(0);

    await chat.report(plan, '# r\n');
    expect(reportReplies(plan)).toHaveLength(1);
    expect(emulator.files).toHaveLength(1);
    // Delivered: a third call (a duplicate outbox item) changes nothing.
    await chat.report(plan, '# r\n');
    expect(reportReplies(plan)).toHaveLength(1);
    expect(emulator.files).toHaveLength(1);
  });

  it('finds the reply an earlier process posted in the thread and only adds the missing chart', async () => {
    const plan = await threaded();
    emulator.failNext('files.completeUploadExternal', 'internal_error');
    await expect(newChat().report(plan, '# r\n')).rejects.toThrow(/internal_error/);
    expect(reportReplies(plan)).toHaveLength(1);

    // A new process (after a restart) knows nothing of the first one's progress.
    await newChat().report(plan, '# r\n');
    expect(reportReplies(plan)).toHaveLength(1);
    expect(emulator.files).toHaveLength(1);
    expect(emulator.files[0]!.thread_ts).toBe(plan.slack!.ts);

    await newChat().report(plan, '# r\n');
    expect(reportReplies(plan)).toHaveLength(1);
    expect(emulator.files).toHaveLength(1);
  });

  it('posts the report when the thread cannot be read (no history scope)', async () => {
    const plan = await threaded();
    emulator.failNext('conversations.replies', 'missing_scope');
    await newChat().report(plan, '# r\n');
    expect(reportReplies(plan)).toHaveLength(1);
    expect(emulator.files).toHaveLength(1);
  });

  it('skips the chart when no two runs produced the metric, and says nothing about one', async () => {
    const plan = await threaded({
      ...proposedPlan(),
      status: 'cancelled',
      finishedReason: 'cancelled by U0ALICE',
    });
    await newChat().report(plan, '# r\n');
    expect(reportReplies(plan)).toHaveLength(1);
    expect(JSON.stringify(reportReplies(plan)[0]!.blocks)).not.toContain('chart');
    expect(emulator.files).toHaveLength(0);
  });

  it('uses the model history to say which insights changed', async () => {
    const earlier = await finishedPlan('ctr-ranker-000001', 10_001);
    const plan = await threaded(await finishedPlan());
    await newChat([earlier, plan]).report(plan, '# r\n');
    const text = JSON.stringify(reportReplies(plan)[0]!.blocks);
    // Two plans' evidence turns learning_rate 0.09 from a null into a win; what only this plan's probes and
    // search measured (they are seeded by the plan) is new.
    expect(text).toMatch(
      /\*win\* learning_rate 0\.03 → 0\.09 at fidelity 0\.1: [^·]*2 runs, 2 plans · _status changed, was null/,
    );
    expect(text).toContain('· _new_');
    expect(text).not.toMatch(/learning_rate 0\.03 → 0\.09 at fidelity 0\.1: [^·]*· _new_/);
  });

  it('delivers the report of a plan with 200 hypotheses and 5,000 runs within Slack limits', async () => {
    const plan = await threaded(await hugePlan());
    await newChat().report(plan, '# huge\n');
    expect(emulator.calls.filter((c) => !c.result.ok)).toEqual([]);
    expect(reportReplies(plan)).toHaveLength(1);
    expect(emulator.files).toHaveLength(1);
    expect(pngDimensions(emulator.files[0]!.bytes)).toEqual({ width: 900, height: 450 });
  });
});
