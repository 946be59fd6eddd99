import { noiseAt, pairedDiffs } from './analysis.ts';
import { describeChange, overridesKey } from './knobs.ts';
import type { InsightRow, InsightStatus, PlanState, VerdictKind } from './model.ts';
import { BASELINE_ID } from './plan.ts';
import { estimateEffect, type NoiseEstimate, poolNoise } from './stats.ts';

// Insights pool what every plan of a model measured about one change at one fidelity. Each difference is
// paired against the baseline of its own plan and fidelity, so plans with different seeds pool honestly.
// Rows are recomputed from all of the model's plans, which keeps the update idempotent.

interface Acc {
  model: string;
  tags: string[];
  changeKey: string;
  overrides: InsightRow['overrides'];
  title: string;
  baselineKey: string;
  fidelity: number;
  diffs: number[];
  noise: NoiseEstimate[];
  planIds: Set<string>;
  runIds: string[];
  failures: string[];
  vetoes: string[];
  verdicts: VerdictKind[];
}

/** Intervals are clamped to +-100% so that "unknown" is stored as a finite, readable range. */
const CLAMP = 1;

function clamp(x: number): number {
  return Number.isFinite(x) ? Math.max(-CLAMP, Math.min(CLAMP, x)) : x > 0 ? CLAMP : -CLAMP;
}

export function computeInsights(plans: readonly PlanState[], now: string): InsightRow[] {
  const acc = new Map<string, Acc>();
  for (const plan of plans) {
    for (const c of plan.candidates) {
      if (c.id === BASELINE_ID) continue;
      const v = plan.verdicts.find((x) => x.candidateId === c.id);
      if (!v) continue;
      // Effects are relative to a baseline: after a promotion the new baseline starts a new reference.
      const baselineKey = overridesKey(plan.baseline);
      const key = `${baselineKey}|${overridesKey(c.overrides)}|${v.fidelity}`;
      let a = acc.get(key);
      if (!a) {
        a = {
          model: plan.spec.model,
          tags: plan.spec.tags,
          changeKey: overridesKey(c.overrides),
          overrides: c.overrides,
          title: describeChange(plan.baseline, c.overrides),
          baselineKey,
          fidelity: v.fidelity,
          diffs: [],
          noise: [],
          planIds: new Set(),
          runIds: [],
          failures: [],
          vetoes: [],
          verdicts: [],
        };
        acc.set(key, a);
      }
      a.planIds.add(plan.id);
      a.verdicts.push(v.verdict);
      a.diffs.push(...pairedDiffs(plan, c.id, v.step));
      const noise = noiseAt(plan, v.fidelity);
      if (noise) a.noise.push(noise);
      for (const r of plan.runs) {
        if (r.candidateId !== c.id || r.step !== v.step) continue;
        a.runIds.push(`${plan.id}/${r.id}`);
        if (r.status === 'failed' && r.outcome)
          a.failures.push(`${r.outcome} (plan ${plan.id}, run ${r.id})`);
      }
      if (v.verdict === 'veto') a.vetoes.push(`${v.reason} (plan ${plan.id})`);
      if (c.adjustedFrom) {
        // The configuration as proposed could not run; that is an insight of its own.
        const k = `${baselineKey}|${overridesKey(c.adjustedFrom.overrides)}|${v.fidelity}`;
        const orig = acc.get(k) ?? {
          ...a,
          changeKey: overridesKey(c.adjustedFrom.overrides),
          overrides: c.adjustedFrom.overrides,
          title: describeChange(plan.baseline, c.adjustedFrom.overrides),
          diffs: [],
          noise: [],
          planIds: new Set<string>(),
          runIds: [],
          failures: [],
          vetoes: [],
          verdicts: [],
        };
        orig.planIds.add(plan.id);
        orig.failures.push(`${c.adjustedFrom.why} (plan ${plan.id})`);
        acc.set(k, orig);
      }
    }
  }
  const rows: InsightRow[] = [];
  for (const a of acc.values()) {
    const est = estimateEffect(a.diffs, poolNoise(a.noise));
    const n = a.diffs.length;
    let status: InsightStatus;
    let reason: string;
    if (n === 0) {
      status = 'infeasible';
      reason = a.failures[0] ?? 'no run succeeded';
      if (a.failures.length > 1) reason += ` (${a.failures.length} failed runs)`;
    } else if (a.vetoes.length > 0) {
      status = 'loss';
      reason = a.vetoes[0]!;
    } else if (est.lo > 0) {
      status = 'win';
      reason = `better than baseline in ${n} paired run${n > 1 ? 's' : ''}`;
    } else if (est.hi < 0) {
      status = 'loss';
      reason = `worse than baseline in ${n} paired run${n > 1 ? 's' : ''}`;
    } else {
      status = 'null';
      reason = `no effect distinguishable from noise in ${n} paired run${n > 1 ? 's' : ''}`;
    }
    const sum = a.diffs.reduce((s, d) => s + d, 0);
    rows.push({
      model: a.model,
      tags: a.tags,
      changeKey: a.changeKey,
      overrides: a.overrides,
      title: a.title,
      baselineKey: a.baselineKey,
      rationale: '',
      links: [],
      fidelity: a.fidelity,
      meanEffect: n > 0 ? est.mean : 0,
      lo: n > 0 ? clamp(est.lo) : 0,
      hi: n > 0 ? clamp(est.hi) : 0,
      nRuns: n,
      nPlans: a.planIds.size,
      status,
      reason,
      planIds: [...a.planIds],
      runIds: a.runIds,
      sum,
      sumSq: a.diffs.reduce((s, d) => s + d * d, 0),
      updatedAt: now,
    });
  }
  return rows.sort((x, y) => x.changeKey.localeCompare(y.changeKey) || x.fidelity - y.fidelity);
}
