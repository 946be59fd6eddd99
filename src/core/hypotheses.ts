import type { Knob, KnobValue, KnobValues } from './contract.ts';
import { checkKnobValues, describeChange, fmtValue, overridesKey } from './knobs.ts';
import type { Hypothesis, InsightRow, RejectedHypothesis } from './model.ts';
import { changeKey } from './plan.ts';

// The hypothesis engine's pure half (DESIGN section 7): what the insight database proposes and suppresses,
// and how proposals from every source are merged, deduplicated, kept diverse and ranked.

export type Draft = Omit<Hypothesis, 'id'>;

/** At most this many hypotheses may change the same knob, so that one knob cannot crowd out the rest. */
export const MAX_PER_KNOB = 3;
const MAX_WINS = 5;
const MAX_PAIRS = 2;

function pct(x: number): string {
  return `${x >= 0 ? '+' : ''}${(x * 100).toFixed(2)}%`;
}

/** The most informative row per change: the one measured at the highest fidelity, then with most runs. */
export function latestByChange(rows: readonly InsightRow[]): Map<string, InsightRow> {
  const out = new Map<string, InsightRow>();
  for (const r of rows) {
    const prev = out.get(r.changeKey);
    if (!prev || r.fidelity > prev.fidelity || (r.fidelity === prev.fidelity && r.nRuns > prev.nRuns)) {
      out.set(r.changeKey, r);
    }
  }
  return out;
}

/** How a hypothesis cites an insight: which change, at which fidelity, what it measured and where. */
export function citeInsight(r: InsightRow): string {
  return `insight "${r.title}" (${r.status} at fidelity ${r.fidelity}): ${pct(r.meanEffect)} [${pct(r.lo)}, ${pct(r.hi)}], ${r.nRuns} run${r.nRuns === 1 ? '' : 's'}, plan${r.planIds.length === 1 ? '' : 's'} ${r.planIds.join(', ')}`;
}

/** A code change cannot be proposed again from a row: the row keeps its identity, not its patch. */
function isCodeChange(r: InsightRow): boolean {
  return r.changeKey.split(',').some((p) => p.startsWith('code:'));
}

export interface InsightProposals {
  hypotheses: Draft[];
  /** Changes that must not be proposed again, by override key, with the reason shown to people. */
  suppressed: Map<string, string>;
}

/** A difference, or 0 when it is only floating-point rounding (equal effects summed in another order). */
function beyondRounding(d: number): number {
  return Math.abs(d) < 1e-9 ? 0 : d;
}

/**
 * What this model's insights propose and suppress. Effects are relative to a baseline, so wins, their
 * untried pairs and null results count only when measured against the current baseline (after a promotion
 * the promoted win is the baseline and the old rows describe another reference). Infeasibility (out of
 * memory, divergence) is a property of the configuration rather than of the reference, so a change that
 * could not run against any earlier baseline stays suppressed, and says which plans showed it. Losses are
 * relative too: one against an older baseline does not suppress the change now.
 */
