import { analyzeStep, type CandidateDraft, combinable, pct, ranked, summarizeVerdicts } from './analysis.ts';
import type { Builder } from './builder.ts';
import { assertNever, describeChange, fmtValue, overridesKey } from './knobs.ts';
import {
  budgetLeft,
  confirmCost,
  missingBaselineCost,
  retryHeadroom,
  runCost,
  runCostP90,
  spentGpuHours,
  TERMINAL_RUN,
} from './ledger.ts';
import type { Candidate, PlanState, Run, StepName, Verdict } from './model.ts';
import {
  addCandidate,
  addStepRuns,
  changeText,
  fidelityFor,
  MAX_COMBOS,
  nextKey,
  stepPhase,
} from './plan.ts';
import { seededRng, seedFrom } from './rng.ts';
import { type Config, predictFull, proposeBatch, type SearchModel, searchModel } from './search.ts';
import { spearman } from './stats.ts';

// What each phase does with what the last one found (DESIGN section 6). The phases are how people see and
// approve the search, not walls inside it: every measurement feeds one surrogate, fidelity is earned by rank,
// and the budget left decides how wide each step is.
//
// validation   hypotheses and probes at low fidelity, one seed each, against baseline replicas
// combination  the best screened configurations promoted by rank, interaction pairs, and the surrogate's
//              proposals, at the combination fidelity, sized to 40% of the budget the later phases leave
// refine       rounds of surrogate proposals (plus what combination promoted) at full fidelity, one seed
//              each, while the budget left covers a round and the confirmation reserve
// confirm      the top candidates on fresh seeds with a selection-corrected interval; with no winner, back
//              to refine while budget is left

/** Share of the budget left after validation that combination may use. */
const COMBINATION_SHARE = 0.4;
/** Candidates confirmation measures at most (each one widens every interval: Bonferroni). */
const MAX_CONFIRM = 3;
/** Below this rank correlation low fidelity is taken to rank poorly, and combination promotes wider. */
const POOR_RANKING = 0.5;

/** Moves through steps while the current one is complete. */
export function advance(b: Builder): void {
  const { state } = b;
  for (let guard = 0; guard < 8 && state.status === 'running'; guard++) {
    const stepRuns = state.runs.filter((r) => r.step === state.step);
    if (stepRuns.length === 0 || !stepRuns.every((r) => TERMINAL_RUN.has(r.status))) return;
    if (state.escalations.some((e) => !e.resolved)) return;
    completeStep(b);
  }
}

function toCandidates(b: Builder, step: StepName, drafts: CandidateDraft[]): Candidate[] {
  return drafts.map((d) =>
    addCandidate(b.state, {
      step,
      label: d.label,
      hypothesisIds: d.hypothesisIds,
      overrides: d.overrides,
      ...(d.codeHypothesisId !== undefined ? { codeHypothesisId: d.codeHypothesisId } : {}),
    }),
  );
}

function draftOf(c: Candidate, why: string): CandidateDraft {
  return {
    label: c.label,
    hypothesisIds: c.hypothesisIds,
    overrides: c.overrides,
    ...(c.codeHypothesisId !== undefined ? { codeHypothesisId: c.codeHypothesisId } : {}),
    why,
  };
}

function enterStep(b: Builder, step: StepName, drafts: CandidateDraft[]): void {
  const { state } = b;
  const phaseBefore = state.phase;
  delete state.searchSpendsReserve;
  state.step = step;
  state.phase = stepPhase(step);
  addStepRuns(state, step, toCandidates(b, step, drafts));
  if (phaseBefore !== state.phase) {
    b.effects.push({
      type: 'update_insights',
      phase: phaseBefore,
      idempotencyKey: nextKey(state, 'insights'),
    });
  }
}

/**
 * A candidate whose every successful run needed the same runbook adjustment (an OOM retried with a
 * smaller batch) was measured as the adjusted configuration; the verdict, later combinations and the
 * insights must say so rather than credit the configuration that could not run.
 */
