import type { types } from '@slack/bolt';
import { llmUsageLines, progressOf, winnerChange } from '../../app/render.ts';
import { pct } from '../../core/analysis.ts';
import { fmtHours, spentGpuHours } from '../../core/decide.ts';
import { describeChange, fmtValue } from '../../core/knobs.ts';
import type { Approval, Effect, NotifyTopic, PlanState } from '../../core/model.ts';
import { buildReport, type FailureAction, type PlanReport, type ReportInsight } from '../../core/report.ts';

// Block Kit renderings of a plan for its Slack thread. Pure functions of the plan: no I/O, no clock. Every
// message stays inside Slack's limits whatever the plan holds (hundreds of hypotheses, thousands of runs,
// megabytes of log): long lists are cut with a note saying how much was left out and where the rest is, and
// buttons carry ids only, never content.

export type Block = types.KnownBlock;
type Section = types.SectionBlock;
type Button = types.Button;

export interface SlackMessage {
  /** The notification and fallback text (what a phone shows); the blocks are what the channel shows. */
  text: string;
  blocks: Block[];
}

export const SLACK_LIMITS = {
  blocks: 50,
  sectionText: 3000,
  headerText: 150,
  buttonText: 75,
  buttonValue: 2000,
  id: 255,
  contextElements: 10,
  confirmTitle: 100,
  confirmText: 300,
  confirmButton: 30,
} as const;

/** Fallback text is kept short: Slack allows 40,000 characters but notifications show a line or two. */
const FALLBACK_TEXT = 3000;
/** The end of a failed run's log in an escalation: enough to see the error, short enough to read. */
const LOG_TAIL = 1800;
/** Room kept in the last section of a list for the "... and N more" line. */
const MORE_ROOM = 300;

export const ACTION_IDS = {
  approve: 'rea_approve',
  reject: 'rea_reject',
  cancel: 'rea_cancel',
  budget: 'rea_budget',
  escalationRetry: 'rea_escalation_retry',
  escalationSkip: 'rea_escalation_skip',
} as const;

// ------------------------------------------------------------------ text helpers

/** Slack reads `&`, `<` and `>` as control characters in every text field, code blocks included. */
export function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** Text written by core for every surface: changes (`a -> b`) read better with an arrow in Slack. */
function prose(s: string): string {
  return esc(s.replace(/ -> /g, ' → '));
}

/**
 * Cuts `text` to at most `max` characters, ending with an ellipsis and `note`. Never cuts inside an escape
 * (`&amp;`), a control sequence (`<@U123>`, `<url|label>`) or a surrogate pair, and closes a code block that
 * the cut left open.
 */
export function clip(text: string, max: number, note = ' _(truncated)_'): string {
  if (text.length <= max) return text;
  const hasFence = text.includes('```');
  let tail = `…${note}`;
  if (tail.length + (hasFence ? 4 : 0) > max) tail = '…';
  let cut = Math.max(0, max - tail.length - (hasFence ? 4 : 0));
  const amp = text.lastIndexOf('&', cut - 1);
  if (amp >= 0 && cut - amp < 8) {
    const semi = text.indexOf(';', amp);
    if (semi >= cut && semi - amp < 8) cut = amp;
  }
  const open = text.lastIndexOf('<', cut - 1);
  if (open >= 0 && open > text.lastIndexOf('>', cut - 1)) cut = open;
  const code = text.charCodeAt(cut - 1);
  if (cut > 0 && code >= 0xd800 && code <= 0xdbff) cut -= 1;
  let kept = text.slice(0, cut);
  if (hasFence && (kept.split('```').length - 1) % 2 === 1) kept += '\n```';
  return kept + tail;
}

function usd(x: number): string {
  return x >= 100 ? `$${x.toFixed(0)}` : x >= 1 ? `$${x.toFixed(2)}` : `$${x.toPrecision(2)}`;
}

/** Changes read better with an arrow; `describeChange` writes `a -> b` for plain-text surfaces. */
function change(plan: PlanState, overrides: PlanState['baseline']): string {
  return prose(describeChange(plan.baseline, overrides));
}

const SLACK_ID = /^[UW][A-Z0-9]{2,}$/;

