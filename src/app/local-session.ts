import type { Logger } from 'pino';
import type { ModelDir } from '../config/load.ts';
import { isTerminalPlan } from '../core/decide.ts';
import type { Actor, PlanEvent, PlanState, Runbook } from '../core/model.ts';
import { makePerformer } from './effects.ts';
import { drainOutbox } from './outbox-worker.ts';
import { applyEvent, requestPlan } from './plan-service.ts';
import type { Chat, CodeReader, HypothesisSource, Runner, RunnerReport, Store } from './ports.ts';

// `rea run --local`: the same path as the service (decide in a transaction, effects through the outbox),
// with a local runner and the terminal as the chat. Killing it and starting it again resumes the plan:
// the state is in the database, and attempts the dead process ran are reported lost to the runbooks.

export interface LocalRunner extends Runner {
  recover(inFlight: Array<{ planId: string; runId: string; attempt: number }>): Promise<RunnerReport[]>;
  shutdown(): Promise<void>;
}

export type Choice = 'retry' | 'skip' | 'cancel';

export interface LocalSessionOptions {
  store: Store;
  model: ModelDir;
  goal: string;
  runbooks: Runbook[];
  sources: HypothesisSource[];
  /** The model's files, for the research agent. */
  code?: CodeReader;
  chat: Chat & { progress?(plan: PlanState): void };
  makeRunner(onReport: (r: RunnerReport) => void): LocalRunner;
  reportDir: string;
  log: Logger;
  actor: Actor;
  /** Asks a person to approve; resolves false to reject. */
  approve(plan: PlanState): Promise<boolean>;
  /** Asks how to resolve an open escalation when a paused plan is resumed. */
  resolveEscalation(plan: PlanState, escalationId: string): Promise<Choice>;
  budgetGpuHours?: number;
  /**
   * Asked when the plan pauses because the next run does not fit the approved budget; resolves to the
   * GPU-hours to add, or undefined to leave the plan paused.
   */
  raiseBudget?(plan: PlanState): Promise<number | undefined>;
  now?: () => Date;
  onPlan?(plan: PlanState): void;
  timerEveryMs?: number;
}

function toEvent(r: RunnerReport): PlanEvent {
  switch (r.type) {
    case 'started':
      return { type: 'run_started', runId: r.runId, attempt: r.attempt };
    case 'finished':
      return {
        type: 'run_finished',
        runId: r.runId,
        attempt: r.attempt,
        metrics: r.metrics,
        ...(r.steps !== undefined ? { steps: r.steps } : {}),
        gpuHours: r.gpuHours,
        durationSec: r.durationSec,
      };
    case 'failed':
      return {
        type: 'run_failed',
        runId: r.runId,
        attempt: r.attempt,
        conclusion: r.conclusion,
        reason: r.reason,
        logExcerpt: r.logTail,
        gpuHours: r.gpuHours,
        durationSec: r.durationSec,
      };
  }
}

