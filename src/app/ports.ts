import type { KnobValues, ReaConfig } from '../config/rea-config.ts';
import type {
  CostSample,
  Effect,
  FailureConclusion,
  Hypothesis,
  InsightRow,
  LlmUsage,
  NotifyTopic,
  PlanEvent,
  PlanState,
  RejectedHypothesis,
} from '../core/model.ts';

export type { InsightRow, InsightStatus } from '../core/model.ts';

// Ports are named by capability; implementations by backend (LocalProcessRunner, PostgresStore, ...).

/** One attempt of one run, as handed to a runner. */
export interface RunJob {
  planId: string;
  runId: string;
  attempt: number;
  overrides: KnobValues;
  fidelity: number;
  seed: number;
  idempotencyKey: string;
  /**
   * The code hypothesis this attempt runs: a local runner applies `patch` to a scratch copy of the model
   * directory; on GitHub the run is dispatched on the hypothesis's experiment branch instead.
   */
  code?: { hypothesisId: string; title: string; patch: string };
}

/** What a runner learns about an attempt; the app turns each into a PlanEvent for `decide`. */
export type RunnerReport =
  | { type: 'started'; planId: string; runId: string; attempt: number }
  | {
      type: 'finished';
      planId: string;
      runId: string;
      attempt: number;
      metrics: Record<string, number>;
      steps?: number;
      gpuHours: number;
      durationSec: number;
      logTail: string;
    }
  | {
      type: 'failed';
      planId: string;
      runId: string;
      attempt: number;
      conclusion: FailureConclusion;
      reason: string;
      logTail: string;
      gpuHours: number;
      durationSec: number;
    };

export interface Runner {
  /**
   * Starts an attempt. Delivering the same job twice (same idempotencyKey) must not start it twice: the
   * second call returns the external id of the first. Resolves once the attempt is accepted, not finished;
   * progress arrives through the report callback given at construction.
   */
  dispatch(job: RunJob): Promise<{ externalId: string }>;
  /** Stops an attempt and everything it started. Cancelling an attempt that is not running is a no-op. */
  cancel(runId: string, attempt: number): Promise<void>;
  /** Attempts this runner believes are still running (used at start-up to find lost runs). */
  active(): Array<{ runId: string; attempt: number }>;
}

export interface ProposalContext {
  goal: string;
  config: ReaConfig;
  baseline: KnobValues;
  /** Effects already known for this model (and models sharing tags), for sources that learn. */
  insights: InsightRow[];
  /** The model's code (its `.rea.yml`, baseline config and `editable` files), for sources that read it. */
  code?: CodeReader;
}

/** Read-only access to a model's files: a local directory or a repository at one commit. */
export interface CodeReader {
  /** Where the files come from, for people ("examples/ctr-model", "octo/ranker@1a2b3c4"). */
  readonly label: string;
  /** Repo-relative paths of files matching any of the globs, sorted. */
  list(globs: readonly string[]): Promise<string[]>;
  /** A file's text, or undefined when it does not exist. */
  read(path: string): Promise<string | undefined>;
}

/**
 * A repository that plans are made from (on GitHub): its default branch and its files, read before the plan
 * exists, and the code pinned at one commit for the sources that read it.
 */
export interface RepoFiles {
  /** The default branch's name and the commit it points at now. */
  defaultBranch(): Promise<{ name: string; sha: string }>;
  /** A file's text at a ref (a branch or a commit), or undefined when it does not exist. */
  readFile(path: string, ref: string): Promise<string | undefined>;
  /** The repository at `sha`, read-only: what the research agents see of the code. */
  codeAt(sha: string): CodeReader;
}

/** The code host's side of rea's installation: which repositories rea may make plans from. */
export interface RepoInstallations {
  /**
   * The repository as rea's installation on it reaches it, or undefined when rea is not installed on it.
   * Any other failure to find out (network, permissions) is thrown.
   */
  open(owner: string, repo: string): Promise<{ installationId: number; files: RepoFiles } | undefined>;
}

export interface Proposal {
  hypotheses: Omit<Hypothesis, 'id'>[];
  rejected: RejectedHypothesis[];
  /** Shown to the user when a source fell back or skipped something (e.g. "no API key: offline agent"). */
  notes: string[];
  /** What the source's LLM calls cost (tokens and dollars), recorded on the plan. */
  usage?: LlmUsage[];
}

/** A source of hypotheses: returns proposals as data; it never runs anything. */
export interface HypothesisSource {
  readonly name: string;
  propose(ctx: ProposalContext): Promise<Proposal>;
}

export interface InsightSearch {
  model?: string;
  repo?: string;
  tags?: string[];
  /** Free text in web-search syntax ("learning rate", hash_bits, -adam, "feature crosses"). */
  text?: string;
  limit: number;
}

export interface OutboxItem {
  id: number;
  planId: string;
  effect: Effect;
  attempts: number;
}

export interface PlanSummary {
  id: string;
  model: string;
  goal: string;
  status: PlanState['status'];
  phase: PlanState['phase'];
  createdAt: string;
  updatedAt: string;
}

