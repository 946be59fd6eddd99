import { spawn } from 'node:child_process';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { InsightRow } from '../../src/app/ports.ts';
import { overridesKey } from '../../src/core/knobs.ts';
import { openStore } from '../../src/db/store.ts';
import { type CliSandbox, cliSandbox } from '../helpers/cli-sandbox.ts';

// `rea insights` as a user runs it, on a database seeded with known insights of the example model. The
// acceptance run after two `rea demo` runs lives in demo.test.ts, which reuses the demo's sandbox.

const ROOT = path.resolve(import.meta.dirname, '../..');
const EXAMPLE = path.join(ROOT, 'examples/ctr-model');
// The example's baseline (examples/ctr-model/configs/baseline.yaml) as the insights key it.
const BASELINE = {
  learning_rate: 0.02,
  l2: 0.0001,
  embedding_dim: 8,
  optimizer: 'sgd',
  batch_size: 512,
  epochs: 1,
  feature_crosses: false,
  hash_bits: 12,
};

function row(over: Partial<InsightRow>): InsightRow {
  return {
    model: 'ctr-ranker',
    tags: ['ctr', 'ads'],
    changeKey: '',
    overrides: {},
    title: '',
    baselineKey: overridesKey(BASELINE),
    rationale: '',
    links: [],
    fidelity: 0.3,
    meanEffect: 0,
    lo: 0,
    hi: 0,
    nRuns: 2,
    nPlans: 1,
    status: 'null',
    reason: '',
    planIds: ['ctr-ranker-aaaaaa'],
    runIds: ['ctr-ranker-aaaaaa/r3'],
    sum: 0,
    sumSq: 0,
    updatedAt: '2026-11-02T09:00:00.000Z',
    ...over,
  };
}

const ROWS: InsightRow[] = [
  row({
    changeKey: 'feature_crosses=true',
    overrides: { feature_crosses: true },
    title: 'feature_crosses false -> true',
    rationale: 'Crosses capture user-by-ad interactions.',
    links: ['https://github.com/acme/ctr/pull/12'],
    fidelity: 1,
    meanEffect: 0.0412,
    lo: 0.0353,
    hi: 0.0471,
    nRuns: 6,
    nPlans: 2,
    status: 'win',
    reason: 'better than baseline in 6 paired runs',
    planIds: ['ctr-ranker-aaaaaa', 'ctr-ranker-bbbbbb'],
  }),
  row({
    changeKey: 'learning_rate=0.2',
    overrides: { learning_rate: 0.2 },
    title: 'learning_rate 0.02 -> 0.2',
    fidelity: 0.1,
    nRuns: 0,
    status: 'infeasible',
    reason: 'loss is nan at step 8 (plan ctr-ranker-aaaaaa, run r7)',
  }),
  row({
    changeKey: 'optimizer="adagrad"',
    overrides: { optimizer: 'adagrad' },
    title: 'optimizer sgd -> adagrad',
    fidelity: 0.1,
    meanEffect: -0.0268,
    lo: -0.03,
    hi: -0.0236,
    status: 'loss',
    reason: 'worse than baseline in 1 paired run',
  }),
  row({
    changeKey: 'hash_bits=14',
    overrides: { hash_bits: 14 },
    title: 'hash_bits 12 -> 14',
    fidelity: 0.1,
    meanEffect: 0.0023,
    lo: -0.0009,
    hi: 0.0054,
    status: 'null',
    reason: 'no effect distinguishable from noise in 1 paired run',
  }),
];

let box: CliSandbox;
beforeAll(async () => {
  box = await cliSandbox('rea-insights-');
  const store = await openStore({
    ...(box.dbUrl ? { databaseUrl: box.dbUrl } : {}),
    dataDir: path.join(box.dir, 'data'),
  });
  try {
    await store.transaction((tx) => tx.upsertInsights(ROWS));
  } finally {
    await store.close();
  }
}, 60_000);
afterAll(() => box.cleanup());

function rea(...args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(ROOT, 'bin/rea.mjs'), ...args], {
      cwd: box.dir,
      env: box.env(),
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('exit', (code) => resolve({ code, out, err }));
  });
}

describe('rea insights', () => {
  it('lists wins with intervals, failures with reasons, null results and untried knobs', async () => {
    const r = await rea('insights', '--dir', EXAMPLE);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toContain('What rea knows about ctr-ranker: 1 win, 2 failed, 1 without measurable effect');
    expect(r.out).toContain(
      'feature_crosses false -> true: +4.12% [+3.53%, +4.71%]; fidelity 1, 6 runs, 2 plans (ctr-ranker-aaaaaa, ctr-ranker-bbbbbb)',
    );
    expect(r.out).toContain('why tried: Crosses capture user-by-ad interactions.');
    expect(r.out).toContain('evidence: https://github.com/acme/ctr/pull/12');
    expect(r.out).toContain(
      'learning_rate 0.02 -> 0.2: infeasible: loss is nan at step 8 (plan ctr-ranker-aaaaaa, run r7)',
    );
    expect(r.out).toContain('optimizer sgd -> adagrad: loss -2.68% [-3.00%, -2.36%]: worse than baseline');
    expect(r.out).toContain('hash_bits 12 -> 14: +0.23% [-0.09%, +0.54%]');
    expect(r.out).toContain('Untried knobs: batch_size, embedding_dim, epochs, l2');
  }, 60_000);

  it('filters by free text over knob names and rationales, and prints JSON for scripts', async () => {
    const lr = await rea('insights', '--dir', EXAMPLE, 'learning', 'rate');
    expect(lr.code, lr.err).toBe(0);
    expect(lr.out).toContain('matching "learning rate": 0 wins, 1 failed, 0 without measurable effect');
    expect(lr.out).toContain('learning_rate 0.02 -> 0.2: infeasible');
    expect(lr.out).not.toContain('feature_crosses');

    const json = await rea('insights', '--dir', EXAMPLE, '--json', 'interactions');
    expect(json.code, json.err).toBe(0);
    const view = JSON.parse(json.out);
    expect(view.wins.map((w: { change: string }) => w.change)).toEqual(['feature_crosses=true']);
    expect(view.wins[0]).toMatchObject({ lo: 0.0353, hi: 0.0471, runs: 6, plans: 2, currentBaseline: true });
    expect(view.failed).toEqual([]);

    const untried = JSON.parse((await rea('insights', '--dir', EXAMPLE, '--json', 'embedding')).out);
    expect(untried.untried).toEqual(['embedding_dim']);
  }, 60_000);

  it('says clearly when the directory has no valid .rea.yml', async () => {
    const r = await rea('insights', '--dir', path.join(box.dir, 'nowhere'));
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/rea\.yml/);
    expect(r.out).toBe('');
  }, 60_000);
});
