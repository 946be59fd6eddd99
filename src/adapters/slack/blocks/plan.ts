import { llmUsageLines, progressOf, winnerChange } from '../../../app/render.ts';
import { pct } from '../../../core/analysis.ts';
import { fmtHours } from '../../../core/decide.ts';
import { describeChange, fmtValue } from '../../../core/knobs.ts';
import type { Approval, PlanState } from '../../../core/model.ts';
import {
  ACTION_IDS,
  actions,
  type Block,
  button,
  context,
  esc,
  header,
  listSections,
  message,
  monoTable,
  prose,
  type SlackMessage,
  STATUS,
  section,
  usd,
  who,
} from './kit.ts';

// The plan's parent message in its Slack thread, updated in place as the plan moves: goal, status, hypotheses,
// phases and cost, approvals, and the Approve and Reject buttons while it waits. A pure function of the plan.

/** Changes read better with an arrow; `describeChange` writes `a -> b` for plain-text surfaces. */
function change(plan: PlanState, overrides: PlanState['baseline']): string {
  return prose(describeChange(plan.baseline, overrides));
}

const VIA: Record<Approval['via'], string> = {
  slack: 'in Slack',
  github: 'in GitHub',
  cli: 'from the command line',
  auto: 'automatically',
};

export function describeApproval(a: Approval): string {
  const by = `${who(a.by, a.via)} ${VIA[a.via]}`;
  const hours = a.gpuHours !== undefined ? fmtHours(a.gpuHours) : undefined;
  const note = a.note ? `: ${esc(a.note)}` : '';
  switch (a.kind) {
    case 'approve':
      return `approved by ${by}${hours ? ` with a budget of ${hours} GPU-hours` : ''}`;
    case 'reject':
      return `rejected by ${by}${note}`;
    case 'budget':
      return `budget raised by ${hours ?? '?'} GPU-hours by ${by}`;
    case 'pause':
      return `paused by ${by}`;
    case 'resume':
      return `resumed by ${by}`;
    case 'cancel':
      return `cancelled by ${by}${note}`;
  }
}

/** Slack formats a date in each reader's own time zone; the fallback is what clients without it show. */
function slackDate(iso: string, format: string): string {
  const ms = Date.parse(iso);
  if (!Number.isFinite(ms)) return esc(iso);
  const fallback = `${iso.slice(0, 16).replace('T', ' ')} UTC`;
  return `<!date^${Math.floor(ms / 1000)}^${format}|${fallback}>`;
}

const PAUSE_REASON: Record<NonNullable<PlanState['pauseReason']>, string> = {
  user: 'by an approver',
  budget: 'the approved budget is used up',
  escalation: 'waiting for a decision on a failure, see the thread',
};

function statusLine(plan: PlanState): string {
  const p = progressOf(plan);
  const usdPerHour = plan.spec.usdPerGpuHour;
  const state = `${STATUS[plan.status]}${plan.status === 'paused' && plan.pauseReason ? ` (${PAUSE_REASON[plan.pauseReason]})` : ''}`;
  const runs = `${p.done}/${p.planned} runs done${p.failed ? `, ${p.failed} failed` : ''}`;
  const approved = plan.budget.approvedGpuHours;
  const spend =
    approved > 0
      ? `spent ${fmtHours(p.spent)} of ${fmtHours(approved)} approved GPU-hours (${usd(p.spent * usdPerHour)} of ${usd(approved * usdPerHour)})`
      : `asks for ${fmtHours(plan.budget.requestedGpuHours)} GPU-hours (${usd(plan.budget.requestedGpuHours * usdPerHour)})`;
  const phase = `phase *${plan.phase}*${plan.step !== plan.phase ? ` (${plan.step})` : ''}`;
  return `*Status:* ${state} · ${phase} · ${runs} · ${spend}`;
}

