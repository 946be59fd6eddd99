import { pct } from '../core/analysis.ts';
import { fmtHours } from '../core/decide.ts';
import { describeChange, fmtValue } from '../core/knobs.ts';
import type { PlanState } from '../core/model.ts';
import { BASELINE_ID } from '../core/plan.ts';
import { buildReport, type PlanReport, type ReportInsight } from '../core/report.ts';
import { table, usd } from './render-kit.ts';
import { renderHypotheses } from './render-plan.ts';
import { reportMermaid } from './render-report-chart.ts';

// The plan report in Markdown: all of it for the file, shorter lists for a surface with a size limit.

export interface ReportRenderOptions {
  /** The model's plans, for the insights this plan added or changed (without them every row is new). */
  history?: readonly PlanState[];
  /** A surface's size limit (GitHub comments): lists are cut, then the text, to fit. The file has none. */
  maxChars?: number;
  /** Where the full report is, named in the notes that say what a cut left out. */
  fullReportAt?: string;
}

function cell(s: string): string {
  return s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

function usdPrecise(x: number): string {
  return x >= 1000 ? `$${Math.round(x).toLocaleString('en-US')}` : usd(x);
}

function fmtTokens(n: number): string {
  return n.toLocaleString('en-US');
}

const INSIGHT_CHANGE: Record<ReportInsight['change'], string> = {
  new: 'new',
  changed: 'status changed',
  strengthened: 'narrower interval',
  unchanged: 'confirmed',
};

function insightChangeText(i: ReportInsight): string {
  if (!i.before) return 'new';
  const was = `was ${i.before.status} ${pct(i.before.meanEffect)} [${pct(i.before.lo)}, ${pct(i.before.hi)}] over ${i.before.nRuns} runs`;
  return `${INSIGHT_CHANGE[i.change]}; ${was}`;
}

function outcomeLines(r: PlanReport): string[] {
  const o = r.outcome;
  if (o.kind === 'none')
    return [`**No winner**: ${o.why}. The null and negative results below are kept as insights.`];
  return [
    `**Winner: ${o.label}**`,
    `${r.metric.name} ${fmtValue(o.baselineMean)} -> ${fmtValue(o.candidateMean)}: **${pct(o.relEffect)}** relative improvement, 95% interval [${pct(o.lo)}, ${pct(o.hi)}], ${o.n} paired seeds against the baseline at fidelity ${o.fidelity}.`,
    `To promote it, set in \`${r.baselineConfigFile}\`: ${Object.entries(o.overrides)
      .map(([k, v]) => `\`${k}: ${fmtValue(v)}\``)
      .join(', ')}.`,
  ];
}

/** `lines` cut to `max`, with a line saying how many were left out and where they are. */
function moreLine(n: number, what: string, where: string | undefined): string {
  return `_… and ${n} more ${what}${where ? ` in the full report (${where})` : ''}._`;
}

function capped(lines: string[], max: number, what: string, where: string | undefined): string[] {
  if (lines.length <= max) return lines;
  return [...lines.slice(0, max), `- ${moreLine(lines.length - max, what, where)}`];
}

/** A table of at most `max` rows, saying how many were left out; `empty` when there are none. */
function cappedTable(
  head: string[],
  rows: string[][],
  max: number,
  what: string,
  where: string | undefined,
  empty: string,
): string {
  if (rows.length === 0) return empty;
  return [
    table(head, rows.slice(0, max)),
    ...(rows.length > max ? [moreLine(rows.length - max, what, where)] : []),
  ].join('\n\n');
}

function failureSummary(r: PlanReport): string {
  const c = r.failureCounts;
  const total = r.failures.length;
  if (total === 0) return 'No run failed.';
  const parts = (
    [
      ['retried', c.retried],
      ['retried with a changed configuration', c['retried with changes']],
      ['skipped as infeasible', c.skipped],
      ['escalated to a person', c.escalated],
      ['cancelled with the plan', c.cancelled],
      ['left as they were (no runbook matched)', c.none],
    ] as const
  )
    .filter(([, n]) => n > 0)
    .map(([what, n]) => `${n} ${what}`);
  return `${total} failed attempt${total === 1 ? '' : 's'}: ${parts.join(', ')}.`;
}

function spendLines(r: PlanReport): string[] {
  const s = r.spend;
  const share =
    s.approvedGpuHours > 0 ? ` (${Math.round((100 * s.gpuHours) / s.approvedGpuHours)}% of the budget)` : '';
  const rows = s.phases
    .filter((p) => p.runs > 0 || p.estimateGpuHoursP50 > 0)
    .map((p) => [
      p.phase,
      String(p.runs),
      fmtHours(p.gpuHours),
      fmtHours(p.estimateGpuHoursP50),
      usd(p.usd),
      usd(p.estimateUsdP50),
    ]);
  rows.push([
    '**total**',
    String(s.runs),
    fmtHours(s.gpuHours),
    fmtHours(s.estimateGpuHoursP50),
    usd(s.usd),
    usd(s.estimateUsdP50),
  ]);
  const out = [
    `Spent **${fmtHours(s.gpuHours)} GPU-hours (${usd(s.usd)})** of the approved ${fmtHours(s.approvedGpuHours)} (${usd(s.approvedUsd)})${share}. The plan was estimated at ${fmtHours(s.estimateGpuHoursP50)} p50 / ${fmtHours(s.estimateGpuHoursP90)} p90 GPU-hours. ${s.runs} runs, ${s.attempts} attempts, ${s.failedAttempts} of them failed.`,
    table(['phase', 'runs', 'GPU-h spent', 'GPU-h p50 estimate', 'USD spent', 'USD p50 estimate'], rows),
  ];
  const g = s.usdPerGain;
  if (g) {
    out.push(
      `**${usdPrecise(g.usd)} per 0.1% relative improvement of ${r.metric.name}**: the dollars the whole plan spent divided by the winner's effect in units of 0.1% (${usd(s.usd)} / (${pct(r.outcome.kind === 'winner' ? r.outcome.relEffect : 0)} / 0.1%)); ${g.atLo !== undefined ? `${usdPrecise(g.atHi)} to ${usdPrecise(g.atLo)}` : `at least ${usdPrecise(g.atHi)}`} over the effect's 95% interval.`,
    );
  } else {
    out.push(`No improvement was confirmed, so there is no cost per unit of ${r.metric.name} gained.`);
  }
  if (r.llm) {
    const l = r.llm;
    out.push(
      `Research agent: ${l.calls} call${l.calls === 1 ? '' : 's'} to ${l.models.join(', ')}, ${fmtTokens(l.inputTokens)} input and ${fmtTokens(l.outputTokens)} output tokens (${fmtTokens(l.cacheReadTokens)} read from and ${fmtTokens(l.cacheWriteTokens)} written to the prompt cache), ${usd(l.usd)}.`,
    );
  }
  return out;
}

interface ReportCaps {
  decisions: number;
  deadEnds: number;
  failures: number;
  escalations: number;
  insights: number;
  next: number;
  measurements: number;
  hypotheses: number;
}

const NO_CAPS: ReportCaps = {
  decisions: Infinity,
  deadEnds: Infinity,
  failures: Infinity,
  escalations: Infinity,
  insights: Infinity,
  next: Infinity,
  measurements: Infinity,
  hypotheses: Infinity,
};

function capsOf(n: number): ReportCaps {
  return {
    decisions: n,
    deadEnds: n,
    failures: n,
    escalations: n,
    insights: n,
    next: Math.min(n, 15),
    measurements: n,
    hypotheses: n,
  };
}

const CHART_SLOT = '\u0000rea-chart\u0000';

function renderReportWith(plan: PlanState, r: PlanReport, caps: ReportCaps, where?: string): string {
  const parts: string[] = [
    `# Report: plan ${r.planId}`,
    `Goal: ${r.goal}. Model **${r.model}**${r.repo ? ` (${r.repo})` : ''}, metric **${r.metric.name}** (${r.metric.goal}, min effect ${pct(r.metric.minEffect)}). Status: **${r.status}**${r.finishedReason ? ` (${r.finishedReason})` : ''}.`,
    '## Result',
    ...outcomeLines(r),
  ];
  const chart = reportMermaid(r);
  if (chart) parts.push(`## ${r.metric.name} by run and phase`, CHART_SLOT);

  parts.push(
    '## What each phase decided',
    r.decisions.length > 0
      ? capped(
          r.decisions.map((d) => `- **${d.step}** (${d.at}): ${d.text}`),
          caps.decisions,
          'decisions',
          where,
        ).join('\n')
      : 'No phase finished.',
  );

  const deadRows = r.deadEnds.map((d) => [
    cell(d.label),
    d.step,
    String(d.fidelity),
    d.verdict,
    d.relEffect !== undefined ? pct(d.relEffect) : '-',
    d.lo !== undefined && d.hi !== undefined ? `[${pct(d.lo)}, ${pct(d.hi)}]` : '-',
    String(d.n),
    cell(d.reason),
  ]);
  parts.push(
    '## Dead ends',
    cappedTable(
      ['change', 'step', 'fidelity', 'verdict', 'effect', '95% interval', 'seeds', 'why'],
      deadRows,
      caps.deadEnds,
      'dead ends',
      where,
      'None: every configuration measured either passed or was kept for a later step.',
    ),
  );

  const failureLines = r.failures.map(
    (f) =>
      `- run ${f.runId} (${f.label}, ${f.step}, seed ${f.seed}) attempt ${f.attempt}: ${f.reason}. ${f.runbookId ? `Runbook **${f.runbookId}**` : 'No runbook'} (${f.action}): ${f.note}`,
  );
  parts.push(
    '## Failures and what rea did',
    [failureSummary(r), ...capped(failureLines, caps.failures, 'failed attempts', where)].join('\n'),
  );
  if (r.escalations.length > 0) {
    parts.push(
      '### Escalations',
      capped(
        r.escalations.map(
          (e) =>
            `- ${e.id}${e.runId ? ` (run ${e.runId})` : ''}: ${e.reason} ${e.resolution ? `Resolved by ${e.resolution.by}: ${e.resolution.action} (${e.resolution.at}).` : '**Open.**'}`,
        ),
        caps.escalations,
        'escalations',
        where,
      ).join('\n'),
    );
  }

  parts.push('## Spend', ...spendLines(r));

  const insightRows = r.insights.map((i) => [
    cell(i.title),
    String(i.fidelity),
    i.status,
    i.nRuns > 0 ? pct(i.meanEffect) : '-',
    i.nRuns > 0 ? `[${pct(i.lo)}, ${pct(i.hi)}]` : '-',
    String(i.nRuns),
    String(i.nPlans),
    cell(insightChangeText(i)),
  ]);
  parts.push(
    '## Insights this plan added or changed',
    cappedTable(
      ['change', 'fidelity', 'status', 'effect', '95% interval', 'runs', 'plans', 'what this plan did'],
      insightRows,
      caps.insights,
      'insights',
      where,
      'None: no configuration was measured.',
    ),
  );

  parts.push(
    '## Next hypotheses worth a plan',
    r.next.length > 0
      ? capped(
          r.next.map(
            (n) =>
              `- **${n.title}** (${Object.entries(n.overrides)
                .map(([k, v]) => `\`${k}: ${fmtValue(v)}\``)
                .join(', ')}): ${n.why}.`,
          ),
          caps.next,
          'ideas',
          where,
        ).join('\n')
      : 'Nothing left that this plan points to.',
  );

  const rows = plan.verdicts
    .filter((v) => v.candidateId !== BASELINE_ID)
    .map((v) => {
      const c = plan.candidates.find((x) => x.id === v.candidateId);
      const change = !c
        ? v.candidateId
        : c.adjustedFrom
          ? `${describeChange(plan.baseline, c.overrides)} (proposed ${describeChange(plan.baseline, c.adjustedFrom.overrides)}, which could not run)`
          : describeChange(plan.baseline, c.overrides);
      return [
        v.step,
        cell(change),
        v.n > 0 ? pct(v.relEffect) : '-',
        v.n > 0 ? `[${pct(v.lo)}, ${pct(v.hi)}]` : '-',
        String(v.n),
        v.verdict,
        cell(v.reason),
      ];
    });
  parts.push(
    '## All measurements',
    [
      table(
        ['step', 'change', 'effect', '95% interval', 'seeds', 'verdict', 'why'],
        rows.slice(0, caps.measurements),
      ),
      ...(rows.length > caps.measurements
        ? [
            `_… and ${rows.length - caps.measurements} more measurements${where ? ` in the full report (${where})` : ''}._`,
          ]
        : []),
    ].join('\n\n'),
  );
  const hyp = { ...plan, hypotheses: plan.hypotheses.slice(0, caps.hypotheses) };
  parts.push(
    '## Hypotheses',
    [
      renderHypotheses(hyp),
      ...(plan.hypotheses.length > caps.hypotheses
        ? [
            `_… and ${plan.hypotheses.length - caps.hypotheses} more hypotheses${where ? ` in the full report (${where})` : ''}._`,
          ]
        : []),
    ].join('\n\n'),
  );
  // Text from runners and people (goals, failure reasons) may hold a code fence, which would swallow the
  // rest of the report on GitHub; it is broken with zero-width spaces everywhere but in the chart.
  const text = `${parts.join('\n\n')}\n`.replace(/`{3,}/g, (m) => m.split('').join('\u200b'));
  return chart ? text.replace(CHART_SLOT, () => chart) : text;
}

