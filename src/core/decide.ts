import {
  analyzeStep,
  type CandidateDraft,
  combinationDrafts,
  pct,
  ranked,
  refineDrafts,
  summarizeVerdicts,
} from './analysis.ts';
import { estimateRun } from './costs.ts';
import { assertNever, describeChange, fmtValue, overridesKey } from './knobs.ts';
import type {
  Approval,
  Attempt,
  Candidate,
  DecideContext,
  Decided,
  Effect,
  FailureConclusion,
  NotifyTopic,
  PlanEvent,
  PlanState,
  Run,
  StepName,
} from './model.ts';
import { addCandidate, addStepRuns, changeText, nextKey, reestimate, stepPhase } from './plan.ts';
import { decideRunbookAction, matchRunbook } from './runbooks.ts';

// The one function that drives a plan: decide(state, event, ctx) -> { state, effects }. Pure: time and
// runbooks come in through ctx, ids are derived from the state, and the input state is never mutated.

const TERMINAL_RUN: ReadonlySet<Run['status']> = new Set(['succeeded', 'failed', 'cancelled']);
const IN_FLIGHT: ReadonlySet<Run['status']> = new Set(['dispatched', 'running']);
/** How runners word a primary metric that came out NaN or infinite (a missing one is another failure). */
const NON_FINITE_REASON = /\bis (NaN|-?Infinity|-?inf|non-finite|not finite)\b/i;
const ACTIVE_PLAN: ReadonlySet<PlanState['status']> = new Set(['awaiting_approval', 'running', 'paused']);

export function spentGpuHours(state: PlanState): number {
  let s = 0;
  for (const r of state.runs) for (const a of r.attempts) s += a.gpuHours ?? 0;
  return s;
}

/**
 * Full-fidelity run equivalents of every attempt that ran: what the plan cost in units of one full
 * training run, independent of how busy the machine was while it ran (GPU-hours on a shared laptop are not).
 */
export function fullRunEquivalents(state: PlanState): number {
  let s = 0;
  for (const r of state.runs) for (const a of r.attempts) if (a.status !== 'dispatched') s += r.fidelity;
  return s;
}

export function committedGpuHours(state: PlanState): number {
  let s = 0;
  for (const r of state.runs) if (IN_FLIGHT.has(r.status)) s += r.estimate.p50;
  return s;
}

export function inFlight(state: PlanState): Run[] {
  return state.runs.filter((r) => IN_FLIGHT.has(r.status));
}

export function isTerminalPlan(state: PlanState): boolean {
  return !ACTIVE_PLAN.has(state.status);
}

class Builder {
  readonly effects: Effect[] = [];
  constructor(
    readonly state: PlanState,
    readonly ctx: DecideContext,
  ) {}
  notify(topic: NotifyTopic, text: string, runId?: string): void {
    this.effects.push({
      type: 'notify',
      topic,
      text,
      ...(runId ? { runId } : {}),
      idempotencyKey: nextKey(this.state, 'notify'),
    });
  }
  publish(): void {
    if (this.effects.some((e) => e.type === 'publish_plan')) return;
    this.effects.push({ type: 'publish_plan', idempotencyKey: nextKey(this.state, 'publish') });
  }
  decision(text: string): void {
    this.state.decisions.push({ at: this.ctx.now, phase: this.state.phase, step: this.state.step, text });
    this.notify('phase_decision', text);
  }
}

export function decide(input: PlanState, event: PlanEvent, ctx: DecideContext): Decided {
  const state = structuredClone(input);
  const b = new Builder(state, ctx);
  const changed = apply(b, event);
  if (!changed) return { state: input, effects: [] };
  if (state.status === 'running') {
    advance(b);
    schedule(b);
  }
  state.updatedAt = ctx.now;
  b.publish();
  return { state, effects: b.effects };
}

function record(
  b: Builder,
  kind: Approval['kind'],
  by: string,
  via: Approval['via'],
  extra: Partial<Approval> = {},
) {
  b.state.approvals.push({ kind, by, via, at: b.ctx.now, ...extra });
}

