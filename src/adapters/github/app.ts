import type { ApplicationFunction, Context } from 'probot';
import { planFromRepo } from '../../app/plan-from-repo.ts';
import { applyEvent } from '../../app/plan-service.ts';
import type { HypothesisSource } from '../../app/ports.ts';
import { parseReaYaml } from '../../config/load.ts';
import { type Command, parseComment } from '../../core/commands.ts';
import type { PlanEvent, PlanState } from '../../core/model.ts';
import { GithubCodeHost } from './github-code-host.ts';
import type { GithubDeps } from './github-effects.ts';
import { GithubRepoFiles } from './github-repos.ts';
import { parseRunTitle, planIdFromBranch } from './run-ids.ts';
import { renderWorkflow } from './workflow-template.ts';

// Probot handlers: guard, parse, call a use case, reply. Heavy work (reading artifacts and logs, opening
// PRs) goes through the outbox so that webhooks are answered well inside GitHub's 10 seconds.

export interface GithubAppDeps extends GithubDeps {
  sources: HypothesisSource[];
}

type CommentContext = Context<'issue_comment.created'>;

async function firstDelivery(deps: GithubAppDeps, ctx: Context): Promise<boolean> {
  const fresh = await deps.store.recordDelivery(ctx.id, 'github', deps.now());
  if (!fresh) deps.log.debug({ deliveryId: ctx.id, event: ctx.name }, 'duplicate webhook delivery dropped');
  return fresh;
}

async function planForPr(
  deps: GithubAppDeps,
  ctx: Context,
  prNumber: number,
): Promise<PlanState | undefined> {
  const { owner, repo } = ctx.repo();
  const { data: pr } = await ctx.octokit.rest.pulls.get({ owner, repo, pull_number: prNumber });
  const planId = planIdFromBranch(pr.head.ref);
  if (!planId) return undefined;
  const plan = await deps.store.getPlan(planId);
  return plan?.origin?.owner === owner && plan.origin.repo === repo ? plan : undefined;
}

type ControlCommand = Extract<
  Command,
  { type: 'approve' | 'reject' | 'pause' | 'resume' | 'cancel' | 'budget' }
>;

function isControl(c: Command): c is ControlCommand {
  return ['approve', 'reject', 'pause', 'resume', 'cancel', 'budget'].includes(c.type);
}

function controlEvent(command: Command, by: string): PlanEvent | undefined {
  const actor = { by, via: 'github' as const };
  switch (command.type) {
    case 'approve':
      return { type: 'approved', ...actor };
    case 'reject':
      return { type: 'rejected', ...actor, ...(command.reason ? { reason: command.reason } : {}) };
    case 'pause':
      return { type: 'paused', ...actor };
    case 'resume':
      return { type: 'resumed', ...actor };
    case 'cancel':
      return { type: 'cancelled', ...actor };
    case 'budget':
      return { type: 'budget_raised', gpuHours: command.gpuHours, ...actor };
    default:
      return undefined;
  }
}

async function reply(ctx: CommentContext, body: string): Promise<void> {
  await ctx.octokit.rest.issues.createComment(ctx.issue({ body }));
}

/** Acts on a control command from an approver; anyone else is told why nothing happened. */
async function control(
  deps: GithubAppDeps,
  ctx: Context,
  plan: PlanState,
  command: Command,
  login: string,
  issueNumber: number,
): Promise<void> {
  const { owner, repo } = ctx.repo();
  const code = new GithubCodeHost(ctx.octokit as never, { owner, repo });
  const say = (body: string) =>
    ctx.octokit.rest.issues.createComment({ owner, repo, issue_number: issueNumber, body });
  const allowed = await code.mayApprove(login, plan.spec.approvers.github);
  if (!allowed.ok) {
    await say(`Nothing changed: ${allowed.reason}.`);
    return;
  }
  const event = controlEvent(command, login);
  if (!event) return;
  const out = await applyEvent({
    store: deps.store,
    planId: plan.id,
    event,
    now: deps.now(),
    runbooks: deps.runbooks,
  });
  if (out && !out.changed)
    await say(
      `Nothing changed: plan \`${plan.id}\` is ${out.state.status}${out.state.pauseReason ? ` (${out.state.pauseReason})` : ''}, so \`${command.type}\` does not apply.`,
    );
}

async function startPlan(deps: GithubAppDeps, ctx: CommentContext, goal: string): Promise<void> {
  const { owner, repo } = ctx.repo();
  const out = await planFromRepo(deps, new GithubRepoFiles(ctx.octokit as never, { owner, repo }), {
    owner,
    repo,
    installationId: ctx.payload.installation?.id,
    goal,
    requestedBy: ctx.payload.comment.user?.login ?? 'unknown',
    requestedIn: ctx.payload.issue.number,
  });
  if (!out.ok) {
    if (out.message) await reply(ctx, out.message);
    return;
  }
  deps.log.info({ planId: out.state.id, repo: `${owner}/${repo}` }, 'plan requested on GitHub');
}

