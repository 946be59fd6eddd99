import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadModelDir, parseReaYaml } from '../../src/config/load.ts';

// .rea.yml validation: every problem with its path and a plain sentence, never a stack trace.

const VALID = `
model: ctr-ranker
metric: { name: ne, goal: minimize }
baseline: { config_file: configs/baseline.yaml }
knobs:
  learning_rate: { type: float, min: 0.0001, max: 0.1, log: true }
  optimizer: { type: choice, values: [adam, sgd] }
run: { command: python train.py, baseline_gpu_hours: 16 }
budget: { max_gpu_hours: 400 }
`;

function problems(text: string): string[] {
  const r = parseReaYaml(text);
  return r.ok ? [] : r.problems.map((p) => `${p.path}: ${p.message}`);
}

describe('.rea.yml schema', () => {
  it('accepts the minimal file and fills the defaults', () => {
    const r = parseReaYaml(VALID);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.value.metric.min_effect).toBe(0.001);
    expect(r.value.fidelity).toEqual({ validation: 0.1, combination: 0.3, exploitation: 1 });
    expect(r.value.seeds).toEqual({ validation: 1, combination: 2, exploitation: 3 });
    expect(r.value.budget.max_concurrent_runs).toBe(4);
    expect(r.value.run.gpus).toBe(1);
    expect(r.value.knobs.learning_rate).toEqual({ type: 'float', min: 0.0001, max: 0.1, log: true });
  });

  it('accepts the full example of DESIGN section 3', () => {
    const text = `
model: ctr-ranker
tags: [ctr, ads]
metric: { name: ne, goal: minimize, min_effect: 0.001 }
guardrails: [{ metric: qps, min: 900 }]
baseline: { config_file: configs/baseline.yaml }
knobs:
  learning_rate: { type: float, min: 0.0001, max: 0.1, log: true }
  embedding_dim: { type: int, min: 8, max: 128, step: 8 }
  optimizer:     { type: choice, values: [adam, adagrad, sgd] }
  batch_size:    { type: choice, values: [256, 512, 1024, 4096] }
  feature_crosses: { type: bool }
editable: ["model/**/*.py"]
run:
  command: python train.py
  workflow: rea-experiment.yml
  runner_labels: [self-hosted, gpu]
  gpus: 8
  usd_per_gpu_hour: 2.5
  timeout_minutes: 720
  baseline_gpu_hours: 16
fidelity: { validation: 0.1, combination: 0.3, exploitation: 1.0 }
seeds: { validation: 1, combination: 2, exploitation: 3 }
budget: { max_gpu_hours: 400, max_concurrent_runs: 4 }
approvers: { github: ["@acme/ranking-leads", "alice"], slack: ["U024BE7LH"] }
slack: { channel: "#ranking-experiments" }
`;
    expect(problems(text)).toEqual([]);
  });

  it.each([
    [
      'max below min',
      VALID.replace('max: 0.1', 'max: 0.00001'),
      'knobs.learning_rate.max: must be greater than min (0.00001 <= 0.0001)',
    ],
    [
      'log scale from zero',
      VALID.replace('min: 0.0001', 'min: 0'),
      'knobs.learning_rate.min: must be greater than 0 on a log scale (got 0)',
    ],
    [
      'unknown knob type',
      VALID.replace('type: choice', 'type: enum'),
      'knobs.optimizer.type: must be one of "float", "int", "choice", "bool"',
    ],
    [
      'bad goal',
      VALID.replace('goal: minimize', 'goal: lower'),
      'metric.goal: must be one of "minimize", "maximize"',
    ],
    ['missing run command', VALID.replace('command: python train.py, ', ''), 'run.command: is required'],
    [
      'wrong type',
      VALID.replace('max_gpu_hours: 400', 'max_gpu_hours: lots'),
      'budget.max_gpu_hours: must be a number (got string "lots")',
    ],
    ['unknown key', `${VALID}colour: blue\n`, "(root): unknown key 'colour'"],
    [
      'fidelity out of range',
      `${VALID}fidelity: { validation: 0, combination: 0.3, exploitation: 1 }\n`,
      'fidelity.validation: must be in (0, 1]',
    ],
    [
      'one choice',
      VALID.replace('values: [adam, sgd]', 'values: [adam]'),
      'knobs.optimizer.values: must list at least 2 values',
    ],
    ['not YAML', 'model: [unclosed', '.rea.yml: is not valid YAML'],
    [
      'an overhead as long as a full run',
      VALID.replace('baseline_gpu_hours: 16 }', 'baseline_gpu_hours: 16, gpus: 8, overhead_minutes: 120 }'),
      "run.overhead_minutes: must be less than a full run's time (baseline_gpu_hours / gpus = 120 minutes)",
    ],
    [
      'a negative overhead',
      VALID.replace('baseline_gpu_hours: 16 }', 'baseline_gpu_hours: 16, overhead_minutes: -1 }'),
      'run.overhead_minutes: must not be negative',
    ],
  ])('%s', (_name, text, expected) => {
    const found = problems(text);
    expect(
      found.some((p) => p.startsWith(expected)),
      found.join('\n'),
    ).toBe(true);
  });

  it('reports every problem at once', () => {
    const text = VALID.replace('max: 0.1', 'max: 0.00001').replace('goal: minimize', 'goal: down');
    expect(problems(text)).toHaveLength(2);
  });
});

describe('loading a model directory', () => {
  it('checks the baseline config against the knobs', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'rea-cfg-'));
    try {
      await writeFile(path.join(dir, '.rea.yml'), VALID);
      await mkdir(path.join(dir, 'configs'));
      await writeFile(path.join(dir, 'configs/baseline.yaml'), 'learning_rate: 0.5\n');
      const r = await loadModelDir(dir);
      expect(r.ok).toBe(false);
      if (r.ok) return;
      const text = r.problems.map((p) => `${p.path}: ${p.message}`);
      expect(text).toContain("baseline.config_file: configs/baseline.yaml has no value for knob 'optimizer'");
      expect(text).toContain(
        "baseline.config_file: configs/baseline.yaml: 'learning_rate' must be in [0.0001, 0.1] (got 0.5)",
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('says where .rea.yml is missing', async () => {
    const r = await loadModelDir('/nonexistent-dir-for-rea');
    expect(r.ok ? [] : r.problems[0]!.message).toContain('not found in /nonexistent-dir-for-rea');
  });
});

describe('rea validate', () => {
  const bin = path.resolve(import.meta.dirname, '../../bin/rea.mjs');
  it('prints a summary and exits 0 for a valid directory', () => {
    const r = spawnSync(
      process.execPath,
      [bin, 'validate', '--dir', path.resolve(import.meta.dirname, '../fixtures/toy-model')],
      { encoding: 'utf8' },
    );
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('model toy-ranker');
    expect(r.stdout).toContain('budget 1 GPU-h');
  });

  it('prints every problem without a stack trace and exits 1', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'rea-cfg-'));
    try {
      await writeFile(path.join(dir, '.rea.yml'), VALID.replace('max: 0.1', 'max: 0.00001'));
      const r = spawnSync(process.execPath, [bin, 'validate', '--dir', dir], { encoding: 'utf8' });
      expect(r.status).toBe(1);
      expect(r.stderr).toContain('knobs.learning_rate.max: must be greater than min');
      expect(r.stderr).not.toMatch(/\n\s+at /);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
