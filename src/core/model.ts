import type { Knob, KnobValue, KnobValues, ReaConfig } from './contract.ts';

// The plan aggregate, the events that move it and the effects it asks for. Everything here is plain data
// (JSON-serialisable) so that a plan can be stored whole and rebuilt after a crash.

export type PhaseName = 'validation' | 'combination' | 'exploitation';
export const PHASES: readonly PhaseName[] = ['validation', 'combination', 'exploitation'];

/** Steps inside phases: exploitation first refines the best combination, then confirms at full fidelity. */
export type StepName = 'validation' | 'combination' | 'refine' | 'confirm';

export type HypothesisSourceName = 'insights' | 'research' | 'user';

export interface Hypothesis {
  id: string;
  title: string;
  rationale: string;
  source: HypothesisSourceName;
  /** Which agent produced it inside its source: 'offline', 'insights', 'claude:<model>'. */
  agent: string;
  /**
   * 'config' changes knob values only; 'code' also applies `patch` (a unified diff to `editable` paths),
   * which runs only on its own branch (or a scratch copy locally) after the plan was approved.
   */
  kind: 'config' | 'code';
  overrides: KnobValues;
  /** The unified diff of a code hypothesis, validated to apply cleanly and to touch only editable files. */
  patch?: string;
  /** Files the patch changes (repo-relative). */
  files?: string[];
  /** Prior expected relative improvement of the primary metric (positive is better). */
  expectedEffect: number;
  risk: 'low' | 'medium' | 'high';
  evidence: string[];
}

export interface RejectedHypothesis {
  title: string;
  source: HypothesisSourceName;
  agent: string;
  overrides: KnobValues;
  reason: string;
}

/** Tokens and dollars one research-agent call cost, recorded on the plan that asked for it. */
export interface LlmUsage {
  agent: string;
  model: string;
  inputTokens: number;
  outputTokens: number;
  cacheReadTokens: number;
  cacheWriteTokens: number;
  usd: number;
}

/** A configuration the plan measures: the baseline, one hypothesis, a combination or a refinement. */
export interface Candidate {
  id: string;
  step: StepName;
  label: string;
  hypothesisIds: string[];
  overrides: KnobValues;
  /** Set when a runbook had to change the configuration to run it at all (e.g. a smaller batch). */
  adjustedFrom?: { overrides: KnobValues; why: string };
  /**
   * The code hypothesis whose patch this candidate runs with (its overrides apply on top). At most one:
   * two code hypotheses are never combined, because each runs on its own branch made from the base commit.
   */
  codeHypothesisId?: string;
}

export type RunStatus = 'pending' | 'dispatched' | 'running' | 'succeeded' | 'failed' | 'cancelled';
export type AttemptStatus = 'dispatched' | 'running' | 'succeeded' | 'failed' | 'cancelled';

/** How an attempt failed, as the runner saw it. */
export type FailureConclusion =
  | 'failure'
  | 'timed_out'
  | 'cancelled'
  | 'runner_lost'
  | 'startup_failure'
  | 'metrics_invalid';

export interface Attempt {
  n: number;
  status: AttemptStatus;
  overrides: KnobValues;
  dispatchedAt: string;
  startedAt?: string;
  finishedAt?: string;
  externalId?: string;
  /** GitHub's `run_attempt` of externalId that this attempt is (a plain retry re-runs the same run). */
  externalAttempt?: number;
  gpuHours?: number;
  durationSec?: number;
  conclusion?: FailureConclusion | 'success';
  reason?: string;
  logExcerpt?: string;
  runbook?: { id: string; action: string; note: string };
}

export interface CostSample {
  gpuHours: number;
  fidelity: number;
}

export interface GpuEstimate {
  p50: number;
  p90: number;
}

