import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { App, HTTPReceiver } from '@slack/bolt';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  type ControlRequest,
  controlFromButton,
  registerSlackHandlers,
  type SlackDeps,
} from '../../../src/adapters/slack/app.ts';
import { mayActInSlack } from '../../../src/adapters/slack/approvers.ts';
import { SlackChat } from '../../../src/adapters/slack/slack-chat.ts';
import {
  blockActionBody,
  postToBolt,
  type SlackEmulator,
  slashCommandBody,
  startSlackEmulator,
} from '../../emulators/slack/index.ts';
import { buttonsOf, quietLogger, webClient } from './helpers.ts';
import { budgetRequest, CHANNEL, escalation, proposedPlan } from './plans.ts';

// The Bolt handlers behind a real HTTPReceiver, driven by signed requests as Slack sends them, with fake use
// cases that record what they were asked. The fake `control` plays the approver check: only Alice may act.

const SECRET = 'rea-test-signing-secret';

interface Calls {
  requestPlan: Array<Parameters<SlackDeps['requestPlan']>[0]>;
  control: ControlRequest[];
  status: Array<string | undefined>;
  insights: Array<[string, string | undefined]>;
  digest: Array<[string, boolean]>;
  errors: string[];
}

let emulator: SlackEmulator;
let app: App;
let url: string;
let calls: Calls;
let planGate: { release: () => void; promise: Promise<void> };
let failControl = false;

function gate() {
  let release = () => {};
  const promise = new Promise<void>((resolve) => {
    release = resolve;
  });
  return { release, promise };
}

const deps: SlackDeps = {
  async requestPlan(req) {
    calls.requestPlan.push(req);
    await planGate.promise;
    return { ok: true, planId: 'ctr-ranker-4a2b9c' };
  },
  async control(req) {
    calls.control.push(req);
    if (failControl) throw new Error('database went away');
    if (req.user !== 'U0ALICE') {
      return { ok: false, message: `<@${req.user}> is not an approver of ctr-ranker; nothing changed.` };
    }
    return { ok: true, message: `Done: ${req.action} ${req.planId}` };
  },
  async status(planId) {
    calls.status.push(planId);
    return planId ? `Plan ${planId}: running, 12/37 runs` : 'No open plans.';
  },
  async insights(repo, text) {
    calls.insights.push([repo, text]);
    return `What rea knows about ${repo}: crosses help (+3.0%).`;
  },
  async digest(channel, now) {
    calls.digest.push([channel, now]);
    return now ? 'Posted this week’s digest.' : 'This week: 2 plans, 1 win.';
  },
  log: {
    info: () => {},
    warn: () => {},
    error: (obj) => {
      calls.errors.push(JSON.stringify(obj));
    },
  },
};

function noCalls(): boolean {
  return (
    calls.requestPlan.length + calls.control.length + calls.status.length + calls.insights.length === 0 &&
    calls.digest.length === 0
  );
}

async function slash(text: string, user = 'U0ALICE') {
  const body = slashCommandBody({ emulator, text, user_id: user, channel_id: CHANNEL });
  const res = await postToBolt(url, body, { secret: SECRET });
  return {
    status: res.status,
    json: res.body ? (JSON.parse(res.body) as { text?: string; response_type?: string }) : {},
  };
}

async function click(actionId: string, user: string, messageTs: string) {
  const body = blockActionBody({
    emulator,
    action_id: actionId,
    user,
    channel: CHANNEL,
    message_ts: messageTs,
  });
  return postToBolt(url, body, { secret: SECRET });
}

/** What a response_url answer carried, by the order it was sent. */
async function responseText(n: number): Promise<string> {
  const r = await emulator.waitFor(() => emulator.responses[n]);
  return JSON.stringify(r.body);
}

