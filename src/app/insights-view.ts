import type { KnobValues } from '../config/rea-config.ts';
import { pct } from '../core/analysis.ts';
import { overridesKey } from '../core/knobs.ts';
import type { InsightRow, InsightStatus } from '../core/model.ts';

// What rea knows about one model, as one view shared by `rea insights` (text and --json) and Slack's
// `/rea insights`: the top wins with their intervals, what failed and why, null results, and the knobs no
// plan has changed yet. Pure: the caller searches the store and hands the rows in.

export interface InsightItem {
  change: string;
  title: string;
  status: InsightStatus;
  fidelity: number;
  mean: number;
  lo: number;
  hi: number;
  runs: number;
  plans: number;
  reason: string;
  rationale: string;
  links: string[];
  planIds: string[];
  runIds: string[];
  baselineKey: string;
  /** False when the effect was measured against an earlier baseline (before a promotion). */
  currentBaseline: boolean;
  /** Other fidelities this change was measured at, for the curious (the item is the best-informed one). */
  alsoAt: Array<{ fidelity: number; status: InsightStatus; mean: number; runs: number }>;
}

export interface InsightsView {
  model: string;
  /** Who asked about what, e.g. `ctr-ranker (acme/ctr)`. */
  about: string;
  text?: string;
  metric?: string;
  wins: InsightItem[];
  failed: InsightItem[];
  nulls: InsightItem[];
  /** Knobs of `.rea.yml` that no plan of this model has changed. */
  untried: string[];
}

export interface BuildInsightsViewArgs {
  model: string;
  about?: string;
  text?: string;
  metric?: string;
  /** The baseline in force now; rows measured against it come first. */
  baseline?: KnobValues;
  /** The rows that matched the search (any order). */
  matched: readonly InsightRow[];
  /** Every row of the model, to tell which knobs were never changed. */
  all: readonly InsightRow[];
  /** The knob names of the model's `.rea.yml`. */
  knobs: readonly string[];
}

const words = (s: string) =>
  s
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter((w) => w.length > 0);

/** Whether free text mentions a knob: every word of the knob name starts a word of the text or vice versa. */
function mentions(text: string, knob: string): boolean {
  const t = words(text);
  return words(knob).some((k) => t.some((w) => w.length >= 2 && (k.startsWith(w) || w.startsWith(k))));
}

function item(r: InsightRow, current: string | undefined, others: InsightRow[]): InsightItem {
  return {
    change: r.changeKey,
    title: r.title,
    status: r.status,
    fidelity: r.fidelity,
    mean: r.meanEffect,
    lo: r.lo,
    hi: r.hi,
    runs: r.nRuns,
    plans: r.nPlans,
    reason: r.reason,
    rationale: r.rationale,
    links: r.links,
    planIds: r.planIds,
    runIds: r.runIds,
    baselineKey: r.baselineKey,
    currentBaseline: current === undefined || r.baselineKey === current,
    alsoAt: others
      .filter((o) => o !== r)
      .sort((a, b) => b.fidelity - a.fidelity)
      .map((o) => ({ fidelity: o.fidelity, status: o.status, mean: o.meanEffect, runs: o.nRuns })),
  };
}

export function buildInsightsView(args: BuildInsightsViewArgs): InsightsView {
  const current = args.baseline ? overridesKey(args.baseline) : undefined;
  // One item per change and baseline: the row measured at the highest fidelity, then with the most runs.
  const groups = new Map<string, InsightRow[]>();
  for (const r of args.matched) {
    const k = JSON.stringify([r.baselineKey, r.changeKey]);
    groups.set(k, [...(groups.get(k) ?? []), r]);
  }
  const items: InsightItem[] = [];
  for (const rows of groups.values()) {
    const best = [...rows].sort((a, b) => b.fidelity - a.fidelity || b.nRuns - a.nRuns)[0]!;
    items.push(item(best, current, rows));
  }
  const byCurrent = (a: InsightItem, b: InsightItem) => Number(b.currentBaseline) - Number(a.currentBaseline);
  const wins = items
    .filter((i) => i.status === 'win')
    .sort((a, b) => byCurrent(a, b) || b.fidelity - a.fidelity || b.mean - a.mean);
  const failed = items
    .filter((i) => i.status === 'loss' || i.status === 'infeasible')
    .sort((a, b) => byCurrent(a, b) || a.status.localeCompare(b.status) || a.mean - b.mean);
  const nulls = items
    .filter((i) => i.status === 'null')
    .sort((a, b) => byCurrent(a, b) || b.fidelity - a.fidelity || b.mean - a.mean);
  const changed = new Set(args.all.flatMap((r) => Object.keys(r.overrides)));
  const text = args.text?.trim();
  const untried = args.knobs
    .filter((k) => !changed.has(k))
    .filter((k) => !text || mentions(text, k))
    .sort();
  return {
    model: args.model,
    about: args.about ?? args.model,
    ...(text ? { text } : {}),
    ...(args.metric ? { metric: args.metric } : {}),
    wins,
    failed,
    nulls,
    untried,
  };
}

