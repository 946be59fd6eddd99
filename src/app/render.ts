import { pct } from '../core/analysis.ts';
import { fmtHours, spentGpuHours } from '../core/decide.ts';
import { describeChange, fmtValue } from '../core/knobs.ts';
import type { Hypothesis, PhaseName, PlanState, Run } from '../core/model.ts';
import { BASELINE_ID, changeText } from '../core/plan.ts';
import { buildReport, type PlanReport, type ReportInsight } from '../core/report.ts';

// Markdown renderings of a plan shared by every surface (terminal, report file, later PR and Slack).

function usd(x: number): string {
  return x >= 100 ? `$${x.toFixed(0)}` : x >= 1 ? `$${x.toFixed(2)}` : `$${x.toPrecision(2)}`;
}

function table(head: string[], rows: string[][]): string {
  const line = (cells: string[]) => `| ${cells.join(' | ')} |`;
  return [line(head), line(head.map(() => '---')), ...rows.map(line)].join('\n');
}

export function renderCostTable(plan: PlanState): string {
  const e = plan.estimate;
  const rows = e.phases.map((p) => [
    p.name,
    String(p.runs),
    String(p.fidelity),
    String(p.seeds),
    `${fmtHours(p.gpuHoursP50)} / ${fmtHours(p.gpuHoursP90)}`,
    `${usd(p.usdP50)} / ${usd(p.usdP90)}`,
  ]);
  rows.push([
    '**total**',
    String(e.phases.reduce((s, p) => s + p.runs, 0)),
    '',
    '',
    `${fmtHours(e.gpuHoursP50)} / ${fmtHours(e.gpuHoursP90)}`,
    `${usd(e.usdP50)} / ${usd(e.usdP90)}`,
  ]);
  return table(['phase', 'runs (at most)', 'fidelity', 'seeds', 'GPU-h p50 / p90', 'USD p50 / p90'], rows);
}

/** A hypothesis's change: its knobs, and for code the files it patches and its draft PR once made. */
export function hypothesisChange(plan: PlanState, h: Hypothesis): string {
  if (h.kind !== 'code') return describeChange(plan.baseline, h.overrides);
  const pr = plan.origin?.experimentPrs?.[h.id];
  const knobs = Object.keys(h.overrides).length > 0 ? `${describeChange(plan.baseline, h.overrides)} + ` : '';
  return `${knobs}code (${(h.files ?? []).join(', ') || 'patch'})${pr !== undefined ? `, draft PR #${pr}` : ''}`;
}

/** Patches longer than this are cut in Markdown (the whole patch is in the plan's JSON file). */
const PATCH_SHOWN_CHARS = 12_000;

/** Each code hypothesis's patch as a folded diff, so approvers read the code before they approve it. */
export function renderPatches(plan: PlanState): string[] {
  return plan.hypotheses
    .filter((h) => h.kind === 'code' && h.patch)
    .map((h) => {
      const patch = h.patch!;
      const shown = patch.length > PATCH_SHOWN_CHARS ? `${patch.slice(0, PATCH_SHOWN_CHARS)}\n...` : patch;
      const fence = shown.includes('```') ? '~~~~' : '```';
      const cut = shown === patch ? '' : ` (first ${PATCH_SHOWN_CHARS} of ${patch.length} characters)`;
      return [
        `<details><summary>${h.id} code: ${h.title.replace(/</g, '&lt;')}${cut}</summary>`,
        '',
        `${fence}diff`,
        shown.replace(/\n$/, ''),
        fence,
        '',
        '</details>',
      ].join('\n');
    });
}

/** How a run's change reads in run tables: the knobs it ran with, and its code hypothesis. */
export function runLabel(plan: PlanState, r: Run): string {
  if (r.role === 'baseline') return 'baseline';
  const c = plan.candidates.find((x) => x.id === r.candidateId);
  if (c?.codeHypothesisId !== undefined) return changeText(plan, { ...c, overrides: r.overrides });
  return describeChange(plan.baseline, r.overrides);
}

/** The winner's change, with its code part (and the experiment PR that holds the code) when it has one. */
export function winnerChange(plan: PlanState): string {
  const w = plan.winner!;
  if (w.codeHypothesisId === undefined) return describeChange(plan.baseline, w.overrides);
  const text = changeText(plan, {
    id: w.candidateId,
    step: 'confirm',
    label: w.label,
    hypothesisIds: [],
    overrides: w.overrides,
    codeHypothesisId: w.codeHypothesisId,
  });
  const pr = plan.origin?.experimentPrs?.[w.codeHypothesisId];
  return pr !== undefined ? `${text} (draft PR #${pr})` : text;
}

