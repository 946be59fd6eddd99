import type { Knob, KnobValues } from '../config/rea-config.ts';
import type { MetricGoal } from '../core/contract.ts';
import type { FailureConclusion } from '../core/model.ts';

export type { MetricGoal } from '../core/contract.ts';

/** One point of a chosen-best trajectory: after `gpuHours` of search, the strategy's pick improves by this. */
export interface TrajectoryPoint {
  gpuHours: number;
  /** Full-fidelity, fresh-seed improvement of the configuration the strategy would pick now (0: baseline). */
  improvement: number;
}

export const STRATEGIES = [
  'rea',
  'random',
  'tpe',
  'tpe-hyperband',
  'random-hyperband',
  'tpe-multivariate',
] as const;
export type StrategyName = (typeof STRATEGIES)[number];

/** One training the bench asked for; results are cached by (model dir hash, config, fidelity, seed). */
export type TrainOutcome =
  | { ok: true; value: number; metrics: Record<string, number>; cached: boolean }
  | { ok: false; conclusion: FailureConclusion; reason: string; logTail: string; cached: boolean };

export interface Trainer {
  train(overrides: KnobValues, fidelity: number, seed: number): Promise<TrainOutcome>;
}

/** What a strategy did: each run it paid for, and the configuration it would pick after it. */
export interface SearchStep {
  /** GPU-hours charged so far, this run included. */
  gpuHours: number;
  fidelity: number;
  /** The pick after this run; undefined means the baseline (nothing found yet, or nothing held up). */
  pick: KnobValues | undefined;
}

/** How one rea plan of a bench repetition ended: what it was given, what it spent, and why it stopped. */
export interface PlanOutcome {
  id: string;
  approvedGpuHours: number;
  spentGpuHours: number;
  /** A winner confirmed on fresh seeds. */
  winner: boolean;
  /** The plan's recorded reason, or its status and pause reason when it did not finish. */
  stopReason: string;
  /** The confirmed winner's knob values, when there is one. */
  winnerPick?: KnobValues;
  /** The winner re-trained at full fidelity on the bench's fresh seeds, paired with the baseline (0: as good). */
  winnerImprovement?: number;
}

export interface SearchTrace {
  steps: SearchStep[];
  /** rea only: each plan the repetition ran, in order. */
  plans?: PlanOutcome[];
  /** The strategy's final pick (undefined: keep the baseline). */
  final: KnobValues | undefined;
  gpuHoursUsed: number;
  notes: string[];
}

export interface SeedResult {
  strategy: string;
  seed: number;
  finalImprovement: number;
  finalPick: KnobValues | undefined;
  gpuHoursUsed: number;
  runs: number;
  /** rea only: each plan the repetition ran, with its spend and stop reason (the budget promise, per plan). */
  plans?: PlanOutcome[];
  trajectory: TrajectoryPoint[];
  hoursTo50: number | undefined;
  hoursTo90: number | undefined;
}

/** What every search strategy is given: the knob space, the trainer, the budget and the seeds. */
export interface SearchArgs {
  knobs: Record<string, Knob>;
  goal: MetricGoal;
  trainer: Trainer;
  budgetGpuHours: number;
  fullRunGpuHours: number;
  seed: number;
  trainingSeed: number;
}
