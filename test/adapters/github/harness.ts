import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'vitest';
import { renderWorkflow } from '../../../src/adapters/github/workflow-template.ts';
import type { HypothesisSource, Store } from '../../../src/app/ports.ts';
import { loadModelDir } from '../../../src/config/load.ts';
import type { PlanState } from '../../../src/core/model.ts';
import { type ReaServer, startServer } from '../../../src/main.ts';
import type { RunnerOutcome, RunnerRun } from '../../emulators/github/actions-engine.ts';
import { UnthrottledProbotOctokit } from '../../emulators/github/probot-octokit.ts';
import { type GithubEmulator, startGithubEmulator } from '../../emulators/github/server.ts';
import { openTestStore } from '../../helpers/db.ts';

// The GitHub surface end to end, over HTTP only: a `/rea plan` comment, the plan PR, approval by review,
// dispatches, runs on emulated self-hosted runners, wakes from workflow_run webhooks (or from the
// reconciler alone), the sticky comment and check run, and the promotion PR.

// Shared set-up of the GitHub end-to-end tests: the emulator, rea serve, and the toy model's repository.

export const TOY = path.resolve(import.meta.dirname, '../../fixtures/toy-model');
export const SECRET = 'e2e-webhook-secret';
export const owner = 'acme';
export const repo = 'toy-ranker';

/** The toy model's known landscape, as a scripted runner (the toy's train.mjs computes the same). */
export function toyOutcome(run: RunnerRun): RunnerOutcome {
  const o = JSON.parse(run.inputs.overrides ?? '{}') as Record<string, unknown>;
  const cfg = { learning_rate: 0.03, width: 8, optimizer: 'sgd', batch_size: 128, crosses: false, ...o } as {
    learning_rate: number;
    width: number;
    optimizer: string;
    batch_size: number;
    crosses: boolean;
  };
  const fidelity = Number(run.inputs.fidelity);
  const seed = Number(run.inputs.seed);
  if (cfg.batch_size * cfg.width >= 16384) {
    return {
      conclusion: 'failure',
      durationSec: 120,
      log: 'RuntimeError: CUDA out of memory. Tried to allocate 2.50 GiB',
    };
  }
  if (cfg.learning_rate >= 0.5)
    return { conclusion: 'failure', durationSec: 300, log: 'FloatingPointError: loss is nan at step 120' };
  let gain = 0;
  if (cfg.crosses) gain += 0.03 + (cfg.width > 8 ? 0.01 : 0);
  if (cfg.optimizer === 'adagrad') gain += 0.01;
  if (cfg.learning_rate > 0.05 && cfg.learning_rate < 0.2) gain += 0.005;
  const x = Math.sin(seed * 12.9898 + fidelity * 78.233) * 43758.5453;
  const noise = (x - Math.floor(x) - 0.5) * 0.002;
  const ne = 0.8 * (1 - gain) * (1 + noise) * (1 + (1 - fidelity) * 0.05);
  return {
    conclusion: 'success',
    durationSec: Math.round(60 + 3540 * fidelity),
    log: `step 100 loss 0.4\n`,
    artifacts: {
      'rea-metrics': {
        'metrics.json': JSON.stringify({
          metrics: { ne, auc: 0.7 + gain, qps: 2000 - cfg.width * 10 },
          steps: 1000,
        }),
      },
    },
  };
}

export interface Harness {
  emulator: GithubEmulator;
  rea: ReaServer;
  store: Store;
  app: InstanceType<typeof UnthrottledProbotOctokit>;
  /** rea serve's REA_DATA_DIR (full reports are written under reports/). */
  dataDir: string;
}

export const cleanups: Array<() => Promise<void>> = [];
export async function cleanUp(): Promise<void> {
  while (cleanups.length) await cleanups.pop()!();
}

export interface HarnessOptions {
  returnRunDetails?: boolean;
  deliverWebhooks?: boolean;
  /** Edits the repository's .rea.yml after the standard changes. */
  reaYml?: (text: string) => string;
  collaborators?: Record<string, 'admin' | 'write' | 'read'>;
  /** Leave .rea.yml out of the repository (for /rea init). */
  withoutReaYml?: boolean;
  /** More environment for rea serve (Slack settings). */
  env?: NodeJS.ProcessEnv;
  /** Hypothesis sources for rea serve (default: the offline research agent). */
  sources?: HypothesisSource[];
}

