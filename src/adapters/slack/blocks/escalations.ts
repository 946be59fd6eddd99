import { pct } from '../../../core/analysis.ts';
import { fmtHours, spentGpuHours } from '../../../core/decide.ts';
import { fmtValue } from '../../../core/knobs.ts';
import type { Effect, PlanState } from '../../../core/model.ts';
import {
  ACTION_IDS,
  actions,
  type Block,
  type Button,
  button,
  context,
  esc,
  message,
  prose,
  type SlackMessage,
  section,
  usd,
} from './kit.ts';

// The messages that ask approvers for a decision while a plan waits: a failure no runbook settled, a budget
// that cannot fit the next run, and the promotion of a winner. Their buttons carry the plan's id only.

/** The end of a failed run's log in an escalation: enough to see the error, short enough to read. */
const LOG_TAIL = 1800;

/** A code block holding the end of a log: the last lines are what explain a failure. */
function logTail(log: string, max: number): string {
  // A fence inside the log would close the block early; a zero-width space keeps it visible but inert.
  const body = esc(log.replace(/```/g, '`\u200b`\u200b`').replace(/\s+$/, ''));
  const room = max - 8;
  if (body.length <= room) return `\`\`\`\n${body}\n\`\`\``;
  const marker = '… (earlier lines cut)\n';
  let start = body.length - (room - marker.length);
  const nl = body.indexOf('\n', start);
  if (nl >= 0 && nl < body.length - 1) start = nl + 1;
  const amp = body.lastIndexOf('&', start);
  if (amp >= 0 && start - amp < 6 && body.indexOf(';', amp) >= start) start = body.indexOf(';', amp) + 1;
  return `\`\`\`\n${marker}${body.slice(start)}\n\`\`\``;
}

export function escalationMessage(
  plan: PlanState,
  effect: Extract<Effect, { type: 'escalate' }>,
): SlackMessage {
  const lines = [
    `:rotating_light: *Plan ${esc(plan.id)} is paused: a failure needs a decision.*`,
    `*Why:* ${prose(effect.reason)}`,
    `*Runbook:* ${effect.runbookId ? `\`${esc(effect.runbookId)}\`` : 'none matched'}${effect.runId ? ` · run \`${esc(effect.runId)}\`` : ''}`,
  ];
  const blocks: Block[] = [section(lines.join('\n'))];
  if (effect.logExcerpt?.trim()) {
    blocks.push(section(`*Log (last lines)*\n${logTail(effect.logExcerpt, LOG_TAIL)}`));
  }
  const ref = `${plan.id}:${effect.escalationId}`;
  blocks.push(
    actions(`rea_escalation_${effect.escalationId}`, [
      button({
        text: 'Retry',
        actionId: ACTION_IDS.escalationRetry,
        value: ref,
        style: 'primary',
      }),
      button({ text: 'Skip', actionId: ACTION_IDS.escalationSkip, value: ref }),
      cancelButton(plan.id),
    ]),
    context([
      '*Retry* runs it once more, *Skip* records it as failed and moves on, *Cancel plan* stops every run. Approvers only.',
    ]),
  );
  return message(prose(`Plan ${plan.id} needs a decision: ${effect.reason}`), blocks);
}

function cancelButton(planId: string): Button {
  return button({
    text: 'Cancel plan',
    actionId: ACTION_IDS.cancel,
    value: planId,
    style: 'danger',
    confirm: {
      title: 'Cancel this plan?',
      text: `Every run of plan ${esc(planId)} stops and nothing new starts. What was measured is kept.`,
      confirm: 'Cancel plan',
      deny: 'Keep running',
    },
  });
}

/** Whole GPU-hours, at least one: what the Raise button offers. */
export function budgetStep(neededGpuHours: number): number {
  return Math.max(1, Math.ceil(neededGpuHours - 1e-9));
}

export function budgetRequestMessage(
  plan: PlanState,
  effect: Extract<Effect, { type: 'request_budget' }>,
): SlackMessage {
  const n = budgetStep(effect.neededGpuHours);
  const usdPerHour = plan.spec.usdPerGpuHour;
  const spent = spentGpuHours(plan);
  const approved = plan.budget.approvedGpuHours;
  const text = [
    `:moneybag: *Plan ${esc(plan.id)} is paused: the approved budget cannot fit the next run.*`,
    `Spent ${fmtHours(spent)} of ${fmtHours(approved)} approved GPU-hours (${usd(spent * usdPerHour)} of ${usd(approved * usdPerHour)}).`,
    `*${n} GPU-hours more* (${usd(n * usdPerHour)}) would buy: ${prose(effect.wouldBuy)}.`,
  ].join('\n');
  return message(prose(`Plan ${plan.id} needs ${n} more GPU-hours: ${effect.wouldBuy}`), [
    section(text),
    actions('rea_budget_request', [
      button({
        text: `Raise by ${n} GPU-hours`,
        actionId: ACTION_IDS.budget,
        value: `${plan.id}:+${n}`,
        style: 'primary',
      }),
      cancelButton(plan.id),
    ]),
    context([`Another amount: \`/rea budget ${esc(plan.id)} +&lt;gpu-hours&gt;\`. Approvers only.`]),
  ]);
}

export function promotionMessage(
  plan: PlanState,
  effect: Extract<Effect, { type: 'open_promotion' }>,
  opts: { promotionUrl?: string } = {},
): SlackMessage {
  const settings = Object.entries(effect.overrides)
    .map(([k, v]) => `\`${esc(k)}: ${esc(fmtValue(v))}\``)
    .join(', ');
  const w = plan.winner;
  const lines = [
    `:rocket: *Promote the winner to the baseline*${w ? ` (${pct(w.relEffect)} ${esc(plan.spec.metric.name)})` : ''}`,
    `Set ${settings || 'nothing'} in \`${esc(plan.spec.baselineConfigFile)}\`.`,
    ...(opts.promotionUrl ? [`Review the <${opts.promotionUrl}|promotion PR>.`] : []),
  ];
  return message(esc(`Promote the winner of plan ${plan.id}`), [section(lines.join('\n'))]);
}
