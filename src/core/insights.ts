import { baselineValues, pairedDiffs } from './analysis.ts';
import type { KnobValues } from './contract.ts';
import { describeChange, overridesKey } from './knobs.ts';
import type { Candidate, InsightRow, InsightStatus, PlanState, VerdictKind } from './model.ts';
import { BASELINE_ID, codeDigest } from './plan.ts';
import { estimateEffect, type NoiseEstimate, noiseFromReplicas, poolNoise } from './stats.ts';

// Insights pool what every plan of a model measured about one change at one fidelity against one baseline.
// Each difference is paired against the baseline of its own plan and fidelity (same seed), so plans with
// different seeds pool honestly; a promoted baseline has another key and starts a new reference. Rows are
// recomputed from all of the model's plans, which keeps the update idempotent.

/** One row being pooled: the row's identity, and what is gathered before its statistics are computed. */
interface Acc
  extends Pick<
    InsightRow,
    'model' | 'tags' | 'changeKey' | 'overrides' | 'title' | 'baselineKey' | 'fidelity'
  > {
  diffs: number[];
  planIds: Set<string>;
  runIds: string[];
  failures: string[];
  /** Why runs that succeeded could not be compared (no baseline run with the same seed). */
  unpaired: string[];
  vetoes: string[];
  verdicts: VerdictKind[];
  rationales: Set<string>;
  links: Set<string>;
}

export interface InsightOptions {
  /** Where the plan report of a finished plan lives (`$REA_DATA_DIR/reports/<plan>.md` locally). */
  reportPath?: (planId: string) => string;
}

/** Intervals are clamped to +-100% so that "unknown" is stored as a finite, readable range. */
const CLAMP = 1;
/** Rationales are kept for search and for people; a few hundred words is plenty for either. */
const MAX_RATIONALE = 2000;

function clamp(x: number): number {
  return Number.isFinite(x) ? Math.max(-CLAMP, Math.min(CLAMP, x)) : x > 0 ? CLAMP : -CLAMP;
}

/**
 * What a candidate changes, as a key: its knob overrides, plus `code:<hash>` for every code hypothesis
 * behind it (the patch is part of the change; two patches with the same overrides are different changes).
 */
export function changeKeyOf(plan: PlanState, c: Candidate, overrides: KnobValues = c.overrides): string {
  const patches = codeHypotheses(plan, c).map((h) => `code:${codeDigest(h.patch ?? '')}`);
  return [overridesKey(overrides), ...patches].filter((p) => p !== '').join(',');
}

function codeHypotheses(plan: PlanState, c: Candidate) {
  return plan.hypotheses.filter((h) => h.kind === 'code' && c.hypothesisIds.includes(h.id));
}

function titleOf(plan: PlanState, c: Candidate, overrides: KnobValues): string {
  const code = codeHypotheses(plan, c).map((h) => h.title);
  const knobs = Object.keys(overrides).length > 0 ? [describeChange(plan.baseline, overrides)] : [];
  const parts = [...code, ...knobs];
  return parts.length > 0 ? parts.join(' + ') : 'baseline';
}

/** Links people can open: the plan PR, the promotion PR, and the report of a finished plan. */
function planLinks(plan: PlanState, opts: InsightOptions): string[] {
  const out: string[] = [];
  const o = plan.origin;
  if (o?.pr !== undefined) out.push(`https://github.com/${o.owner}/${o.repo}/pull/${o.pr}`);
  if (o?.promotionPr !== undefined) out.push(`https://github.com/${o.owner}/${o.repo}/pull/${o.promotionPr}`);
  const finished = plan.status === 'completed' || plan.status === 'cancelled';
  if (finished && opts.reportPath) out.push(opts.reportPath(plan.id));
  return out;
}

/**
 * Noise of paired differences from this plan's own baseline replicas only. A plan's noise priors came
 * from the model's earlier plans, which are pooled here in their own right: counting them again would
 * claim more degrees of freedom than were measured and narrow every interval.
 */
