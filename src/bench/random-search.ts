import type { Knob, KnobValue, KnobValues } from '../config/rea-config.ts';
import { assertNever, overridesKey } from '../core/knobs.ts';
import { chargeFor } from './measure.ts';
import type { MetricGoal, SearchArgs, SearchTrace } from './types.ts';

// Random search at full fidelity: what many teams do today. Each trial draws every knob independently
// (log-uniform for log floats), trains once at fidelity 1 on the seed of this bench repetition, and the
// pick is the best value seen so far.

/** mulberry32: a small seeded generator, so a bench repetition is reproducible. */
export function seededRandom(seed: number): () => number {
  let s = (seed ^ 0x5bd1e995) | 0;
  return () => {
    s = (s + 0x6d2b79f5) | 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function sampleKnob(knob: Knob, rand: () => number): KnobValue {
  switch (knob.type) {
    case 'float': {
      const u = rand();
      if (knob.log) return Math.exp(Math.log(knob.min) + u * (Math.log(knob.max) - Math.log(knob.min)));
      return knob.min + u * (knob.max - knob.min);
    }
    case 'int': {
      const steps = Math.floor((knob.max - knob.min) / knob.step);
      return knob.min + Math.min(steps, Math.floor(rand() * (steps + 1))) * knob.step;
    }
    case 'choice':
      return knob.values[Math.min(knob.values.length - 1, Math.floor(rand() * knob.values.length))]!;
    case 'bool':
      return rand() < 0.5;
    default:
      return assertNever(knob);
  }
}

export function sampleConfig(knobs: Record<string, Knob>, rand: () => number): KnobValues {
  const out: KnobValues = {};
  for (const name of Object.keys(knobs).sort()) out[name] = sampleKnob(knobs[name]!, rand);
  return out;
}

export function better(goal: MetricGoal, a: number, b: number): boolean {
  return goal === 'minimize' ? a < b : a > b;
}

export async function runRandomSearch(args: SearchArgs): Promise<SearchTrace> {
  const rand = seededRandom(args.seed);
  const cost = chargeFor(1, args.fullRunGpuHours);
  const trials = Math.floor(args.budgetGpuHours / cost + 1e-9);
  const configs = Array.from({ length: trials }, () => sampleConfig(args.knobs, rand));
  // Trials are independent: start them all and let the trainer's concurrency cap pace them.
  const results = configs.map((c) => args.trainer.train(c, 1, args.trainingSeed));
  const trace: SearchTrace = { steps: [], final: undefined, gpuHoursUsed: 0, notes: [] };
  let best: number | undefined;
  const seen = new Set<string>();
  for (let i = 0; i < configs.length; i++) {
    const r = await results[i]!;
    seen.add(overridesKey(configs[i]!));
    trace.gpuHoursUsed += cost;
    if (r.ok && Number.isFinite(r.value) && (best === undefined || better(args.goal, r.value, best))) {
      best = r.value;
      trace.final = configs[i];
    }
    trace.steps.push({ gpuHours: trace.gpuHoursUsed, fidelity: 1, pick: trace.final });
  }
  return trace;
}
