import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SLACK_LIMITS, textReply } from '../../src/adapters/slack/blocks.ts';
import { makeSlackDeps, type SlackUseCaseDeps } from '../../src/adapters/slack/slack-use-cases.ts';
import type { InsightRow } from '../../src/app/ports.ts';
import { overridesKey } from '../../src/core/knobs.ts';
import { createPlan } from '../../src/core/plan.ts';
import type { PostgresStore } from '../../src/db/store.ts';
import { openTestStore, type TestStore } from '../helpers/db.ts';
import { testBaseline, testSpec } from '../helpers/fixtures.ts';

// `/rea insights <owner/repo> [text]` on a real store: the model is found through the repo's newest plan,
// the same search and renderer as the CLI answer, and the reply fits Slack's limits however much rea knows.

function row(i: number, over: Partial<InsightRow> = {}): InsightRow {
  const status = (['win', 'loss', 'infeasible', 'null'] as const)[i % 4]!;
  return {
    model: 'ctr-ranker',
    tags: ['ctr'],
    changeKey: `learning_rate=${0.001 * (i + 1)}`,
    overrides: { learning_rate: 0.001 * (i + 1) },
    title: `learning_rate 0.03 -> ${0.001 * (i + 1)} ${'with a long descriptive title '.repeat(8)}`,
    baselineKey: overridesKey(testBaseline),
    rationale: 'A rationale that goes on and on about step sizes. '.repeat(20),
    links: ['https://github.com/acme/ctr/pull/7', '/data/reports/p.md'],
    fidelity: 0.3,
    meanEffect: status === 'win' ? 0.01 + i / 1e4 : status === 'loss' ? -0.01 : 0,
    lo: status === 'win' ? 0.001 : -0.02,
    hi: status === 'loss' ? -0.001 : 0.02,
    nRuns: 4,
    nPlans: 50,
    status,
    reason: `${status}: ${'a very long failure reason from a log line '.repeat(10)}`,
    planIds: Array.from({ length: 50 }, (_, k) => `plan-${k}`),
    runIds: ['p/r1'],
    sum: 0,
    sumSq: 0,
    updatedAt: '2026-11-02T09:00:00.000Z',
    ...over,
  };
}

let t: TestStore;
let store: PostgresStore;
let slack: ReturnType<typeof makeSlackDeps>;

beforeEach(async () => {
  t = await openTestStore();
  store = t.store;
  const { state } = createPlan({
    id: 'ctr-1',
    goal: 'g',
    repo: 'acme/ctr',
    spec: testSpec(),
    baseline: testBaseline,
    hypotheses: [],
    rejected: [],
    costSamples: [],
    noisePriors: [],
    seedBase: 1,
    now: '2026-11-02T09:00:00.000Z',
  });
  await store.transaction((tx) => tx.savePlan(state));
  // Only the store is used by the insights use case; the rest of the GitHub wiring is not reached.
  slack = makeSlackDeps({
    plans: { store } as unknown as SlackUseCaseDeps['plans'],
    repos: { open: () => Promise.reject(new Error('not used')) },
    client: {} as never,
    log: pino({ level: 'silent' }),
  });
});
afterEach(() => t.cleanup());

describe('/rea insights in Slack', () => {
  it('answers from the repo newest plan model, filtered by text, with wins, failures and untried knobs', async () => {
    await store.transaction((tx) =>
      tx.upsertInsights([
        row(0, {
          changeKey: 'feature_crosses=true',
          overrides: { feature_crosses: true },
          title: 'feature_crosses false -> true',
          rationale: 'interactions',
        }),
        row(1, {
          changeKey: 'optimizer="adam"',
          overrides: { optimizer: 'adam' },
          title: 'optimizer sgd -> adam',
          reason: 'worse than baseline in 4 paired runs',
          planIds: ['ctr-1'],
          nPlans: 1,
        }),
        row(2, {
          changeKey: 'batch_size=4096',
          overrides: { batch_size: 4096 },
          title: 'batch_size 512 -> 4096',
          reason: 'GPU out of memory',
        }),
      ]),
    );
    const all = await slack.insights('acme/ctr');
    expect(all).toMatch(/^What rea knows about ctr-ranker \(acme\/ctr\): 1 win, 2 failed/);
    expect(all).toContain('feature_crosses false -> true: +1.00% [+0.10%, +2.00%]');
    expect(all).toContain(
      'optimizer sgd -> adam: loss -1.00% [-2.00%, -0.10%]: worse than baseline in 4 paired runs',
    );
    expect(all).toContain('batch_size 512 -> 4096: infeasible: GPU out of memory');
    expect(all).toContain('Untried knobs: embedding_dim, learning_rate');
    const adam = await slack.insights('acme/ctr', 'adam');
    expect(adam).toContain('optimizer sgd -> adam');
    expect(adam).not.toContain('feature_crosses');
    expect(adam).toContain('Untried knobs: none');
    expect(await slack.insights('acme/ctr', 'learning rate')).toContain('Untried knobs: learning_rate');
    expect(await slack.insights('acme/other')).toBe(
      'rea has no plans of acme/other yet, so it knows nothing about it.',
    );
  });

  it('fits Slack limits with hundreds of long insights', async () => {
    await store.transaction((tx) => tx.upsertInsights(Array.from({ length: 400 }, (_, i) => row(i))));
    const text = await slack.insights('acme/ctr');
    expect(text).toContain('... and 92 more');
    const msg = textReply(text);
    expect(msg.blocks.length).toBeLessThanOrEqual(SLACK_LIMITS.blocks);
    for (const b of msg.blocks) {
      const body = (b as { text?: { text: string } }).text?.text ?? '';
      expect(body.length).toBeLessThanOrEqual(SLACK_LIMITS.sectionText);
    }
    // Nothing was cut off: the last section still ends with the untried knobs.
    expect(JSON.stringify(msg.blocks.at(-1))).toContain('Untried knobs');
  });
});
