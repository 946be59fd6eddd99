import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { InsightRow } from '../../src/app/ports.ts';
import { createPlan } from '../../src/core/plan.ts';
import type { PostgresStore } from '../../src/db/store.ts';
import { openTestStore, type TestStore } from '../helpers/db.ts';
import { testBaseline, testSpec } from '../helpers/fixtures.ts';

// Full-text search over insights (titles, rationales, knob names), on PGlite and, with DATABASE_URL, on
// the PostgreSQL server: both must tokenise knob names the same way.

function insight(over: Partial<InsightRow> = {}): InsightRow {
  return {
    model: 'ctr-ranker',
    tags: ['ctr', 'ads'],
    changeKey: 'learning_rate=0.09',
    overrides: { learning_rate: 0.09 },
    title: 'learning_rate 0.03 -> 0.09',
    baselineKey: 'learning_rate=0.03',
    rationale: 'A higher learning rate converges faster on short schedules.',
    links: [],
    fidelity: 0.3,
    meanEffect: 0.012,
    lo: 0.004,
    hi: 0.02,
    nRuns: 4,
    nPlans: 2,
    status: 'win',
    reason: 'better than baseline in 4 paired runs',
    planIds: ['p1', 'p2'],
    runIds: ['p1/r1'],
    sum: 0.048,
    sumSq: 0.0006,
    updatedAt: '2026-11-02T09:00:00.000Z',
    ...over,
  };
}

const ROWS: InsightRow[] = [
  insight(),
  insight({
    changeKey: 'hash_bits=18',
    overrides: { hash_bits: 18 },
    title: 'hash_bits 14 -> 18',
    rationale: 'Fewer collisions for rare ids.',
    meanEffect: 0.004,
    status: 'null',
  }),
  insight({
    changeKey: 'embedding_dim=16',
    overrides: { embedding_dim: 16 },
    title: 'embedding_dim 8 -> 16',
    rationale: 'Wider embeddings; may need a lower learning rate.',
    meanEffect: 0.006,
  }),
  insight({
    changeKey: 'optimizer="adam"',
    overrides: { optimizer: 'adam' },
    title: 'optimizer sgd -> adam',
    rationale: 'Adaptive steps.',
    meanEffect: -0.02,
    status: 'loss',
  }),
  insight({
    changeKey: 'learning_rate=0.9',
    overrides: { learning_rate: 0.9 },
    title: 'learning_rate 0.03 -> 0.9',
    rationale: '',
    fidelity: 0.1,
    meanEffect: 0,
    status: 'infeasible',
    reason: 'loss is nan at step 120',
  }),
  insight({
    model: 'feed-ranker',
    tags: ['feed', 'ads'],
    changeKey: 'layers=4',
    title: 'layers 2 -> 4',
    rationale: '',
  }),
  insight({
    model: 'search-ranker',
    tags: ['search'],
    changeKey: 'layers=4',
    title: 'layers 2 -> 4',
    rationale: '',
  }),
];

let t: TestStore;
let store: PostgresStore;
beforeEach(async () => {
  t = await openTestStore();
  store = t.store;
  await store.transaction((tx) => tx.upsertInsights(ROWS));
});
afterEach(() => t.cleanup());

const keys = (rows: InsightRow[]) => rows.map((r) => `${r.model}:${r.changeKey}`);