export interface Run {
  id: string;
  phase: PhaseName;
  step: StepName;
  candidateId: string;
  role: 'baseline' | 'candidate';
  overrides: KnobValues;
  fidelity: number;
  seed: number;
  status: RunStatus;
  attempts: Attempt[];
  maxAttempts: number;
  estimate: GpuEstimate;
  /** Overrides for the next attempt when a runbook changed them (e.g. a halved batch size). */
  attemptOverrides?: KnobValues;
  metrics?: Record<string, number>;
  steps?: number;
  /** Why the run ended the way it did (failure reason, runbook decision). */
  outcome?: string;
  /** Never dispatched: the plan was re-planned to fit its budget (no verdict, no insight, not a failure). */
  dropped?: true;
}

export type VerdictKind = 'pass' | 'near' | 'fail' | 'veto' | 'infeasible';

export interface Verdict {
  candidateId: string;
  step: StepName;
  fidelity: number;
  /** Relative improvement of the primary metric over the paired baseline (positive is better). */
  relEffect: number;
  /** Standard error of relEffect. */
  se: number;
  lo: number;
  hi: number;
  n: number;
  verdict: VerdictKind;
  reason: string;
}

export interface Approval {
  kind: 'approve' | 'reject' | 'budget' | 'pause' | 'resume' | 'cancel';
  by: string;
  via: 'cli' | 'slack' | 'github' | 'auto';
  at: string;
  gpuHours?: number;
  note?: string;
}

export interface Decision {
  at: string;
  phase: PhaseName;
  step: StepName;
  text: string;
}

export interface PhaseEstimate {
  name: PhaseName;
  runs: number;
  fidelity: number;
  seeds: number;
  gpuHoursP50: number;
  gpuHoursP90: number;
  usdP50: number;
  usdP90: number;
}

export interface PlanEstimate {
  phases: PhaseEstimate[];
  gpuHoursP50: number;
  gpuHoursP90: number;
  usdP50: number;
  usdP90: number;
}

/** The parts of .rea.yml a plan needs, frozen when the plan is created. */
export interface PlanSpec {
  model: string;
  tags: string[];
  metric: ReaConfig['metric'];
  guardrails: ReaConfig['guardrails'];
  knobs: Record<string, Knob>;
  fidelity: ReaConfig['fidelity'];
  seeds: ReaConfig['seeds'];
  gpus: number;
  usdPerGpuHour: number;
  timeoutMinutes: number;
  baselineGpuHours: number;
  /**
   * GPU-hours of `baselineGpuHours` paid at any fidelity (start-up, data loading, evaluation): the fixed part
   * of the cost prior. Absent on plans made before it existed, which priced runs as proportional to fidelity.
   */
  overheadGpuHours?: number;
  maxGpuHours: number;
  maxConcurrentRuns: number;
  approvers: { github: string[]; slack: string[] };
  baselineConfigFile: string;
  workflow: string;
  /** `editable` globs of .rea.yml: what a code hypothesis may change (absent on plans made before). */
  editable?: string[];
}

export interface SlackThread {
  channel: string;
  /** ts of the parent message, set once it is posted; replies go to its thread. */
  ts?: string;
  requestedBy?: string;
}

/** Where a plan lives on GitHub, and the objects rea made for it there. */
export interface GithubOrigin {
  kind: 'github';
  owner: string;
  repo: string;
  installationId: number;
  baseRef: string;
  baseSha: string;
  requestedBy: string;
  /** The issue or pull request where `/rea plan` was asked. */
  requestedIn?: number;
  pr?: number;
  /** Head commit of the plan branch, where the check run lives. */
  headSha?: string;
  commentId?: number;
  checkRunId?: number;
  promotionPr?: number;
  /** Draft experiment PRs of code hypotheses, by hypothesis id (made only after the plan was approved). */
  experimentPrs?: Record<string, number>;
}

export interface NoisePrior {
  fidelity: number;
  /** Standard deviation of the relative paired difference between two runs of one config. */
  sd: number;
  df: number;
}

export type PlanStatus = 'awaiting_approval' | 'running' | 'paused' | 'completed' | 'cancelled' | 'rejected';

