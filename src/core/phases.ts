import { analyzeStep, summarizeVerdicts } from './analysis.ts';
import type { Builder } from './builder.ts';
import { assertNever } from './knobs.ts';
import { TERMINAL_RUN } from './ledger.ts';
import { afterCombination } from './phase-rules/combination.ts';
import { afterConfirm } from './phase-rules/confirmation.ts';
import { searchOrConfirm } from './phase-rules/exploitation.ts';
import { afterValidation } from './phase-rules/validation.ts';
import { adoptAdjustments } from './steps.ts';

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
//
// Each phase's rule lives in a file of its own under phase-rules/: a new rule for one phase replaces one file.

export { combinationDrafts } from './phase-rules/validation.ts';
export { finish, fmtHours } from './steps.ts';

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
    case 'confirm': {
      const back = afterConfirm(b, verdicts);
      if (back !== undefined) searchOrConfirm(b, [], back);
      return;
    }
    default:
      assertNever(step);
  }
}
