import { type BenchResult, type BenchStrategy, isPeer, PEERS, type StrategySummary } from './bench.ts';
import { hoursText, pctText } from './format.ts';
import { type Spread, spread } from './measure.ts';
import type { PlanOutcome } from './types.ts';

// Issue 24's acceptance (a planner that wins), measured on one bench result: one check per criterion, each
// PASS, FAIL or n/a (a strategy it needs was not run, or there is nothing to measure; the figure says which).
// Peers from a --reference count as run: they are the same protocol.

export interface AcceptanceCheck {
  name: string;
  /** undefined: n/a, and the figure says why. */
  pass: boolean | undefined;
  figure: string;
}

/**
 * The third bundled task (issue 23 item 1), where issue 24 also asks for twice random search's improvement.
 * Recognised by the model name the result carries, as that is all a result knows of its task.
 */
export const THIRD_TASK_MODEL = 'interaction-ranker';

/** Share of confirmed winners that may be worse than the baseline on the fresh seeds. */
const FALSE_WINNER_RATE = 1 / 20;

const na = (name: string, why: string): AcceptanceCheck => ({ name, pass: undefined, figure: why });

function points(x: number): string {
  return Number.isFinite(x) ? `${(x * 100).toFixed(2)} points` : 'n/a';
}

/** Every rea plan of the bench, the warm-started seconds included: the budget promise holds for each. */
export function reaPlans(r: BenchResult): PlanOutcome[] {
  return r.results
    .filter((x) => x.strategy === 'rea' || x.strategy === 'rea-warm')
    .flatMap((x) => x.plans ?? []);
}

/**
 * A plan that ends without a winner may leave a tenth of its budget, or one full run when that is more (as the
 * promise is tested: a later plan of a repetition runs on what earlier ones left, sometimes a few runs' worth).
 */
export function leftUnspent(p: PlanOutcome, fullRunGpuHours: number): boolean {
  const slack = Math.max(0.1 * p.approvedGpuHours, fullRunGpuHours);
  return !p.winner && p.approvedGpuHours - p.spentGpuHours > slack + 1e-12;
}

export function overBudget(p: PlanOutcome): boolean {
  return p.spentGpuHours > p.approvedGpuHours * (1 + 1e-9);
}

function bestPeerCheck(rea: StrategySummary | undefined, r: BenchResult): AcceptanceCheck {
  const name = "rea's median final improvement is at least the best peer's";
  const peers = r.summaries.filter((s) => isPeer(s.strategy) && s.seeds > 0);
  if (!rea) return na(name, 'rea was not run');
  if (peers.length === 0) return na(name, `no peer was run (peers: ${PEERS.join(', ')})`);
  const best = peers.reduce((a, b) => (b.finalImprovement.median > a.finalImprovement.median ? b : a));
  const missing = PEERS.filter((p) => !peers.some((s) => s.strategy === p));
  const a = rea.finalImprovement.median;
  const b = best.finalImprovement.median;
  const figure = `median final improvement: rea ${pctText(a)}, best peer ${best.strategy} ${pctText(b)} (${peers.map((s) => `${s.strategy} ${pctText(s.finalImprovement.median)}`).join(', ')})${missing.length > 0 ? `; not run: ${missing.join(', ')}` : ''}`;
  // A peer not run can only raise the bar: below one that ran is a FAIL already, above all that ran is not a PASS.
  return { name, pass: a < b ? false : missing.length > 0 ? undefined : true, figure };
}

function thirdTaskCheck(
  rea: StrategySummary | undefined,
  random: StrategySummary | undefined,
): AcceptanceCheck {
  const name = `on the third task (${THIRD_TASK_MODEL}), rea's median final improvement is at least twice random search's`;
  if (!rea || !random) return na(name, `${rea ? 'random' : 'rea'} was not run`);
  const a = rea.finalImprovement.median;
  const b = random.finalImprovement.median;
  return {
    name,
    pass: a >= 2 * b,
    figure: `median final improvement: rea ${pctText(a)}, random ${pctText(b)} (twice: ${pctText(2 * b)})`,
  };
}

function speedCheck(
  rea: StrategySummary | undefined,
  random: StrategySummary | undefined,
  r: BenchResult,
): AcceptanceCheck {
  const name =
    'rea reaches 90% of the best improvement any strategy found in at most half the GPU-hours random search needs (medians, never reaching counts as infinite)';
  if (!rea || !random) return na(name, `${rea ? 'random' : 'rea'} was not run`);
  if (!(r.bestImprovement > 0)) return na(name, 'no strategy improved on the baseline: nothing to reach');
  const a = rea.hoursTo90.median;
  const b = random.hoursTo90.median;
  const ratio = Number.isFinite(a) && Number.isFinite(b) && b > 0 ? ` (ratio ${(a / b).toFixed(2)})` : '';
  return {
    name,
    // Reaching it is required: two "not reached" are not a win (Infinity <= Infinity / 2 would say so).
    pass: Number.isFinite(a) && a <= 0.5 * b,
    figure: `median GPU-hours to 90% of ${pctText(r.bestImprovement)}: rea ${hoursText(a, r.fullRunGpuHours)} (reached on ${rea.reached90}/${rea.seeds} seeds), random ${hoursText(b, r.fullRunGpuHours)} (${random.reached90}/${random.seeds})${ratio}`,
  };
}

