import { randomBytes } from 'node:crypto';
import type { ModelDir } from '../config/load.ts';
import { overheadGpuHours } from '../core/costs.ts';
import { decide } from '../core/decide.ts';
import type {
  DecideContext,
  GithubOrigin,
  PlanEvent,
  PlanSpec,
  PlanState,
  Runbook,
  SlackThread,
} from '../core/model.ts';
import { createPlan } from '../core/plan.ts';
import { noisePriorsFrom, proposeHypotheses } from './hypothesis-engine.ts';
import type { CodeReader, HypothesisSource, Store } from './ports.ts';

// Use cases: each one transaction that locks the plan row, runs the pure core, and writes state, event
// log and outbox together. Nothing here talks to a runner or a chat: effects go to the outbox.

export function specFrom(model: ModelDir): PlanSpec {
  const c = model.config;
  return {
    model: c.model,
    tags: c.tags,
    metric: c.metric,
    guardrails: c.guardrails,
    knobs: c.knobs,
    fidelity: c.fidelity,
    seeds: c.seeds,
    gpus: c.run.gpus,
    usdPerGpuHour: c.run.usd_per_gpu_hour,
    timeoutMinutes: c.run.timeout_minutes,
    baselineGpuHours: c.run.baseline_gpu_hours,
    overheadGpuHours: overheadGpuHours(c.run),
    maxGpuHours: c.budget.max_gpu_hours,
    maxConcurrentRuns: c.budget.max_concurrent_runs,
    approvers: c.approvers,
    baselineConfigFile: c.baseline.config_file,
    workflow: c.run.workflow,
    editable: c.editable,
  };
}

export function newPlanId(model: string): string {
  return `${model}-${randomBytes(3).toString('hex')}`;
}

export async function loadModelPlans(store: Store, model: string): Promise<PlanState[]> {
  const summaries = await store.listPlans({ model });
  const plans = await Promise.all(summaries.map((s) => store.getPlan(s.id)));
  return plans.filter((p): p is PlanState => p !== undefined);
}

export interface RequestPlanResult {
  state: PlanState;
  notes: string[];
}

export async function requestPlan(args: {
  store: Store;
  model: ModelDir;
  goal: string;
  sources: HypothesisSource[];
  /** The model's files as the research agent may read them (the directory, or the repo at its base sha). */
  code?: CodeReader;
  now: Date;
  repo?: string;
  origin?: GithubOrigin;
  /** The plan's Slack thread (its channel; the parent message is posted by the outbox). */
  slack?: SlackThread;
  maxGpuHours?: number;
  /** Builds the plan without storing it (`rea plan`). */
  dryRun?: boolean;
}): Promise<RequestPlanResult> {
  const { store, model } = args;
  const proposal = await proposeHypotheses({
    store,
    model,
    goal: args.goal,
    sources: args.sources,
    ...(args.code ? { code: args.code } : {}),
  });
  const previous = await loadModelPlans(store, model.config.model);
  const spec = specFrom(model);
  if (args.maxGpuHours !== undefined) spec.maxGpuHours = args.maxGpuHours;
  const created = createPlan({
    id: newPlanId(model.config.model),
    goal: args.goal,
    ...(args.repo ? { repo: args.repo } : {}),
    ...(args.origin ? { origin: args.origin } : {}),
    spec,
    baseline: model.baseline,
    hypotheses: proposal.hypotheses,
    rejected: proposal.rejected,
    costSamples: await store.costSamples(model.config.model),
    noisePriors: noisePriorsFrom(previous),
    // Each plan of a model gets its own seeds, so that evidence pooled across plans is independent.
    seedBase: 1 + previous.length * 10_000,
    now: args.now.toISOString(),
  });
  const state: PlanState = {
    ...created.state,
    ...(args.slack ? { slack: args.slack } : {}),
    ...(proposal.llmUsage.length > 0 ? { llmUsage: proposal.llmUsage } : {}),
    ...(proposal.notes.length > 0 ? { notes: proposal.notes } : {}),
  };
  const { effects } = created;
  if (args.dryRun) return { state, notes: proposal.notes };
  await store.transaction(async (tx) => {
    await tx.savePlan(state);
    await tx.appendEvent(state.id, { type: 'plan_created' }, state.createdAt);
    await tx.enqueueEffects(state.id, effects, state.createdAt);
  });
  return { state, notes: proposal.notes };
}

export interface ApplyResult {
  state: PlanState;
  changed: boolean;
}

/** Applies one event to one plan in one transaction. Unknown plans and no-op events change nothing. */
export async function applyEvent(args: {
  store: Store;
  planId: string;
  event: PlanEvent;
  now: Date;
  runbooks: Runbook[];
}): Promise<ApplyResult | undefined> {
  return args.store.transaction(async (tx) => {
    const state = await tx.loadPlanForUpdate(args.planId);
    if (!state) return undefined;
    const ctx: DecideContext = { now: args.now.toISOString(), runbooks: args.runbooks };
    const out = decide(state, args.event, ctx);
    if (out.state === state) return { state, changed: false };
    await tx.savePlan(out.state);
    await tx.appendEvent(state.id, args.event, ctx.now);
    await tx.enqueueEffects(state.id, out.effects, ctx.now);
    return { state: out.state, changed: true };
  });
}

/**
 * Records what a surface created for a plan (its PR, sticky comment, check run). Not a decision, so it
 * does not go through decide; it still takes the plan's row lock so it cannot lose a concurrent wake.
 */
export async function updateOrigin(
  store: Store,
  planId: string,
  patch: Partial<GithubOrigin>,
): Promise<void> {
  await store.transaction(async (tx) => {
    const state = await tx.loadPlanForUpdate(planId);
    if (!state?.origin) return;
    const next = { ...state.origin, ...patch };
    if (JSON.stringify(next) === JSON.stringify(state.origin)) return;
    await tx.savePlan({ ...state, origin: next });
  });
}

/**
 * Records the plan's Slack thread (its parent message once posted). Like updateOrigin: not a decision, but
 * under the plan's row lock. Creates the thread record when the plan has none.
 */
export async function updateSlackThread(
  store: Store,
  planId: string,
  patch: Partial<SlackThread>,
): Promise<void> {
  await store.transaction(async (tx) => {
    const state = await tx.loadPlanForUpdate(planId);
    if (!state) return;
    const next = { ...state.slack, ...patch } as SlackThread;
    if (!next.channel) return;
    if (JSON.stringify(next) === JSON.stringify(state.slack)) return;
    await tx.savePlan({ ...state, slack: next });
  });
}