export interface Escalation {
  id: string;
  at: string;
  runId?: string;
  reason: string;
  runbookId?: string;
  logExcerpt?: string;
  resolved?: { at: string; by: string; action: string };
}

export interface Winner {
  candidateId: string;
  label: string;
  overrides: KnobValues;
  /** The code hypothesis that is part of the winner (its experiment PR holds the code to merge). */
  codeHypothesisId?: string;
  relEffect: number;
  lo: number;
  hi: number;
  n: number;
  baselineMean: number;
  candidateMean: number;
}

export interface PlanState {
  id: string;
  goal: string;
  repo?: string;
  origin?: GithubOrigin;
  /** The plan's Slack thread: the channel, and the parent message once posted. */
  slack?: SlackThread;
  status: PlanStatus;
  pauseReason?: 'user' | 'budget' | 'escalation';
  phase: PhaseName;
  step: StepName;
  spec: PlanSpec;
  baseline: KnobValues;
  hypotheses: Hypothesis[];
  rejected: RejectedHypothesis[];
  /** What the research agents cost to make this plan (absent on plans made before it was recorded). */
  llmUsage?: LlmUsage[];
  /** What the hypothesis sources said when the plan was made (a fallback and its reason, skipped sources). */
  notes?: string[];
  candidates: Candidate[];
  runs: Run[];
  verdicts: Verdict[];
  estimate: PlanEstimate;
  budget: { requestedGpuHours: number; approvedGpuHours: number };
  approvals: Approval[];
  decisions: Decision[];
  escalations: Escalation[];
  /** Measured GPU-hours of this model's succeeded runs, with their fidelity (for cost estimates). */
  costSamples: CostSample[];
  /** Set while the plan is paused because the next run does not fit the approved budget. */
  budgetRequest?: { neededGpuHours: number; wouldBuy: string; at: string };
  /**
   * The current search round may spend the confirmation reserve: nothing measured is worth confirming yet,
   * and a plan without a confirmed winner spends its budget on search rather than keep it.
   */
  searchSpendsReserve?: boolean;
  noisePriors: NoisePrior[];
  concurrencyCap: number;
  seedBase: number;
  seq: number;
  winner?: Winner;
  finishedReason?: string;
  createdAt: string;
  updatedAt: string;
}

export type Actor = { by: string; via: Approval['via'] };

export type PlanEvent =
  | ({ type: 'approved'; gpuHours?: number } & Actor)
  | ({ type: 'rejected'; reason?: string } & Actor)
  | ({ type: 'budget_raised'; gpuHours: number } & Actor)
  | ({ type: 'paused' } & Actor)
  | ({ type: 'resumed' } & Actor)
  | ({ type: 'cancelled'; reason?: string } & Actor)
  | ({ type: 'escalation_resolved'; escalationId: string; action: 'retry' | 'skip' } & Actor)
  | { type: 'run_dispatched'; runId: string; attempt: number; externalId?: string; externalAttempt?: number }
  | { type: 'run_started'; runId: string; attempt: number }
  | {
      type: 'run_finished';
      runId: string;
      attempt: number;
      metrics: Record<string, number>;
      steps?: number;
      gpuHours: number;
      durationSec: number;
    }
  | {
      type: 'run_failed';
      runId: string;
      attempt: number;
      conclusion: FailureConclusion;
      reason: string;
      logExcerpt: string;
      gpuHours: number;
      durationSec: number;
    }
  | { type: 'timer_fired' };

export type NotifyTopic =
  | 'plan_approved'
  | 'plan_rejected'
  | 'phase_decision'
  | 'failure_handled'
  | 'paused'
  | 'resumed'
  | 'cancelled'
  | 'budget_raised'
  | 'plan_finished';

