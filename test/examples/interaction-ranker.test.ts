import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  applyOverrides,
  ConfigError,
  KNOB_NAMES,
  loadConfigFile,
  parseOverrides,
  parseRunEnv,
} from '../../examples/interaction-ranker/src/config.ts';
import {
  HOLDOUT_QUERIES,
  holdoutSet,
  SLATE,
  trainingSet,
} from '../../examples/interaction-ranker/src/data.ts';
import {
  CudaOutOfMemoryError,
  checkGpuMemory,
  estimateGpuMemory,
  FloatingPointError,
  type ModelConfig,
  train,
} from '../../examples/interaction-ranker/src/model.ts';
import { loadModelDir } from '../../src/config/load.ts';

const exampleDir = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  '../../examples/interaction-ranker',
);
const baseline: ModelConfig = loadConfigFile(path.join(exampleDir, 'configs', 'baseline.yaml'));
const run = promisify(execFile);

describe('interaction-ranker data', () => {
  it('is a deterministic world with a fixed holdout and seed-dependent training samples', () => {
    const h = holdoutSet();
    expect(h.queries).toBe(HOLDOUT_QUERIES);
    expect(h.items.length).toBe(HOLDOUT_QUERIES * SLATE);
    const relevant = h.labels.reduce((n, l) => n + (l > 0 ? 1 : 0), 0) / h.labels.length;
    expect(relevant).toBeGreaterThan(0.05);
    expect(relevant).toBeLessThan(0.5);
    const a = trainingSet(0.01, 7);
    const b = trainingSet(0.01, 7);
    const c = trainingSet(0.01, 8);
    expect(Buffer.from(a.items.buffer).equals(Buffer.from(b.items.buffer))).toBe(true);
    expect(Buffer.from(a.items.buffer).equals(Buffer.from(c.items.buffer))).toBe(false);
    // Fidelity is a prefix of the seed's stream.
    const big = trainingSet(0.02, 7);
    expect(Buffer.from(big.labels.buffer, 0, a.labels.length).equals(Buffer.from(a.labels.buffer))).toBe(
      true,
    );
  });
});

describe('interaction-ranker training', () => {
  it('baseline config is the documented one', () => {
    expect(baseline).toEqual({
      learning_rate: 0.03,
      warmup: false,
      hidden_units: 16,
      batch_size: 256,
      weight_decay: 0.0001,
      loss: 'pointwise',
      cross_features: false,
    });
  });

  it('is deterministic for a seed, varies across seeds and learns something', () => {
    const a = train(baseline, { fidelity: 0.05, seed: 1 });
    const b = train(baseline, { fidelity: 0.05, seed: 1 });
    const c = train({ ...baseline, loss: 'pairwise' }, { fidelity: 0.05, seed: 2 });
    expect(a.metrics).toEqual(b.metrics);
    expect(c.metrics.ndcg).not.toBe(a.metrics.ndcg);
    expect(a.metrics.ndcg).toBeGreaterThan(0.4);
    expect(a.metrics.ndcg).toBeLessThan(1);
    expect(a.metrics.pair_accuracy).toBeGreaterThan(0.6);
  });
});

