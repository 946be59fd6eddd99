import {
  llmUsageLines,
  probeLines,
  progressOf,
  type ReportRenderOptions,
  renderCostTable,
  renderHypotheses,
  renderPatches,
  renderPlan,
  renderReport,
  reportMermaid,
  runLabel,
  winnerChange,
} from '../../app/render.ts';
import { pct } from '../../core/analysis.ts';
import { fmtHours, spentGpuHours } from '../../core/decide.ts';
import { fmtValue } from '../../core/knobs.ts';
import type { PlanState, Run } from '../../core/model.ts';
import { chartOf } from '../../core/report.ts';
import { experimentBranch } from './run-ids.ts';

// What rea writes on GitHub: the plan PR body, the one sticky progress comment, the check run's output
// and the promotion PR. Markers let rea find its own comment again without storing anything else.

export const stickyMarker = (planId: string) => `<!-- rea:plan:${planId} -->`;

export function renderPlanPrBody(plan: PlanState): string {
  return [
    stickyMarker(plan.id).replace('plan:', 'plan-pr:'),
    `**Goal:** ${plan.goal}`,
    '',
    `rea proposes ${plan.hypotheses.length} hypotheses for **${plan.spec.model}** (${plan.spec.metric.name}, ${plan.spec.metric.goal}). Approve with a PR review (approvers: ${plan.spec.approvers.github.join(', ') || 'none configured'}) or comment \`/rea approve\`; \`/rea reject [reason]\`, \`/rea budget +N\` also work.`,
    '',
    '### Hypotheses',
    renderHypotheses(plan),
    '',
    ...plan.hypotheses.map((h) => `- **${h.id}** (${h.source}): ${h.rationale}`),
    ...codeNote(plan),
    '',
    ...probeSection(plan),
    ...planPrExtras(plan),
    '### Phases and cost',
    renderCostTable(plan),
    '',
    `**Budget asked for: ${fmtHours(plan.budget.requestedGpuHours)} GPU-hours** ($${(plan.budget.requestedGpuHours * plan.spec.usdPerGpuHour).toFixed(2)}).`,
    '',
    `The plan is also in [\`experiments/plans/${plan.id}.md\`](experiments/plans/${plan.id}.md) and, for machines, \`${plan.id}.json\`.`,
  ].join('\n');
}

function probeSection(plan: PlanState): string[] {
  const lines = probeLines(plan);
  return lines.length > 0 ? ['### Probes', ...lines.flatMap((l) => [l, ''])] : [];
}

/**
 * Code hypotheses: their patches for review, and where they will run. Nothing is pushed before approval;
 * each then gets a branch from the base commit with its patch applied and a draft PR.
 */
function codeNote(plan: PlanState): string[] {
  const code = plan.hypotheses.filter((h) => h.kind === 'code');
  if (code.length === 0) return [];
  return [
    '',
    `**Code hypotheses (${code.map((h) => h.id).join(', ')})** change the model's code: review the patches below. Once the plan is approved, each gets its own branch from the base commit with the patch applied and a draft PR, and its runs are dispatched on that branch.`,
    '',
    ...renderPatches(plan),
  ];
}

/** The draft PRs of code hypotheses, once made. */
function experimentLines(plan: PlanState): string[] {
  const prs = plan.origin?.experimentPrs ?? {};
  return plan.hypotheses
    .filter((h) => h.kind === 'code' && prs[h.id] !== undefined)
    .map((h) => `- ${h.id} ${h.title}: #${prs[h.id]}`);
}

/** Rejected proposals, notes (a research-agent fallback and its reason) and what the agents cost. */
function planPrExtras(plan: PlanState): string[] {
  const out: string[] = [];
  if (plan.rejected.length > 0) {
    out.push(
      `<details><summary>${plan.rejected.length} proposal${plan.rejected.length === 1 ? '' : 's'} not included</summary>`,
      '',
      ...plan.rejected.map((r) => `- ${r.title} (${r.source}/${r.agent}): ${r.reason}`),
      '',
      '</details>',
      '',
    );
  }
  for (const n of plan.notes ?? []) out.push(`> ${n}`, '');
  const usage = llmUsageLines(plan);
  if (usage.length > 0) out.push(`Research agent cost: ${usage.join('; ')}.`, '');
  return out;
}