/** Slack user ids become mentions; anyone else (a GitHub login, a CLI user) is shown as written. */
export function who(by: string, via?: Approval['via']): string {
  return (via === undefined || via === 'slack') && SLACK_ID.test(by) ? `<@${by}>` : esc(by);
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

// ------------------------------------------------------------------ block helpers

function section(text: string, note?: string): Section {
  const body = text.length > 0 ? text : ' ';
  return { type: 'section', text: { type: 'mrkdwn', text: clip(body, SLACK_LIMITS.sectionText, note) } };
}

function header(text: string): types.HeaderBlock {
  return {
    type: 'header',
    text: { type: 'plain_text', text: clip(text, SLACK_LIMITS.headerText, ''), emoji: true },
  };
}

function context(texts: string[]): types.ContextBlock {
  return {
    type: 'context',
    elements: texts
      .filter((t) => t.length > 0)
      .slice(0, SLACK_LIMITS.contextElements)
      .map((t) => ({ type: 'mrkdwn' as const, text: clip(t, SLACK_LIMITS.sectionText) })),
  };
}

function id(s: string): string {
  return s.slice(0, SLACK_LIMITS.id);
}

function button(opts: {
  text: string;
  actionId: string;
  value: string;
  style?: 'primary' | 'danger';
  confirm?: { title: string; text: string; confirm: string; deny: string };
}): Button {
  return {
    type: 'button',
    action_id: id(opts.actionId),
    text: { type: 'plain_text', text: clip(opts.text, SLACK_LIMITS.buttonText, ''), emoji: true },
    // Values are ids; one that is somehow too long is cut (and then fails its look-up) rather than refused.
    value: opts.value.slice(0, SLACK_LIMITS.buttonValue),
    ...(opts.style ? { style: opts.style } : {}),
    ...(opts.confirm
      ? {
          confirm: {
            title: { type: 'plain_text', text: clip(opts.confirm.title, SLACK_LIMITS.confirmTitle, '') },
            text: { type: 'mrkdwn', text: clip(opts.confirm.text, SLACK_LIMITS.confirmText, '') },
            confirm: { type: 'plain_text', text: clip(opts.confirm.confirm, SLACK_LIMITS.confirmButton, '') },
            deny: { type: 'plain_text', text: clip(opts.confirm.deny, SLACK_LIMITS.confirmButton, '') },
          },
        }
      : {}),
  };
}

function actions(blockId: string, elements: Button[]): types.ActionsBlock {
  return { type: 'actions', block_id: id(blockId), elements: elements.slice(0, 25) };
}

/**
 * Lines packed into at most `maxBlocks` sections under a bold title. Lines that do not fit are counted and
 * replaced by `more(n)`, so a reader always knows how much is missing.
 */
function listSections(
  title: string,
  lines: string[],
  maxBlocks: number,
  more: (n: number) => string,
): Section[] {
  const cap = SLACK_LIMITS.sectionText - MORE_ROOM;
  const texts: string[] = [];
  let current = title;
  let i = 0;
  for (; i < lines.length; i++) {
    const line = clip(lines[i]!, cap - 1);
    const next = current ? `${current}\n${line}` : line;
    if (next.length <= cap) {
      current = next;
      continue;
    }
    if (texts.length + 1 >= maxBlocks) break;
    texts.push(current);
    current = line;
  }
  if (i < lines.length) current = `${current}\n${clip(more(lines.length - i), MORE_ROOM - 1, '')}`;
  texts.push(current);
  return texts.map((t) => section(t));
}

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

/** Slack formats a date in each reader's own time zone; the fallback is what clients without it show. */
function slackDate(iso: string, format: string): string {
  const ms = Date.parse(iso);
  if (!Number.isFinite(ms)) return esc(iso);
  const fallback = `${iso.slice(0, 16).replace('T', ' ')} UTC`;
  return `<!date^${Math.floor(ms / 1000)}^${format}|${fallback}>`;
}

/** The last guard: whatever a renderer built, the message Slack receives is within its limits. */
function message(text: string, blocks: Block[]): SlackMessage {
  let out = blocks;
  if (out.length > SLACK_LIMITS.blocks) {
    const acts = out.filter((b) => b.type === 'actions');
    const rest = out.filter((b) => b.type !== 'actions');
    const keep = SLACK_LIMITS.blocks - acts.length - 1;
    out = [
      ...rest.slice(0, keep),
      context([`_… ${rest.length - keep} more blocks left out to fit Slack's limit._`]),
      ...acts,
    ];
  }
  return { text: clip(text, FALLBACK_TEXT, ''), blocks: out };
}

// ------------------------------------------------------------------ plan

const STATUS: Record<PlanState['status'], string> = {
  awaiting_approval: ':hourglass_flowing_sand: Awaiting approval',
  running: ':arrow_forward: Running',
  paused: ':double_vertical_bar: Paused',
  completed: ':checkered_flag: Completed',
  cancelled: ':x: Cancelled',
  rejected: ':no_entry: Rejected',
};

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

// ------------------------------------------------------------------ thread replies

const TOPIC_EMOJI: Record<NotifyTopic, string> = {
  plan_approved: ':white_check_mark:',
  plan_rejected: ':no_entry:',
  phase_decision: ':bar_chart:',
  failure_handled: ':wrench:',
  paused: ':double_vertical_bar:',
  resumed: ':arrow_forward:',
  cancelled: ':x:',
  budget_raised: ':moneybag:',
  plan_finished: ':checkered_flag:',
};

/** Turns the Slack user ids named in a notice into mentions (core writes `by` as it got it). */
function mention(text: string, ids: readonly string[]): string {
  let out = text;
  for (const u of ids) {
    if (SLACK_ID.test(u)) out = out.replace(new RegExp(`(?<![<@\\w])${u}(?!\\w)`, 'g'), `<@${u}>`);
  }
  return out;
}

/** A reply in the plan's thread: one notice, split over several sections when it is long. */
export function noticeReply(
  topic: NotifyTopic,
  text: string,
  opts: { mentions?: readonly string[] } = {},
): SlackMessage {
  const body = mention(prose(text), opts.mentions ?? []);
  const first = `${TOPIC_EMOJI[topic]} ${body}`;
  return message(prose(text), textSections(first, 20));
}

export function decisionReply(text: string, opts: { mentions?: readonly string[] } = {}): SlackMessage {
  return noticeReply('phase_decision', text, opts);
}

export function failureReply(text: string, opts: { mentions?: readonly string[] } = {}): SlackMessage {
  return noticeReply('failure_handled', text, opts);
}

/** Long mrkdwn split at line or word boundaries into at most `maxBlocks` sections. */
function textSections(text: string, maxBlocks: number): Section[] {
  const cap = SLACK_LIMITS.sectionText;
  const out: Section[] = [];
  let rest = text;
  while (rest.length > cap && out.length < maxBlocks - 1) {
    let cut = rest.lastIndexOf('\n', cap);
    if (cut < cap / 2) cut = rest.lastIndexOf(' ', cap);
    if (cut < cap / 2) cut = cap;
    const open = rest.lastIndexOf('<', cut - 1);
    if (open > rest.lastIndexOf('>', cut - 1) && open > 0) cut = open;
    const amp = rest.lastIndexOf('&', cut - 1);
    if (amp >= 0 && cut - amp < 8 && rest.indexOf(';', amp) >= cut) cut = amp;
    out.push(section(rest.slice(0, cut)));
    rest = rest.slice(cut).replace(/^[ \n]/, '');
  }
  out.push(section(rest));
  return out;
}

/** A plain answer (status, insights, digest, errors) as an ephemeral or in-channel message. */
export function textReply(text: string): SlackMessage {
  return message(esc(text), textSections(esc(text), 20));
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

// ------------------------------------------------------------------ final report

const FAILURE_ACTION: Record<FailureAction, string> = {
  retried: 'retried',
  'retried with changes': 'retried with a changed configuration',
  skipped: 'skipped as infeasible',
  escalated: 'escalated to a person',
  cancelled: 'cancelled with the plan',
  none: 'left as they were (no runbook matched)',
};

const INSIGHT_CHANGE: Record<ReportInsight['change'], string> = {
  new: 'new',
  changed: 'status changed',
  strengthened: 'narrower interval',
  unchanged: 'confirmed',
};

/** A fixed-width table in a code block (Slack has no tables): first column left, the rest right-aligned. */
function monoTable(head: string[], rows: string[][]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!)))
      .join('  ')
      .trimEnd();
  return ['```', line(head), ...rows.map(line), '```'].join('\n');
}

