import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { renderWorkflow } from '../../../src/adapters/github/workflow-template.ts';
import type { Store } from '../../../src/app/ports.ts';
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

const TOY = path.resolve(import.meta.dirname, '../../fixtures/toy-model');
const SECRET = 'e2e-webhook-secret';
const owner = 'acme';
const repo = 'toy-ranker';

/** The toy model's known landscape, as a scripted runner (the toy's train.mjs computes the same). */
function toyOutcome(run: RunnerRun): RunnerOutcome {
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

interface Harness {
  emulator: GithubEmulator;
  rea: ReaServer;
  store: Store;
  app: InstanceType<typeof UnthrottledProbotOctokit>;
}

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function harness(
  opts: { returnRunDetails?: boolean; deliverWebhooks?: boolean } = {},
): Promise<Harness> {
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
      '.rea.yml': readFileSync(path.join(TOY, '.rea.yml'), 'utf8')
        .replace('baseline_gpu_hours: 0.0005', 'baseline_gpu_hours: 2')
        .replace('max_gpu_hours: 1', 'max_gpu_hours: 400')
        .replace('timeout_minutes: 1', 'timeout_minutes: 720'),
      'configs/baseline.yaml': readFileSync(path.join(TOY, 'configs/baseline.yaml'), 'utf8'),
      'train.mjs': readFileSync(path.join(TOY, 'train.mjs'), 'utf8'),
      '.github/workflows/rea-experiment.yml': renderWorkflow(config),
    },
    collaborators: { alice: 'write', bob: 'read', mallory: 'write' },
  });
  emulator.setRunner(async (run) => toyOutcome(run));
  const t = await openTestStore();
  cleanups.push(() => t.cleanup());
  const rea = await startServer({
    env: {
      APP_ID: '4242',
      PRIVATE_KEY: emulator.privateKey,
      WEBHOOK_SECRET: SECRET,
      GHE_HOST: emulator.host,
      GHE_PROTOCOL: 'http',
      LOG_LEVEL: 'error',
    },
    port: 0,
    host: '127.0.0.1',
    store: t.store,
    outboxIntervalMs: 40,
    reconcileIntervalMs: opts.deliverWebhooks === false ? 300 : 60_000,
    findDelayMs: 20,
    Octokit: UnthrottledProbotOctokit,
  });
  cleanups.push(() => rea.close());
  emulator.webhookUrl = `${rea.url}/api/github/webhooks`;
  const app = new UnthrottledProbotOctokit({
    auth: { appId: 4242, privateKey: emulator.privateKey, installationId: info.installationId },
    baseUrl: emulator.apiUrl,
  });
  return { emulator, rea, store: t.store, app };
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Golden files hold what does not depend on the clock: ids, times and measured GPU-hours are masked. */
function normalize(text: string, planId: string): string {
  return text
    .replaceAll(planId, '<plan>')
    .replace(/\d{4}-\d\d-\d\dT[\d:.]+Z/g, '<time>')
    .replace(/workflow run \d+/g, 'workflow run <id>')
    .replace(/Spent \*\*[\d.]+\*\* of [\d.]+/g, 'Spent **<h>** of <h>')
    .replace(/\(estimate [\d.]+ p50 \/ [\d.]+ p90\)/g, '(estimate <h> p50 / <h> p90)')
    .replace(/, [\d.]+ GPU-hours$/gm, ', <h> GPU-hours')
    .replace(/\| [\d.]+ \|$/gm, '| <h> |');
}

async function onlyPlan(store: Store): Promise<PlanState | undefined> {
  const [s] = await store.listPlans();
  return s ? store.getPlan(s.id) : undefined;
}

