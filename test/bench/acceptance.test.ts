import { describe, expect, it } from 'vitest';
import { type AcceptanceCheck, acceptance, THIRD_TASK_MODEL } from '../../src/bench/acceptance.ts';
import { BENCH_PROTOCOL, type BenchResult, type BenchStrategy, summarize } from '../../src/bench/bench.ts';
import { spread } from '../../src/bench/measure.ts';
import { parseReference, withReference } from '../../src/bench/reference.ts';
import { benchJson, renderMarkdown } from '../../src/bench/report.ts';
import type { PlanOutcome, SeedResult } from '../../src/bench/types.ts';

// Issue 24's acceptance block on hand-made bench results: each criterion passes on a result built to meet
// it, and fails when that one figure is spoiled.

const FULL = 1;
const BUDGET = 20;

const plan = (id: string, o: Partial<PlanOutcome> = {}): PlanOutcome => ({
  id,
  approvedGpuHours: 10,
  spentGpuHours: 10,
  winner: true,
  stopReason: 'winner confirmed',
  winnerPick: { lr: 0.1 },
  winnerImprovement: 0.1,
  ...o,
});

interface Row {
  final: number;
  to90?: number;
  plans?: PlanOutcome[];
}

function seedResult(strategy: BenchStrategy, seed: number, row: Row): SeedResult {
  return {
    strategy,
    seed,
    finalImprovement: row.final,
    finalPick: { lr: 0.1 },
    gpuHoursUsed: BUDGET,
    runs: 20,
    ...(row.plans ? { plans: row.plans } : {}),
    trajectory: [{ gpuHours: BUDGET, improvement: row.final }],
    hoursTo50: row.to90,
    hoursTo90: row.to90,
  };
}

interface Spec {
  model?: string;
  rows: Partial<Record<BenchStrategy, Row[]>>;
  warm?: Array<{ first: number; ratio: number | undefined; second: number }>;
}

function result(spec: Spec): BenchResult {
  const strategies = Object.keys(spec.rows) as BenchStrategy[];
  const results = strategies.flatMap((s) => spec.rows[s]!.map((row, i) => seedResult(s, i + 1, row)));
  const perSeed = (spec.warm ?? []).map((w, i) => ({
    seed: i + 1,
    firstImprovement: w.first,
    firstHoursToReach: w.ratio === undefined ? undefined : 10,
    secondHoursToReach: w.ratio === undefined || !Number.isFinite(w.ratio) ? undefined : 10 * w.ratio,
    ratio: w.ratio,
    secondImprovement: w.second,
  }));
  return {
    protocol: BENCH_PROTOCOL,
    model: spec.model ?? THIRD_TASK_MODEL,
    metric: 'ndcg',
    goal: 'maximize',
    budgetGpuHours: BUDGET,
    fullRunGpuHours: FULL,
    evalSeeds: [900001, 900002, 900003],
    seeds: [1, 2, 3],
    bestImprovement: 0.13,
    bestPick: { lr: 0.1 },
    skipped: [],
    results,
    summaries: summarize(strategies, results),
    ...(spec.warm
      ? {
          warmStart: {
            perSeed,
            ratio: spread(perSeed.flatMap((w) => (w.ratio === undefined ? [] : [w.ratio]))),
          },
        }
      : {}),
  };
}

const reaRows = (): Row[] => [
  { final: 0.11, to90: 4, plans: [plan('r1-p1')] },
  {
    final: 0.12,
    to90: 5,
    plans: [
      plan('r2-p1'),
      plan('r2-p2', {
        winner: false,
        winnerPick: undefined,
        winnerImprovement: undefined,
        spentGpuHours: 9.5,
        stopReason: 'budget used',
      }),
    ],
  },
  { final: 0.13, to90: 6, plans: [plan('r3-p1')] },
];
const peer = (finals: number[], to90?: number): Row[] =>
  finals.map((final) => ({ final, ...(to90 !== undefined ? { to90 } : {}) }));

