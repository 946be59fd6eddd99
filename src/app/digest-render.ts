import { pct } from '../core/analysis.ts';
import { fmtHours } from '../core/decide.ts';
import type { Digest, DigestInsight, DigestPlanLine } from '../core/digest.ts';

// The weekly digest as Markdown (the terminal, `rea digest --dir`), and the pieces every rendering shares.

export function fmtUsd(x: number): string {
  if (x === 0) return '$0';
  return x >= 100 ? `$${x.toFixed(0)}` : x >= 1 ? `$${x.toFixed(2)}` : `$${x.toPrecision(2)}`;
}

// Calendar dates (not instants) are formatted in UTC, where a date's midnight is exact.
const DAY = new Intl.DateTimeFormat('en-GB', {
  timeZone: 'UTC',
  day: 'numeric',
  month: 'short',
  year: 'numeric',
});

/** `16–22 Nov 2026`: the week's Monday to Sunday, as local dates. */
export function weekRange(d: Digest): string {
  const f = DAY;
  const monday = Date.parse(`${d.week.monday}T00:00:00Z`);
  const sunday = monday + 6 * 86_400_000;
  const [a, b] = [f.format(monday), f.format(sunday)];
  const [da, ma, ya] = a.split(' ');
  const [, mb, yb] = b.split(' ');
  if (ya === yb && ma === mb) return `${da}–${b}`;
  if (ya === yb) return `${da} ${ma}–${b}`;
  return `${a}–${b}`;
}

export function digestTitle(d: Digest): string {
  return `Weekly digest ${d.week.key} (${weekRange(d)}, ${d.week.timeZone})${d.partial ? ', so far' : ''}`;
}

/** One line of headline numbers, shared by Markdown, Block Kit and the notification text. */
export function digestHeadline(d: Digest): string {
  const s = d.spend;
  const parts = [
    `${d.plansInWeek} plan${d.plansInWeek === 1 ? '' : 's'}`,
    `${d.wins.length} win${d.wins.length === 1 ? '' : 's'}`,
    `${fmtUsd(s.usd + s.llmUsd)} spent (${fmtHours(s.gpuHours)} GPU-hours)`,
  ];
  if (d.usdPerPoint !== undefined) parts.push(`${fmtUsd(d.usdPerPoint)} per 1% gained`);
  return parts.join(' · ');
}

export function winLine(w: Digest['wins'][number]): string {
  const cost = `${fmtUsd(w.usd)}${w.usdPerPoint !== undefined ? `, ${fmtUsd(w.usdPerPoint)} per 1%` : ''}`;
  const promo = w.promotion ? `promotion ${w.promotion}` : 'awaiting promotion';
  return `${w.model}, plan ${w.planId}: ${w.change} improves ${w.metric} by ${pct(w.relEffect)} [${pct(w.lo)}, ${pct(w.hi)}] over ${w.seeds} seeds; ${cost}; ${promo}`;
}

export function runningLine(p: DigestPlanLine): string {
  const usd =
    p.usdPerGpuHour > 0
      ? ` (${fmtUsd(p.spentGpuHours * p.usdPerGpuHour)} of ${fmtUsd(p.budgetGpuHours * p.usdPerGpuHour)})`
      : '';
  const state = p.status === 'paused' ? `paused${p.pauseReason ? ` (${p.pauseReason})` : ''}` : 'running';
  return `${p.model}, plan ${p.planId}: ${state}, phase ${p.phase}, ${fmtHours(p.spentGpuHours)} of ${fmtHours(p.budgetGpuHours)} GPU-hours${usd}; ${p.goal}`;
}

export function awaitingLine(p: DigestPlanLine): string {
  return `${p.model}, plan ${p.planId}: asks for ${fmtHours(p.budgetGpuHours)} GPU-hours, estimated ${fmtUsd(p.estimateUsd.p50)} p50 / ${fmtUsd(p.estimateUsd.p90)} p90; ${p.goal}`;
}

const count = (n: number, what: string) => `${n} ${what}${n === 1 ? '' : 's'}`;

export function insightLine(i: DigestInsight): string {
  return `${i.model}: ${i.title}, ${pct(i.meanEffect)} [${pct(i.lo)}, ${pct(i.hi)}] (${count(i.nRuns, 'run')}, ${count(i.nPlans, 'plan')}, fidelity ${i.fidelity})`;
}

export function deadEndLine(i: DigestInsight): string {
  const effect =
    i.status === 'infeasible' ? 'could not run' : `${pct(i.meanEffect)} [${pct(i.lo)}, ${pct(i.hi)}]`;
  return `${i.model}: ${i.title}, ${i.status} (${effect}, ${count(i.nRuns, 'run')}): ${i.reason}`;
}

export function spendLines(d: Digest): string[] {
  const s = d.spend;
  const lines = [
    `This week: ${fmtHours(s.gpuHours)} GPU-hours (${fmtUsd(s.usd)}) over ${count(s.attempts, 'attempt')}, ${s.failedAttempts} failed${s.llmUsd > 0 ? `; research agents ${fmtUsd(s.llmUsd)}` : ''}.`,
    `Open plans: ${fmtHours(s.openSpentGpuHours)} of ${fmtHours(s.openApprovedGpuHours)} approved GPU-hours spent (${fmtUsd(s.openSpentUsd)} of ${fmtUsd(s.openApprovedUsd)}).`,
    d.usdPerPoint !== undefined
      ? `${fmtUsd(d.usdPerPoint)} per 1% gained: the week's ${fmtUsd(s.usd + s.llmUsd)} (dead ends included) over ${d.pointsGained.toFixed(2)} points of confirmed improvement.`
      : 'No improvement was confirmed this week, so there is no cost per point.',
  ];
  return lines;
}

function list(title: string, lines: string[], empty: string): string[] {
  return [`## ${title}`, lines.length > 0 ? lines.map((l) => `- ${l}`).join('\n') : empty];
}

export function renderDigestMarkdown(d: Digest): string {
  const parts = [`# ${digestTitle(d)}: ${d.channel}`, digestHeadline(d)];
  parts.push(...list('Wins and promotions', d.wins.map(winLine), 'No plan finished with a winner.'));
  if (d.endedWithoutWin.length > 0)
    parts.push(
      ...list(
        'Ended without a winner',
        d.endedWithoutWin.map((e) => `${e.model}, plan ${e.planId} (${e.status}): ${e.reason}`),
        '',
      ),
    );
  parts.push(...list('Running', d.running.map(runningLine), 'Nothing running.'));
  parts.push(...list('Awaiting approval', d.awaitingApproval.map(awaitingLine), 'Nothing awaits approval.'));
  parts.push(...list('Dead ends', d.deadEnds.map(deadEndLine), 'None this week.'));
  parts.push(
    ...list('Top insights of the week', d.topInsights.map(insightLine), 'No new wins in the insights.'),
  );
  parts.push('## Spend', spendLines(d).join('\n'));
  const rows = d.series.map(
    (p) =>
      `| ${p.week} | ${fmtUsd(p.usd)} | ${fmtHours(p.gpuHours)} | ${p.bestImprovement === undefined ? '-' : pct(p.bestImprovement)} |`,
  );
  parts.push(
    `## Last ${d.series.length} weeks`,
    ['| week | spend | GPU-hours | best improvement |', '| --- | --- | --- | --- |', ...rows].join('\n'),
  );
  return `${parts.join('\n\n')}\n`;
}
