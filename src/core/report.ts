import { pct } from './analysis.ts';
import type { KnobValue, KnobValues } from './contract.ts';
import { computeInsights } from './insights.ts';
import { describeChange, fmtValue, overridesKey } from './knobs.ts';
import type {
  Escalation,
  FailureConclusion,
  InsightRow,
  InsightStatus,
  PhaseName,
  PlanState,
  Run,
  StepName,
  VerdictKind,
} from './model.ts';
import { PHASES } from './model.ts';
import { BASELINE_ID, changeText } from './plan.ts';

// The plan report as data: what every surface (the Markdown file, the GitHub comment, the Slack reply and
// its chart) shows, computed once from the plan so that the three say the same thing. Pure: the history of
// the model (its other plans) comes in as an argument, and no list is cut here; renderers cut for their
// own limits.

/** The unit of "dollars per unit of metric gained": 0.1% relative improvement of the primary metric. */
export const GAIN_UNIT = 0.001;

export type ReportOutcome =
  | {
      kind: 'winner';
      label: string;
      overrides: KnobValues;
      relEffect: number;
      lo: number;
      hi: number;
      n: number;
      fidelity: number;
      baselineMean: number;
      candidateMean: number;
    }
  | { kind: 'none'; why: string };

export interface ReportDecision {
  at: string;
  phase: PhaseName;
  step: StepName;
  text: string;
}

/** A configuration the plan measured and dropped: it lost, showed no effect, was vetoed or could not run. */
export interface DeadEnd {
  label: string;
  step: StepName;
  fidelity: number;
  verdict: VerdictKind;
  /** Absent when no run succeeded (infeasible). */
  relEffect?: number;
  lo?: number;
  hi?: number;
  n: number;
  reason: string;
}

export type FailureAction =
  | 'retried'
  | 'retried with changes'
  | 'skipped'
  | 'escalated'
  | 'cancelled'
  | 'none';

export interface ReportFailure {
  runId: string;
  label: string;
  step: StepName;
  seed: number;
  attempt: number;
  conclusion: FailureConclusion | 'cancelled';
  reason: string;
  runbookId?: string;
  action: FailureAction;
  note: string;
}

export interface ReportEscalation {
  id: string;
  reason: string;
  runId?: string;
  runbookId?: string;
  resolution?: { by: string; action: string; at: string };
}

export interface PhaseSpend {
  phase: PhaseName;
  runs: number;
  gpuHours: number;
  usd: number;
  estimateGpuHoursP50: number;
  estimateUsdP50: number;
}

export interface ReportSpend {
  gpuHours: number;
  usd: number;
  approvedGpuHours: number;
  approvedUsd: number;
  estimateGpuHoursP50: number;
  estimateGpuHoursP90: number;
  estimateUsdP50: number;
  estimateUsdP90: number;
  runs: number;
  attempts: number;
  failedAttempts: number;
  phases: PhaseSpend[];
  /**
   * Dollars spent by the whole plan per 0.1% relative improvement of the primary metric that the winner
   * confirmed (`usd / (relEffect / GAIN_UNIT)`), with the same ratio at the ends of the effect's interval.
   * Absent without a winner that improves the metric.
   */
  usdPerGain?: { usd: number; atLo?: number; atHi: number };
}

export interface ReportLlm {
  calls: number;
  inputTokens: number;
  outputTokens: number;
  cacheReadTokens: number;
  cacheWriteTokens: number;
  usd: number;
  models: string[];
}

export type InsightChange = 'new' | 'changed' | 'strengthened' | 'unchanged';

/** An insight row of the model that this plan's evidence created or moved. */
export interface ReportInsight {
  title: string;
  changeKey: string;
  fidelity: number;
  status: InsightStatus;
  meanEffect: number;
  lo: number;
  hi: number;
  nRuns: number;
  nPlans: number;
  reason: string;
  change: InsightChange;
  before?: { status: InsightStatus; meanEffect: number; lo: number; hi: number; nRuns: number };
}

export type NextKind = 'combine-win' | 'near-miss' | 'recheck' | 'untried-knob' | 'retry-infeasible';

export interface NextHypothesis {
  kind: NextKind;
  title: string;
  overrides: KnobValues;
  why: string;
}

