import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';
import type { RunJob, Runner, RunnerReport } from '../../app/ports.ts';
import { readLogTail } from '../shared/log-tail.ts';
import { armTimeout, groupAlive, type KillReason, killGroup, spawnGroup } from './process-supervision.ts';
import { hasPidFile, stopOrphan, writePidFile } from './recovery.ts';
import { attemptEnv, attemptOutcome, type Outcome, openAttemptDir } from './run-contract.ts';
import { codeCopyDir, prepareCodeCopy, removeCodeCopy } from './scratch-copy.ts';

// The names other modules import from here, wherever they now live.
export { LOG_TAIL_BYTES, LOG_TAIL_LINES, logTailOf, readLogTail, tailLines } from '../shared/log-tail.ts';
export { lastErrorLine, readMetrics } from './run-contract.ts';

// Runs attempts as local processes: the runner of `rea demo` and `rea run --local`, and the stand-in for
// self-hosted GPU runners in tests. Each attempt gets the same environment contract as a GitHub Actions job
// (DESIGN section 3) and reports through the same RunnerReport callback, so the plan cannot tell them apart.
//
// This class keeps the attempts' bookkeeping (idempotency, the concurrency cap, one terminal report each)
// and composes the parts: process groups, timeouts and kills in process-supervision.ts; the environment
// and how an exit becomes an outcome in run-contract.ts; the scratch copy a code hypothesis runs in, in
// scratch-copy.ts; stopping what an earlier rea process left running, in recovery.ts.

export interface LocalProcessRunnerOptions {
  /** Model directory: the working directory of every job. */
  dir: string;
  /** run.command from .rea.yml, executed through /bin/sh -c. */
  command: string;
  gpus: number;
  timeoutMinutes: number;
  maxConcurrent: number;
  /** Attempt directories go under `<outputRoot>/<planId>/<runId>/attempt-<n>`. */
  outputRoot: string;
  /** The primary metric; required and finite in metrics.json. */
  metricName: string;
  onReport: (r: RunnerReport) => void;
  /** Millisecond clock used to measure durations (and so GPU-hours). */
  now?: () => number;
  /** How long a process group gets between SIGTERM and SIGKILL. */
  killGraceMs?: number;
  /** `editable` globs from .rea.yml: the only files a code hypothesis's patch may change. */
  editable?: readonly string[];
}

export type LocalRunnerErrorCode = 'invalid_options' | 'invalid_job' | 'shut_down';

export class LocalRunnerError extends Error {
  constructor(
    readonly code: LocalRunnerErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'LocalRunnerError';
  }
}

interface AttemptState {
  job: RunJob;
  key: string;
  externalId: string;
  attemptDir: string;
  status: 'queued' | 'running' | 'done';
  pid?: number;
  startedAt?: number;
  killReason?: KillReason;
  killing?: Promise<void>;
  timer?: NodeJS.Timeout;
  pidWritten?: Promise<void>;
  /** The scratch copy a code attempt runs in (removed when the attempt ends). */
  codeDir?: string;
  /** The terminal report was sent (or deliberately suppressed). */
  reported: boolean;
  finishing: boolean;
  done: Promise<void>;
  markDone: () => void;
}

export class LocalProcessRunner implements Runner {
  private readonly opts: LocalProcessRunnerOptions;
  private readonly now: () => number;
  private readonly graceMs: number;
  /** idempotencyKey -> externalId of the attempt it started. */
  private readonly byKey = new Map<string, string>();
  /** `<planId>/<runId>/<attempt>` -> attempt. */
  private readonly attempts = new Map<string, AttemptState>();
  private readonly queue: AttemptState[] = [];
  private readonly running = new Set<AttemptState>();
  /** Attempts recover() already reported as lost; a late dispatch of them must not report again. */
  private readonly recovered = new Set<string>();
  private idleWaiters: Array<() => void> = [];
  private adopting = 0;
  private closed = false;

