import { computeInsights } from './insights.ts';
import type { InsightRow, InsightStatus, PlanState } from './model.ts';
import type { InsightChange, ReportInsight } from './report-model.ts';

// The report's view of the model's knowledge: which insight rows this plan's evidence created or moved.

function insightKey(r: Pick<InsightRow, 'baselineKey' | 'changeKey' | 'fidelity'>): string {
  return `${r.baselineKey}|${r.changeKey}|${r.fidelity}`;
}

const STATUS_RANK: Record<InsightStatus, number> = { win: 0, loss: 1, infeasible: 2, null: 3 };

/**
 * The insight rows this plan's evidence touches, as they stand with it, compared with the rows the
 * model's other plans give without it. `history` may include the plan itself (it is left out).
 */
export function planInsights(plan: PlanState, history: readonly PlanState[] = []): ReportInsight[] {
  const others = history.filter((p) => p.id !== plan.id && p.spec.model === plan.spec.model);
  const now = plan.updatedAt;
  const before = new Map(computeInsights(others, now).map((r) => [insightKey(r), r]));
  const out: ReportInsight[] = [];
  for (const row of computeInsights([...others, plan], now)) {
    if (!row.planIds.includes(plan.id)) continue;
    const old = before.get(insightKey(row));
    let change: InsightChange;
    if (!old) change = 'new';
    else if (old.status !== row.status) change = 'changed';
    else if (row.nRuns > old.nRuns && row.hi - row.lo < old.hi - old.lo) change = 'strengthened';
    else change = 'unchanged';
    out.push({
      title: row.title,
      changeKey: row.changeKey,
      fidelity: row.fidelity,
      status: row.status,
      meanEffect: row.meanEffect,
      lo: row.lo,
      hi: row.hi,
      nRuns: row.nRuns,
      nPlans: row.nPlans,
      reason: row.reason,
      change,
      ...(old
        ? {
            before: {
              status: old.status,
              meanEffect: old.meanEffect,
              lo: old.lo,
              hi: old.hi,
              nRuns: old.nRuns,
            },
          }
        : {}),
    });
  }
  // Changes of status first (they are news), then new rows; within each, wins before losses and by size.
  const changeRank: Record<InsightChange, number> = { changed: 0, new: 1, strengthened: 2, unchanged: 3 };
  return out.sort(
    (a, b) =>
      changeRank[a.change] - changeRank[b.change] ||
      STATUS_RANK[a.status] - STATUS_RANK[b.status] ||
      b.fidelity - a.fidelity ||
      Math.abs(b.meanEffect) - Math.abs(a.meanEffect) ||
      a.changeKey.localeCompare(b.changeKey),
  );
}
