import { spentGpuHours } from './decide.ts';
import { describeChange } from './knobs.ts';
import type { InsightRow, PlanState } from './model.ts';

// The weekly digest of one Slack channel, computed from plan states and insight rows: pure, with the week
// (and so the clock) passed in. Weeks are ISO weeks (Monday 00:00 to the next Monday 00:00) on the wall clock
// of the digest's time zone; the time-zone arithmetic uses only Intl (UTC -> local), never offsets guessed by
// hand, so DST weeks come out 167 or 169 hours long as they are.

// ------------------------------------------------------------------ weeks in a time zone

export interface DigestWeek {
  /** ISO week label, e.g. `2026-W47`: the key of digests_sent (one digest per channel and week). */
  key: string;
  /** First instant of Monday 00:00 local (ISO, UTC). */
  start: string;
  /** First instant of the next Monday (exclusive). */
  end: string;
  timeZone: string;
  /** Monday's local date, e.g. `2026-11-16`. */
  monday: string;
}

interface LocalParts {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  /** ISO weekday: Monday 1 .. Sunday 7. */
  weekday: number;
}

const WEEKDAYS: Record<string, number> = { Mon: 1, Tue: 2, Wed: 3, Thu: 4, Fri: 5, Sat: 6, Sun: 7 };
const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      weekday: 'short',
    });
    formatters.set(timeZone, f);
  }
  return f;
}

/** True when Intl knows the zone (`UTC`, `Europe/Paris`, ...). */
export function isValidTimeZone(timeZone: string): boolean {
  try {
    formatter(timeZone);
    return true;
  } catch {
    return false;
  }
}

/** The wall clock of `timeZone` at instant `ms`. */
export function localParts(ms: number, timeZone: string): LocalParts {
  const out: Record<string, string> = {};
  for (const p of formatter(timeZone).formatToParts(ms)) out[p.type] = p.value;
  return {
    year: Number(out.year),
    month: Number(out.month),
    day: Number(out.day),
    hour: Number(out.hour),
    minute: Number(out.minute),
    weekday: WEEKDAYS[out.weekday ?? ''] ?? 0,
  };
}

const dayNumber = (y: number, m: number, d: number) => Math.floor(Date.UTC(y, m - 1, d) / 86_400_000);
const DAY_MS = 86_400_000;

function ymd(dayNo: number): { y: number; m: number; d: number; iso: string } {
  const date = new Date(dayNo * DAY_MS);
  const iso = date.toISOString().slice(0, 10);
  return { y: date.getUTCFullYear(), m: date.getUTCMonth() + 1, d: date.getUTCDate(), iso };
}

/**
 * The first instant whose local date in `timeZone` is on or after calendar day `dayNo` (days since
 * 1970-01-01). Local dates never go backwards as time moves on, so a binary search over the window where the
 * day can start (UTC midnight +-15 hours covers every offset) finds it exactly, gaps at midnight included.
 */
export function startOfLocalDay(dayNo: number, timeZone: string): number {
  let lo = dayNo * DAY_MS - 15 * 3_600_000;
  let hi = dayNo * DAY_MS + 15 * 3_600_000;
  const localDay = (ms: number) => {
    const p = localParts(ms, timeZone);
    return dayNumber(p.year, p.month, p.day);
  };
  // Minute precision is enough for every zone in use (offsets are whole minutes); finish at the millisecond.
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (localDay(mid) >= dayNo) hi = mid;
    else lo = mid;
  }
  return hi;
}

/** ISO 8601 week label of a calendar day: the week belongs to the year of its Thursday. */
function isoWeekKey(mondayDayNo: number): string {
  const thursday = ymd(mondayDayNo + 3);
  const jan1 = dayNumber(thursday.y, 1, 1);
  const week = Math.floor((mondayDayNo + 3 - jan1) / 7) + 1;
  return `${thursday.y}-W${String(week).padStart(2, '0')}`;
}

function weekFromMonday(mondayDayNo: number, timeZone: string): DigestWeek {
  return {
    key: isoWeekKey(mondayDayNo),
    start: new Date(startOfLocalDay(mondayDayNo, timeZone)).toISOString(),
    end: new Date(startOfLocalDay(mondayDayNo + 7, timeZone)).toISOString(),
    timeZone,
    monday: ymd(mondayDayNo).iso,
  };
}

/** The ISO week (in `timeZone`) that contains the instant. */
export function weekContaining(at: string | number, timeZone: string): DigestWeek {
  const ms = typeof at === 'number' ? at : Date.parse(at);
  const p = localParts(ms, timeZone);
  return weekFromMonday(dayNumber(p.year, p.month, p.day) - (p.weekday - 1), timeZone);
}

/** The week `n` weeks before `week` (n may be 0). */
export function weekBefore(week: DigestWeek, n: number, timeZone = week.timeZone): DigestWeek {
  const [y, m, d] = week.monday.split('-').map(Number) as [number, number, number];
  return weekFromMonday(dayNumber(y, m, d) - 7 * n, timeZone);
}

/**
 * The week a scheduled digest reports: the last complete week at the scheduled instant. With the default
 * schedule (Monday 09:00) that is the week that ended nine hours earlier.
 */
export function reportedWeek(scheduledAt: string | number, timeZone: string): DigestWeek {
  return weekBefore(weekContaining(scheduledAt, timeZone), 1);
}

/**
 * The most recent instant <= `now` (whole minutes) that `matches`, looking back at most `lookbackMinutes`;
 * undefined when none. `matches` is the cron expression's own matcher (node-cron), passed in so this stays
 * pure: stepping back minute by minute is exact for any expression, whatever its fields and time zone.
 * `localMinutes` (the expression's minute field) skips minutes that cannot match without asking the matcher:
 * every time zone in use today is offset from UTC by a multiple of 15 minutes, so a local minute m can only
 * fall on UTC minutes m, m-15, m-30 and m-45 (mod 60).
 */
export function latestScheduled(
  now: number,
  matches: (at: Date) => boolean,
  lookbackMinutes = 8 * 24 * 60,
  localMinutes?: readonly number[],
): number | undefined {
  let possible: boolean[] | undefined;
  if (localMinutes && localMinutes.length < 60) {
    possible = Array.from({ length: 60 }, () => false);
    for (const m of localMinutes) for (const o of [0, 15, 30, 45]) possible[(m - o + 60) % 60] = true;
  }
  const first = Math.floor(now / 60_000) * 60_000;
  for (let i = 0; i <= lookbackMinutes; i++) {
    const t = first - i * 60_000;
    if (possible && !possible[Math.floor(t / 60_000) % 60]) continue;
    if (matches(new Date(t))) return t;
  }
  return undefined;
}

// ------------------------------------------------------------------ the digest

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
