import type { KnobValues } from '../config/rea-config.ts';
import { describeChange } from '../core/knobs.ts';
import { acceptance, acceptanceLines, leftUnspent, overBudget, reaPlans } from './acceptance.ts';
import type { BenchResult, StrategySummary } from './bench.ts';
import { hoursText, pctText } from './format.ts';
import { medianCurve, type Spread } from './measure.ts';

// Rendering of a bench result: the Markdown table (also what the README quotes), the acceptance block of
// issue 24 (src/bench/acceptance.ts), the JSON for scripts and the chart's data.

export { pctText };

function spreadText(s: Spread, f: (x: number) => string, g: (x: number) => string = f): string {
  if (s.n === 0) return 'n/a';
  return `${f(s.median)} [${g(s.q1)}, ${g(s.q3)}]`;
}

function shortHours(h: number): string {
  if (h === Number.POSITIVE_INFINITY) return 'not reached';
  return Number.isFinite(h) ? String(Number(h.toPrecision(3))) : 'n/a';
}

function row(s: StrategySummary, full: number, borrowed = false): string {
  const h = (x: number) => hoursText(x, full);
  return `| ${s.strategy}${borrowed ? ' (reference)' : ''} | ${s.seeds} | ${spreadText(s.finalImprovement, pctText)} | ${spreadText(s.gpuHoursUsed, h, shortHours)} | ${spreadText(s.hoursTo50, h, shortHours)} (${s.reached50}/${s.seeds}) | ${spreadText(s.hoursTo90, h, shortHours)} (${s.reached90}/${s.seeds}) |`;
}

export function pickText(baseline: KnobValues, pick: KnobValues | undefined): string {
  if (!pick) return 'the baseline';
  // Full configurations (random search, TPE) repeat baseline values: show only what changed.
  const changed = Object.fromEntries(Object.entries(pick).filter(([k, v]) => baseline[k] !== v));
  return Object.keys(changed).length > 0 ? describeChange(baseline, changed) : 'the baseline';
}

export function renderMarkdown(
  r: BenchResult,
  baseline: KnobValues,
  extra: { cache: string; command: string },
): string {
  const lines: string[] = [];
  lines.push(`# Search efficiency: ${r.model}`);
  lines.push('');
  lines.push(
    `Metric \`${r.metric}\` (${r.goal}); budget ${Number(r.budgetGpuHours.toPrecision(4))} GPU-hours per strategy and seed (${Number((r.budgetGpuHours / r.fullRunGpuHours).toPrecision(3))} full runs of ${r.fullRunGpuHours} GPU-hours); ${r.seeds.length} seeds. A run is charged fidelity x run.baseline_gpu_hours, for every strategy.`,
  );
  lines.push(
    `Improvement: each pick re-trained at full fidelity on fresh seeds ${r.evalSeeds.join(', ')}, paired with the baseline on the same seeds. Best found by any strategy: ${pctText(r.bestImprovement)} (${pickText(baseline, r.bestPick)}). GPU-hours to X%: the first point where the strategy's pick reaches X% of that best; median [IQR] over seeds, "not reached" counted as infinite.`,
  );
  lines.push('');
  lines.push(
    '| strategy | seeds | final improvement | GPU-hours used | GPU-hours to 50% (reached) | GPU-hours to 90% (reached) |',
  );
  lines.push('| --- | --- | --- | --- | --- | --- |');
  const borrowed = new Set<string>(r.reference?.strategies ?? []);
  for (const s of r.summaries) lines.push(row(s, r.fullRunGpuHours, borrowed.has(s.strategy)));
  for (const s of r.skipped) lines.push(`| ${s.strategy} | skipped | ${s.reason} | | | |`);
  if (r.warmStart) {
    lines.push('');
    lines.push("Warm start (a second rea plan with the first plan's insights), per seed:");
    lines.push('');
    lines.push(
      '| seed | first plan improvement | first: GPU-hours to reach it | second: GPU-hours to reach it | ratio | second plan improvement |',
    );
    lines.push('| --- | --- | --- | --- | --- | --- |');
    for (const w of r.warmStart.perSeed) {
      const h = (x: number | undefined) =>
        x === undefined ? 'not reached' : hoursText(x, r.fullRunGpuHours);
      lines.push(
        `| ${w.seed} | ${pctText(w.firstImprovement)} | ${h(w.firstHoursToReach)} | ${h(w.secondHoursToReach)} | ${w.ratio === undefined ? 'n/a (nothing to reach)' : Number.isFinite(w.ratio) ? w.ratio.toFixed(2) : 'not reached'} | ${pctText(w.secondImprovement)} |`,
      );
    }
  }
  lines.push(...budgetLines(r));
  lines.push('');
  lines.push("Acceptance (issue 24, the planner's criteria; n/a when a strategy it needs was not run):");
  lines.push('');
  lines.push(...acceptanceLines(acceptance(r)));
  lines.push('');
  if (r.reference && r.reference.strategies.length > 0) {
    lines.push(
      `Rows marked (reference) are not from this run: they come from ${r.reference.file} (\`${r.reference.command}\`), the same protocol (${r.protocol}), re-scored against the best of both.`,
    );
    lines.push('');
  }
  lines.push(`Trainings: ${extra.cache}. Command: \`${extra.command}\``);
  return `${lines.join('\n')}\n`;
}

/**
 * The budget promise over every rea plan the bench ran (warm-started ones included): none over what it was
 * approved, and none ending without a confirmed winner with more than a tenth of its budget unspent. Stop
 * reasons are counted.
 */