/** A weekly digest claimed or sent for a channel; messageTs is unset while it is being sent (or was lost). */
export interface DigestRecord {
  channel: string;
  /** The ISO date of the week's Monday in the digest time zone. */
  week: string;
  sentAt: string;
  sentBy: string;
  messageTs?: string;
}

/** Operations inside one database transaction. The plan row is locked by loadPlanForUpdate. */
export interface StoreTx {
  loadPlanForUpdate(planId: string): Promise<PlanState | undefined>;
  /** Writes the plan and its projections (hypotheses, runs, attempts, metrics, approvals). */
  savePlan(state: PlanState): Promise<void>;
  appendEvent(planId: string, event: PlanEvent | { type: 'plan_created' }, at: string): Promise<void>;
  /** Adds outbox rows; an effect whose idempotencyKey is already in the outbox is not added again. */
  enqueueEffects(planId: string, effects: Effect[], at: string): Promise<void>;
  upsertInsights(rows: InsightRow[]): Promise<void>;
}

export interface Store {
  readonly kind: 'postgres' | 'pglite';
  /** Runs fn in one transaction; rolls back if it throws. */
  transaction<T>(fn: (tx: StoreTx) => Promise<T>): Promise<T>;
  getPlan(planId: string): Promise<PlanState | undefined>;
  listPlans(filter?: { model?: string; statuses?: PlanState['status'][] }): Promise<PlanSummary[]>;
  /** Claims up to `limit` due outbox rows with FOR UPDATE SKIP LOCKED, leasing them until now + leaseMs. */
  claimOutbox(limit: number, now: Date, leaseMs: number): Promise<OutboxItem[]>;
  completeOutbox(id: number, now: Date): Promise<void>;
  /** Gives a claimed row back untried (its lease cleared, the claim not counted as a try). */
  releaseOutbox(id: number): Promise<void>;
  /** Records a failed try; the row becomes due again at retryAt (or dead when retryAt is undefined). */
  failOutbox(id: number, error: string, retryAt: Date | undefined): Promise<void>;
  outboxBacklog(): Promise<number>;
  /** GPU-hours and fidelity of this model's succeeded attempts, newest first. */
  costSamples(model: string, limit?: number): Promise<CostSample[]>;
  /** Insights of this model and of models sharing any of the tags. */
  listInsights(model: string, tags: string[]): Promise<InsightRow[]>;
  /** Insights of these models last updated in [from, to) (the digest's week), whatever their tags. */
  listInsightsUpdated(models: string[], from: Date, to: Date): Promise<InsightRow[]>;
  /** Whole states of the plans still open or changed at or after `since` (newest first). */
  listPlanStates(filter: { since: Date }): Promise<PlanState[]>;
  /**
   * Claims the digest of (channel, week) for `by`: in one short transaction under a Postgres advisory lock on
   * the pair, records it as being sent. True when this caller now owns the send; false when any replica
   * claimed or sent it before (replicas racing for it serialise on the lock and only the first wins).
   */
  claimDigest(channel: string, week: string, by: string, at: Date): Promise<boolean>;
  /** Records the Slack message of a claimed digest. */
  confirmDigest(channel: string, week: string, messageTs: string): Promise<void>;
  /** Gives up a claim that was not sent (Slack refused), so that a later tick tries again. */
  releaseDigest(channel: string, week: string, by: string): Promise<void>;
  listDigests(): Promise<DigestRecord[]>;
  /**
   * Insights in scope (a model, the models of a repo's plans, or models sharing a tag; everything when no
   * scope is given), filtered by full-text search over titles, rationales and knob names when `text` is
   * given, best matches first, then wins, losses, infeasible and null results.
   */
  searchInsights(q: InsightSearch): Promise<InsightRow[]>;
  /** Records a webhook delivery; false when it was already recorded (a duplicate). */
  recordDelivery(deliveryId: string, source: string, receivedAt: Date): Promise<boolean>;
  close(): Promise<void>;
}

type EffectOf<T extends Effect['type']> = Extract<Effect, { type: T }>;

/** Where people follow a plan: a terminal, a Slack thread, a pull request. Every method is idempotent. */
export interface Chat {
  /** Shows the plan (goal, hypotheses, phase table, budget, state), creating or updating it in place. */
  publishPlan(plan: PlanState): Promise<void>;
  notify(plan: PlanState, topic: NotifyTopic, text: string): Promise<void>;
  escalate(plan: PlanState, effect: EffectOf<'escalate'>): Promise<void>;
  requestBudget(plan: PlanState, effect: EffectOf<'request_budget'>): Promise<void>;
  /** The final report; `location` says where the full Markdown was written, when it was. */
  report(plan: PlanState, markdown: string, location?: string): Promise<void>;
  /** Proposes making the winner the new baseline (a promotion PR on GitHub, a note locally). */
  promote(plan: PlanState, effect: EffectOf<'open_promotion'>): Promise<void>;
}