/** Cuts Markdown to `max` characters at a line end, closing a code block the cut left open. */
function clipMarkdown(text: string, max: number, note: string): string {
  if (text.length <= max) return text;
  const room = Math.max(0, max - note.length - 8);
  let cut = text.lastIndexOf('\n', room);
  if (cut <= 0) cut = room;
  let kept = text.slice(0, cut);
  if ((kept.split('```').length - 1) % 2 === 1) kept += '\n```';
  return `${kept}\n\n${note}\n`;
}

/**
 * The plan report in Markdown: the file holds all of it; a surface with a size limit gets the same sections
 * with shorter lists (and, as a last resort, the text cut at a line), each cut saying what it left out.
 */
export function renderReport(plan: PlanState, opts: ReportRenderOptions = {}): string {
  const report = buildReport(plan, opts.history ? { history: opts.history } : {});
  const full = renderReportWith(plan, report, NO_CAPS);
  const max = opts.maxChars;
  if (max === undefined || full.length <= max) return full;
  for (const n of [200, 50, 20, 8, 3]) {
    const text = renderReportWith(plan, report, capsOf(n), opts.fullReportAt);
    if (text.length <= max) return text;
  }
  const smallest = renderReportWith(plan, report, capsOf(1), opts.fullReportAt);
  return clipMarkdown(
    smallest,
    max,
    `_… the rest is cut to fit${opts.fullReportAt ? `; the full report is ${opts.fullReportAt}` : ''}._`,
  );
}