async function requestPlan(h: Harness): Promise<{ plan: PlanState; pr: number }> {
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

describe('GitHub end to end', () => {
  it('plans in a PR, runs on approval, wakes on webhooks, and opens the promotion PR', async () => {
    const h = await harness();
    const { plan, pr } = await requestPlan(h);
    const { data: prData } = await h.app.rest.pulls.get({ owner, repo, pull_number: pr });
    expect(prData.head.ref).toBe(`rea/plan-${plan.id}`);
    expect(prData.body).toContain(
      '| phase | runs (at most) | fidelity | seeds | GPU-h p50 / p90 | USD p50 / p90 |',
    );
    expect(prData.labels.map((l) => l.name)).toContain('rea:plan');
    await expect(normalize(prData.body ?? '', plan.id)).toMatchFileSnapshot('__golden__/plan-pr-body.md');
    const { data: before } = await h.app.rest.issues.getComment({
      owner,
      repo,
      comment_id: plan.origin!.commentId!,
    });
    await expect(normalize(before.body ?? '', plan.id)).toMatchFileSnapshot(
      '__golden__/sticky-awaiting-approval.md',
    );
    const planMd = h.emulator.readFile({
      owner,
      repo,
      path: `experiments/plans/${plan.id}.md`,
      ref: `rea/plan-${plan.id}`,
    });
    expect(planMd).toContain(`# Plan ${plan.id}: reduce NE on new users`);

    // bob cannot approve (read access, not listed); mallory has write access but is not an approver.
    await h.emulator.submitReview({ owner, repo, pull_number: pr, user: 'bob', state: 'approved' });
    await h.emulator.comment({ owner, repo, issue_number: pr, user: 'mallory', body: '/rea approve' });
    const refusals = await waitFor('two refusals', async () => {
      const { data } = await h.app.rest.issues.listComments({ owner, repo, issue_number: pr });
      const r = data.filter((c) => c.body?.startsWith('Nothing changed'));
      return r.length >= 2 ? r : undefined;
    });
    expect(refusals.map((c) => c.body).join('\n')).toMatch(/@bob is not an approver/);
    expect(refusals.map((c) => c.body).join('\n')).toMatch(/@mallory is not an approver/);
    expect((await h.store.getPlan(plan.id))!.status).toBe('awaiting_approval');

    await h.emulator.submitReview({ owner, repo, pull_number: pr, user: 'alice', state: 'approved' });
    const done = await waitFor(
      'the plan to finish',
      async () => {
        await h.rea.tick();
        const p = await h.store.getPlan(plan.id);
        if (p?.status === 'paused' || p?.status === 'cancelled') return p;
        return p?.status === 'completed' && p.origin?.promotionPr !== undefined ? p : undefined;
      },
      120_000,
    );
    expect(done.status).toBe('completed');
    expect(done.approvals[0]).toMatchObject({ kind: 'approve', by: 'alice', via: 'github' });
    expect(done.winner?.overrides).toMatchObject({ crosses: true, optimizer: 'adagrad' });

    const { data: comments } = await h.app.rest.issues.listComments({ owner, repo, issue_number: pr });
    const sticky = comments.filter((c) => c.body?.includes(`<!-- rea:plan:${plan.id} -->`));
    expect(sticky).toHaveLength(1);
    expect(sticky[0]!.body).toContain('```mermaid');
    expect(sticky[0]!.body).toContain('**Winner:**');
    await expect(normalize(sticky[0]!.body ?? '', plan.id)).toMatchFileSnapshot(
      '__golden__/sticky-completed.md',
    );
    const { data: check } = await h.app.rest.checks.get({
      owner,
      repo,
      check_run_id: done.origin!.checkRunId!,
    });
    expect(check).toMatchObject({ name: 'rea/plan', status: 'completed', conclusion: 'success' });
    const { data: promo } = await h.app.rest.pulls.get({
      owner,
      repo,
      pull_number: done.origin!.promotionPr!,
    });
    expect(promo.body).toContain('95% interval');
    await expect(normalize(promo.body ?? '', plan.id)).toMatchFileSnapshot('__golden__/promotion-pr-body.md');
    const baseline = h.emulator.readFile({
      owner,
      repo,
      path: 'configs/baseline.yaml',
      ref: promo.head.ref,
    })!;
    expect(baseline).toContain('crosses: true');
    expect(baseline).toContain('optimizer: adagrad');
    // Every request validated against the OpenAPI description; every webhook against its schema.
    expect(h.emulator.violations).toEqual([]);
  }, 180_000);

  it('completes through the reconciler alone when every webhook is dropped, on a server without run details', async () => {
    const h = await harness({ returnRunDetails: false });
    const { plan, pr } = await requestPlan(h);
    h.emulator.deliverWebhooks = false;
    // The approval still needs one webhook; after it, nothing more is delivered.
    h.emulator.deliverWebhooks = true;
    await h.emulator.submitReview({ owner, repo, pull_number: pr, user: 'alice', state: 'approved' });
    h.emulator.deliverWebhooks = false;
    const done = await waitFor(
      'the plan to finish',
      async () => {
        await h.rea.tick();
        const p = await h.store.getPlan(plan.id);
        return p && p.status !== 'running' && p.status !== 'awaiting_approval' ? p : undefined;
      },
      150_000,
    );
    expect(done.status).toBe('completed');
    expect(done.winner).toBeDefined();
    expect(h.emulator.violations).toEqual([]);
  }, 200_000);

  it('refuses forged webhooks and acts once on a redelivered one', async () => {
    const h = await harness();
    const { data: issue } = await h.app.rest.issues.create({ owner, repo, title: 'NE' });
    const body = JSON.stringify({ action: 'created', zen: 'forged' });
    const forged: Array<Record<string, string>> = [
      {
        'x-github-event': 'issue_comment',
        'x-github-delivery': 'forged-1',
        'content-type': 'application/json',
      },
      {
        'x-github-event': 'issue_comment',
        'x-github-delivery': 'forged-2',
        'content-type': 'application/json',
        'x-hub-signature-256': 'sha256=00',
      },
    ];
    for (const headers of forged) {
      const res = await fetch(`${h.rea.url}/api/github/webhooks`, { method: 'POST', headers, body });
      expect(res.status).toBeGreaterThanOrEqual(400);
      expect(res.status).toBeLessThan(500);
    }
    // Nothing was recorded for the forged deliveries.
    expect(await h.store.recordDelivery('forged-1', 'test', new Date())).toBe(true);
    expect(await h.store.recordDelivery('forged-2', 'test', new Date())).toBe(true);

    const d = await h.emulator.comment({
      owner,
      repo,
      issue_number: issue.number,
      user: 'alice',
      body: '/rea plan reduce NE',
    });
    await waitFor('a plan', async () => ((await h.store.listPlans()).length === 1 ? true : undefined));
    const again = await h.emulator.redeliver(d.id);
    expect(again.status).toBeLessThan(300);
    await h.rea.tick();
    expect(await h.store.listPlans()).toHaveLength(1);
    expect(h.emulator.violations).toEqual([]);
  }, 60_000);
});
