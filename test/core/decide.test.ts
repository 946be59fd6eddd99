import { beforeAll, describe, expect, it } from 'vitest';
import { loadRunbooks } from '../../src/config/runbooks.ts';
import { committedGpuHours, decide, spentGpuHours } from '../../src/core/decide.ts';
import type { DecideContext, PlanState, Runbook } from '../../src/core/model.ts';
import { createPlan } from '../../src/core/plan.ts';
import { draft, testBaseline, testDrafts, testSpec } from '../helpers/fixtures.ts';
import { runToQuiescence, type Sim, step } from '../helpers/world.ts';

// Given/when/then tables for decide: a plan in a state, an event, the state and effects that follow.

let runbooks: Runbook[];
beforeAll(async () => {
  runbooks = (await loadRunbooks({})).runbooks;
});

const T0 = Date.parse('2026-11-02T09:00:00Z');

function newPlan(over: Parameters<typeof testSpec>[0] = {}, drafts = testDrafts): PlanState {
  return createPlan({
    id: 'p1',
    goal: 'reduce NE',
    spec: testSpec(over),
    baseline: testBaseline,
    hypotheses: drafts,
    rejected: [],
    costSamples: [],
    noisePriors: [],
    seedBase: 1,
    now: new Date(T0).toISOString(),
  }).state;
}

function sim(state: PlanState): Sim {
  return { state, effects: [], events: [], clock: T0 };
}

const ctx = (): DecideContext => ({ now: new Date(T0 + 1000).toISOString(), runbooks });
const approve = { type: 'approved', by: 'alice', via: 'cli' } as const;

describe('given a plan awaiting approval', () => {
  it('lays out validation: baseline replicas and one run per hypothesis and seed', () => {
    const plan = newPlan();
    expect(plan.status).toBe('awaiting_approval');
    const v = plan.runs.filter((r) => r.step === 'validation');
    expect(v.filter((r) => r.role === 'baseline').map((r) => r.seed)).toEqual([1, 2, 3]);
    expect(v.filter((r) => r.role === 'candidate')).toHaveLength(testDrafts.length);
    expect(v.every((r) => r.fidelity === 0.1)).toBe(true);
    // 9 validation runs at 1.6 GPU-h each (16 GPU-h x fidelity 0.1) with no history.
    expect(plan.estimate.phases[0]!.gpuHoursP50).toBeCloseTo(9 * 1.6);
    expect(plan.estimate.phases[0]!.usdP50).toBeCloseTo(9 * 1.6 * 2.5);
  });

  it('when approved, then it records who approved and dispatches up to the concurrency cap', () => {
    const out = decide(newPlan(), approve, ctx());
    expect(out.state.status).toBe('running');
    expect(out.state.approvals).toEqual([
      expect.objectContaining({ kind: 'approve', by: 'alice', via: 'cli' }),
    ]);
    const dispatches = out.effects.filter((e) => e.type === 'dispatch_run');
    expect(dispatches).toHaveLength(4);
    expect(out.state.runs.filter((r) => r.status === 'dispatched')).toHaveLength(4);
  });

  it('when a run event arrives before approval, then nothing changes', () => {
    const plan = newPlan();
    const out = decide(plan, { type: 'run_started', runId: 'r1', attempt: 1 }, ctx());
    expect(out.state).toBe(plan);
    expect(out.effects).toEqual([]);
  });

  it('when rejected, then it ends and a later approval is ignored', () => {
    const out = decide(
      newPlan(),
      { type: 'rejected', by: 'bob', via: 'github', reason: 'too costly' },
      ctx(),
    );
    expect(out.state.status).toBe('rejected');
    expect(decide(out.state, approve, ctx()).effects).toEqual([]);
  });

  it('drops the lowest-ranked hypotheses that do not fit the maximum budget at p90', () => {
    const plan = newPlan({ maxGpuHours: 300 });
    expect(plan.hypotheses.length).toBeLessThan(testDrafts.length);
    expect(plan.hypotheses.length).toBeGreaterThan(0);
    expect(plan.estimate.gpuHoursP90).toBeLessThanOrEqual(300);
    expect(plan.budget.requestedGpuHours).toBeCloseTo(plan.estimate.gpuHoursP90);
    expect(plan.rejected.some((r) => r.reason.includes('does not fit the budget'))).toBe(true);
  });
});

