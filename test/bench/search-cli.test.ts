import { execFile, execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// CI's smoke test of `rea bench search`: a tiny task (the toy model, no sleeping), a small budget and two
// seeds. Optuna's strategy runs when python3-optuna is importable; when it is not, the test checks the
// skip message instead of passing quietly.

const ROOT = path.resolve(import.meta.dirname, '../..');
const BIN = path.join(ROOT, 'bin/rea.mjs');
const TOY = path.join(ROOT, 'test/fixtures/toy-model');
const run = promisify(execFile);

function optunaImportable(): boolean {
  try {
    execFileSync('/usr/bin/python3', ['-c', 'import optuna'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

interface SeedRow {
  seed: number;
  final_improvement: number;
  gpu_hours_used: number;
  gpu_hours_to_50: number | null;
  gpu_hours_to_90: number | null;
}

describe('rea bench search (smoke)', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'rea-bench-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const bench = (args: string[], env: NodeJS.ProcessEnv = {}) =>
    run(process.execPath, [BIN, 'bench', 'search', '--dir', TOY, '--seeds', '2', ...args], {
      cwd: dir,
      env: { ...process.env, TOY_SLEEP_MS: '0', ...env },
      maxBuffer: 16 * 1024 * 1024,
    });

  it('runs rea, random and tpe, and writes a table, a PNG chart and JSON per strategy and seed', async () => {
    const withTpe = optunaImportable();
    const budget = '0.006'; // 12 full runs of the toy model
    const { stdout, stderr } = await bench([
      '--budget',
      budget,
      '--strategies',
      'rea,random,tpe',
      '--eval-seeds',
      '2',
      '--out',
      'out',
      '--json',
    ]);
    const json = JSON.parse(stdout);
    expect(json.model).toBe('toy-ranker');
    expect(json.budget_gpu_hours).toBe(0.006);
    expect(json.eval_seeds).toHaveLength(2);
    const expected = withTpe ? ['rea', 'random', 'tpe'] : ['rea', 'random'];
    expect(Object.keys(json.strategies).sort()).toEqual(expected.sort());
    if (!withTpe) {
      expect(json.skipped).toEqual([
        {
          strategy: 'tpe',
          reason: expect.stringMatching(/Optuna is not available.*apt-get install -y python3-optuna/),
        },
      ]);
      expect(stderr).toMatch(/skipping tpe: Optuna is not available/);
    }
    // The toy model has real effects (crosses, adagrad), so somebody finds an improvement.
    expect(json.best_improvement).toBeGreaterThan(0.01);
    for (const name of expected) {
      const seeds: SeedRow[] = json.strategies[name].seeds;
      expect(seeds.map((s) => s.seed)).toEqual([1, 2]);
      for (const s of seeds) {
        expect(Number.isFinite(s.final_improvement)).toBe(true);
        expect(s.gpu_hours_used).toBeGreaterThan(0);
        expect(s.gpu_hours_used).toBeLessThanOrEqual(0.006 + 1e-9);
        for (const h of [s.gpu_hours_to_50, s.gpu_hours_to_90]) {
          if (h !== null) expect(h).toBeLessThanOrEqual(s.gpu_hours_used + 1e-12);
        }
        if (s.gpu_hours_to_50 !== null && s.gpu_hours_to_90 !== null)
          expect(s.gpu_hours_to_50).toBeLessThanOrEqual(s.gpu_hours_to_90);
      }
      expect(json.strategies[name].summary.final_improvement.median).toEqual(expect.any(Number));
    }
    // Random search at full fidelity buys exactly floor(budget / full run) runs.
    expect(
      json.strategies.random.seeds.every((s: SeedRow) => Math.abs(s.gpu_hours_used - 0.006) < 1e-9),
    ).toBe(true);
    expect(stderr).toMatch(/\[[#.]+\] \d+\/\d+ rea seed 1/);
    // What a reader needs to check a pick elsewhere and to reuse the file as a reference (issue 23).
    expect(json.protocol).toEqual(expect.any(Number));
    expect(json.command).toMatch(/^rea bench search .*--seeds 2/);
    for (const name of expected) {
      for (const s of json.strategies[name].seeds) {
        expect(s.trajectory.length).toBe(s.runs);
        const last = s.trajectory[s.trajectory.length - 1];
        expect(last[0]).toBeCloseTo(s.gpu_hours_used, 12);
      }
    }
    for (const s of json.strategies.rea.seeds) {
      expect(s.pick).toEqual(expect.any(Object));
      expect(s.plans.length).toBeGreaterThan(0);
      for (const p of s.plans) {
        expect(p.spent_gpu_hours).toBeLessThanOrEqual(p.approved_gpu_hours + 1e-9);
        expect(p.stop_reason).toEqual(expect.any(String));
        expect(typeof p.winner).toBe('boolean');
      }
      const spent = s.plans.reduce((a: number, p: { spent_gpu_hours: number }) => a + p.spent_gpu_hours, 0);
      expect(spent).toBeCloseTo(s.gpu_hours_used, 12);
    }

    const png = await readFile(path.join(dir, 'out', 'toy-ranker-search.png'));
    expect(png.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
    expect(png.readUInt32BE(16)).toBe(960); // IHDR width
    expect(png.readUInt32BE(20)).toBe(540); // IHDR height
    expect(png.length).toBeGreaterThan(10_000);
    const md = await readFile(path.join(dir, 'out', 'toy-ranker-search.md'), 'utf8');
    expect(md).toMatch(/\| strategy \| seeds \| final improvement \|/);
    expect(md).toMatch(/\| rea \| 2 \|/);
    expect(md).toMatch(/reused from the cache/);
    expect((await stat(path.join(dir, 'out', 'toy-ranker-search.json'))).size).toBeGreaterThan(100);

    // A second run of the same bench trains only what failed (failures are not cached, they may be the
    // machine's): every success comes from the cache.
    const again = await bench([
      '--budget',
      budget,
      '--strategies',
      'rea,random',
      '--eval-seeds',
      '2',
      '--out',
      'out',
    ]);
    const m = again.stdout.match(/(\d+) trained now \((\d+) failed\), (\d+) reused from the cache/);
    expect(m).not.toBeNull();
    expect(m![1]).toBe(m![2]);
    expect(Number(m![3])).toBeGreaterThan(0);

    // Peers measured once and reused: rea alone, with the first run's random search beside it.
    const ref = path.join(dir, 'out', 'toy-ranker-search.json');
    const withRef = await bench([
      '--strategies',
      'rea',
      '--eval-seeds',
      '2',
      '--out',
      'out2',
      '--reference',
      ref,
    ]);
    expect(withRef.stdout).toMatch(/\| rea \| 2 \|/);
    expect(withRef.stdout).toMatch(/\| random \(reference\) \| 2 \|/);
    expect(withRef.stdout).toContain(`Rows marked (reference) are not from this run: they come from ${ref}`);
    const merged = JSON.parse(await readFile(path.join(dir, 'out2', 'toy-ranker-search.json'), 'utf8'));
    // The reference's budget is the default, and its random rows keep their picks and spend.
    expect(merged.budget_gpu_hours).toBe(0.006);
    expect(merged.reference.strategies).toContain('random');
    expect(merged.strategies.random.seeds.map((x: SeedRow) => x.final_improvement)).toEqual(
      json.strategies.random.seeds.map((x: SeedRow) => x.final_improvement),
    );

    // A reference from another protocol version is refused before any training, saying why.
    const old = path.join(dir, 'old-protocol.json');
    await writeFile(old, JSON.stringify({ ...json, protocol: json.protocol - 1 }));
    const refused = await bench(['--strategies', 'rea', '--out', 'out3', '--reference', old]).then(
      () => undefined,
      (e: { code: number; stderr: string }) => e,
    );
    expect(refused?.code).toBe(2);
    expect(refused?.stderr).toMatch(
      new RegExp(
        `measured under bench protocol ${json.protocol - 1}, this rea measures protocol ${json.protocol}`,
      ),
    );
  }, 240_000);

  it('skips the Optuna strategies with a clear message when Optuna cannot be imported', async () => {
    const { stdout, stderr } = await bench(
      [
        '--budget',
        '0.002',
        '--strategies',
        'random,tpe-hyperband',
        '--eval-seeds',
        '1',
        '--out',
        'out2',
        '--json',
      ],
      { REA_BENCH_PYTHON: path.join(dir, 'no-such-python') },
    );
    const json = JSON.parse(stdout);
    expect(Object.keys(json.strategies)).toEqual(['random']);
    expect(json.skipped).toEqual([
      {
        strategy: 'tpe-hyperband',
        reason: expect.stringMatching(/no-such-python not found.*apt-get install -y python3-optuna/),
      },
    ]);
    expect(stderr).toMatch(/skipping tpe-hyperband: Optuna is not available/);
  }, 60_000);

  it('runs the stronger peers, random+Hyperband and multivariate TPE, through the Optuna bridge', async () => {
    const withOptuna = optunaImportable();
    const { stdout, stderr } = await bench([
      '--budget',
      '0.004', // 8 full runs of the toy model
      '--strategies',
      'random-hyperband,tpe-multivariate',
      '--eval-seeds',
      '1',
      '--out',
      'out-peers',
      '--json',
    ]);
    const json = JSON.parse(stdout);
    if (!withOptuna) {
      expect(json.skipped.map((x: { strategy: string }) => x.strategy)).toEqual([
        'random-hyperband',
        'tpe-multivariate',
      ]);
      expect(stderr).toMatch(/skipping random-hyperband: Optuna is not available/);
      return;
    }
    expect(Object.keys(json.strategies)).toEqual(['random-hyperband', 'tpe-multivariate']);
    for (const name of ['random-hyperband', 'tpe-multivariate']) {
      for (const s of json.strategies[name].seeds) {
        expect(s.gpu_hours_used).toBeGreaterThan(0);
        expect(s.gpu_hours_used).toBeLessThanOrEqual(0.004 + 1e-9);
      }
    }
    // Hyperband's first rung is a ninth of a run, so random+Hyperband pays for runs below full fidelity;
    // multivariate TPE, without a pruner, trains at full fidelity only.
    const runs = (name: string) => json.strategies[name].seeds.map((s: { runs: number }) => s.runs);
    expect(Math.max(...runs('random-hyperband'))).toBeGreaterThan(8);
    expect(runs('tpe-multivariate')).toEqual([8, 8]);
    // Issue 24's acceptance block, with the peers measured and rea not run.
    expect(json.acceptance.length).toBeGreaterThan(0);
    for (const c of json.acceptance) {
      expect(c).toEqual({ name: expect.any(String), pass: null, figure: expect.any(String) });
    }
    const md = await readFile(path.join(dir, 'out-peers', 'toy-ranker-search.md'), 'utf8');
    expect(md).toMatch(/\| random-hyperband \| 2 \|/);
    expect(md).toMatch(/\| tpe-multivariate \| 2 \|/);
    expect(md).toMatch(
      /^- n\/a: rea's median final improvement is at least the best peer's\. rea was not run\.$/m,
    );
  }, 120_000);

  it('rejects an unknown strategy with a usage error', async () => {
    await expect(bench(['--strategies', 'rea,grid'])).rejects.toMatchObject({
      code: 2,
      stderr: expect.stringMatching(
        /unknown strategy grid \(known: rea, random, tpe, tpe-hyperband, random-hyperband, tpe-multivariate, rea-warm\)/,
      ),
    });
  });
});
