import { writeReport } from '../app/effects.ts';
import type { ReaMetrics } from '../app/metrics.ts';
import type { Performer } from '../app/outbox-worker.ts';
import { loadModelPlans } from '../app/plan-service.ts';
import type { Chat, Store } from '../app/ports.ts';
import { renderReport } from '../app/render.ts';
import type { Effect, PlanState } from '../core/model.ts';

// The outbox's performer for `rea serve`: each effect goes to GitHub, then to the plan's Slack thread when it
// has one, and the full report is kept on disk as well.

/** The chat effects of a plan with a Slack thread, performed on that thread. */
export async function performChat(chat: Chat, effect: Effect, plan: PlanState): Promise<void> {
  switch (effect.type) {
    case 'publish_plan':
      await chat.publishPlan(plan);
      return;
    case 'notify':
      await chat.notify(plan, effect.topic, effect.text);
      return;
    case 'escalate':
      await chat.escalate(plan, effect);
      return;
    case 'request_budget':
      await chat.requestBudget(plan, effect);
      return;
    case 'write_report':
      await chat.report(plan, renderReport(plan));
      return;
    case 'open_promotion':
      await chat.promote(plan, effect);
      return;
    default:
      return;
  }
}

export interface ServerPerformerDeps {
  /** Performs an effect on GitHub (it ignores plans that did not come from GitHub). */
  github: Performer;
  /** The Slack chat, when Slack is configured. */
  slack?: Chat;
  /** Reads the plan afresh before Slack sees it (the thread's parent may have been posted since). */
  store: Pick<Store, 'getPlan'>;
  /** Keeps the full report of a finished plan (on disk: PR comments and Slack get it cut). */
  keepReport(plan: PlanState): Promise<void>;
  metrics: Pick<ReaMetrics, 'effects' | 'effectFailures' | 'dispatches'>;
}

/** Keeps reports in `reportDir`, with the model's earlier plans for comparison. */
export function reportKeeper(store: Store, reportDir: string): (plan: PlanState) => Promise<void> {
  return async (plan) => {
    await writeReport(plan, reportDir, await loadModelPlans(store, plan.spec.model));
  };
}

export function makeServerPerformer(deps: ServerPerformerDeps): Performer {
  const { github, slack, store, metrics } = deps;
  // GitHub first (the Slack parent links the PR it opens), then the plan's Slack thread. An item whose GitHub
  // part succeeded but whose Slack part failed does not repeat the GitHub part on its retry in this process.
  const githubDone = new Set<number>();
  return async (effect, plan, item) => {
    if (effect.type === 'write_report' && plan) await deps.keepReport(plan);
    if (!githubDone.has(item.id)) {
      await github(effect, plan, item);
      githubDone.add(item.id);
    }
    try {
      if (slack && plan?.slack) {
        const fresh = (await store.getPlan(plan.id)) ?? plan;
        await performChat(slack, effect, fresh);
      }
    } catch (err) {
      metrics.effectFailures.inc({ type: `${effect.type}:slack` });
      throw err;
    }
    githubDone.delete(item.id);
    metrics.effects.inc({ type: effect.type });
    if (effect.type === 'dispatch_run' || effect.type === 'retry_run') metrics.dispatches.inc();
  };
}