export async function runLocalSession(opts: LocalSessionOptions): Promise<PlanState> {
  const { store, model, log } = opts;
  const now = opts.now ?? (() => new Date());
  const apply = async (planId: string, event: PlanEvent) => {
    const out = await applyEvent({ store, planId, event, now: now(), runbooks: opts.runbooks });
    if (!out) throw new Error(`plan ${planId} disappeared`);
    return out.state;
  };

  const active = await store.listPlans({
    model: model.config.model,
    statuses: ['awaiting_approval', 'running', 'paused'],
  });
  let plan: PlanState;
  if (active[0]) {
    plan = (await store.getPlan(active[0].id))!;
    await opts.chat.notify(
      plan,
      'resumed',
      `Resuming plan ${plan.id} (${plan.status}, phase ${plan.phase}): ${plan.goal}`,
    );
  } else {
    const created = await requestPlan({
      store,
      model,
      goal: opts.goal,
      sources: opts.sources,
      ...(opts.code ? { code: opts.code } : {}),
      now: now(),
      ...(opts.budgetGpuHours !== undefined ? { maxGpuHours: opts.budgetGpuHours } : {}),
    });
    plan = created.state;
    for (const note of created.notes) log.info({ planId: plan.id }, note);
  }
  opts.onPlan?.(plan);

  const reports: RunnerReport[] = [];
  let wake: (() => void) | undefined;
  const runner = opts.makeRunner((r) => {
    reports.push(r);
    wake?.();
  });
  const perform = makePerformer({ store, runner, chat: opts.chat, reportDir: opts.reportDir });
  const drain = () => drainOutbox({ store, perform, now, log, leaseMs: 30_000 });

  try {
    await drain();
    if (plan.status === 'awaiting_approval') {
      const ok = await opts.approve(plan);
      plan = await apply(
        plan.id,
        ok ? { type: 'approved', ...opts.actor } : { type: 'rejected', ...opts.actor },
      );
      await drain();
      if (!ok) return plan;
    }
    if (plan.status === 'paused') plan = await unpause(plan);

    // Attempts a previous process started are lost with it; the runner-lost runbook retries them.
    const inFlight = plan.runs.flatMap((r) =>
      r.status === 'dispatched' || r.status === 'running'
        ? [{ planId: plan.id, runId: r.id, attempt: r.attempts[r.attempts.length - 1]!.n }]
        : [],
    );
    if (inFlight.length > 0) {
      log.info({ planId: plan.id, count: inFlight.length }, 'recovering attempts of a previous process');
      reports.push(...(await runner.recover(inFlight)));
    }

    let lastTimer = now().getTime();
    for (;;) {
      while (reports.length > 0) {
        plan = await apply(plan.id, toEvent(reports.shift()!));
      }
      await drain();
      if (now().getTime() - lastTimer >= (opts.timerEveryMs ?? 30_000)) {
        lastTimer = now().getTime();
        plan = await apply(plan.id, { type: 'timer_fired' });
        continue;
      }
      opts.chat.progress?.(plan);
      const idle = runner.active().length === 0 && reports.length === 0;
      if (idle && plan.status === 'paused' && plan.pauseReason === 'budget' && opts.raiseBudget) {
        const extra = await opts.raiseBudget(plan);
        if (extra !== undefined && extra > 0) {
          plan = await apply(plan.id, { type: 'budget_raised', gpuHours: extra, ...opts.actor });
          continue;
        }
      }
      if (idle && (isTerminalPlan(plan) || plan.status === 'paused')) break;
      await new Promise<void>((resolve) => {
        wake = resolve;
        setTimeout(resolve, 250);
      });
      wake = undefined;
    }
    await drain();
    return plan;
  } finally {
    await runner.shutdown();
  }

  async function unpause(p: PlanState): Promise<PlanState> {
    let cur = p;
    for (const e of cur.escalations.filter((x) => !x.resolved)) {
      const choice = await opts.resolveEscalation(cur, e.id);
      cur =
        choice === 'cancel'
          ? await apply(cur.id, { type: 'cancelled', reason: `escalation ${e.id}`, ...opts.actor })
          : await apply(cur.id, {
              type: 'escalation_resolved',
              escalationId: e.id,
              action: choice,
              ...opts.actor,
            });
      if (isTerminalPlan(cur)) return cur;
    }
    if (cur.status === 'paused' && cur.pauseReason === 'budget' && opts.budgetGpuHours !== undefined) {
      const extra = opts.budgetGpuHours - cur.budget.approvedGpuHours;
      if (extra > 0) cur = await apply(cur.id, { type: 'budget_raised', gpuHours: extra, ...opts.actor });
    }
    if (cur.status === 'paused' && cur.pauseReason === 'user') {
      cur = await apply(cur.id, { type: 'resumed', ...opts.actor });
    }
    await drain();
    return cur;
  }
}