export interface ChartPoint {
  /** Order in which the run was planned (1-based): the x axis. */
  order: number;
  runId: string;
  candidateId: string;
  phase: PhaseName;
  step: StepName;
  role: Run['role'];
  fidelity: number;
  value: number;
}

export interface PlanReport {
  planId: string;
  goal: string;
  model: string;
  repo?: string;
  metric: { name: string; goal: 'minimize' | 'maximize'; minEffect: number };
  status: PlanState['status'];
  finishedReason?: string;
  baselineConfigFile: string;
  outcome: ReportOutcome;
  decisions: ReportDecision[];
  deadEnds: DeadEnd[];
  failures: ReportFailure[];
  failureCounts: Record<FailureAction, number>;
  escalations: ReportEscalation[];
  spend: ReportSpend;
  llm?: ReportLlm;
  insights: ReportInsight[];
  next: NextHypothesis[];
  chart: ChartPoint[];
}

const DEAD: ReadonlySet<VerdictKind> = new Set(['fail', 'veto', 'infeasible']);
const STEP_ORDER: Record<StepName, number> = { validation: 0, combination: 1, refine: 2, confirm: 3 };

function outcomeOf(plan: PlanState): ReportOutcome {
  const w = plan.winner;
  if (w) {
    return {
      kind: 'winner',
      // A winner with code names it: its overrides alone would describe another change.
      label: changeText(plan, {
        id: w.candidateId,
        step: 'confirm',
        label: w.label,
        hypothesisIds: [],
        overrides: w.overrides,
        ...(w.codeHypothesisId !== undefined ? { codeHypothesisId: w.codeHypothesisId } : {}),
      }),
      overrides: w.overrides,
      relEffect: w.relEffect,
      lo: w.lo,
      hi: w.hi,
      n: w.n,
      fidelity: plan.spec.fidelity.exploitation,
      baselineMean: w.baselineMean,
      candidateMean: w.candidateMean,
    };
  }
  switch (plan.status) {
    case 'cancelled':
    case 'rejected':
      return { kind: 'none', why: plan.finishedReason ?? `the plan was ${plan.status}` };
    case 'completed': {
      const confirm = plan.verdicts.filter((v) => v.step === 'confirm' && v.candidateId !== BASELINE_ID);
      const last = confirm.at(-1);
      const why = plan.finishedReason ?? 'nothing passed';
      return {
        kind: 'none',
        why: last
          ? `${why}; the best candidate measured ${pct(last.relEffect)} [${pct(last.lo)}, ${pct(last.hi)}] over ${last.n} seeds at fidelity ${last.fidelity}, and the interval does not exclude zero`
          : why,
      };
    }
    default:
      return { kind: 'none', why: `the plan is still ${plan.status.replace('_', ' ')}` };
  }
}

function label(plan: PlanState, candidateId: string): string {
  const c = plan.candidates.find((x) => x.id === candidateId);
  if (!c) return candidateId;
  const base = changeText(plan, c);
  return c.adjustedFrom
    ? `${base} (proposed ${describeChange(plan.baseline, c.adjustedFrom.overrides)}, which could not run)`
    : base;
}

function deadEndsOf(plan: PlanState): DeadEnd[] {
  // The last verdict of each candidate decides: a candidate that failed validation but won in a combination
  // is not a dead end (combinations are other candidates anyway).
  const last = new Map<string, PlanState['verdicts'][number]>();
  for (const v of plan.verdicts) if (v.candidateId !== BASELINE_ID) last.set(v.candidateId, v);
  const out: DeadEnd[] = [];
  for (const v of last.values()) {
    if (!DEAD.has(v.verdict)) continue;
    out.push({
      label: label(plan, v.candidateId),
      step: v.step,
      fidelity: v.fidelity,
      verdict: v.verdict,
      ...(v.n > 0 ? { relEffect: v.relEffect, lo: v.lo, hi: v.hi } : {}),
      n: v.n,
      reason: v.reason,
    });
  }
  return out.sort((a, b) => STEP_ORDER[a.step] - STEP_ORDER[b.step]);
}

