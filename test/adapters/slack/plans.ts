import { loadRunbooks } from '../../../src/config/runbooks.ts';
import type { Effect, PlanState, Run, Runbook } from '../../../src/core/model.ts';
import { createPlan } from '../../../src/core/plan.ts';
import { testBaseline, testDrafts, testSpec } from '../../helpers/fixtures.ts';
import { runToQuiescence, type Sim, step } from '../../helpers/world.ts';

// Deterministic plans for the Slack tests: the scripted world's plan as proposed and as finished, and a plan
// far larger than any real one (200 hypotheses, 5,000 runs, long texts with characters Slack escapes).

export const CHANNEL = 'C0EXPERIMENTS';

let runbooks: Runbook[] | undefined;

async function books(): Promise<Runbook[]> {
  runbooks ??= (await loadRunbooks({})).runbooks;
  return runbooks;
}

function clone<T>(x: T): T {
  return structuredClone(x);
}

export function proposedPlan(id = 'ctr-ranker-4a2b9c', seedBase = 1): PlanState {
  const { state } = createPlan({
    id,
    goal: 'reduce NE on the new-user segment',
    repo: 'acme/ctr-ranker',
    origin: {
      kind: 'github',
      owner: 'acme',
      repo: 'ctr-ranker',
      installationId: 1,
      baseRef: 'main',
      baseSha: 'a'.repeat(40),
      requestedBy: 'alice',
      pr: 12,
    },
    spec: testSpec({ approvers: { github: ['alice'], slack: ['U0ALICE', 'S0APPROVERS'] } }),
    baseline: testBaseline,
    hypotheses: testDrafts,
    rejected: [
      {
        title: 'lr 50',
        source: 'research',
        agent: 'offline',
        overrides: { learning_rate: 50 },
        reason: 'outside the knob space',
      },
    ],
    costSamples: [],
    noisePriors: [],
    seedBase,
    now: '2026-11-02T09:00:00.000Z',
  });
  state.slack = { channel: CHANNEL, requestedBy: 'U0ALICE' };
  return state;
}

/**
 * Approved in Slack, budget raised in GitHub, run to the end in the scripted world. A second plan of the model
 * passes its own seed base, as the plan service gives each plan one, so its probes and search differ.
 */
export async function finishedPlan(id?: string, seedBase = 1): Promise<PlanState> {
  const rb = await books();
  const sim: Sim = {
    state: proposedPlan(id, seedBase),
    effects: [],
    events: [],
    clock: Date.parse('2026-11-02T09:00:00Z'),
  };
  step(sim, { type: 'approved', by: 'U0ALICE', via: 'slack' }, rb);
  step(sim, { type: 'budget_raised', by: 'alice', via: 'github', gpuHours: 20 }, rb);
  runToQuiescence(sim, rb);
  return sim.state;
}

export function escalation(plan: PlanState, logLines = 60): Extract<Effect, { type: 'escalate' }> {
  const log = Array.from(
    { length: logLines },
    (_, i) => `step ${i * 10}: loss=${(0.69 - i * 0.001).toFixed(4)} lr=0.09 grad_norm<${i}> & ok`,
  );
  log.push('RuntimeError: CUDA error: an illegal memory access was encountered');
  return {
    type: 'escalate',
    escalationId: 'e1',
    runId: 'r7',
    reason:
      'run r7 (batch_size 512 -> 1024, validation, seed 1) failed: exited with code 1. No runbook could fix it after 3 attempts.',
    runbookId: 'gpu-oom',
    logExcerpt: log.join('\n'),
    idempotencyKey: `escalate:${plan.id}:e1`,
  };
}

export function budgetRequest(): Extract<Effect, { type: 'request_budget' }> {
  return {
    type: 'request_budget',
    neededGpuHours: 37.2,
    wouldBuy: '6 more combination runs (combination phase); about 37.2 GPU-hours more finishes this step',
    idempotencyKey: 'budget:1',
  };
}

const NASTY = ' <script>&amp; & "quotes" `code` *bold* _it_ ``` fence ';

