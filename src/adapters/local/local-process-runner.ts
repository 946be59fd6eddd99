import { type ChildProcess, spawn } from 'node:child_process';
import { constants } from 'node:fs';
import {
  copyFile,
  lstat,
  mkdir,
  open,
  readdir,
  readFile,
  readlink,
  realpath,
  rm,
  stat,
  symlink,
  writeFile,
} from 'node:fs/promises';
import path from 'node:path';
import { applyCodePatch, CODE_PATCH_REJECTED } from '../../app/code-patch.ts';
import type { RunJob, Runner, RunnerReport } from '../../app/ports.ts';
import { parseMetricsText } from '../../config/metrics.ts';
import { assertNever } from '../../core/knobs.ts';
import type { FailureConclusion } from '../../core/model.ts';

// Runs attempts as local processes: the runner of `rea demo` and `rea run --local`, and the stand-in for
// self-hosted GPU runners in tests. Each attempt gets the same environment contract as a GitHub Actions job
// (DESIGN section 3) and reports through the same RunnerReport callback, so the plan cannot tell them apart.
//
// Every attempt runs in its own process group (spawned detached, so the group id is the pid): cancel and
// timeout signal the whole group, which reaches the data loaders and helpers a training script forks.
// Output goes straight from the child into `<attempt dir>/log.txt` (the file descriptor is the child's
// stdout and stderr), so the log keeps the exact interleaving of the two streams and survives a crash of
// rea; the log tail in reports is read back from that file.
//
// An attempt of a code hypothesis runs in a scratch copy of the model directory (`<attempt dir>/code`) with
// the hypothesis's patch applied in JavaScript; the model directory itself is never written. A patch that
// does not apply, or touches a path outside the copy or outside `editable`, fails the attempt before
// anything runs, with a reason the `code-patch-rejected` runbook recognises.

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

/** Lines and bytes of log kept for reports (what runbooks match against and escalations quote). */
export const LOG_TAIL_LINES = 200;
export const LOG_TAIL_BYTES = 32 * 1024;

const LOST_REASON = 'the rea process that ran this attempt stopped (killed or crashed)';

type KillReason = 'cancelled' | 'timed_out' | 'shutdown';

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

