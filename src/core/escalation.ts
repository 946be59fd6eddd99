import type { Builder } from './builder.ts';
import { assertNever, describeChange, overridesKey } from './knobs.ts';
import { isTerminalPlan } from './ledger.ts';
import type { Attempt, FailureConclusion, Run } from './model.ts';
import { changeText } from './plan.ts';
import { decideRunbookAction, matchRunbook } from './runbooks.ts';

// A failed run attempt, answered from the runbooks: retry it (perhaps adjusted, perhaps with fewer runs at
// once), skip it, or escalate to a person and pause the plan. The matching and the action choice live in
// runbooks.ts; this file applies the answer to the plan.

export interface FailureFacts {
  conclusion: FailureConclusion;
  reason: string;
  logExcerpt: string;
  gpuHours: number;
  durationSec: number;
  metricNonFinite: boolean;
}

export function handleFailure(b: Builder, run: Run, attempt: Attempt, f: FailureFacts): true {
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