function actionOf(run: Run, n: number, action: string | undefined): FailureAction {
  switch (action) {
    case 'retry':
    case 'reduce_concurrency': {
      // A runbook that changed the configuration (a smaller batch) says so in the next attempt.
      const a = run.attempts.find((x) => x.n === n);
      const next = run.attempts.find((x) => x.n === n + 1);
      const changed =
        (next && a && overridesKey(next.overrides) !== overridesKey(a.overrides)) ||
        (!next && run.attemptOverrides !== undefined);
      return changed ? 'retried with changes' : 'retried';
    }
    case 'skip':
      return 'skipped';
    case 'escalate':
      return 'escalated';
    default:
      return 'none';
  }
}

function failuresOf(plan: PlanState): ReportFailure[] {
  const out: ReportFailure[] = [];
  for (const r of plan.runs) {
    for (const a of r.attempts) {
      if (a.status !== 'failed' && a.status !== 'cancelled') continue;
      const action: FailureAction =
        a.status === 'cancelled' ? 'cancelled' : actionOf(r, a.n, a.runbook?.action);
      const matched = a.runbook && a.runbook.id !== 'none' ? a.runbook.id : undefined;
      out.push({
        runId: r.id,
        label: r.role === 'baseline' ? 'baseline' : describeChange(plan.baseline, r.overrides),
        step: r.step,
        seed: r.seed,
        attempt: a.n,
        conclusion:
          a.conclusion && a.conclusion !== 'success'
            ? a.conclusion
            : a.status === 'cancelled'
              ? 'cancelled'
              : 'failure',
        reason: a.reason ?? a.conclusion ?? a.status,
        ...(matched ? { runbookId: matched } : {}),
        action,
        note:
          a.runbook?.note ?? (a.status === 'cancelled' ? 'cancelled with the plan' : 'no runbook matched'),
      });
    }
  }
  return out;
}

function escalationOf(e: Escalation): ReportEscalation {
  return {
    id: e.id,
    reason: e.reason,
    ...(e.runId ? { runId: e.runId } : {}),
    ...(e.runbookId ? { runbookId: e.runbookId } : {}),
    ...(e.resolved ? { resolution: e.resolved } : {}),
  };
}

function attemptHours(r: Run): number {
  return r.attempts.reduce((s, a) => s + (a.gpuHours ?? 0), 0);
}

function spendOf(plan: PlanState, outcome: ReportOutcome): ReportSpend {
  const rate = plan.spec.usdPerGpuHour;
  const gpuHours = plan.runs.reduce((s, r) => s + attemptHours(r), 0);
  const usd = gpuHours * rate;
  const phases = PHASES.map((phase): PhaseSpend => {
    const runs = plan.runs.filter((r) => r.phase === phase);
    const hours = runs.reduce((s, r) => s + attemptHours(r), 0);
    const est = plan.estimate.phases.find((p) => p.name === phase);
    return {
      phase,
      runs: runs.length,
      gpuHours: hours,
      usd: hours * rate,
      estimateGpuHoursP50: est?.gpuHoursP50 ?? 0,
      estimateUsdP50: est?.usdP50 ?? 0,
    };
  });
  const attempts = plan.runs.reduce((s, r) => s + r.attempts.length, 0);
  const failedAttempts = plan.runs.reduce(
    (s, r) => s + r.attempts.filter((a) => a.status === 'failed').length,
    0,
  );
  const spend: ReportSpend = {
    gpuHours,
    usd,
    approvedGpuHours: plan.budget.approvedGpuHours,
    approvedUsd: plan.budget.approvedGpuHours * rate,
    estimateGpuHoursP50: plan.estimate.gpuHoursP50,
    estimateGpuHoursP90: plan.estimate.gpuHoursP90,
    estimateUsdP50: plan.estimate.usdP50,
    estimateUsdP90: plan.estimate.usdP90,
    runs: plan.runs.length,
    attempts,
    failedAttempts,
    phases,
  };
  if (outcome.kind === 'winner' && outcome.relEffect > 0) {
    const per = (effect: number) => usd / (effect / GAIN_UNIT);
    spend.usdPerGain = {
      usd: per(outcome.relEffect),
      // A larger effect makes each unit cheaper: the interval's high end gives the low price.
      atHi: per(outcome.hi),
      ...(outcome.lo > 0 ? { atLo: per(outcome.lo) } : {}),
    };
  }
  return spend;
}