export interface RenderOptions {
  /** At most this many items per section (the rest are counted). */
  maxPerSection?: number;
}

function interval(i: InsightItem): string {
  return `${pct(i.mean)} [${pct(i.lo)}, ${pct(i.hi)}]`;
}

function basis(i: InsightItem): string {
  const ids = i.planIds.length > 4 ? [...i.planIds.slice(0, 3), '...'] : i.planIds;
  const plans = `${i.plans} plan${i.plans === 1 ? '' : 's'} (${ids.join(', ')})`;
  return `fidelity ${i.fidelity}, ${i.runs} run${i.runs === 1 ? '' : 's'}, ${plans}${i.currentBaseline ? '' : ', against an earlier baseline'}`;
}

function oneLine(s: string, max: number): string {
  const flat = s.replace(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}

/** Plain text for the terminal and for a Slack message (which escapes and splits it). */
export function renderInsightsText(view: InsightsView, opts: RenderOptions = {}): string {
  const max = opts.maxPerSection ?? 10;
  const about = `${view.about}${view.text ? ` matching "${view.text}"` : ''}`;
  const total = view.wins.length + view.failed.length + view.nulls.length;
  if (total === 0 && view.untried.length === 0) return `rea has no insights about ${about} yet.`;
  const effectOf = view.metric ? `effect on ${view.metric} vs baseline` : 'effect vs baseline';
  const lines = [
    `What rea knows about ${about}: ${view.wins.length} win${view.wins.length === 1 ? '' : 's'}, ${view.failed.length} failed, ${view.nulls.length} without measurable effect, ${view.untried.length} knob${view.untried.length === 1 ? '' : 's'} untried.`,
  ];
  const more = (n: number) => (n > max ? [`  ... and ${n - max} more`] : []);
  lines.push('', `Top wins (${effectOf}, 95% interval; positive is better):`);
  if (view.wins.length === 0) lines.push('  none yet');
  for (const w of view.wins.slice(0, max)) {
    lines.push(`  ${oneLine(w.title, 160)}: ${interval(w)}; ${basis(w)}`);
    if (w.rationale) lines.push(`    why tried: ${oneLine(w.rationale, 160)}`);
    if (w.links[0])
      lines.push(
        `    evidence: ${w.links
          .slice(0, 2)
          .map((l) => oneLine(l, 200))
          .join(', ')}`,
      );
  }
  lines.push(...more(view.wins.length));
  lines.push('', 'Failed (and why):');
  if (view.failed.length === 0) lines.push('  nothing has failed');
  for (const f of view.failed.slice(0, max)) {
    const effect = f.status === 'infeasible' ? 'infeasible' : `loss ${interval(f)}`;
    lines.push(`  ${oneLine(f.title, 160)}: ${effect}: ${oneLine(f.reason, 200)}; ${basis(f)}`);
  }
  lines.push(...more(view.failed.length));
  lines.push('', 'No measurable effect:');
  if (view.nulls.length === 0) lines.push('  none');
  for (const n of view.nulls.slice(0, max))
    lines.push(`  ${oneLine(n.title, 160)}: ${interval(n)}; ${basis(n)}`);
  lines.push(...more(view.nulls.length));
  lines.push(
    '',
    `Untried knobs: ${view.untried.length > 0 ? view.untried.join(', ') : 'none (every knob was changed in some plan)'}`,
  );
  return lines.join('\n');
}
