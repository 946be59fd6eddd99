import type { Logger } from 'pino';
import { parseDocument } from 'yaml';
import { attemptIsLive, jobOf, updateInsights } from '../../app/effects.ts';
import type { ReaMetrics } from '../../app/metrics.ts';
import type { Performer } from '../../app/outbox-worker.ts';
import { applyEvent, loadModelPlans, updateOrigin } from '../../app/plan-service.ts';
import type { Store } from '../../app/ports.ts';
import { fmtHours } from '../../core/decide.ts';
import { assertNever } from '../../core/knobs.ts';
import type { Effect, GithubOrigin, PlanEvent, PlanState, Runbook } from '../../core/model.ts';
import { GithubActionsRunner } from './github-actions-runner.ts';
import { GithubCodeHost, type Octokit } from './github-code-host.ts';
import {
  checkRunState,
  planFiles,
  renderPlanPrBody,
  renderPromotionBody,
  renderReportComment,
  renderStickyComment,
  reportMarker,
  stickyMarker,
} from './render.ts';
import { planBranch, promotionBranch } from './run-ids.ts';

// Performs the effects of plans that live on GitHub. Each effect is idempotent: the PR, the sticky comment
// and the check run are found and updated, a dispatch first looks for a run with its title.

export interface GithubDeps {
  store: Store;
  octokitFor(installationId: number): Promise<Octokit>;
  runbooks: Runbook[];
  log: Logger;
  now: () => Date;
  metrics?: ReaMetrics;
  /** Seconds between title look-ups after a dispatch without run details (tests shorten it). */
  findDelayMs?: number;
}

export const CHECK_NAME = 'rea/plan';

function host(octokit: Octokit, o: GithubOrigin): GithubCodeHost {
  return new GithubCodeHost(octokit, { owner: o.owner, repo: o.repo });
}

export function runnerFor(deps: GithubDeps, octokit: Octokit, plan: PlanState): GithubActionsRunner {
  const o = plan.origin!;
  return new GithubActionsRunner(
    octokit,
    { owner: o.owner, repo: o.repo, workflow: plan.spec.workflow, ref: planBranch(plan.id) },
    deps.findDelayMs !== undefined ? { findDelayMs: deps.findDelayMs } : {},
  );
}

async function apply(deps: GithubDeps, planId: string, event: PlanEvent): Promise<void> {
  await applyEvent({ store: deps.store, planId, event, now: deps.now(), runbooks: deps.runbooks });
}

function attemptOf(plan: PlanState, runId: string, n: number) {
  return plan.runs.find((r) => r.id === runId)?.attempts.find((a) => a.n === n);
}

export async function publishPlan(deps: GithubDeps, octokit: Octokit, plan: PlanState): Promise<void> {
  const o = plan.origin!;
  const code = host(octokit, o);
  const branch = planBranch(plan.id);
  let pr = o.pr;
  if (pr === undefined) {
    await code.ensureBranch(branch, o.baseSha);
    await code.ensureFiles(branch, planFiles(plan), `rea: plan ${plan.id} (${plan.goal})`);
    pr = await code.ensurePullRequest({
      head: branch,
      base: o.baseRef,
      title: `rea plan: ${plan.goal}`,
      body: renderPlanPrBody(plan),
    });
    await code.addLabels(pr, ['rea:plan']);
    if (o.requestedIn !== undefined && o.requestedIn !== pr) {
      await code.comment(
        o.requestedIn,
        `Plan \`${plan.id}\` is ready for review in #${pr}: ${plan.hypotheses.length} hypotheses, ${fmtHours(plan.budget.requestedGpuHours)} GPU-hours asked for.`,
      );
    }
    await updateOrigin(deps.store, plan.id, { pr });
  }
  const headSha = o.headSha ?? (await code.branchSha(branch));
  const commentId = await code.ensureComment(
    pr,
    stickyMarker(plan.id),
    renderStickyComment(plan),
    o.commentId,
  );
  const check = checkRunState(plan);
  const checkRunId = await code.ensureCheckRun({
    ...(o.checkRunId !== undefined ? { id: o.checkRunId } : {}),
    headSha,
    name: CHECK_NAME,
    status: check.status,
    ...(check.conclusion ? { conclusion: check.conclusion } : {}),
    title: check.title,
    summary: check.summary,
  });
  if (commentId !== o.commentId || checkRunId !== o.checkRunId || headSha !== o.headSha) {
    await updateOrigin(deps.store, plan.id, { commentId, checkRunId, headSha });
  }
}