function llmOf(plan: PlanState): ReportLlm | undefined {
  const u = plan.llmUsage;
  if (!u || u.length === 0) return undefined;
  return {
    calls: u.length,
    inputTokens: u.reduce((s, x) => s + x.inputTokens, 0),
    outputTokens: u.reduce((s, x) => s + x.outputTokens, 0),
    cacheReadTokens: u.reduce((s, x) => s + x.cacheReadTokens, 0),
    cacheWriteTokens: u.reduce((s, x) => s + x.cacheWriteTokens, 0),
    usd: u.reduce((s, x) => s + x.usd, 0),
    models: [...new Set(u.map((x) => x.model))].sort(),
  };
}

function insightKey(r: Pick<InsightRow, 'baselineKey' | 'changeKey' | 'fidelity'>): string {
  return `${r.baselineKey}|${r.changeKey}|${r.fidelity}`;
}

const STATUS_RANK: Record<InsightStatus, number> = { win: 0, loss: 1, infeasible: 2, null: 3 };

/**
 * The insight rows this plan's evidence touches, as they stand with it, compared with the rows the
 * model's other plans give without it. `history` may include the plan itself (it is left out).
 */
export function planInsights(plan: PlanState, history: readonly PlanState[] = []): ReportInsight[] {
  const others = history.filter((p) => p.id !== plan.id && p.spec.model === plan.spec.model);
  const now = plan.updatedAt;
  const before = new Map(computeInsights(others, now).map((r) => [insightKey(r), r]));
  const out: ReportInsight[] = [];
  for (const row of computeInsights([...others, plan], now)) {
    if (!row.planIds.includes(plan.id)) continue;
    const old = before.get(insightKey(row));
    let change: InsightChange;
    if (!old) change = 'new';
    else if (old.status !== row.status) change = 'changed';
    else if (row.nRuns > old.nRuns && row.hi - row.lo < old.hi - old.lo) change = 'strengthened';
    else change = 'unchanged';
    out.push({
      title: row.title,
      changeKey: row.changeKey,
      fidelity: row.fidelity,
      status: row.status,
      meanEffect: row.meanEffect,
      lo: row.lo,
      hi: row.hi,
      nRuns: row.nRuns,
      nPlans: row.nPlans,
      reason: row.reason,
      change,
      ...(old
        ? {
            before: {
              status: old.status,
              meanEffect: old.meanEffect,
              lo: old.lo,
              hi: old.hi,
              nRuns: old.nRuns,
            },
          }
        : {}),
    });
  }
  // Changes of status first (they are news), then new rows; within each, wins before losses and by size.
  const changeRank: Record<InsightChange, number> = { changed: 0, new: 1, strengthened: 2, unchanged: 3 };
  return out.sort(
    (a, b) =>
      changeRank[a.change] - changeRank[b.change] ||
      STATUS_RANK[a.status] - STATUS_RANK[b.status] ||
      b.fidelity - a.fidelity ||
      Math.abs(b.meanEffect) - Math.abs(a.meanEffect) ||
      a.changeKey.localeCompare(b.changeKey),
  );
}

/** Whether every setting of `part` is also set, to the same value, in `whole`. */
function contains(whole: KnobValues, part: KnobValues): boolean {
  return Object.entries(part).every(([k, v]) => whole[k] === v);
}

function untriedValues(plan: PlanState, tried: KnobValues[]): NextHypothesis[] {
  const out: NextHypothesis[] = [];
  for (const [name, knob] of Object.entries(plan.spec.knobs)) {
    const seen = new Set<string>(tried.filter((o) => name in o).map((o) => JSON.stringify(o[name])));
    const base = plan.baseline[name];
    if (seen.size === 0) {
      let value: KnobValue | undefined;
      switch (knob.type) {
        case 'bool':
          value = !base;
          break;
        case 'choice':
          value = knob.values.find((v) => v !== base);
          break;
        case 'int':
        case 'float': {
          const b = typeof base === 'number' ? base : knob.min;
          const up =
            knob.type === 'int'
              ? Math.min(knob.max, Math.max(b + knob.step, Math.round(b * 2)))
              : Math.min(knob.max, b * 2);
          value =
            up !== b
              ? up
              : knob.type === 'int'
                ? Math.max(knob.min, Math.round(b / 2))
                : Math.max(knob.min, b / 2);
          break;
        }
      }
      if (value === undefined || value === base) continue;
      out.push({
        kind: 'untried-knob',
        title: `explore ${name}`,
        overrides: { [name]: value },
        why: `${name} was not varied by this plan; ${describeChange(plan.baseline, { [name]: value })} is a first step`,
      });
    } else if (knob.type === 'choice') {
      const left = knob.values.filter((v) => v !== base && !seen.has(JSON.stringify(v)));
      if (left.length === 0) continue;
      out.push({
        kind: 'untried-knob',
        title: `try ${name} ${fmtValue(left[0])}`,
        overrides: { [name]: left[0]! },
        why: `${name} values never measured here: ${left.map((v) => fmtValue(v)).join(', ')}`,
      });
    }
  }
  return out;
}