/** A plan no real run produces: everything long, everything many, everything escaped. */
export async function hugePlan(): Promise<PlanState> {
  const plan = clone(await finishedPlan('ctr-ranker-ffffff'));
  plan.goal = `reduce NE ${'on every segment '.repeat(120)}${NASTY}`;
  plan.hypotheses = Array.from({ length: 200 }, (_, i) => ({
    id: `h${i + 1}`,
    title: `hypothesis ${i + 1}: ${'a fairly long title about feature interactions '.repeat(3)}${NASTY}`,
    rationale: 'because'.repeat(100),
    source: i % 2 ? 'research' : 'insights',
    agent: i % 2 ? 'claude:claude-sonnet-4' : 'insights',
    kind: 'config',
    overrides: {
      learning_rate: 0.001 + i / 1000,
      embedding_dim: 4 + (i % 30) * 4,
      feature_crosses: i % 2 === 0,
    },
    expectedEffect: 0.01,
    risk: 'medium',
    evidence: [],
  }));
  plan.rejected = Array.from({ length: 150 }, (_, i) => ({
    title: `rejected ${i}`,
    source: 'research',
    agent: 'offline',
    overrides: {},
    reason: 'duplicate of an earlier hypothesis',
  }));
  const template = plan.runs[0]!;
  plan.runs = Array.from({ length: 5000 }, (_, i): Run => {
    const failed = i % 3 === 0;
    return {
      ...clone(template),
      id: `r${i + 1}`,
      overrides: { learning_rate: 0.001 + (i % 200) / 1000 },
      role: i % 10 === 0 ? 'baseline' : 'candidate',
      seed: i,
      status: failed ? 'failed' : 'succeeded',
      attempts: [1, 2].map((n) => ({
        n,
        status: failed || n === 1 ? 'failed' : 'succeeded',
        overrides: {},
        dispatchedAt: '2026-11-02T09:00:00.000Z',
        gpuHours: 0.4,
        conclusion: failed || n === 1 ? 'failure' : 'success',
        reason: `exited with code 1 after ${'a long explanation of what went wrong '.repeat(5)}${NASTY}`,
        logExcerpt: 'x'.repeat(2000),
        runbook: {
          id: 'gpu-oom',
          action: 'retry_with_overrides',
          note: `${'halving the batch '.repeat(10)}${NASTY}`,
        },
      })),
    };
  });
  plan.decisions = Array.from({ length: 300 }, (_, i) => ({
    at: '2026-11-02T10:00:00.000Z',
    phase: 'combination',
    step: 'combination',
    text: `Decision ${i}: ${'combination candidate feature_crosses false -> true measured at fidelity 0.3; '.repeat(20)}${NASTY}`,
  }));
  plan.approvals = Array.from({ length: 120 }, (_, i) => ({
    kind: i % 2 ? 'budget' : 'pause',
    by: i % 3 ? 'U0ALICE' : `someone-with-a-very-long-github-login-${'x'.repeat(200)}`,
    via: i % 3 ? 'slack' : 'github',
    at: '2026-11-02T10:00:00.000Z',
    gpuHours: 10,
    note: NASTY.repeat(20),
  }));
  plan.escalations = Array.from({ length: 60 }, (_, i) => ({
    id: `e${i + 1}`,
    at: '2026-11-02T10:00:00.000Z',
    reason: `run r${i} failed: ${'out of memory again '.repeat(30)}${NASTY}`,
    ...(i % 2 ? { resolved: { at: '2026-11-02T11:00:00.000Z', by: 'U0ALICE', action: 'retry' } } : {}),
  }));
  plan.finishedReason = `confirmed a winner ${NASTY.repeat(50)}`;
  return plan;
}

/** An escalation whose reason and log are far beyond any limit. */
export function hugeEscalation(plan: PlanState): Extract<Effect, { type: 'escalate' }> {
  return {
    ...escalation(plan),
    reason: `${'the run failed again and again '.repeat(400)}${NASTY}`,
    runbookId: 'x'.repeat(500),
    logExcerpt: `${'CUDA error & <memory> ```\n'.repeat(20_000)}the last line`,
  };
}