function adoptAdjustments(state: PlanState, step: StepName): void {
  for (const c of state.candidates) {
    if (c.step !== step || c.adjustedFrom) continue;
    const runs = state.runs.filter(
      (r) => r.candidateId === c.id && r.step === step && r.status === 'succeeded',
    );
    const effective = runs.map((r) => r.attempts[r.attempts.length - 1]!.overrides);
    const first = effective[0];
    if (!first || overridesKey(first) === overridesKey(c.overrides)) continue;
    if (!effective.every((o) => overridesKey(o) === overridesKey(first))) continue;
    const why = runs[0]!.attempts.find((a) => a.runbook)?.runbook?.note ?? 'adjusted by a runbook';
    c.adjustedFrom = { overrides: c.overrides, why };
    c.overrides = first;
    c.label = `${c.label} [ran as ${describeChange(state.baseline, first)}]`;
    for (const r of runs) r.overrides = first;
  }
}

export function completeStep(b: Builder): void {
  const { state } = b;
  const step = state.step;
  adoptAdjustments(state, step);
  const verdicts = analyzeStep(state, step);
  state.verdicts = [...state.verdicts.filter((v) => v.step !== step), ...verdicts];
  switch (step) {
    case 'validation':
      afterValidation(b, verdicts);
      return;
    case 'combination':
      afterCombination(b, verdicts);
      return;
    case 'refine':
      searchOrConfirm(b, [], `Search round: ${summarizeVerdicts(state, verdicts)}.`);
      return;
    case 'confirm':
      afterConfirm(b, verdicts);
      return;
    default:
      assertNever(step);
  }
}

const candidateOf = (state: PlanState, v: Verdict) => state.candidates.find((c) => c.id === v.candidateId)!;
const keyOf = (c: Pick<Candidate, 'overrides' | 'codeHypothesisId'>) =>
  `${overridesKey(c.overrides)}|${c.codeHypothesisId ?? ''}`;

/** Measured verdicts, best first (infeasible and vetoed candidates are constraints, not contenders). */
function contenders(verdicts: readonly Verdict[]): Verdict[] {
  return verdicts
    .filter((v) => v.verdict === 'pass' || v.verdict === 'near' || v.verdict === 'fail')
    .sort((a, b) => b.relEffect - a.relEffect || a.candidateId.localeCompare(b.candidateId));
}

// Seeded by the seed base and the runs so far, not the plan id, so a replay of the same events decides the same.
function rngFor(state: PlanState, what: string) {
  return seededRng(seedFrom(state.seedBase, what, state.runs.length));
}

