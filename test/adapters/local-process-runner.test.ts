import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  LocalProcessRunner,
  type LocalProcessRunnerOptions,
  lastErrorLine,
  logTailOf,
} from '../../src/adapters/local/local-process-runner.ts';
import type { RunJob, RunnerReport } from '../../src/app/ports.ts';
import type { KnobValues } from '../../src/config/rea-config.ts';
import { loadRunbooks } from '../../src/config/runbooks.ts';
import { failureInfo, matchRunbook } from '../../src/core/runbooks.ts';

const JOBS_DIR = fileURLToPath(new URL('../fixtures/jobs/', import.meta.url));

let outputRoot: string;
const runners: LocalProcessRunner[] = [];
const strays: ChildProcess[] = [];

beforeEach(async () => {
  outputRoot = await mkdtemp(path.join(tmpdir(), 'rea-local-runner-'));
});

afterEach(async () => {
  await Promise.all(runners.splice(0).map((r) => r.shutdown()));
  for (const c of strays.splice(0)) c.kill('SIGKILL');
  await rm(outputRoot, { recursive: true, force: true });
});

function makeRunner(over: Partial<LocalProcessRunnerOptions> = {}) {
  const reports: RunnerReport[] = [];
  const runner = new LocalProcessRunner({
    dir: JOBS_DIR,
    command: 'node job.mjs',
    gpus: 2,
    timeoutMinutes: 5,
    maxConcurrent: 4,
    outputRoot,
    metricName: 'ne',
    onReport: (r) => reports.push(r),
    killGraceMs: 1000,
    ...over,
  });
  runners.push(runner);
  return { runner, reports };
}

function job(runId: string, overrides: KnobValues = {}, attempt = 1): RunJob {
  return {
    planId: 'p1',
    runId,
    attempt,
    overrides,
    fidelity: 0.25,
    seed: 7,
    idempotencyKey: `dispatch:${runId}:${attempt}`,
  };
}

function attemptDir(runId: string, attempt = 1, planId = 'p1'): string {
  return path.join(outputRoot, planId, runId, `attempt-${attempt}`);
}

function terminal(reports: RunnerReport[], runId: string): RunnerReport {
  const found = reports.filter((r) => r.runId === runId && r.type !== 'started');
  expect(found).toHaveLength(1);
  return found[0]!;
}