beforeAll(async () => {
  emulator = await startSlackEmulator();
  const receiver = new HTTPReceiver({ signingSecret: SECRET, logger: quietLogger() });
  app = new App({
    token: emulator.token,
    receiver,
    logger: quietLogger(),
    clientOptions: { slackApiUrl: emulator.apiUrl, retryConfig: { retries: 0 } },
  });
  registerSlackHandlers(app, deps);
  const server = (await app.start({ port: 0, host: '127.0.0.1' })) as Server;
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/slack/events`;
});
afterAll(async () => {
  await app.stop();
  await emulator.close();
});
beforeEach(() => {
  emulator.reset();
  calls = { requestPlan: [], control: [], status: [], insights: [], digest: [], errors: [] };
  planGate = gate();
  planGate.release();
  failControl = false;
});

describe('/rea', () => {
  it('acks `plan` within the request, then plans and answers after', async () => {
    planGate = gate();
    const res = await slash('plan acme/ctr-ranker reduce NE');
    // Answered while the use case is still working: the ack does not wait for planning.
    expect(res.status).toBe(200);
    expect(res.json.response_type).toBe('ephemeral');
    expect(res.json.text).toContain('Working on a plan for acme/ctr-ranker: reduce NE');
    await emulator.waitFor(() => calls.requestPlan.length === 1);
    expect(emulator.responses).toHaveLength(0);
    expect(calls.requestPlan).toEqual([
      { repo: 'acme/ctr-ranker', goal: 'reduce NE', channel: CHANNEL, user: 'U0ALICE' },
    ]);
    planGate.release();
    expect(await responseText(0)).toContain('Plan ctr-ranker-4a2b9c is proposed');
    expect(emulator.ephemerals.at(-1)).toMatchObject({ user: 'U0ALICE', via: 'response_url' });
  });

  it('answers a malformed command with its usage line and what was wrong, calling nothing', async () => {
    const res = await slash('budget ctr-ranker-4a2b9c lots');
    expect(res.status).toBe(200);
    expect(res.json).toEqual({
      response_type: 'ephemeral',
      text: "'lots' is not an amount like +50. Usage: /rea budget &lt;plan&gt; +&lt;gpu-hours&gt;",
    });
    expect((await slash('plan reduce NE')).json.text).toBe(
      'Which repository? Usage: /rea plan &lt;owner/repo&gt; &lt;goal&gt;',
    );
    expect(noCalls()).toBe(true);
  });

  it('shows help for `help`, for nothing at all and after an unknown command', async () => {
    for (const text of ['help', '', 'frobnicate']) {
      const res = await slash(text);
      expect(res.json.response_type).toBe('ephemeral');
      expect(res.json.text).toContain('```\nrea commands:');
      expect(res.json.text).toContain(
        '/rea plan &lt;owner/repo&gt; &lt;goal&gt;: propose an experiment plan',
      );
      expect(res.json.text).not.toContain('/rea init');
    }
    expect((await slash('frobnicate')).json.text).toMatch(/^Unknown command 'frobnicate'\./);
    expect(noCalls()).toBe(true);
  });

  it('runs status, insights, digest and control commands after the ack, answering only the asker', async () => {
    await slash('status ctr-ranker-4a2b9c');
    expect(await responseText(0)).toContain('Plan ctr-ranker-4a2b9c: running');
    await slash('insights acme/ctr-ranker crosses');
    expect(await responseText(1)).toContain('What rea knows about acme/ctr-ranker');
    await slash('digest now');
    expect(await responseText(2)).toContain('Posted this');
    await slash('reject ctr-ranker-4a2b9c too expensive', 'U0BOB');
    expect(await responseText(3)).toContain('is not an approver');
    await slash('budget ctr-ranker-4a2b9c +50');
    expect(await responseText(4)).toContain('Done: budget');
    expect(calls.status).toEqual(['ctr-ranker-4a2b9c']);
    expect(calls.insights).toEqual([['acme/ctr-ranker', 'crosses']]);
    expect(calls.digest).toEqual([[CHANNEL, true]]);
    expect(calls.control).toEqual([
      { planId: 'ctr-ranker-4a2b9c', action: 'reject', user: 'U0BOB', reason: 'too expensive' },
      { planId: 'ctr-ranker-4a2b9c', action: 'budget', user: 'U0ALICE', gpuHours: 50 },
    ]);
    expect(emulator.responses.every((r) => r.body.response_type === 'ephemeral')).toBe(true);
    expect(emulator.messages).toHaveLength(0);
  });

  it('tells the user when a use case fails, and logs it', async () => {
    failControl = true;
    await slash('approve ctr-ranker-4a2b9c');
    expect(await responseText(0)).toContain('rea hit an internal error and nothing changed');
    expect(calls.errors.join()).toContain('database went away');
  });

  it('refuses a bad signature and a six-minute-old timestamp with 401, calling nothing', async () => {
    const body = slashCommandBody({ emulator, text: 'status', user_id: 'U0ALICE', channel_id: CHANNEL });
    expect((await postToBolt(url, body, { secret: SECRET, badSignature: true })).status).toBe(401);
    const stale = Math.floor(Date.now() / 1000) - 6 * 60;
    expect((await postToBolt(url, body, { secret: SECRET, timestamp: stale })).status).toBe(401);
    const plan = proposedPlan();
    const action = blockActionBody({
      emulator,
      action_id: 'rea_approve',
      value: plan.id,
      user: 'U0ALICE',
      channel: CHANNEL,
      message_ts: '1.000001',
    });
    expect((await postToBolt(url, action, { secret: 'not-the-secret' })).status).toBe(401);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(noCalls()).toBe(true);
    expect(emulator.responses).toHaveLength(0);
  });
});