export type Effect =
  | {
      type: 'dispatch_run';
      runId: string;
      attempt: number;
      overrides: KnobValues;
      fidelity: number;
      seed: number;
      /** Set when the run executes a code hypothesis's patch (its branch on GitHub, a scratch copy locally). */
      codeHypothesisId?: string;
      idempotencyKey: string;
    }
  | {
      type: 'retry_run';
      runId: string;
      attempt: number;
      previousAttempt: number;
      overrides: KnobValues;
      fidelity: number;
      seed: number;
      codeHypothesisId?: string;
      idempotencyKey: string;
    }
  | { type: 'cancel_run'; runId: string; attempt: number; reason: string; idempotencyKey: string }
  | { type: 'publish_plan'; idempotencyKey: string }
  | { type: 'notify'; topic: NotifyTopic; text: string; runId?: string; idempotencyKey: string }
  | {
      type: 'escalate';
      escalationId: string;
      runId?: string;
      reason: string;
      runbookId?: string;
      logExcerpt?: string;
      idempotencyKey: string;
    }
  | { type: 'request_budget'; neededGpuHours: number; wouldBuy: string; idempotencyKey: string }
  | { type: 'update_insights'; phase: PhaseName; idempotencyKey: string }
  | { type: 'write_report'; idempotencyKey: string }
  | { type: 'open_promotion'; overrides: KnobValues; idempotencyKey: string }
  /** Enqueued by surfaces (a `completed` webhook, the reconciler), never by decide: read a finished run back. */
  | { type: 'collect_run'; runId: string; attempt: number; externalId: string; idempotencyKey: string };

/** Effects that people read, delivered in order per plan; the others (runs, insights) never wait for them. */
export const MESSAGE_EFFECT_TYPES: readonly Effect['type'][] = [
  'publish_plan',
  'notify',
  'escalate',
  'request_budget',
  'write_report',
  'open_promotion',
];

export interface Runbook {
  id: string;
  title: string;
  /** Lower runs first; built-ins use 10..90, additions in a model repo may go before them. */
  priority: number;
  match: {
    conclusions?: FailureConclusion[];
    /** Regular expressions (case-insensitive) tried against the log excerpt and the failure reason. */
    log?: string[];
    /** Matches when the primary metric was missing, NaN or infinite. */
    metricNonFinite?: boolean;
  };
  action: RunbookAction;
  /** Attempts of one run (counting the first) after which the runbook gives up. */
  maxAttempts: number;
  onExhausted: 'skip' | 'pause_and_escalate';
  body: string;
  source: string;
}

export type OverrideOp = { scale: number } | { set: KnobValue };

export type RunbookAction =
  | { type: 'retry' }
  | { type: 'retry_with_overrides'; overrides: Record<string, OverrideOp> }
  | { type: 'skip' }
  | { type: 'reduce_concurrency'; to?: number }
  | { type: 'pause_and_escalate' };

export interface DecideContext {
  now: string;
  runbooks: Runbook[];
}

export interface Decided {
  state: PlanState;
  effects: Effect[];
}

export type InsightStatus = 'win' | 'null' | 'loss' | 'infeasible';

/** What the database knows about one change of one model at one fidelity, pooled across plans. */
export interface InsightRow {
  model: string;
  tags: string[];
  changeKey: string;
  overrides: KnobValues;
  title: string;
  /** The baseline the effect is relative to (its override key); a promoted baseline starts a new reference. */
  baselineKey: string;
  /** Why the change was tried: the rationales of the hypotheses behind it (searched with the title). */
  rationale: string;
  /** Evidence people can open: plan PRs, experiment PRs, reports. */
  links: string[];
  fidelity: number;
  /** Pooled relative effect (positive is better) and its 95% interval. */
  meanEffect: number;
  lo: number;
  hi: number;
  nRuns: number;
  nPlans: number;
  status: InsightStatus;
  reason: string;
  planIds: string[];
  runIds: string[];
  /** Sufficient statistics of the paired relative differences, so that later plans can pool. */
  sum: number;
  sumSq: number;
  updatedAt: string;
}
