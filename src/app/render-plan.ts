import { pct } from '../core/analysis.ts';
import { fmtHours, spentGpuHours } from '../core/decide.ts';
import { describeChange } from '../core/knobs.ts';
import type { Hypothesis, PhaseName, PlanState, Run } from '../core/model.ts';
import { changeText } from '../core/plan.ts';
import { table, usd } from './render-kit.ts';

// The plan in Markdown before and while it runs: its hypotheses, probes, patches, cost table and progress.

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