export function budgetLines(r: BenchResult): string[] {
  const plans = reaPlans(r);
  if (plans.length === 0) return [];
  const over = plans.filter(overBudget);
  const unspent = plans.filter((p) => leftUnspent(p, r.fullRunGpuHours));
  const reasons = new Map<string, number>();
  for (const p of plans) reasons.set(p.stopReason, (reasons.get(p.stopReason) ?? 0) + 1);
  return [
    '',
    `Budget (rea, ${plans.length} plans over ${r.seeds.length} seeds): ${over.length} over budget; ${unspent.length} ended without a confirmed winner with more than 10% (or one full run) unspent${unspent.length > 0 ? ` (${unspent.map((p) => `${p.id}: ${Number((p.approvedGpuHours - p.spentGpuHours).toPrecision(3))} of ${Number(p.approvedGpuHours.toPrecision(3))}`).join('; ')})` : ''}. Stop reasons: ${[
      ...reasons,
    ]
      .map(([k, n]) => `${k} (${n})`)
      .join('; ')}.`,
  ];
}

export function benchJson(r: BenchResult, command: string) {
  const num = (x: number) => (Number.isFinite(x) ? x : null);
  const sp = (s: Spread) => ({
    median: num(s.median),
    q1: num(s.q1),
    q3: num(s.q3),
    min: num(s.min),
    max: num(s.max),
  });
  return {
    // What makes rows comparable, and how to make them again: the file is reusable as a --reference.
    protocol: r.protocol,
    command,
    optuna_version: r.optunaVersion ?? null,
    ...(r.reference
      ? {
          reference: {
            file: r.reference.file,
            command: r.reference.command,
            strategies: r.reference.strategies,
          },
        }
      : {}),
    model: r.model,
    metric: r.metric,
    goal: r.goal,
    budget_gpu_hours: r.budgetGpuHours,
    full_run_gpu_hours: r.fullRunGpuHours,
    eval_seeds: r.evalSeeds,
    best_improvement: r.bestImprovement,
    best_pick: r.bestPick ?? null,
    skipped: r.skipped,
    strategies: Object.fromEntries(
      r.summaries.map((s) => [
        s.strategy,
        {
          summary: {
            final_improvement: sp(s.finalImprovement),
            gpu_hours_used: sp(s.gpuHoursUsed),
            gpu_hours_to_50: sp(s.hoursTo50),
            gpu_hours_to_90: sp(s.hoursTo90),
            reached_50: s.reached50,
            reached_90: s.reached90,
          },
          seeds: r.results
            .filter((x) => x.strategy === s.strategy)
            .map((x) => ({
              seed: x.seed,
              final_improvement: x.finalImprovement,
              // The knob values the strategy would ship (the baseline's when it picked nothing).
              pick: x.finalPick ?? {},
              final_pick: x.finalPick ?? null,
              gpu_hours_used: x.gpuHoursUsed,
              runs: x.runs,
              gpu_hours_to_50: x.hoursTo50 ?? null,
              gpu_hours_to_90: x.hoursTo90 ?? null,
              // [GPU-hours so far, the pick's fresh-seed improvement] after each run: what --reference re-scores.
              trajectory: x.trajectory.map((p) => [p.gpuHours, p.improvement]),
              ...(x.plans
                ? {
                    plans: x.plans.map((p) => ({
                      id: p.id,
                      approved_gpu_hours: p.approvedGpuHours,
                      spent_gpu_hours: p.spentGpuHours,
                      winner: p.winner,
                      stop_reason: p.stopReason,
                      // The confirmed winner and what it is worth on the fresh seeds (issue 24: at most 1 in
                      // 20 may be worse than the baseline).
                      winner_pick: p.winnerPick ?? null,
                      winner_improvement: p.winnerImprovement ?? null,
                    })),
                  }
                : {}),
            })),
        },
      ]),
    ),
    // pass: null is n/a (the figure says why).
    acceptance: acceptance(r).map((c) => ({ name: c.name, pass: c.pass ?? null, figure: c.figure })),
    ...(r.warmStart
      ? {
          warm_start: {
            ratio: sp(r.warmStart.ratio),
            seeds: r.warmStart.perSeed.map((w) => ({
              seed: w.seed,
              first_improvement: w.firstImprovement,
              first_gpu_hours_to_reach: w.firstHoursToReach ?? null,
              second_gpu_hours_to_reach: w.secondHoursToReach ?? null,
              ratio: w.ratio === undefined ? null : Number.isFinite(w.ratio) ? w.ratio : 'not reached',
              second_improvement: w.secondImprovement,
            })),
          },
        }
      : {}),
  };
}

/** The chart's data: each strategy's median pick improvement on a grid from 0 to the budget. */
export function chartData(r: BenchResult, points = 120) {
  const grid = Array.from({ length: points + 1 }, (_, i) => (r.budgetGpuHours * i) / points);
  const series = r.summaries.map((s) => ({
    label: `${s.strategy} (median of ${s.seeds})`,
    values: medianCurve(
      r.results.filter((x) => x.strategy === s.strategy).map((x) => x.trajectory),
      grid,
    ),
  }));
  const guides =
    r.bestImprovement > 0
      ? [
          { label: '50% of best', value: 0.5 * r.bestImprovement },
          { label: '90% of best', value: 0.9 * r.bestImprovement },
        ]
      : [];
  return { grid, series, guides };
}
