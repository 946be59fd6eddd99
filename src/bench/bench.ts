import type { ModelDir } from '../config/load.ts';
import type { KnobValues } from '../config/rea-config.ts';
import { assertNever, overridesKey } from '../core/knobs.ts';
import type { PlanState, Runbook } from '../core/model.ts';
import {
  freshSeeds,
  hoursToReach,
  pairedImprovement,
  type Spread,
  spread,
  type TrajectoryPoint,
} from './measure.ts';
import { checkOptuna, isOptunaStrategy, OPTUNA_HINT, runOptuna } from './optuna.ts';
import { runRandomSearch } from './random-search.ts';
import { planOutcome, runReaPlan, runReaStrategy } from './rea-strategy.ts';
import { type PlanOutcome, type SearchTrace, type SeedResult, STRATEGIES, type Trainer } from './types.ts';

// `rea bench search`: every strategy searches the same knob space with the same GPU-hour budget on the
// same bench seeds; then every configuration a strategy picked (along the way and at the end) is trained at
// full fidelity on fresh seeds, paired with the baseline on the same seeds, so that strategies are judged by
// what their picks are really worth, not by the noisy value their search saw.

export const BENCH_STRATEGIES = [...STRATEGIES, 'rea-warm'] as const;
export type BenchStrategy = (typeof BENCH_STRATEGIES)[number];

/** The standard searches rea is measured against (issue 24's "every peer strategy"); rea's own are not. */
export function isPeer(strategy: BenchStrategy): boolean {
  switch (strategy) {
    case 'random':
    case 'tpe':
    case 'tpe-hyperband':
    case 'random-hyperband':
    case 'tpe-multivariate':
      return true;
    case 'rea':
    case 'rea-warm':
      return false;
    default:
      return assertNever(strategy);
  }
}

export const PEERS: readonly BenchStrategy[] = BENCH_STRATEGIES.filter(isPeer);

/** A plan's outcome with its confirmed winner's configuration (what the fresh seeds re-measure). */
function outcomeOf(state: PlanState): PlanOutcome {
  const o = planOutcome(state);
  return state.winner ? { ...o, winnerPick: state.winner.overrides } : o;
}

export interface BenchOptions {
  model: ModelDir;
  trainer: Trainer;
  runbooks: Runbook[];
  strategies: BenchStrategy[];
  seeds: number;
  budgetGpuHours: number;
  evalSeeds: number;
  python: string;
  /** How many strategy repetitions search at once (trainings are capped separately by the trainer). */
  parallel: number;
  progress?: (line: string) => void;
}

export interface StrategySummary {
  strategy: BenchStrategy;
  seeds: number;
  finalImprovement: Spread;
  gpuHoursUsed: Spread;
  hoursTo50: Spread;
  hoursTo90: Spread;
  reached50: number;
  reached90: number;
}

export interface WarmStartResult {
  seed: number;
  /** Full-fidelity fresh-seed improvement of the first plan's pick. */
  firstImprovement: number;
  firstHoursToReach: number | undefined;
  secondHoursToReach: number | undefined;
  /** second / first; Infinity when the second never got there; undefined when the first found nothing. */
  ratio: number | undefined;
  secondImprovement: number;
}

export interface BenchResult {
  /** BENCH_PROTOCOL of the run that measured it. */
  protocol: number;
  /** The Optuna version the TPE strategies ran with, when they ran. */
  optunaVersion?: string;
  /** Strategies whose rows come from a reference file (measured once, not in this run), and that file. */
  reference?: { file: string; command: string; strategies: BenchStrategy[] };
  model: string;
  metric: string;
  goal: 'minimize' | 'maximize';
  budgetGpuHours: number;
  fullRunGpuHours: number;
  evalSeeds: number[];
  seeds: number[];
  /** The best fresh-seed improvement any strategy's pick reached (the 100% of "50%" and "90%"). */
  bestImprovement: number;
  bestPick: KnobValues | undefined;
  skipped: Array<{ strategy: BenchStrategy; reason: string }>;
  results: SeedResult[];
  summaries: StrategySummary[];
  warmStart?: { perSeed: WarmStartResult[]; ratio: Spread };
}