/**
 * What a next plan could test, with reasons: single-change wins the winner does not hold, near-misses and
 * passes that never reached full fidelity (screens are not verdicts), proposals that could not run as
 * proposed, and knobs or values this plan never touched. Knowledge this plan already settled (a loss or an
 * infeasible change) is not proposed again.
 */
export function nextHypotheses(plan: PlanState): NextHypothesis[] {
  const out: NextHypothesis[] = [];
  const seen = new Set<string>();
  const add = (h: NextHypothesis) => {
    const key = overridesKey(h.overrides);
    if (seen.has(key) || Object.keys(h.overrides).length === 0) return;
    seen.add(key);
    out.push(h);
  };
  const winner = plan.winner?.overrides;
  if (winner) seen.add(overridesKey(winner));
  const full = plan.spec.fidelity.exploitation;
  const minEffect = plan.spec.metric.min_effect;
  // Each configuration once, by its most informative measurement (the highest fidelity, then more seeds).
  const byConfig = new Map<string, { v: PlanState['verdicts'][number]; overrides: KnobValues }>();
  const candidates = new Map(plan.candidates.map((c) => [c.id, c]));
  for (const v of plan.verdicts) {
    const c = candidates.get(v.candidateId);
    if (!c || c.id === BASELINE_ID) continue;
    const key = overridesKey(c.overrides);
    const prev = byConfig.get(key);
    if (!prev || v.fidelity > prev.v.fidelity || (v.fidelity === prev.v.fidelity && v.n >= prev.v.n))
      byConfig.set(key, { v, overrides: c.overrides });
  }
  const measured = [...byConfig.values()].sort(
    (a, b) => b.v.fidelity - a.v.fidelity || b.v.relEffect - a.v.relEffect,
  );
  const seeds = (n: number) => `${n} seed${n === 1 ? '' : 's'}`;
  // 1. Passing configurations holding settings the winner lacks (and none that contradict it): stack them.
  if (winner) {
    for (const { v, overrides } of measured) {
      if (v.verdict !== 'pass') continue;
      const entries = Object.entries(overrides);
      if (entries.some(([k, x]) => k in winner && winner[k] !== x)) continue;
      const extra = Object.fromEntries(entries.filter(([k]) => !(k in winner)));
      if (Object.keys(extra).length === 0) continue;
      // When the rest of the pair was measured alone at the same fidelity, the extra settings must add the
      // minimum effect on top of it; otherwise they only rode along.
      const rest = Object.fromEntries(entries.filter(([k]) => k in winner));
      const alone = Object.keys(rest).length > 0 ? byConfig.get(overridesKey(rest)) : undefined;
      const gain = alone && alone.v.fidelity === v.fidelity ? v.relEffect - alone.v.relEffect : undefined;
      if (gain !== undefined && gain < minEffect) continue;
      add({
        kind: 'combine-win',
        title: `winner + ${describeChange(plan.baseline, extra)}`,
        overrides: { ...winner, ...extra },
        why: `${describeChange(plan.baseline, overrides)} passed ${v.step} at fidelity ${v.fidelity} with ${pct(v.relEffect)} [${pct(v.lo)}, ${pct(v.hi)}], ${seeds(v.n)}${gain !== undefined ? `, ${pct(gain)} more than ${describeChange(plan.baseline, rest)} alone` : ''}, and the winner does not set ${Object.keys(extra).sort().join(', ')}`,
      });
    }
  }
  // 2. Near-misses whose interval still allows a worthwhile effect, and passes never measured at full
  // fidelity (screens are not verdicts; effects change with scale).
  for (const { v, overrides } of measured) {
    if (winner && contains(winner, overrides)) continue;
    if (v.verdict === 'near' && v.hi >= minEffect) {
      add({
        kind: 'near-miss',
        title: `re-check ${describeChange(plan.baseline, overrides)}`,
        overrides,
        why: `came close at fidelity ${v.fidelity} (${pct(v.relEffect)} [${pct(v.lo)}, ${pct(v.hi)}], ${seeds(v.n)}): the interval still allows the minimum effect of ${pct(minEffect)}; more seeds or a higher fidelity can settle it`,
      });
    } else if (v.verdict === 'pass' && v.fidelity < full && !winner) {
      add({
        kind: 'recheck',
        title: `confirm ${describeChange(plan.baseline, overrides)} at fidelity ${full}`,
        overrides,
        why: `passed at fidelity ${v.fidelity} (${pct(v.relEffect)} [${pct(v.lo)}, ${pct(v.hi)}], ${seeds(v.n)}) but was never confirmed at full fidelity`,
      });
    }
  }
  // 3. Proposals that ran only after a runbook changed them: the original setting is still unknown.
  for (const c of plan.candidates) {
    if (!c.adjustedFrom) continue;
    add({
      kind: 'retry-infeasible',
      title: `${describeChange(plan.baseline, c.adjustedFrom.overrides)} with a fix`,
      overrides: c.adjustedFrom.overrides,
      why: `could not run as proposed (${c.adjustedFrom.why.replace(/\.\s*$/, '')}); worth a plan only with a code change that removes the cause`,
    });
  }
  // 4. Knobs and values this plan never touched.
  for (const h of untriedValues(
    plan,
    plan.candidates.flatMap((c) => [c.overrides, ...(c.adjustedFrom ? [c.adjustedFrom.overrides] : [])]),
  ))
    add(h);
  return out;
}

