import { summarizeVerdicts } from '../analysis.ts';
import type { Builder } from '../builder.ts';
import type { PlanState, StepName, Verdict } from '../model.ts';
import { spearman } from '../stats.ts';
import { candidateOf, contenders, keyOf, topDrafts } from '../steps.ts';
import { searchOrConfirm } from './exploitation.ts';

// Combination measured the promoted configurations and pairs at a higher fidelity: what the search at full
// fidelity starts from, promoted wider when the two fidelities disagree on the ranking.

/** Below this rank correlation low fidelity is taken to rank poorly, and combination promotes wider. */
const POOR_RANKING = 0.5;

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

export function afterCombination(b: Builder, verdicts: Verdict[]): void {
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
