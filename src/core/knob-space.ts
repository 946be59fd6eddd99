import type { Knob, KnobValue, KnobValues } from './contract.ts';
import { assertNever, clampFloat, overridesKey, snapInt } from './knobs.ts';
import { normal, type Rng } from './rng.ts';

// The knob space as coordinates in [0, 1], which is where the surrogate and the search work. Scales follow
// how knobs act: log floats and wide positive ints (max/min >= 8) on a log scale, so that a step can travel
// the whole range of a learning rate; numeric choices as an ordinal; string choices one-hot; bools 0/1.

interface Dim {
  name: string;
  knob: Knob;
  /** Coordinates this knob takes: one, or one per value of a string choice. */
  width: number;
  offset: number;
}

export interface KnobSpace {
  dims: Dim[];
  width: number;
  baseline: KnobValues;
}

const isStringChoice = (k: Knob) => k.type === 'choice' && k.values.some((v) => typeof v !== 'number');
const logInt = (k: Extract<Knob, { type: 'int' }>) => k.min > 0 && k.max / k.min >= 8;

export function knobSpace(knobs: Record<string, Knob>, baseline: KnobValues): KnobSpace {
  const dims: Dim[] = [];
  let offset = 0;
  for (const name of Object.keys(knobs).sort()) {
    const knob = knobs[name]!;
    const width = knob.type === 'choice' && isStringChoice(knob) ? knob.values.length : 1;
    dims.push({ name, knob, width, offset });
    offset += width;
  }
  return { dims, width: offset, baseline };
}

function unit(knob: Knob, v: KnobValue | undefined): number {
  switch (knob.type) {
    case 'float': {
      if (typeof v !== 'number') return 0.5;
      if (knob.log && knob.min > 0)
        return (Math.log(v) - Math.log(knob.min)) / (Math.log(knob.max) - Math.log(knob.min));
      return knob.max > knob.min ? (v - knob.min) / (knob.max - knob.min) : 0.5;
    }
    case 'int': {
      if (typeof v !== 'number') return 0.5;
      if (logInt(knob)) return (Math.log(v) - Math.log(knob.min)) / (Math.log(knob.max) - Math.log(knob.min));
      return knob.max > knob.min ? (v - knob.min) / (knob.max - knob.min) : 0.5;
    }
    case 'choice': {
      const i = knob.values.findIndex((x) => x === v);
      const sorted = [...knob.values].sort((a, b) => (a as number) - (b as number));
      const j = sorted.findIndex((x) => x === v);
      return i < 0 || knob.values.length < 2 ? 0.5 : j / (knob.values.length - 1);
    }
    case 'bool':
      return v === true ? 1 : 0;
    default:
      return assertNever(knob);
  }
}

function fromUnit(knob: Knob, u: number): KnobValue {
  const t = Math.min(1, Math.max(0, u));
  switch (knob.type) {
    case 'float':
      if (knob.log && knob.min > 0)
        return clampFloat(knob, Math.exp(Math.log(knob.min) + t * (Math.log(knob.max) - Math.log(knob.min))));
      return clampFloat(knob, knob.min + t * (knob.max - knob.min));
    case 'int':
      if (logInt(knob))
        return snapInt(knob, Math.exp(Math.log(knob.min) + t * (Math.log(knob.max) - Math.log(knob.min))));
      return snapInt(knob, knob.min + t * (knob.max - knob.min));
    case 'choice': {
      const sorted = [...knob.values].sort((a, b) => (a as number) - (b as number));
      return sorted[Math.round(t * (sorted.length - 1))]!;
    }
    case 'bool':
      return t >= 0.5;
    default:
      return assertNever(knob);
  }
}

/** The coordinates of a configuration: the baseline with `overrides` applied. */
export function encode(space: KnobSpace, overrides: KnobValues): number[] {
  const x = new Array<number>(space.width).fill(0);
  for (const d of space.dims) {
    const v = d.name in overrides ? overrides[d.name] : space.baseline[d.name];
    if (d.knob.type === 'choice' && d.width > 1) {
      const i = d.knob.values.findIndex((c) => c === v);
      if (i >= 0) x[d.offset + i] = 1;
    } else {
      x[d.offset] = unit(d.knob, v);
    }
  }
  return x;
}

