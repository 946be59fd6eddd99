import { pct } from './analysis.ts';
import type { KnobValue, KnobValues } from './contract.ts';
import { describeChange, fmtValue, overridesKey } from './knobs.ts';
import type { PlanState } from './model.ts';
import { BASELINE_ID } from './plan.ts';
import type { NextHypothesis } from './report-model.ts';

// What to try next: the report's proposals for a following plan, read from what this plan measured.

/** Whether every setting of `part` is also set, to the same value, in `whole`. */
function contains(whole: KnobValues, part: KnobValues): boolean {
  return Object.entries(part).every(([k, v]) => whole[k] === v);
}

function untriedValues(plan: PlanState, tried: KnobValues[]): NextHypothesis[] {
  const out: NextHypothesis[] = [];
  for (const [name, knob] of Object.entries(plan.spec.knobs)) {
    const seen = new Set<string>(tried.filter((o) => name in o).map((o) => JSON.stringify(o[name])));
    const base = plan.baseline[name];
    if (seen.size === 0) {
      let value: KnobValue | undefined;
      switch (knob.type) {
        case 'bool':
          value = !base;
          break;
        case 'choice':
          value = knob.values.find((v) => v !== base);
          break;
        case 'int':
        case 'float': {
          const b = typeof base === 'number' ? base : knob.min;
          const up =
            knob.type === 'int'
              ? Math.min(knob.max, Math.max(b + knob.step, Math.round(b * 2)))
              : Math.min(knob.max, b * 2);
          value =
            up !== b
              ? up
              : knob.type === 'int'
                ? Math.max(knob.min, Math.round(b / 2))
                : Math.max(knob.min, b / 2);
          break;
        }
      }
      if (value === undefined || value === base) continue;
      out.push({
        kind: 'untried-knob',
        title: `explore ${name}`,
        overrides: { [name]: value },
        why: `${name} was not varied by this plan; ${describeChange(plan.baseline, { [name]: value })} is a first step`,
      });
    } else if (knob.type === 'choice') {
      const left = knob.values.filter((v) => v !== base && !seen.has(JSON.stringify(v)));
      if (left.length === 0) continue;
      out.push({
        kind: 'untried-knob',
        title: `try ${name} ${fmtValue(left[0])}`,
        overrides: { [name]: left[0]! },
        why: `${name} values never measured here: ${left.map((v) => fmtValue(v)).join(', ')}`,
      });
    }
  }
  return out;
}

/**
 * What a next plan could test, with reasons: single-change wins the winner does not hold, near-misses and
 * passes that never reached full fidelity (screens are not verdicts), proposals that could not run as
 * proposed, and knobs or values this plan never touched. Knowledge this plan already settled (a loss or an
 * infeasible change) is not proposed again.
 */