function settings(overrides: PlanState['baseline']): string {
  return Object.entries(overrides)
    .map(([k, v]) => `\`${esc(k)}: ${esc(fmtValue(v))}\``)
    .join(', ');
}

function spendTable(r: PlanReport): string {
  const rows = r.spend.phases
    .filter((p) => p.runs > 0 || p.estimateGpuHoursP50 > 0)
    .map((p) => [p.phase, String(p.runs), fmtHours(p.gpuHours), fmtHours(p.estimateGpuHoursP50), usd(p.usd)]);
  const s = r.spend;
  rows.push(['total', String(s.runs), fmtHours(s.gpuHours), fmtHours(s.estimateGpuHoursP50), usd(s.usd)]);
  const head = ['phase', 'runs', 'GPU-h', 'p50 est.', 'USD'];
  return monoTable(head, rows);
}

/** Insight rows shown in the thread: the ones that changed come first, the rest are one click away. */
const INSIGHT_LINES = 8;

/** The first `n` lines and, when some are left out, a line saying how many. */
function firstLines(lines: string[], n: number, more: (left: number) => string): string[] {
  return lines.length <= n ? lines : [...lines.slice(0, n), more(lines.length - n)];
}

/** The header of the final report reply, by which SlackChat recognises a report already in the thread. */
export const reportHeader = (planId: string) => `Final report: plan ${planId}`;

