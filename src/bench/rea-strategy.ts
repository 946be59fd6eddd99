import { OfflineResearchAgent } from '../adapters/llm/offline-research-agent.ts';
import { noisePriorsFrom, proposeHypotheses } from '../app/hypothesis-engine.ts';
import { specFrom } from '../app/plan-service.ts';
import type { InsightRow, Store } from '../app/ports.ts';
import type { ModelDir } from '../config/load.ts';
import type { KnobValues } from '../config/rea-config.ts';
import { decide, isTerminalPlan, spentGpuHours } from '../core/decide.ts';
import { computeInsights } from '../core/insights.ts';
import type { Effect, PlanEvent, PlanState, Runbook } from '../core/model.ts';
import { createPlan, layoutEstimate } from '../core/plan.ts';
import { chargeFor } from './measure.ts';
import type { PlanOutcome, SearchTrace, Trainer } from './types.ts';

// rea's own planner, driven in memory: the real createPlan and decide of src/core, hypotheses from the real
// engine with the offline research agent (and, for a warm start, the insights of earlier plans). No
// database: the driver plays the outbox and the runner, turning dispatch effects into trainings and their
// results into run_finished / run_failed events, in dispatch order so that a plan is reproducible.

const BENCH_EPOCH = Date.UTC(2026, 0, 1);

/** The engine reads insights from a store; the bench has no database, only the rows it computed. */
function insightsStore(rows: InsightRow[]): Store {
  const only = { listInsights: async () => rows };
  return new Proxy(only, {
    get(target, prop) {
      if (prop in target) return target[prop as keyof typeof target];
      if (prop === 'then') return undefined;
      throw new Error(`the bench's in-memory store has no ${String(prop)}`);
    },
  }) as unknown as Store;
}

export interface ReaPlanOptions {
  model: ModelDir;
  trainer: Trainer;
  runbooks: Runbook[];
  budgetGpuHours: number;
  seedBase: number;
  /** Earlier plans of this model: their insights feed the engine and their noise the priors. */
  history?: PlanState[];
  id: string;
}

export interface ReaPlanResult {
  trace: SearchTrace;
  state: PlanState;
}

/**
 * What the plan would recommend if it stopped now: the confirmed winner; nothing once the plan ended
 * without one; otherwise the best candidate that passed at the highest fidelity measured so far (a pass at
 * full fidelity outranks any number of passes on a tenth of the data).
 */
export function planPick(state: PlanState): KnobValues | undefined {
  if (state.winner) return state.winner.overrides;
  if (state.status === 'completed' || state.status === 'cancelled' || state.status === 'rejected') {
    return undefined;
  }
  const passes = state.verdicts.filter((v) => v.step !== 'confirm' && v.verdict === 'pass');
  const top = Math.max(...passes.map((v) => v.fidelity));
  const best = passes.filter((v) => v.fidelity === top).sort((a, b) => b.relEffect - a.relEffect)[0];
  return best ? state.candidates.find((c) => c.id === best.candidateId)?.overrides : undefined;
}

/** The GPU-hours the planner would ask for this model (what `rea plan` requests), for the default budget. */
export async function requestedBudget(model: ModelDir): Promise<number> {
  const { state } = await makePlan(model, 'budget-probe', 1, undefined, []);
  return state.budget.requestedGpuHours;
}

async function makePlan(
  model: ModelDir,
  id: string,
  seedBase: number,
  budget: number | undefined,
  history: PlanState[],
) {
  const insights = history.length > 0 ? computeInsights(history, new Date(BENCH_EPOCH).toISOString()) : [];
  const proposal = await proposeHypotheses({
    store: insightsStore(insights),
    model,
    goal: 'improve the primary metric',
    sources: [new OfflineResearchAgent()],
  });
  const spec = specFrom(model);
  if (budget !== undefined) spec.maxGpuHours = budget;
  // The bench charges every strategy fidelity x baseline_gpu_hours (full-run equivalents, as HPO papers
  // count), so rea plans there with no fixed part either: its estimates are then the bench's own prices.
  spec.overheadGpuHours = 0;
  return createPlan({
    id,
    goal: 'improve the primary metric',
    spec,
    baseline: model.baseline,
    hypotheses: proposal.hypotheses,
    rejected: proposal.rejected,
    // Cost estimates come from the same rule the bench charges (fidelity x baseline_gpu_hours): no
    // history, so the planner's fallback model, which then stays exact as run costs come in.
    costSamples: [],
    noisePriors: noisePriorsFrom(history),
    seedBase,
    now: new Date(BENCH_EPOCH).toISOString(),
  });
}

export async function runReaPlan(opts: ReaPlanOptions): Promise<ReaPlanResult> {
  return runPlanWith(opts, 0, undefined);
}

/** Most plans a `rea` repetition runs on its budget (each needs the budget left to be worth starting). */
const MAX_PLANS = 4;

/**
 * rea as a team uses it on a budget: a plan, then, while budget is left, the next plan of the same model
 * with the insights of the earlier ones (as `rea run` would make it). The pick is the best winner confirmed
 * so far (by its full-fidelity effect: a team promotes a new winner only if it beats the current one);
 * before any winner, the running plan's unconfirmed best.
 */
