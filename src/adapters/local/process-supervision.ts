import { type ChildProcess, spawn } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';

// Every attempt runs in its own process group (spawned detached, so the group id is the pid): cancel and
// timeout signal the whole group, which reaches the data loaders and helpers a training script forks.
// Output goes straight from the child into `<attempt dir>/log.txt` (the file descriptor is the child's
// stdout and stderr), so the log keeps the exact interleaving of the two streams and survives a crash of
// rea; the log tail in reports is read back from that file.

/** Why rea stopped an attempt's process group (none when the process ended by itself). */
export type KillReason = 'cancelled' | 'timed_out' | 'shutdown';

export interface GroupEvents {
  /** The process exists; `pid` is also its process group id. */
  onSpawn: (pid: number | undefined) => void;
  /** The process could not be started (emitted instead of a spawn). */
  onStartError: (err: Error) => void;
  onExit: (code: number | null, signal: NodeJS.Signals | null) => void;
}

/**
 * Starts `command` through /bin/sh -c as the leader of a new process group, its stdout and stderr going to
 * `logFd`. Throws when spawn itself throws; later failures to start arrive through `events.onStartError`.
 */
export function spawnGroup(
  command: string,
  opts: { cwd: string; env: NodeJS.ProcessEnv; logFd: number },
  events: GroupEvents,
): ChildProcess {
  const child = spawn('/bin/sh', ['-c', command], {
    cwd: opts.cwd,
    env: opts.env,
    detached: true,
    stdio: ['ignore', opts.logFd, opts.logFd],
  });
  // Listeners go on before the first await: 'spawn' and 'error' are emitted on the next tick.
  let spawned = false;
  child.once('spawn', () => {
    spawned = true;
    events.onSpawn(child.pid);
  });
  // `on`, not `once`: an 'error' after the spawn (a failed kill) must not go unhandled.
  child.on('error', (err) => {
    if (spawned) return;
    events.onStartError(err);
  });
  child.once('exit', (code, signal) => events.onExit(code, signal));
  return child;
}

/** Calls `onTimeout` after `timeoutMinutes`. */
export function armTimeout(timeoutMinutes: number, onTimeout: () => void): NodeJS.Timeout {
  // setTimeout fires at once for delays past 2^31-1 ms (about 24.8 days); cap rather than overflow.
  const timeoutMs = Math.min(timeoutMinutes * 60_000, 2 ** 31 - 1);
  return setTimeout(onTimeout, timeoutMs);
}

/** SIGTERM to the group, then SIGKILL to whatever is left after the grace period. */
export async function killGroup(pgid: number, graceMs: number): Promise<void> {
  signalGroup(pgid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    if (!(await groupAlive(pgid))) return;
    await sleep(50);
  }
  signalGroup(pgid, 'SIGKILL');
  // SIGKILL cannot be caught; give the kernel a moment to take the processes down.
  for (let i = 0; i < 40 && (await groupAlive(pgid)); i++) await sleep(25);
}

function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // ESRCH: the group is already gone.
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
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

export async function groupAlive(pgid: number): Promise<boolean> {
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
export async function isOurGroup(pgid: number, attemptDir: string): Promise<boolean> {
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
