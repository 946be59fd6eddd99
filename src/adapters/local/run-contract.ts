import { type FileHandle, mkdir, open, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import type { RunJob } from '../../app/ports.ts';
import { parseMetricsText } from '../../config/metrics.ts';
import { assertNever } from '../../core/knobs.ts';
import type { FailureConclusion } from '../../core/model.ts';
import { readLogTail } from '../shared/log-tail.ts';
import type { KillReason } from './process-supervision.ts';

// The run contract seen from a local process (DESIGN section 3): the environment a training job is given,
// and how what it leaves behind (its exit, metrics.json, the log) becomes the outcome of the attempt. A
// GitHub Actions job gets the same variables, so the training cannot tell the two runners apart.

/** How an attempt ended, before the runner adds its ids, duration and log tail. */
export type Outcome =
  | { type: 'finished'; metrics: Record<string, number>; steps?: number }
  | { type: 'failed'; conclusion: FailureConclusion; reason: string };

/**
 * Makes the attempt's output directory ready for a (new) run of it and opens its log.txt for appending: the
 * descriptor becomes the process's stdout and stderr.
 */
export async function openAttemptDir(attemptDir: string): Promise<FileHandle> {
  await mkdir(attemptDir, { recursive: true });
  // A metrics.json must come from this attempt, never from a leftover.
  await rm(path.join(attemptDir, 'metrics.json'), { force: true });
  return open(path.join(attemptDir, 'log.txt'), 'a');
}

/** The environment of an attempt's process: rea's own, plus the contract's REA_* variables. */
export function attemptEnv(job: RunJob, attemptDir: string): NodeJS.ProcessEnv {
  return {
    ...process.env,
    REA_RUN_ID: job.runId,
    REA_OVERRIDES: JSON.stringify(job.overrides),
    REA_FIDELITY: String(job.fidelity),
    REA_SEED: String(job.seed),
    REA_OUTPUT_DIR: attemptDir,
    REA_PLAN_ID: job.planId,
    REA_ATTEMPT: String(job.attempt),
  };
}

/**
 * The outcome of an attempt whose process ended (`code` and `signal` as from 'exit'; both null when it never
 * started): why rea stopped it if it did, otherwise its metrics or the failure its exit and log show.
 */
export async function attemptOutcome(
  attempt: { attemptDir: string; killReason?: KillReason },
  code: number | null,
  signal: NodeJS.Signals | null,
  contract: { metricName: string; timeoutMinutes: number },
): Promise<Outcome> {
  switch (attempt.killReason) {
    case 'timed_out':
      return {
        type: 'failed',
        conclusion: 'timed_out',
        reason: `exceeded timeout of ${fmtMinutes(contract.timeoutMinutes)}`,
      };
    case 'cancelled':
      return { type: 'failed', conclusion: 'cancelled', reason: 'cancelled' };
    case 'shutdown':
      return { type: 'failed', conclusion: 'cancelled', reason: 'rea shut down' };
    case undefined:
      break;
    default:
      return assertNever(attempt.killReason);
  }
  if (code === 0) return readMetrics(attempt.attemptDir, contract.metricName);
  const tail = await readLogTail(path.join(attempt.attemptDir, 'log.txt'));
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

function fmtMinutes(m: number): string {
  return `${Number(m.toPrecision(4))} minute${m === 1 ? '' : 's'}`;
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
