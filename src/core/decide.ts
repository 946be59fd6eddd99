import { Builder } from './builder.ts';
import { estimateRun } from './costs.ts';
import { assertNever, describeChange, fmtValue, overridesKey } from './knobs.ts';
import {
  committedGpuHours,
  confirmationReserve,
  IN_FLIGHT,
  inFlight,
  isTerminalPlan,
  runCost,
  spentGpuHours,
  TERMINAL_RUN,
} from './ledger.ts';
import type {
  Approval,
  Attempt,
  DecideContext,
  Decided,
  FailureConclusion,
  PlanEvent,
  PlanState,
  Run,
} from './model.ts';
import { advance, fmtHours } from './phases.ts';
import { changeText, nextKey, reestimate } from './plan.ts';
import { decideRunbookAction, matchRunbook } from './runbooks.ts';

export {
  budgetLeft,
  committedGpuHours,
  fullRunEquivalents,
  inFlight,
  isTerminalPlan,
  spentGpuHours,
} from './ledger.ts';
export { fmtHours } from './phases.ts';

// The one function that drives a plan: decide(state, event, ctx) -> { state, effects }. Pure: time and
// runbooks come in through ctx, ids are derived from the state, and the input state is never mutated.

/** How runners word a primary metric that came out NaN or infinite (a missing one is another failure). */
const NON_FINITE_REASON = /\bis (NaN|-?Infinity|-?inf|non-finite|not finite)\b/i;