async function init(ctx: CommentContext): Promise<void> {
  const { owner, repo } = ctx.repo();
  const code = new GithubCodeHost(ctx.octokit as never, { owner, repo });
  const base = await code.defaultBranch();
  if ((await code.readFile('.rea.yml', base.name)) !== undefined) {
    await reply(ctx, 'This repository already has a `.rea.yml`; comment `/rea plan <goal>` to get a plan.');
    return;
  }
  const template = ONBOARDING_REA_YML;
  const cfg = parseReaYaml(template);
  if (!cfg.ok) throw new Error('the onboarding .rea.yml template is invalid');
  const branch = 'rea/init';
  await code.ensureBranch(branch, base.sha);
  await code.ensureFiles(
    branch,
    { '.rea.yml': template, '.github/workflows/rea-experiment.yml': renderWorkflow(cfg.value) },
    'rea: add .rea.yml and the experiment workflow',
  );
  const pr = await code.ensurePullRequest({
    head: branch,
    base: base.name,
    title: 'rea: set up experiments (.rea.yml and workflow)',
    body: 'Adds a commented `.rea.yml` (the experiment contract: metric, knobs, budget, approvers) and the GitHub Actions workflow rea dispatches. Edit the knobs, the command and the runner labels to match this model, then merge and comment `/rea plan <goal>`.',
  });
  await reply(ctx, `Opened #${pr} with a starting \`.rea.yml\` and the experiment workflow.`);
}

export const ONBOARDING_REA_YML = `# rea's experiment contract. Every field is documented in rea's README.
model: my-model
tags: []
metric: { name: ne, goal: minimize, min_effect: 0.001 }   # the primary metric in metrics.json
baseline: { config_file: configs/baseline.yaml }           # knobs override this file; promotion PRs edit it
knobs:                                                      # what hypotheses may change
  learning_rate: { type: float, min: 0.0001, max: 0.1, log: true }
  batch_size:    { type: choice, values: [256, 512, 1024] }
run:
  command: python train.py        # reads REA_OVERRIDES, REA_FIDELITY, REA_SEED; writes $REA_OUTPUT_DIR/metrics.json
  workflow: rea-experiment.yml
  runner_labels: [self-hosted, gpu]
  gpus: 1
  usd_per_gpu_hour: 2.5
  timeout_minutes: 720
  baseline_gpu_hours: 8           # a first guess of a full run; measured runs replace it
  overhead_minutes: 3             # of it paid at any fidelity: runner pick-up, start-up, data loading, eval
budget: { max_gpu_hours: 200, max_concurrent_runs: 2 }
approvers: { github: [], slack: [] }
`;

async function onComment(deps: GithubAppDeps, ctx: CommentContext): Promise<void> {
  const login = ctx.payload.comment.user?.login;
  if (!login || ctx.payload.comment.user?.type === 'Bot' || ctx.isBot) return;
  if (!(await firstDelivery(deps, ctx))) return;
  const issue = ctx.payload.issue;
  const plan = issue.pull_request ? await planForPr(deps, ctx, issue.number) : undefined;
  const { owner, repo } = ctx.repo();
  const parsed = parseComment(ctx.payload.comment.body, {
    surface: 'github',
    repo: `${owner}/${repo}`,
    ...(plan ? { plan: plan.id } : {}),
  });
  switch (parsed.kind) {
    case 'ignore':
      return;
    case 'reply':
      await reply(ctx, parsed.text);
      return;
    case 'command':
      break;
  }
  const command = parsed.command;
  if (isControl(command)) {
    const target = await deps.store.getPlan(command.plan);
    if (!target || target.origin?.owner !== owner || target.origin.repo !== repo) {
      await reply(ctx, `There is no plan \`${command.plan}\` in this repository.`);
      return;
    }
    await control(deps, ctx, target, command, login, issue.number);
    return;
  }
  switch (command.type) {
    case 'plan':
      if (command.repo !== `${owner}/${repo}`) {
        await reply(ctx, `Ask for a plan of ${command.repo} in that repository (or in Slack).`);
        return;
      }
      await startPlan(deps, ctx, command.goal);
      return;
    case 'init':
      await init(ctx);
      return;
    case 'status': {
      const id = command.plan ?? plan?.id;
      const p = id ? await deps.store.getPlan(id) : undefined;
      await reply(
        ctx,
        p
          ? `Plan \`${p.id}\` is ${p.status}, phase ${p.phase}.`
          : 'No such plan here. `/rea plan <goal>` starts one.',
      );
      return;
    }
    default:
      await reply(ctx, `\`/rea ${command.type}\` is answered in Slack.`);
  }
}