function findAttempt(state: PlanState, runId: string, n: number): { run: Run; attempt: Attempt } | undefined {
  const run = state.runs.find((r) => r.id === runId);
  const attempt = run?.attempts.find((a) => a.n === n);
  return run && attempt ? { run, attempt } : undefined;
}

/** Applies the event; false when it changes nothing (a duplicate, or not allowed in this state). */
function apply(b: Builder, event: PlanEvent): boolean {
  const { state, ctx } = b;
  switch (event.type) {
    case 'approved': {
      if (state.status !== 'awaiting_approval') return false;
      const gpuHours = event.gpuHours ?? state.budget.requestedGpuHours;
      record(b, 'approve', event.by, event.via, { gpuHours });
      state.budget.approvedGpuHours = gpuHours;
      state.status = 'running';
      b.notify(
        'plan_approved',
        `Approved by ${event.by} (${event.via}) with a budget of ${fmtHours(gpuHours)} GPU-hours.`,
      );
      return true;
    }
    case 'rejected': {
      if (state.status !== 'awaiting_approval') return false;
      record(b, 'reject', event.by, event.via, event.reason ? { note: event.reason } : {});
      state.status = 'rejected';
      state.finishedReason = `rejected by ${event.by}${event.reason ? `: ${event.reason}` : ''}`;
      b.notify(
        'plan_rejected',
        `Rejected by ${event.by} (${event.via})${event.reason ? `: ${event.reason}` : ''}.`,
      );
      return true;
    }
    case 'budget_raised': {
      if (isTerminalPlan(state) || !(event.gpuHours > 0)) return false;
      record(b, 'budget', event.by, event.via, { gpuHours: event.gpuHours });
      if (state.status === 'awaiting_approval') {
        state.budget.requestedGpuHours += event.gpuHours;
      } else {
        state.budget.approvedGpuHours += event.gpuHours;
      }
      if (state.status === 'paused' && state.pauseReason === 'budget') {
        state.status = 'running';
        delete state.pauseReason;
        delete state.budgetRequest;
      }
      b.notify('budget_raised', `Budget raised by ${fmtHours(event.gpuHours)} GPU-hours by ${event.by}.`);
      return true;
    }
    case 'paused': {
      if (state.status !== 'running') return false;
      record(b, 'pause', event.by, event.via);
      state.status = 'paused';
      state.pauseReason = 'user';
      b.notify('paused', `Paused by ${event.by}: runs in flight finish, nothing new starts.`);
      return true;
    }
    case 'resumed': {
      if (state.status !== 'paused') return false;
      if (state.escalations.some((e) => !e.resolved)) return false;
      record(b, 'resume', event.by, event.via);
      state.status = 'running';
      delete state.pauseReason;
      b.notify('resumed', `Resumed by ${event.by}.`);
      return true;
    }
    case 'cancelled': {
      if (isTerminalPlan(state)) return false;
      record(b, 'cancel', event.by, event.via, event.reason ? { note: event.reason } : {});
      for (const r of state.runs) {
        if (IN_FLIGHT.has(r.status)) {
          const a = r.attempts[r.attempts.length - 1]!;
          a.status = 'cancelled';
          a.finishedAt = ctx.now;
          b.effects.push({
            type: 'cancel_run',
            runId: r.id,
            attempt: a.n,
            reason: 'plan cancelled',
            idempotencyKey: `cancel:${state.id}:${r.id}:${a.n}`,
          });
        }
        if (!TERMINAL_RUN.has(r.status)) {
          r.status = 'cancelled';
          r.outcome = 'plan cancelled';
        }
      }
      state.status = 'cancelled';
      state.finishedReason = `cancelled by ${event.by}${event.reason ? `: ${event.reason}` : ''}`;
      b.notify(
        'cancelled',
        `Cancelled by ${event.by}. ${fmtHours(spentGpuHours(state))} GPU-hours were spent.`,
      );
      b.effects.push({ type: 'write_report', idempotencyKey: nextKey(state, 'report') });
      return true;
    }
    case 'escalation_resolved': {
      const esc = state.escalations.find((e) => e.id === event.escalationId);
      if (!esc || esc.resolved || isTerminalPlan(state)) return false;
      esc.resolved = { at: ctx.now, by: event.by, action: event.action };
      const run = esc.runId ? state.runs.find((r) => r.id === esc.runId) : undefined;
      if (run && event.action === 'retry') {
        run.status = 'pending';
        run.maxAttempts = Math.max(run.maxAttempts, run.attempts.length + 1);
        run.outcome = `retried by ${event.by}`;
      } else if (run) {
        run.outcome = `skipped by ${event.by}: ${run.outcome ?? ''}`.trim();
      }
      if (!state.escalations.some((e) => !e.resolved) && state.pauseReason === 'escalation') {
        state.status = 'running';
        delete state.pauseReason;
      }
      b.notify('resumed', `${event.by} chose to ${event.action} after the escalation.`, run?.id);
      return true;
    }
    case 'run_dispatched': {
      const found = findAttempt(state, event.runId, event.attempt);
      if (!found || !event.externalId) return false;
      if (found.attempt.status !== 'dispatched' && found.attempt.status !== 'running') return false;
      const sameAttempt = (found.attempt.externalAttempt ?? 1) === (event.externalAttempt ?? 1);
      if (found.attempt.externalId === event.externalId && sameAttempt) return false;
      found.attempt.externalId = event.externalId;
      if (event.externalAttempt !== undefined) found.attempt.externalAttempt = event.externalAttempt;
      return true;
    }
    case 'run_started': {
      const found = findAttempt(state, event.runId, event.attempt);
      if (found?.attempt.status !== 'dispatched') return false;
      found.attempt.status = 'running';
      found.attempt.startedAt = ctx.now;
      found.run.status = 'running';
      return true;
    }
    case 'run_finished': {
      const found = findAttempt(state, event.runId, event.attempt);
      if (!found || (found.attempt.status !== 'dispatched' && found.attempt.status !== 'running'))
        return false;
      const { run, attempt } = found;
      const value = event.metrics[state.spec.metric.name];
      if (typeof value !== 'number' || !Number.isFinite(value)) {
        // The runner should have caught this; the core does not trust it to.
        return handleFailure(b, run, attempt, {
          conclusion: 'metrics_invalid',
          reason: `primary metric '${state.spec.metric.name}' is ${value === undefined ? 'missing' : String(value)}`,
          logExcerpt: '',
          gpuHours: event.gpuHours,
          durationSec: event.durationSec,
          metricNonFinite: value !== undefined,
        });
      }
      Object.assign(attempt, {
        status: 'succeeded',
        finishedAt: ctx.now,
        gpuHours: event.gpuHours,
        durationSec: event.durationSec,
        conclusion: 'success',
      } satisfies Partial<Attempt>);
      run.status = 'succeeded';
      run.metrics = event.metrics;
      if (event.steps !== undefined) run.steps = event.steps;
      if (run.attempts.length > 1) run.outcome = `succeeded on attempt ${attempt.n}`;
      if (event.gpuHours > 0) {
        state.costSamples = [
          { gpuHours: event.gpuHours, fidelity: run.fidelity },
          ...state.costSamples,
        ].slice(0, 200);
      }
      return true;
    }
    case 'run_failed': {
      const found = findAttempt(state, event.runId, event.attempt);
      if (!found || (found.attempt.status !== 'dispatched' && found.attempt.status !== 'running'))
        return false;
      return handleFailure(b, found.run, found.attempt, {
        ...event,
        metricNonFinite: event.conclusion === 'metrics_invalid' && NON_FINITE_REASON.test(event.reason),
      });
    }
    case 'timer_fired': {
      let changed = false;
      const limitMs = state.spec.timeoutMinutes * 60_000;
      for (const r of state.runs) {
        if (!IN_FLIGHT.has(r.status)) continue;
        const a = r.attempts[r.attempts.length - 1]!;
        const since = Date.parse(a.startedAt ?? a.dispatchedAt);
        const elapsedMs = Date.parse(ctx.now) - since;
        if (!(elapsedMs > limitMs)) continue;
        b.effects.push({
          type: 'cancel_run',
          runId: r.id,
          attempt: a.n,
          reason: `exceeded timeout of ${state.spec.timeoutMinutes} minutes`,
          idempotencyKey: `cancel:${state.id}:${r.id}:${a.n}`,
        });
        handleFailure(b, r, a, {
          conclusion: 'timed_out',
          reason: `exceeded timeout of ${state.spec.timeoutMinutes} minutes`,
          logExcerpt: '',
          gpuHours: (elapsedMs / 3_600_000) * state.spec.gpus,
          durationSec: elapsedMs / 1000,
          metricNonFinite: false,
        });
        changed = true;
      }
      return changed;
    }
    default:
      return assertNever(event);
  }
}

