import type { KnobValues } from '../../src/config/rea-config.ts';
import type { Draft } from '../../src/core/hypotheses.ts';
import type { PlanSpec, PlanState } from '../../src/core/model.ts';
import { createPlan } from '../../src/core/plan.ts';

export function testSpec(over: Partial<PlanSpec> = {}): PlanSpec {
  return {
    model: 'ctr-ranker',
    tags: ['ctr'],
    metric: { name: 'ne', goal: 'minimize', min_effect: 0.002 },
    guardrails: [{ metric: 'qps', min: 900 }],
    knobs: {
      learning_rate: { type: 'float', min: 0.001, max: 1, log: true },
      embedding_dim: { type: 'int', min: 4, max: 128, step: 4 },
      optimizer: { type: 'choice', values: ['sgd', 'adagrad', 'adam'] },
      batch_size: { type: 'choice', values: [256, 512, 1024, 4096] },
      feature_crosses: { type: 'bool' },
    },
    fidelity: { validation: 0.1, combination: 0.3, exploitation: 1 },
    seeds: { validation: 1, combination: 2, exploitation: 3 },
    gpus: 8,
    usdPerGpuHour: 2.5,
    timeoutMinutes: 60,
    baselineGpuHours: 16,
    maxGpuHours: 400,
    maxConcurrentRuns: 4,
    approvers: { github: ['alice', '@acme/ranking-leads'], slack: ['U024BE7LH'] },
    baselineConfigFile: 'configs/baseline.yaml',
    workflow: 'rea-experiment.yml',
    ...over,
  };
}

export const testBaseline: KnobValues = {
  learning_rate: 0.03,
  embedding_dim: 8,
  optimizer: 'sgd',
  batch_size: 512,
  feature_crosses: false,
};

export function draft(title: string, overrides: KnobValues, expectedEffect = 0.005): Draft {
  return {
    title,
    rationale: `test hypothesis ${title}`,
    source: 'research',
    agent: 'offline',
    kind: 'config',
    overrides,
    expectedEffect,
    risk: 'medium',
    evidence: [],
  };
}

export const testDrafts: Draft[] = [
  draft('crosses on', { feature_crosses: true }),
  draft('adagrad', { optimizer: 'adagrad' }),
  draft('lr x3', { learning_rate: 0.09 }),
  draft('batch 4096', { batch_size: 4096 }),
  draft('lr x30', { learning_rate: 0.9 }),
  draft('emb 16', { embedding_dim: 16 }),
];

/** A new plan over the test baseline and the first `hypotheses` test drafts, as the property tests start one. */
export function testPlan(spec: PlanSpec, hypotheses: number, at: number): PlanState {
  return createPlan({
    id: 'p',
    goal: 'g',
    spec,
    baseline: testBaseline,
    hypotheses: testDrafts.slice(0, hypotheses),
    rejected: [],
    costSamples: [],
    noisePriors: [],
    seedBase: 7,
    now: new Date(at).toISOString(),
  }).state;
}