export async function harness(opts: HarnessOptions = {}): Promise<Harness> {
  const emulator = await startGithubEmulator({ appId: 4242, webhookSecret: SECRET, ...opts });
  cleanups.push(() => emulator.close());
  const loaded = await loadModelDir(TOY);
  if (!loaded.ok) throw new Error('toy model invalid');
  const config = loaded.value.config;
  const info = emulator.addRepo({
    owner,
    repo,
    files: {
      // GPU-hours as a real GPU model would have them: an hour at full fidelity on 2 GPUs, and the
      // emulator's clock reports the durations the scripted runner gives.
      ...(opts.withoutReaYml
        ? {}
        : {
            '.rea.yml': (opts.reaYml ?? ((t: string) => t))(
              readFileSync(path.join(TOY, '.rea.yml'), 'utf8')
                .replace('baseline_gpu_hours: 0.0005', 'baseline_gpu_hours: 2')
                .replace('max_gpu_hours: 1', 'max_gpu_hours: 400')
                .replace('timeout_minutes: 1', 'timeout_minutes: 720')
                .replace('approvers: { github: ["alice"]', 'approvers: { github: ["alice", "carol"]'),
            ),
          }),
      'configs/baseline.yaml': readFileSync(path.join(TOY, 'configs/baseline.yaml'), 'utf8'),
      'train.mjs': readFileSync(path.join(TOY, 'train.mjs'), 'utf8'),
      '.github/workflows/rea-experiment.yml': renderWorkflow(config),
    },
    collaborators: opts.collaborators ?? { alice: 'write', bob: 'read', mallory: 'write', carol: 'read' },
  });
  emulator.setRunner(async (run) => toyOutcome(run));
  const t = await openTestStore();
  cleanups.push(() => t.cleanup());
  // rea serve keeps full reports under REA_DATA_DIR; a test's go to a temp dir, not the repository.
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'rea-serve-'));
  cleanups.push(async () => rmSync(dataDir, { recursive: true, force: true }));
  const rea = await startServer({
    env: {
      REA_DATA_DIR: dataDir,
      APP_ID: '4242',
      PRIVATE_KEY: emulator.privateKey,
      WEBHOOK_SECRET: SECRET,
      GHE_HOST: emulator.host,
      GHE_PROTOCOL: 'http',
      LOG_LEVEL: 'error',
      ...opts.env,
    },
    port: 0,
    host: '127.0.0.1',
    store: t.store,
    outboxIntervalMs: 40,
    reconcileIntervalMs: opts.deliverWebhooks === false ? 300 : 60_000,
    findDelayMs: 20,
    Octokit: UnthrottledProbotOctokit,
    ...(opts.sources ? { sources: opts.sources } : {}),
  });
  cleanups.push(() => rea.close());
  emulator.webhookUrl = `${rea.url}/api/github/webhooks`;
  const app = new UnthrottledProbotOctokit({
    auth: { appId: 4242, privateKey: emulator.privateKey, installationId: info.installationId },
    baseUrl: emulator.apiUrl,
  });
  return { emulator, rea, store: t.store, app, dataDir };
}

export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  timeoutMs = 60_000,
): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Ticks rea until the plan completed and opened its promotion PR, or stopped where it needs a person
 * (paused, cancelled): the caller's assertions then say which.
 */
export function untilPromoted(h: Harness, planId: string, timeoutMs: number): Promise<PlanState> {
  return waitFor(
    'the plan to finish',
    async () => {
      await h.rea.tick();
      const p = await h.store.getPlan(planId);
      if (p?.status === 'paused' || p?.status === 'cancelled') return p;
      return p?.status === 'completed' && p.origin?.promotionPr !== undefined ? p : undefined;
    },
    timeoutMs,
  );
}

/** Golden files hold what does not depend on the clock: ids, times and measured GPU-hours are masked. */
export function normalize(text: string, planId: string): string {
  return text
    .replaceAll(planId, '<plan>')
    .replace(/\d{4}-\d\d-\d\dT[\d:.]+Z/g, '<time>')
    .replace(/workflow run \d+/g, 'workflow run <id>')
    .replace(/Spent \*\*[\d.]+\*\* of [\d.]+/g, 'Spent **<h>** of <h>')
    .replace(/\(estimate [\d.]+ p50 \/ [\d.]+ p90\)/g, '(estimate <h> p50 / <h> p90)')
    .replace(/, [\d.]+ GPU-hours$/gm, ', <h> GPU-hours')
    .replace(/\| [\d.]+ \|$/gm, '| <h> |');
}

export async function onlyPlan(store: Store): Promise<PlanState | undefined> {
  const [s] = await store.listPlans();
  return s ? store.getPlan(s.id) : undefined;
}

export async function requestPlan(h: Harness): Promise<{ plan: PlanState; pr: number }> {
  const { data: issue } = await h.app.rest.issues.create({
    owner,
    repo,
    title: 'NE is too high for new users',
  });
  const d = await h.emulator.comment({
    owner,
    repo,
    issue_number: issue.number,
    user: 'alice',
    body: 'Can we do better?\n/rea plan reduce NE on new users',
  });
  expect(d.status).toBeLessThan(300);
  const plan = await waitFor('the plan PR', async () => {
    const p = await onlyPlan(h.store);

    return p?.origin?.pr !== undefined && p.origin.checkRunId !== undefined ? p : undefined;
  });
  return { plan, pr: plan.origin!.pr! };
}
