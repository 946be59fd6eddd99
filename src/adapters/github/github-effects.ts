import type { Logger } from 'pino';
import { parseDocument } from 'yaml';
import { applyCodePatch, CODE_PATCH_REJECTED } from '../../app/code-patch.ts';
import { attemptIsLive, jobOf, updateInsights } from '../../app/effects.ts';
import type { ReaMetrics } from '../../app/metrics.ts';
import type { Performer } from '../../app/outbox-worker.ts';
import { applyEvent, loadModelPlans, updateOrigin } from '../../app/plan-service.ts';
import type { Store } from '../../app/ports.ts';
import { pct } from '../../core/analysis.ts';
import { fmtHours } from '../../core/decide.ts';
import { assertNever, describeChange } from '../../core/knobs.ts';
import type { Effect, GithubOrigin, Hypothesis, PlanEvent, PlanState, Runbook } from '../../core/model.ts';
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
import { experimentBranch, planBranch, promotionBranch } from './run-ids.ts';

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

/** The runner of a plan's workflow runs; `ref` is the branch they run on (a code run's experiment branch). */
export function runnerFor(
  deps: GithubDeps,
  octokit: Octokit,
  plan: PlanState,
  ref = planBranch(plan.id),
): GithubActionsRunner {
  const o = plan.origin!;
  return new GithubActionsRunner(
    octokit,
    { owner: o.owner, repo: o.repo, workflow: plan.spec.workflow, ref },
    deps.findDelayMs !== undefined ? { findDelayMs: deps.findDelayMs } : {},
  );
}

/** The branch a run is dispatched on: its code hypothesis's experiment branch, else the plan branch. */
export function runRef(plan: PlanState, runId: string): string {
  const run = plan.runs.find((r) => r.id === runId);
  const code = plan.candidates.find((c) => c.id === run?.candidateId)?.codeHypothesisId;
  return code !== undefined ? experimentBranch(plan.id, code) : planBranch(plan.id);
}

/** Code is pushed only once a person approved the plan that carries it, and not after it ended. */
function mayPushCode(plan: PlanState): boolean {
  return (
    (plan.status === 'running' || plan.status === 'paused') &&
    plan.approvals.some((a) => a.kind === 'approve')
  );
}

