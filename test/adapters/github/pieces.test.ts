import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { ONBOARDING_REA_YML } from '../../../src/adapters/github/app.ts';
import { parseRunTitle, planIdFromBranch, runInput, runTitle } from '../../../src/adapters/github/run-ids.ts';
import { renderWorkflow } from '../../../src/adapters/github/workflow-template.ts';
import { parseReaYaml } from '../../../src/config/load.ts';

describe('run identity on GitHub', () => {
  it('round-trips plan, run and attempt through the run title', () => {
    const ref = { planId: 'ctr-ranker-a1b2c3', runId: 'r17', attempt: 2 };
    expect(runInput(ref)).toBe('ctr-ranker-a1b2c3:r17:2');
    expect(parseRunTitle(runTitle(ref))).toEqual(ref);
    expect(parseRunTitle('CI on main')).toBeUndefined();
    expect(parseRunTitle(null)).toBeUndefined();
    expect(planIdFromBranch('rea/plan-ctr-ranker-a1b2c3')).toBe('ctr-ranker-a1b2c3');
    expect(planIdFromBranch('refs/heads/rea/plan-x-1')).toBe('x-1');
    expect(planIdFromBranch('feature/rea')).toBeUndefined();
  });
});

describe('the experiment workflow template', () => {
  it('carries the run contract, the runner labels, the timeout and the artifact', () => {
    const cfg = parseReaYaml(ONBOARDING_REA_YML);
    expect(cfg.ok).toBe(true);
    if (!cfg.ok) return;
    const wf = parse(
      renderWorkflow({
        ...cfg.value,
        run: { ...cfg.value.run, runner_labels: ['self-hosted', 'gpu', 'a100'], timeout_minutes: 90 },
      }),
    );
    expect(wf['run-name']).toBe('rea ${{ inputs.run_id }}');
    expect(Object.keys(wf.on.workflow_dispatch.inputs)).toEqual(['run_id', 'overrides', 'fidelity', 'seed']);
    const job = wf.jobs.train;
    expect(job['runs-on']).toEqual(['self-hosted', 'gpu', 'a100']);
    expect(job['timeout-minutes']).toBe(90);
    expect(job.env).toMatchObject({
      REA_RUN_ID: '${{ inputs.run_id }}',
      REA_OVERRIDES: '${{ inputs.overrides }}',
      REA_FIDELITY: '${{ inputs.fidelity }}',
      REA_SEED: '${{ inputs.seed }}',
    });
    expect(job.steps.some((s: { run?: string }) => s.run === 'python train.py')).toBe(true);
    const upload = job.steps.find((s: { uses?: string }) => s.uses?.startsWith('actions/upload-artifact'));
    expect(upload.with.name).toBe('rea-metrics');
    expect(upload.if).toBe('always()');
  });
});

describe('the shipped workflow template', () => {
  it('is the rendering of the example model (regenerate it when the template changes)', async () => {
    const { readFile } = await import('node:fs/promises');
    const { loadModelDir } = await import('../../../src/config/load.ts');
    const m = await loadModelDir(new URL('../../../examples/ctr-model', import.meta.url).pathname);
    if (!m.ok) throw new Error('example .rea.yml is invalid');
    const shipped = await readFile(new URL('../../../templates/rea-experiment.yml', import.meta.url), 'utf8');
    expect(shipped).toBe(renderWorkflow(m.value.config));
  });
});