interface FailureFacts {
  conclusion: FailureConclusion;
  reason: string;
  logExcerpt: string;
  gpuHours: number;
  durationSec: number;
  metricNonFinite: boolean;
}

function handleFailure(b: Builder, run: Run, attempt: Attempt, f: FailureFacts): true {
  const { state, ctx } = b;
  Object.assign(attempt, {
    status: f.conclusion === 'cancelled' ? 'cancelled' : 'failed',
    finishedAt: ctx.now,
    gpuHours: f.gpuHours,
    durationSec: f.durationSec,
    conclusion: f.conclusion,
    reason: f.reason,
    logExcerpt: f.logExcerpt.slice(-4000),
  } satisfies Partial<Attempt>);
  if (isTerminalPlan(state)) {
    run.status = 'cancelled';
    return true;
  }
  const runbook = matchRunbook(ctx.runbooks, {
    conclusion: f.conclusion,
    reason: f.reason,
    logExcerpt: f.logExcerpt,
    metricNonFinite: f.metricNonFinite,
  });
  const decision = decideRunbookAction({
    runbook,
    attemptsSoFar: run.attempts.length,
    maxAttemptsCap: run.maxAttempts,
    knobs: state.spec.knobs,
    overrides: attempt.overrides,
    baseline: state.baseline,
    concurrencyCap: state.concurrencyCap,
  });
  attempt.runbook = { id: runbook?.id ?? 'none', action: decision.type, note: decision.note };
  const cand = state.candidates.find((c) => c.id === run.candidateId);
  const change = cand?.codeHypothesisId
    ? changeText(state, { ...cand, overrides: run.overrides })
    : undefined;
  const who = `${run.role === 'baseline' ? 'baseline' : (change ?? describeChange(state.baseline, run.overrides))} (run ${run.id}, attempt ${attempt.n})`;
  switch (decision.type) {
    case 'retry':
    case 'reduce_concurrency': {
      if (decision.type === 'reduce_concurrency') state.concurrencyCap = Math.max(1, decision.to);
      run.status = 'pending';
      if (overridesKey(decision.overrides) !== overridesKey(run.overrides))
        run.attemptOverrides = decision.overrides;
      run.outcome = decision.note;
      b.notify('failure_handled', `${who} failed: ${f.reason}. ${decision.note}`, run.id);
      return true;
    }
    case 'skip': {
      run.status = 'failed';
      run.outcome = `${f.reason}; ${decision.note}`;
      b.notify('failure_handled', `${who} failed: ${f.reason}. ${decision.note}`, run.id);
      return true;
    }
    case 'escalate': {
      run.status = 'failed';
      run.outcome = `${f.reason}; escalated`;
      const id = `e${state.escalations.length + 1}`;
      state.escalations.push({
        id,
        at: ctx.now,
        runId: run.id,
        reason: `${who} failed: ${f.reason}. ${decision.note}`,
        ...(runbook ? { runbookId: runbook.id } : {}),
        logExcerpt: f.logExcerpt.slice(-2000),
      });
      state.status = 'paused';
      state.pauseReason = 'escalation';
      b.effects.push({
        type: 'escalate',
        escalationId: id,
        runId: run.id,
        reason: `${who} failed: ${f.reason}. ${decision.note}`,
        ...(runbook ? { runbookId: runbook.id } : {}),
        logExcerpt: f.logExcerpt.slice(-2000),
        idempotencyKey: `escalate:${state.id}:${id}`,
      });
      return true;
    }
    default:
      return assertNever(decision);
  }
}

