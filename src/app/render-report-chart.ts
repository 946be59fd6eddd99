import type { PhaseName } from '../core/model.ts';
import type { PlanReport } from '../core/report.ts';

/** What the chart needs of a report: a plan in flight (the sticky comment) draws the same from `chartOf`. */
export type ChartInput = Pick<PlanReport, 'chart'> & { metric: Pick<PlanReport['metric'], 'name' | 'goal'> };

// The report's chart in Markdown: the primary metric by run and phase as bars, drawn by Mermaid on GitHub.

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
export function reportChartBars(report: ChartInput): { bars: ChartBar[]; what: string } {
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
export function reportMermaid(report: ChartInput): string | undefined {
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
