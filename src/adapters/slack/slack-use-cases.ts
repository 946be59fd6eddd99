import type { webApi } from '@slack/bolt';
import type { Logger } from 'pino';
import { renderDigestMarkdown } from '../../app/digest-render.ts';
import { currentDigest, type DigestPoster } from '../../app/digest-service.ts';
import { buildInsightsView, renderInsightsText } from '../../app/insights-view.ts';
import { type PlanFromRepoDeps, planFromRepo } from '../../app/plan-from-repo.ts';
import { applyEvent } from '../../app/plan-service.ts';
import type { RepoInstallations } from '../../app/ports.ts';
import { fmtHours, spentGpuHours } from '../../core/decide.ts';
import type { PlanEvent, PlanState, PlanStatus, Runbook } from '../../core/model.ts';
import type { ControlRequest, SlackDeps, SlackOutcome } from './app.ts';
import { mayActInSlack } from './approvers.ts';

// The use cases behind the Slack surface (`SlackDeps`): plans are made from the repository on GitHub, exactly
// as `/rea plan` in a comment makes them (the same use case, `planFromRepo`, through app's ports), and live
// there; Slack gets the plan's thread.

export interface SlackUseCaseDeps {
  /** What plans are made and changed with: the store, the hypothesis sources, the clock and the runbooks. */
  plans: PlanFromRepoDeps & { runbooks: Runbook[] };
  /** The repositories rea is installed on (GitHub), which plans are made from. */
  repos: RepoInstallations;
  /** Slack Web API client (user groups for the approver check). */
  client: Pick<webApi.WebClient, 'usergroups'>;
  /** `REA_SLACK_CHANNEL`: the channel for plan threads when `.rea.yml` names none. */
  defaultChannel?: string;
  /** The weekly digest: how to post one, and the time zone its weeks are counted in. */
  digests?: { poster: DigestPoster; timeZone: string };
  log: Logger;
}

const OPEN: PlanStatus[] = ['awaiting_approval', 'running', 'paused'];
/** Every change of a model at every fidelity fits; the reply shows the top of each section. */
const INSIGHTS_LIMIT = 500;

function controlEvent(req: ControlRequest): PlanEvent | undefined {
  const actor = { by: req.user, via: 'slack' as const };
  switch (req.action) {
    case 'approve':
      return { type: 'approved', ...actor };
    case 'reject':
      return { type: 'rejected', ...actor, ...(req.reason ? { reason: req.reason } : {}) };
    case 'pause':
      return { type: 'paused', ...actor };
    case 'resume':
      return { type: 'resumed', ...actor };
    case 'cancel':
      return { type: 'cancelled', ...actor, ...(req.reason ? { reason: req.reason } : {}) };
    case 'budget':
      return req.gpuHours !== undefined && req.gpuHours > 0
        ? { type: 'budget_raised', gpuHours: req.gpuHours, ...actor }
        : undefined;
    case 'escalation_retry':
    case 'escalation_skip':
      return req.escalationId
        ? {
            type: 'escalation_resolved',
            escalationId: req.escalationId,
            action: req.action === 'escalation_retry' ? 'retry' : 'skip',
            ...actor,
          }
        : undefined;
    default:
      return undefined;
  }
}

const DONE: Record<ControlRequest['action'], string> = {
  approve: 'approved',
  reject: 'rejected',
  pause: 'paused',
  resume: 'resumed',
  cancel: 'cancelled',
  budget: 'has a raised budget',
  escalation_retry: 'retries the failed run',
  escalation_skip: 'skips the failed run',
};

function statusLine(p: PlanState): string {
  const runs = p.runs.length;
  const finished = p.runs.filter((r) => r.attempts.some((a) => a.status === 'succeeded')).length;
  const budget = p.budget.approvedGpuHours || p.budget.requestedGpuHours;
  return `Plan ${p.id} (${p.goal}): ${p.status}${p.pauseReason ? ` (${p.pauseReason})` : ''}, phase ${p.phase}, ${finished}/${runs} runs succeeded, ${fmtHours(spentGpuHours(p))} of ${fmtHours(budget)} GPU-hours spent.`;
}

