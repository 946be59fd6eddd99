import type { KnobValues } from './contract.ts';
import { estimatePlan, estimateRun, type PhaseRunCount } from './costs.ts';
import { describeChange, overridesKey } from './knobs.ts';
import type {
  Candidate,
  CostSample,
  Decided,
  Effect,
  GithubOrigin,
  Hypothesis,
  NoisePrior,
  PhaseName,
  PlanEstimate,
  PlanSpec,
  PlanState,
  RejectedHypothesis,
  Run,
  StepName,
} from './model.ts';

// Plan creation and the run layout of each step. DESIGN section 6: validation screens each hypothesis
// against baseline replicas at low fidelity (paired seeds); combination stacks what passed or came close;
// exploitation refines the best combination and confirms it at full fidelity on fresh seeds.

export const BASELINE_ID = 'c0';
/** How many configurations the combination phase measures at most. */
export const MAX_COMBOS = 8;
/** How many neighbours exploitation's local search measures at most. */
export const MAX_REFINE = 4;
/** Attempts of one run (counting the first) that runbooks may use before the run ends. */
export const MAX_ATTEMPTS = 3;
/** Confirmation seeds are offset so that the final estimate is made on seeds search never saw. */
export const CONFIRM_SEED_OFFSET = 1000;

/**
 * A short, stable digest of a patch (FNV-1a: an identity in a key, not a security boundary). Insights key
 * code changes by it too (`changeKeyOf` in insights.ts), so a hypothesis and its insight share one key.
 */
export function codeDigest(patch: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < patch.length; i++) {
    h ^= patch.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h.toString(16).padStart(8, '0');
}

/** What identifies a change: its overrides and, for code, `code:<digest>` of its patch (never pooled). */
export function changeKey(overrides: KnobValues, patch?: string): string {
  const key = overridesKey(overrides);
  if (patch === undefined) return key;
  return [key, `code:${codeDigest(patch)}`].filter((p) => p !== '').join(',');
}

/** The code hypothesis a candidate runs, if any. */
export function codeOf(state: Pick<PlanState, 'hypotheses'>, c: Candidate): Hypothesis | undefined {
  if (c.codeHypothesisId === undefined) return undefined;
  return state.hypotheses.find((h) => h.id === c.codeHypothesisId);
}

/** How people read a candidate's change: its knob changes, plus the title of its code change. */
export function changeText(state: Pick<PlanState, 'hypotheses' | 'baseline'>, c: Candidate): string {
  const code = codeOf(state, c);
  if (!code) return describeChange(state.baseline, c.overrides);
  const knobs = Object.keys(c.overrides).length > 0 ? `${describeChange(state.baseline, c.overrides)}, ` : '';
  return `${knobs}code: ${code.title}`;
}

export function stepPhase(step: StepName): PhaseName {
  return step === 'refine' || step === 'confirm' ? 'exploitation' : step;
}

export function baselineReplicas(spec: PlanSpec): number {
  return Math.max(3, spec.seeds.validation + 1);
}

export function seedsFor(
  state: Pick<PlanState, 'seedBase' | 'spec'>,
  step: StepName,
  role: 'baseline' | 'candidate',
): number[] {
  const { seeds } = state.spec;
  const range = (n: number, offset = 0) => Array.from({ length: n }, (_, i) => state.seedBase + offset + i);
  switch (step) {
    case 'validation':
      return role === 'baseline' ? range(baselineReplicas(state.spec)) : range(seeds.validation);
    case 'combination':
    case 'refine':
      return range(seeds.combination);
    case 'confirm':
      return range(seeds.exploitation, CONFIRM_SEED_OFFSET);
  }
}

export function fidelityFor(spec: PlanSpec, step: StepName): number {
  switch (step) {
    case 'validation':
      return spec.fidelity.validation;
    case 'combination':
    case 'refine':
      return spec.fidelity.combination;
    case 'confirm':
      return spec.fidelity.exploitation;
  }
}

/** Run counts per phase before anything is known: combination and exploitation are upper bounds. */
export function plannedCounts(spec: PlanSpec, hypotheses: number): PhaseRunCount[] {
  const combos = Math.min(MAX_COMBOS, hypotheses + 1);
  return [
    {
      name: 'validation',
      fidelity: spec.fidelity.validation,
      seeds: spec.seeds.validation,
      runs: baselineReplicas(spec) + hypotheses * spec.seeds.validation,
    },
    {
      name: 'combination',
      fidelity: spec.fidelity.combination,
      seeds: spec.seeds.combination,
      runs: (combos + 1) * spec.seeds.combination,
    },
    {
      name: 'exploitation',
      fidelity: spec.fidelity.exploitation,
      seeds: spec.seeds.exploitation,
      runs: 2 * spec.seeds.exploitation,
      extra: { runs: MAX_REFINE * spec.seeds.combination, fidelity: spec.fidelity.combination },
    },
  ];
}

export interface CreatePlanInput {
  id: string;
  goal: string;
  repo?: string;
  origin?: GithubOrigin;
  spec: PlanSpec;
  baseline: KnobValues;
  /** Ranked best first; the tail is dropped if the plan does not fit `max_gpu_hours` at p90. */
  hypotheses: Omit<Hypothesis, 'id'>[];
  rejected: RejectedHypothesis[];
  costSamples: CostSample[];
  noisePriors: NoisePrior[];
  seedBase: number;
  now: string;
}