export function proposeFromInsights(args: {
  model: string;
  rows: readonly InsightRow[];
  knobs: Record<string, Knob>;
  baseline: KnobValues;
}): InsightProposals {
  const baselineKey = overridesKey(args.baseline);
  const own = args.rows.filter((r) => r.model === args.model);
  const current = latestByChange(own.filter((r) => r.baselineKey === baselineKey));
  const suppressed = new Map<string, string>();
  const hypotheses: Draft[] = [];
  const wins: InsightRow[] = [];
  for (const r of own) {
    if (r.baselineKey === baselineKey || r.status !== 'infeasible' || suppressed.has(r.changeKey)) continue;
    suppressed.set(
      r.changeKey,
      `failed before (against an earlier baseline): ${r.reason}; ${citeInsight(r)}`,
    );
  }
  for (const r of current.values()) {
    if (checkKnobValues(args.knobs, r.overrides).length > 0) continue;
    switch (r.status) {
      case 'win':
        if (!isCodeChange(r)) wins.push(r);
        break;
      case 'loss':
        suppressed.set(r.changeKey, `worse than baseline before: ${r.reason}; ${citeInsight(r)}`);
        break;
      case 'infeasible':
        suppressed.set(r.changeKey, `failed before: ${r.reason}; ${citeInsight(r)}`);
        break;
      case 'null':
        // A change that ran without a comparable baseline run was not measured: nothing to suppress.
        if (r.nRuns > 0) suppressed.set(r.changeKey, `no measurable effect before: ${citeInsight(r)}`);
        break;
    }
  }
  // Wins measured at the highest fidelity and with the largest effect come first.
  // Ties (equal measured effects) go to the tighter lower bound, then the more runs, then a stable key, so
  // the same memory always proposes in the same order.
  wins.sort(
    (x, y) =>
      y.fidelity - x.fidelity ||
      beyondRounding(y.meanEffect - x.meanEffect) ||
      beyondRounding(y.lo - x.lo) ||
      y.nRuns - x.nRuns ||
      x.changeKey.localeCompare(y.changeKey),
  );
  for (const w of wins.slice(0, MAX_WINS)) {
    hypotheses.push({
      title: `${describeChange(args.baseline, w.overrides)} (a confirmed win, not yet promoted)`,
      rationale: `Measured as ${citeInsight(w)}. Re-using it as a starting point for further gains.`,
      source: 'insights',
      agent: 'insights',
      kind: 'config',
      overrides: w.overrides,
      expectedEffect: Math.max(0, w.meanEffect),
      risk: 'low',
      evidence: [citeInsight(w), ...w.links, ...w.runIds.slice(0, 5)],
    });
  }
  // Untried pairs of single-knob wins: effects interact, so a pair may beat both halves.
  const singles = wins.filter((w) => Object.keys(w.overrides).length === 1);
  let pairs = 0;
  for (let i = 0; i < singles.length && pairs < MAX_PAIRS; i++) {
    for (let j = i + 1; j < singles.length && pairs < MAX_PAIRS; j++) {
      const a = singles[i]!;
      const b = singles[j]!;
      if (Object.keys(a.overrides)[0] === Object.keys(b.overrides)[0]) continue;
      const merged = { ...a.overrides, ...b.overrides };
      if (current.has(overridesKey(merged))) continue;
      hypotheses.push({
        title: `${describeChange(args.baseline, merged)} (two wins never tried together)`,
        rationale: `Both halves won alone (insight "${a.title}" ${pct(a.meanEffect)}, insight "${b.title}" ${pct(b.meanEffect)}); their combination has not been measured.`,
        source: 'insights',
        agent: 'insights',
        kind: 'config',
        overrides: merged,
        expectedEffect: Math.max(0, a.meanEffect) + Math.max(0, b.meanEffect) * 0.5,
        risk: 'medium',
        evidence: [citeInsight(a), citeInsight(b)],
      });
      pairs += 1;
    }
  }
  // What worked on models that share tags, where the same knob exists here.
  const others = latestByChange(
    args.rows.filter((r) => r.model !== args.model && r.status === 'win' && !isCodeChange(r)),
  );
  for (const r of [...others.values()].sort((x, y) => y.meanEffect - x.meanEffect).slice(0, 2)) {
    if (current.has(r.changeKey) || checkKnobValues(args.knobs, r.overrides).length > 0) continue;
    hypotheses.push({
      title: `${describeChange(args.baseline, r.overrides)} (won on ${r.model})`,
      rationale: `A related model (${r.model}, sharing tags ${r.tags.join(', ')}) measured ${citeInsight(r)}.`,
      source: 'insights',
      agent: 'insights',
      kind: 'config',
      overrides: r.overrides,
      expectedEffect: Math.max(0, r.meanEffect) * 0.5,
      risk: 'medium',
      evidence: [`${r.model}: ${citeInsight(r)}`, ...r.links],
    });
  }
  return { hypotheses, suppressed };
}

export interface MergeResult {
  hypotheses: Draft[];
  rejected: RejectedHypothesis[];
}

/** Chance that a hypothesis of this risk survives validation (an assumption; insights then adjust it). */
const SUCCESS_BY_RISK = { low: 0.8, medium: 0.6, high: 0.35 } as const;
/** A code change costs more than a config change of the same runs: its own branch, build and review. */
export const CODE_COST_FACTOR = 1.5;
/** Each extra knob changed together makes a hypothesis harder to attribute and likelier to fail. */
const PER_EXTRA_KNOB = 0.9;
/** What an unmeasured claim may count for at most: priors are screens, not results. */
const MAX_PRIOR_GAIN = 0.05;
/** Insight adjustment of a prior when the same knob moved the same way before. */
const SAME_WAY_WON = 1.5;
const SAME_WAY_LOST = 0.5;

/** The key of a draft's change, as plans and insights key it (a code change adds its patch digest). */
function draftKey(h: Draft): string {
  return changeKey(h.overrides, h.kind === 'code' ? (h.patch ?? '') : undefined);
}

/** Which way a change moves a knob: up or down for numbers, the value itself otherwise. */
function direction(base: KnobValue | undefined, v: KnobValue): string {
  if (typeof v === 'number' && typeof base === 'number') return v > base ? 'up' : v < base ? 'down' : 'same';
  return `=${JSON.stringify(v)}`;
}

/**
 * How earlier single-knob results of this model bear on a change: by knob and direction, the product of
 * SAME_WAY_WON for each win and SAME_WAY_LOST for each loss or failure that moved the same knob the same way.
 */
export function insightPriors(
  model: string,
  rows: readonly InsightRow[],
  baseline: KnobValues,
): Map<string, number> {
  const out = new Map<string, number>();
  // Effects are relative to a baseline: only rows measured against the current one say anything here.
  const current = overridesKey(baseline);
  const own = rows.filter((x) => x.model === model && x.baselineKey === current);
  for (const r of latestByChange(own).values()) {
    const entries = Object.entries(r.overrides);
    if (entries.length !== 1 || r.changeKey.includes('code:')) continue;
    const [k, v] = entries[0]!;
    const key = `${k}:${direction(baseline[k], v)}`;
    const f =
      r.status === 'win'
        ? SAME_WAY_WON
        : r.status === 'loss' || r.status === 'infeasible'
          ? SAME_WAY_LOST
          : 1;
    out.set(key, (out.get(key) ?? 1) * f);
  }
  return out;
}