function phaseTable(plan: PlanState): string {
  const e = plan.estimate;
  const started = plan.runs.some((r) => r.attempts.length > 0);
  // Estimated runs are what the plan asked for; once it runs, `done` counts the runs each phase really has.
  const doneIn = (phase?: string) => {
    const runs = plan.runs.filter((r) => phase === undefined || r.phase === phase);
    const done = runs.filter(
      (r) => r.status === 'succeeded' || r.status === 'failed' || r.status === 'cancelled',
    );
    return runs.length > 0 ? `${done.length}/${runs.length}` : '-';
  };
  const head = [
    'phase',
    'est. runs',
    ...(started ? ['done'] : []),
    'fidelity',
    'GPU-h p50/p90',
    'USD p50/p90',
  ];
  const rows = e.phases.map((p) => [
    p.name,
    String(p.runs),
    ...(started ? [doneIn(p.name)] : []),
    String(p.fidelity),
    `${fmtHours(p.gpuHoursP50)} / ${fmtHours(p.gpuHoursP90)}`,
    `${usd(p.usdP50)} / ${usd(p.usdP90)}`,
  ]);
  rows.push([
    'total',
    String(e.phases.reduce((s, p) => s + p.runs, 0)),
    ...(started ? [doneIn()] : []),
    '',
    `${fmtHours(e.gpuHoursP50)} / ${fmtHours(e.gpuHoursP90)}`,
    `${usd(e.usdP50)} / ${usd(e.usdP90)}`,
  ]);
  return monoTable(head, rows);
}

function winnerText(plan: PlanState): string | undefined {
  const w = plan.winner;
  const metric = esc(plan.spec.metric.name);
  if (w) {
    return `:trophy: *Winner: ${prose(winnerChange(plan))}*\n${metric} ${fmtValue(w.baselineMean)} → ${fmtValue(w.candidateMean)}: *${pct(w.relEffect)}* (95% interval [${pct(w.lo)}, ${pct(w.hi)}], ${w.n} paired seeds at fidelity ${plan.spec.fidelity.exploitation}).`;
  }
  if (plan.status === 'completed') {
    return `*No confirmed winner*${plan.finishedReason ? `: ${prose(plan.finishedReason)}` : ''}. The null results are kept as insights.`;
  }
  if ((plan.status === 'cancelled' || plan.status === 'rejected') && plan.finishedReason) {
    return `*${plan.status === 'cancelled' ? 'Cancelled' : 'Rejected'}:* ${prose(plan.finishedReason)}`;
  }
  return undefined;
}

function hypothesisLine(plan: PlanState, h: PlanState['hypotheses'][number], prUrl?: string): string {
  const source = `${h.source}${h.agent !== h.source ? ` (${esc(h.agent)})` : ''}`;
  if (h.kind === 'code') {
    // Code is marked, and its draft experiment PR linked once it exists (a sibling of the plan PR's URL).
    const knobs = Object.keys(h.overrides).length > 0 ? `${change(plan, h.overrides)} + ` : '';
    const files = (h.files ?? []).map(esc).join(', ') || 'patch';
    const n = plan.origin?.experimentPrs?.[h.id];
    const url = n !== undefined && prUrl ? prUrl.replace(/\/pull\/\d+$/, `/pull/${n}`) : undefined;
    const pr = n === undefined ? '' : url ? ` · <${url}|draft PR #${n}>` : ` · draft PR #${n}`;
    return `• *${esc(h.id)}* ${esc(h.title)} · _${source}_ · ${knobs}:hammer_and_wrench: code (${files})${pr}`;
  }
  return `• *${esc(h.id)}* ${esc(h.title)} · _${source}_ · ${change(plan, h.overrides)}`;
}

function moreIn(prUrl: string | undefined, what: string): string {
  return prUrl ? `the ${what} in the <${prUrl}|plan PR>` : `the ${what} in the plan PR`;
}