async function openPromotion(
  deps: GithubDeps,
  octokit: Octokit,
  plan: PlanState,
  overrides: Record<string, unknown>,
): Promise<void> {
  const o = plan.origin!;
  if (o.promotionPr !== undefined) return;
  const code = host(octokit, o);
  const base = await code.defaultBranch();
  const file = plan.spec.baselineConfigFile;
  const text = await code.readFile(file, base.name);
  if (text === undefined) throw new Error(`${file} is missing on ${base.name}; cannot open the promotion PR`);
  // Edit the YAML document in place so that comments and key order in the team's config survive.
  const doc = parseDocument(text);
  for (const [k, v] of Object.entries(overrides)) doc.set(k, v);
  const branch = promotionBranch(plan.id);
  await code.ensureBranch(branch, base.sha);
  await code.ensureFiles(branch, { [file]: doc.toString() }, `rea: promote the winner of plan ${plan.id}`);
  const promotionPr = await code.ensurePullRequest({
    head: branch,
    base: base.name,
    title: `rea: promote plan ${plan.id} winner to the baseline`,
    body: renderPromotionBody(plan),
  });
  await updateOrigin(deps.store, plan.id, { promotionPr });
}

export function makeGithubPerformer(deps: GithubDeps): Performer {
  return async (effect: Effect, plan: PlanState | undefined) => {
    if (!plan?.origin) return;
    const octokit = await deps.octokitFor(plan.origin.installationId);
    const o = plan.origin;
    switch (effect.type) {
      case 'dispatch_run':
      case 'retry_run': {
        // A stale effect (the attempt already ended) or one already done (its run id is known) is dropped.
        if (!attemptIsLive(plan, effect.runId, effect.attempt)) return;
        if (attemptOf(plan, effect.runId, effect.attempt)?.externalId) return;
        const runner = runnerFor(deps, octokit, plan);
        const prev =
          effect.type === 'retry_run' ? attemptOf(plan, effect.runId, effect.previousAttempt) : undefined;
        let externalId: string | undefined;
        let externalAttempt = 1;
        if (prev?.externalId) {
          // A plain retry re-runs the same workflow run; GitHub counts it as the next run_attempt.
          await runner.rerun(prev.externalId);
          externalId = prev.externalId;
          externalAttempt = (prev.externalAttempt ?? 1) + 1;
        } else {
          ({ externalId } = await runner.dispatch(jobOf(plan, effect)));
        }
        if (externalId) {
          await apply(deps, plan.id, {
            type: 'run_dispatched',
            runId: effect.runId,
            attempt: effect.attempt,
            externalId,
            externalAttempt,
          });
        }
        return;
      }
      case 'cancel_run': {
        const a = attemptOf(plan, effect.runId, effect.attempt);
        if (a?.externalId) await runnerFor(deps, octokit, plan).cancel(a.externalId);
        return;
      }
      case 'collect_run': {
        if (!attemptIsLive(plan, effect.runId, effect.attempt)) return;
        const runner = runnerFor(deps, octokit, plan);
        const run = await runner.getRun(effect.externalId);
        if (run?.status !== 'completed') return;
        const event = await runner.collect({
          run,
          attempt: effect.attempt,
          metricName: plan.spec.metric.name,
          gpus: plan.spec.gpus,
        });
        await apply(deps, plan.id, { ...event, runId: effect.runId } as PlanEvent);
        return;
      }
      case 'publish_plan':
        await publishPlan(deps, octokit, plan);
        return;
      case 'notify':
        // Decisions and progress live in the sticky comment (publish_plan); a plan's end also gets a comment.
        if (effect.topic === 'plan_rejected' || effect.topic === 'cancelled') {
          if (o.pr !== undefined) await host(octokit, o).comment(o.pr, effect.text);
        }
        return;
      case 'escalate':
        if (o.pr !== undefined) {
          await host(octokit, o).comment(
            o.pr,
            [
              `**rea needs a person.** ${effect.reason}`,
              effect.runbookId ? `Runbook: \`${effect.runbookId}\`.` : 'No runbook matches this failure.',
              effect.logExcerpt ? `\n\`\`\`\n${effect.logExcerpt.slice(-3000)}\n\`\`\`` : '',
              'The plan is paused. Fix the cause and resolve the escalation in Slack, or comment `/rea cancel`.',
            ].join('\n'),
          );
        }
        return;
      case 'request_budget':
        if (o.pr !== undefined) {
          await host(octokit, o).comment(
            o.pr,
            `The plan is paused: the approved budget cannot fit the next run. ${effect.wouldBuy}. An approver can comment \`/rea budget +${Math.ceil(effect.neededGpuHours * 100) / 100}\`.`,
          );
        }
        return;
      case 'update_insights':
        await updateInsights(deps.store, plan.spec.model, deps.now());
        return;
      case 'write_report':
        if (o.pr !== undefined)
          await host(octokit, o).ensureComment(
            o.pr,
            reportMarker(plan.id),
            renderReportComment(plan, { history: await loadModelPlans(deps.store, plan.spec.model) }),
          );
        return;
      case 'open_promotion':
        await openPromotion(deps, octokit, plan, effect.overrides);
        return;
      default:
        assertNever(effect);
    }
  };
}