async function waitFor<T>(what: string, probe: () => T | undefined | false, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = probe();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** process.kill(pid, 0), except that a zombie (dead, not yet reaped by a non-reaping init) counts as dead. */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  if (!existsSync('/proc/self')) return true;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

describe('LocalProcessRunner', () => {
  it('runs a job with the environment contract and reports its metrics', async () => {
    const { runner, reports } = makeRunner();
    const { externalId } = await runner.dispatch(job('r1', { mode: 'ok', batch_size: 1024 }));
    expect(externalId).toBe('local:p1/r1/1');
    await runner.drain();
    expect(reports.map((r) => r.type)).toEqual(['started', 'finished']);
    const done = terminal(reports, 'r1');
    expect(done).toMatchObject({
      type: 'finished',
      planId: 'p1',
      runId: 'r1',
      attempt: 1,
      metrics: { ne: 0.8123, seed: 7, fidelity: 0.25 },
      steps: 1200,
    });
    // auc was null: a report carries finite numbers only.
    expect(done.type === 'finished' && 'auc' in done.metrics).toBe(false);
    expect(done.type === 'finished' && done.logTail).toContain('job r1 mode=ok');
    const env = JSON.parse(await readFile(path.join(attemptDir('r1'), 'env.json'), 'utf8'));
    expect(env).toEqual({
      REA_RUN_ID: 'r1',
      REA_OVERRIDES: JSON.stringify({ mode: 'ok', batch_size: 1024 }),
      REA_FIDELITY: '0.25',
      REA_SEED: '7',
      REA_OUTPUT_DIR: attemptDir('r1'),
      cwd: path.resolve(JOBS_DIR),
    });
    expect(await readFile(path.join(attemptDir('r1'), 'log.txt'), 'utf8')).toContain('job r1 mode=ok');
    expect(Number(await readFile(path.join(attemptDir('r1'), 'pid'), 'utf8'))).toBeGreaterThan(1);
    expect(runner.active()).toEqual([]);
  });

  it('reports metrics problems as metrics_invalid with a readable reason', async () => {
    const { runner, reports } = makeRunner({ maxConcurrent: 5 });
    const cases: Array<[string, RegExp]> = [
      ['no-metrics', /^metrics\.json was not written$/],
      ['bad-json', /^metrics\.json is not valid JSON: .+/],
      ['nan', /^primary metric 'ne' is NaN$/],
      ['nan-null', /^primary metric 'ne' is NaN \(written as null\)$/],
      ['missing', /^primary metric 'ne' is missing \(metrics\.json has auc, qps\)$/],
    ];
    for (const [mode] of cases) await runner.dispatch(job(mode, { mode }));
    await runner.drain();
    const { runbooks } = await loadRunbooks();
    for (const [mode, reason] of cases) {
      const r = terminal(reports, mode);
      expect(r).toMatchObject({ type: 'failed', conclusion: 'metrics_invalid' });
      if (r.type !== 'failed') continue;
      expect(r.reason).toMatch(reason);
      // The runbooks see a NaN metric as a divergence and everything else as a broken metrics file.
      const expected = mode.startsWith('nan') ? 'loss-divergence' : 'metrics-invalid';
      expect(matchRunbook(runbooks, failureInfo({ ...r, logExcerpt: r.logTail }))?.id).toBe(expected);
    }
  });

  it('reports a non-zero exit with the last error line of the interleaved log', async () => {
    const { runner, reports } = makeRunner();
    await runner.dispatch(job('r1', { mode: 'fail' }));
    await runner.drain();
    const r = terminal(reports, 'r1');
    expect(r).toMatchObject({
      type: 'failed',
      conclusion: 'failure',
      reason: 'exited with code 1: RuntimeError: something broke in the data loader',
    });
    expect(r.type === 'failed' && r.logTail.split('\n')).toEqual([
      'job r1 mode=fail',
      'step 1 loss=0.69',
      'Traceback (most recent call last):',
      'RuntimeError: something broke in the data loader',
      'cleaning up',
    ]);
  });

  it('reports a command that does not exist as a startup failure', async () => {
    const { runner, reports } = makeRunner({ command: 'rea-no-such-command --epochs 3' });
    await runner.dispatch(job('r1'));
    await runner.drain();
    const r = terminal(reports, 'r1');
    expect(r).toMatchObject({ type: 'failed', conclusion: 'startup_failure' });
    expect(r.type === 'failed' && r.reason).toMatch(
      /^exited with code 127 \(command not found\): .*not found/,
    );
    const { runbooks } = await loadRunbooks();
    if (r.type === 'failed') {
      expect(matchRunbook(runbooks, failureInfo({ ...r, logExcerpt: r.logTail }))?.id).toBe(
        'startup-failure',
      );
    }
  });

  it('reports a missing working directory as a startup failure', async () => {
    const { runner, reports } = makeRunner({ dir: path.join(outputRoot, 'no-such-model') });
    await runner.dispatch(job('r1'));
    await runner.drain();
    expect(reports.map((r) => r.type)).toEqual(['failed']);
    expect(terminal(reports, 'r1')).toMatchObject({
      conclusion: 'startup_failure',
      reason: expect.stringMatching(/^could not start \/bin\/sh in .*no-such-model: .*ENOENT/),
      gpuHours: 0,
    });
  });

  it('kills a job that runs past its timeout', async () => {
    const { runner, reports } = makeRunner({ timeoutMinutes: 0.01 });
    const t0 = Date.now();
    await runner.dispatch(job('r1', { mode: 'sleep', seconds: 30 }));
    await runner.drain();
    expect(Date.now() - t0).toBeLessThan(5000);
    const r = terminal(reports, 'r1');
    expect(r).toMatchObject({
      type: 'failed',
      conclusion: 'timed_out',
      reason: 'exceeded timeout of 0.01 minutes',
    });
    expect(r.type === 'failed' && r.durationSec).toBeGreaterThan(0.5);
  });

  it('cancels a job and every process it started', async () => {
    const { runner, reports } = makeRunner();
    await runner.dispatch(job('r1', { mode: 'grandchild' }));
    const gcFile = path.join(attemptDir('r1'), 'grandchild.pid');
    const grandchild = await waitFor(
      'the grandchild',
      () => existsSync(gcFile) && Number(readFileSync(gcFile, 'utf8')),
    );
    const leader = Number(await readFile(path.join(attemptDir('r1'), 'pid'), 'utf8'));
    expect(isAlive(grandchild)).toBe(true);
    expect(runner.active()).toEqual([{ runId: 'r1', attempt: 1 }]);
    await runner.cancel('r1', 1);
    expect(isAlive(grandchild)).toBe(false);
    expect(isAlive(leader)).toBe(false);
    expect(terminal(reports, 'r1')).toMatchObject({ type: 'failed', conclusion: 'cancelled' });
    expect(runner.active()).toEqual([]);
    // Cancelling again, or something that never ran, changes nothing.
    await runner.cancel('r1', 1);
    await runner.cancel('nope', 1);
    expect(reports.filter((r) => r.type !== 'started')).toHaveLength(1);
  });

  it('SIGKILLs a job that ignores SIGTERM after the grace period', async () => {
    const { runner, reports } = makeRunner({ killGraceMs: 300 });
    await runner.dispatch(job('r1', { mode: 'ignore-term' }));
    await waitFor('the job', () => existsSync(path.join(attemptDir('r1'), 'ready')));
    const t0 = Date.now();
    await runner.cancel('r1', 1);
    expect(Date.now() - t0).toBeLessThan(3000);
    expect(terminal(reports, 'r1')).toMatchObject({ conclusion: 'cancelled' });
    expect(await readFile(path.join(attemptDir('r1'), 'log.txt'), 'utf8')).toContain('ignoring SIGTERM');
  });

  it('cancels a queued job without starting it', async () => {
    const { runner, reports } = makeRunner({ maxConcurrent: 1 });
    await runner.dispatch(job('a', { mode: 'sleep', seconds: 30 }));
    await runner.dispatch(job('b', { mode: 'ok' }));
    expect(runner.active()).toEqual([
      { runId: 'a', attempt: 1 },
      { runId: 'b', attempt: 1 },
    ]);
    await runner.cancel('b', 1);
    expect(terminal(reports, 'b')).toMatchObject({
      conclusion: 'cancelled',
      reason: 'cancelled before it started',
    });
    await runner.cancel('a', 1);
    await runner.drain();
    expect(reports.filter((r) => r.runId === 'b' && r.type === 'started')).toEqual([]);
    expect(existsSync(attemptDir('b'))).toBe(false);
  });

  it('never runs more than maxConcurrent jobs at once', async () => {
    let running = 0;
    let peak = 0;
    const { runner } = makeRunner({
      maxConcurrent: 2,
      onReport: (r) => {
        running += r.type === 'started' ? 1 : -1;
        peak = Math.max(peak, running);
      },
    });
    const ids = ['c1', 'c2', 'c3', 'c4', 'c5', 'c6'];
    await Promise.all(ids.map((id) => runner.dispatch(job(id, { mode: 'timed', seconds: 0.3 }))));
    expect(runner.active()).toHaveLength(6);
    await runner.drain();
    expect(peak).toBe(2);
    // The jobs' own clocks agree: at no instant were more than two of them running.
    const spans = await Promise.all(
      ids.map(async (id) => JSON.parse(await readFile(path.join(attemptDir(id), 'times.json'), 'utf8'))),
    );
    for (const { start } of spans) {
      const overlapping = spans.filter((s) => s.start <= start && start < s.end);
      expect(overlapping.length).toBeLessThanOrEqual(2);
    }
  });

  it('dispatches each idempotency key, and each attempt, once', async () => {
    const { runner, reports } = makeRunner();
    const j = job('r1', { mode: 'ok' });
    const [a, b] = await Promise.all([runner.dispatch(j), runner.dispatch(j)]);
    const c = await runner.dispatch({ ...j, idempotencyKey: 'another-key' });
    expect(b).toEqual(a);
    expect(c).toEqual(a);
    await runner.drain();
    expect(reports.map((r) => r.type)).toEqual(['started', 'finished']);
    expect(await runner.dispatch(j)).toEqual(a);
    await runner.drain();
    expect(reports).toHaveLength(2);
    // The next attempt is a different job.
    await runner.dispatch(job('r1', { mode: 'ok' }, 2));
    await runner.drain();
    expect(reports.filter((r) => r.type === 'finished').map((r) => r.attempt)).toEqual([1, 2]);
  });

  it('refuses ids that would escape the output directory', async () => {
    const { runner } = makeRunner();
    await expect(runner.dispatch({ ...job('r1'), runId: '../../etc' })).rejects.toMatchObject({
      code: 'invalid_job',
    });
  });

  it('measures duration and GPU-hours with the injected clock', async () => {
    let t = 1_000_000;
    const { runner, reports } = makeRunner({
      gpus: 4,
      now: () => {
        t += 30 * 60_000;
        return t;
      },
    });
    await runner.dispatch(job('r1', { mode: 'ok' }));
    await runner.drain();
    // Read at the start and at the exit: 30 minutes apart on 4 GPUs.
    expect(terminal(reports, 'r1')).toMatchObject({ type: 'finished', durationSec: 1800, gpuHours: 2 });
  });

  describe('after rea itself stopped', () => {
    it('recover() kills a still-running orphan and reports it lost', async () => {
      const before = makeRunner();
      await before.runner.dispatch(job('r1', { mode: 'grandchild' }));
      const gcFile = path.join(attemptDir('r1'), 'grandchild.pid');
      const grandchild = await waitFor(
        'the grandchild',
        () => existsSync(gcFile) && Number(readFileSync(gcFile, 'utf8')),
      );
      const leader = Number(await readFile(path.join(attemptDir('r1'), 'pid'), 'utf8'));

      // A new rea process: a fresh runner that knows nothing but the attempts the database had in flight.
      const after = makeRunner();
      const reports = await after.runner.recover([
        { planId: 'p1', runId: 'r1', attempt: 1 },
        { planId: 'p1', runId: 'never-started', attempt: 1 },
      ]);
      expect(isAlive(leader)).toBe(false);
      expect(isAlive(grandchild)).toBe(false);
      expect(reports).toEqual([
        {
          type: 'failed',
          planId: 'p1',
          runId: 'r1',
          attempt: 1,
          conclusion: 'runner_lost',
          reason: 'the rea process that ran this attempt stopped (killed or crashed)',
          logTail: 'job r1 mode=grandchild',
          gpuHours: expect.any(Number),
          durationSec: expect.any(Number),
        },
        expect.objectContaining({ runId: 'never-started', conclusion: 'runner_lost', gpuHours: 0 }),
      ]);
      const { runbooks } = await loadRunbooks();
      const lost = reports[0]!;
      if (lost.type === 'failed') {
        expect(matchRunbook(runbooks, failureInfo({ ...lost, logExcerpt: lost.logTail }))?.id).toBe(
          'runner-lost',
        );
      }
      // Asking again reports nothing twice, and the lost attempt is never started again.
      expect(await after.runner.recover([{ planId: 'p1', runId: 'r1', attempt: 1 }])).toEqual([]);
      await after.runner.dispatch(job('r1', { mode: 'ok' }));
      await after.runner.drain();
      expect(after.reports).toEqual([]);
    });

    it('recover() leaves alone a process that merely reuses the pid', async () => {
      const unrelated = spawn('sleep', ['30'], { detached: true, stdio: 'ignore' });
      strays.push(unrelated);
      await mkdir(attemptDir('r1'), { recursive: true });
      await writeFile(path.join(attemptDir('r1'), 'pid'), `${unrelated.pid}\n`);
      const { runner } = makeRunner();
      const reports = await runner.recover([{ planId: 'p1', runId: 'r1', attempt: 1 }]);
      expect(reports).toMatchObject([{ conclusion: 'runner_lost' }]);
      if (existsSync('/proc/self')) expect(isAlive(unrelated.pid!)).toBe(true);
    });

    it('a repeated dispatch of an attempt an earlier process started reports it lost instead of starting it', async () => {
      const before = makeRunner();
      await before.runner.dispatch(job('r1', { mode: 'sleep', seconds: 30 }));
      await waitFor('the pid file', () => existsSync(path.join(attemptDir('r1'), 'pid')));
      const leader = Number(await readFile(path.join(attemptDir('r1'), 'pid'), 'utf8'));
      const after = makeRunner();
      await after.runner.dispatch(job('r1', { mode: 'sleep', seconds: 30 }));
      await after.runner.drain();
      expect(after.reports).toMatchObject([{ type: 'failed', runId: 'r1', conclusion: 'runner_lost' }]);
      expect(isAlive(leader)).toBe(false);
    });

    it('shutdown() kills everything without reporting, leaving it to recover()', async () => {
      const { runner, reports } = makeRunner({ maxConcurrent: 1 });
      await runner.dispatch(job('a', { mode: 'sleep', seconds: 30 }));
      await runner.dispatch(job('b', { mode: 'sleep', seconds: 30 }));
      await waitFor('the first job', () => existsSync(path.join(attemptDir('a'), 'pid')));
      const leader = Number(await readFile(path.join(attemptDir('a'), 'pid'), 'utf8'));
      await runner.shutdown();
      await runner.drain();
      expect(isAlive(leader)).toBe(false);
      expect(reports.map((r) => `${r.runId}:${r.type}`)).toEqual(['a:started']);
      await expect(runner.dispatch(job('c'))).rejects.toMatchObject({ code: 'shut_down' });
    });
  });
});

describe('log helpers', () => {
  it('keeps the last 200 lines and at most 32 KB', () => {
    const lines = Array.from({ length: 500 }, (_, i) => `line ${i}`);
    const tail = logTailOf(`${lines.join('\n')}\n`).split('\n');
    expect(tail).toHaveLength(200);
    expect(tail[0]).toBe('line 300');
    const long = Array.from({ length: 100 }, (_, i) => `${i} ${'x'.repeat(1000)}`).join('\n');
    const cut = logTailOf(long);
    expect(Buffer.byteLength(cut)).toBeLessThanOrEqual(32 * 1024);
    expect(cut.split('\n')[0]).toMatch(/^\d+ x+$/);
  });

  it('finds the last error-looking line', () => {
    expect(lastErrorLine('a\nValueError: bad\nshutting down\n')).toBe('ValueError: bad');
    expect(lastErrorLine('all good\n')).toBeUndefined();
  });
});