  constructor(opts: LocalProcessRunnerOptions) {
    if (!(opts.maxConcurrent >= 1))
      throw new LocalRunnerError('invalid_options', 'maxConcurrent must be at least 1');
    this.opts = { ...opts, outputRoot: path.resolve(opts.outputRoot), dir: path.resolve(opts.dir) };
    this.now = opts.now ?? Date.now;
    this.graceMs = opts.killGraceMs ?? 5000;
  }

  async dispatch(job: RunJob): Promise<{ externalId: string }> {
    if (this.closed) throw new LocalRunnerError('shut_down', 'the local runner is shut down');
    const known = this.byKey.get(job.idempotencyKey);
    if (known) return { externalId: known };
    for (const [name, value] of [
      ['planId', job.planId],
      ['runId', job.runId],
    ] as const) {
      // Ids become directory names; refuse anything that could climb out of outputRoot.
      if (!/^[A-Za-z0-9._-]+$/.test(value) || value === '.' || value === '..') {
        throw new LocalRunnerError(
          'invalid_job',
          `${name} ${JSON.stringify(value)} cannot be used as a directory name`,
        );
      }
    }
    if (!Number.isInteger(job.attempt) || job.attempt < 1) {
      throw new LocalRunnerError('invalid_job', `attempt must be a whole number from 1 (got ${job.attempt})`);
    }
    const key = attemptKey(job.planId, job.runId, job.attempt);
    const externalId = `local:${key}`;
    this.byKey.set(job.idempotencyKey, externalId);
    // The same attempt under another key would write into the same directory; one process per attempt.
    if (this.attempts.has(key) || this.recovered.has(key)) return { externalId };

    let markDone = () => {};
    const done = new Promise<void>((resolve) => {
      markDone = resolve;
    });
    const a: AttemptState = {
      job,
      key,
      externalId,
      attemptDir: this.attemptDir(job),
      status: 'queued',
      reported: false,
      finishing: false,
      done,
      markDone,
    };
    this.attempts.set(key, a);

    // An earlier rea process may have started this attempt before it stopped and the outbox delivered the
    // dispatch again. Its process is not ours to watch, so handle it as recover() would: stop it and report
    // it lost (the runner-lost runbook retries it as a new attempt). Never start a second process for it.
    if (await hasPidFile(a.attemptDir)) {
      a.status = 'done';
      this.adopting++;
      void this.adoptLost(a);
      return { externalId };
    }
    // Cancelled or shut down while we looked at the disk.
    if (a.status !== 'queued') return { externalId };
    if (this.closed) {
      a.status = 'done';
      a.markDone();
      return { externalId };
    }
    this.queue.push(a);
    this.pump();
    return { externalId };
  }

  async cancel(runId: string, attempt: number): Promise<void> {
    const targets = [...this.attempts.values()].filter(
      (a) => a.job.runId === runId && a.job.attempt === attempt && a.status !== 'done',
    );
    await Promise.all(
      targets.map(async (a) => {
        if (a.status === 'queued') {
          this.removeFromQueue(a);
          a.status = 'done';
          this.report(a, {
            type: 'failed',
            ...ids(a.job),
            conclusion: 'cancelled',
            reason: 'cancelled before it started',
            logTail: '',
            gpuHours: 0,
            durationSec: 0,
          });
          a.markDone();
          this.checkIdle();
          return;
        }
        a.killReason ??= 'cancelled';
        await this.killAttempt(a);
        await a.done;
      }),
    );
  }

  active(): Array<{ runId: string; attempt: number }> {
    return [...this.attempts.values()]
      .filter((a) => a.status !== 'done')
      .map((a) => ({ runId: a.job.runId, attempt: a.job.attempt }));
  }

