import { readFileSync } from 'node:fs';
import path from 'node:path';
import { createTwoFilesPatch } from 'diff';
import { LocalCodeReader } from '../../../src/adapters/local/local-code-reader.ts';
import type { ProposalContext } from '../../../src/app/ports.ts';
import { loadModelDir } from '../../../src/config/load.ts';
import type { InsightRow } from '../../../src/core/model.ts';

// The example CTR model as a research agent sees it, and answers a scripted Claude could give about it.

export const EXAMPLE = path.resolve(import.meta.dirname, '../../../examples/ctr-model');

export function insight(over: Partial<InsightRow> & Pick<InsightRow, 'overrides' | 'status'>): InsightRow {
  const key = Object.entries(over.overrides)
    .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
    .join(',');
  return {
    model: 'ctr-ranker',
    tags: ['ctr'],
    changeKey: key,
    title: key,
    baselineKey: '',
    rationale: '',
    links: [],
    fidelity: 0.1,
    meanEffect: 0,
    lo: 0,
    hi: 0,
    nRuns: 3,
    nPlans: 1,
    reason: '',
    planIds: ['ctr-ranker-aaaaaa'],
    runIds: [],
    sum: 0,
    sumSq: 0,
    updatedAt: '2026-11-01T00:00:00.000Z',
    ...over,
  };
}

export const exampleInsights: InsightRow[] = [
  insight({ overrides: { optimizer: 'adagrad' }, status: 'win', meanEffect: 0.031, lo: 0.02, hi: 0.042 }),
  insight({
    overrides: { learning_rate: 0.2 },
    status: 'loss',
    meanEffect: -0.05,
    lo: -0.08,
    hi: -0.02,
    reason: 'diverged in 3 of 3 runs',
  }),
];

export async function exampleContext(goal = 'reduce NE on new users'): Promise<ProposalContext> {
  const model = await loadModelDir(EXAMPLE);
  if (!model.ok) throw new Error('example model does not load');
  return {
    goal,
    config: model.value.config,
    baseline: model.value.baseline,
    insights: exampleInsights,
    code: new LocalCodeReader(EXAMPLE),
  };
}

/** A patch that applies to the example's src/rng.ts: a comment line after its first line. */
export function goodPatch(file = 'src/rng.ts'): string {
  const old = readFileSync(path.join(EXAMPLE, file), 'utf8');
  const lines = old.split('\n');
  const next = [lines[0], '// rea test: a harmless comment', ...lines.slice(1)].join('\n');
  return createTwoFilesPatch(`a/${file}`, `b/${file}`, old, next);
}

/** A patch whose context lines are not in the file. */
export function staleUnappliablePatch(file = 'src/model.ts'): string {
  return [
    `--- a/${file}`,
    `+++ b/${file}`,
    '@@ -1,3 +1,3 @@',
    ' this line is not in the file',
    '-neither is this one',
    '+replacement',
    ' nor this',
    '',
  ].join('\n');
}

export const hyp = (over: Record<string, unknown>) => ({
  title: 'a hypothesis',
  rationale: 'because',
  expected_effect: 0.01,
  risk: 'medium',
  evidence: [],
  kind: 'config',
  overrides: [],
  patch: null,
  ...over,
});

/** A valid answer: two config hypotheses and one code hypothesis. */
export function validAnswer(): { hypotheses: unknown[] } {
  return {
    hypotheses: [
      hyp({
        title: 'adagrad with crosses',
        rationale: 'adagrad won alone; crosses add capacity that adagrad adapts to',
        expected_effect: 0.03,
        risk: 'low',
        evidence: ['optimizer="adagrad": +3.10% [+2.00%, +4.20%]'],
        overrides: [
          { knob: 'optimizer', value: 'adagrad' },
          { knob: 'feature_crosses', value: true },
        ],
      }),
      hyp({
        title: 'embedding 16',
        expected_effect: 0.01,
        overrides: [{ knob: 'embedding_dim', value: 16 }],
      }),
      hyp({ title: 'comment in rng', kind: 'code', expected_effect: 0.004, patch: goodPatch() }),
    ],
  };
}
