import { pct } from './analysis.ts';
import { describeChange, overridesKey } from './knobs.ts';
import type { Escalation, PlanState, Run, StepName, VerdictKind } from './model.ts';
import { PHASES } from './model.ts';
import { nextHypotheses } from './next-hypotheses.ts';
import { BASELINE_ID, changeText } from './plan.ts';
import { planInsights } from './plan-insights.ts';
import {
  type ChartPoint,
  type DeadEnd,
  type FailureAction,
  GAIN_UNIT,
  type PhaseSpend,
  type PlanReport,
  type ReportEscalation,
  type ReportFailure,
  type ReportLlm,
  type ReportOutcome,
  type ReportSpend,
} from './report-model.ts';

// The plan report as data: what every surface (the Markdown file, the GitHub comment, the Slack reply and
// its chart) shows, computed once from the plan so that the three say the same thing. Pure: the history of
// the model (its other plans) comes in as an argument, and no list is cut here; renderers cut for their
// own limits. The shapes are in report-model.ts, what to try next in next-hypotheses.ts and the insight
// rows in plan-insights.ts; their public names are re-exported here so importers need only this file.

export { nextHypotheses } from './next-hypotheses.ts';
export { planInsights } from './plan-insights.ts';
export {
  type ChartPoint,
  type DeadEnd,
  type FailureAction,
  GAIN_UNIT,
  type InsightChange,
  type NextHypothesis,
  type NextKind,
  type PhaseSpend,
  type PlanReport,
  type ReportDecision,
  type ReportEscalation,
  type ReportFailure,
  type ReportInsight,
  type ReportLlm,
  type ReportOutcome,
  type ReportSpend,
} from './report-model.ts';

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

/** The points of the report's chart (also the sticky progress comment's): the primary metric of every measured run. */
export function chartOf(plan: PlanState): ChartPoint[] {
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
