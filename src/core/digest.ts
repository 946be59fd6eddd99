import { spentGpuHours } from './decide.ts';
import { type DigestWeek, weekBefore } from './digest-week.ts';
import { describeChange } from './knobs.ts';
import type { InsightRow, PlanState } from './model.ts';

// The weekly digest of one Slack channel, computed from plan states and insight rows: pure, with the week
// (and so the clock) passed in. The weeks themselves (ISO weeks on the wall clock of the digest's time zone)
// are in digest-week.ts; their names are re-exported here so importers need only this file.

export {
  type DigestWeek,
  isValidTimeZone,
  latestScheduled,
  localParts,
  reportedWeek,
  startOfLocalDay,
  weekBefore,
  weekContaining,
} from './digest-week.ts';

export interface DigestWin {
  planId: string;
  model: string;
  goal: string;
  metric: string;
  change: string;
  relEffect: number;
  lo: number;
  hi: number;
  seeds: number;
  /** What the whole plan cost in dollars (GPU time at the plan's price plus research-agent calls). */
  usd: number;
  /** The plan's dollars per percentage point of improvement. */
  usdPerPoint: number | undefined;
  /** `owner/repo#N` of the promotion PR when one was opened; a win without it awaits promotion. */
  promotion?: string;
  finishedAt: string;
}

export interface DigestPlanLine {
  planId: string;
  model: string;
  goal: string;
  status: PlanState['status'];
  phase: PlanState['phase'];
  pauseReason?: PlanState['pauseReason'];
  spentGpuHours: number;
  /** Approved GPU-hours (running) or requested (awaiting approval). */
  budgetGpuHours: number;
  usdPerGpuHour: number;
  /** Estimate of the whole plan (p50, p90) in dollars; shown for plans awaiting approval. */
  estimateUsd: { p50: number; p90: number };
}

export interface DigestEnded {
  planId: string;
  model: string;
  goal: string;
  status: PlanState['status'];
  reason: string;
}

export interface DigestInsight {
  model: string;
  title: string;
  status: InsightRow['status'];
  meanEffect: number;
  lo: number;
  hi: number;
  nRuns: number;
  nPlans: number;
  fidelity: number;
  reason: string;
}

export interface DigestWeekPoint {
  week: string;
  /** Monday's local date, for chart labels. */
  monday: string;
  usd: number;
  gpuHours: number;
  /** Best confirmed relative improvement of a plan that finished in the week; undefined when none did. */
  bestImprovement: number | undefined;
}

export interface Digest {
  channel: string;
  week: DigestWeek;
  /** True when the week has not ended yet (`/rea digest now`, the CLI): figures are "so far". */
  partial: boolean;
  plansInWeek: number;
  wins: DigestWin[];
  /** Plans that ended in the week without a confirmed winner (and why). */
  endedWithoutWin: DigestEnded[];
  running: DigestPlanLine[];
  awaitingApproval: DigestPlanLine[];
  /** Changes the week's evidence showed to hurt (loss) or not to run (infeasible), with the reason. */
  deadEnds: DigestInsight[];
  /** Wins among the insights updated in the week, most conservative first (highest lower bound). */
  topInsights: DigestInsight[];
  spend: {
    /** GPU-hours of attempts that finished (or, unfinished, started) in the week, and their dollars. */
    gpuHours: number;
    usd: number;
    /** Research-agent dollars of plans created in the week. */
    llmUsd: number;
    attempts: number;
    failedAttempts: number;
    /** Open plans (running, paused, awaiting approval): GPU-hours spent to date against approved. */
    openSpentGpuHours: number;
    openApprovedGpuHours: number;
    openSpentUsd: number;
    openApprovedUsd: number;
  };
  /**
   * Dollars per percentage point of improvement this week: everything the channel spent in the week (GPU and
   * research agents, dead ends included, because they are the price of finding wins) divided by the sum of
   * the confirmed improvements (in percentage points of each plan's primary metric) of the plans that
   * finished with a winner in the week. Undefined when nothing was gained.
   */
  usdPerPoint: number | undefined;
  pointsGained: number;
  /** Spend and best improvement per week, oldest first, ending with this week (8 weeks by default). */
  series: DigestWeekPoint[];
}

export interface DigestInput {
  channel: string;
  week: DigestWeek;
  /** The channel's plans (plansOfChannel), or a model's plans on the CLI; any that touch the 8 weeks. */
  plans: readonly PlanState[];
  insights: readonly InsightRow[];
  /** When the digest is made: a week that ends after it is partial. */
  now: string;
  weeks?: number;
  /** How many insights and dead ends to list. */
  top?: number;
}