describe('interaction-ranker failure modes', () => {
  it('runs out of simulated GPU memory for a wide layer at a large batch', () => {
    expect(estimateGpuMemory(baseline).fits).toBe(true);
    expect(
      estimateGpuMemory({ ...baseline, hidden_units: 128, batch_size: 512, loss: 'pairwise' }).fits,
    ).toBe(true);
    expect(estimateGpuMemory({ ...baseline, hidden_units: 128, batch_size: 1024 }).fits).toBe(false);
    expect(() => checkGpuMemory({ ...baseline, hidden_units: 64, batch_size: 2048 })).toThrow(
      CudaOutOfMemoryError,
    );
  });

  it('diverges with the pointwise loss at learning rate 1', () => {
    let err: unknown;
    try {
      train({ ...baseline, learning_rate: 1 }, { fidelity: 0.1, seed: 0 });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(FloatingPointError);
    expect((err as Error).message).toMatch(/^loss is (nan|inf) at step \d+$/);
  });
});

describe('interaction-ranker config', () => {
  it(".rea.yml passes rea validate and its knobs are exactly the job's", async () => {
    const m = await loadModelDir(exampleDir);
    if (!m.ok) throw new Error(JSON.stringify(m.problems));
    expect(m.value.config.metric).toMatchObject({ name: 'ndcg', goal: 'maximize' });
    expect(m.value.config.run.command).toBe('node --import tsx train.ts');
    expect(Object.keys(m.value.config.knobs).sort()).toEqual([...KNOB_NAMES].sort());
  });

  it('applies overrides and rejects unknown knobs and wrong types', () => {
    expect(applyOverrides(baseline, parseOverrides('{"loss":"pairwise"}')).loss).toBe('pairwise');
    expect(parseOverrides(undefined)).toEqual({});
    expect(() => parseOverrides('{"hiden_units":32}')).toThrow(/unknown knob "hiden_units"/);
    expect(() => parseOverrides('{"hidden_units":"32"}')).toThrow(/hidden_units: expected an integer/);
    expect(() => parseOverrides('{"loss":"listwise"}')).toThrow(ConfigError);
    expect(() => parseOverrides('{"cross_features":1}')).toThrow(ConfigError);
    expect(() => parseOverrides('{"weight_decay":-1}')).toThrow(ConfigError);
  });

  it('reads the run contract from the environment', () => {
    const env = parseRunEnv({ REA_RUN_ID: 'r1', REA_FIDELITY: '0.3', REA_SEED: '2', REA_OUTPUT_DIR: '/x' });
    expect(env).toEqual({ runId: 'r1', overrides: {}, fidelity: 0.3, seed: 2, outputDir: '/x' });
    expect(() => parseRunEnv({ REA_FIDELITY: '1.5' })).toThrow(ConfigError);
  });
});

describe('interaction-ranker job (train.ts)', () => {
  let outDir: string;

  beforeAll(async () => {
    outDir = await mkdtemp(path.join(tmpdir(), 'rea-ir-'));
  });
  afterAll(async () => {
    await rm(outDir, { recursive: true, force: true });
  });

  const job = async (env: Record<string, string>) => {
    try {
      const { stdout, stderr } = await run(process.execPath, ['--import', 'tsx', 'train.ts'], {
        cwd: exampleDir,
        env: { ...process.env, ...env },
      });
      return { code: 0, stdout, stderr };
    } catch (e) {
      const err = e as { code?: number; stdout?: string; stderr?: string };
      return { code: err.code ?? -1, stdout: err.stdout ?? '', stderr: err.stderr ?? '' };
    }
  };

  it('trains at low fidelity and writes metrics.json', async () => {
    const out = path.join(outDir, 'ok');
    const r = await job({
      REA_RUN_ID: 'test-1',
      REA_OVERRIDES: '{"cross_features":true}',
      REA_FIDELITY: '0.05',
      REA_SEED: '1',
      REA_OUTPUT_DIR: out,
    });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/step \d+ loss \d+\.\d{4}/);
    const metrics = JSON.parse(await readFile(path.join(out, 'metrics.json'), 'utf8'));
    expect(Object.keys(metrics).sort()).toEqual(['metrics', 'steps']);
    expect(Object.keys(metrics.metrics).sort()).toEqual(['ndcg', 'pair_accuracy']);
    expect(metrics.metrics.ndcg).toBeGreaterThan(0.4);
    expect(metrics.metrics.ndcg).toBeLessThan(1);
    expect(metrics.steps).toBeGreaterThan(0);
  });

  it('fails like a real job on CUDA OOM and divergence (exit 1) and on a bad knob (exit 2)', async () => {
    const oom = await job({
      REA_OVERRIDES: '{"hidden_units":128,"batch_size":2048}',
      REA_FIDELITY: '0.01',
      REA_OUTPUT_DIR: outDir,
    });
    expect(oom.code).toBe(1);
    expect(oom.stderr).toMatch(/^RuntimeError: CUDA out of memory\. Tried to allocate [\d.]+ GiB \(GPU 0;/m);
    const nan = await job({
      REA_OVERRIDES: '{"learning_rate":1}',
      REA_FIDELITY: '0.1',
      REA_OUTPUT_DIR: outDir,
    });
    expect(nan.code).toBe(1);
    expect(nan.stderr).toMatch(/^FloatingPointError: loss is (nan|inf) at step \d+$/m);
    const bad = await job({ REA_OVERRIDES: '{"hiden_units":32}', REA_OUTPUT_DIR: outDir });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('unknown knob "hiden_units"');
  });
});
