import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { computeInsights } from '../core/insights.ts';
import { assertNever } from '../core/knobs.ts';
import type { Effect, PlanState } from '../core/model.ts';
import type { Performer } from './outbox-worker.ts';
import { loadModelPlans } from './plan-service.ts';
import type { Chat, RunJob, Runner, Store } from './ports.ts';
import { renderReport } from './render.ts';

// Maps each effect to the port that performs it. Dispatches are checked against the plan as stored now:
// an effect that a later decision made stale (the attempt was already failed or cancelled) is dropped, so
// a dispatch delivered late never starts an attempt the plan has given up on.

export interface PerformerDeps {
  store: Store;
  runner: Runner;
  chat: Chat;
  reportDir: string;
}

/** The attempt a dispatch or retry effect names, as a runner job (with its code hypothesis's patch). */
export function jobOf(
  plan: Pick<PlanState, 'id' | 'hypotheses'>,
  effect: Extract<Effect, { type: 'dispatch_run' | 'retry_run' }>,
): RunJob {
  let code: RunJob['code'];
  if (effect.codeHypothesisId !== undefined) {
    const h = plan.hypotheses.find((x) => x.id === effect.codeHypothesisId);
    // A dispatch naming code the plan does not have must not run as the plain config.
    if (h?.kind !== 'code' || !h.patch)
      throw new Error(`plan ${plan.id} has no code hypothesis ${effect.codeHypothesisId} with a patch`);
    code = { hypothesisId: h.id, title: h.title, patch: h.patch };
  }
  return {
    planId: plan.id,
    runId: effect.runId,
    attempt: effect.attempt,
    overrides: effect.overrides,
    fidelity: effect.fidelity,
    seed: effect.seed,
    idempotencyKey: effect.idempotencyKey,
    ...(code ? { code } : {}),
  };
}

export function attemptIsLive(plan: PlanState | undefined, runId: string, attempt: number): boolean {
  const a = plan?.runs.find((r) => r.id === runId)?.attempts.find((x) => x.n === attempt);
  return a !== undefined && (a.status === 'dispatched' || a.status === 'running');
}

/**
 * Recomputes every insight of the model from all of its plans (idempotent: a redelivered effect writes the
 * same rows). `reportDir` links finished plans' reports as evidence where reports are files (local mode).
 */
export async function updateInsights(
  store: Store,
  model: string,
  now: Date,
  reportDir?: string,
): Promise<number> {
  const rows = computeInsights(
    await loadModelPlans(store, model),
    now.toISOString(),
    reportDir ? { reportPath: (id) => path.join(reportDir, `${id}.md`) } : {},
  );
  await store.transaction((tx) => tx.upsertInsights(rows));
  return rows.length;
}

/** Writes the full report; `history` (the model's plans) lets it say which insights this plan changed. */
export async function writeReport(
  plan: PlanState,
  reportDir: string,
  history?: readonly PlanState[],
): Promise<{ markdown: string; file: string }> {
  const markdown = renderReport(plan, history ? { history } : {});
  await mkdir(reportDir, { recursive: true });
  const file = path.join(reportDir, `${plan.id}.md`);
  await writeFile(file, markdown);
  return { markdown, file };
}

export function makePerformer(deps: PerformerDeps): Performer {
  return async (effect: Effect, plan: PlanState | undefined) => {
    if (!plan) return;
    switch (effect.type) {
      case 'dispatch_run':
      case 'retry_run': {
        if (!attemptIsLive(plan, effect.runId, effect.attempt)) return;
        await deps.runner.dispatch(jobOf(plan, effect));
        return;
      }
      case 'cancel_run':
        await deps.runner.cancel(effect.runId, effect.attempt);
        return;
      case 'publish_plan':
        await deps.chat.publishPlan(plan);
        return;
      case 'notify':
        await deps.chat.notify(plan, effect.topic, effect.text);
        return;
      case 'escalate':
        await deps.chat.escalate(plan, effect);
        return;
      case 'request_budget':
        await deps.chat.requestBudget(plan, effect);
        return;
      case 'update_insights':
        await updateInsights(deps.store, plan.spec.model, new Date(plan.updatedAt), deps.reportDir);
        return;
      case 'write_report': {
        const history = await loadModelPlans(deps.store, plan.spec.model);
        const { markdown, file } = await writeReport(plan, deps.reportDir, history);
        await deps.chat.report(plan, markdown, file);
        return;
      }
      case 'open_promotion':
        await deps.chat.promote(plan, effect);
        return;
      case 'collect_run':
        // Only GitHub runs are collected; a local runner reports its own results.
        return;
      default:
        assertNever(effect);
    }
  };
}