type Outcome =
  | { type: 'finished'; metrics: Record<string, number>; steps?: number }
  | { type: 'failed'; conclusion: FailureConclusion; reason: string };

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
    if (await pathExists(path.join(a.attemptDir, 'pid'))) {
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
      reports.push(await this.stopOrphan(f, this.attemptDir(f)));
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
    let log: Awaited<ReturnType<typeof open>> | undefined;
    try {
      await mkdir(a.attemptDir, { recursive: true });
      // A metrics.json must come from this attempt, never from a leftover.
      await rm(path.join(a.attemptDir, 'metrics.json'), { force: true });
      log = await open(path.join(a.attemptDir, 'log.txt'), 'a');
    } catch (err) {
      await log?.close();
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
      const prepared = await this.prepareCode(a, job.code);
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

    const env = {
      ...process.env,
      REA_RUN_ID: job.runId,
      REA_OVERRIDES: JSON.stringify(job.overrides),
      REA_FIDELITY: String(job.fidelity),
      REA_SEED: String(job.seed),
      REA_OUTPUT_DIR: a.attemptDir,
      REA_PLAN_ID: job.planId,
      REA_ATTEMPT: String(job.attempt),
    };
    let child: ChildProcess;
    try {
      child = spawn('/bin/sh', ['-c', this.opts.command], {
        cwd,
        env,
        detached: true,
        stdio: ['ignore', log.fd, log.fd],
      });
    } catch (err) {
      await log.close();
      this.finish(a, {
        type: 'failed',
        conclusion: 'startup_failure',
        reason: `could not start: ${errorText(err)}`,
      });
      return;
    }
    // Listeners go on before the first await: 'spawn' and 'error' are emitted on the next tick.
    let spawned = false;
    child.once('spawn', () => {
      spawned = true;
      a.pid = child.pid;
      a.startedAt = this.now();
      // Written for recover(): a later rea process finds and stops this group through it.
      a.pidWritten = writeFile(path.join(a.attemptDir, 'pid'), `${child.pid}\n`).catch(() => {});
      this.report(a, { type: 'started', ...ids(job) });
      // setTimeout fires at once for delays past 2^31-1 ms (about 24.8 days); cap rather than overflow.
      const timeoutMs = Math.min(this.opts.timeoutMinutes * 60_000, 2 ** 31 - 1);
      a.timer = setTimeout(() => {
        a.killReason ??= 'timed_out';
        void this.killAttempt(a);
      }, timeoutMs);
      // A cancel that arrived before the process existed.
      if (a.killReason) void this.killAttempt(a);
    });
    // `on`, not `once`: an 'error' after the spawn (a failed kill) must not go unhandled.
    child.on('error', (err) => {
      if (spawned) return;
      this.finish(a, {
        type: 'failed',
        conclusion: 'startup_failure',
        reason: `could not start /bin/sh in ${cwd}: ${errorText(err)}`,
      });
    });
    child.once('exit', (code, signal) => {
      const endedAt = this.now();
      if (a.timer) clearTimeout(a.timer);
      void this.afterExit(a, code, signal, endedAt);
    });
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
    else if (a.pid !== undefined && (await groupAlive(a.pid))) await this.killGroup(a.pid);
    const outcome = await this.outcome(a, code, signal);
    this.finish(a, outcome, endedAt);
  }

  private async outcome(
    a: AttemptState,
    code: number | null,
    signal: NodeJS.Signals | null,
  ): Promise<Outcome> {
    switch (a.killReason) {
      case 'timed_out':
        return {
          type: 'failed',
          conclusion: 'timed_out',
          reason: `exceeded timeout of ${fmtMinutes(this.opts.timeoutMinutes)}`,
        };
      case 'cancelled':
        return { type: 'failed', conclusion: 'cancelled', reason: 'cancelled' };
      case 'shutdown':
        return { type: 'failed', conclusion: 'cancelled', reason: 'rea shut down' };
      case undefined:
        break;
      default:
        return assertNever(a.killReason);
    }
    if (code === 0) return readMetrics(a.attemptDir, this.opts.metricName);
    const tail = await readLogTail(path.join(a.attemptDir, 'log.txt'));
    const errLine = lastErrorLine(tail);
    const suffix = errLine ? `: ${errLine}` : '';
    if (code === null) {
      return {
        type: 'failed',
        conclusion: 'failure',
        reason: `killed by signal ${signal ?? 'unknown'}${suffix}`,
      };
    }
    // 127: the shell found no such command; 126: found but cannot execute. Either way the job never ran.
    if (code === 127 || code === 126) {
      const what = code === 127 ? 'command not found' : 'command cannot be executed';
      return {
        type: 'failed',
        conclusion: 'startup_failure',
        reason: `exited with code ${code} (${what})${suffix}`,
      };
    }
    return { type: 'failed', conclusion: 'failure', reason: `exited with code ${code}${suffix}` };
  }

  /**
   * Makes `<attempt dir>/code`: a copy of the model directory (without .git, rea's own .rea data and the
   * output root; node_modules linked, not copied) with the patch applied. The patch text is only parsed.
   */
  private async prepareCode(
    a: AttemptState,
    code: NonNullable<RunJob['code']>,
  ): Promise<{ ok: true; dir: string } | { ok: false; reason: string }> {
    const refuse = (why: string) => ({
      ok: false as const,
      reason: `${CODE_PATCH_REJECTED} ${code.hypothesisId} (${code.title}) was not applied: ${why}`,
    });
    const src = this.opts.dir;
    const dst = path.join(a.attemptDir, 'code');
    a.codeDir = dst;
    const skip = new Set([path.join(src, '.git'), path.join(src, '.rea'), path.join(src, 'node_modules')]);
    const out = this.opts.outputRoot;
    try {
      await rm(dst, { recursive: true, force: true });
      await writeFile(path.join(a.attemptDir, 'code.patch'), code.patch);
      await copyTree(src, dst, (from) => !skip.has(from) && from !== out);
      if (await pathExists(path.join(src, 'node_modules')))
        await symlink(path.join(src, 'node_modules'), path.join(dst, 'node_modules'));
    } catch (err) {
      return refuse(`could not copy ${src} to ${dst}: ${errorText(err)}`);
    }
    const root = await realpath(dst);
    const editable = this.opts.editable ?? [];
    let result: Awaited<ReturnType<typeof applyCodePatch>>;
    try {
      result = await applyCodePatch(code.patch, editable, async (rel) => {
        const abs = await insideCopy(root, rel);
        try {
          return await readFile(abs, 'utf8');
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
          throw err;
        }
      });
      if (!result.ok) return refuse(result.reason);
      for (const [rel, text] of Object.entries(result.files)) {
        const abs = await insideCopy(root, rel);
        await mkdir(path.dirname(abs), { recursive: true });
        // mkdir may have made directories; check again that nothing on the way is a link out of the copy.
        await insideCopy(root, rel);
        await writeFile(abs, text);
      }
    } catch (err) {
      return refuse(errorText(err));
    }
    return { ok: true, dir: dst };
  }

  /** Sends the one report of how the attempt ended, frees its slot and starts what is queued. */
  private finish(a: AttemptState, outcome: Outcome, endedAt?: number): void {
    if (a.finishing) return;
    a.finishing = true;
    void (async () => {
      // The copy can be as large as the model directory; the patch and the log stay in the attempt dir.
      if (a.codeDir) await rm(a.codeDir, { recursive: true, force: true }).catch(() => {});
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
    a.killing = this.killGroup(a.pid);
    return a.killing;
  }

  /** SIGTERM to the group, then SIGKILL to whatever is left after the grace period. */
  private async killGroup(pgid: number): Promise<void> {
    signalGroup(pgid, 'SIGTERM');
    const deadline = Date.now() + this.graceMs;
    while (Date.now() < deadline) {
      if (!(await groupAlive(pgid))) return;
      await sleep(50);
    }
    signalGroup(pgid, 'SIGKILL');
    // SIGKILL cannot be caught; give the kernel a moment to take the processes down.
    for (let i = 0; i < 40 && (await groupAlive(pgid)); i++) await sleep(25);
  }

  private async adoptLost(a: AttemptState): Promise<void> {
    this.recovered.add(a.key);
    const report = await this.stopOrphan(a.job, a.attemptDir);
    this.report(a, report);
    this.adopting--;
    a.markDone();
    this.checkIdle();
  }

  private async stopOrphan(
    f: { planId: string; runId: string; attempt: number },
    attemptDir: string,
  ): Promise<RunnerReport> {
    const pidFile = path.join(attemptDir, 'pid');
    const pid = await readPid(pidFile);
    const startedAt = await mtimeMs(pidFile);
    let endedAt = await mtimeMs(path.join(attemptDir, 'log.txt'));
    if (pid !== undefined && (await isOurGroup(pid, attemptDir))) {
      endedAt = this.now();
      await this.killGroup(pid);
    }
    // A best guess at the GPU time the lost attempt used: from its start to the last line it logged (or to
    // now when it was still running), so budget accounting does not treat it as free.
    const durationSec =
      startedAt !== undefined && endedAt !== undefined ? Math.max(0, (endedAt - startedAt) / 1000) : 0;
    return {
      type: 'failed',
      planId: f.planId,
      runId: f.runId,
      attempt: f.attempt,
      conclusion: 'runner_lost',
      reason: LOST_REASON,
      logTail: await readLogTail(path.join(attemptDir, 'log.txt')),
      gpuHours: (durationSec * this.opts.gpus) / 3600,
      durationSec,
    };
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

/**
 * The absolute path of `rel` inside `root`, refusing a path that leaves it or passes through a symbolic
 * link (a link in the model directory could otherwise carry a write out of the copy).
 */
/**
 * Copies a directory tree, leaving out what `keep` refuses (the output root may sit inside the model
 * directory, which fs.cp refuses outright). Links are copied as links; files are cloned copy-on-write where
 * the file system can, copied elsewhere.
 */
async function copyTree(src: string, dst: string, keep: (from: string) => boolean): Promise<void> {
  await mkdir(dst, { recursive: true });
  for (const entry of await readdir(src, { withFileTypes: true })) {
    const from = path.join(src, entry.name);
    const to = path.join(dst, entry.name);
    if (!keep(from)) continue;
    if (entry.isSymbolicLink()) await symlink(await readlink(from), to);
    else if (entry.isDirectory()) await copyTree(from, to, keep);
    else if (entry.isFile()) await copyFile(from, to, constants.COPYFILE_FICLONE);
  }
}

async function insideCopy(root: string, rel: string): Promise<string> {
  const abs = path.resolve(root, rel);
  if (!abs.startsWith(`${root}${path.sep}`)) throw new Error(`${rel} is outside the copy of the model`);
  let cur = root;
  for (const part of path.relative(root, abs).split(path.sep)) {
    cur = path.join(cur, part);
    try {
      if ((await lstat(cur)).isSymbolicLink())
        throw new Error(`${rel} goes through a symbolic link (${path.relative(root, cur)})`);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') break;
      throw err;
    }
  }
  return abs;
}

function attemptKey(planId: string, runId: string, attempt: number): string {
  return `${planId}/${runId}/${attempt}`;
}

function ids(job: RunJob): { planId: string; runId: string; attempt: number } {
  return { planId: job.planId, runId: job.runId, attempt: job.attempt };
}

function fmtMinutes(m: number): string {
  return `${Number(m.toPrecision(4))} minute${m === 1 ? '' : 's'}`;
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function pathExists(file: string): Promise<boolean> {
  try {
    await stat(file);
    return true;
  } catch {
    return false;
  }
}

async function mtimeMs(file: string): Promise<number | undefined> {
  try {
    return (await stat(file)).mtimeMs;
  } catch {
    return undefined;
  }
}

async function readPid(file: string): Promise<number | undefined> {
  try {
    const pid = Number.parseInt((await readFile(file, 'utf8')).trim(), 10);
    return Number.isInteger(pid) && pid > 1 ? pid : undefined;
  } catch {
    return undefined;
  }
}

function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // ESRCH: the group is already gone.
  }
}

// --- process groups -------------------------------------------------------------------------------------
// On Linux /proc tells zombies apart from live processes (a zombie still "exists" for kill(pid, 0), and in
// a container whose init does not reap, zombies linger) and lets recover() check that a pid from an old pid
// file still belongs to rea's attempt rather than to an unrelated process that reused the number.

interface ProcInfo {
  pid: number;
  pgid: number;
  zombie: boolean;
}

async function listProcs(): Promise<ProcInfo[] | undefined> {
  let names: string[];
  try {
    names = await readdir('/proc');
  } catch {
    return undefined;
  }
  const out: ProcInfo[] = [];
  await Promise.all(
    names
      .filter((n) => /^\d+$/.test(n))
      .map(async (n) => {
        try {
          const text = await readFile(`/proc/${n}/stat`, 'utf8');
          // The command name is in parentheses and may contain spaces: parse after the last ')'.
          const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
          out.push({
            pid: Number(n),
            pgid: Number(fields[2]),
            zombie: fields[0] === 'Z' || fields[0] === 'X',
          });
        } catch {
          // The process ended while we looked.
        }
      }),
  );
  return out;
}

async function groupMembers(pgid: number): Promise<number[] | undefined> {
  const procs = await listProcs();
  return procs?.filter((p) => p.pgid === pgid && !p.zombie).map((p) => p.pid);
}

async function groupAlive(pgid: number): Promise<boolean> {
  const members = await groupMembers(pgid);
  if (members) return members.length > 0;
  try {
    process.kill(-pgid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Whether process group `pgid` is alive and (where /proc can tell) runs the attempt in `attemptDir`. */
async function isOurGroup(pgid: number, attemptDir: string): Promise<boolean> {
  const members = await groupMembers(pgid);
  if (!members) return groupAlive(pgid);
  const marker = `REA_OUTPUT_DIR=${attemptDir}`;
  for (const pid of members) {
    try {
      const environ = await readFile(`/proc/${pid}/environ`, 'utf8');
      if (environ.split('\0').includes(marker)) return true;
    } catch {
      // Not readable (another user's process) or gone: not ours.
    }
  }
  return false;
}

// --- metrics.json ---------------------------------------------------------------------------------------

/** Reads and checks `<attemptDir>/metrics.json` after a job exited with 0. */
export async function readMetrics(attemptDir: string, metricName: string): Promise<Outcome> {
  let text: string | undefined;
  try {
    text = await readFile(path.join(attemptDir, 'metrics.json'), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
      return {
        type: 'failed',
        conclusion: 'metrics_invalid',
        reason: `metrics.json cannot be read: ${errorText(err)}`,
      };
    }
  }
  const r = parseMetricsText(text, metricName);
  if (!r.ok) return { type: 'failed', conclusion: 'metrics_invalid', reason: r.reason };
  return r.steps === undefined
    ? { type: 'finished', metrics: r.metrics }
    : { type: 'finished', metrics: r.metrics, steps: r.steps };
}

// --- logs -----------------------------------------------------------------------------------------------

/** The last LOG_TAIL_LINES lines (at most LOG_TAIL_BYTES) of a log file; empty when there is none. */
export async function readLogTail(file: string): Promise<string> {
  let fh: Awaited<ReturnType<typeof open>> | undefined;
  try {
    fh = await open(file, 'r');
    const { size } = await fh.stat();
    const start = Math.max(0, size - LOG_TAIL_BYTES);
    const buf = Buffer.alloc(size - start);
    await fh.read(buf, 0, buf.length, start);
    let text = buf.toString('utf8');
    // Starting mid-file cuts a line (and perhaps a character) in two: drop the partial first line.
    if (start > 0) text = text.slice(text.indexOf('\n') + 1);
    return logTailOf(text);
  } catch {
    return '';
  } finally {
    await fh?.close();
  }
}

/** What a report keeps of a whole log: the same cut as readLogTail, for logs already in memory. */
export function logTailOf(text: string): string {
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length <= LOG_TAIL_BYTES) return tailLines(text, LOG_TAIL_LINES);
  const cut = bytes.subarray(bytes.length - LOG_TAIL_BYTES).toString('utf8');
  return tailLines(cut.slice(cut.indexOf('\n') + 1), LOG_TAIL_LINES);
}

/** The last `n` lines of a text (without a trailing empty line). */
export function tailLines(text: string, n: number): string {
  const lines = text.replace(/\n$/, '').split('\n');
  return lines.slice(-n).join('\n');
}

const ERROR_LINE = /error|exception|traceback|fatal|panic|killed|failed|not found|denied|abort/i;

/** The last line of a log that looks like an error, for the one-line failure reason. */
export function lastErrorLine(log: string): string | undefined {
  const lines = log.split('\n');
  for (let i = lines.length - 1; i >= 0; i--) {
    const line = lines[i]!.trim();
    if (line && ERROR_LINE.test(line)) return line.length > 300 ? `${line.slice(0, 297)}...` : line;
  }
  return undefined;
}
