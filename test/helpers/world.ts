import type { KnobValues } from '../../src/config/rea-config.ts';
import { decide } from '../../src/core/decide.ts';
import type { DecideContext, Effect, PlanEvent, PlanState, Runbook } from '../../src/core/model.ts';

// A scripted "world" for core tests: what a training run of a configuration would report. Known effects
// (crosses help, more so with a wider embedding; adagrad helps), known failures (batch 4096 runs out of
// memory, a learning rate of 0.5 or more diverges) and small seed noise.

export type Outcome =
  | { kind: 'ok'; metrics: Record<string, number> }
  | { kind: 'fail'; conclusion: 'failure'; reason: string; log: string };

function noise(seed: number, fidelity: number): number {
  const x = Math.sin(seed * 12.9898 + fidelity * 78.233) * 43758.5453;
  return (x - Math.floor(x) - 0.5) * 0.002 * (fidelity < 1 ? 2 : 1);
}

export function outcome(overrides: KnobValues, fidelity: number, seed: number): Outcome {
  if (overrides.batch_size === 4096) {
    return {
      kind: 'fail',
      conclusion: 'failure',
      reason: 'exited with code 1',
      log: 'RuntimeError: CUDA out of memory. Tried to allocate 2.50 GiB',
    };
  }
  if (typeof overrides.learning_rate === 'number' && overrides.learning_rate >= 0.5) {
    return {
      kind: 'fail',
      conclusion: 'failure',
      reason: 'exited with code 1',
      log: 'FloatingPointError: loss is nan at step 40',
    };
  }
  let gain = 0;
  if (overrides.feature_crosses === true)
    gain += 0.03 + (typeof overrides.embedding_dim === 'number' && overrides.embedding_dim > 8 ? 0.01 : 0);
  if (overrides.optimizer === 'adagrad') gain += 0.01;
  if (overrides.learning_rate === 0.09) gain += 0.005;
  const ne = 0.8 * (1 - gain) * (1 + noise(seed, fidelity)) * (1 + (1 - fidelity) * 0.05);
  return { kind: 'ok', metrics: { ne, auc: 0.75 + gain, qps: 1500 } };
}

export interface Sim {
  state: PlanState;
  effects: Effect[];
  events: PlanEvent[];
  clock: number;
}

export function step(sim: Sim, event: PlanEvent, runbooks: Runbook[], advanceMs = 60_000): void {
  sim.clock += advanceMs;
  const ctx: DecideContext = { now: new Date(sim.clock).toISOString(), runbooks };
  const out = decide(sim.state, event, ctx);
  sim.state = out.state;
  sim.effects.push(...out.effects);
  sim.events.push(event);
}

/** The event a runner reports for an attempt with this outcome; a failure costs a tenth of a success. */
export function outcomeEvent(runId: string, attempt: number, o: Outcome, gpuHours: number): PlanEvent {
  return o.kind === 'ok'
    ? { type: 'run_finished', runId, attempt, metrics: o.metrics, gpuHours, durationSec: 3600 }
    : {
        type: 'run_failed',
        runId,
        attempt,
        conclusion: o.conclusion,
        reason: o.reason,
        logExcerpt: o.log,
        gpuHours: gpuHours / 10,
        durationSec: 360,
      };
}

/** GPU-hours a run of the scripted world costs: 16 per full run, proportional to fidelity. */
export const linearCost = (fidelity: number): number => 16 * fidelity;

/** Plays the world until nothing is in flight: every in-flight attempt starts and then finishes or fails. */
export function runToQuiescence(
  sim: Sim,
  runbooks: Runbook[],
  limit = 2000,
  cost: (fidelity: number) => number = linearCost,
): number {
  let n = 0;
  for (; n < limit; n++) {
    const run = sim.state.runs.find((r) => r.status === 'dispatched' || r.status === 'running');
    if (!run) return n;
    const a = run.attempts[run.attempts.length - 1]!;
    if (a.status === 'dispatched') step(sim, { type: 'run_started', runId: run.id, attempt: a.n }, runbooks);
    const o = outcome(a.overrides, run.fidelity, run.seed);
    const gpuHours = cost(run.fidelity);
    step(sim, outcomeEvent(run.id, a.n, o, gpuHours), runbooks);
  }
  return n;
}
