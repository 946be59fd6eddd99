import { type CandidateDraft, combinable, summarizeVerdicts } from '../analysis.ts';
import type { Builder } from '../builder.ts';
import { fmtValue } from '../knobs.ts';
import { budgetLeft, confirmCost, missingBaselineCost, runCost } from '../ledger.ts';
import type { PlanState, Verdict } from '../model.ts';
import { changeText, MAX_COMBOS } from '../plan.ts';
import { predictFull, proposeBatch, type SearchModel, searchModel } from '../search.ts';
import { candidateOf, contenders, enterStep, keyOf, proposalDraft, rngFor, topDrafts } from '../steps.ts';
import { searchOrConfirm } from './exploitation.ts';

// Validation screened hypotheses and probes at low fidelity: which of them combination measures next.

/** Share of the budget left after validation that combination may use. */
const COMBINATION_SHARE = 0.4;

export function afterValidation(b: Builder, verdicts: Verdict[]): void {
  const { state } = b;
  const f = state.spec.fidelity.combination;
  const seeds = state.spec.seeds.combination;
  const one = runCost(state, f) * seeds;
  // Sized to the budget left after the later phases' minimum: one confirmation and a search of two runs.
  const later = confirmCost(state, 1) + missingBaselineCost(state, 'refine') + 2 * runCost(state, 1);
  const share = (budgetLeft(state) - later) * COMBINATION_SHARE - missingBaselineCost(state, 'combination');
  const slots = Math.max(0, Math.min(MAX_COMBOS, Math.floor(share / one + 1e-9)));
  const summary = `Validation: ${summarizeVerdicts(state, verdicts)}.`;
  if (slots === 0) {
    searchOrConfirm(
      b,
      topDrafts(state, contenders(verdicts), 2, 'best screened'),
      `${summary} The budget left has no room for combination runs.`,
    );
    return;
  }
  const drafts = combinationDrafts(state, verdicts, slots);
  if (drafts.length === 0) {
    searchOrConfirm(b, [], `${summary} Nothing to combine.`);
    return;
  }
  b.decision(
    `${summary} Combination will measure ${drafts.length} configurations at fidelity ${fmtValue(f)} (${seeds} seeds each, sized to the budget left): ${drafts.map((d) => `${d.label} (${d.why})`).join('; ')}.`,
  );
  enterStep(b, 'combination', drafts);
}

/**
 * Combination candidates: the best screened configurations promoted by rank (successive halving), pairs of
 * hypotheses ranked by what the surrogate expects of them together (a change that hurts alone can be the
 * half of a winning pair), and the surrogate's own proposals for the rest of the slots.
 */
export function combinationDrafts(state: PlanState, verdicts: Verdict[], slots: number): CandidateDraft[] {
  const drafts: CandidateDraft[] = [];
  const seen = new Set<string>([keyOf({ overrides: {} })]);
  const add = (d: CandidateDraft) => {
    if (drafts.length >= slots || seen.has(keyOf(d))) return;
    seen.add(keyOf(d));
    drafts.push(d);
  };
  const ranks = contenders(verdicts);
  const model = searchModel(state);
  const pairSlots = slots >= 3 ? Math.max(1, Math.floor(slots * 0.3)) : 0;
  const topSlots = Math.max(1, Math.floor(slots * 0.4));
  for (const d of topDrafts(state, ranks, topSlots, 'promoted by rank')) add(d);
  // The two best single changes stacked is the classic combination; then the pairs the surrogate rates.
  const pairs = pairDrafts(state, ranks, model);
  const topTwo = pairs.find((d) => d.why === 'the two best changes stacked');
  for (const d of [...(topTwo ? [topTwo] : []), ...pairs].slice(0, pairSlots + (topTwo ? 1 : 0))) add(d);
  const proposals = proposeBatch(model, rngFor(state, 'combination'), slots - drafts.length, drafts);
  for (const o of proposals) add(proposalDraft(state, o, 'proposed by the surrogate'));
  // Fill what is left with the next ranks.
  for (const d of topDrafts(state, ranks, slots, 'promoted by rank')) add(d);
  return drafts;
}

/** Pairs of screened hypotheses (never two code changes), best expected full-fidelity value first. */
function pairDrafts(state: PlanState, ranks: Verdict[], model: SearchModel): CandidateDraft[] {
  const singles = ranks
    .map((v) => candidateOf(state, v))
    .filter((c) => c.hypothesisIds.length > 0)
    .slice(0, 8);
  const passed = new Set(ranks.filter((v) => v.verdict === 'pass').map((v) => v.candidateId));
  const pairs: { d: CandidateDraft; score: number }[] = [];
  let stackedTop = false;
  for (let i = 0; i < singles.length; i++) {
    for (let j = i + 1; j < singles.length; j++) {
      const parts = [singles[i]!, singles[j]!];
      const overrides = combinable(parts);
      if (!overrides) continue;
      if (Object.keys(parts[0]!.overrides).some((k) => k in parts[1]!.overrides)) continue;
      const code = parts.find((p) => p.codeHypothesisId !== undefined)?.codeHypothesisId;
      const p = predictFull(model, { overrides, codeHypothesisId: code });
      // Upper confidence: a pair is worth a look when it could be good, not only when it is expected to be.
      const score = p ? p.mean + p.sd : -(i + j);
      const codePart = code !== undefined ? { codeHypothesisId: code } : {};
      pairs.push({
        d: {
          label: changeText(state, {
            id: '',
            step: 'combination',
            label: '',
            hypothesisIds: [],
            overrides,
            ...codePart,
          }),
          hypothesisIds: parts.flatMap((x) => x.hypothesisIds),
          overrides,
          ...codePart,
          why:
            !stackedTop && passed.has(parts[0]!.id) && passed.has(parts[1]!.id)
              ? 'the two best changes stacked'
              : 'interaction pair',
        },
        score,
      });
      stackedTop ||= passed.has(parts[0]!.id) && passed.has(parts[1]!.id);
    }
  }
  return pairs.sort((a, b) => b.score - a.score).map((p) => p.d);
}