export function createPlan(input: CreatePlanInput): Decided {
  const { spec } = input;
  const rejected = [...input.rejected];
  const kept: Omit<Hypothesis, 'id'>[] = [];
  const seen = new Set<string>([changeKey({})]);
  for (const h of input.hypotheses) {
    if (h.kind === 'code' && !h.patch?.trim()) {
      rejected.push({ ...pick(h), reason: 'a code hypothesis without a patch' });
      continue;
    }
    const key = changeKey(h.overrides, h.kind === 'code' ? h.patch : undefined);
    if (seen.has(key)) {
      rejected.push({ ...pick(h), reason: 'duplicate of an earlier hypothesis' });
      continue;
    }
    seen.add(key);
    kept.push(h);
  }
  // Fit to the budget by rejecting the lowest-ranked hypotheses until the plan's p90 fits; each says what
  // the plan would have needed with it.
  let estimate = estimatePlan(plannedCounts(spec, kept.length), input.costSamples, spec);
  while (kept.length > 1 && estimate.gpuHoursP90 > spec.maxGpuHours) {
    const needed = estimate.gpuHoursP90;
    const dropped = kept.pop()!;
    rejected.push({
      ...pick(dropped),
      reason: `does not fit the budget: the plan with it needs ${needed.toPrecision(3)} GPU-hours at p90, over the maximum of ${spec.maxGpuHours}`,
    });
    estimate = estimatePlan(plannedCounts(spec, kept.length), input.costSamples, spec);
  }
  const hypotheses: Hypothesis[] = kept.map((h, i) => ({ ...h, id: `h${i + 1}` }));
  const state: PlanState = {
    id: input.id,
    goal: input.goal,
    ...(input.repo ? { repo: input.repo } : {}),
    ...(input.origin ? { origin: input.origin } : {}),
    status: 'awaiting_approval',
    phase: 'validation',
    step: 'validation',
    spec,
    baseline: input.baseline,
    hypotheses,
    rejected,
    candidates: [
      { id: BASELINE_ID, step: 'validation', label: 'baseline', hypothesisIds: [], overrides: {} },
    ],
    runs: [],
    verdicts: [],
    estimate,
    budget: { requestedGpuHours: Math.min(spec.maxGpuHours, estimate.gpuHoursP90), approvedGpuHours: 0 },
    approvals: [],
    decisions: [],
    escalations: [],
    costSamples: input.costSamples,
    noisePriors: input.noisePriors,
    concurrencyCap: spec.maxConcurrentRuns,
    seedBase: input.seedBase,
    seq: 0,
    createdAt: input.now,
    updatedAt: input.now,
  };
  for (const h of hypotheses) {
    addCandidate(state, {
      step: 'validation',
      label: h.title,
      hypothesisIds: [h.id],
      overrides: h.overrides,
      ...(h.kind === 'code' ? { codeHypothesisId: h.id } : {}),
    });
  }
  addStepRuns(
    state,
    'validation',
    state.candidates.filter((c) => c.id !== BASELINE_ID),
  );
  const effects: Effect[] = [{ type: 'publish_plan', idempotencyKey: nextKey(state, 'publish') }];
  return { state, effects };
}

function pick(h: Omit<Hypothesis, 'id'>): Omit<RejectedHypothesis, 'reason'> {
  return { title: h.title, source: h.source, agent: h.agent, overrides: h.overrides };
}

/** A fresh idempotency key: plan id plus a per-plan sequence number, both from the state. */
export function nextKey(state: PlanState, prefix: string): string {
  state.seq += 1;
  return `${prefix}:${state.id}:${state.seq}`;
}

export function addCandidate(state: PlanState, c: Omit<Candidate, 'id'>): Candidate {
  const key = overridesKey(c.overrides);
  const existing = state.candidates.find(
    (x) =>
      x.step === c.step && overridesKey(x.overrides) === key && x.codeHypothesisId === c.codeHypothesisId,
  );
  if (existing) return existing;
  const candidate: Candidate = { ...c, id: `c${state.candidates.length}` };
  state.candidates.push(candidate);
  return candidate;
}

/** Creates the runs of a step: baseline runs for seeds not yet measured at that fidelity, then candidates. */
export function addStepRuns(state: PlanState, step: StepName, candidates: Candidate[]): void {
  const fidelity = fidelityFor(state.spec, step);
  const phase = stepPhase(step);
  const estimate = estimateRun(state.costSamples, fidelity, state.spec);
  const have = new Set(
    state.runs.filter((r) => r.role === 'baseline' && r.fidelity === fidelity).map((r) => r.seed),
  );
  const make = (candidate: Candidate, role: Run['role'], seed: number): Run => ({
    id: `r${state.runs.length + 1}`,
    phase,
    step,
    candidateId: candidate.id,
    role,
    overrides: candidate.overrides,
    fidelity,
    seed,
    status: 'pending',
    attempts: [],
    maxAttempts: MAX_ATTEMPTS,
    estimate,
  });
  const baseline = state.candidates.find((c) => c.id === BASELINE_ID)!;
  for (const seed of seedsFor(state, step, 'baseline')) {
    if (!have.has(seed)) state.runs.push(make(baseline, 'baseline', seed));
  }
  for (const c of candidates) {
    for (const seed of seedsFor(state, step, 'candidate')) state.runs.push(make(c, 'candidate', seed));
  }
}

export function candidateLabel(state: PlanState, overrides: KnobValues): string {
  return describeChange(state.baseline, overrides);
}

export function reestimate(state: PlanState): PlanEstimate {
  return estimatePlan(plannedCounts(state.spec, state.hypotheses.length), state.costSamples, state.spec);
}
