import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ACTION_IDS } from '../../../src/adapters/slack/blocks.ts';
import type { Store } from '../../../src/app/ports.ts';
import type { ReaServer } from '../../../src/main.ts';
import type { UnthrottledProbotOctokit } from '../../emulators/github/probot-octokit.ts';
import type { GithubEmulator } from '../../emulators/github/server.ts';
import {
  blockActionBody,
  postToBolt,
  type SlackEmulator,
  slashCommandBody,
  startSlackEmulator,
} from '../../emulators/slack/index.ts';
import {
  cleanUp,
  cleanups,
  harness as githubHarness,
  onlyPlan,
  owner,
  repo,
  waitFor,
} from '../github/harness.ts';
import { buttonsOf } from './helpers.ts';

// `rea serve` with GitHub and Slack together, over HTTP only: `/rea plan` in Slack makes the plan PR on the
// GitHub emulator and the plan's thread on the Slack emulator; a non-approver's click changes nothing; an
// approver's click starts it; it runs on emulated runners to the end, and the thread follows.

const SLACK_SECRET = 'e2e-slack-signing-secret';
/** The toy `.rea.yml` names no Slack channel, so threads go to REA_SLACK_CHANNEL. */
const CHANNEL = 'C0EXPERIMENTS';
/** Where the command is typed: not the plan channel, to show the thread lands in the configured one. */
const ASKED_IN = 'C0RANKING';

interface Harness {
  github: GithubEmulator;
  slack: SlackEmulator;
  rea: ReaServer;
  store: Store;
  app: InstanceType<typeof UnthrottledProbotOctokit>;
  dataDir: string;
}

afterEach(cleanUp);

async function harness(): Promise<Harness> {
  const slack = await startSlackEmulator();
  cleanups.push(() => slack.close());
  const h = await githubHarness({
    // Alice approves in Slack; the plan's thread goes to REA_SLACK_CHANNEL.
    reaYml: (t) => t.replace('slack: ["U024BE7LH"]', 'slack: ["U0ALICE"]'),
    collaborators: { alice: 'write' },
    env: {
      SLACK_BOT_TOKEN: slack.token,
      SLACK_SIGNING_SECRET: SLACK_SECRET,
      SLACK_API_URL: slack.apiUrl,
      REA_SLACK_CHANNEL: CHANNEL,
    },
  });
  return { github: h.emulator, slack, rea: h.rea, store: h.store, app: h.app, dataDir: h.dataDir };
}