const OPEN: ReadonlySet<PlanState['status']> = new Set(['awaiting_approval', 'running', 'paused']);

/** The plans whose thread is in `channel` (a channel id once the parent message was posted). */
export function plansOfChannel(plans: readonly PlanState[], channel: string): PlanState[] {
  return plans.filter((p) => p.slack?.channel === channel);
}

/** When a plan ended: its last change, for a plan in a terminal state; undefined while it is open. */
export function planEndedAt(plan: PlanState): string | undefined {
  return OPEN.has(plan.status) ? undefined : plan.updatedAt;
}

/** A plan belongs to a week when it existed during it and had not ended before it began. */
export function planInWeek(plan: PlanState, week: DigestWeek): boolean {
  const ended = planEndedAt(plan);
  return plan.createdAt < week.end && (ended === undefined || ended >= week.start);
}

/**
 * Channels that get a digest for `week`: those with a posted plan thread (so the channel is an id) and a
 * plan that was open during the week. A channel whose first plan came later waits for its own first week.
 */
export function channelsWithPlans(plans: readonly PlanState[], week: DigestWeek): string[] {
  const out = new Set<string>();
  for (const p of plans) if (p.slack?.channel && p.slack.ts && planInWeek(p, week)) out.add(p.slack.channel);
  return [...out].sort();
}

function llmUsd(plan: PlanState): number {
  return (plan.llmUsage ?? []).reduce((s, u) => s + u.usd, 0);
}

function planUsd(plan: PlanState): number {
  return spentGpuHours(plan) * plan.spec.usdPerGpuHour + llmUsd(plan);
}

const within = (iso: string, week: DigestWeek) => iso >= week.start && iso < week.end;

function insightLine(r: InsightRow): DigestInsight {
  return {
    model: r.model,
    title: r.title,
    status: r.status,
    meanEffect: r.meanEffect,
    lo: r.lo,
    hi: r.hi,
    nRuns: r.nRuns,
    nPlans: r.nPlans,
    fidelity: r.fidelity,
    reason: r.reason,
  };
}

function planLine(p: PlanState): DigestPlanLine {
  return {
    planId: p.id,
    model: p.spec.model,
    goal: p.goal,
    status: p.status,
    phase: p.phase,
    ...(p.pauseReason ? { pauseReason: p.pauseReason } : {}),
    spentGpuHours: spentGpuHours(p),
    budgetGpuHours: p.status === 'awaiting_approval' ? p.budget.requestedGpuHours : p.budget.approvedGpuHours,
    usdPerGpuHour: p.spec.usdPerGpuHour,
    estimateUsd: { p50: p.estimate.usdP50, p90: p.estimate.usdP90 },
  };
}

const byId = (a: { planId: string }, b: { planId: string }) => a.planId.localeCompare(b.planId);

