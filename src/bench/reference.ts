import { z } from 'zod';
import type { KnobValues } from '../config/rea-config.ts';
import {
  BENCH_PROTOCOL,
  BENCH_STRATEGIES,
  type BenchResult,
  type BenchStrategy,
  isPeer,
  scoreAgainst,
  summarize,
} from './bench.ts';
import type { SeedResult } from './types.ts';

// Peers measured once and reused (issue 23): random search and Optuna cannot change while only rea's planner
// does, so a committed bench JSON (docs/bench/<task>-search.json) stands in for their rows. A run with
// `--reference` measures only the strategies asked for and merges the reference's other strategies in; the
// 50% and 90% marks are re-scored against the best of both, from each seed's trajectory. A reference made
// under another protocol, or for another task, budget or evaluation, is refused: its rows would not compare.

export class BenchReferenceError extends Error {
  readonly code = 'BENCH_REFERENCE_MISMATCH';
}

const knobValues = z.record(z.string(), z.union([z.number(), z.string(), z.boolean()]));

const seedRow = z.object({
  seed: z.number().int(),
  final_improvement: z.number(),
  final_pick: knobValues.nullable(),
  gpu_hours_used: z.number(),
  runs: z.number().int(),
  /** [GPU-hours so far, the pick's fresh-seed improvement] after each run. */
  trajectory: z.array(z.tuple([z.number(), z.number()])),
});

const referenceSchema = z.object({
  protocol: z.number().int(),
  command: z.string(),
  optuna_version: z.string().nullable().optional(),
  model: z.string(),
  budget_gpu_hours: z.number(),
  eval_seeds: z.array(z.number().int()),
  best_improvement: z.number(),
  best_pick: knobValues.nullable(),
  strategies: z.record(z.string(), z.object({ seeds: z.array(seedRow) })),
});

export type Reference = z.infer<typeof referenceSchema> & { file: string };

/** Parses a bench JSON as a reference, or says what is wrong with it. */
export function parseReference(text: string, file: string): Reference {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new BenchReferenceError(`${file} is not JSON (${(e as Error).message})`);
  }
  const protocol = (json as { protocol?: unknown } | null)?.protocol;
  if (protocol !== BENCH_PROTOCOL) {
    throw new BenchReferenceError(
      `${file} was measured under bench protocol ${protocol === undefined ? '(none: made before protocols were versioned)' : String(protocol)}, this rea measures protocol ${BENCH_PROTOCOL}; its rows would not compare. Regenerate it with the command it names (full protocol, 10 seeds).`,
    );
  }
  const parsed = referenceSchema.safeParse(json);
  if (!parsed.success) {
    const first = parsed.error.issues[0]!;
    throw new BenchReferenceError(
      `${file} is not a bench reference: ${first.path.join('.') || '(top)'}: ${first.message}`,
    );
  }
  return { ...parsed.data, file };
}

/** The reference's rows of one strategy as this run's results. */
function rowsOf(ref: Reference, strategy: BenchStrategy): SeedResult[] {
  return (ref.strategies[strategy]?.seeds ?? []).map((s) => ({
    strategy,
    seed: s.seed,
    finalImprovement: s.final_improvement,
    finalPick: (s.final_pick ?? undefined) as KnobValues | undefined,
    gpuHoursUsed: s.gpu_hours_used,
    runs: s.runs,
    trajectory: s.trajectory.map(([gpuHours, improvement]) => ({ gpuHours, improvement })),
    hoursTo50: undefined,
    hoursTo90: undefined,
  }));
}

/**
 * This run's strategies, plus the reference's strategies this run did not measure, scored against the best
 * pick of either. Refuses a reference for another task, budget or evaluation seeds.
 */
export function withReference(current: BenchResult, ref: Reference): BenchResult {
  const mismatch: string[] = [];
  if (ref.model !== current.model) mismatch.push(`model ${ref.model}, not ${current.model}`);
  if (Math.abs(ref.budget_gpu_hours - current.budgetGpuHours) > 1e-9 * current.budgetGpuHours) {
    mismatch.push(`budget ${ref.budget_gpu_hours} GPU-hours, not ${current.budgetGpuHours}`);
  }
  if (ref.eval_seeds.join(',') !== current.evalSeeds.join(',')) {
    mismatch.push(`evaluation seeds ${ref.eval_seeds.join(', ')}, not ${current.evalSeeds.join(', ')}`);
  }
  if (mismatch.length > 0) {
    throw new BenchReferenceError(
      `${ref.file} does not compare with this run: ${mismatch.join('; ')}. Run with the reference's settings (${ref.command}) or regenerate it.`,
    );
  }
  const ran = new Set(current.summaries.map((s) => s.strategy));
  // Peers only (all of them, random+Hyperband and multivariate TPE included): a reference's rea rows are an
  // older planner's, which is what a run of rea replaces.
  const borrowed = BENCH_STRATEGIES.filter(
    (s) => isPeer(s) && !ran.has(s) && ref.strategies[s] !== undefined,
  );
  const better = ref.best_improvement > current.bestImprovement;
  const best = better ? ref.best_improvement : current.bestImprovement;
  const results = scoreAgainst([...current.results, ...borrowed.flatMap((s) => rowsOf(ref, s))], best);
  const strategies = [...current.summaries.map((s) => s.strategy), ...borrowed];
  return {
    ...current,
    reference: { file: ref.file, command: ref.command, strategies: borrowed },
    bestImprovement: best,
    bestPick: better ? ((ref.best_pick ?? undefined) as KnobValues | undefined) : current.bestPick,
    results,
    summaries: summarize(strategies, results),
  };
}