describe('buttons', () => {
  async function thread() {
    const plan = proposedPlan();
    let parentTs = '';
    const chat = new SlackChat(webClient(emulator), {
      onParentPosted: async (_id, _channel, ts) => {
        parentTs = ts;
      },
    });
    await chat.publishPlan(plan);
    const live = { ...plan, slack: { channel: CHANNEL, ts: parentTs } };
    await chat.escalate(live, escalation(live));
    await chat.requestBudget(live, budgetRequest());
    const [, esc, budget] = emulator.thread(CHANNEL, parentTs);
    return { plan, parentTs, escTs: esc!.ts, budgetTs: budget!.ts };
  }

  it('Approve pressed by an approver calls control and leaves the parent to SlackChat', async () => {
    const { plan, parentTs } = await thread();
    const res = await click('rea_approve', 'U0ALICE', parentTs);
    expect(res.status).toBe(200);
    await emulator.waitFor(() => calls.control.length === 1);
    expect(calls.control).toEqual([{ planId: plan.id, action: 'approve', user: 'U0ALICE' }]);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(emulator.ephemerals).toHaveLength(0);
    expect(emulator.message(CHANNEL, parentTs)!.updates).toHaveLength(0);
  });

  it('Approve pressed by a non-approver gets an ephemeral explanation and changes nothing', async () => {
    const { plan, parentTs } = await thread();
    const before = structuredClone(emulator.message(CHANNEL, parentTs)!.blocks);
    await click('rea_approve', 'U0BOB', parentTs);
    const note = await emulator.waitFor(() => emulator.ephemerals.at(-1));
    expect(note).toMatchObject({ user: 'U0BOB', channel: CHANNEL, via: 'response_url' });
    expect(note.text).toContain('is not an approver');
    expect(calls.control).toEqual([{ planId: plan.id, action: 'approve', user: 'U0BOB' }]);
    const parent = emulator.message(CHANNEL, parentTs)!;
    expect(parent.updates).toHaveLength(0);
    expect(parent.blocks).toEqual(before);
    expect(emulator.messages.filter((m) => m.thread_ts === parentTs)).toHaveLength(2);
  });

  it('Retry on an escalation calls control with the escalation, then retires its buttons', async () => {
    const { plan, escTs } = await thread();
    await click('rea_escalation_retry', 'U0ALICE', escTs);
    const updated = await emulator.waitFor(() => emulator.message(CHANNEL, escTs)!.updates.at(-1));
    expect(calls.control).toEqual([
      { planId: plan.id, action: 'escalation_retry', user: 'U0ALICE', escalationId: 'e1' },
    ]);
    expect(buttonsOf(updated.blocks)).toEqual([]);
    expect(JSON.stringify(updated.blocks)).toContain('<@U0ALICE> chose *Retry*');
    expect(JSON.stringify(updated.blocks)).toContain('an illegal memory access');
  });

  it('Skip pressed by a non-approver keeps the buttons for someone who may', async () => {
    const { escTs } = await thread();
    await click('rea_escalation_skip', 'U0BOB', escTs);
    await emulator.waitFor(() => emulator.ephemerals.at(-1));
    expect(calls.control[0]).toMatchObject({ action: 'escalation_skip', escalationId: 'e1', user: 'U0BOB' });
    expect(emulator.message(CHANNEL, escTs)!.updates).toHaveLength(0);
  });

  it('Raise budget and Cancel carry the amount and the plan', async () => {
    const { plan, budgetTs, escTs } = await thread();
    await click('rea_budget', 'U0ALICE', budgetTs);
    const updated = await emulator.waitFor(() => emulator.message(CHANNEL, budgetTs)!.updates.at(-1));
    expect(JSON.stringify(updated.blocks)).toContain('<@U0ALICE> raised the budget');
    await click('rea_cancel', 'U0ALICE', escTs);
    await emulator.waitFor(() => calls.control.length === 2);
    // A button that is gone (the message was answered) is not one rea acts on.
    await click('rea_cancel', 'U0ALICE', budgetTs);
    const note = await emulator.waitFor(() => emulator.ephemerals.at(-1));
    expect(note.text).toContain('does not recognise this button');
    expect(calls.control).toEqual([
      { planId: plan.id, action: 'budget', user: 'U0ALICE', gpuHours: 38 },
      { planId: plan.id, action: 'cancel', user: 'U0ALICE' },
    ]);
  });

  it('reads button values as ids only, refusing anything else', () => {
    expect(controlFromButton('rea_budget', 'p-1:+12.5', 'U1')).toEqual({
      planId: 'p-1',
      action: 'budget',
      user: 'U1',
      gpuHours: 12.5,
    });
    expect(controlFromButton('rea_budget', 'p-1:+0', 'U1')).toBeUndefined();
    expect(controlFromButton('rea_budget', 'p-1', 'U1')).toBeUndefined();
    expect(controlFromButton('rea_escalation_skip', 'p-1', 'U1')).toBeUndefined();
    expect(controlFromButton('rea_reject', '', 'U1')).toBeUndefined();
    expect(controlFromButton('rea_other', 'p-1', 'U1')).toBeUndefined();
  });
});

describe('mayActInSlack', () => {
  it('accepts listed users and members of listed user groups, and explains a refusal', async () => {
    const client = webClient(emulator);
    expect(await mayActInSlack(client, 'U0ALICE', ['U0ALICE'])).toEqual({ ok: true });
    expect(await mayActInSlack(client, 'U0ALICE', ['S0APPROVERS'])).toEqual({ ok: true });
    const bob = await mayActInSlack(client, 'U0BOB', ['S0APPROVERS', 'S0GONE', 'U0CAROL']);
    expect(bob).toEqual({
      ok: false,
      reason:
        'only approvers can do that: <!subteam^S0APPROVERS>, <!subteam^S0GONE>, <@U0CAROL> (`.rea.yml` `approvers.slack`)',
    });
    expect((await mayActInSlack(client, 'U0BOB', [])).ok).toBe(false);
  });
});
