import { pct } from '../core/analysis.ts';
import { fmtHours, spentGpuHours } from '../core/decide.ts';
import { describeChange, fmtValue } from '../core/knobs.ts';
import type { PhaseName, PlanState, Run } from '../core/model.ts';
import { BASELINE_ID } from '../core/plan.ts';

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

export function renderHypotheses(plan: PlanState): string {
  const rows = plan.hypotheses.map((h) => [
    h.id,
    h.title.replace(/\|/g, '\\|'),
    `${h.source}${h.agent !== h.source ? ` (${h.agent})` : ''}`,
    describeChange(plan.baseline, h.overrides),
    h.risk,
  ]);
  return table(['id', 'hypothesis', 'source', 'change', 'risk'], rows);
}

export function renderPlan(plan: PlanState): string {
  const parts = [
    `# Plan ${plan.id}: ${plan.goal}`,
    `Model **${plan.spec.model}**, metric **${plan.spec.metric.name}** (${plan.spec.metric.goal}, min effect ${pct(plan.spec.metric.min_effect)}). Status: **${plan.status}**${plan.pauseReason ? ` (${plan.pauseReason})` : ''}, phase ${plan.phase}.`,
    '## Hypotheses',
    renderHypotheses(plan),
  ];
  for (const h of plan.hypotheses) parts.push(`- **${h.id}** ${h.rationale}`);
  if (plan.rejected.length > 0) {
    parts.push(
      '## Not included',
      ...plan.rejected.map((r) => `- ${r.title} (${r.source}/${r.agent}): ${r.reason}`),
    );
  }
  parts.push(
    '## Phases and cost',
    renderCostTable(plan),
    `Budget asked for: **${fmtHours(plan.budget.requestedGpuHours)} GPU-hours** (${usd(plan.budget.requestedGpuHours * plan.spec.usdPerGpuHour)}), the p90 of the plan capped by the model's maximum of ${fmtHours(plan.spec.maxGpuHours)}.`,
  );
  return parts.join('\n\n');
}

function runLabel(plan: PlanState, r: Run): string {
  return r.role === 'baseline' ? 'baseline' : describeChange(plan.baseline, r.overrides);
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

export function renderReport(plan: PlanState): string {
  const metric = plan.spec.metric.name;
  const spent = spentGpuHours(plan);
  const parts: string[] = [
    `# Report: plan ${plan.id}`,
    `Goal: ${plan.goal}. Model **${plan.spec.model}**. Status: **${plan.status}**${plan.finishedReason ? ` (${plan.finishedReason})` : ''}.`,
  ];
  const w = plan.winner;
  parts.push('## Result');
  if (w) {
    parts.push(
      `**Winner: ${describeChange(plan.baseline, w.overrides)}**`,
      `${metric} ${fmtValue(w.baselineMean)} -> ${fmtValue(w.candidateMean)}: **${pct(w.relEffect)}** improvement, 95% interval [${pct(w.lo)}, ${pct(w.hi)}], ${w.n} paired seeds against the baseline at fidelity ${plan.spec.fidelity.exploitation}.`,
      `To promote it, set in the baseline config: ${Object.entries(w.overrides)
        .map(([k, v]) => `\`${k}: ${fmtValue(v)}\``)
        .join(', ')}.`,
    );
  } else {
    parts.push(
      `No confirmed winner${plan.finishedReason ? `: ${plan.finishedReason}` : ''}. The null results below are kept as insights.`,
    );
  }
  parts.push('## Decisions', ...plan.decisions.map((d) => `- **${d.phase}** (${d.at}): ${d.text}`));
  const rows = plan.verdicts
    .filter((v) => v.candidateId !== BASELINE_ID)
    .map((v) => {
      const c = plan.candidates.find((x) => x.id === v.candidateId)!;
      const change = c.adjustedFrom
        ? `${describeChange(plan.baseline, c.overrides)} (proposed ${describeChange(plan.baseline, c.adjustedFrom.overrides)}, which could not run)`
        : describeChange(plan.baseline, c.overrides);
      return [
        v.step,
        change,
        v.n > 0 ? pct(v.relEffect) : '-',
        v.n > 0 ? `[${pct(v.lo)}, ${pct(v.hi)}]` : '-',
        String(v.n),
        v.verdict,
        v.reason.replace(/\|/g, '\\|'),
      ];
    });
  parts.push(
    '## Measurements',
    table(['step', 'change', 'effect', '95% interval', 'seeds', 'verdict', 'why'], rows),
  );
  const failures = plan.runs.flatMap((r) =>
    r.attempts
      .filter((a) => a.status === 'failed' || a.status === 'cancelled')
      .map(
        (a) =>
          `- run ${r.id} (${runLabel(plan, r)}, ${r.step}, seed ${r.seed}) attempt ${a.n}: ${a.reason ?? a.conclusion}. Runbook **${a.runbook?.id ?? 'none'}**: ${a.runbook?.note ?? 'no action'}`,
      ),
  );
  parts.push('## Failures and what rea did', failures.length > 0 ? failures.join('\n') : 'None.');
  if (plan.escalations.length > 0) {
    parts.push(
      '## Escalations',
      ...plan.escalations.map(
        (e) =>
          `- ${e.id}: ${e.reason}${e.resolved ? ` (resolved by ${e.resolved.by}: ${e.resolved.action})` : ' (open)'}`,
      ),
    );
  }
  const est = plan.estimate;
  parts.push(
    '## Spend',
    `${fmtHours(spent)} GPU-hours (${usd(spent * plan.spec.usdPerGpuHour)}) of an approved ${fmtHours(plan.budget.approvedGpuHours)}; the plan was estimated at ${fmtHours(est.gpuHoursP50)} p50 / ${fmtHours(est.gpuHoursP90)} p90. ${plan.runs.length} runs, ${plan.runs.reduce((s, r) => s + r.attempts.length, 0)} attempts.`,
  );
  if (w && w.relEffect > 0) {
    const usdPerPoint = (spent * plan.spec.usdPerGpuHour) / (w.relEffect * 100);
    parts.push(`Cost per point of improvement: ${usd(usdPerPoint)} per 1% of ${metric}.`);
  }
  parts.push('## Hypotheses', renderHypotheses(plan));
  return `${parts.join('\n\n')}\n`;
}