function chartOf(plan: PlanState): ChartPoint[] {
  const metric = plan.spec.metric.name;
  const out: ChartPoint[] = [];
  plan.runs.forEach((r, i) => {
    const v = r.metrics?.[metric];
    if (r.status !== 'succeeded' || v === undefined || !Number.isFinite(v)) return;
    out.push({
      order: i + 1,
      runId: r.id,
      candidateId: r.candidateId,
      phase: r.phase,
      step: r.step,
      role: r.role,
      fidelity: r.fidelity,
      value: v,
    });
  });
  return out;
}

export interface ReportInput {
  /** The model's plans (this one may be among them): the insight rows before and after this plan. */
  history?: readonly PlanState[];
}

export function buildReport(plan: PlanState, input: ReportInput = {}): PlanReport {
  const outcome = outcomeOf(plan);
  const failures = failuresOf(plan);
  const failureCounts: Record<FailureAction, number> = {
    retried: 0,
    'retried with changes': 0,
    skipped: 0,
    escalated: 0,
    cancelled: 0,
    none: 0,
  };
  for (const f of failures) failureCounts[f.action] += 1;
  const llm = llmOf(plan);
  return {
    planId: plan.id,
    goal: plan.goal,
    model: plan.spec.model,
    ...(plan.repo ? { repo: plan.repo } : {}),
    metric: {
      name: plan.spec.metric.name,
      goal: plan.spec.metric.goal,
      minEffect: plan.spec.metric.min_effect,
    },
    status: plan.status,
    ...(plan.finishedReason ? { finishedReason: plan.finishedReason } : {}),
    baselineConfigFile: plan.spec.baselineConfigFile,
    outcome,
    decisions: plan.decisions.map((d) => ({ at: d.at, phase: d.phase, step: d.step, text: d.text })),
    deadEnds: deadEndsOf(plan),
    failures,
    failureCounts,
    escalations: plan.escalations.map(escalationOf),
    spend: spendOf(plan, outcome),
    ...(llm ? { llm } : {}),
    insights: planInsights(plan, input.history),
    next: nextHypotheses(plan),
    chart: chartOf(plan),
  };
}
