import type { DigestWeek } from '../core/digest.ts';
import type { Attempt, InsightRow, PlanState, PlanStatus, Run } from '../core/model.ts';

// A synthetic week of plans and insights for `rea bench digest` and the digest tests: deterministic (a seeded
// generator), with every kind of plan a digest shows, and long texts so that the limits are exercised.

export interface SynthOptions {
  week: DigestWeek;
  plans: number;
  /** Runs in the week, spread over the plans (one attempt each; every tenth run failed once first). */
  runs: number;
  channels: string[];
  insights?: number;
  seed?: number;
  /** Repeat goals and titles to this length (Slack limit tests). */
  textLength?: number;
}

function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

const STATUSES: PlanStatus[] = [
  'completed',
  'running',
  'completed',
  'awaiting_approval',
  'running',
  'completed',
  'paused',
  'cancelled',
  'running',
  'completed',
];

function long(text: string, length: number | undefined): string {
  if (!length || text.length >= length) return text;
  return `${text} ${'with a long explanation '.repeat(Math.ceil(length / 24))}`.slice(0, length);
}

export function synthPlan(args: {
  id: string;
  channel: string;
  status: PlanStatus;
  createdAt: string;
  updatedAt: string;
  runs: Run[];
  winner?: number;
  goal: string;
  model: string;
  promotionPr?: number;
  usdPerGpuHour?: number;
}): PlanState {
  const w = args.winner;
  return {
    id: args.id,
    goal: args.goal,
    repo: `acme/${args.model}`,
    ...(args.promotionPr
      ? {
          origin: {
            kind: 'github',
            owner: 'acme',
            repo: args.model,
            installationId: 1,
            baseRef: 'main',
            baseSha: 'a'.repeat(40),
            requestedBy: 'alice',
            promotionPr: args.promotionPr,
          },
        }
      : {}),
    slack: { channel: args.channel, ts: '1700000000.000100' },
    status: args.status,
    ...(args.status === 'paused' ? { pauseReason: 'budget' as const } : {}),
    phase: args.status === 'awaiting_approval' ? 'validation' : 'combination',
    step: 'combination',
    spec: {
      model: args.model,
      tags: ['ctr'],
      metric: { name: 'ne', goal: 'minimize', min_effect: 0.002 },
      guardrails: [],
      knobs: { learning_rate: { type: 'float', min: 0.001, max: 1, log: true } },
      fidelity: { validation: 0.1, combination: 0.3, exploitation: 1 },
      seeds: { validation: 1, combination: 2, exploitation: 3 },
      gpus: 8,
      usdPerGpuHour: args.usdPerGpuHour ?? 2.5,
      timeoutMinutes: 60,
      baselineGpuHours: 16,
      maxGpuHours: 400,
      maxConcurrentRuns: 4,
      approvers: { github: ['alice'], slack: [] },
      baselineConfigFile: 'configs/baseline.yaml',
      workflow: 'rea-experiment.yml',
    },
    baseline: { learning_rate: 0.03 },
    hypotheses: [],
    rejected: [],
    candidates: [],
    runs: args.runs,
    verdicts: [],
    estimate: { phases: [], gpuHoursP50: 120, gpuHoursP90: 180, usdP50: 300, usdP90: 450 },
    budget: { requestedGpuHours: 200, approvedGpuHours: args.status === 'awaiting_approval' ? 0 : 200 },
    approvals: [],
    decisions: [],
    escalations: [],
    costSamples: [],
    noisePriors: [],
    concurrencyCap: 4,
    seedBase: 1,
    seq: 0,
    ...(w !== undefined
      ? {
          winner: {
            candidateId: 'c1',
            label: 'learning_rate 0.03 -> 0.09',
            overrides: { learning_rate: 0.09 },
            relEffect: w,
            lo: w / 2,
            hi: w * 1.5,
            n: 3,
            baselineMean: 0.5,
            candidateMean: 0.5 * (1 - w),
          },
        }
      : {}),
    ...(args.status === 'completed' && w === undefined
      ? { finishedReason: 'no candidate beat the baseline at full fidelity' }
      : {}),
    ...(args.status === 'cancelled' ? { finishedReason: 'cancelled by alice' } : {}),
    createdAt: args.createdAt,
    updatedAt: args.updatedAt,
  };
}

