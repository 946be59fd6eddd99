import type { KnobValues } from './contract.ts';
import { estimatePlan, estimateRun, type PhaseRunCount } from './costs.ts';
import { knobSpace, probeConfigs } from './knob-space.ts';
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
import { seededRng, seedFrom } from './rng.ts';

// Plan creation and the run layout of each step. DESIGN section 6: validation screens each hypothesis, and
// seeded probes spread over the knob space, against baseline replicas at low fidelity (paired seeds);
// combination promotes the best by rank to a higher fidelity with the interaction pairs and the surrogate's
// proposals; exploitation searches at full fidelity with the surrogate (one seed a configuration) and confirms
// the top candidates on fresh seeds.

export const BASELINE_ID = 'c0';
/** How many configurations the combination phase measures at most. */
export const MAX_COMBOS = 10;
/** Full-fidelity search runs a plan's estimate counts on (the search keeps going while budget is left). */
export const PLANNED_REFINE_RUNS = 6;
/** Baseline seeds at full fidelity that the search's single-seed runs pair with. */
export const REFINE_BASELINE_SEEDS = 2;
/** Candidates the plan's estimate expects to confirm on fresh seeds. */
export const PLANNED_CONFIRMATIONS = 2;
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
      return range(seeds.combination);
    case 'refine':
      return role === 'baseline' ? range(REFINE_BASELINE_SEEDS) : range(1);
    case 'confirm':
      return range(seeds.exploitation, CONFIRM_SEED_OFFSET);
  }
}

export function fidelityFor(spec: PlanSpec, step: StepName): number {
  switch (step) {
    case 'validation':
      return spec.fidelity.validation;
    case 'combination':
      return spec.fidelity.combination;
    case 'refine':
    case 'confirm':
      return spec.fidelity.exploitation;
  }
}

/** Probes validation adds to the hypotheses: about one per knob, never fewer than 4 or more than 12. */
export function probeCount(spec: PlanSpec): number {
  return Math.max(4, Math.min(12, Object.keys(spec.knobs).length));
}

/**
 * Run counts per phase before anything is known. `full` is what the plan expects to do (combination and
 * exploitation are upper bounds it sizes to the budget left); `minimal` is the smallest plan that still
 * confirms one candidate, the line under which a plan asks for more budget instead of finishing.
 */
export function plannedCounts(spec: PlanSpec, screened: number, layout: 'full' | 'minimal'): PhaseRunCount[] {
  const combos = layout === 'full' ? Math.min(MAX_COMBOS, screened + 1) : Math.min(2, screened);
  const confirmations = layout === 'full' ? PLANNED_CONFIRMATIONS : 1;
  const search = layout === 'full' ? PLANNED_REFINE_RUNS + REFINE_BASELINE_SEEDS : 0;
  return [
    {
      name: 'validation',
      fidelity: spec.fidelity.validation,
      seeds: spec.seeds.validation,
      runs: baselineReplicas(spec) + screened * spec.seeds.validation,
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
      runs: search + (confirmations + 1) * spec.seeds.exploitation,
    },
  ];
}

export function layoutEstimate(
  spec: PlanSpec,
  screened: number,
  layout: 'full' | 'minimal',
  costSamples: readonly CostSample[],
): PlanEstimate {
  return estimatePlan(plannedCounts(spec, screened, layout), costSamples, spec);
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
  // Probes: seeded random configurations over the whole space, screened like hypotheses, so that the
  // surrogate sees more than the neighbourhood of the baseline and of what the sources thought of.
  const space = knobSpace(spec.knobs, input.baseline);
  let probes = probeConfigs(
    space,
    // Seeded by the plan's seed base, not its id: the same plan from the same memory lays out the same probes
    // (a re-run, a test, a replay), and each later plan of a model has a new seed base, so new probes.
    seededRng(seedFrom('probes', input.seedBase)),
    probeCount(spec),
    kept.map((h) => h.overrides),
  );
  // Fit to the budget: the plan must fit `max_gpu_hours` at p90 in its smallest form (one confirmation, no
  // search beyond combination); the full layout above that is an upper bound that search and combination
  // size to the budget left. Probes go first, then the lowest-ranked hypotheses; each dropped hypothesis
  // says what the plan would have needed with it.
  const minimalP90 = () =>
    layoutEstimate(spec, kept.length + probes.length, 'minimal', input.costSamples).gpuHoursP90;
  while (probes.length > 0 && minimalP90() > spec.maxGpuHours) probes = probes.slice(0, -1);
  while (kept.length > 1 && minimalP90() > spec.maxGpuHours) {
    const needed = minimalP90();
    const dropped = kept.pop()!;
    rejected.push({
      ...pick(dropped),
      reason: `does not fit the budget: the smallest plan with it needs ${needed.toPrecision(3)} GPU-hours at p90, over the maximum of ${spec.maxGpuHours}`,
    });
  }
  const estimate = layoutEstimate(spec, kept.length + probes.length, 'full', input.costSamples);
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
  for (const [i, o] of probes.entries()) {
    addCandidate(state, {
      step: 'validation',
      label: `probe ${i + 1}: ${describeChange(input.baseline, o)}`,
      hypothesisIds: [],
      overrides: o,
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

/**
 * Creates the runs of a step: baseline runs for seeds not yet measured at that fidelity, then candidates. A
 * baseline run the budget guard dropped before it ran is added again: the step compares against it, and the
 * budget (`missingBaselineCost`) already counts it as still to pay.
 */
export function addStepRuns(state: PlanState, step: StepName, candidates: Candidate[]): void {
  const fidelity = fidelityFor(state.spec, step);
  const phase = stepPhase(step);
  const estimate = estimateRun(state.costSamples, fidelity, state.spec);
  const have = new Set(
    state.runs
      .filter((r) => r.role === 'baseline' && r.fidelity === fidelity && !r.dropped)
      .map((r) => r.seed),
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

/** Configurations validation screened: the hypotheses and the probes. */
export function screenedCount(state: PlanState): number {
  return state.candidates.filter((c) => c.step === 'validation' && c.id !== BASELINE_ID).length;
}

export function reestimate(state: PlanState): PlanEstimate {
  return layoutEstimate(state.spec, screenedCount(state), 'full', state.costSamples);
}