/** A result that meets every criterion. */
function winning(): Spec {
  return {
    rows: {
      rea: reaRows(),
      random: peer([0.04, 0.05, 0.06], 12),
      tpe: peer([0.02, 0.06, 0.1], 10),
      'tpe-hyperband': peer([0.05, 0.06, 0.07], 9),
      'random-hyperband': peer([0.08, 0.09, 0.1], 8),
      'tpe-multivariate': peer([0.07, 0.08, 0.09], 11),
      'rea-warm': [
        { final: 0.12, plans: [plan('w1')] },
        { final: 0.13, plans: [plan('w2')] },
        { final: 0.12, plans: [plan('w3')] },
      ],
    },
    warm: [
      { first: 0.1, ratio: 0.4, second: 0.12 },
      { first: 0.11, ratio: 0.5, second: 0.13 },
      { first: 0.1, ratio: 0.3, second: 0.12 },
    ],
  };
}

const CRITERIA = {
  bestPeer: /at least the best peer's/,
  thirdTask: /third task .*twice random/,
  speed: /90% of the best improvement/,
  warm: /^warm start/,
  falseWinners: /1 in 20/,
  iqr: /interquartile range/,
  budget: /^budget held/,
  unspent: /unspent/,
} as const;

function check(checks: AcceptanceCheck[], which: keyof typeof CRITERIA): AcceptanceCheck {
  const found = checks.filter((c) => CRITERIA[which].test(c.name));
  expect(found, which).toHaveLength(1);
  return found[0]!;
}

function verdicts(spec: Spec): Record<string, boolean | undefined> {
  const checks = acceptance(result(spec));
  return Object.fromEntries(
    (Object.keys(CRITERIA) as Array<keyof typeof CRITERIA>).map((k) => [k, check(checks, k).pass]),
  );
}

const allPass = Object.fromEntries(Object.keys(CRITERIA).map((k) => [k, true]));