export function synthRun(id: string, at: string, gpuHours: number, failedFirst: boolean): Run {
  const attempts: Attempt[] = [];
  if (failedFirst)
    attempts.push({
      n: 1,
      status: 'failed',
      overrides: {},
      dispatchedAt: at,
      finishedAt: at,
      gpuHours: gpuHours / 4,
      conclusion: 'failure',
      reason: 'CUDA out of memory',
    });
  attempts.push({
    n: attempts.length + 1,
    status: 'succeeded',
    overrides: {},
    dispatchedAt: at,
    startedAt: at,
    finishedAt: at,
    gpuHours,
    conclusion: 'success',
  });
  return {
    id,
    phase: 'validation',
    step: 'validation',
    candidateId: 'c1',
    role: 'candidate',
    overrides: { learning_rate: 0.09 },
    fidelity: 0.1,
    seed: 1,
    status: 'succeeded',
    attempts,
    maxAttempts: 3,
    estimate: { p50: gpuHours, p90: gpuHours * 1.5 },
    metrics: { ne: 0.5 },
  };
}

/** Plans and insight rows of one week (and some spend in the seven weeks before it, for the chart). */
export function synthWeek(opts: SynthOptions): { plans: PlanState[]; insights: InsightRow[] } {
  const random = rng(opts.seed ?? 42);
  const start = Date.parse(opts.week.start);
  const span = Date.parse(opts.week.end) - start;
  const at = (from: number, width: number) => new Date(Math.floor(from + random() * width)).toISOString();
  const plans: PlanState[] = [];
  const perPlan = Math.floor(opts.runs / opts.plans);
  let extra = opts.runs - perPlan * opts.plans;
  for (let i = 0; i < opts.plans; i++) {
    const status = STATUSES[i % STATUSES.length]!;
    const model = `model-${i % 7}`;
    const id = `${model}-${(0x100000 + i * 7919).toString(16).slice(-6)}`;
    // Some plans began weeks earlier: their older runs fill the chart's earlier weeks.
    const weeksBack = i % 4;
    const createdAt = new Date(start - weeksBack * 7 * 86_400_000 + 3_600_000).toISOString();
    const runs: Run[] = [];
    const n = perPlan + (extra-- > 0 ? 1 : 0);
    for (let r = 0; r < n; r++)
      runs.push(synthRun(`r${r}`, at(start, span * 0.9), 0.25 + random(), r % 10 === 0));
    for (let b = 1; b <= weeksBack; b++)
      runs.push(synthRun(`old${b}`, at(start - b * 7 * 86_400_000, span), 2 + random() * 4, false));
    const finished = status === 'completed' || status === 'cancelled';
    const winner = status === 'completed' && i % 3 !== 2 ? 0.005 + random() * 0.04 : undefined;
    plans.push(
      synthPlan({
        id,
        channel: opts.channels[i % opts.channels.length]!,
        status,
        createdAt,
        updatedAt: finished ? at(start + span * 0.9, span * 0.09) : at(start, span * 0.9),
        runs,
        ...(winner !== undefined ? { winner } : {}),
        ...(winner !== undefined && i % 2 === 0 ? { promotionPr: 100 + i } : {}),
        goal: long(`reduce NE of ${model} (plan ${i})`, opts.textLength),
        model,
      }),
    );
  }
  const insights: InsightRow[] = [];
  const statuses: InsightRow['status'][] = ['win', 'null', 'loss', 'infeasible', 'win'];
  for (let i = 0; i < (opts.insights ?? 200); i++) {
    const status = statuses[i % statuses.length]!;
    const effect =
      status === 'win' ? 0.002 + random() * 0.05 : status === 'loss' ? -0.002 - random() * 0.05 : 0;
    insights.push({
      model: `model-${i % 7}`,
      tags: ['ctr'],
      changeKey: `learning_rate=${i}`,
      overrides: { learning_rate: (i + 1) / 1000 },
      title: long(`learning_rate 0.03 -> ${(i + 1) / 1000}`, opts.textLength),
      baselineKey: '',
      rationale: 'synthetic',
      links: [],
      fidelity: 0.1,
      meanEffect: effect,
      lo: effect - 0.002,
      hi: effect + 0.002,
      nRuns: 1 + (i % 6),
      nPlans: 1 + (i % 3),
      status,
      reason:
        status === 'infeasible' ? 'GPU out of memory at batch_size 4096' : 'paired runs against the baseline',
      planIds: [],
      runIds: [],
      sum: 0,
      sumSq: 0,
      updatedAt: at(start, span),
    });
  }
  return { plans, insights };
}
