import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Runner, RunnerOutcome, RunnerRun } from './actions-engine.ts';

// An emulated self-hosted runner that really runs the job: the experiment workflow's contract (DESIGN
// section 3) turns the dispatch inputs into REA_* variables, the job writes metrics.json into
// $REA_OUTPUT_DIR, and that directory is uploaded as the `rea-metrics` artifact, as the workflow's
// upload-artifact step would.

export interface CommandRunnerOptions {
  /** Working directory of the job (the model repo checkout), e.g. examples/ctr-model. */
  cwd: string;
  /** Executed through /bin/sh -c, like a workflow `run:` step. */
  command: string;
  /** Extra environment for the job. */
  env?: Record<string, string>;
  /** Name of the artifact the output directory is uploaded as. */
  artifactName?: string;
  /** Where the per-attempt output directories are created (default: the OS temp dir). */
  outputRoot?: string;
  /** Kill the job after this long and conclude `timed_out` (the workflow's timeout-minutes). */
  timeoutMs?: number;
  /** Grace period between SIGTERM and SIGKILL when cancelling. */
  killGraceMs?: number;
}

/** Maps dispatch inputs to the run contract's environment (only inputs that were given). */
export function runContractEnv(run: RunnerRun, outputDir: string): Record<string, string> {
  const env: Record<string, string> = {
    REA_OUTPUT_DIR: outputDir,
    CI: 'true',
    GITHUB_ACTIONS: 'true',
    GITHUB_REPOSITORY: `${run.owner}/${run.repo}`,
    GITHUB_REF_NAME: run.ref,
    GITHUB_SHA: run.sha,
    GITHUB_RUN_ID: String(run.runId),
    GITHUB_RUN_ATTEMPT: String(run.runAttempt),
  };
  const mapping: Record<string, string> = {
    run_id: 'REA_RUN_ID',
    overrides: 'REA_OVERRIDES',
    fidelity: 'REA_FIDELITY',
    seed: 'REA_SEED',
  };
  for (const [input, name] of Object.entries(mapping)) {
    const value = run.inputs[input];
    if (value !== undefined) env[name] = value;
  }
  return env;
}

async function readTree(dir: string, prefix = ''): Promise<Record<string, Uint8Array>> {
  const out: Record<string, Uint8Array> = {};
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const rel = prefix ? `${prefix}/${entry.name}` : entry.name;
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) Object.assign(out, await readTree(full, rel));
    else if (entry.isFile()) out[rel] = new Uint8Array(await readFile(full));
  }
  return out;
}

function inheritedEnv(): Record<string, string> {
  // The test process's own REA_* settings must not leak into a job: only the dispatch decides them.
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith('REA_')) env[k] = v;
  return env;
}

export function commandRunner(opts: CommandRunnerOptions): Runner {
  const artifactName = opts.artifactName ?? 'rea-metrics';
  return async (run): Promise<RunnerOutcome> => {
    const outputDir = await mkdtemp(
      path.join(opts.outputRoot ?? tmpdir(), `rea-run-${run.runId}-${run.runAttempt}-`),
    );
    const started = performance.now();
    try {
      const child = spawn('/bin/sh', ['-c', opts.command], {
        cwd: opts.cwd,
        env: { ...inheritedEnv(), ...opts.env, ...runContractEnv(run, outputDir) },
        // Own process group, so cancelling reaches whatever the command forks.
        detached: true,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const chunks: Buffer[] = [];
      child.stdout.on('data', (b: Buffer) => chunks.push(b));
      child.stderr.on('data', (b: Buffer) => chunks.push(b));

      let stopped: 'cancelled' | 'timed_out' | undefined;
      const kill = (reason: 'cancelled' | 'timed_out') => {
        if (stopped || child.exitCode !== null || !child.pid) return;
        stopped = reason;
        try {
          process.kill(-child.pid, 'SIGTERM');
        } catch {
          return;
        }
        setTimeout(() => {
          try {
            process.kill(-child.pid!, 'SIGKILL');
          } catch {
            // already gone
          }
        }, opts.killGraceMs ?? 2000).unref();
      };
      const onAbort = () => kill('cancelled');
      run.signal.addEventListener('abort', onAbort, { once: true });
      // Cancelled while the output directory was being created: the listener came too late to hear it.
      if (run.signal.aborted) onAbort();
      const timer = opts.timeoutMs ? setTimeout(() => kill('timed_out'), opts.timeoutMs) : undefined;

      const code = await new Promise<number | null>((resolve) => {
        child.on('error', (e) => {
          chunks.push(Buffer.from(`${e.message}\n`));
          resolve(127);
        });
        child.on('close', (exitCode) => resolve(exitCode));
      });
      if (timer) clearTimeout(timer);
      run.signal.removeEventListener('abort', onAbort);

      const log = Buffer.concat(chunks).toString('utf8');
      const durationSec = (performance.now() - started) / 1000;
      if (stopped) return { conclusion: stopped, log, durationSec };
      if (code !== 0) return { conclusion: 'failure', log, durationSec };
      const files = await readTree(outputDir);
      const artifacts = Object.keys(files).length ? { [artifactName]: files } : undefined;
      return { conclusion: 'success', log, durationSec, ...(artifacts ? { artifacts } : {}) };
    } finally {
      await rm(outputDir, { recursive: true, force: true });
    }
  };
}
