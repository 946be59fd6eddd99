import type { HypothesisSource, Proposal, ProposalContext } from '../../app/ports.ts';
import type { Knob, KnobValue, KnobValues } from '../../config/rea-config.ts';
import type { Draft } from '../../core/hypotheses.ts';
import { assertNever, fmtValue, scaleKnob, snapInt } from '../../core/knobs.ts';

// Deterministic one-change-at-a-time proposals over the knob space: the source used without an API key
// and whenever the LLM research agent fails. Moves are the ones an engineer would try first: a few
// multiples of a float on a log scale, a few steps of an int, every other choice, the other bool value.

const DEFAULT_GAIN = 0.005;

function moves(knob: Knob, base: KnobValue): Array<{ value: KnobValue; risk: Draft['risk']; how: string }> {
  switch (knob.type) {
    case 'float': {
      if (typeof base !== 'number') return [];
      const factors: Array<[number, Draft['risk']]> = knob.log
        ? [
            [3, 'medium'],
            [1 / 3, 'medium'],
            [10, 'high'],
          ]
        : [
            [1.5, 'medium'],
            [0.5, 'medium'],
            [2, 'high'],
          ];
      return factors
        .map(([f, risk]) => ({
          value: scaleKnob(knob, base, f),
          risk,
          how: `x${fmtValue(Number(f.toPrecision(3)))}`,
        }))
        .filter((m): m is { value: number; risk: Draft['risk']; how: string } => m.value !== undefined);
    }
    case 'int': {
      if (typeof base !== 'number') return [];
      const gridSize = (knob.max - knob.min) / knob.step;
      const values =
        gridSize <= 20
          ? [base + knob.step, base + 2 * knob.step, base - knob.step]
          : [base * 2, base * 4, base / 2];
      const out = values.map((v, i) => ({
        value: snapInt(knob, v),
        risk: (i === 1 ? 'high' : 'medium') as Draft['risk'],
        how: gridSize <= 20 ? `${v - base > 0 ? '+' : ''}${v - base}` : `x${fmtValue(v / base)}`,
      }));
      return out.filter((m, i) => m.value !== base && out.findIndex((x) => x.value === m.value) === i);
    }
    case 'choice':
      return knob.values
        .filter((v) => v !== base)
        .map((v) => ({ value: v, risk: 'medium' as const, how: 'switch' }));
    case 'bool':
      return typeof base === 'boolean'
        ? [{ value: !base, risk: 'low' as const, how: base ? 'off' : 'on' }]
        : [];
    default:
      return assertNever(knob);
  }
}

export function offlineProposals(knobs: Record<string, Knob>, baseline: KnobValues): Draft[] {
  const out: Draft[] = [];
  for (const name of Object.keys(knobs).sort()) {
    const knob = knobs[name]!;
    const base = baseline[name];
    if (base === undefined) continue;
    for (const m of moves(knob, base)) {
      out.push({
        title: `${name} ${fmtValue(base)} -> ${fmtValue(m.value)}`,
        rationale: `One-change screen of ${name} (${m.how} from the baseline) to learn its direction and size of effect.`,
        source: 'research',
        agent: 'offline',
        kind: 'config',
        overrides: { [name]: m.value },
        expectedEffect: m.risk === 'high' ? DEFAULT_GAIN / 2 : DEFAULT_GAIN,
        risk: m.risk,
        evidence: [],
      });
    }
  }
  return out;
}

export class OfflineResearchAgent implements HypothesisSource {
  readonly name = 'offline';
  /** `note` says why this agent is the one in use (e.g. no API key); it is shown with every plan. */
  constructor(private readonly opts: { note?: string } = {}) {}
  async propose(ctx: ProposalContext): Promise<Proposal> {
    return {
      hypotheses: offlineProposals(ctx.config.knobs, ctx.baseline),
      rejected: [],
      notes: this.opts.note ? [this.opts.note] : [],
    };
  }
}
