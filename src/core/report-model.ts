import type { KnobValues } from './contract.ts';
import type {
  FailureConclusion,
  InsightStatus,
  PhaseName,
  PlanState,
  Run,
  StepName,
  VerdictKind,
} from './model.ts';

// The plan report as data: what every surface (the Markdown file, the GitHub comment, the Slack reply and
// its chart) shows. The shapes live here, apart from the computation (report.ts), so that the parts that
// fill them (next-hypotheses.ts, plan-insights.ts) import them without importing the builder.

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
