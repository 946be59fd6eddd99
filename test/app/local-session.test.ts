import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { OfflineResearchAgent } from '../../src/adapters/llm/offline-research-agent.ts';
import { LocalProcessRunner } from '../../src/adapters/local/local-process-runner.ts';
import { TerminalChat } from '../../src/adapters/local/terminal-chat.ts';
import { type Choice, runLocalSession } from '../../src/app/local-session.ts';
import type { Store } from '../../src/app/ports.ts';
import { loadModelDir, type ModelDir } from '../../src/config/load.ts';
import { loadRunbooks } from '../../src/config/runbooks.ts';
import { spentGpuHours } from '../../src/core/decide.ts';
import type { Runbook } from '../../src/core/model.ts';
import { openTestStore } from '../helpers/db.ts';

// The local loop end to end in one process: real store, real runner processes (the toy model), terminal.

const TOY = path.resolve(import.meta.dirname, '../fixtures/toy-model');

let model: ModelDir;
let runbooks: Runbook[];
beforeAll(async () => {
  const loaded = await loadModelDir(TOY);
  if (!loaded.ok) throw new Error(JSON.stringify(loaded.problems));
  model = loaded.value;
  runbooks = (await loadRunbooks({ modelDir: TOY })).runbooks;
});

let store: Store;
let cleanup: () => Promise<void>;
let dir: string;
beforeEach(async () => {
  ({ store, cleanup } = await openTestStore());
  dir = await mkdtemp(path.join(os.tmpdir(), 'rea-session-'));
});
afterEach(async () => {
  delete process.env.TOY_MODE;
  await cleanup();
  await rm(dir, { recursive: true, force: true });
});

async function session(opts: { model?: ModelDir; resolve?: Choice; approve?: boolean } = {}) {
  let out = '';
  const m = opts.model ?? model;
  const plan = await runLocalSession({
    store,
    model: m,
    goal: 'reduce NE',
    runbooks,
    sources: [new OfflineResearchAgent()],
    chat: new TerminalChat({ write: (s: string) => (out += s) }),
    makeRunner: (onReport) =>
      new LocalProcessRunner({
        dir: m.dir,
        command: m.config.run.command,
        gpus: m.config.run.gpus,
        timeoutMinutes: m.config.run.timeout_minutes,
        maxConcurrent: m.config.budget.max_concurrent_runs,
        outputRoot: path.join(dir, 'runs'),
        metricName: m.config.metric.name,
        onReport,
      }),
    reportDir: path.join(dir, 'reports'),
    log: pino({ level: 'silent' }),
    actor: { by: 'tester', via: 'cli' },
    approve: async () => opts.approve ?? true,
    // GPU-hours are wall time, so a loaded machine can outspend the estimate; approve more the way
    // `rea run --yes` does (what the rest needs, within max_gpu_hours) so the test is about phases, not load.
    raiseBudget: async (p) => {
      const cap = m.config.budget.max_gpu_hours - p.budget.approvedGpuHours;
      const want = Math.max(
        p.budgetRequest?.neededGpuHours ?? 0,
        p.estimate.gpuHoursP90 - p.budget.approvedGpuHours,
      );
      return want > 0 && want <= cap ? want : undefined;
    },
    resolveEscalation: async () => opts.resolve ?? 'skip',
    timerEveryMs: 1000,
  });
  return { plan, out };
}

describe('a local plan on the toy model', () => {
  it('runs all three phases, confirms a winner and writes the report; the next plan learns from it', async () => {
    const first = await session();
    expect(first.plan.status).toBe('completed');
    expect(first.plan.winner?.overrides).toMatchObject({ crosses: true, optimizer: 'adagrad' });
    expect(first.plan.winner!.lo).toBeGreaterThan(0);
    expect(first.out).toContain('Confirmation:');
    const report = await readFile(path.join(dir, 'reports', `${first.plan.id}.md`), 'utf8');
    expect(report).toContain('**Winner:');
    expect(report).toContain('95% interval');
    expect(spentGpuHours(first.plan)).toBeGreaterThan(0);

    const insights = await store.listInsights('toy-ranker', []);
    expect(insights.some((r) => r.status === 'win')).toBe(true);

    const second = await session();
    expect(second.plan.id).not.toBe(first.plan.id);
    expect(second.plan.hypotheses.some((h) => h.source === 'insights')).toBe(true);
    expect(second.plan.rejected.some((r) => r.reason.startsWith('suppressed by insights'))).toBe(true);
    expect(second.plan.status).toBe('completed');
    expect(second.plan.winner!.relEffect).toBeGreaterThanOrEqual(first.plan.winner!.relEffect - 0.002);
    expect(second.plan.runs.length).toBeLessThan(first.plan.runs.length);
  });

  it('rejecting at the prompt ends the plan without running anything', async () => {
    const { plan } = await session({ approve: false });
    expect(plan.status).toBe('rejected');
    expect(plan.runs.every((r) => r.attempts.length === 0)).toBe(true);
  });
});

describe('bad jobs end as failed attempts with a reason and a runbook decision', () => {
  const cases: Array<[string, RegExp, string]> = [
    ['no-metrics', /metrics\.json was not written/, 'metrics-invalid'],
    ['bad-json', /not valid JSON/, 'metrics-invalid'],
    ['nan-metric', /NaN/, 'loss-divergence'],
    ['no-primary', /missing/, 'metrics-invalid'],
  ];
  it.each(cases)('%s', async (mode, reason, runbook) => {
    process.env.TOY_MODE = mode;
    const { plan } = await session({ resolve: 'skip' });
    const attempts = plan.runs.flatMap((r) => r.attempts);
    const failed = attempts.filter((a) => a.status === 'failed');
    expect(failed.length).toBeGreaterThan(0);
    expect(failed[0]!.reason).toMatch(reason);
    expect(failed[0]!.runbook?.id).toBe(runbook);
    expect(['completed', 'paused']).toContain(plan.status);
  });

  it('a command that does not exist is escalated, not crashed on', async () => {
    const broken: ModelDir = {
      ...model,
      config: { ...model.config, run: { ...model.config.run, command: 'definitely-not-a-command-xyz' } },
    };
    const { plan, out } = await session({ model: broken, resolve: 'cancel' });
    const a = plan.runs.flatMap((r) => r.attempts).find((x) => x.status === 'failed')!;
    expect(a.conclusion).toBe('startup_failure');
    expect(a.runbook?.id).toBe('startup-failure');
    expect(out).toContain('escalate');
    expect(['paused', 'cancelled']).toContain(plan.status);
  });

  it('a job past its timeout is killed and handled by the timeout runbook', async () => {
    process.env.TOY_MODE = 'hang';
    const slow: ModelDir = {
      ...model,
      config: { ...model.config, run: { ...model.config.run, timeout_minutes: 0.01 } },
    };
    const { plan } = await session({ model: slow, resolve: 'skip' });
    const a = plan.runs.flatMap((r) => r.attempts).find((x) => x.conclusion === 'timed_out')!;
    expect(a.reason).toContain('timeout');
    expect(a.runbook?.id).toBe('timeout');
  });
});