/** Tokens and dollars the research agents spent on this plan, one line per call; empty when none. */
export function llmUsageLines(plan: PlanState): string[] {
  return (plan.llmUsage ?? []).map(
    (u) =>
      `${u.agent}: ${u.inputTokens} input tokens (+${u.cacheReadTokens} cache read, ${u.cacheWriteTokens} cache write), ${u.outputTokens} output tokens, ${usd(u.usd)}`,
  );
}

export function renderHypotheses(plan: PlanState): string {
  const rows = plan.hypotheses.map((h) => [
    h.id,
    h.title.replace(/\|/g, '\\|'),
    `${h.source}${h.agent !== h.source ? ` (${h.agent})` : ''}`,
    hypothesisChange(plan, h).replace(/\|/g, '\\|'),
    h.risk,
  ]);
  return table(['id', 'hypothesis', 'source', 'change', 'risk'], rows);
}

/**
 * The probes validation screens besides the hypotheses: what people approve includes them, so they are
 * listed (capped) with why they are there.
 */
export function probeLines(plan: PlanState, max = 12): string[] {
  const probes = plan.candidates.filter((c) => c.step === 'validation' && c.label.startsWith('probe '));
  if (probes.length === 0) return [];
  const shown = probes.slice(0, max).map((c) => `- ${c.label.replace(/\|/g, '\\|')}`);
  const more = probes.length > max ? [`- and ${probes.length - max} more`] : [];
  return [
    `Besides the hypotheses, validation screens ${probes.length} seeded configurations spread over the knob space, so that the search model sees more than the neighbourhood of the baseline:`,
    [...shown, ...more].join('\n'),
  ];
}

export function renderPlan(plan: PlanState): string {
  const parts = [
    `# Plan ${plan.id}: ${plan.goal}`,
    `Model **${plan.spec.model}**, metric **${plan.spec.metric.name}** (${plan.spec.metric.goal}, min effect ${pct(plan.spec.metric.min_effect)}). Status: **${plan.status}**${plan.pauseReason ? ` (${plan.pauseReason})` : ''}, phase ${plan.phase}.`,
    '## Hypotheses',
    renderHypotheses(plan),
  ];
  for (const h of plan.hypotheses) parts.push(`- **${h.id}** ${h.rationale}`);
  const probes = probeLines(plan);
  if (probes.length > 0) parts.push('## Probes', ...probes);
  parts.push(...renderPatches(plan));
  if (plan.rejected.length > 0) {
    parts.push(
      '## Not included',
      ...plan.rejected.map((r) => `- ${r.title} (${r.source}/${r.agent}): ${r.reason}`),
    );
  }
  if ((plan.notes ?? []).length > 0) parts.push('## Notes', ...plan.notes!.map((n) => `- ${n}`));
  const usage = llmUsageLines(plan);
  if (usage.length > 0) parts.push('## Research agent cost', ...usage.map((u) => `- ${u}`));
  parts.push(
    '## Phases and cost',
    renderCostTable(plan),
    `Budget asked for: **${fmtHours(plan.budget.requestedGpuHours)} GPU-hours** (${usd(plan.budget.requestedGpuHours * plan.spec.usdPerGpuHour)}), the p90 of the plan capped by the model's maximum of ${fmtHours(plan.spec.maxGpuHours)}.`,
  );
  return parts.join('\n\n');
}

export interface Progress {
  done: number;
  planned: number;
  failed: number;
  spent: number;
  budget: number;
  phase: PhaseName;
  step: string;
}

export function progressOf(plan: PlanState): Progress {
  const done = plan.runs.filter(
    (r) => r.status === 'succeeded' || r.status === 'failed' || r.status === 'cancelled',
  ).length;
  return {
    done,
    planned: plan.runs.length,
    failed: plan.runs.filter((r) => r.status === 'failed').length,
    spent: spentGpuHours(plan),
    budget: plan.budget.approvedGpuHours || plan.budget.requestedGpuHours,
    phase: plan.phase,
    step: plan.step,
  };
}

// ------------------------------------------------------------------ the plan report

export interface ReportRenderOptions {
  /** The model's plans, for the insights this plan added or changed (without them every row is new). */
  history?: readonly PlanState[];
  /** A surface's size limit (GitHub comments): lists are cut, then the text, to fit. The file has none. */
  maxChars?: number;
  /** Where the full report is, named in the notes that say what a cut left out. */
  fullReportAt?: string;
}

