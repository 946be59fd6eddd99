import { schedule } from './budget-guard.ts';
import { Builder } from './builder.ts';
import { handleFailure } from './escalation.ts';
import { assertNever } from './knobs.ts';
import { IN_FLIGHT, isTerminalPlan, spentGpuHours, TERMINAL_RUN } from './ledger.ts';
import type { Approval, Attempt, DecideContext, Decided, PlanEvent, PlanState, Run } from './model.ts';
import { advance } from './phases.ts';
import { nextKey } from './plan.ts';
import { fmtHours } from './steps.ts';

export {
  budgetLeft,
  committedGpuHours,
  fullRunEquivalents,
  inFlight,
  isTerminalPlan,
  spentGpuHours,
} from './ledger.ts';
export { fmtHours } from './steps.ts';

// The one function that drives a plan: decide(state, event, ctx) -> { state, effects }. Pure: time and
// runbooks come in through ctx, ids are derived from the state, and the input state is never mutated.
// The reducer applies the event here; a failed run goes to escalation.ts, the phase rules to phases.ts
// (one file per phase under phase-rules/), and dispatch under the budget guard to budget-guard.ts.

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