/** The knob values at some coordinates, snapped onto each knob's grid. */
export function decode(space: KnobSpace, x: readonly number[]): KnobValues {
  const out: KnobValues = {};
  for (const d of space.dims) {
    if (d.knob.type === 'choice' && d.width > 1) {
      let best = 0;
      for (let i = 1; i < d.width; i++) if (x[d.offset + i]! > x[d.offset + best]!) best = i;
      out[d.name] = d.knob.values[best]!;
    } else {
      out[d.name] = fromUnit(d.knob, x[d.offset]!);
    }
  }
  return out;
}

/** Only the knobs that differ from the baseline: what a candidate's overrides hold. */
export function overridesFrom(space: KnobSpace, values: KnobValues): KnobValues {
  const out: KnobValues = {};
  for (const [k, v] of Object.entries(values)) if (space.baseline[k] !== v) out[k] = v;
  return out;
}

/** A uniformly random configuration of the whole space. */
export function sampleUniform(space: KnobSpace, rng: Rng): KnobValues {
  const x = new Array<number>(space.width).fill(0);
  for (const d of space.dims) {
    if (d.width > 1) x[d.offset + Math.floor(rng() * d.width)] = 1;
    else x[d.offset] = rng();
  }
  return overridesFrom(space, decode(space, x));
}

const reflect = (u: number) => {
  let t = Math.abs(u) % 2;
  if (t > 1) t = 2 - t;
  return t;
};

/**
 * A joint move of one to three knobs from `from`: normal steps of `scale` on their coordinates (reflected at
 * the edges, so a step in log space can cross the whole range), a new value for a choice or a bool.
 */
export function perturb(space: KnobSpace, from: KnobValues, rng: Rng, scale: number): KnobValues {
  const x = encode(space, from);
  const moves = 1 + Math.floor(rng() * Math.min(3, space.dims.length));
  const order = space.dims.map((d) => ({ d, r: rng() })).sort((a, b) => a.r - b.r);
  for (const { d } of order.slice(0, moves)) {
    if (d.width > 1) {
      for (let i = 0; i < d.width; i++) x[d.offset + i] = 0;
      x[d.offset + Math.floor(rng() * d.width)] = 1;
    } else if (d.knob.type === 'bool') {
      x[d.offset] = 1 - x[d.offset]!;
    } else {
      const levels = d.knob.type === 'choice' ? d.knob.values.length - 1 : 0;
      // A discrete knob must move at least one level, or the move is lost in the snapping.
      const step = normal(rng) * scale;
      const min = levels > 0 ? 1 / levels : 0;
      x[d.offset] = reflect(x[d.offset]! + (Math.abs(step) < min ? Math.sign(step || 1) * min : step));
    }
  }
  return overridesFrom(space, decode(space, x));
}

export function distance2(a: readonly number[], b: readonly number[]): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i]! - b[i]!) ** 2;
  return s;
}

/**
 * Seeded random configurations spread over the space (the best of a few draws by distance to those already
 * chosen): the probes validation measures besides the hypotheses, so that the surrogate sees the space and
 * not only the neighbourhood of the baseline.
 */
export function probeConfigs(
  space: KnobSpace,
  rng: Rng,
  n: number,
  avoid: readonly KnobValues[],
): KnobValues[] {
  const chosen: KnobValues[] = [];
  const seen = new Set([overridesKey({}), ...avoid.map(overridesKey)]);
  const points = [encode(space, {}), ...avoid.map((o) => encode(space, o))];
  for (let i = 0; i < n; i++) {
    let best: { o: KnobValues; d: number } | undefined;
    for (let t = 0; t < 8; t++) {
      const o = sampleUniform(space, rng);
      if (seen.has(overridesKey(o))) continue;
      const x = encode(space, o);
      const d = Math.min(...points.map((p) => distance2(p, x)));
      if (!best || d > best.d) best = { o, d };
    }
    if (!best) continue;
    seen.add(overridesKey(best.o));
    points.push(encode(space, best.o));
    chosen.push(best.o);
  }
  return chosen;
}