describe('given a running plan', () => {
  it('when the same completion arrives twice, then the second changes nothing', () => {
    const s = sim(newPlan());
    step(s, approve, runbooks);
    const run = s.state.runs.find((r) => r.status === 'dispatched')!;
    const done = {
      type: 'run_finished',
      runId: run.id,
      attempt: 1,
      metrics: { ne: 0.8, qps: 1000 },
      gpuHours: 1.5,
      durationSec: 600,
    } as const;
    step(s, done, runbooks);
    const again = decide(s.state, done, ctx());
    expect(again.state).toBe(s.state);
    expect(again.effects).toEqual([]);
  });

  it('when a run runs out of memory, then the OOM runbook retries it with half the batch size', () => {
    const s = sim(newPlan({ maxConcurrentRuns: 16 }));
    step(s, approve, runbooks);
    const run = s.state.runs.find((r) => r.overrides.batch_size === 4096)!;
    step(
      s,
      {
        type: 'run_failed',
        runId: run.id,
        attempt: 1,
        conclusion: 'failure',
        reason: 'exited with code 1',
        logExcerpt: 'RuntimeError: CUDA out of memory. Tried to allocate 2 GiB',
        gpuHours: 0.1,
        durationSec: 30,
      },
      runbooks,
    );
    const after = s.state.runs.find((r) => r.id === run.id)!;
    expect(after.attempts[0]!.runbook).toMatchObject({ id: 'gpu-oom', action: 'retry' });
    const retry = s.effects.find((e) => e.type === 'dispatch_run' && e.runId === run.id && e.attempt === 2);
    expect(retry).toMatchObject({ overrides: { batch_size: 1024 } });
    expect(after.attempts[1]!.overrides).toEqual({ batch_size: 1024 });
  });

  it('when a run diverges, then the divergence runbook skips it as infeasible', () => {
    const s = sim(newPlan({ maxConcurrentRuns: 16 }));
    step(s, approve, runbooks);
    const run = s.state.runs.find((r) => r.overrides.learning_rate === 0.9)!;
    step(
      s,
      {
        type: 'run_failed',
        runId: run.id,
        attempt: 1,
        conclusion: 'failure',
        reason: 'exited with code 1',
        logExcerpt: 'FloatingPointError: loss is nan at step 40',
        gpuHours: 0.1,
        durationSec: 30,
      },
      runbooks,
    );
    const after = s.state.runs.find((r) => r.id === run.id)!;
    expect(after.status).toBe('failed');
    expect(after.attempts[0]!.runbook).toMatchObject({ id: 'loss-divergence', action: 'skip' });
    expect(s.effects.some((e) => e.type === 'dispatch_run' && e.runId === run.id && e.attempt === 2)).toBe(
      false,
    );
  });

  it('when a failure matches no runbook, then the plan pauses and escalates with the log', () => {
    const s = sim(newPlan());
    step(s, approve, runbooks);
    const run = s.state.runs.find((r) => r.status === 'dispatched')!;
    step(
      s,
      {
        type: 'run_failed',
        runId: run.id,
        attempt: 1,
        conclusion: 'failure',
        reason: 'exited with code 3',
        logExcerpt: 'something nobody has seen before',
        gpuHours: 0.1,
        durationSec: 30,
      },
      runbooks,
    );
    expect(s.state.status).toBe('paused');
    expect(s.state.pauseReason).toBe('escalation');
    expect(s.effects.find((e) => e.type === 'escalate')).toMatchObject({
      runId: run.id,
      logExcerpt: 'something nobody has seen before',
    });
    // A plain resume does not bypass an open escalation; resolving it does.
    expect(decide(s.state, { type: 'resumed', by: 'alice', via: 'cli' }, ctx()).effects).toEqual([]);
    step(
      s,
      { type: 'escalation_resolved', escalationId: 'e1', action: 'retry', by: 'alice', via: 'slack' },
      runbooks,
    );
    expect(s.state.status).toBe('running');
    expect(s.state.runs.find((r) => r.id === run.id)!.attempts).toHaveLength(2);
  });

  it('when a run passes its timeout, then the timer cancels it and the timeout runbook retries it', () => {
    const s = sim(newPlan({ timeoutMinutes: 30 }));
    step(s, approve, runbooks);
    const run = s.state.runs.find((r) => r.status === 'dispatched')!;
    step(s, { type: 'timer_fired' }, runbooks, 31 * 60_000);
    expect(s.effects).toContainEqual(
      expect.objectContaining({ type: 'cancel_run', runId: run.id, attempt: 1 }),
    );
    const after = s.state.runs.find((r) => r.id === run.id)!;
    expect(after.attempts[0]).toMatchObject({ conclusion: 'timed_out', runbook: { id: 'timeout' } });
    expect(after.attempts[1]?.status).toBe('dispatched');
  });

  it('when paused, then in-flight runs still record but nothing new is dispatched until resumed', () => {
    const s = sim(newPlan({ maxConcurrentRuns: 1 }));
    step(s, approve, runbooks);
    step(s, { type: 'paused', by: 'alice', via: 'slack' }, runbooks);
    const before = s.effects.length;
    runToQuiescence(s, runbooks);
    expect(s.effects.slice(before).some((e) => e.type === 'dispatch_run')).toBe(false);
    expect(s.state.runs.filter((r) => r.status === 'succeeded')).toHaveLength(1);
    step(s, { type: 'resumed', by: 'alice', via: 'slack' }, runbooks);
    expect(s.effects.slice(before).some((e) => e.type === 'dispatch_run')).toBe(true);
  });

  it('when cancelled, then in-flight runs are cancelled and a report is written', () => {
    const s = sim(newPlan());
    step(s, approve, runbooks);
    step(s, { type: 'cancelled', by: 'alice', via: 'github' }, runbooks);
    expect(s.state.status).toBe('cancelled');
    expect(s.effects.filter((e) => e.type === 'cancel_run')).toHaveLength(4);
    expect(s.effects.some((e) => e.type === 'write_report')).toBe(true);
    expect(s.state.runs.every((r) => r.status === 'cancelled')).toBe(true);
  });

  it('when the budget cannot fit the next run, then it pauses, asks for more, and continues once raised', () => {
    const s = sim(newPlan({ maxConcurrentRuns: 2 }));
    step(s, { ...approve, gpuHours: 4 }, runbooks);
    // 4 GPU-h fit two validation runs at 1.6 each; the third must wait for more budget.
    expect(s.state.runs.filter((r) => r.status === 'dispatched')).toHaveLength(2);
    runToQuiescence(s, runbooks);
    expect(s.state.status).toBe('paused');
    expect(s.state.pauseReason).toBe('budget');
    expect(s.effects.some((e) => e.type === 'request_budget')).toBe(true);
    expect(spentGpuHours(s.state) + committedGpuHours(s.state)).toBeLessThanOrEqual(4);
    step(s, { type: 'budget_raised', gpuHours: 100, by: 'alice', via: 'slack' }, runbooks);
    expect(s.state.status).toBe('running');
    expect(s.state.budget.approvedGpuHours).toBe(104);
  });
});