export function decide(input: PlanState, event: PlanEvent, ctx: DecideContext): Decided {
  const state = structuredClone(input);
  const b = new Builder(state, ctx);
  const changed = apply(b, event);
  if (!changed) return { state: input, effects: [] };
  // Re-planning to fit the budget can end the current step (its last runs dropped): advance again then.
  for (let guard = 0; guard < 4 && state.status === 'running'; guard++) {
    advance(b);
    if (!schedule(b)) break;
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

/**
 * Dispatches pending runs of the current step within the concurrency cap and the budget guard. While the plan
 * searches, the guard keeps the smallest confirmation back; when the next run no longer fits and nothing is in
 * flight, the rest of the step is dropped (re-planned from measured costs, and said so) rather than paused. It
 * pauses to ask for more only when even the smallest confirmation does not fit. Returns true when it dropped
 * runs, so that the caller advances the plan again.
 */
function schedule(b: Builder): boolean {
  const { state } = b;
  if (state.status !== 'running') return false;
  const estimateNow = (r: Run) => estimateRun(state.costSamples, r.fidelity, state.spec);
  const reserve = confirmationReserve(state);
  const approved = state.budget.approvedGpuHours;
  let flying = inFlight(state).length;
  let committed = spentGpuHours(state) + committedGpuHours(state);
  const pending = state.runs.filter((r) => r.status === 'pending' && r.step === state.step);
  let blocked: Run[] = [];
  for (const r of pending) {
    if (flying >= state.concurrencyCap) break;
    const est = estimateNow(r);
    if (committed + est.p50 + reserve > approved + 1e-12) {
      blocked = pending.slice(pending.indexOf(r));
      break;
    }
    dispatch(b, r, est);
    flying += 1;
    committed += est.p50;
  }
  let replanned = false;
  if (blocked.length > 0 && flying === 0) {
    // Held at p90 while searching; whether the confirmation fits at all is judged at p50, as the guard charges.
    if (state.step !== 'confirm' && committed + confirmationReserve(state, runCost) <= approved + 1e-12) {
      dropForBudget(b, blocked, reserve);
      replanned = true;
    } else if (!shrinkConfirmation(b)) {
      askForBudget(b, committed, reserve);
    } else replanned = true;
  }
  state.estimate = reestimate(state);
  return replanned;
}

function dispatch(b: Builder, r: Run, est: Run['estimate']): void {
  const { state, ctx } = b;
  r.estimate = est;
  const n = r.attempts.length + 1;
  const overrides = r.attemptOverrides ?? r.overrides;
  const previous = r.attempts[r.attempts.length - 1];
  r.attempts.push({ n, status: 'dispatched', overrides, dispatchedAt: ctx.now });
  r.status = 'dispatched';
  const key = `dispatch:${state.id}:${r.id}:${n}`;
  const codeId = state.candidates.find((c) => c.id === r.candidateId)?.codeHypothesisId;
  const code = codeId !== undefined ? { codeHypothesisId: codeId } : {};
  const common = { runId: r.id, attempt: n, overrides, fidelity: r.fidelity, seed: r.seed, ...code };
  b.effects.push(
    previous && overridesKey(previous.overrides) === overridesKey(overrides)
      ? { type: 'retry_run', ...common, previousAttempt: previous.n, idempotencyKey: key }
      : { type: 'dispatch_run', ...common, idempotencyKey: key },
  );
}

/** Shrinks the current step to what the budget can pay for while it keeps the confirmation reserve. */
function dropForBudget(b: Builder, blocked: Run[], reserve: number): void {
  const { state } = b;
  const stepRuns = state.runs.filter((r) => r.step === state.step);
  const candidatesIn = (runs: Run[]) =>
    new Set(runs.filter((r) => r.role === 'candidate').map((r) => r.candidateId)).size;
  const planned = candidatesIn(stepRuns);
  for (const r of blocked) {
    r.status = 'cancelled';
    r.dropped = true;
    r.outcome = 'dropped when the plan was re-planned to fit its budget';
  }
  const kept = candidatesIn(stepRuns.filter((r) => !r.dropped));
  const f = blocked[0]!.fidelity;
  const ratio = estimateRun(state.costSamples, f, state.spec).p50 / estimateRun([], f, state.spec).p50;
  const costs =
    Math.abs(ratio - 1) >= 0.05
      ? `measured runs at fidelity ${fmtValue(f)} cost ${ratio.toFixed(1)}x the first estimate`
      : 'the budget left';
  b.decision(
    `Re-planned from measured costs: ${state.step} measures ${kept} instead of ${planned} configurations (${blocked.length} runs dropped): ${costs}, and ${fmtHours(reserve)} GPU-hours are kept for confirming on ${state.spec.seeds.exploitation} fresh seeds.`,
  );
}

/**
 * Confirmation ran over (a lost runner's retry, runs dearer than measured): with more than one candidate on
 * fresh seeds, the lowest-ranked one (added last) leaves, so that the rest keep every seed .rea.yml asks for.
 * False when only the smallest confirmation is left: then the plan asks for more.
 */
function shrinkConfirmation(b: Builder): boolean {
  const { state } = b;
  // The candidates of this confirmation still waiting for seeds (earlier confirmations are over).
  const confirming = state.candidates.filter(
    (c) => c.step === 'confirm' && state.runs.some((r) => r.candidateId === c.id && r.status === 'pending'),
  );
  if (confirming.length < 2) return false;
  const last = confirming[confirming.length - 1]!;
  for (const r of state.runs) {
    if (r.candidateId !== last.id || r.status !== 'pending') continue;
    r.status = 'cancelled';
    r.dropped = true;
    r.outcome = 'dropped when the plan was re-planned to fit its budget';
  }
  b.decision(
    `Re-planned from measured costs: confirming ${confirming.length - 1} instead of ${confirming.length} candidates (${changeText(state, last)} leaves), so that the rest keep all ${state.spec.seeds.exploitation} fresh seeds within the approved budget.`,
  );
  return true;
}

/** The smallest confirmation does not fit: pause, and say what more budget would buy. */
function askForBudget(b: Builder, committed: number, reserve: number): void {
  const { state, ctx } = b;
  const pendingCost = state.runs
    .filter((r) => r.status === 'pending' && r.step === state.step)
    .reduce((s, r) => s + estimateRun(state.costSamples, r.fidelity, state.spec).p50, 0);
  const approved = state.budget.approvedGpuHours;
  const confirming = state.step === 'confirm';
  const needed = Math.max(committed + (confirming ? pendingCost : reserve) - approved, Number.MIN_VALUE);
  state.status = 'paused';
  state.pauseReason = 'budget';
  const wouldBuy = confirming
    ? `the confirmation at full fidelity on ${state.spec.seeds.exploitation} fresh seeds; about ${fmtHours(needed)} GPU-hours more finishes it`
    : `one confirmation at full fidelity on ${state.spec.seeds.exploitation} fresh seeds, the smallest plan that can name a winner; about ${fmtHours(needed)} GPU-hours more`;
  state.budgetRequest = { neededGpuHours: needed, wouldBuy, at: ctx.now };
  b.effects.push({
    type: 'request_budget',
    neededGpuHours: needed,
    wouldBuy,
    idempotencyKey: nextKey(state, 'budget'),
  });
  b.notify(
    'paused',
    `Paused: the approved budget of ${fmtHours(approved)} GPU-hours cannot pay for the smallest confirmation at the measured costs. ${fmtHours(needed)} GPU-hours more would buy ${wouldBuy.split(';')[0]}.`,
  );
}