/**
 * Expected gain per unit of validation cost, with the insights as prior: the claimed gain (capped) times the
 * chance of surviving validation (by risk, less for each extra knob, adjusted by what moving the same knobs
 * the same way did before), divided by the relative cost (every validation run of a config change costs the
 * same; a code change costs CODE_COST_FACTOR times more). Measured insights are not re-adjusted.
 */
export function gainPerCost(h: Draft, priors: ReadonlyMap<string, number>, baseline: KnobValues): number {
  const gain = Math.max(0, Math.min(h.expectedEffect, MAX_PRIOR_GAIN));
  const knobs = Object.entries(h.overrides);
  let p = SUCCESS_BY_RISK[h.risk] * PER_EXTRA_KNOB ** Math.max(0, knobs.length - 1);
  if (h.source !== 'insights') {
    for (const [k, v] of knobs) p *= priors.get(`${k}:${direction(baseline[k], v)}`) ?? 1;
  }
  const cost = h.kind === 'code' ? CODE_COST_FACTOR : 1;
  return (gain * Math.min(1, p)) / cost;
}

/**
 * Merges proposals from every source (earlier sources win a tie on the same change), drops what the
 * insights suppress or what leaves the knob space, ranks by expected gain per cost (gainPerCost, with the
 * insights as prior) and caps how many hypotheses touch one knob. Fitting the ranked list to the budget is
 * createPlan's job (it knows the run costs); what does not fit is rejected there with its reason.
 */
export function mergeHypotheses(args: {
  sources: Draft[][];
  suppressed: Map<string, string>;
  knobs: Record<string, Knob>;
  baseline: KnobValues;
  /** This model's insights (and related models'), used as the ranking prior; none means no adjustment. */
  insights?: { model: string; rows: readonly InsightRow[] };
}): MergeResult {
  const rejected: RejectedHypothesis[] = [];
  const seen = new Set<string>();
  const kept: Draft[] = [];
  const reject = (h: Draft, reason: string) =>
    rejected.push({ title: h.title, source: h.source, agent: h.agent, overrides: h.overrides, reason });
  for (const list of args.sources) {
    for (const h of list) {
      const problems = checkKnobValues(args.knobs, h.overrides);
      if (problems.length > 0) {
        reject(h, `outside the knob space: ${problems.join('; ')}`);
        continue;
      }
      const same = Object.entries(h.overrides).every(([k, v]) => args.baseline[k] === v);
      if (same && h.kind !== 'code') {
        reject(h, 'changes nothing: every value equals the baseline');
        continue;
      }
      // A code change is keyed by its patch as well, so it is neither a duplicate of its plain config nor
      // suppressed by what that config did.
      const key = draftKey(h);
      const why = args.suppressed.get(key);
      if (why && h.source !== 'insights') {
        reject(h, `suppressed by insights: ${why}`);
        continue;
      }
      if (seen.has(key)) {
        reject(h, 'duplicate of a hypothesis from another source');
        continue;
      }
      seen.add(key);
      kept.push(h);
    }
  }
  const priors = args.insights
    ? insightPriors(args.insights.model, args.insights.rows, args.baseline)
    : new Map<string, number>();
  const score = new Map(kept.map((h) => [h, gainPerCost(h, priors, args.baseline)]));
  const riskRank = { low: 0, medium: 1, high: 2 } as const;
  kept.sort(
    (a, b) =>
      score.get(b)! - score.get(a)! ||
      riskRank[a.risk] - riskRank[b.risk] ||
      draftKey(a).localeCompare(draftKey(b)),
  );
  const perKnob = new Map<string, number>();
  const hypotheses: Draft[] = [];
  for (const h of kept) {
    const knobs = Object.keys(h.overrides);
    // Insights-sourced multi-knob wins are exempt: they are one measured change, not a crowding of knobs.
    const capped = h.source !== 'insights' && knobs.some((k) => (perKnob.get(k) ?? 0) >= MAX_PER_KNOB);
    if (capped) {
      const k = knobs.find((x) => (perKnob.get(x) ?? 0) >= MAX_PER_KNOB)!;
      reject(h, `diversity cap: already ${MAX_PER_KNOB} hypotheses change ${k}`);
      continue;
    }
    for (const k of knobs) perKnob.set(k, (perKnob.get(k) ?? 0) + 1);
    hypotheses.push(h);
  }
  return { hypotheses, rejected };
}

export function describeOverrides(baseline: KnobValues, overrides: KnobValues): string {
  return Object.entries(overrides)
    .map(
      ([k, v]) => `${k}=${fmtValue(v)}${baseline[k] !== undefined ? ` (was ${fmtValue(baseline[k])})` : ''}`,
    )
    .join(', ');
}