function ownNoise(plan: PlanState, fidelity: number): NoiseEstimate | undefined {
  return noiseFromReplicas([...baselineValues(plan, fidelity).values()]);
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

export function computeInsights(
  plans: readonly PlanState[],
  now: string,
  opts: InsightOptions = {},
): InsightRow[] {
  const acc = new Map<string, Acc>();
  // Baseline replicas are counted once per plan and fidelity, whatever number of changes they served.
  const noise = new Map<string, NoiseEstimate[]>();
  const noiseSeen = new Set<string>();
  const ensure = (plan: PlanState, c: Candidate, fidelity: number, overrides: KnobValues): Acc => {
    // Effects are relative to a baseline: after a promotion the new baseline starts a new reference.
    const baselineKey = overridesKey(plan.baseline);
    const changeKey = changeKeyOf(plan, c, overrides);
    const key = JSON.stringify([baselineKey, changeKey, fidelity]);
    let a = acc.get(key);
    if (!a) {
      a = {
        model: plan.spec.model,
        tags: plan.spec.tags,
        changeKey,
        overrides,
        title: titleOf(plan, c, overrides),
        baselineKey,
        fidelity,
        diffs: [],
        planIds: new Set(),
        runIds: [],
        failures: [],
        unpaired: [],
        vetoes: [],
        verdicts: [],
        rationales: new Set(),
        links: new Set(),
      };
      acc.set(key, a);
    }
    a.planIds.add(plan.id);
    for (const h of plan.hypotheses)
      if (c.hypothesisIds.includes(h.id) && h.rationale) a.rationales.add(h.rationale);
    for (const l of planLinks(plan, opts)) a.links.add(l);
    const nk = JSON.stringify([baselineKey, fidelity, plan.id]);
    if (!noiseSeen.has(nk)) {
      noiseSeen.add(nk);
      const n = ownNoise(plan, fidelity);
      const nkey = JSON.stringify([baselineKey, fidelity]);
      if (n) noise.set(nkey, [...(noise.get(nkey) ?? []), n]);
    }
    return a;
  };
  // Oldest plans first, so that titles and tags come from the newest plan that measured a change.
  const ordered = [...plans].sort(
    (x, y) => x.createdAt.localeCompare(y.createdAt) || x.id.localeCompare(y.id),
  );
  for (const plan of ordered) {
    for (const c of plan.candidates) {
      if (c.id === BASELINE_ID) continue;
      const v = plan.verdicts.find((x) => x.candidateId === c.id);
      if (!v) continue;
      const a = ensure(plan, c, v.fidelity, c.overrides);
      a.tags = plan.spec.tags;
      a.title = titleOf(plan, c, c.overrides);
      a.verdicts.push(v.verdict);
      a.diffs.push(...pairedDiffs(plan, c.id, v.step));
      let ran = 0;
      for (const r of plan.runs) {
        if (r.candidateId !== c.id || r.step !== v.step) continue;
        a.runIds.push(`${plan.id}/${r.id}`);
        if (r.status === 'succeeded') ran += 1;
        if (r.status === 'failed' && r.outcome)
          a.failures.push(`${r.outcome} (plan ${plan.id}, run ${r.id})`);
      }
      if (v.verdict === 'veto') a.vetoes.push(`${v.reason} (plan ${plan.id})`);
      // Runs that succeeded without a paired baseline say nothing about the effect; say why.
      if (ran > 0 && v.verdict === 'fail' && pairedDiffs(plan, c.id, v.step).length === 0)
        a.unpaired.push(`${v.reason} (plan ${plan.id})`);
      if (c.adjustedFrom) {
        // The configuration as proposed could not run; that is an insight of its own.
        const orig = ensure(plan, c, v.fidelity, c.adjustedFrom.overrides);
        orig.failures.push(`${c.adjustedFrom.why} (plan ${plan.id})`);
      }
    }
  }
  const rows: InsightRow[] = [];
  for (const a of acc.values()) {
    const est = estimateEffect(
      a.diffs,
      poolNoise(noise.get(JSON.stringify([a.baselineKey, a.fidelity])) ?? []),
    );
    const n = a.diffs.length;
    let status: InsightStatus;
    let reason: string;
    if (n === 0 && a.failures.length === 0 && a.unpaired.length > 0) {
      // It ran, but nothing it can be compared with did: no evidence either way, and not a failure.
      status = 'null';
      reason = `not measured: ${a.unpaired[0]!}`;
    } else if (n === 0) {
      status = 'infeasible';
      reason = a.failures[0] ?? 'no run succeeded';
      if (a.failures.length > 1) reason += ` (${a.failures.length} failures)`;
    } else if (a.vetoes.length > 0) {
      status = 'loss';
      reason = `vetoed: ${a.vetoes[0]!}`;
    } else if (est.lo > 0) {
      status = 'win';
      reason = `better than baseline in ${plural(n, 'paired run')}`;
    } else if (est.hi < 0) {
      status = 'loss';
      reason = `worse than baseline in ${plural(n, 'paired run')}`;
    } else {
      status = 'null';
      reason = `no effect distinguishable from noise in ${plural(n, 'paired run')}`;
    }
    // Failed runs of a change that also ran are still worth knowing (e.g. 1 of 3 seeds diverged).
    if (n > 0 && a.failures.length > 0)
      reason += `; ${plural(a.failures.length, 'failure')}: ${a.failures[0]}`;
    let rationale = [...a.rationales].join('\n');
    if (rationale.length > MAX_RATIONALE) rationale = `${rationale.slice(0, MAX_RATIONALE - 1)}…`;
    rows.push({
      model: a.model,
      tags: a.tags,
      changeKey: a.changeKey,
      overrides: a.overrides,
      title: a.title,
      baselineKey: a.baselineKey,
      rationale,
      links: [...a.links],
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
      sum: a.diffs.reduce((s, d) => s + d, 0),
      sumSq: a.diffs.reduce((s, d) => s + d * d, 0),
      updatedAt: now,
    });
  }
  return rows.sort(
    (x, y) =>
      x.baselineKey.localeCompare(y.baselineKey) ||
      x.changeKey.localeCompare(y.changeKey) ||
      x.fidelity - y.fidelity,
  );
}