describe('rea serve with GitHub and Slack', () => {
  it('plans from a slash command, approves in Slack, and keeps the thread up to date', async () => {
    const h = await harness();
    const events = `${h.rea.url}/slack/events`;

    const ack = await postToBolt(
      events,
      slashCommandBody({
        emulator: h.slack,
        text: `plan ${owner}/${repo} reduce NE`,
        user_id: 'U0ALICE',
        channel_id: ASKED_IN,
      }),
      { secret: SLACK_SECRET },
    );
    expect(ack.status).toBe(200);

    const plan = await waitFor('the plan PR and its Slack thread', async () => {
      const p = await onlyPlan(h.store);
      return p?.origin?.pr !== undefined && p.slack?.ts !== undefined ? p : undefined;
    });
    expect(plan.slack).toMatchObject({ channel: CHANNEL, requestedBy: 'U0ALICE' });
    expect(plan.origin?.requestedIn).toBeUndefined();
    const { data: pr } = await h.app.rest.pulls.get({ owner, repo, pull_number: plan.origin!.pr! });
    expect(pr.head.ref).toBe(`rea/plan-${plan.id}`);
    const parentTs = plan.slack!.ts!;
    const parent = h.slack.message(CHANNEL, parentTs)!;
    expect(parent).toBeDefined();
    expect(buttonsOf(parent.blocks).map((b) => b.action_id)).toContain(ACTION_IDS.approve);
    expect(JSON.stringify(parent.blocks)).toContain(`/pull/${plan.origin!.pr}`);

    // Bob is not an approver: an ephemeral explanation, and the plan does not move.
    const bobClick = await postToBolt(
      events,
      blockActionBody({
        emulator: h.slack,
        action_id: ACTION_IDS.approve,
        user: 'U0BOB',
        channel: CHANNEL,
        message_ts: parentTs,
      }),
      { secret: SLACK_SECRET },
    );
    expect(bobClick.status).toBe(200);
    const refusal = await h.slack.waitFor(
      () => h.slack.responses.find((r) => r.context.user === 'U0BOB'),
      10_000,
    );
    expect(refusal.body.response_type).toBe('ephemeral');
    expect(JSON.stringify(refusal.body)).toMatch(/only approvers/);
    expect((await h.store.getPlan(plan.id))!.status).toBe('awaiting_approval');

    // A request Slack did not sign is refused and does nothing.
    const forged = await postToBolt(
      events,
      blockActionBody({
        emulator: h.slack,
        action_id: ACTION_IDS.approve,
        user: 'U0ALICE',
        channel: CHANNEL,
        message_ts: parentTs,
      }),
      { secret: SLACK_SECRET, badSignature: true },
    );
    expect(forged.status).toBe(401);
    expect((await h.store.getPlan(plan.id))!.status).toBe('awaiting_approval');

    // Alice is: the plan starts.
    const aliceClick = await postToBolt(
      events,
      blockActionBody({
        emulator: h.slack,
        action_id: ACTION_IDS.approve,
        user: 'U0ALICE',
        channel: CHANNEL,
        message_ts: parentTs,
      }),
      { secret: SLACK_SECRET },
    );
    expect(aliceClick.status).toBe(200);

    const done = await waitFor(
      'the plan to finish',
      async () => {
        await h.rea.tick();
        const p = await h.store.getPlan(plan.id);
        if (p?.status === 'paused' || p?.status === 'cancelled' || p?.status === 'rejected') return p;
        if (p?.status !== 'completed') return undefined;
        // The report is the last chat effect; wait until the outbox has delivered everything.
        return (await h.store.outboxBacklog()) === 0 ? p : undefined;
      },
      90_000,
    );
    expect(done.status).toBe('completed');
    expect(done.approvals[0]).toMatchObject({ kind: 'approve', by: 'U0ALICE', via: 'slack' });
    expect(done.slack?.ts).toBe(parentTs);

    // One parent in the channel, updated in place as the plan moved; the final report in its thread.
    const parents = h.slack.messages.filter((m) => m.channel === CHANNEL && !m.thread_ts);
    expect(parents).toHaveLength(1);
    const finalParent = h.slack.message(CHANNEL, parentTs)!;
    expect(finalParent.updates.length).toBeGreaterThanOrEqual(2);
    expect(buttonsOf(finalParent.blocks).map((b) => b.action_id)).not.toContain(ACTION_IDS.approve);
    const replies = h.slack.thread(CHANNEL, parentTs).slice(1);
    expect(
      replies.some((m) => JSON.stringify(m.blocks ?? m.text).includes(`Final report: plan ${plan.id}`)),
    ).toBe(true);
    // The report's chart follows it in the thread as a PNG.
    expect(h.slack.files).toHaveLength(1);
    expect(h.slack.files[0]).toMatchObject({ channel: CHANNEL, thread_ts: parentTs, mimetype: 'image/png' });
    const reportAt = replies.findIndex((m) => JSON.stringify(m.blocks ?? []).includes('Final report'));
    expect(replies[reportAt + 1]?.files).toEqual([h.slack.files[0]!.id]);
    // The full report is on disk; the PR gets it as a comment, with the chart as Mermaid.
    const file = await readFile(path.join(h.dataDir, 'reports', `${plan.id}.md`), 'utf8');
    expect(file).toContain(`# Report: plan ${plan.id}`);
    expect(file).toContain('## Insights this plan added or changed');
    const { data: comments } = await h.app.rest.issues.listComments({
      owner,
      repo,
      issue_number: done.origin!.pr!,
    });
    const reportComments = comments.filter((c) => c.body?.startsWith(`<!-- rea:report:${plan.id} -->`));
    expect(reportComments).toHaveLength(1);
    expect(reportComments[0]!.body).toContain('```mermaid\nxychart-beta');
    expect(h.slack.messages.filter((m) => m.channel === ASKED_IN)).toHaveLength(0);

    const metrics = await fetch(`${h.rea.url}/metrics`).then((r) => r.text());
    expect(metrics).toMatch(/^rea_webhooks_received_total\{source="github"\} [1-9]\d*$/m);
    expect(metrics).toMatch(/^rea_webhooks_received_total\{source="slack"\} [1-9]\d*$/m);
    expect(metrics).toMatch(/^rea_wake_latency_seconds_count\{source="workflow_run"\} [1-9]\d*$/m);
    expect(metrics).toMatch(/^rea_dispatches_total [1-9]\d*$/m);
    expect(metrics).toMatch(/^rea_gpu_hours_spent [0-9.]*[1-9]/m);
    expect(metrics).toContain('rea_plans{status="completed"} 1');
    expect(metrics).toMatch(/^rea_outbox_backlog 0$/m);
    expect(h.github.violations).toEqual([]);
  }, 120_000);

  it('keeps the plan moving while Slack fails, then delivers every message once, in order', async () => {
    const h = await harness();
    const events = `${h.rea.url}/slack/events`;
    await postToBolt(
      events,
      slashCommandBody({
        emulator: h.slack,
        text: `plan ${owner}/${repo} reduce NE`,
        user_id: 'U0ALICE',
        channel_id: ASKED_IN,
      }),
      { secret: SLACK_SECRET },
    );
    const plan = await waitFor('the plan and its thread', async () => {
      const p = await onlyPlan(h.store);
      return p?.origin?.pr !== undefined && p.slack?.ts !== undefined ? p : undefined;
    });
    // Slack goes bad for a while: errors on posts, rate limits on updates.
    for (let i = 0; i < 3; i++) h.slack.failNext('chat.postMessage', 'internal_error');
    for (let i = 0; i < 2; i++) h.slack.rateLimitNext('chat.update', 1);
    await postToBolt(
      events,
      blockActionBody({
        emulator: h.slack,
        action_id: ACTION_IDS.approve,
        user: 'U0ALICE',
        channel: CHANNEL,
        message_ts: plan.slack!.ts!,
      }),
      { secret: SLACK_SECRET },
    );
    const done = await waitFor(
      'the plan to finish and every message to be delivered',
      async () => {
        await h.rea.tick();
        const p = await h.store.getPlan(plan.id);
        return p?.status === 'completed' && (await h.store.outboxBacklog()) === 0 ? p : undefined;
      },
      120_000,
    );
    expect(done.winner).toBeDefined();
    const replies = h.slack
      .thread(CHANNEL, plan.slack!.ts!)
      .slice(1)
      .map((m) => m.text);
    // No message twice, and the phase decisions in the order they were made.
    expect(new Set(replies).size).toBe(replies.length);
    const decisionAt = done.decisions.map((d) =>
      replies.findIndex((r) => r.includes(d.text.slice(0, 40).replaceAll('->', '→'))),
    );
    expect(decisionAt.every((i) => i >= 0)).toBe(true);
    expect([...decisionAt].sort((a, b) => a - b)).toEqual(decisionAt);
    // Slack really refused: three posts failed and two updates were rate limited before it recovered.
    const refused = h.slack.calls.filter(
      (c) => (c.result as { ok?: boolean } | undefined)?.ok === false || c.status === 429,
    );
    expect(refused.length).toBeGreaterThanOrEqual(5);
  }, 150_000);
});