/** Moves through steps while the current one is complete. */
function advance(b: Builder): void {
  const { state } = b;
  for (let guard = 0; guard < 8 && state.status === 'running'; guard++) {
    const stepRuns = state.runs.filter((r) => r.step === state.step);
    if (stepRuns.length === 0 || !stepRuns.every((r) => TERMINAL_RUN.has(r.status))) return;
    if (state.escalations.some((e) => !e.resolved)) return;
    completeStep(b);
  }
}

function toCandidates(b: Builder, step: StepName, drafts: CandidateDraft[]) {
  return drafts.map((d) =>
    addCandidate(b.state, {
      step,
      label: d.label,
      hypothesisIds: d.hypothesisIds,
      overrides: d.overrides,
      ...(d.codeHypothesisId !== undefined ? { codeHypothesisId: d.codeHypothesisId } : {}),
    }),
  );
}

function draftOf(c: Candidate): Omit<CandidateDraft, 'why'> {
  return {
    label: c.label,
    hypothesisIds: c.hypothesisIds,
    overrides: c.overrides,
    ...(c.codeHypothesisId !== undefined ? { codeHypothesisId: c.codeHypothesisId } : {}),
  };
}

function enterStep(b: Builder, step: StepName, drafts: CandidateDraft[]): void {
  const { state } = b;
  const phaseBefore = state.phase;
  state.step = step;
  state.phase = stepPhase(step);
  addStepRuns(state, step, toCandidates(b, step, drafts));
  if (phaseBefore !== state.phase) {
    b.effects.push({
      type: 'update_insights',
      phase: phaseBefore,
      idempotencyKey: nextKey(state, 'insights'),
    });
  }
}

