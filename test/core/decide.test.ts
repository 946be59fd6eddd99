import { beforeAll, describe, expect, it } from 'vitest';
import { loadRunbooks } from '../../src/config/runbooks.ts';
import { decide, spentGpuHours } from '../../src/core/decide.ts';
import { overridesKey } from '../../src/core/knobs.ts';
import type { DecideContext, PlanState, Runbook } from '../../src/core/model.ts';
import { createPlan, layoutEstimate } from '../../src/core/plan.ts';
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
  it('lays out validation: baseline replicas, one run per hypothesis and seed, and seeded probes of the space', () => {
    const plan = newPlan();
    expect(plan.status).toBe('awaiting_approval');
    const v = plan.runs.filter((r) => r.step === 'validation');
    expect(v.filter((r) => r.role === 'baseline').map((r) => r.seed)).toEqual([1, 2, 3]);
    const probes = plan.candidates.filter((c) => c.label.startsWith('probe '));
    // One probe per knob (5 knobs; never fewer than 4), none a copy of a hypothesis or of each other.
    expect(probes).toHaveLength(5);
    expect(probes.every((c) => c.hypothesisIds.length === 0)).toBe(true);
    const keys = plan.candidates.map((c) => overridesKey(c.overrides));
    expect(new Set(keys).size).toBe(keys.length);
    expect(v.filter((r) => r.role === 'candidate')).toHaveLength(testDrafts.length + probes.length);
    expect(v.every((r) => r.fidelity === 0.1)).toBe(true);
    // 14 validation runs at 1.6 GPU-h each (16 GPU-h x fidelity 0.1) with no history.
    expect(plan.estimate.phases[0]!.gpuHoursP50).toBeCloseTo(14 * 1.6);
    expect(plan.estimate.phases[0]!.usdP50).toBeCloseTo(14 * 1.6 * 2.5);
    // The same plan made again draws the same probes: decide and createPlan are deterministic.
    expect(newPlan().candidates).toEqual(plan.candidates);
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

  it('drops probes, then the lowest-ranked hypotheses, until its smallest form fits the maximum budget at p90', () => {
    const plan = newPlan({ maxGpuHours: 200 });
    expect(plan.hypotheses.length).toBeLessThan(testDrafts.length);
    expect(plan.hypotheses.length).toBeGreaterThan(0);
    expect(plan.candidates.some((c) => c.label.startsWith('probe '))).toBe(false);
    const minimal = layoutEstimate(plan.spec, plan.hypotheses.length, 'minimal', []);
    expect(minimal.gpuHoursP90).toBeLessThanOrEqual(200);
    // The full layout is an upper bound the plan sizes down; it asks for the maximum.
    expect(plan.budget.requestedGpuHours).toBe(200);
    expect(plan.rejected.some((r) => r.reason.includes('does not fit the budget'))).toBe(true);
    // With room for everything it keeps every hypothesis and probe and asks for the full layout's p90.
    const roomy = newPlan({ maxGpuHours: 5000 });
    expect(roomy.hypotheses).toHaveLength(testDrafts.length);
    expect(roomy.budget.requestedGpuHours).toBeCloseTo(roomy.estimate.gpuHoursP90);
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
    const run = s.state.runs.find((r) => overridesKey(r.overrides) === 'batch_size=4096')!;
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
    const run = s.state.runs.find((r) => overridesKey(r.overrides) === 'learning_rate=0.9')!;
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

  it('when the approved budget cannot pay for the smallest confirmation, then it pauses at once, says what more buys, and continues once raised', () => {
    const s = sim(newPlan({ maxConcurrentRuns: 2 }));
    // One confirmation is 3 candidate and 3 baseline runs at 16 GPU-h: 4 GPU-h cannot name a winner.
    step(s, { ...approve, gpuHours: 4 }, runbooks);
    expect(s.state.runs.filter((r) => r.status === 'dispatched')).toHaveLength(0);
    expect(s.state.status).toBe('paused');
    expect(s.state.pauseReason).toBe('budget');
    const ask = s.effects.find((e) => e.type === 'request_budget');
    expect(ask).toBeDefined();
    expect(ask!.type === 'request_budget' && ask!.wouldBuy).toMatch(
      /confirmation at full fidelity on 3 fresh seeds/,
    );
    expect(ask!.type === 'request_budget' && ask!.neededGpuHours).toBeGreaterThan(96 - 4);
    step(s, { type: 'budget_raised', gpuHours: 400, by: 'alice', via: 'slack' }, runbooks);
    expect(s.state.status).toBe('running');
    expect(s.state.budget.approvedGpuHours).toBe(404);
    expect(s.state.runs.filter((r) => r.status === 'dispatched')).toHaveLength(2);
  });

  it('when a start-up the estimate did not know about makes screening runs cost ten times more, then it drops the rest of the screen instead of pausing, says so, and still confirms within the budget', () => {
    const s = sim(newPlan({ maxConcurrentRuns: 2 }));
    const p90 = s.state.budget.requestedGpuHours;
    step(s, approve, runbooks);
    expect(s.state.budget.approvedGpuHours).toBe(p90);
    // A fixed start-up of 16 GPU-h a run that the prior did not know about: fidelity 0.1 costs 17.6, not 1.6.
    runToQuiescence(s, runbooks, 2000, (f) => 16 + 16 * f);
    expect(s.effects.some((e) => e.type === 'request_budget')).toBe(false);
    expect(s.state.status).toBe('completed');
    const replan = s.state.decisions.find((d) => d.text.startsWith('Re-planned from measured costs'));
    expect(replan?.text).toMatch(/validation measures \d+ instead of \d+ configurations/);
    expect(replan?.text).toMatch(/cost \d+\.\dx the first estimate/);
    expect(s.state.runs.some((r) => r.dropped && r.status === 'cancelled' && r.attempts.length === 0)).toBe(
      true,
    );
    // Dropped candidates were not measured: no verdict, so no insight says they failed.
    const dropped = new Set(s.state.runs.filter((r) => r.dropped).map((r) => r.candidateId));
    expect(s.state.verdicts.some((v) => dropped.has(v.candidateId) && v.step === 'validation')).toBe(false);
    expect(spentGpuHours(s.state)).toBeLessThanOrEqual(s.state.budget.approvedGpuHours + 1e-9);
    expect(s.state.decisions.some((d) => d.step === 'confirm')).toBe(true);
  });
});

describe('a whole plan in the scripted world', () => {
  it('screens, promotes by rank, searches at full fidelity and confirms the interacting winner on fresh seeds', () => {
    const s = sim(newPlan());
    step(s, approve, runbooks);
    runToQuiescence(s, runbooks);
    expect(s.state.status).toBe('completed');
    const steps = s.state.decisions.map((d) => d.step);
    expect(steps[0]).toBe('validation');
    expect(steps[1]).toBe('combination');
    expect(steps.at(-1)).toBe('confirm');
    expect(steps.slice(2, -1).every((x) => x === 'refine' || x === 'confirm')).toBe(true);
    const w = s.state.winner!;
    // crosses + adagrad are the two real wins; the world rewards a wider embedding only with crosses.
    expect(w.overrides).toMatchObject({ feature_crosses: true, optimizer: 'adagrad' });
    expect(w.relEffect).toBeGreaterThan(0.045);
    expect(w.lo).toBeGreaterThan(0);
    expect(w.n).toBe(3);
    // Confirmation used fresh seeds; search ran at full fidelity with one seed a configuration.
    expect(s.state.runs.filter((r) => r.step === 'confirm').every((r) => r.seed >= 1000)).toBe(true);
    const search = s.state.runs.filter((r) => r.step === 'refine' && r.role === 'candidate');
    expect(search.length).toBeGreaterThan(0);
    expect(search.every((r) => r.fidelity === 1 && r.seed === 1)).toBe(true);
    // Combination promoted the best screened configurations by rank, with their labels.
    const combo = s.state.decisions.find((d) => d.step === 'validation')!.text;
    expect(combo).toContain('promoted by rank');
    const verdictOf = (title: string) => {
      const h = s.state.hypotheses.find((x) => x.title === title)!;
      const c = s.state.candidates.find((x) => x.step === 'validation' && x.hypothesisIds[0] === h.id)!;
      return s.state.verdicts.find((v) => v.candidateId === c.id)!.verdict;
    };
    expect(verdictOf('crosses on')).toBe('pass');
    expect(verdictOf('lr x30')).toBe('infeasible');
    expect(s.effects.some((e) => e.type === 'open_promotion')).toBe(true);
    // The batch-4096 hypothesis ran out of memory and was measured at 1024: it is labelled as such.
    const oom = s.state.candidates.find(
      (c) =>
        c.step === 'validation' &&
        c.adjustedFrom &&
        overridesKey(c.adjustedFrom.overrides) === 'batch_size=4096',
    );
    expect(oom).toMatchObject({ overrides: { batch_size: 1024 } });
    // The budget held: nothing spent beyond what was approved.
    expect(spentGpuHours(s.state)).toBeLessThanOrEqual(s.state.budget.approvedGpuHours);
  });

  it('keeps searching while budget is left and stops only with a confirmed winner or the budget used', () => {
    const s = sim(newPlan());
    step(s, { ...approve, gpuHours: 800 }, runbooks);
    runToQuiescence(s, runbooks);
    expect(s.state.status).toBe('completed');
    const rounds = s.state.decisions.filter((d) => d.text.includes('Searching at full fidelity'));
    expect(rounds.length).toBeGreaterThanOrEqual(1);
    const spent = spentGpuHours(s.state);
    expect(spent).toBeLessThanOrEqual(800 + 1e-9);
    if (!s.state.winner) expect(spent).toBeGreaterThan(0.9 * 800);
    // Every search proposal is new: no configuration is proposed twice at full fidelity (a runbook may still
    // turn one into another, e.g. an out-of-memory batch halved onto a configuration measured before).
    const keys = s.state.candidates
      .filter((c) => c.step === 'refine')
      .map((c) => overridesKey(c.adjustedFrom?.overrides ?? c.overrides));
    expect(new Set(keys).size).toBe(keys.length);
  });

  it('does not stop early when every hypothesis fails: probes and the surrogate search on', () => {
    const s = sim(
      newPlan({}, [draft('diverges', { learning_rate: 0.9 }), draft('diverges too', { learning_rate: 0.5 })]),
    );
    step(s, approve, runbooks);
    runToQuiescence(s, runbooks);
    expect(s.state.status).toBe('completed');
    expect(s.state.runs.some((r) => r.step !== 'validation')).toBe(true);
    const spent = spentGpuHours(s.state);
    expect(spent).toBeLessThanOrEqual(s.state.budget.approvedGpuHours);
    if (!s.state.winner) expect(spent).toBeGreaterThan(0.9 * s.state.budget.approvedGpuHours);
    // What the surrogate proposed after the failures stays clear of a diverging learning rate.
    const late = s.state.candidates.filter((c) => c.step === 'refine');
    const diverging = late.filter((c) => Number(c.overrides.learning_rate) >= 0.5);
    expect(diverging.length).toBeLessThan(late.length / 2);
  });

  it('vetoes a candidate that breaks a guardrail', () => {
    const s = sim(newPlan({ guardrails: [{ metric: 'qps', min: 2000 }] }));
    step(s, approve, runbooks);
    runToQuiescence(s, runbooks);
    expect(s.state.verdicts.filter((v) => v.verdict === 'veto').length).toBeGreaterThan(0);
    expect(s.state.winner).toBeUndefined();
  });
});