describe('acceptance (issue 24)', () => {
  it('passes every criterion on a result that meets them, each with its figure', () => {
    expect(verdicts(winning())).toEqual(allPass);
    const checks = acceptance(result(winning()));
    expect(check(checks, 'bestPeer').figure).toBe(
      'median final improvement: rea +12.00%, best peer random-hyperband +9.00% (random +5.00%, tpe +6.00%, tpe-hyperband +6.00%, random-hyperband +9.00%, tpe-multivariate +8.00%)',
    );
    expect(check(checks, 'thirdTask').figure).toBe(
      'median final improvement: rea +12.00%, random +5.00% (twice: +10.00%)',
    );
    expect(check(checks, 'speed').figure).toMatch(
      /rea 5 \(5 runs\) .*random 12 \(12 runs\) .*\(ratio 0\.42\)/,
    );
    expect(check(checks, 'warm').figure).toMatch(
      /median ratio second\/first 0\.40 .*second \+12\.00%, first \+10\.00%/,
    );
    expect(check(checks, 'falseWinners').figure).toBe('0 of 6 confirmed winners worse than the baseline');
    expect(check(checks, 'iqr').figure).toMatch(/rea 1\.00 points .*tpe 4\.00 points/);
    expect(check(checks, 'budget').figure).toBe('0 of 7 plans over budget');
    expect(check(checks, 'unspent').figure).toBe('0 of 7 plans');
  });

  const spoil: Array<[keyof typeof CRITERIA, string, (s: Spec) => void]> = [
    [
      'bestPeer',
      'a peer with a higher median',
      (s) => {
        s.rows['tpe-multivariate'] = peer([0.12, 0.125, 0.13], 11);
      },
    ],
    [
      'thirdTask',
      'random above half of rea',
      (s) => {
        s.rows.random = peer([0.06, 0.065, 0.07], 12);
      },
    ],
    [
      'speed',
      'random at 90% in less than twice rea',
      (s) => {
        s.rows.random = peer([0.04, 0.05, 0.06], 9);
      },
    ],
    [
      'warm',
      'a median ratio above one half',
      (s) => {
        s.warm![0]!.ratio = 0.7;
        s.warm![1]!.ratio = 0.6;
      },
    ],
    [
      'warm',
      'a lower second-plan improvement',
      (s) => {
        for (const w of s.warm!) w.second = 0.09;
      },
    ],
    [
      'falseWinners',
      'a winner below the baseline',
      (s) => {
        s.rows.rea![0]!.plans![0]!.winnerImprovement = -0.001;
      },
    ],
    [
      'iqr',
      "rea's finals spread wider than TPE's",
      (s) => {
        s.rows.rea = reaRows().map((r, i) => ({ ...r, final: [0.05, 0.12, 0.2][i]! }));
      },
    ],
    [
      'budget',
      'a warm plan over its budget',
      (s) => {
        s.rows['rea-warm']![2]!.plans![0]!.spentGpuHours = 10.5;
      },
    ],
    [
      'unspent',
      'a plan without a winner leaving 11%',
      (s) => {
        s.rows.rea![1]!.plans![1]!.spentGpuHours = 8.9;
      },
    ],
  ];
  it.each(spoil)('fails %s alone with %s', (which, _how, f) => {
    const spec = winning();
    f(spec);
    expect(verdicts(spec)).toEqual({ ...allPass, [which]: false });
  });

  it('says n/a, and why, when a strategy a criterion needs was not run', () => {
    const only = acceptance(result({ rows: { rea: reaRows() } }));
    expect(check(only, 'bestPeer')).toMatchObject({
      pass: undefined,
      figure: expect.stringMatching(/no peer was run/),
    });
    expect(check(only, 'thirdTask')).toMatchObject({ pass: undefined, figure: 'random was not run' });
    expect(check(only, 'speed')).toMatchObject({ pass: undefined, figure: 'random was not run' });
    expect(check(only, 'warm')).toMatchObject({
      pass: undefined,
      figure: expect.stringMatching(/rea-warm was not run/),
    });
    expect(check(only, 'iqr')).toMatchObject({ pass: undefined, figure: 'tpe was not run' });
    expect(check(only, 'budget').pass).toBe(true);

    const peers = acceptance(result({ rows: { random: peer([0.05], 12), tpe: peer([0.06], 10) } }));
    for (const k of ['bestPeer', 'falseWinners', 'budget', 'unspent'] as const)
      expect(check(peers, k)).toMatchObject({ pass: undefined, figure: 'rea was not run' });
  });

  it('compares with the best peer only once every peer ran, but fails already below one that ran', () => {
    const spec = winning();
    delete spec.rows['random-hyperband'];
    const missing = check(acceptance(result(spec)), 'bestPeer');
    expect(missing.pass).toBeUndefined();
    expect(missing.figure).toMatch(/; not run: random-hyperband$/);
    spec.rows.tpe = peer([0.2, 0.2, 0.2], 10);
    expect(check(acceptance(result(spec)), 'bestPeer').pass).toBe(false);
  });

  it('asks twice random search only of the third task', () => {
    const checks = acceptance(result({ ...winning(), model: 'ctr-ranker' }));
    expect(checks.some((c) => CRITERIA.thirdTask.test(c.name))).toBe(false);
    expect(checks).toHaveLength(7);
  });

  it('counts never reaching 90% as infinite: rea must reach it, random need not', () => {
    const spec = winning();
    spec.rows.random = peer([0.04, 0.05, 0.06]);
    expect(check(acceptance(result(spec)), 'speed').pass).toBe(true);
    spec.rows.rea = reaRows().map(({ to90: _, ...r }) => r);
    const both = check(acceptance(result(spec)), 'speed');
    expect(both.pass).toBe(false);
    expect(both.figure).toMatch(/rea not reached .*random not reached/);
  });

  it('allows one confirmed winner in twenty to lose on the fresh seeds, not two', () => {
    const spec = winning();
    const twenty = (worse: number) =>
      Array.from({ length: 20 }, (_, i) => plan(`p${i}`, { winnerImprovement: i < worse ? -0.01 : 0.05 }));
    spec.rows.rea = [{ final: 0.12, to90: 5, plans: twenty(1) }];
    delete spec.rows['rea-warm'];
    expect(check(acceptance(result(spec)), 'falseWinners').pass).toBe(true);
    spec.rows.rea = [{ final: 0.12, to90: 5, plans: twenty(2) }];
    const two = check(acceptance(result(spec)), 'falseWinners');
    expect(two.pass).toBe(false);
    expect(two.figure).toBe('2 of 20 confirmed winners worse than the baseline (p0 -1.00%, p1 -1.00%)');
  });

  it('lets a plan without a winner leave a tenth of its budget or one full run, not more', () => {
    const spec = winning();
    const none = (spent: number, approved = 10) =>
      plan('x', {
        winner: false,
        winnerPick: undefined,
        winnerImprovement: undefined,
        spentGpuHours: spent,
        approvedGpuHours: approved,
      });
    spec.rows.rea![0]!.plans = [none(9)];
    expect(check(acceptance(result(spec)), 'unspent').pass).toBe(true);
    // A small later plan: one full run (1 GPU-hour) is more than a tenth of 3.
    spec.rows.rea![0]!.plans = [none(2, 3)];
    expect(check(acceptance(result(spec)), 'unspent').pass).toBe(true);
    spec.rows.rea![0]!.plans = [none(1.9, 3)];
    expect(check(acceptance(result(spec)), 'unspent').figure).toBe('1 of 7 plans (x: 1.1 of 3 left)');
  });

  it('prints the block in Markdown and keeps name, pass and figure in the JSON (null for n/a)', () => {
    const r = result({ rows: { rea: reaRows(), random: peer([0.04, 0.05, 0.06], 12) } });
    const md = renderMarkdown(r, { lr: 0.01 }, { cache: 'none', command: 'rea bench search' });
    expect(md).toContain("Acceptance (issue 24, the planner's criteria");
    expect(md).toMatch(
      /^- n\/a: rea's median final improvement .*; not run: tpe, tpe-hyperband, random-hyperband, tpe-multivariate\.$/m,
    );
    expect(md).toMatch(/^- PASS: rea reaches 90% of the best improvement .*\(ratio 0\.42\)\.$/m);
    expect(md).toMatch(/^- n\/a: rea's interquartile range .*\. tpe was not run\.$/m);
    expect(md).toMatch(/^- PASS: budget held: .*\. 0 of 4 plans over budget\.$/m);
    const json = benchJson(r, 'rea bench search');
    expect(json.acceptance.find((c) => /interquartile/.test(c.name))).toEqual({
      name: "rea's interquartile range of final improvement is no wider than TPE's",
      pass: null,
      figure: 'tpe was not run',
    });
    const seed1 = json.strategies.rea!.seeds[0]!;
    expect(seed1.plans![0]).toMatchObject({ winner_pick: { lr: 0.1 }, winner_improvement: 0.1 });
  });
});

describe('a reference of the new peers', () => {
  it('lends rea-only runs its random+Hyperband and multivariate TPE rows, so the best-peer check can pass', () => {
    const peers = winning();
    delete peers.rows.rea;
    delete peers.rows['rea-warm'];
    delete peers.warm;
    const file = JSON.stringify(benchJson(result(peers), 'rea bench search --strategies random,...'));
    const merged = withReference(result({ rows: { rea: reaRows() } }), parseReference(file, 'ref.json'));
    expect(merged.reference?.strategies).toEqual([
      'random',
      'tpe',
      'tpe-hyperband',
      'random-hyperband',
      'tpe-multivariate',
    ]);
    const best = check(acceptance(merged), 'bestPeer');
    expect(best.pass).toBe(true);
    expect(best.figure).toMatch(/best peer random-hyperband \+9\.00%/);
  });
});