/**
 * A candidate whose every successful run needed the same runbook adjustment (an OOM retried with a
 * smaller batch) was measured as the adjusted configuration; the verdict, later combinations and the
 * insights must say so rather than credit the configuration that could not run.
 */
function adoptAdjustments(state: PlanState, step: StepName): void {
  for (const c of state.candidates) {
    if (c.step !== step || c.adjustedFrom) continue;
    const runs = state.runs.filter(
      (r) => r.candidateId === c.id && r.step === step && r.status === 'succeeded',
    );
    const effective = runs.map((r) => r.attempts[r.attempts.length - 1]!.overrides);
    const first = effective[0];
    if (!first || overridesKey(first) === overridesKey(c.overrides)) continue;
    if (!effective.every((o) => overridesKey(o) === overridesKey(first))) continue;
    const why = runs[0]!.attempts.find((a) => a.runbook)?.runbook?.note ?? 'adjusted by a runbook';
    c.adjustedFrom = { overrides: c.overrides, why };
    c.overrides = first;
    c.label = `${c.label} [ran as ${describeChange(state.baseline, first)}]`;
    for (const r of runs) r.overrides = first;
  }
}

function completeStep(b: Builder): void {
  const { state } = b;
  const step = state.step;
  adoptAdjustments(state, step);
  const verdicts = analyzeStep(state, step);
  state.verdicts = [...state.verdicts.filter((v) => v.step !== step), ...verdicts];
  const label = (id: string) => state.candidates.find((c) => c.id === id)!.label;
  switch (step) {
    case 'validation': {
      const drafts = combinationDrafts(state, verdicts);
      if (drafts.length === 0) {
        b.decision(
          `Validation: ${summarizeVerdicts(state, verdicts)}. Nothing passed or came close: stopping early and keeping the rest of the budget.`,
        );
        finish(b, 'no hypothesis passed validation or came close');
        return;
      }
      b.decision(
        `Validation: ${summarizeVerdicts(state, verdicts)}. Combination will measure ${drafts.length} configurations at fidelity ${state.spec.fidelity.combination}: ${drafts.map((d) => `${d.label} (${d.why})`).join('; ')}.`,
      );
      enterStep(b, 'combination', drafts);
      return;
    }
    case 'combination': {
      const best = ranked(verdicts, 'pass')[0];
      if (!best) {
        b.decision(
          `Combination: ${summarizeVerdicts(state, verdicts)}. No combination beat the baseline: stopping early.`,
        );
        finish(b, 'no combination beat the baseline at combination fidelity');
        return;
      }
      const bestCandidate = state.candidates.find((c) => c.id === best.candidateId)!;
      const drafts = refineDrafts(state, bestCandidate);
      if (drafts.length === 0) {
        b.decision(
          `Combination: ${summarizeVerdicts(state, verdicts)}. No numeric knob to refine: confirming ${label(best.candidateId)} at full fidelity.`,
        );
        enterStep(b, 'confirm', [{ ...draftOf(bestCandidate), why: 'best combination' }]);
        return;
      }
      b.decision(
        `Combination: ${summarizeVerdicts(state, verdicts)}. Refining ${label(best.candidateId)} with ${drafts.length} neighbours: ${drafts.map((d) => d.why).join('; ')}.`,
      );
      enterStep(b, 'refine', drafts);
      return;
    }
    case 'refine': {
      const incumbent = ranked(
        state.verdicts.filter((v) => v.step === 'combination'),
        'pass',
      )[0]!;
      const challengers = verdicts
        .filter((v) => v.verdict === 'pass' && v.relEffect > incumbent.relEffect)
        .sort((x, y) => y.relEffect - x.relEffect);
      const chosen = challengers[0] ?? incumbent;
      const c = state.candidates.find((x) => x.id === chosen.candidateId)!;
      b.decision(
        challengers[0]
          ? `Refinement: ${label(chosen.candidateId)} improved on the combination (${pct(chosen.relEffect)} vs ${pct(incumbent.relEffect)}). Confirming it at full fidelity over ${state.spec.seeds.exploitation} fresh seeds.`
          : `Refinement: no neighbour beat ${label(incumbent.candidateId)} (${pct(incumbent.relEffect)}). Confirming it at full fidelity over ${state.spec.seeds.exploitation} fresh seeds.`,
      );
      enterStep(b, 'confirm', [{ ...draftOf(c), why: 'confirmation' }]);
      return;
    }
    case 'confirm': {
      const v = verdicts[0];
      if (!v) finish(b, 'nothing to confirm');
      if (!v) return;
      const c = state.candidates.find((x) => x.id === v.candidateId)!;
      if (v.verdict === 'pass') {
        const base = state.runs.filter(
          (r) => r.step === 'confirm' && r.role === 'baseline' && r.status === 'succeeded',
        );
        const cand = state.runs.filter((r) => r.candidateId === c.id && r.status === 'succeeded');
        const m = (rs: Run[]) =>
          rs.reduce((s, r) => s + (r.metrics?.[state.spec.metric.name] ?? 0), 0) / Math.max(1, rs.length);
        state.winner = {
          candidateId: c.id,
          label: c.label,
          overrides: c.overrides,
          ...(c.codeHypothesisId !== undefined ? { codeHypothesisId: c.codeHypothesisId } : {}),
          relEffect: v.relEffect,
          lo: v.lo,
          hi: v.hi,
          n: v.n,
          baselineMean: m(base),
          candidateMean: m(cand),
        };
        b.decision(
          `Confirmation: ${changeText(state, c)} improves ${state.spec.metric.name} by ${pct(v.relEffect)} (95% interval [${pct(v.lo)}, ${pct(v.hi)}], ${v.n} seeds at fidelity ${v.fidelity}).`,
        );
        b.effects.push({
          type: 'open_promotion',
          overrides: c.overrides,
          idempotencyKey: `promotion:${state.id}`,
        });
        finish(b, 'confirmed a winner');
        return;
      }
      b.decision(`Confirmation: ${changeText(state, c)} did not hold up at full fidelity: ${v.reason}.`);
      finish(b, 'the best combination was not confirmed at full fidelity');
      return;
    }
    default:
      assertNever(step);
  }
}