/** The digest of `input.channel` for `input.week`. */
export function computeDigest(input: DigestInput): Digest {
  const { week, now } = input;
  const nWeeks = input.weeks ?? 8;
  const top = input.top ?? 5;
  const plans = input.plans;
  const inWeek = plans.filter((p) => planInWeek(p, week));

  // Week boundaries of the series, oldest first; attempts are bucketed by binary search over them.
  const weeks = Array.from({ length: nWeeks }, (_, i) => weekBefore(week, nWeeks - 1 - i));
  const bounds = weeks.map((w) => w.start);
  const seriesEnd = week.end;
  const bucket = (iso: string): number => {
    if (iso < bounds[0]! || iso >= seriesEnd) return -1;
    let lo = 0;
    let hi = bounds.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (bounds[mid]! <= iso) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  };
  const series: DigestWeekPoint[] = weeks.map((w) => ({
    week: w.key,
    monday: w.monday,
    usd: 0,
    gpuHours: 0,
    bestImprovement: undefined,
  }));
  const last = nWeeks - 1;
  let attempts = 0;
  let failedAttempts = 0;
  let weekLlm = 0;
  for (const p of plans) {
    const price = p.spec.usdPerGpuHour;
    for (const r of p.runs) {
      for (const a of r.attempts) {
        const at = a.finishedAt ?? a.startedAt ?? a.dispatchedAt;
        const b = bucket(at);
        if (b < 0) continue;
        const point = series[b]!;
        point.gpuHours += a.gpuHours ?? 0;
        point.usd += (a.gpuHours ?? 0) * price;
        if (b === last) {
          attempts += 1;
          if (a.status === 'failed') failedAttempts += 1;
        }
      }
    }
    const b = bucket(p.createdAt);
    if (b >= 0) {
      series[b]!.usd += llmUsd(p);
      if (b === last) weekLlm += llmUsd(p);
    }
    const ended = planEndedAt(p);
    if (ended && p.winner && p.winner.relEffect > 0) {
      const e = bucket(ended);
      if (e >= 0) {
        const point = series[e]!;
        point.bestImprovement = Math.max(point.bestImprovement ?? -Infinity, p.winner.relEffect);
      }
    }
  }

  const wins: DigestWin[] = [];
  const endedWithoutWin: DigestEnded[] = [];
  for (const p of inWeek) {
    const ended = planEndedAt(p);
    if (!ended || !within(ended, week)) continue;
    const w = p.winner;
    if (p.status === 'completed' && w && w.relEffect > 0) {
      const cost = planUsd(p);
      const o = p.origin;
      wins.push({
        planId: p.id,
        model: p.spec.model,
        goal: p.goal,
        metric: p.spec.metric.name,
        change: describeChange(p.baseline, w.overrides),
        relEffect: w.relEffect,
        lo: w.lo,
        hi: w.hi,
        seeds: w.n,
        usd: cost,
        usdPerPoint: cost > 0 ? cost / (w.relEffect * 100) : undefined,
        ...(o?.promotionPr ? { promotion: `${o.owner}/${o.repo}#${o.promotionPr}` } : {}),
        finishedAt: ended,
      });
    } else {
      endedWithoutWin.push({
        planId: p.id,
        model: p.spec.model,
        goal: p.goal,
        status: p.status,
        reason: p.finishedReason ?? (p.status === 'completed' ? 'no confirmed winner' : p.status),
      });
    }
  }
  wins.sort((a, b) => b.relEffect - a.relEffect || byId(a, b));
  endedWithoutWin.sort(byId);

  const open = plans.filter((p) => OPEN.has(p.status));
  const running = open
    .filter((p) => p.status !== 'awaiting_approval')
    .map(planLine)
    .sort(byId);
  const awaitingApproval = open
    .filter((p) => p.status === 'awaiting_approval')
    .map(planLine)
    .sort(byId);
  const openApproved = open.filter((p) => p.status !== 'awaiting_approval');

  const models = new Set(inWeek.map((p) => p.spec.model));
  const touched = input.insights.filter((r) => models.has(r.model) && within(r.updatedAt, week));
  const topInsights = touched
    .filter((r) => r.status === 'win')
    .sort((a, b) => b.lo - a.lo || b.meanEffect - a.meanEffect || a.title.localeCompare(b.title))
    .slice(0, top)
    .map(insightLine);
  const deadEnds = touched
    .filter((r) => r.status === 'loss' || r.status === 'infeasible')
    .sort((a, b) => b.nRuns - a.nRuns || a.title.localeCompare(b.title))
    .slice(0, top)
    .map(insightLine);

  const weekPoint = series[last]!;
  const pointsGained = wins.reduce((s, w) => s + w.relEffect * 100, 0);
  const weekUsd = weekPoint.usd;
  return {
    channel: input.channel,
    week,
    partial: now < week.end,
    plansInWeek: inWeek.length,
    wins,
    endedWithoutWin,
    running,
    awaitingApproval,
    deadEnds,
    topInsights,
    spend: {
      gpuHours: weekPoint.gpuHours,
      usd: weekUsd - weekLlm,
      llmUsd: weekLlm,
      attempts,
      failedAttempts,
      openSpentGpuHours: openApproved.reduce((s, p) => s + spentGpuHours(p), 0),
      openApprovedGpuHours: openApproved.reduce((s, p) => s + p.budget.approvedGpuHours, 0),
      openSpentUsd: openApproved.reduce((s, p) => s + spentGpuHours(p) * p.spec.usdPerGpuHour, 0),
      openApprovedUsd: openApproved.reduce((s, p) => s + p.budget.approvedGpuHours * p.spec.usdPerGpuHour, 0),
    },
    usdPerPoint: pointsGained > 0 && weekUsd > 0 ? weekUsd / pointsGained : undefined,
    pointsGained,
    series,
  };
}