export function planFiles(plan: PlanState): Record<string, string> {
  return {
    [`experiments/plans/${plan.id}.md`]: `${renderPlan(plan)}\n`,
    [`experiments/plans/${plan.id}.json`]: `${JSON.stringify(
      {
        id: plan.id,
        goal: plan.goal,
        model: plan.spec.model,
        baseline: plan.baseline,
        hypotheses: plan.hypotheses,
        rejected: plan.rejected,
        ...(plan.notes ? { notes: plan.notes } : {}),
        ...(plan.llmUsage ? { llm_usage: plan.llmUsage } : {}),
        phases: plan.estimate.phases,
        budget_gpu_hours: plan.budget.requestedGpuHours,
      },
      null,
      2,
    )}\n`,
  };
}

function runRow(plan: PlanState, r: Run): string[] {
  const last = r.attempts[r.attempts.length - 1];
  const v = r.metrics?.[plan.spec.metric.name];
  return [
    r.id,
    r.step,
    runLabel(plan, r),
    String(r.fidelity),
    String(r.seed),
    r.status + (r.attempts.length > 1 ? ` (${r.attempts.length} attempts)` : ''),
    v !== undefined ? fmtValue(v) : '',
    last?.gpuHours !== undefined ? fmtHours(r.attempts.reduce((s, a) => s + (a.gpuHours ?? 0), 0)) : '',
  ].map((c) => c.replace(/\|/g, '\\|'));
}

/** The report's chart of the primary metric by run and phase, drawn while the plan runs (GitHub renders it). */
export function mermaidChart(plan: PlanState): string | undefined {
  return reportMermaid({ chart: chartOf(plan), metric: plan.spec.metric });
}

export function renderStickyComment(plan: PlanState): string {
  const p = progressOf(plan);
  const spent = spentGpuHours(plan);
  const head = [
    stickyMarker(plan.id),
    `### rea plan \`${plan.id}\`: ${plan.status}${plan.pauseReason ? ` (${plan.pauseReason})` : ''}`,
    '',
    `Phase **${plan.phase}** (${plan.step}); ${p.done}/${p.planned} runs done, ${p.failed} failed. Spent **${fmtHours(spent)}** of ${fmtHours(plan.budget.approvedGpuHours)} approved GPU-hours (estimate ${fmtHours(plan.estimate.gpuHoursP50)} p50 / ${fmtHours(plan.estimate.gpuHoursP90)} p90).`,
  ];
  const approvals = plan.approvals.map(
    (a) =>
      `- ${a.kind} by ${a.by} (${a.via === 'github' ? 'GitHub' : a.via === 'slack' ? 'Slack' : a.via}) at ${a.at}${a.gpuHours !== undefined ? `, ${fmtHours(a.gpuHours)} GPU-hours` : ''}`,
  );
  const decisions = plan.decisions.map((d) => `- **${d.step}**: ${d.text}`);
  const w = plan.winner;
  const result = w
    ? [
        `**Winner:** ${winnerChange(plan)}: ${pct(w.relEffect)} (95% interval [${pct(w.lo)}, ${pct(w.hi)}], ${w.n} seeds).`,
      ]
    : plan.status === 'completed'
      ? [`No confirmed winner: ${plan.finishedReason ?? ''}.`]
      : [];
  const chart = mermaidChart(plan);
  const table = [
    '| run | step | change | fidelity | seed | status | ' + plan.spec.metric.name + ' | GPU-h |',
    '| --- | --- | --- | --- | --- | --- | --- | --- |',
    ...plan.runs.filter((r) => r.attempts.length > 0).map((r) => `| ${runRow(plan, r).join(' | ')} |`),
  ];
  return [
    ...head,
    '',
    ...result,
    ...(approvals.length ? ['', '**Approvals**', ...approvals] : []),
    ...(experimentLines(plan).length
      ? ['', '**Code experiments (draft PRs)**', ...experimentLines(plan)]
      : []),
    ...(decisions.length ? ['', '**Decisions**', ...decisions] : []),
    ...(chart ? ['', chart] : []),
    '',
    '<details><summary>Runs</summary>',
    '',
    ...table,
    '',
    '</details>',
  ].join('\n');
}