export function makeSlackDeps(deps: SlackUseCaseDeps): SlackDeps {
  const { plans, log } = deps;
  const { store } = plans;
  return {
    log,

    async requestPlan({ repo: full, goal, channel, user }) {
      const [owner, repo, extra] = full.split('/');
      if (!owner || !repo || extra !== undefined) {
        return { ok: false, message: `"${full}" is not a repository; write it as owner/repo.` };
      }
      const found = await deps.repos.open(owner, repo);
      if (!found) return { ok: false, message: `rea is not installed on ${owner}/${repo}.` };
      const out = await planFromRepo(plans, found.files, {
        owner,
        repo,
        installationId: found.installationId,
        goal,
        requestedBy: user,
        slackFor: (config) => ({
          channel: config.slack?.channel ?? deps.defaultChannel ?? channel,
          requestedBy: user,
        }),
      });
      if (!out.ok) {
        return { ok: false, message: out.message ?? `No plan was made for ${owner}/${repo}.` };
      }
      log.info({ planId: out.state.id, repo: full, user }, 'plan requested in Slack');
      return {
        ok: true,
        planId: out.state.id,
        message: `Plan ${out.state.id} is proposed: its thread in <#${out.state.slack?.channel ?? channel}> (with Approve and Reject) and its PR follow.`,
      };
    },

    async control(req): Promise<SlackOutcome> {
      const plan = await store.getPlan(req.planId);
      if (!plan) return { ok: false, message: `There is no plan ${req.planId}; nothing changed.` };
      const allowed = await mayActInSlack(deps.client, req.user, plan.spec.approvers.slack, log);
      if (!allowed.ok) return { ok: false, message: `Nothing changed: ${allowed.reason}.` };
      const event = controlEvent(req);
      if (!event) return { ok: false, message: `Nothing changed: ${req.action} needs more than was given.` };
      const out = await applyEvent({
        store,
        planId: plan.id,
        event,
        now: plans.now(),
        runbooks: plans.runbooks,
      });
      if (!out) return { ok: false, message: `There is no plan ${req.planId}; nothing changed.` };
      if (!out.changed) {
        return {
          ok: false,
          message: `Nothing changed: plan ${plan.id} is ${out.state.status}${out.state.pauseReason ? ` (${out.state.pauseReason})` : ''}, so ${req.action.replace('_', ' ')} does not apply.`,
        };
      }
      return { ok: true, message: `Plan ${plan.id} ${DONE[req.action]}.` };
    },

    async status(planId) {
      if (planId) {
        const p = await store.getPlan(planId);
        return p ? statusLine(p) : `There is no plan ${planId}.`;
      }
      const open = await store.listPlans({ statuses: OPEN });
      if (open.length === 0) return 'No open plans. `/rea plan <owner/repo> <goal>` starts one.';
      return [
        `${open.length} open plan${open.length === 1 ? '' : 's'}:`,
        ...open.map((s) => `- ${s.id} (${s.model}): ${s.status}, phase ${s.phase}; ${s.goal}`),
      ].join('\n');
    },

    async insights(repo, text) {
      const plans = (await store.listPlans()).slice().sort((a, b) => b.createdAt.localeCompare(a.createdAt));
      let newest: PlanState | undefined;
      for (const s of plans) {
        const p = await store.getPlan(s.id);
        if (p?.repo === repo) {
          newest = p;
          break;
        }
      }
      if (!newest) return `rea has no plans of ${repo} yet, so it knows nothing about it.`;
      const model = newest.spec.model;
      const needle = text?.trim();
      const [matched, all] = await Promise.all([
        store.searchInsights({ model, ...(needle ? { text: needle } : {}), limit: INSIGHTS_LIMIT }),
        store.listInsights(model, []),
      ]);
      const view = buildInsightsView({
        model,
        about: `${model} (${repo})`,
        ...(needle ? { text: needle } : {}),
        metric: newest.spec.metric.name,
        baseline: newest.baseline,
        matched,
        all: all.filter((r) => r.model === model),
        knobs: Object.keys(newest.spec.knobs),
      });
      // Slack's reply is split into at most 20 sections of 3,000 characters: 8 items a section fit well.
      return renderInsightsText(view, { maxPerSection: 8 });
    },

    async digest(channel, now) {
      const timeZone = deps.digests?.timeZone ?? 'UTC';
      const digest = await currentDigest(store, channel, plans.now(), timeZone);
      if (digest.plansInWeek === 0 && digest.running.length + digest.awaitingApproval.length === 0)
        return `No plan has its thread in <#${channel}> this week, so there is no digest for it. Plans post to the channel named in .rea.yml (slack.channel) or REA_SLACK_CHANNEL.`;
      if (!now) return renderDigestMarkdown(digest);
      if (!deps.digests) return 'Posting digests needs the Slack bot client; this server has none.';
      // On demand, not the weekly send: it is not recorded in digests_sent, so Monday's digest still goes out.
      const { ts } = await deps.digests.poster.post(channel, digest);
      log.info({ channel, week: digest.week.key, ts }, 'digest posted on demand');
      return `Posted this week's digest (so far) to <#${channel}>.`;
    },
  };
}