function afterValidation(b: Builder, verdicts: Verdict[]): void {
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

function topDrafts(state: PlanState, vs: readonly Verdict[], n: number, why: string): CandidateDraft[] {
  return vs.slice(0, n).map((v) => draftOf(candidateOf(state, v), why));
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

function proposalDraft(state: PlanState, c: Config, why: string): CandidateDraft {
  const code = c.codeHypothesisId !== undefined ? { codeHypothesisId: c.codeHypothesisId } : {};
  const label = changeText(state, {
    id: '',
    step: 'refine',
    label: '',
    hypothesisIds: [],
    overrides: c.overrides,
    ...code,
  });
  const hypothesisIds = c.codeHypothesisId !== undefined ? [c.codeHypothesisId] : [];
  return { label: `search: ${label}`, hypothesisIds, overrides: c.overrides, ...code, why };
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

/** Matches candidates of two steps by configuration, for the rank correlation between fidelities. */
function rankAgreement(state: PlanState, low: StepName, high: StepName): number {
  const at = (step: StepName) =>
    new Map(
      contenders(state.verdicts.filter((v) => v.step === step)).map((v) => [
        keyOf(candidateOf(state, v)),
        v.relEffect,
      ]),
    );
  const a = at(low);
  const b = at(high);
  const xs: number[] = [];
  const ys: number[] = [];
  for (const [k, v] of b) {
    const u = a.get(k);
    if (u !== undefined) {
      xs.push(u);
      ys.push(v);
    }
  }
  return spearman(xs, ys);
}

function afterCombination(b: Builder, verdicts: Verdict[]): void {
  const { state } = b;
  const rho = rankAgreement(state, 'validation', 'combination');
  const widen = !(rho >= POOR_RANKING);
  const promoted = topDrafts(
    state,
    contenders(verdicts),
    Number.isNaN(rho) || !widen ? 2 : 3,
    'promoted from combination',
  );
  const agreement = Number.isNaN(rho)
    ? 'rank agreement with validation n/a (fewer than 3 shared configurations)'
    : `rank agreement with validation ${rho.toFixed(2)}${widen ? ', low: promoting wider' : ''}`;
  searchOrConfirm(b, promoted, `Combination: ${summarizeVerdicts(state, verdicts)}; ${agreement}.`);
}

/** Full-fidelity candidates worth confirming: measured better than the baseline, not confirmed yet. */
function confirmable(state: PlanState): Candidate[] {
  const confirmed = new Set(state.candidates.filter((c) => c.step === 'confirm').map(keyOf));
  return contenders(state.verdicts.filter((v) => v.step === 'refine'))
    .filter((v) => v.relEffect > 0 && v.verdict !== 'fail')
    .map((v) => candidateOf(state, v))
    .filter((c) => !confirmed.has(keyOf(c)));
}

/**
 * The budget is a promise both ways: while it covers another search round and the confirmation reserve the
 * plan searches on at full fidelity; then it confirms what is ready. With nothing ready to confirm, the
 * reserve is spent on search too, since a plan may stop early only with a confirmed winner.
 */
function searchOrConfirm(b: Builder, promoted: CandidateDraft[], summary: string): void {
  const { state } = b;
  const ready = confirmable(state);
  const full = runCost(state, fidelityFor(state.spec, 'refine'));
  const size = Math.max(4, 2 * state.concurrencyCap) + promoted.length;
  const roomWith = (reserve: number, cap = size) =>
    Math.min(
      cap,
      Math.floor((budgetLeft(state) - reserve - missingBaselineCost(state, 'refine')) / full + 1e-9),
    );
  let reserve = confirmCost(state, Math.max(1, Math.min(2, ready.length)), runCostP90) + retryHeadroom(state);
  // When the budget guard had to cut the last round short (costs moved since it was sized), the budget is
  // tight: no new round, on to confirmation (and never a loop of rounds the guard drops as they start).
  const lastRun = state.runs.findLast((r) => r.step === 'refine' && r.role === 'candidate');
  const cut = state.step === 'refine' && lastRun?.dropped === true;
  let fits = cut ? 0 : roomWith(reserve);
  // What is left cannot confirm even one candidate at p50 (the reserve went to search): spend it on search.
  const canConfirm = confirmCost(state, 1) <= budgetLeft(state) + 1e-12;
  if (fits < 1 && (ready.length === 0 || !canConfirm)) {
    // No room to search above the reserve and nothing measured at full fidelity: confirm the best of the
    // lower fidelities with the reserve, which is what it is for. Only with nothing promising at all, or
    // nothing left to confirm with, is the reserve spent on search: a plan may stop early only with a winner.
    const screened = ready.length === 0 && canConfirm ? bestScreened(state) : [];
    if (screened.length > 0) {
      enterConfirm(b, summary, screened);
      return;
    }
    reserve = 0;
    // One last round takes all that is left: a smaller one would leave too little to confirm what it finds
    // and too much to call the budget spent.
    fits = roomWith(0, Number.POSITIVE_INFINITY);
  }
  if (fits >= 1) {
    const seen = new Set(promoted.map(keyOf));
    const fresh = promoted.filter(
      (p) => !state.candidates.some((c) => c.step === 'refine' && keyOf(c) === keyOf(p)),
    );
    const greedy = greedyDrafts(state, Math.max(1, Math.floor(fits / 3))).filter((g) => !seen.has(keyOf(g)));
    for (const g of greedy) seen.add(keyOf(g));
    fresh.push(...greedy);
    const proposals = proposeBatch(searchModel(state), rngFor(state, 'refine'), fits - fresh.length, fresh);
    const drafts = [
      ...fresh.slice(0, fits),
      ...proposals
        .filter((o) => !seen.has(keyOf(o)))
        .map((o) => proposalDraft(state, o, 'proposed by the surrogate')),
    ].slice(0, fits);
    if (drafts.length > 0) {
      b.decision(
        `${summary} Searching at full fidelity with ${drafts.length} configurations, one seed each (${fmtHours(budgetLeft(state))} GPU-hours left, ${fmtHours(reserve)} held for confirmation): ${drafts.map((d) => d.label).join('; ')}.`,
      );
      enterStep(b, 'refine', drafts);
      if (reserve === 0) state.searchSpendsReserve = true;
      return;
    }
  }
  enterConfirm(b, summary);
}

/**
 * Forward selection from the incumbent: the best full-fidelity configuration plus one screened hypothesis
 * it does not hold yet, best screen first. A cheap, local move the surrogate's wider proposals can miss when
 * the incumbent's neighbourhood is flat in every direction but one.
 */
function greedyDrafts(state: PlanState, n: number): CandidateDraft[] {
  const best = contenders(state.verdicts.filter((v) => v.step === 'refine')).find(
    (v) => v.verdict === 'pass',
  );
  if (!best || n <= 0) return [];
  const inc = candidateOf(state, best);
  const measured = new Set(state.candidates.filter((c) => c.step === 'refine').map(keyOf));
  const out: CandidateDraft[] = [];
  const screened = contenders(state.verdicts.filter((v) => v.step === 'validation'))
    .filter((v) => v.verdict === 'pass' || v.verdict === 'near')
    .map((v) => candidateOf(state, v))
    .filter((c) => c.hypothesisIds.length > 0);
  for (const c of screened) {
    if (out.length >= n) break;
    if (c.codeHypothesisId !== undefined && inc.codeHypothesisId !== undefined) continue;
    const overrides = { ...inc.overrides, ...c.overrides };
    const code = inc.codeHypothesisId ?? c.codeHypothesisId;
    const draft = { overrides, ...(code !== undefined ? { codeHypothesisId: code } : {}) };
    if (keyOf(draft) === keyOf(inc) || measured.has(keyOf(draft))) continue;
    if (out.some((d) => keyOf(d) === keyOf(draft))) continue;
    out.push({
      label: `greedy: ${changeText(state, { id: '', step: 'refine', label: '', hypothesisIds: [], ...draft })}`,
      hypothesisIds: [...new Set([...inc.hypothesisIds, ...c.hypothesisIds])],
      ...draft,
      why: `the best so far plus ${c.label}`,
    });
  }
  return out;
}

/** The best candidates of the lower fidelities that passed or came close, higher fidelity first. */
function bestScreened(state: PlanState): Candidate[] {
  const at = (step: StepName) =>
    contenders(state.verdicts.filter((v) => v.step === step))
      .filter((v) => v.relEffect > 0 && (v.verdict === 'pass' || v.verdict === 'near'))
      .map((v) => candidateOf(state, v));
  const seen = new Set<string>();
  return [...at('combination'), ...at('validation')].filter((c) => {
    if (seen.has(keyOf(c))) return false;
    seen.add(keyOf(c));
    return true;
  });
}

function enterConfirm(b: Builder, summary: string, fallback: Candidate[] = []): void {
  const { state } = b;
  const model = searchModel(state);
  // Ranked by the measurement and what the surrogate believes at full fidelity, averaged: one seed alone
  // overrates the lucky ones, and the surrogate alone smooths over a narrow peak.
  const measuredAt = (c: Candidate) =>
    state.verdicts.find((v) => v.step === 'refine' && v.candidateId === c.id)?.relEffect ?? 0;
  const ready = confirmable(state)
    .map((c) => ({
      c,
      m: model.fullScale
        ? (measuredAt(c) + (predictFull(model, c)?.mean ?? measuredAt(c))) / 2
        : measuredAt(c),
    }))
    .sort((x, y) => y.m - x.m)
    .map((x) => x.c);
  if (ready.length === 0) ready.push(...fallback);
  if (ready.length === 0) {
    b.decision(
      `${summary} No full-fidelity candidate beat the baseline, and the budget left does not cover another search round.`,
    );
    finish(b, 'no candidate beat the baseline at full fidelity');
    return;
  }
  let k = Math.min(MAX_CONFIRM, ready.length);
  while (k > 1 && confirmCost(state, k, runCostP90) > budgetLeft(state) + 1e-12) k--;
  // When even one confirmation no longer fits at the measured costs, the plan still enters it: the budget
  // guard then pauses and asks for what it needs (the one case a plan asks for more), rather than finish
  // without a winner with budget unspent and a candidate that was never checked on fresh seeds.
  const short = confirmCost(state, k) - budgetLeft(state);
  if (short > 1e-12 && state.step === 'refine' && state.searchSpendsReserve) {
    // The last round spent the reserve when nothing was worth confirming: what it found cannot be
    // confirmed with what is left, and asking for more to check it was never part of the plan approved.
    b.decision(
      `${summary} The budget left (${fmtHours(budgetLeft(state))} GPU-hours) cannot confirm ${changeText(state, ready[0]!)} on ${state.spec.seeds.exploitation} fresh seeds, having gone to search when nothing was worth confirming: finishing without a winner.`,
    );
    finish(b, 'the budget left could not cover a confirmation');
    return;
  }
  if (short > 1e-12) {
    summary += ` Confirming needs about ${fmtHours(short)} GPU-hours more than is left at the measured costs.`;
  }
  const chosen = ready.slice(0, k);
  b.decision(
    `${summary} Confirming ${chosen.length === 1 ? changeText(state, chosen[0]!) : `the top ${chosen.length}: ${chosen.map((c) => changeText(state, c)).join('; ')}`} at full fidelity over ${state.spec.seeds.exploitation} fresh seeds.`,
  );
  enterStep(
    b,
    'confirm',
    chosen.map((c) => draftOf(c, 'confirmation')),
  );
}

function meanOf(state: PlanState, runs: Run[]): number {
  return runs.reduce((s, r) => s + (r.metrics?.[state.spec.metric.name] ?? 0), 0) / Math.max(1, runs.length);
}

function afterConfirm(b: Builder, verdicts: Verdict[]): void {
  const { state } = b;
  const v = ranked(verdicts, 'pass')[0];
  if (!v) {
    const why = verdicts.map((x) => `${changeText(state, candidateOf(state, x))}: ${x.reason}`).join('; ');
    searchOrConfirm(b, [], `Confirmation: nothing held up on fresh seeds (${why}).`);
    return;
  }
  const c = candidateOf(state, v);
  const base = state.runs.filter(
    (r) =>
      r.step === 'confirm' && r.role === 'baseline' && r.status === 'succeeded' && r.fidelity === v.fidelity,
  );
  const cand = state.runs.filter((r) => r.candidateId === c.id && r.status === 'succeeded');
  state.winner = {
    candidateId: c.id,
    label: c.label,
    overrides: c.overrides,
    ...(c.codeHypothesisId !== undefined ? { codeHypothesisId: c.codeHypothesisId } : {}),
    relEffect: v.relEffect,
    lo: v.lo,
    hi: v.hi,
    n: v.n,
    baselineMean: meanOf(state, base),
    candidateMean: meanOf(state, cand),
  };
  const others =
    verdicts.length > 1
      ? ` (best of ${verdicts.length} confirmed together, interval corrected for the selection)`
      : '';
  b.decision(
    `Confirmation: ${changeText(state, c)} improves ${state.spec.metric.name} by ${pct(v.relEffect)} (interval [${pct(v.lo)}, ${pct(v.hi)}], ${v.n} fresh seeds at fidelity ${v.fidelity})${others}.`,
  );
  b.effects.push({ type: 'open_promotion', overrides: c.overrides, idempotencyKey: `promotion:${state.id}` });
  finish(b, 'confirmed a winner');
}

export function finish(b: Builder, reason: string): void {
  const { state } = b;
  state.status = 'completed';
  state.finishedReason = reason;
  b.effects.push({ type: 'update_insights', phase: state.phase, idempotencyKey: nextKey(state, 'insights') });
  b.effects.push({ type: 'write_report', idempotencyKey: nextKey(state, 'report') });
  const spent = spentGpuHours(state);
  const w = state.winner;
  b.notify(
    'plan_finished',
    w
      ? `Plan ${state.id} finished: ${describeChange(state.baseline, w.overrides)} improves ${state.spec.metric.name} by ${pct(w.relEffect)} [${pct(w.lo)}, ${pct(w.hi)}], ${w.n} seeds. Spent ${fmtHours(spent)} of ${fmtHours(state.budget.approvedGpuHours)} GPU-hours.`
      : `Plan ${state.id} finished without a confirmed winner (${reason}). Spent ${fmtHours(spent)} of ${fmtHours(state.budget.approvedGpuHours)} GPU-hours.`,
  );
}

export function fmtHours(h: number): string {
  if (h === 0) return '0';
  if (h >= 100) return h.toFixed(0);
  if (h >= 1) return h.toFixed(1);
  return fmtValue(Number(h.toPrecision(2)));
}