/** Characters that could break a Mermaid label or title (quotes, brackets, separators) become spaces. */
function mermaidText(s: string): string {
  return s
    .replace(/[^A-Za-z0-9 _.+\-/%()]/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();
}

const PHASE_SHORT: Record<PhaseName, string> = {
  validation: 'val',
  combination: 'comb',
  exploitation: 'expl',
};

/** Bars the Mermaid chart shows legibly: beyond this, runs are averaged per configuration and step. */
export const MERMAID_MAX_POINTS = 60;

interface ChartBar {
  label: string;
  value: number;
  baseline: number | undefined;
}

function mean(xs: readonly number[]): number {
  return xs.reduce((s, x) => s + x, 0) / xs.length;
}

/** The bars of the report chart: one per run when few, else one per configuration and step (best kept). */
export function reportChartBars(report: PlanReport): { bars: ChartBar[]; what: string } {
  const pts = report.chart;
  const baseAt = new Map<number, number>();
  for (const f of new Set(pts.map((p) => p.fidelity))) {
    const b = pts.filter((p) => p.role === 'baseline' && p.fidelity === f).map((p) => p.value);
    if (b.length > 0) baseAt.set(f, mean(b));
  }
  if (pts.length <= MERMAID_MAX_POINTS) {
    return {
      bars: pts.map((p) => ({
        label: `${PHASE_SHORT[p.phase]} ${p.role === 'baseline' ? 'base' : ''} ${p.runId}`,
        value: p.value,
        baseline: baseAt.get(p.fidelity),
      })),
      what: `one run (${pts.length} runs)`,
    };
  }
  const groups = new Map<string, { label: string; values: number[]; fidelity: number; first: number }>();
  for (const p of pts) {
    const key = `${p.step}|${p.role}|${p.candidateId}`;
    const g = groups.get(key);
    if (g) g.values.push(p.value);
    else
      groups.set(key, {
        label: `${PHASE_SHORT[p.phase]} ${p.role === 'baseline' ? 'baseline' : p.candidateId}`,
        values: [p.value],
        fidelity: p.fidelity,
        first: p.order,
      });
  }
  let list = [...groups.values()].sort((a, b) => a.first - b.first);
  const total = list.length;
  if (list.length > MERMAID_MAX_POINTS) {
    const sign = report.metric.goal === 'minimize' ? 1 : -1;
    const keep = new Set(
      [...list].sort((a, b) => sign * (mean(a.values) - mean(b.values))).slice(0, MERMAID_MAX_POINTS),
    );
    list = list.filter((g) => keep.has(g));
  }
  return {
    bars: list.map((g) => ({ label: g.label, value: mean(g.values), baseline: baseAt.get(g.fidelity) })),
    what:
      list.length < total
        ? `the mean of one configuration's seeds in one step; the ${list.length} best of ${total} are shown (${pts.length} runs)`
        : `the mean of one configuration's seeds in one step (${pts.length} runs)`,
  };
}

/** The primary metric by run and phase as a Mermaid xychart (GitHub renders it): bars, baseline as a line. */
export function reportMermaid(report: PlanReport): string | undefined {
  const { bars, what } = reportChartBars(report);
  if (bars.length < 2) return undefined;
  const num = (x: number) => Number(x.toPrecision(5));
  const values = bars.flatMap((b) => [b.value, ...(b.baseline !== undefined ? [b.baseline] : [])]);
  const lo = Math.min(...values);
  const hi = Math.max(...values);
  const pad = (hi - lo) * 0.1 || Math.abs(hi) * 0.01 || 1;
  const metric = mermaidText(report.metric.name) || 'metric';
  const better = report.metric.goal === 'minimize' ? 'lower' : 'higher';
  const hasBaseline = bars.every((b) => b.baseline !== undefined);
  return [
    '```mermaid',
    'xychart-beta',
    `  title "${metric} by run and phase (${better} is better)"`,
    `  x-axis [${bars.map((b) => `"${mermaidText(b.label)}"`).join(', ')}]`,
    `  y-axis "${metric}" ${num(lo - pad)} --> ${num(hi + pad)}`,
    `  bar [${bars.map((b) => num(b.value)).join(', ')}]`,
    ...(hasBaseline ? [`  line [${bars.map((b) => num(b.baseline!)).join(', ')}]`] : []),
    '```',
    '',
    `_Each bar is ${metric} of ${what}, labelled by phase (val, comb, expl), base for baseline runs, and run or configuration id. ${hasBaseline ? 'The line is the mean of the baseline runs at the same fidelity. ' : ''}Failed runs have no bar._`,
  ].join('\n');
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