export function nextHypotheses(plan: PlanState): NextHypothesis[] {
  const out: NextHypothesis[] = [];
  const seen = new Set<string>();
  const add = (h: NextHypothesis) => {
    const key = overridesKey(h.overrides);
    if (seen.has(key) || Object.keys(h.overrides).length === 0) return;
    seen.add(key);
    out.push(h);
  };
  const winner = plan.winner?.overrides;
  if (winner) seen.add(overridesKey(winner));
  const full = plan.spec.fidelity.exploitation;
  const minEffect = plan.spec.metric.min_effect;
  // Each configuration once, by its most informative measurement (the highest fidelity, then more seeds).
  const byConfig = new Map<string, { v: PlanState['verdicts'][number]; overrides: KnobValues }>();
  const candidates = new Map(plan.candidates.map((c) => [c.id, c]));
  for (const v of plan.verdicts) {
    const c = candidates.get(v.candidateId);
    if (!c || c.id === BASELINE_ID) continue;
    const key = overridesKey(c.overrides);
    const prev = byConfig.get(key);
    if (!prev || v.fidelity > prev.v.fidelity || (v.fidelity === prev.v.fidelity && v.n >= prev.v.n))
      byConfig.set(key, { v, overrides: c.overrides });
  }
  const measured = [...byConfig.values()].sort(
    (a, b) => b.v.fidelity - a.v.fidelity || b.v.relEffect - a.v.relEffect,
  );
  const seeds = (n: number) => `${n} seed${n === 1 ? '' : 's'}`;
  // 1. Passing configurations holding settings the winner lacks (and none that contradict it): stack them.
  if (winner) {
    for (const { v, overrides } of measured) {
      if (v.verdict !== 'pass') continue;
      const entries = Object.entries(overrides);
      if (entries.some(([k, x]) => k in winner && winner[k] !== x)) continue;
      const extra = Object.fromEntries(entries.filter(([k]) => !(k in winner)));
      if (Object.keys(extra).length === 0) continue;
      // When the rest of the pair was measured alone at the same fidelity, the extra settings must add the
      // minimum effect on top of it; otherwise they only rode along.
      const rest = Object.fromEntries(entries.filter(([k]) => k in winner));
      const alone = Object.keys(rest).length > 0 ? byConfig.get(overridesKey(rest)) : undefined;
      const gain = alone && alone.v.fidelity === v.fidelity ? v.relEffect - alone.v.relEffect : undefined;
      if (gain !== undefined && gain < minEffect) continue;
      add({
        kind: 'combine-win',
        title: `winner + ${describeChange(plan.baseline, extra)}`,
        overrides: { ...winner, ...extra },
        why: `${describeChange(plan.baseline, overrides)} passed ${v.step} at fidelity ${v.fidelity} with ${pct(v.relEffect)} [${pct(v.lo)}, ${pct(v.hi)}], ${seeds(v.n)}${gain !== undefined ? `, ${pct(gain)} more than ${describeChange(plan.baseline, rest)} alone` : ''}, and the winner does not set ${Object.keys(extra).sort().join(', ')}`,
      });
    }
  }
  // 2. Near-misses whose interval still allows a worthwhile effect, and passes never measured at full
  // fidelity (screens are not verdicts; effects change with scale).
  for (const { v, overrides } of measured) {
    if (winner && contains(winner, overrides)) continue;
    if (v.verdict === 'near' && v.hi >= minEffect) {
      add({
        kind: 'near-miss',
        title: `re-check ${describeChange(plan.baseline, overrides)}`,
        overrides,
        why: `came close at fidelity ${v.fidelity} (${pct(v.relEffect)} [${pct(v.lo)}, ${pct(v.hi)}], ${seeds(v.n)}): the interval still allows the minimum effect of ${pct(minEffect)}; more seeds or a higher fidelity can settle it`,
      });
    } else if (v.verdict === 'pass' && v.fidelity < full && !winner) {
      add({
        kind: 'recheck',
        title: `confirm ${describeChange(plan.baseline, overrides)} at fidelity ${full}`,
        overrides,
        why: `passed at fidelity ${v.fidelity} (${pct(v.relEffect)} [${pct(v.lo)}, ${pct(v.hi)}], ${seeds(v.n)}) but was never confirmed at full fidelity`,
      });
    }
  }
  // 3. Proposals that ran only after a runbook changed them: the original setting is still unknown.
  for (const c of plan.candidates) {
    if (!c.adjustedFrom) continue;
    add({
      kind: 'retry-infeasible',
      title: `${describeChange(plan.baseline, c.adjustedFrom.overrides)} with a fix`,
      overrides: c.adjustedFrom.overrides,
      why: `could not run as proposed (${c.adjustedFrom.why.replace(/\.\s*$/, '')}); worth a plan only with a code change that removes the cause`,
    });
  }
  // 4. Knobs and values this plan never touched.
  for (const h of untriedValues(
    plan,
    plan.candidates.flatMap((c) => [c.overrides, ...(c.adjustedFrom ? [c.adjustedFrom.overrides] : [])]),
  ))
    add(h);
  return out;
}
