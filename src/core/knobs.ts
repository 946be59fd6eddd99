import type { Knob, KnobValue, KnobValues } from './contract.ts';

// Knob-space arithmetic shared by the planner, the runbooks and the hypothesis sources.

/** Problems with a set of knob values, one plain sentence each; empty when every value is in the space. */
export function checkKnobValues(knobs: Record<string, Knob>, values: KnobValues): string[] {
  const problems: string[] = [];
  for (const [name, value] of Object.entries(values)) {
    const knob = knobs[name];
    if (!knob) {
      problems.push(`'${name}' is not a knob`);
      continue;
    }
    const p = checkKnobValue(knob, value);
    if (p) problems.push(`'${name}' ${p}`);
  }
  return problems;
}

export function checkKnobValue(knob: Knob, value: KnobValue): string | undefined {
  switch (knob.type) {
    case 'float':
      if (typeof value !== 'number' || !Number.isFinite(value)) return `must be a number (got ${fmt(value)})`;
      if (value < knob.min || value > knob.max) return `must be in [${knob.min}, ${knob.max}] (got ${value})`;
      return undefined;
    case 'int':
      if (typeof value !== 'number' || !Number.isInteger(value))
        return `must be a whole number (got ${fmt(value)})`;
      if (value < knob.min || value > knob.max) return `must be in [${knob.min}, ${knob.max}] (got ${value})`;
      return undefined;
    case 'choice':
      if (!knob.values.some((v) => v === value))
        return `must be one of ${knob.values.map(fmt).join(', ')} (got ${fmt(value)})`;
      return undefined;
    case 'bool':
      if (typeof value !== 'boolean') return `must be true or false (got ${fmt(value)})`;
      return undefined;
    default:
      return assertNever(knob);
  }
}

function fmt(v: unknown): string {
  return JSON.stringify(v);
}

export function assertNever(x: never): never {
  throw new Error(`unexpected value: ${JSON.stringify(x)}`);
}

/** A canonical, order-independent key for a set of overrides (used to dedupe and to pair runs). */
export function overridesKey(overrides: KnobValues): string {
  const keys = Object.keys(overrides).sort();
  return keys.map((k) => `${k}=${JSON.stringify(overrides[k])}`).join(',');
}

/** Snaps a number into an int knob's grid and range. */
export function snapInt(knob: Extract<Knob, { type: 'int' }>, v: number): number {
  const steps = Math.round((v - knob.min) / knob.step);
  const snapped = knob.min + steps * knob.step;
  const maxOnGrid = knob.min + Math.floor((knob.max - knob.min) / knob.step) * knob.step;
  return Math.min(maxOnGrid, Math.max(knob.min, snapped));
}

export function clampFloat(knob: Extract<Knob, { type: 'float' }>, v: number): number {
  return roundSig(Math.min(knob.max, Math.max(knob.min, v)), 4);
}

export function roundSig(v: number, digits: number): number {
  if (v === 0 || !Number.isFinite(v)) return v;
  return Number(v.toPrecision(digits));
}

/**
 * Scales a numeric value inside the knob's space: for a float, multiplies; for an int, multiplies and
 * snaps; for a numeric choice, moves to the nearest listed value in the direction of the scaling.
 * Returns undefined when the knob cannot move that way (already at the edge).
 */
export function scaleKnob(knob: Knob, value: KnobValue, factor: number): KnobValue | undefined {
  if (typeof value !== 'number') return undefined;
  switch (knob.type) {
    case 'float': {
      const next = clampFloat(knob, value * factor);
      return next === value ? undefined : next;
    }
    case 'int': {
      let next = snapInt(knob, value * factor);
      if (next === value) next = snapInt(knob, value + Math.sign(factor - 1) * knob.step);
      return next === value ? undefined : next;
    }
    case 'choice': {
      const nums = knob.values.filter((v): v is number => typeof v === 'number').sort((a, b) => a - b);
      const target = value * factor;
      const candidates = factor < 1 ? nums.filter((v) => v < value) : nums.filter((v) => v > value);
      if (candidates.length === 0) return undefined;
      return candidates.reduce((best, v) => (Math.abs(v - target) < Math.abs(best - target) ? v : best));
    }
    case 'bool':
      return undefined;
    default:
      return assertNever(knob);
  }
}

export function isNumericKnob(knob: Knob): boolean {
  return knob.type === 'float' || knob.type === 'int';
}

/** Human-readable form of a change: `learning_rate 0.03 -> 0.09`. */
export function describeChange(baseline: KnobValues, overrides: KnobValues): string {
  const parts = Object.keys(overrides)
    .sort()
    .map((k) => `${k} ${fmtValue(baseline[k])} -> ${fmtValue(overrides[k])}`);
  return parts.length > 0 ? parts.join(', ') : 'baseline';
}

export function fmtValue(v: KnobValue | undefined): string {
  if (v === undefined) return '?';
  if (typeof v === 'number') return String(roundSig(v, 4));
  return String(v);
}