describe('a whole plan in the scripted world', () => {
  it('screens, combines, refines and confirms the interacting winner with an interval', () => {
    const s = sim(newPlan());
    step(s, approve, runbooks);
    runToQuiescence(s, runbooks);
    expect(s.state.status).toBe('completed');
    const steps = s.state.decisions.map((d) => d.step);
    expect(steps).toEqual(['validation', 'combination', 'refine', 'confirm']);
    const w = s.state.winner!;
    // crosses + adagrad are the two real wins; the world rewards a wider embedding only with crosses.
    expect(w.overrides).toMatchObject({ feature_crosses: true, optimizer: 'adagrad' });
    expect(w.relEffect).toBeGreaterThan(0.035);
    expect(w.lo).toBeGreaterThan(0);
    expect(w.n).toBe(3);
    // Confirmation used fresh seeds.
    expect(s.state.runs.filter((r) => r.step === 'confirm').every((r) => r.seed >= 1000)).toBe(true);
    const verdictOf = (title: string) => {
      const h = s.state.hypotheses.find((x) => x.title === title)!;
      const c = s.state.candidates.find((x) => x.step === 'validation' && x.hypothesisIds[0] === h.id)!;
      return s.state.verdicts.find((v) => v.candidateId === c.id)!.verdict;
    };
    expect(verdictOf('crosses on')).toBe('pass');
    expect(verdictOf('lr x30')).toBe('infeasible');
    expect(s.effects.some((e) => e.type === 'open_promotion')).toBe(true);
    // The batch-4096 hypothesis ran out of memory and was measured at 1024: it is labelled as such.
    const oom = s.state.candidates.find((c) => c.step === 'validation' && c.adjustedFrom);
    expect(oom).toMatchObject({
      overrides: { batch_size: 1024 },
      adjustedFrom: { overrides: { batch_size: 4096 } },
    });
  });

  it('spends refinement slots that numeric moves leave empty on the best combination plus one more validated change', () => {
    const s = sim(newPlan());
    step(s, approve, runbooks);
    runToQuiescence(s, runbooks);
    const combo = s.state.decisions.find((d) => d.step === 'combination')!.text;
    const refine = s.state.candidates.filter((c) => c.step === 'refine');
    expect(refine.length).toBeGreaterThan(0);
    expect(refine.length).toBeLessThanOrEqual(4);
    const plus = refine.filter((c) => / \(plus .+\)$/.test(c.label));
    expect(plus.length).toBeGreaterThan(0);
    const best = s.state.verdicts
      .filter((v) => v.step === 'combination' && v.verdict === 'pass')
      .sort((a, b) => b.relEffect - a.relEffect)[0]!;
    const bestOverrides = s.state.candidates.find((c) => c.id === best.candidateId)!.overrides;
    for (const c of plus) {
      // Each keeps the whole best combination and adds exactly one knob it did not touch.
      expect(c.overrides).toMatchObject(bestOverrides);
      expect(Object.keys(c.overrides)).toHaveLength(Object.keys(bestOverrides).length + 1);
    }
    expect(combo).toContain('Refining');
  });

  it('stops early and keeps the budget when nothing passes or comes close', () => {
    const s = sim(
      newPlan({}, [draft('diverges', { learning_rate: 0.9 }), draft('diverges too', { learning_rate: 0.5 })]),
    );
    step(s, approve, runbooks);
    runToQuiescence(s, runbooks);
    expect(s.state.status).toBe('completed');
    expect(s.state.winner).toBeUndefined();
    expect(s.state.finishedReason).toContain('no hypothesis passed');
    expect(s.state.runs.every((r) => r.step === 'validation')).toBe(true);
  });

  it('vetoes a candidate that breaks a guardrail', () => {
    const s = sim(newPlan({ guardrails: [{ metric: 'qps', min: 2000 }] }));
    step(s, approve, runbooks);
    runToQuiescence(s, runbooks);
    expect(s.state.verdicts.filter((v) => v.verdict === 'veto').length).toBeGreaterThan(0);
    expect(s.state.winner).toBeUndefined();
  });
});