export type CheckConclusion = 'success' | 'neutral' | 'cancelled' | 'action_required' | 'failure';

export function checkRunState(plan: PlanState): {
  status: 'queued' | 'in_progress' | 'completed';
  conclusion?: CheckConclusion;
  title: string;
  summary: string;
} {
  const p = progressOf(plan);
  const summary = `${p.done}/${p.planned} runs, ${fmtHours(p.spent)} of ${fmtHours(p.budget)} GPU-hours. Phase ${plan.phase}.`;
  switch (plan.status) {
    case 'awaiting_approval':
      return { status: 'queued', title: 'Awaiting approval', summary };
    case 'running':
      return { status: 'in_progress', title: `Running: ${plan.phase}`, summary };
    case 'paused':
      return { status: 'in_progress', title: `Paused (${plan.pauseReason ?? 'user'})`, summary };
    case 'completed':
      return plan.winner
        ? {
            status: 'completed',
            conclusion: 'success',
            title: `Winner: ${pct(plan.winner.relEffect)} ${plan.spec.metric.name}`,
            summary,
          }
        : { status: 'completed', conclusion: 'neutral', title: 'No confirmed winner', summary };
    case 'cancelled':
      return { status: 'completed', conclusion: 'cancelled', title: 'Cancelled', summary };
    case 'rejected':
      return { status: 'completed', conclusion: 'neutral', title: 'Rejected', summary };
  }
}

export function renderPromotionBody(plan: PlanState): string {
  const w = plan.winner!;
  return [
    `Promotes the winner of plan \`${plan.id}\`${plan.origin?.pr ? ` (#${plan.origin.pr})` : ''} to the baseline config \`${plan.spec.baselineConfigFile}\`.`,
    '',
    `**${winnerChange(plan)}**: ${plan.spec.metric.name} ${fmtValue(w.baselineMean)} -> ${fmtValue(w.candidateMean)}, **${pct(w.relEffect)}** (95% interval [${pct(w.lo)}, ${pct(w.hi)}], ${w.n} paired seeds at full fidelity).`,
    '',
    ...(w.codeHypothesisId !== undefined
      ? [
          `The winner includes code: this PR changes only the configuration; ${plan.origin?.experimentPrs?.[w.codeHypothesisId] !== undefined ? `merge draft PR #${plan.origin.experimentPrs[w.codeHypothesisId]} for the code` : `the code is on branch \`${experimentBranch(plan.id, w.codeHypothesisId)}\``}.`,
          '',
        ]
      : []),
    'Confirmation runs:',
    ...plan.runs
      .filter((r) => r.step === 'confirm')
      .map((r) => {
        const a = r.attempts[r.attempts.length - 1];
        return `- ${r.id} (${r.role}, seed ${r.seed}): ${plan.spec.metric.name} ${fmtValue(r.metrics?.[plan.spec.metric.name])}${a?.externalId ? `, workflow run ${a.externalId}` : ''}`;
      }),
  ].join('\n');
}

export { renderReport };

/** GitHub refuses issue comments longer than this many characters. */
export const GITHUB_COMMENT_LIMIT = 65_536;

export const reportMarker = (planId: string) => `<!-- rea:report:${planId} -->`;

/**
 * The report comment on the plan PR: the same report as the file, its lists cut (saying how many were left
 * out) so that marker and body stay within GitHub's comment limit even for thousands of runs.
 */
export function renderReportComment(
  plan: PlanState,
  opts: Pick<ReportRenderOptions, 'history' | 'fullReportAt'> = {},
): string {
  const marker = reportMarker(plan.id);
  // Headroom for what GitHub may count differently (it counts UTF-16 units like JavaScript, but line ends
  // can be normalised to CRLF); a 1% margin is cheap.
  const max = GITHUB_COMMENT_LIMIT - marker.length - 1 - 700;
  return `${marker}\n${renderReport(plan, { ...opts, maxChars: max })}`;
}
