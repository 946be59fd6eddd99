import { readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { RunnerReport } from '../../app/ports.ts';
import { readLogTail } from '../shared/log-tail.ts';
import { isOurGroup, killGroup } from './process-supervision.ts';
import { pathExists } from './scratch-copy.ts';

// After rea stops (killed, crashed, redeployed) the attempts it was running are nobody's: their processes
// may still hold GPUs and no one will report how they ended. The pid file each attempt leaves in its
// directory lets the next rea process find such an attempt, stop its process group and report it lost, so
// that the runner-lost runbook retries it as a new attempt.

const LOST_REASON = 'the rea process that ran this attempt stopped (killed or crashed)';

/** Written for recover(): a later rea process finds and stops this group through it. Never rejects. */
export function writePidFile(attemptDir: string, pid: number | undefined): Promise<void> {
  return writeFile(path.join(attemptDir, 'pid'), `${pid}\n`).catch(() => {});
}

/** Whether a rea process (perhaps an earlier one) ever started the attempt in `attemptDir`. */
export function hasPidFile(attemptDir: string): Promise<boolean> {
  return pathExists(path.join(attemptDir, 'pid'));
}

/**
 * Stops the attempt an earlier rea process left in `attemptDir` (its process group killed if the pid file
 * shows it still running) and returns its report: `failed` with conclusion `runner_lost`.
 */
export async function stopOrphan(
  f: { planId: string; runId: string; attempt: number },
  attemptDir: string,
  opts: { gpus: number; now: () => number; killGraceMs: number },
): Promise<RunnerReport> {
  const pidFile = path.join(attemptDir, 'pid');
  const pid = await readPid(pidFile);
  const startedAt = await mtimeMs(pidFile);
  let endedAt = await mtimeMs(path.join(attemptDir, 'log.txt'));
  if (pid !== undefined && (await isOurGroup(pid, attemptDir))) {
    endedAt = opts.now();
    await killGroup(pid, opts.killGraceMs);
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
    gpuHours: (durationSec * opts.gpus) / 3600,
    durationSec,
  };
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
