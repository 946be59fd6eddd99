import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { ONBOARDING_REA_YML } from '../../../src/adapters/github/app.ts';
import { GithubActionsRunner } from '../../../src/adapters/github/github-actions-runner.ts';
import type { Octokit } from '../../../src/adapters/github/github-code-host.ts';
import { runTitle } from '../../../src/adapters/github/run-ids.ts';
import { renderWorkflow } from '../../../src/adapters/github/workflow-template.ts';
import { parseReaYaml } from '../../../src/config/load.ts';
import {
  type GithubEmulator,
  type RunnerOutcome,
  startGithubEmulator,
  UnthrottledProbotOctokit,
} from '../../emulators/github/index.ts';

// What a GitHub workflow run can hand back that is not a clean result, and dispatches delivered twice.

const owner = 'acme';
const repo = 'ranker';
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function setup(
  opts: { returnRunDetails?: boolean } = {},
): Promise<{ emulator: GithubEmulator; runner: GithubActionsRunner }> {
  const emulator = await startGithubEmulator({
    appId: 7,
    webhookSecret: 's',
    deliverWebhooks: false,
    ...opts,
  });
  cleanups.push(() => emulator.close());
  const cfg = parseReaYaml(ONBOARDING_REA_YML);
  if (!cfg.ok) throw new Error('template');
  const info = emulator.addRepo({
    owner,
    repo,
    files: { '.github/workflows/rea-experiment.yml': renderWorkflow(cfg.value), 'README.md': 'x' },
  });
  const octokit = new UnthrottledProbotOctokit({
    auth: { appId: 7, privateKey: emulator.privateKey, installationId: info.installationId },
    baseUrl: emulator.apiUrl,
  });
  const runner = new GithubActionsRunner(
    octokit as unknown as Octokit,
    { owner, repo, workflow: 'rea-experiment.yml', ref: 'main' },
    { findDelayMs: 10 },
  );
  return { emulator, runner };
}

const job = (attempt = 1) => ({
  planId: 'p-abcdef',
  runId: 'r1',
  attempt,
  overrides: { learning_rate: 0.01 },
  fidelity: 0.1,
  seed: 3,
  idempotencyKey: `dispatch:p:r1:${attempt}`,
});

async function runWith(outcome: RunnerOutcome) {
  const { emulator, runner } = await setup();
  emulator.setRunner(async () => outcome);
  const { externalId } = await runner.dispatch(job());
  await emulator.settle();
  const run = (await runner.getRun(externalId!))!;
  expect(run.status).toBe('completed');
  return runner.collect({ run, attempt: 1, metricName: 'ne', gpus: 8 });
}

describe('reading a finished workflow run back', () => {
  it('turns a good artifact into a finished run with metrics and GPU-hours', async () => {
    const e = await runWith({
      conclusion: 'success',
      durationSec: 1800,
      artifacts: { 'rea-metrics': { 'metrics.json': '{"metrics":{"ne":0.81,"qps":1000},"steps":10}' } },
    });
    expect(e).toMatchObject({
      type: 'run_finished',
      runId: 'r1',
      metrics: { ne: 0.81, qps: 1000 },
      steps: 10,
    });
    expect(e.type === 'run_finished' && e.gpuHours).toBeCloseTo(4, 1);
  });

  it.each([
    ['no metrics.json', { 'rea-metrics': { 'other.txt': 'hello' } }, /metrics\.json was not written/],
    ['broken JSON', { 'rea-metrics': { 'metrics.json': '{"metrics": {"ne": 0.8,' } }, /not valid JSON/],
    ['NaN primary metric', { 'rea-metrics': { 'metrics.json': '{"metrics": {"ne": NaN}}' } }, /NaN/],
    ['no artifact at all', {}, /no rea-metrics artifact/],
    [
      'an artifact over 10 MB',
      {
        'rea-metrics': {
          'metrics.json': '{"metrics":{"ne":0.8}}',
          'checkpoint.bin': randomBytes(11 * 1024 * 1024),
        },
      },
      /over the 10 MB limit/,
    ],
  ] as const)('%s ends as a failed attempt with a reason', async (_name, artifacts, reason) => {
    const e = await runWith({
      conclusion: 'success',
      durationSec: 60,
      artifacts: artifacts as RunnerOutcome['artifacts'],
    });
    expect(e.type).toBe('run_failed');
    expect(e.type === 'run_failed' && e.conclusion).toBe('metrics_invalid');
    expect(e.type === 'run_failed' && e.reason).toMatch(reason);
  });

  it('a failed run brings the tail of its job log, even a log over 10 MB', async () => {
    const filler = 'x'.repeat(200);
    const lines = Array.from({ length: 60_000 }, (_, i) => `line ${i} ${filler}`);
    const e = await runWith({
      conclusion: 'failure',
      durationSec: 60,
      log: `${lines.join('\n')}\nRuntimeError: CUDA out of memory. Tried to allocate 2 GiB`,
    });
    expect(e.type).toBe('run_failed');
    if (e.type !== 'run_failed') return;
    expect(e.conclusion).toBe('failure');
    expect(e.logExcerpt).toContain('CUDA out of memory');
    expect(e.logExcerpt.length).toBeLessThan(64 * 1024);
  }, 60_000);
});

describe('dispatch', () => {
  it('delivered twice starts one workflow run, found again by its title', async () => {
    const { emulator, runner } = await setup();
    emulator.setRunner(async () => ({ conclusion: 'success', stuck: true }));
    const a = await runner.dispatch(job());
    const b = await runner.dispatch(job());
    expect(a.externalId).toBeDefined();
    expect(b.externalId).toBe(a.externalId);
    const runs = emulator.requests.filter((r) => r.method === 'POST' && r.path.endsWith('/dispatches'));
    expect(runs).toHaveLength(1);
    expect((await runner.findByTitle(runTitle(job())))?.id).toBe(Number(a.externalId));
    expect(emulator.violations).toEqual([]);
  });

  it('falls back to the title on a server that rejects return_run_details', async () => {
    const { emulator, runner } = await setup({ returnRunDetails: false });
    emulator.setRunner(async () => ({ conclusion: 'success', stuck: true }));
    const { externalId } = await runner.dispatch(job(2));
    expect(externalId).toBeDefined();
    const run = await runner.getRun(externalId!);
    expect(run?.display_title).toBe('rea p-abcdef:r1:2');
    // The 400 is expected of an old server; the retry without the parameter is valid.
    expect(emulator.requests.filter((r) => r.path.endsWith('/dispatches')).map((r) => r.status)).toEqual([
      400, 204,
    ]);
  });
});