export interface FinalReportOptions {
  prUrl?: string;
  /** Where the full Markdown report is: a URL or a path. */
  location?: string;
  /** The model's plans, for the insights this plan added or changed. */
  history?: readonly PlanState[];
  /** Says that the chart follows in the thread as an image. */
  chart?: boolean;
}

export function finalReport(plan: PlanState, opts: FinalReportOptions = {}): SlackMessage {
  const r = buildReport(plan, opts.history ? { history: opts.history } : {});
  const metric = esc(r.metric.name);
  const where = opts.location
    ? /^https?:\/\//.test(opts.location)
      ? `the <${opts.location}|full report>`
      : `the full report, \`${esc(opts.location)}\``
    : opts.prUrl
      ? `the report comment in the <${opts.prUrl}|plan PR>`
      : 'the full report';
  const blocks: Block[] = [header(reportHeader(plan.id))];
  blocks.push(
    section(
      `*Goal:* ${esc(r.goal)} · model *${esc(r.model)}* · metric *${metric}* (${r.metric.goal}) · ${STATUS[r.status]}${r.finishedReason ? ` (${prose(r.finishedReason)})` : ''}`,
    ),
  );

  const o = r.outcome;
  if (o.kind === 'winner') {
    blocks.push(
      section(
        [
          `:trophy: *Winner: ${prose(o.label)}*`,
          `${metric} ${fmtValue(o.baselineMean)} → ${fmtValue(o.candidateMean)}: *${pct(o.relEffect)}* relative improvement, 95% interval [${pct(o.lo)}, ${pct(o.hi)}], ${o.n} paired seeds against the baseline at fidelity ${o.fidelity}.`,
          `To promote it, set ${settings(o.overrides)} in \`${esc(r.baselineConfigFile)}\`.`,
        ].join('\n'),
      ),
    );
  } else {
    blocks.push(section(`*No winner:* ${prose(o.why)}. The null and negative results are kept as insights.`));
  }

  blocks.push(
    ...listSections(
      '*What each phase decided*',
      r.decisions.length > 0
        ? r.decisions.map((d) => `• *${d.step}*: ${prose(d.text)}`)
        : ['No phase finished.'],
      6,
      (n) => `_… and ${n} more decisions: see ${where}._`,
    ),
  );

  if (r.deadEnds.length > 0) {
    blocks.push(
      ...listSections(
        `*Dead ends (${r.deadEnds.length})*`,
        r.deadEnds.map(
          (d) =>
            `• ${prose(d.label)} · ${d.step} at fidelity ${d.fidelity} · *${d.verdict}*${d.relEffect !== undefined ? ` ${pct(d.relEffect)} [${pct(d.lo!)}, ${pct(d.hi!)}], ${d.n} seed${d.n === 1 ? '' : 's'}` : ''}: ${prose(d.reason)}`,
        ),
        3,
        (n) => `_… and ${n} more dead ends: see ${where}._`,
      ),
    );
  }

  const counts = (Object.keys(FAILURE_ACTION) as FailureAction[])
    .filter((k) => r.failureCounts[k] > 0)
    .map((k) => `${r.failureCounts[k]} ${FAILURE_ACTION[k]}`);
  const failures = r.failures.map((f) => {
    const what = f.runbookId ? `runbook \`${esc(f.runbookId)}\`: ${prose(f.note)}` : prose(f.note);
    return `• run \`${esc(f.runId)}\` (${prose(f.label)}, ${f.step}, seed ${f.seed}) attempt ${f.attempt}: ${prose(f.reason)} → ${what}`;
  });
  blocks.push(
    ...(failures.length > 0
      ? listSections(
          `*Failures and what rea did (${failures.length})*\n${counts.join(', ')}.`,
          failures,
          5,
          (n) => `_… and ${n} more failures: see ${where}._`,
        )
      : [section('*Failures and what rea did*\nNo run failed.')]),
  );

  if (r.escalations.length > 0) {
    blocks.push(
      ...listSections(
        `*Escalations (${r.escalations.length})*`,
        r.escalations.map(
          (e) =>
            `• ${esc(e.id)}: ${prose(e.reason)}${e.resolution ? ` (resolved by ${who(e.resolution.by)}: ${esc(e.resolution.action)})` : ' *(open)*'}`,
        ),
        2,
        (n) => `_… and ${n} more escalations: see ${where}._`,
      ),
    );
  }

  const s = r.spend;
  const share = s.approvedGpuHours > 0 ? ` (${Math.round((100 * s.gpuHours) / s.approvedGpuHours)}%)` : '';
  const gain = s.usdPerGain;
  const spend = [
    '*Spend*',
    `${fmtHours(s.gpuHours)} GPU-hours (${usd(s.usd)}) of an approved ${fmtHours(s.approvedGpuHours)} (${usd(s.approvedUsd)})${share}; estimated at ${fmtHours(s.estimateGpuHoursP50)} p50 / ${fmtHours(s.estimateGpuHoursP90)} p90. ${s.runs} runs, ${s.attempts} attempts, ${s.failedAttempts} failed.`,
    spendTable(r),
    gain
      ? `*${usd(gain.usd)} per 0.1% relative improvement of ${metric}* (all dollars spent ÷ the winner's effect in units of 0.1%; ${gain.atLo !== undefined ? `${usd(gain.atHi)} to ${usd(gain.atLo)}` : `at least ${usd(gain.atHi)}`} over its 95% interval).`
      : `No improvement was confirmed, so there is no cost per unit of ${metric} gained.`,
    ...(r.llm
      ? [
          `Research agent: ${r.llm.calls} call${r.llm.calls === 1 ? '' : 's'} (${esc(r.llm.models.join(', '))}), ${r.llm.inputTokens.toLocaleString('en-US')} in / ${r.llm.outputTokens.toLocaleString('en-US')} out tokens, ${r.llm.cacheReadTokens.toLocaleString('en-US')} cached, ${usd(r.llm.usd)}.`,
        ]
      : []),
  ];
  blocks.push(section(spend.join('\n')));

  if (r.insights.length > 0) {
    blocks.push(
      ...listSections(
        `*Insights this plan added or changed (${r.insights.length})*`,
        firstLines(
          r.insights.map(
            (i) =>
              `• *${i.status}* ${prose(i.title)} at fidelity ${i.fidelity}: ${i.nRuns > 0 ? `${pct(i.meanEffect)} [${pct(i.lo)}, ${pct(i.hi)}], ${i.nRuns} run${i.nRuns === 1 ? '' : 's'}, ${i.nPlans} plan${i.nPlans === 1 ? '' : 's'}` : prose(i.reason)} · _${INSIGHT_CHANGE[i.change]}${i.before ? `, was ${i.before.status} ${pct(i.before.meanEffect)}` : ''}_`,
          ),
          INSIGHT_LINES,
          (n) => `_… and ${n} more insights: see ${where} or \`/rea insights\`._`,
        ),
        4,
        (n) => `_… and ${n} more insights: see ${where} or \`/rea insights\`._`,
      ),
    );
  }

  if (r.next.length > 0) {
    blocks.push(
      ...listSections(
        '*Next hypotheses worth a plan*',
        r.next.map((n) => `• *${prose(n.title)}* (${settings(n.overrides)}): ${prose(n.why)}.`),
        3,
        (n) => `_… and ${n} more ideas: see ${where}._`,
      ),
    );
  }

  const links = [
    `Every measurement is in ${where}.`,
    ...(opts.chart && r.chart.length > 0
      ? [`:chart_with_upwards_trend: The chart of ${metric} by run and phase follows.`]
      : []),
    ...(opts.prUrl && opts.location ? [`:page_facing_up: <${opts.prUrl}|Plan PR>`] : []),
  ];
  blocks.push(context([links.join(' · ')]));

  const summary =
    o.kind === 'winner'
      ? `Plan ${plan.id} finished: ${o.label} improves ${r.metric.name} by ${pct(o.relEffect)} [${pct(o.lo)}, ${pct(o.hi)}]`
      : `Plan ${plan.id} finished without a winner`;
  return message(prose(summary), blocks);
}