function warmStartCheck(r: BenchResult): AcceptanceCheck {
  const name =
    "warm start: a second plan with the first plan's insights reaches the first plan's improvement with at most half its GPU-hours, and its final improvement is not lower (medians)";
  const w = r.warmStart;
  if (!w) return na(name, 'rea-warm was not run (--warm-start)');
  const first = spread(w.perSeed.map((x) => x.firstImprovement)).median;
  const second = spread(w.perSeed.map((x) => x.secondImprovement)).median;
  const notLower = second >= first;
  const ratio = w.ratio;
  const ratioText =
    ratio.n === 0
      ? `no ratio: the first plan found nothing to reach on any of ${w.perSeed.length} seeds`
      : `median ratio second/first ${ratioNumber(ratio.median)} [${ratioNumber(ratio.q1)}, ${ratioNumber(ratio.q3)}] over the ${ratio.n} of ${w.perSeed.length} seeds whose first plan found an improvement`;
  const fast = ratio.n === 0 ? undefined : ratio.median <= 0.5;
  return {
    name,
    pass: !notLower || fast === false ? false : fast,
    figure: `${ratioText}; median final improvement: second ${pctText(second)}, first ${pctText(first)}`,
  };
}

function ratioNumber(x: number): string {
  return Number.isFinite(x) ? x.toFixed(2) : 'not reached';
}

function falseWinnerCheck(plans: PlanOutcome[], ran: boolean): AcceptanceCheck {
  const name = 'at most 1 in 20 of the winners rea confirms is worse than the baseline on the fresh seeds';
  if (!ran) return na(name, 'rea was not run');
  const winners = plans.filter((p) => p.winner && p.winnerImprovement !== undefined);
  if (winners.length === 0) return na(name, `rea confirmed no winner in ${plans.length} plans`);
  const worse = winners.filter((p) => p.winnerImprovement! < 0);
  return {
    name,
    pass: worse.length <= FALSE_WINNER_RATE * winners.length + 1e-12,
    figure: `${worse.length} of ${winners.length} confirmed winners worse than the baseline${worse.length > 0 ? ` (${worse.map((p) => `${p.id} ${pctText(p.winnerImprovement!)}`).join(', ')})` : ''}`,
  };
}

function iqrCheck(rea: StrategySummary | undefined, tpe: StrategySummary | undefined): AcceptanceCheck {
  const name = "rea's interquartile range of final improvement is no wider than TPE's";
  if (!rea || !tpe) return na(name, `${rea ? 'tpe' : 'rea'} was not run`);
  const iqr = (s: Spread) => s.q3 - s.q1;
  const range = (s: Spread) => `[${pctText(s.q1)}, ${pctText(s.q3)}]`;
  const a = iqr(rea.finalImprovement);
  const b = iqr(tpe.finalImprovement);
  return {
    name,
    pass: a <= b + 1e-12,
    figure: `interquartile range: rea ${points(a)} ${range(rea.finalImprovement)}, tpe ${points(b)} ${range(tpe.finalImprovement)}`,
  };
}

function budgetHeldCheck(plans: PlanOutcome[], ran: boolean): AcceptanceCheck {
  const name = 'budget held: no rea plan spends more than its approved budget';
  if (!ran) return na(name, 'rea was not run');
  const over = plans.filter(overBudget);
  return {
    name,
    pass: over.length === 0,
    figure: `${over.length} of ${plans.length} plans over budget${over.length > 0 ? ` (${over.map((p) => `${p.id}: ${short(p.spentGpuHours)} of ${short(p.approvedGpuHours)}`).join('; ')})` : ''}`,
  };
}

function unspentCheck(plans: PlanOutcome[], ran: boolean, full: number): AcceptanceCheck {
  const name =
    'no rea plan ends without a confirmed winner and more than 10% of its budget (or one full run, when that is more) unspent';
  if (!ran) return na(name, 'rea was not run');
  const left = plans.filter((p) => leftUnspent(p, full));
  return {
    name,
    pass: left.length === 0,
    figure: `${left.length} of ${plans.length} plans${left.length > 0 ? ` (${left.map((p) => `${p.id}: ${short(p.approvedGpuHours - p.spentGpuHours)} of ${short(p.approvedGpuHours)} left`).join('; ')})` : ''}`,
  };
}

function short(h: number): string {
  return String(Number(h.toPrecision(3)));
}

/** Issue 24's acceptance criteria, in its order, on this result. */
export function acceptance(r: BenchResult): AcceptanceCheck[] {
  const by = (s: BenchStrategy) => r.summaries.find((x) => x.strategy === s && x.seeds > 0);
  const rea = by('rea');
  const random = by('random');
  const plans = reaPlans(r);
  const ran = rea !== undefined || by('rea-warm') !== undefined;
  return [
    bestPeerCheck(rea, r),
    // Twice random search is asked of the third task only.
    ...(r.model === THIRD_TASK_MODEL ? [thirdTaskCheck(rea, random)] : []),
    speedCheck(rea, random, r),
    warmStartCheck(r),
    falseWinnerCheck(plans, ran),
    iqrCheck(rea, by('tpe')),
    budgetHeldCheck(plans, ran),
    unspentCheck(plans, ran, r.fullRunGpuHours),
  ];
}

/** One Markdown line per check. */
export function acceptanceLines(checks: readonly AcceptanceCheck[]): string[] {
  const verdict = (p: boolean | undefined) => (p === undefined ? 'n/a' : p ? 'PASS' : 'FAIL');
  return checks.map((c) => `- ${verdict(c.pass)}: ${c.name}. ${c.figure}.`);
}