  /**
   * At start-up after a crash: every attempt the previous rea process believed in flight is stopped (its
   * process group killed if the pid file shows it still running) and returned as `failed` with conclusion
   * `runner_lost`. The reports are returned, not sent to onReport, so the caller records them in order.
   * Attempts this runner dispatched itself are left alone.
   */
  async recover(
    inFlight: Array<{ planId: string; runId: string; attempt: number }>,
  ): Promise<RunnerReport[]> {
    const reports: RunnerReport[] = [];
    for (const f of inFlight) {
      const key = attemptKey(f.planId, f.runId, f.attempt);
      // Attempts this runner knows are reported through onReport, whether they still run or not.
      if (this.attempts.has(key) || this.recovered.has(key)) continue;
      this.recovered.add(key);
      reports.push(await stopOrphan(f, this.attemptDir(f), this.orphanOpts()));
    }
    return reports;
  }

  /** Resolves when nothing is running or queued. */
  drain(): Promise<void> {
    if (this.isIdle()) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /**
   * Stops accepting work and kills every process group. Attempts killed here are NOT reported: rea is
   * going away, and at the next start recover() reports them lost so that they are retried.
   */
  async shutdown(): Promise<void> {
    this.closed = true;
    for (const a of this.queue.splice(0)) {
      a.status = 'done';
      a.reported = true;
      a.markDone();
    }
    const running = [...this.running];
    await Promise.all(
      running.map(async (a) => {
        a.killReason ??= 'shutdown';
        await this.killAttempt(a);
        await a.done;
      }),
    );
    this.checkIdle();
  }

  private attemptDir(job: { planId: string; runId: string; attempt: number }): string {
    return path.join(this.opts.outputRoot, job.planId, job.runId, `attempt-${job.attempt}`);
  }

  private pump(): void {
    while (!this.closed && this.running.size < this.opts.maxConcurrent && this.queue.length > 0) {
      const a = this.queue.shift()!;
      // The slot is taken synchronously, before any await, so the cap holds however dispatches interleave.
      a.status = 'running';
      this.running.add(a);
      void this.start(a);
    }
  }

  private async start(a: AttemptState): Promise<void> {
    const { job } = a;
    let log: FileHandle;
    try {
      log = await openAttemptDir(a.attemptDir);
    } catch (err) {
      this.finish(a, {
        type: 'failed',
        conclusion: 'startup_failure',
        reason: `could not prepare the output directory ${a.attemptDir}: ${errorText(err)}`,
      });
      return;
    }
    if (a.killReason) {
      // Cancelled (or shut down) while the directory was being prepared: never start it.
      await log.close();
      this.finish(a, await this.outcome(a, null, null));
      return;
    }
    let cwd = this.opts.dir;
    if (job.code) {
      a.codeDir = codeCopyDir(a.attemptDir);
      const prepared = await prepareCodeCopy(this.opts, a.attemptDir, job.code);
      if (!prepared.ok) {
        await log.write(`${prepared.reason}\n`).catch(() => {});
        await log.close();
        this.finish(a, { type: 'failed', conclusion: 'startup_failure', reason: prepared.reason });
        return;
      }
      cwd = prepared.dir;
      if (a.killReason) {
        await log.close();
        this.finish(a, await this.outcome(a, null, null));
        return;
      }
    }

    try {
      spawnGroup(
        this.opts.command,
        { cwd, env: attemptEnv(job, a.attemptDir), logFd: log.fd },
        {
          onSpawn: (pid) => {
            a.pid = pid;
            a.startedAt = this.now();
            a.pidWritten = writePidFile(a.attemptDir, pid);
            this.report(a, { type: 'started', ...ids(job) });
            a.timer = armTimeout(this.opts.timeoutMinutes, () => {
              a.killReason ??= 'timed_out';
              void this.killAttempt(a);
            });
            // A cancel that arrived before the process existed.
            if (a.killReason) void this.killAttempt(a);
          },
          onStartError: (err) => {
            this.finish(a, {
              type: 'failed',
              conclusion: 'startup_failure',
              reason: `could not start /bin/sh in ${cwd}: ${errorText(err)}`,
            });
          },
          onExit: (code, signal) => {
            const endedAt = this.now();
            if (a.timer) clearTimeout(a.timer);
            void this.afterExit(a, code, signal, endedAt);
          },
        },
      );
    } catch (err) {
      await log.close();
      this.finish(a, {
        type: 'failed',
        conclusion: 'startup_failure',
        reason: `could not start: ${errorText(err)}`,
      });
      return;
    }
    // The child has its own copy of the descriptor.
    await log.close();
  }

  private async afterExit(
    a: AttemptState,
    code: number | null,
    signal: NodeJS.Signals | null,
    endedAt: number,
  ) {
    await a.pidWritten;
    // A finished attempt must not leave processes holding GPUs (GitHub's runner cleans up orphans the same
    // way). When a kill is already under way, wait for it, grace period included.
    if (a.killing) await a.killing;
    else if (a.pid !== undefined && (await groupAlive(a.pid))) await killGroup(a.pid, this.graceMs);
    const outcome = await this.outcome(a, code, signal);
    this.finish(a, outcome, endedAt);
  }

  private outcome(a: AttemptState, code: number | null, signal: NodeJS.Signals | null): Promise<Outcome> {
    return attemptOutcome(a, code, signal, this.opts);
  }

  /** Sends the one report of how the attempt ended, frees its slot and starts what is queued. */
  private finish(a: AttemptState, outcome: Outcome, endedAt?: number): void {
    if (a.finishing) return;
    a.finishing = true;
    void (async () => {
      if (a.codeDir) await removeCodeCopy(a.codeDir);
      const logTail = await readLogTail(path.join(a.attemptDir, 'log.txt'));
      const durationSec =
        a.startedAt !== undefined && endedAt !== undefined ? Math.max(0, (endedAt - a.startedAt) / 1000) : 0;
      const gpuHours = (durationSec * this.opts.gpus) / 3600;
      if (a.killReason !== 'shutdown') {
        this.report(
          a,
          outcome.type === 'finished'
            ? { ...outcome, ...ids(a.job), gpuHours, durationSec, logTail }
            : { ...outcome, ...ids(a.job), logTail, gpuHours, durationSec },
        );
      }
      a.status = 'done';
      this.running.delete(a);
      a.markDone();
      this.pump();
      this.checkIdle();
    })();
  }

  private report(a: AttemptState, r: RunnerReport): void {
    // One terminal report per attempt: exit, error, timeout and cancel can race.
    if (r.type !== 'started') {
      if (a.reported) return;
      a.reported = true;
    }
    try {
      this.opts.onReport(r);
    } catch (err) {
      process.emitWarning(`LocalProcessRunner: onReport threw for ${a.key}: ${errorText(err)}`);
    }
  }

  private killAttempt(a: AttemptState): Promise<void> {
    if (a.killing) return a.killing;
    if (a.pid === undefined) return a.done;
    a.killing = killGroup(a.pid, this.graceMs);
    return a.killing;
  }

  private async adoptLost(a: AttemptState): Promise<void> {
    this.recovered.add(a.key);
    const report = await stopOrphan(a.job, a.attemptDir, this.orphanOpts());
    this.report(a, report);
    this.adopting--;
    a.markDone();
    this.checkIdle();
  }

  private orphanOpts(): { gpus: number; now: () => number; killGraceMs: number } {
    return { gpus: this.opts.gpus, now: this.now, killGraceMs: this.graceMs };
  }

  private removeFromQueue(a: AttemptState): void {
    const i = this.queue.indexOf(a);
    if (i >= 0) this.queue.splice(i, 1);
  }

  private isIdle(): boolean {
    return this.queue.length === 0 && this.running.size === 0 && this.adopting === 0;
  }

  private checkIdle(): void {
    if (!this.isIdle()) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }
}

function attemptKey(planId: string, runId: string, attempt: number): string {
  return `${planId}/${runId}/${attempt}`;
}

function ids(job: RunJob): { planId: string; runId: string; attempt: number } {
  return { planId: job.planId, runId: job.runId, attempt: job.attempt };
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
