import { describe, expect, it } from 'vitest';
import { makeMetrics } from '../../src/app/metrics.ts';
import type { Performer } from '../../src/app/outbox-worker.ts';
import type { Chat, OutboxItem, Store } from '../../src/app/ports.ts';
import type { Effect, PlanState } from '../../src/core/model.ts';
import { createPlan } from '../../src/core/plan.ts';
import { makeServerPerformer } from '../../src/server/performer.ts';
import { testBaseline, testDrafts, testSpec } from '../helpers/fixtures.ts';

// `rea serve`'s performer: every effect goes to GitHub's performer, and the chat effects also go to the
// plan's Slack thread, when the plan has one.

const basePlan = createPlan({
  id: 'p1',
  goal: 'reduce NE on new users',
  spec: testSpec(),
  baseline: testBaseline,
  hypotheses: testDrafts,
  rejected: [],
  costSamples: [],
  noisePriors: [],
  seedBase: 1,
  now: '2026-11-02T09:00:00.000Z',
}).state;
const withThread: PlanState = { ...basePlan, slack: { channel: 'C1', ts: '1.0' } };
const withoutThread: PlanState = { ...basePlan, slack: undefined };

const key = { idempotencyKey: 'k' };
const chatEffects: { effect: Effect; method: keyof Chat }[] = [
  { effect: { type: 'publish_plan', ...key }, method: 'publishPlan' },
  { effect: { type: 'notify', topic: 'phase_decision', text: 'validation done', ...key }, method: 'notify' },
  { effect: { type: 'escalate', escalationId: 'e1', reason: 'OOM', ...key }, method: 'escalate' },
  {
    effect: { type: 'request_budget', neededGpuHours: 40, wouldBuy: 'one more round', ...key },
    method: 'requestBudget',
  },
  { effect: { type: 'write_report', ...key }, method: 'report' },
  { effect: { type: 'open_promotion', overrides: { feature_crosses: true }, ...key }, method: 'promote' },
];
const githubOnly: Effect[] = [
  { type: 'dispatch_run', runId: 'r1', attempt: 1, overrides: {}, fidelity: 0.1, seed: 1, ...key },
  { type: 'cancel_run', runId: 'r1', attempt: 1, reason: 'budget', ...key },
  { type: 'update_insights', phase: 'validation', ...key },
];

/** A chat that records which method was called, with which plan and arguments. */
function recordingChat(fail = false) {
  const calls: { method: keyof Chat; plan: PlanState; args: unknown[] }[] = [];
  const record =
    (method: keyof Chat) =>
    async (plan: PlanState, ...args: unknown[]) => {
      calls.push({ method, plan, args });
      if (fail) throw new Error('slack is down');
    };
  const chat: Chat = {
    publishPlan: record('publishPlan'),
    notify: record('notify'),
    escalate: record('escalate'),
    requestBudget: record('requestBudget'),
    report: record('report'),
    promote: record('promote'),
  };
  return { chat, calls };
}

function world(opts: { slack?: Chat; stored?: PlanState } = {}) {
  const github: { effect: Effect; plan?: PlanState }[] = [];
  const kept: string[] = [];
  const githubPerform: Performer = async (effect, plan) => {
    github.push({ effect, ...(plan ? { plan } : {}) });
  };
  const store = { getPlan: async (id: string) => (id === opts.stored?.id ? opts.stored : undefined) };
  const metrics = makeMetrics({} as Store);
  const perform = makeServerPerformer({
    github: githubPerform,
    ...(opts.slack ? { slack: opts.slack } : {}),
    store,
    keepReport: async (plan) => {
      kept.push(plan.id);
    },
    metrics,
  });
  return { perform, github, kept, metrics };
}

let nextId = 1;
const item = (effect: Effect): OutboxItem => ({ id: nextId++, planId: 'p1', effect, attempts: 0 });

describe('the composed performer of rea serve', () => {
  for (const { effect, method } of chatEffects) {
    it(`performs ${effect.type} on GitHub and on the plan's Slack thread (${method})`, async () => {
      const { chat, calls } = recordingChat();
      const { perform, github } = world({ slack: chat });
      await perform(effect, withThread, item(effect));
      expect(github.map((g) => g.effect)).toEqual([effect]);
      expect(calls.map((c) => c.method)).toEqual([method]);
      expect(calls[0]!.plan.id).toBe('p1');
    });

    it(`performs ${effect.type} on GitHub only when the plan has no Slack thread`, async () => {
      const { chat, calls } = recordingChat();
      const { perform, github } = world({ slack: chat });
      await perform(effect, withoutThread, item(effect));
      expect(github.map((g) => g.effect)).toEqual([effect]);
      expect(calls).toEqual([]);
    });
  }

  it('passes the effect to the Slack chat methods that take it', async () => {
    const { chat, calls } = recordingChat();
    const { perform } = world({ slack: chat });
    const notify = chatEffects[1]!.effect;
    const escalate = chatEffects[2]!.effect;
    await perform(notify, withThread, item(notify));
    await perform(escalate, withThread, item(escalate));
    expect(calls[0]!.args).toEqual(['phase_decision', 'validation done']);
    expect(calls[1]!.args).toEqual([escalate]);
  });

  it('sends the report to Slack as Markdown and keeps the full report', async () => {
    const { chat, calls } = recordingChat();
    const { perform, kept } = world({ slack: chat });
    const effect: Effect = { type: 'write_report', ...key };
    await perform(effect, withThread, item(effect));
    expect(kept).toEqual(['p1']);
    expect(typeof calls[0]!.args[0]).toBe('string');
    expect(calls[0]!.args[0]).toContain('reduce NE on new users');
  });

  it('gives Slack the plan as stored now, not as the outbox item read it', async () => {
    const { chat, calls } = recordingChat();
    const stored: PlanState = { ...withThread, slack: { channel: 'C1', ts: '2.0' } };
    const { perform } = world({ slack: chat, stored });
    const effect: Effect = { type: 'publish_plan', ...key };
    await perform(effect, withThread, item(effect));
    expect(calls[0]!.plan.slack?.ts).toBe('2.0');
  });

  it('sends run, insight and cancel effects to GitHub and never to Slack', async () => {
    const { chat, calls } = recordingChat();
    const { perform, github } = world({ slack: chat });
    for (const effect of githubOnly) await perform(effect, withThread, item(effect));
    expect(github.map((g) => g.effect.type)).toEqual(['dispatch_run', 'cancel_run', 'update_insights']);
    expect(github.every((g) => g.plan?.id === 'p1')).toBe(true);
    expect(calls).toEqual([]);
  });

  it('sends everything to GitHub when Slack is not configured', async () => {
    const { perform, github } = world();
    const effects = [...chatEffects.map((c) => c.effect), ...githubOnly];
    for (const effect of effects) await perform(effect, withThread, item(effect));
    expect(github.map((g) => g.effect)).toEqual(effects);
  });

  it('does not repeat the GitHub part when only the Slack part failed, and counts the failure', async () => {
    const failing = recordingChat(true);
    const { perform, github, metrics } = world({ slack: failing.chat });
    const effect: Effect = { type: 'notify', topic: 'phase_decision', text: 'hi', ...key };
    const it1 = item(effect);
    await expect(perform(effect, withThread, it1)).rejects.toThrow('slack is down');
    await expect(perform(effect, withThread, it1)).rejects.toThrow('slack is down');
    expect(github).toHaveLength(1);
    expect(failing.calls).toHaveLength(2);
    const failures = await metrics.effectFailures.get();
    expect(failures.values.find((v) => v.labels.type === 'notify:slack')?.value).toBe(2);
  });
});