async function onReview(deps: GithubAppDeps, ctx: Context<'pull_request_review.submitted'>): Promise<void> {
  if (ctx.payload.review.state !== 'approved') return;
  if (!(await firstDelivery(deps, ctx))) return;
  const planId = planIdFromBranch(ctx.payload.pull_request.head.ref);
  const plan = planId ? await deps.store.getPlan(planId) : undefined;
  if (!plan) {
    deps.log.debug(
      { deliveryId: ctx.id, pr: ctx.payload.pull_request.number },
      'review on a PR that is not a plan: ignored',
    );
    return;
  }
  const login = ctx.payload.review.user?.login;
  if (!login) return;
  await control(deps, ctx, plan, { type: 'approve', plan: plan.id }, login, ctx.payload.pull_request.number);
}

type RunContext = Context<'workflow_run.requested' | 'workflow_run.in_progress' | 'workflow_run.completed'>;

/** Applies what a workflow_run webhook (or the reconciler) says about one attempt. */
export async function wakeFromRun(
  deps: GithubDeps,
  run: {
    id: number;
    run_attempt?: number;
    status: string | null;
    display_title?: string;
    name?: string | null;
  },
  action: 'requested' | 'in_progress' | 'completed',
): Promise<void> {
  const ref = parseRunTitle(run.display_title ?? run.name);
  if (!ref) {
    deps.log.debug({ runId: run.id }, "workflow run is not one of rea's: ignored");
    return;
  }
  const plan = await deps.store.getPlan(ref.planId);
  const r = plan?.runs.find((x) => x.id === ref.runId);
  if (!plan || !r) {
    deps.log.debug(
      { planId: ref.planId, runId: ref.runId },
      'workflow run of an unknown plan or run: ignored',
    );
    return;
  }
  const externalId = String(run.id);
  const runAttempt = run.run_attempt ?? 1;
  // A re-run keeps the run's title (and its first attempt's number); GitHub's run_attempt tells them apart.
  const attempt =
    r.attempts.find((a) => a.externalId === externalId && (a.externalAttempt ?? 1) === runAttempt) ??
    (runAttempt === 1 ? r.attempts.find((a) => a.n === ref.attempt) : undefined);
  if (!attempt) {
    deps.log.debug(
      { planId: plan.id, runId: r.id, externalId, runAttempt },
      'workflow run attempt rea does not know: ignored',
    );
    return;
  }
  const apply = (event: PlanEvent) =>
    applyEvent({ store: deps.store, planId: plan.id, event, now: deps.now(), runbooks: deps.runbooks });
  if (attempt.externalId !== externalId || (attempt.externalAttempt ?? 1) !== runAttempt) {
    await apply({
      type: 'run_dispatched',
      runId: r.id,
      attempt: attempt.n,
      externalId,
      externalAttempt: runAttempt,
    });
  }
  if (action === 'in_progress' || (action === 'completed' && attempt.status === 'dispatched')) {
    await apply({ type: 'run_started', runId: r.id, attempt: attempt.n });
  }
  if (action === 'completed') {
    await deps.store.transaction(async (tx) => {
      const state = await tx.loadPlanForUpdate(plan.id);
      if (!state) return;
      await tx.enqueueEffects(
        plan.id,
        [
          {
            type: 'collect_run',
            runId: r.id,
            attempt: attempt.n,
            externalId,
            idempotencyKey: `collect:${plan.id}:${r.id}:${attempt.n}:${runAttempt}`,
          },
        ],
        deps.now().toISOString(),
      );
    });
  }
}

/** Counts a wake and how long it took from receipt to its transaction being committed. */
function timed<A extends unknown[]>(deps: GithubAppDeps, source: string, fn: (...args: A) => Promise<void>) {
  return async (...args: A) => {
    const t0 = performance.now();
    await fn(...args);
    deps.metrics?.wakes.inc({ source });
    deps.metrics?.wakeLatency.observe({ source }, (performance.now() - t0) / 1000);
  };
}

export function githubApp(deps: GithubAppDeps): ApplicationFunction {
  return (app) => {
    app.on(
      'issue_comment.created',
      timed(deps, 'issue_comment', (ctx: CommentContext) => onComment(deps, ctx)),
    );
    app.on(
      'pull_request_review.submitted',
      timed(deps, 'pull_request_review', (ctx: Context<'pull_request_review.submitted'>) =>
        onReview(deps, ctx),
      ),
    );
    app.on(
      ['workflow_run.requested', 'workflow_run.in_progress', 'workflow_run.completed'],
      timed(deps, 'workflow_run', async (ctx: RunContext) => {
        if (!(await firstDelivery(deps, ctx))) return;
        await wakeFromRun(deps, ctx.payload.workflow_run, ctx.payload.action);
      }),
    );
    app.on('installation', async (ctx) => {
      deps.log.info(
        { deliveryId: ctx.id, action: ctx.payload.action, installationId: ctx.payload.installation.id },
        'installation event',
      );
    });
  };
}
