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
  loadConfigFile,
  parseOverrides,
  parseRunEnv,
} from '../../examples/ctr-model/src/config.ts';
import { HOLDOUT_ROWS, holdoutSet, trainingSet } from '../../examples/ctr-model/src/data.ts';
import {
  CudaOutOfMemoryError,
  checkGpuMemory,
  estimateGpuMemory,
  FloatingPointError,
  type ModelConfig,
  servingQps,
  train,
} from '../../examples/ctr-model/src/model.ts';

const exampleDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../examples/ctr-model');
const baseline: ModelConfig = loadConfigFile(path.join(exampleDir, 'configs', 'baseline.yaml'));
const run = promisify(execFile);

describe('ctr-model data', () => {
  it('is a deterministic world with a fixed holdout and seed-dependent training samples', () => {
    const h = holdoutSet();
    expect(h.n).toBe(HOLDOUT_ROWS);
    const ctr = h.labels.reduce((a, b) => a + b, 0) / h.n;
    expect(ctr).toBeGreaterThan(0.03);
    expect(ctr).toBeLessThan(0.1);
    const a = trainingSet(0.01, 7);
    const b = trainingSet(0.01, 7);
    const c = trainingSet(0.01, 8);
    expect(a.n).toBe(3000);
    expect(Buffer.from(a.sparse.buffer).equals(Buffer.from(b.sparse.buffer))).toBe(true);
    expect(Buffer.from(a.sparse.buffer).equals(Buffer.from(c.sparse.buffer))).toBe(false);
  });
});

describe('ctr-model training', () => {
  it('baseline config is the documented one', () => {
    expect(baseline).toEqual({
      learning_rate: 0.02,
      l2: 0.0001,
      embedding_dim: 8,
      optimizer: 'sgd',
      batch_size: 512,
      epochs: 1,
      feature_crosses: false,
      hash_bits: 12,
    });
  });

  it('is deterministic for a seed and varies across seeds', () => {
    const a = train(baseline, { fidelity: 0.05, seed: 1 });
    const b = train(baseline, { fidelity: 0.05, seed: 1 });
    const c = train(baseline, { fidelity: 0.05, seed: 2 });
    expect(a.metrics.ne).toBe(b.metrics.ne);
    expect(a.metrics.auc).toBe(b.metrics.auc);
    expect(c.metrics.ne).not.toBe(a.metrics.ne);
    expect(a.steps).toBe(Math.ceil(15_000 / 512));
  });

  it('baseline NE and AUC are sane', () => {
    const r = train(baseline, { fidelity: 0.3, seed: 0 });
    expect(r.metrics.ne).toBeLessThan(1);
    expect(r.metrics.ne).toBeGreaterThan(0.7);
    expect(r.metrics.auc).toBeGreaterThan(0.6);
    expect(r.metrics.qps).toBe(1500);
  });

  it('feature crosses improve NE, more with a larger embedding dim', () => {
    const base = train(baseline, { fidelity: 0.5, seed: 0 }).metrics.ne;
    const x8 = train({ ...baseline, feature_crosses: true }, { fidelity: 0.5, seed: 0 }).metrics.ne;
    const x32 = train({ ...baseline, feature_crosses: true, embedding_dim: 32 }, { fidelity: 0.5, seed: 0 })
      .metrics.ne;
    expect((base - x8) / base).toBeGreaterThan(0.01);
    expect(x32).toBeLessThan(x8);
  });

  it('reports progress with finite losses', () => {
    const losses: number[] = [];
    train(baseline, { fidelity: 0.05, seed: 0, logEvery: 5, onProgress: (_step, loss) => losses.push(loss) });
    expect(losses.length).toBeGreaterThan(3);
    for (const l of losses) expect(Number.isFinite(l)).toBe(true);
  });
});

