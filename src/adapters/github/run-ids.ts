// A workflow run carries rea's identity of the attempt in its `run_id` input and in its title
// (`run-name: rea ${{ inputs.run_id }}`), so a webhook or a list of runs can be matched to a plan, a run
// and an attempt without any lookup table, even when the dispatch response never arrived.

const SEP = ':';

export interface RunRef {
  planId: string;
  runId: string;
  attempt: number;
}

export function runInput(ref: RunRef): string {
  return [ref.planId, ref.runId, ref.attempt].join(SEP);
}

export function runTitle(ref: RunRef): string {
  return `rea ${runInput(ref)}`;
}

/** Parses a workflow run's title (`display_title`, or `name` on older servers); undefined when not rea's. */
export function parseRunTitle(title: string | null | undefined): RunRef | undefined {
  const m = /^rea ([A-Za-z0-9._-]+):([A-Za-z0-9._-]+):(\d+)$/.exec((title ?? '').trim());
  if (!m) return undefined;
  return { planId: m[1]!, runId: m[2]!, attempt: Number(m[3]) };
}

export function planBranch(planId: string): string {
  return `rea/plan-${planId}`;
}

/**
 * The branch of a code hypothesis. Not `rea/plan-<id>/<hypothesis>`: git keeps refs as paths, so that name
 * cannot exist next to the plan branch `rea/plan-<id>` (GitHub answers 422 "Reference update failed").
 * Plan ids end in hex digits, so no plan branch is ever named `rea/plan-<other id>-code`.
 */
export function experimentBranch(planId: string, hypothesisId: string): string {
  return `rea/plan-${planId}-code/${hypothesisId}`;
}

export function promotionBranch(planId: string): string {
  return `rea/promote-${planId}`;
}

export function planIdFromBranch(ref: string): string | undefined {
  const m = /^(?:refs\/heads\/)?rea\/plan-([A-Za-z0-9._-]+)$/.exec(ref);
  return m?.[1];
}