export function renderExperimentBody(plan: PlanState, h: Hypothesis): string {
  const o = plan.origin!;
  return [
    experimentMarker(plan.id, h.id),
    `Code hypothesis **${h.id}** of plan \`${plan.id}\`${o.pr !== undefined ? ` (#${o.pr})` : ''}: **${h.title}**`,
    '',
    h.rationale,
    '',
    `- Files: ${(h.files ?? []).map((f) => `\`${f}\``).join(', ') || 'see the diff'}`,
    `- Expected effect: ${pct(h.expectedEffect)}, risk ${h.risk}, from ${h.source}${h.agent !== h.source ? ` (${h.agent})` : ''}`,
    ...(Object.keys(h.overrides).length > 0
      ? [`- Runs with: ${describeChange(plan.baseline, h.overrides)}`]
      : []),
    '',
    `rea runs this hypothesis's experiments on this branch (\`${experimentBranch(plan.id, h.id)}\`), made from the plan's base commit ${o.baseSha.slice(0, 7)} with the patch applied by rea. It stays a draft: the results are in the plan PR, and if the plan confirms this change, merge it together with the promotion PR.`,
  ].join('\n');
}

export const experimentMarker = (planId: string, hypothesisId: string) =>
  `<!-- rea:experiment:${planId}:${hypothesisId} -->`;

/** Records a code hypothesis's draft PR on the plan, under the plan's row lock (other fields untouched). */
async function recordExperimentPr(store: Store, planId: string, hypothesisId: string, pr: number) {
  await store.transaction(async (tx) => {
    const state = await tx.loadPlanForUpdate(planId);
    if (!state?.origin || state.origin.experimentPrs?.[hypothesisId] === pr) return;
    const experimentPrs = { ...state.origin.experimentPrs, [hypothesisId]: pr };
    await tx.savePlan({ ...state, origin: { ...state.origin, experimentPrs } });
  });
}

/**
 * Makes a code hypothesis's experiment branch (the base commit plus its patch, applied by rea from the
 * base files read through the contents API) and its draft PR. Idempotent: a branch that exists is
 * complete (it is published last), and the PR is found by its head before one is opened.
 */
export async function ensureExperiment(
  deps: GithubDeps,
  octokit: Octokit,
  plan: PlanState,
  h: Hypothesis,
): Promise<{ ok: true; branch: string; pr: number } | { ok: false; reason: string }> {
  const o = plan.origin!;
  const code = host(octokit, o);
  const branch = experimentBranch(plan.id, h.id);
  const known = o.experimentPrs?.[h.id];
  if (known !== undefined) return { ok: true, branch, pr: known };
  if (!(await code.branchExists(branch))) {
    const patched = await applyCodePatch(h.patch ?? '', plan.spec.editable ?? [], (f) =>
      code.readFile(f, o.baseSha),
    );
    if (!patched.ok) return patched;
    const created = await code.ensureBranchWithFiles(
      branch,
      o.baseSha,
      patched.files,
      `rea: ${h.title} (code hypothesis ${h.id} of plan ${plan.id})`,
    );
    if (created) deps.log.info({ planId: plan.id, hypothesis: h.id, branch }, 'experiment branch created');
  }
  const pr = await code.ensurePullRequest({
    head: branch,
    base: o.baseRef,
    title: `rea experiment: ${h.title}`,
    body: renderExperimentBody(plan, h),
    draft: true,
  });
  await code.addLabels(pr, ['rea:experiment']);
  await recordExperimentPr(deps.store, plan.id, h.id, pr);
  return { ok: true, branch, pr };
}

/** Every code hypothesis of an approved plan gets its branch and draft PR; a patch that fails is logged. */
async function ensureExperiments(deps: GithubDeps, octokit: Octokit, plan: PlanState): Promise<PlanState> {
  if (!mayPushCode(plan)) return plan;
  const prs: Record<string, number> = { ...plan.origin!.experimentPrs };
  const refused = (hid: string) =>
    plan.runs.some(
      (r) =>
        plan.candidates.find((c) => c.id === r.candidateId)?.codeHypothesisId === hid &&
        r.attempts.some((a) => a.reason?.startsWith(CODE_PATCH_REJECTED)),
    );
  for (const h of plan.hypotheses) {
    // Known, or already refused by a dispatch (the base commit does not change): nothing to ask GitHub.
    if (h.kind !== 'code' || prs[h.id] !== undefined || refused(h.id)) continue;
    const r = await ensureExperiment(deps, octokit, plan, h);
    if (r.ok) prs[h.id] = r.pr;
    else deps.log.warn({ planId: plan.id, hypothesis: h.id, reason: r.reason }, 'code patch refused');
  }
  return { ...plan, origin: { ...plan.origin!, experimentPrs: prs } };
}

async function apply(deps: GithubDeps, planId: string, event: PlanEvent): Promise<void> {
  await applyEvent({ store: deps.store, planId, event, now: deps.now(), runbooks: deps.runbooks });
}

function attemptOf(plan: PlanState, runId: string, n: number) {
  return plan.runs.find((r) => r.id === runId)?.attempts.find((a) => a.n === n);
}

export async function publishPlan(deps: GithubDeps, octokit: Octokit, stored: PlanState): Promise<void> {
  const plan = await ensureExperiments(deps, octokit, stored);
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
        let ref: string | undefined;
        const h = plan.hypotheses.find((x) => x.id === effect.codeHypothesisId);
        if (effect.codeHypothesisId !== undefined) {
          // A code run runs on its experiment branch, made here if the plan's publish has not made it yet.
          if (h?.kind !== 'code' || !mayPushCode(plan))
            throw new Error(`plan ${plan.id} cannot run code hypothesis ${effect.codeHypothesisId} now`);
          const exp = await ensureExperiment(deps, octokit, plan, h);
          if (!exp.ok) {
            await apply(deps, plan.id, {
              type: 'run_failed',
              runId: effect.runId,
              attempt: effect.attempt,
              conclusion: 'startup_failure',
              reason: `${CODE_PATCH_REJECTED} ${h.id} (${h.title}) was not applied: ${exp.reason}`,
              logExcerpt: '',
              gpuHours: 0,
              durationSec: 0,
            });
            return;
          }
          ref = exp.branch;
        }
        const runner = runnerFor(deps, octokit, plan, ref);
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