function finish(b: Builder, reason: string): void {
  const { state } = b;
  state.status = 'completed';
  state.finishedReason = reason;
  b.effects.push({ type: 'update_insights', phase: state.phase, idempotencyKey: nextKey(state, 'insights') });
  b.effects.push({ type: 'write_report', idempotencyKey: nextKey(state, 'report') });
  const spent = spentGpuHours(state);
  const w = state.winner;
  b.notify(
    'plan_finished',
    w
      ? `Plan ${state.id} finished: ${describeChange(state.baseline, w.overrides)} improves ${state.spec.metric.name} by ${pct(w.relEffect)} [${pct(w.lo)}, ${pct(w.hi)}], ${w.n} seeds. Spent ${fmtHours(spent)} of ${fmtHours(state.budget.approvedGpuHours)} GPU-hours.`
      : `Plan ${state.id} finished without a confirmed winner (${reason}). Spent ${fmtHours(spent)} of ${fmtHours(state.budget.approvedGpuHours)} GPU-hours.`,
  );
}

/** Dispatches pending runs of the current step within the concurrency cap and the budget guard. */
function schedule(b: Builder): void {
  const { state, ctx } = b;
  if (state.status !== 'running') return;
  const estimateNow = (r: Run) => estimateRun(state.costSamples, r.fidelity, state.spec);
  let flying = inFlight(state).length;
  let committed = spentGpuHours(state) + committedGpuHours(state);
  const pending = state.runs.filter((r) => r.status === 'pending' && r.step === state.step);
  let blocked: Run[] = [];
  for (const r of pending) {
    if (flying >= state.concurrencyCap) break;
    const est = estimateNow(r);
    if (committed + est.p50 > state.budget.approvedGpuHours + 1e-12) {
      blocked = pending.slice(pending.indexOf(r));
      break;
    }
    r.estimate = est;
    const n = r.attempts.length + 1;
    const overrides = r.attemptOverrides ?? r.overrides;
    const previous = r.attempts[r.attempts.length - 1];
    r.attempts.push({ n, status: 'dispatched', overrides, dispatchedAt: ctx.now });
    r.status = 'dispatched';
    flying += 1;
    committed += est.p50;
    const key = `dispatch:${state.id}:${r.id}:${n}`;
    const codeId = state.candidates.find((c) => c.id === r.candidateId)?.codeHypothesisId;
    const code = codeId !== undefined ? { codeHypothesisId: codeId } : {};
    if (previous && overridesKey(previous.overrides) === overridesKey(overrides)) {
      b.effects.push({
        type: 'retry_run',
        runId: r.id,
        attempt: n,
        previousAttempt: previous.n,
        overrides,
        fidelity: r.fidelity,
        seed: r.seed,
        ...code,
        idempotencyKey: key,
      });
    } else {
      b.effects.push({
        type: 'dispatch_run',
        runId: r.id,
        attempt: n,
        overrides,
        fidelity: r.fidelity,
        seed: r.seed,
        ...code,
        idempotencyKey: key,
      });
    }
  }
  if (blocked.length > 0 && flying === 0) {
    const remaining = state.runs
      .filter((r) => r.status === 'pending')
      .reduce((s, r) => s + estimateNow(r).p50, 0);
    const needed = committed + remaining - state.budget.approvedGpuHours;
    state.status = 'paused';
    state.pauseReason = 'budget';
    const wouldBuy = `${blocked.length} more ${state.step} runs (${state.phase} phase); about ${fmtHours(needed)} GPU-hours more finishes this step`;
    state.budgetRequest = { neededGpuHours: needed, wouldBuy, at: ctx.now };
    b.effects.push({
      type: 'request_budget',
      neededGpuHours: needed,
      wouldBuy,
      idempotencyKey: nextKey(state, 'budget'),
    });
    b.notify(
      'paused',
      `Paused: the approved budget of ${fmtHours(state.budget.approvedGpuHours)} GPU-hours cannot fit the next run. ${fmtHours(needed)} GPU-hours more would finish the ${state.step} step.`,
    );
  }
  state.estimate = reestimate(state);
}

export function fmtHours(h: number): string {
  if (h === 0) return '0';
  if (h >= 100) return h.toFixed(0);
  if (h >= 1) return h.toFixed(1);
  return fmtValue(Number(h.toPrecision(2)));
}