describe('searchInsights', () => {
  it('finds knob names with underscores, written either way', async () => {
    for (const text of ['learning_rate', 'learning rate', 'learning_rate=0.09', 'Learning Rates']) {
      const found = keys(await store.searchInsights({ model: 'ctr-ranker', text, limit: 10 }));
      expect(found, text).toContain('ctr-ranker:learning_rate=0.09');
      expect(found, text).not.toContain('ctr-ranker:hash_bits=18');
    }
    expect(keys(await store.searchInsights({ model: 'ctr-ranker', text: 'hash_bits', limit: 10 }))).toEqual([
      'ctr-ranker:hash_bits=18',
    ]);
    expect(keys(await store.searchInsights({ model: 'ctr-ranker', text: 'hash bits', limit: 10 }))).toEqual([
      'ctr-ranker:hash_bits=18',
    ]);
    // A value narrows to the one change.
    expect(
      keys(await store.searchInsights({ model: 'ctr-ranker', text: 'learning_rate=0.9', limit: 10 })),
    ).toEqual(['ctr-ranker:learning_rate=0.9']);
  });

  it('searches rationales, ranks the closer match first, and understands web-search syntax', async () => {
    const lr = keys(await store.searchInsights({ model: 'ctr-ranker', text: 'learning rate', limit: 10 }));
    // The embedding change only mentions the learning rate in its rationale: found, ranked after.
    expect(lr).toContain('ctr-ranker:embedding_dim=16');
    expect(lr.indexOf('ctr-ranker:learning_rate=0.09')).toBeLessThan(
      lr.indexOf('ctr-ranker:embedding_dim=16'),
    );
    expect(keys(await store.searchInsights({ model: 'ctr-ranker', text: 'collisions', limit: 10 }))).toEqual([
      'ctr-ranker:hash_bits=18',
    ]);
    const notEmbedding = keys(
      await store.searchInsights({ model: 'ctr-ranker', text: 'learning rate -embedding', limit: 10 }),
    );
    expect(notEmbedding).not.toContain('ctr-ranker:embedding_dim=16');
    expect(notEmbedding).toContain('ctr-ranker:learning_rate=0.09');
    expect(await store.searchInsights({ model: 'ctr-ranker', text: 'dropout', limit: 10 })).toEqual([]);
  });

  it('takes odd input without an error, and stop words alone filter nothing', async () => {
    for (const text of ['"unclosed', 'or or (', "it's -", '&|!:*']) {
      await expect(store.searchInsights({ model: 'ctr-ranker', text, limit: 10 })).resolves.toBeDefined();
    }
    expect(await store.searchInsights({ model: 'ctr-ranker', text: 'the of', limit: 10 })).toHaveLength(5);
    expect(await store.searchInsights({ model: 'ctr-ranker', text: '   ', limit: 10 })).toHaveLength(5);
  });

  it('orders without text by wins, losses, infeasible, null; and limits', async () => {
    const all = await store.searchInsights({ model: 'ctr-ranker', limit: 10 });
    expect(all.map((r) => r.status)).toEqual(['win', 'win', 'loss', 'infeasible', 'null']);
    // Among wins the larger effect first.
    expect(all[0]!.changeKey).toBe('learning_rate=0.09');
    expect(await store.searchInsights({ model: 'ctr-ranker', limit: 2 })).toHaveLength(2);
  });

  it('scopes by model, by the models of a repository, and by shared tags', async () => {
    const { state } = createPlan({
      id: 'feed-1',
      goal: 'g',
      repo: 'acme/feed',
      spec: testSpec({ model: 'feed-ranker' }),
      baseline: testBaseline,
      hypotheses: [],
      rejected: [],
      costSamples: [],
      noisePriors: [],
      seedBase: 1,
      now: '2026-11-02T09:00:00.000Z',
    });
    await store.transaction((tx) => tx.savePlan(state));
    expect(keys(await store.searchInsights({ repo: 'acme/feed', limit: 10 }))).toEqual([
      'feed-ranker:layers=4',
    ]);
    expect(await store.searchInsights({ repo: 'acme/unknown', limit: 10 })).toEqual([]);
    const ads = keys(await store.searchInsights({ tags: ['ads'], text: 'layers', limit: 10 }));
    expect(ads).toEqual(['feed-ranker:layers=4']);
    expect(keys(await store.searchInsights({ text: 'layers', limit: 10 })).sort()).toEqual([
      'feed-ranker:layers=4',
      'search-ranker:layers=4',
    ]);
  });

  it('keeps one row per baseline when a batch holds the same change against two baselines', async () => {
    await store.transaction((tx) =>
      tx.upsertInsights([
        insight({ baselineKey: 'b1', meanEffect: 0.01 }),
        insight({ baselineKey: 'b2', meanEffect: 0.02 }),
      ]),
    );
    const rows = (await store.listInsights('ctr-ranker', [])).filter(
      (r) => r.changeKey === 'learning_rate=0.09' && r.baselineKey.startsWith('b'),
    );
    expect(rows.map((r) => [r.baselineKey, r.meanEffect]).sort()).toEqual([
      ['b1', 0.01],
      ['b2', 0.02],
    ]);
  });
});