/** Bench seed s gives every strategy the same randomness and the same first training seed. */
export function seedBaseFor(seed: number): number {
  return seed * 10_000 + 1;
}

/** `[#####.....] 5/10`: where a long bench is, on stderr. */
export function progressBar(done: number, total: number, width = 20): string {
  const filled = total > 0 ? Math.round((done / total) * width) : width;
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total}`;
}

async function pool<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const workers = Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, async () => {
    while (next < items.length) {
      const item = items[next++]!;
      await fn(item);
    }
  });
  await Promise.all(workers);
}

/**
 * What `rea bench search` measures, in a number: results of one protocol are comparable (and a reference of
 * peers can be reused) only with another of the same version. Bump it when the budget, the charging rule, the
 * fresh-seed evaluation or a strategy's definition changes.
 */
export const BENCH_PROTOCOL = 2;

/** The table row of each strategy: medians and spreads over its seeds. */
export function summarize(
  strategies: readonly BenchStrategy[],
  results: readonly SeedResult[],
): StrategySummary[] {
  return strategies.map((strategy): StrategySummary => {
    const rs = results.filter((r) => r.strategy === strategy);
    return {
      strategy,
      seeds: rs.length,
      finalImprovement: spread(rs.map((r) => r.finalImprovement)),
      gpuHoursUsed: spread(rs.map((r) => r.gpuHoursUsed)),
      hoursTo50: spread(rs.map((r) => r.hoursTo50)),
      hoursTo90: spread(rs.map((r) => r.hoursTo90)),
      reached50: rs.filter((r) => r.hoursTo50 !== undefined).length,
      reached90: rs.filter((r) => r.hoursTo90 !== undefined).length,
    };
  });
}

/** GPU-hours to 50% and 90% of `best`, from each result's trajectory (best changes when results are merged). */
export function scoreAgainst(results: readonly SeedResult[], best: number): SeedResult[] {
  return results.map((r) => ({
    ...r,
    hoursTo50: best > 0 ? hoursToReach(r.trajectory, 0.5 * best) : undefined,
    hoursTo90: best > 0 ? hoursToReach(r.trajectory, 0.9 * best) : undefined,
  }));
}

export async function runBench(opts: BenchOptions): Promise<BenchResult> {
  const { model, trainer } = opts;
  const cfg = model.config;
  const goal = cfg.metric.goal;
  const full = cfg.run.baseline_gpu_hours;
  const say = opts.progress ?? (() => {});
  const skipped: BenchResult['skipped'] = [];
  let strategies = [...opts.strategies];
  let optunaVersion: string | undefined;
  if (strategies.some(isOptunaStrategy)) {
    const optuna = await checkOptuna(opts.python);
    if (!optuna.ok) {
      for (const s of strategies.filter(isOptunaStrategy)) {
        const reason = `Optuna is not available (${optuna.reason}); ${OPTUNA_HINT}`;
        skipped.push({ strategy: s, reason });
        say(`skipping ${s}: ${reason}`);
      }
      strategies = strategies.filter((x) => !isOptunaStrategy(x));
    } else {
      say(`Optuna ${optuna.version} via ${opts.python}`);
      optunaVersion = optuna.version;
    }
  }
  const seeds = Array.from({ length: opts.seeds }, (_, i) => i + 1);
  const traces = new Map<string, SearchTrace>();
  const plans = new Map<number, PlanState>();
  const key = (s: string, seed: number) => `${s}#${seed}`;

  // The warm-started plan needs the cold one of its seed: run 'rea' first for those seeds.
  const needCold = strategies.includes('rea') || strategies.includes('rea-warm');
  const order: BenchStrategy[] = [
    ...(needCold ? (['rea'] as const) : []),
    ...strategies.filter((s) => s !== 'rea' && s !== 'rea-warm'),
    ...(strategies.includes('rea-warm') ? (['rea-warm'] as const) : []),
  ];
  const jobs = order.flatMap((s) => seeds.map((seed) => ({ strategy: s, seed })));
  let done = 0;
  const started = Date.now();
  const searchOne = async ({ strategy, seed }: { strategy: BenchStrategy; seed: number }) => {
    const seedBase = seedBaseFor(seed);
    const common = {
      knobs: cfg.knobs,
      goal,
      trainer,
      budgetGpuHours: opts.budgetGpuHours,
      fullRunGpuHours: full,
      seed,
      trainingSeed: seedBase,
    };
    let trace: SearchTrace;
    switch (strategy) {
      case 'rea': {
        const out = await runReaStrategy({
          model,
          trainer,
          runbooks: opts.runbooks,
          budgetGpuHours: opts.budgetGpuHours,
          seedBase,
          id: `bench-rea-${seed}`,
        });
        plans.set(seed, out.plans[0]!);
        // The first plan alone is what a warm-started second plan is compared with.
        traces.set(key('rea-first', seed), out.firstTrace);
        trace = { ...out.trace, plans: out.plans.map(outcomeOf) };
        break;
      }
      case 'rea-warm': {
        const first = plans.get(seed)!;
        const out = await runReaPlan({
          model,
          trainer,
          runbooks: opts.runbooks,
          budgetGpuHours: opts.budgetGpuHours,
          // A second plan gets seeds of its own, as rea gives every plan of a model.
          seedBase: seedBase + 5_000,
          history: [first],
          id: `bench-rea-warm-${seed}`,
        });
        trace = { ...out.trace, plans: [outcomeOf(out.state)] };
        trace.notes.push(`plan finished: ${out.state.finishedReason ?? out.state.status}`);
        break;
      }
      case 'random':
        trace = await runRandomSearch(common);
        break;
      case 'tpe':
      case 'tpe-hyperband':
      case 'random-hyperband':
      case 'tpe-multivariate':
        trace = await runOptuna({ ...common, python: opts.python, strategy });
        break;
      default:
        assertNever(strategy);
    }
    traces.set(key(strategy, seed), trace);
    done += 1;
    const stats =
      'stats' in trainer ? (trainer as { stats: { trained: number; cached: number } }).stats : undefined;
    say(
      `${progressBar(done, jobs.length)} ${strategy} seed ${seed}: ${trace.steps.length} runs, ${fmt(trace.gpuHoursUsed)} GPU-h` +
        `${stats ? ` (trainings so far: ${stats.trained} run, ${stats.cached} from cache)` : ''}, ${((Date.now() - started) / 1000).toFixed(0)} s`,
    );
  };
  // The cold rea plans go first so that their warm-started seconds can follow in the same pool.
  const cold = jobs.filter((j) => j.strategy === 'rea');
  await pool(cold, opts.parallel, searchOne);
  await pool(
    jobs.filter((j) => j.strategy !== 'rea'),
    opts.parallel,
    searchOne,
  );

  // Fresh-seed, full-fidelity evaluation of every pick (the baseline once, shared by all).
  const evalSeeds = freshSeeds(opts.evalSeeds);
  const picks = new Map<string, KnobValues>();
  for (const t of traces.values()) {
    for (const s of t.steps) if (s.pick) picks.set(overridesKey(s.pick), s.pick);
    if (t.final) picks.set(overridesKey(t.final), t.final);
    // Every confirmed winner, even one a later plan's better winner replaced as the pick.
    for (const p of t.plans ?? []) if (p.winnerPick) picks.set(overridesKey(p.winnerPick), p.winnerPick);
  }
  say(
    `evaluating ${picks.size} picked configurations and the baseline at full fidelity on ${evalSeeds.length} fresh seeds`,
  );
  const valuesOf = async (o: KnobValues) =>
    Promise.all(
      evalSeeds.map(async (s) => {
        const r = await trainer.train(o, 1, s);
        return r.ok && Number.isFinite(r.value) ? r.value : undefined;
      }),
    );
  const baseValues = await valuesOf({});
  if (baseValues.some((v) => v === undefined)) {
    throw new Error('the baseline failed to train at full fidelity on the evaluation seeds');
  }
  const improvement = new Map<string, number>();
  await pool([...picks.entries()], 8, async ([k, o]) => {
    // A pick that fails to train on fresh seeds is worth nothing: the team would keep the baseline.
    improvement.set(k, pairedImprovement(baseValues, await valuesOf(o), goal) ?? 0);
  });
  const imp = (o: KnobValues | undefined) => (o ? improvement.get(overridesKey(o))! : 0);

  const trajectories = new Map<string, TrajectoryPoint[]>();
  let best = 0;
  let bestPick: KnobValues | undefined;
  for (const [k, t] of traces) {
    const traj = t.steps.map((s) => ({ gpuHours: s.gpuHours, improvement: imp(s.pick) }));
    trajectories.set(k, traj);
    for (const s of t.steps) {
      if (imp(s.pick) > best) {
        best = imp(s.pick);
        bestPick = s.pick;
      }
    }
  }
  const results: SeedResult[] = [];
  for (const strategy of strategies) {
    for (const seed of seeds) {
      const t = traces.get(key(strategy, seed))!;
      const traj = trajectories.get(key(strategy, seed))!;
      results.push({
        strategy,
        seed,
        finalImprovement: imp(t.final),
        finalPick: t.final,
        gpuHoursUsed: t.gpuHoursUsed,
        runs: t.steps.length,
        ...(t.plans
          ? {
              plans: t.plans.map((p) => (p.winnerPick ? { ...p, winnerImprovement: imp(p.winnerPick) } : p)),
            }
          : {}),
        trajectory: traj,
        hoursTo50: best > 0 ? hoursToReach(traj, 0.5 * best) : undefined,
        hoursTo90: best > 0 ? hoursToReach(traj, 0.9 * best) : undefined,
      });
    }
  }
  const summaries = summarize(strategies, results);
  const out: BenchResult = {
    protocol: BENCH_PROTOCOL,
    ...(optunaVersion !== undefined ? { optunaVersion } : {}),
    model: cfg.model,
    metric: cfg.metric.name,
    goal,
    budgetGpuHours: opts.budgetGpuHours,
    fullRunGpuHours: full,
    evalSeeds,
    seeds,
    bestImprovement: best,
    bestPick,
    skipped,
    results,
    summaries,
  };
  if (strategies.includes('rea-warm')) {
    const perSeed = seeds.map((seed): WarmStartResult => {
      const first = traces.get(key('rea-first', seed))!;
      const target = imp(first.final);
      const h1 = target > 0 ? hoursToReach(trajectories.get(key('rea-first', seed))!, target) : undefined;
      const h2 = target > 0 ? hoursToReach(trajectories.get(key('rea-warm', seed))!, target) : undefined;
      return {
        seed,
        firstImprovement: target,
        firstHoursToReach: h1,
        secondHoursToReach: h2,
        // Nothing to reach when the first plan found nothing (left out); never reaching it counts as infinite.
        ratio:
          h1 === undefined || h1 <= 0 ? undefined : h2 === undefined ? Number.POSITIVE_INFINITY : h2 / h1,
        secondImprovement: imp(traces.get(key('rea-warm', seed))!.final),
      };
    });
    out.warmStart = {
      perSeed,
      ratio: spread(perSeed.flatMap((w) => (w.ratio === undefined ? [] : [w.ratio]))),
    };
  }
  return out;
}

function fmt(h: number): string {
  return Number(h.toPrecision(3)).toString();
}