describe('ctr-model failure modes', () => {
  it('runs out of simulated GPU memory at batch size 4096 but not 1024', () => {
    expect(estimateGpuMemory(baseline).fits).toBe(true);
    expect(estimateGpuMemory({ ...baseline, batch_size: 1024 }).fits).toBe(true);
    expect(estimateGpuMemory({ ...baseline, batch_size: 4096 }).fits).toBe(false);
    expect(() => checkGpuMemory({ ...baseline, batch_size: 4096 })).toThrow(CudaOutOfMemoryError);
    expect(() => train({ ...baseline, batch_size: 4096 }, { fidelity: 0.01 })).toThrow(/CUDA out of memory/);
  });

  it('diverges with SGD at learning rate 1.0 and 0.3 but not at 3x the baseline', () => {
    for (const lr of [1.0, 0.3]) {
      expect(() => train({ ...baseline, learning_rate: lr }, { fidelity: 0.1, seed: 0 })).toThrow(
        FloatingPointError,
      );
    }
    let err: unknown;
    try {
      train({ ...baseline, learning_rate: 1.0 }, { fidelity: 0.1, seed: 0 });
    } catch (e) {
      err = e;
    }
    expect(String((err as Error).message)).toMatch(/^loss is (nan|inf) at step \d+$/);
    const r = train({ ...baseline, learning_rate: 3 * baseline.learning_rate }, { fidelity: 0.1, seed: 0 });
    expect(Number.isFinite(r.metrics.ne)).toBe(true);
  });

  it('qps falls with the embedding dim when crosses are on', () => {
    expect(servingQps(baseline)).toBe(1500);
    expect(servingQps({ ...baseline, feature_crosses: true, embedding_dim: 32 })).toBeGreaterThan(900);
    expect(servingQps({ ...baseline, feature_crosses: true, embedding_dim: 128 })).toBeLessThan(900);
  });
});

describe('ctr-model config', () => {
  it('applies overrides and rejects unknown knobs and wrong types', () => {
    expect(applyOverrides(baseline, parseOverrides('{"optimizer":"adam"}')).optimizer).toBe('adam');
    expect(parseOverrides(undefined)).toEqual({});
    expect(parseOverrides('')).toEqual({});
    expect(() => parseOverrides('{"learnig_rate":0.1}')).toThrow(ConfigError);
    expect(() => parseOverrides('{"epochs":"2"}')).toThrow(/epochs: expected an integer/);
    expect(() => parseOverrides('{"feature_crosses":1}')).toThrow(ConfigError);
    expect(() => parseOverrides('[]')).toThrow(ConfigError);
  });

  it('reads the run contract from the environment', () => {
    const env = parseRunEnv({ REA_RUN_ID: 'r1', REA_FIDELITY: '0.3', REA_SEED: '2', REA_OUTPUT_DIR: '/x' });
    expect(env).toEqual({ runId: 'r1', overrides: {}, fidelity: 0.3, seed: 2, outputDir: '/x' });
    expect(parseRunEnv({})).toMatchObject({ fidelity: 1, seed: 0, outputDir: './out' });
    expect(() => parseRunEnv({ REA_FIDELITY: '0' })).toThrow(ConfigError);
    expect(() => parseRunEnv({ REA_SEED: 'x' })).toThrow(ConfigError);
  });
});

describe('ctr-model job (train.ts)', () => {
  let outDir: string;

  beforeAll(async () => {
    outDir = await mkdtemp(path.join(tmpdir(), 'rea-ctr-'));
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
      REA_OVERRIDES: '{"learning_rate":0.04}',
      REA_FIDELITY: '0.05',
      REA_SEED: '1',
      REA_OUTPUT_DIR: out,
    });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/step \d+ loss \d+\.\d{4}/);
    const metrics = JSON.parse(await readFile(path.join(out, 'metrics.json'), 'utf8'));
    expect(Object.keys(metrics).sort()).toEqual(['metrics', 'steps']);
    expect(Object.keys(metrics.metrics).sort()).toEqual(['auc', 'ne', 'qps']);
    expect(metrics.metrics.ne).toBeGreaterThan(0.7);
    expect(metrics.metrics.ne).toBeLessThan(1.1);
    expect(metrics.metrics.qps).toBe(1500);
    expect(metrics.steps).toBe(Math.ceil(15_000 / 512));
  });

  it('fails like a real job on CUDA OOM (exit 1) and on a bad knob (exit 2)', async () => {
    const oom = await job({
      REA_OVERRIDES: '{"batch_size":4096}',
      REA_FIDELITY: '0.01',
      REA_OUTPUT_DIR: outDir,
    });
    expect(oom.code).toBe(1);
    expect(oom.stderr).toMatch(/^RuntimeError: CUDA out of memory\. Tried to allocate [\d.]+ GiB \(GPU 0;/m);
    const bad = await job({ REA_OVERRIDES: '{"learnig_rate":0.1}', REA_OUTPUT_DIR: outDir });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('unknown knob "learnig_rate"');
  });
});