export function planMessage(plan: PlanState, opts: { prUrl?: string } = {}): SlackMessage {
  const metric = plan.spec.metric;
  const repo = plan.repo ?? (plan.origin ? `${plan.origin.owner}/${plan.origin.repo}` : undefined);
  const blocks: Block[] = [header(`Plan ${plan.id}: ${plan.goal}`)];
  const about = [
    `*Goal:* ${esc(plan.goal)}`,
    `*Model:* ${esc(plan.spec.model)}${repo ? ` (${esc(repo)})` : ''} · metric *${esc(metric.name)}* (${metric.goal}, min effect ${pct(metric.min_effect)})${plan.slack?.requestedBy ? ` · requested by ${who(plan.slack.requestedBy)}` : ''}`,
    statusLine(plan),
  ];
  blocks.push(section(about.join('\n')));
  const result = winnerText(plan);
  if (result) blocks.push(section(result));
  blocks.push(
    ...listSections(
      `*Hypotheses (${plan.hypotheses.length})*`,
      plan.hypotheses.map((h) => hypothesisLine(plan, h, opts.prUrl)),
      3,
      (n) => `_… and ${n} more: see ${moreIn(opts.prUrl, 'full list')}._`,
    ),
  );
  if (plan.rejected.length > 0) {
    blocks.push(
      context([
        `${plan.rejected.length} proposal${plan.rejected.length === 1 ? ' was' : 's were'} not included (duplicates, outside the knob space or over the budget); see ${moreIn(opts.prUrl, 'reasons')}.`,
      ]),
    );
  }
  // A research-agent fallback and its reason, and what the agents cost, are part of the plan people approve.
  const usage = llmUsageLines(plan);
  if ((plan.notes ?? []).length > 0 || usage.length > 0) {
    blocks.push(
      context([
        ...(plan.notes ?? []).map((n) => `:information_source: ${esc(n)}`),
        ...(usage.length > 0 ? [`Research agent cost: ${esc(usage.join('; '))}`] : []),
      ]),
    );
  }
  const usdPerHour = plan.spec.usdPerGpuHour;
  blocks.push(
    section(
      [
        '*Phases and cost*',
        phaseTable(plan),
        `*Budget asked for:* ${fmtHours(plan.budget.requestedGpuHours)} GPU-hours (${usd(plan.budget.requestedGpuHours * usdPerHour)}), the p90 of the plan capped by the model's maximum of ${fmtHours(plan.spec.maxGpuHours)}.`,
      ].join('\n'),
    ),
  );
  if (plan.approvals.length > 0) {
    const shown = plan.approvals.slice(-10);
    const earlier = plan.approvals.length - shown.length;
    blocks.push(
      section(
        [
          '*Approvals*',
          ...(earlier > 0 ? [`_… ${earlier} earlier_`] : []),
          ...shown.map((a) => `• ${describeApproval(a)}`),
        ].join('\n'),
      ),
    );
  }
  const links = [
    ...(opts.prUrl ? [`:page_facing_up: <${opts.prUrl}|Plan PR>`] : []),
    `Plan \`${esc(plan.id)}\``,
    `updated ${slackDate(plan.updatedAt, '{date_short_pretty} at {time}')}`,
  ];
  blocks.push(context([links.join(' · ')]));
  if (plan.status === 'awaiting_approval') {
    const approvers = plan.spec.approvers.slack.map((a) => (a.startsWith('S') ? `<!subteam^${a}>` : who(a)));
    blocks.push(
      actions('rea_plan_decision', [
        button({ text: 'Approve', actionId: ACTION_IDS.approve, value: plan.id, style: 'primary' }),
        button({
          text: 'Reject',
          actionId: ACTION_IDS.reject,
          value: plan.id,
          style: 'danger',
          confirm: {
            title: 'Reject this plan?',
            text: `Plan ${esc(plan.id)} will not run. To give a reason, use \`/rea reject ${esc(plan.id)} &lt;reason&gt;\` instead.`,
            confirm: 'Reject',
            deny: 'Keep it',
          },
        }),
      ]),
      context([
        approvers.length > 0
          ? `Approvers: ${approvers.join(', ')}. Approving in the plan PR works too.`
          : 'No Slack approvers are configured (`.rea.yml` `approvers.slack`); approve in the plan PR.',
      ]),
    );
  }
  const fallback = `Plan ${plan.id} (${plan.spec.model}): ${plan.goal} [${plan.status.replace('_', ' ')}]`;
  return message(esc(fallback), blocks);
}