export async function runReaStrategy(
  opts: Omit<ReaPlanOptions, 'history'>,
): Promise<ReaPlanResult & { plans: PlanState[]; firstTrace: SearchTrace }> {
  const spec = specFrom(opts.model);
  spec.overheadGpuHours = 0;
  const smallest = layoutEstimate(spec, 1, 'minimal', []).gpuHoursP50;
  const plans: PlanState[] = [];
  const trace: SearchTrace = { steps: [], final: undefined, gpuHoursUsed: 0, notes: [], plans: [] };
  let champion: { overrides: KnobValues; relEffect: number } | undefined;
  let firstTrace: SearchTrace | undefined;
  for (let k = 0; k < MAX_PLANS; k++) {
    const left = opts.budgetGpuHours - trace.gpuHoursUsed;
    // A team does not start a plan it cannot finish: what is left must pay for the smallest plan that can
    // name a winner (baseline replicas, one screened hypothesis, one confirmation on every seed), or the
    // plan would only pause for more budget at once.
    if (left < smallest - 1e-12) break;
    const out = await runPlanWith(
      {
        ...opts,
        budgetGpuHours: left,
        history: plans,
        seedBase: opts.seedBase + 5_000 * k,
        id: `${opts.id}-p${k + 1}`,
      },
      trace.gpuHoursUsed,
      champion,
    );
    plans.push(out.state);
    trace.plans?.push(planOutcome(out.state));
    firstTrace ??= structuredClone(out.trace);
    trace.steps.push(...out.trace.steps);
    trace.gpuHoursUsed += out.trace.gpuHoursUsed;
    trace.notes.push(`plan ${k + 1}: ${out.state.finishedReason ?? out.state.status}`, ...out.trace.notes);
    const w = out.state.winner;
    if (w && (!champion || w.relEffect > champion.relEffect))
      champion = { overrides: w.overrides, relEffect: w.relEffect };
    trace.final = champion?.overrides ?? out.trace.final;
    if (out.trace.gpuHoursUsed === 0 || !isTerminalPlan(out.state)) break;
  }
  return { trace, state: plans[plans.length - 1]!, plans, firstTrace: firstTrace! };
}

export function planOutcome(state: PlanState): PlanOutcome {
  return {
    id: state.id,
    approvedGpuHours: state.budget.approvedGpuHours,
    spentGpuHours: spentGpuHours(state),
    winner: state.winner !== undefined,
    stopReason:
      state.finishedReason ??
      `${state.status}${state.pauseReason ? ` (${state.pauseReason})` : ''} in ${state.step}`,
  };
}

async function runPlanWith(
  opts: ReaPlanOptions,
  spentBefore: number,
  champion: { overrides: KnobValues; relEffect: number } | undefined,
): Promise<ReaPlanResult> {
  const { model, trainer } = opts;
  // An earlier plan's confirmed winner stays the pick until this plan confirms a better one.
  const pick = (s: PlanState) => {
    if (!champion) return planPick(s);
    if (s.winner && s.winner.relEffect > champion.relEffect) return s.winner.overrides;
    return champion.overrides;
  };
  const full = model.config.run.baseline_gpu_hours;
  let tick = 0;
  const ctx = () => ({ now: new Date(BENCH_EPOCH + ++tick * 1000).toISOString(), runbooks: opts.runbooks });
  const created = await makePlan(model, opts.id, opts.seedBase, opts.budgetGpuHours, opts.history ?? []);
  let state = created.state;
  const notes: string[] = [];
  const step = (event: PlanEvent): Effect[] => {
    const out = decide(state, event, ctx());
    state = out.state;
    return out.effects;
  };
  type Flight = { runId: string; attempt: number; fidelity: number; result: ReturnType<Trainer['train']> };
  const flights: Flight[] = [];
  const launch = (effects: Effect[]) => {
    for (const e of effects) {
      if (e.type !== 'dispatch_run' && e.type !== 'retry_run') continue;
      flights.push({
        runId: e.runId,
        attempt: e.attempt,
        fidelity: e.fidelity,
        result: trainer.train(e.overrides, e.fidelity, e.seed),
      });
    }
  };
  launch(step({ type: 'approved', gpuHours: opts.budgetGpuHours, by: 'bench', via: 'auto' }));
  const trace: SearchTrace = { steps: [], final: undefined, gpuHoursUsed: 0, notes };
  while (flights.length > 0) {
    const f = flights.shift()!;
    const r = await f.result;
    const gpuHours = chargeFor(f.fidelity, full);
    trace.gpuHoursUsed += gpuHours;
    launch(
      step(
        r.ok
          ? {
              type: 'run_finished',
              runId: f.runId,
              attempt: f.attempt,
              metrics: r.metrics,
              gpuHours,
              durationSec: gpuHours * 3600,
            }
          : {
              type: 'run_failed',
              runId: f.runId,
              attempt: f.attempt,
              conclusion: r.conclusion,
              reason: r.reason,
              logExcerpt: r.logTail,
              gpuHours,
              durationSec: gpuHours * 3600,
            },
      ),
    );
    trace.steps.push({ gpuHours: spentBefore + trace.gpuHoursUsed, fidelity: f.fidelity, pick: pick(state) });
  }
  if (!isTerminalPlan(state)) {
    // Paused (the budget ran out, or a failure needs a person): the bench stops here, with the plan's pick
    // so far (not confirmed at full fidelity).
    notes.push(`plan ${state.id} stopped ${state.status} (${state.pauseReason ?? 'idle'}) in ${state.step}`);
  }
  trace.final = pick(state);
  return { trace, state };
}
