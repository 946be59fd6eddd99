import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { LocalProcessRunner } from '../adapters/local/local-process-runner.ts';
import type { RunnerReport } from '../app/ports.ts';
import type { ModelDir } from '../config/load.ts';
import type { KnobValues } from '../config/rea-config.ts';
import { overridesKey } from '../core/knobs.ts';
import type { Trainer, TrainOutcome } from './types.ts';

// Real trainings of the model directory's run.command, through the same local runner `rea run --local`
// uses (same REA_* environment, same metrics.json checks), with a disk cache in front. Training is
// deterministic in (configuration, fidelity, seed), so a result is keyed by those and by a hash of the model
// directory's files: an edit to the model or its baseline invalidates every entry.

/** Directories that are outputs or tooling, not the model: left out of the model hash. */
const SKIP_DIRS = new Set(['node_modules', '.git', '.rea', 'out', '__pycache__']);
const MAX_HASHED_FILE = 5 * 1024 * 1024;

export async function hashModelDir(dir: string): Promise<string> {
  const h = createHash('sha256');
  async function walk(rel: string): Promise<void> {
    const entries = (await readdir(path.join(dir, rel), { withFileTypes: true })).sort((a, b) =>
      a.name < b.name ? -1 : a.name > b.name ? 1 : 0,
    );
    for (const e of entries) {
      const p = path.join(rel, e.name);
      if (e.isDirectory()) {
        if (!SKIP_DIRS.has(e.name)) await walk(p);
      } else if (e.isFile()) {
        const s = await stat(path.join(dir, p));
        h.update(`${p}\0${s.size}\0`);
        if (s.size <= MAX_HASHED_FILE) h.update(await readFile(path.join(dir, p)));
      }
    }
  }
  await walk('');
  return h.digest('hex').slice(0, 16);
}

export interface CachedTrainerOptions {
  model: ModelDir;
  /** Where results are cached (one JSON file per training). */
  cacheDir: string;
  /** Scratch space for the runner's attempt directories. */
  workDir: string;
  maxConcurrent: number;
  useCache?: boolean;
}

export interface TrainerStats {
  trained: number;
  cached: number;
  failed: number;
}

export class CachedTrainer implements Trainer {
  readonly stats: TrainerStats = { trained: 0, cached: 0, failed: 0 };
  private readonly pending = new Map<string, Promise<TrainOutcome>>();
  private readonly waiting = new Map<string, (r: RunnerReport) => void>();
  private runner: LocalProcessRunner | undefined;
  private modelHash: string | undefined;
  private seq = 0;

  constructor(private readonly opts: CachedTrainerOptions) {}

  private async hash(): Promise<string> {
    this.modelHash ??= await hashModelDir(this.opts.model.dir);
    return this.modelHash;
  }

  private getRunner(): LocalProcessRunner {
    const { model } = this.opts;
    this.runner ??= new LocalProcessRunner({
      dir: model.dir,
      command: model.config.run.command,
      gpus: model.config.run.gpus,
      timeoutMinutes: model.config.run.timeout_minutes,
      maxConcurrent: this.opts.maxConcurrent,
      outputRoot: this.opts.workDir,
      metricName: model.config.metric.name,
      onReport: (r) => {
        if (r.type === 'started') return;
        const done = this.waiting.get(r.runId);
        this.waiting.delete(r.runId);
        done?.(r);
      },
    });
    return this.runner;
  }

  async train(overrides: KnobValues, fidelity: number, seed: number): Promise<TrainOutcome> {
    // The cache key is the effective configuration, so {lr: baseline value} and {} share one entry.
    const effective = { ...this.opts.model.baseline, ...overrides };
    const key = createHash('sha256')
      .update(`${await this.hash()}\n${overridesKey(effective)}\n${fidelity}\n${seed}`)
      .digest('hex')
      .slice(0, 24);
    let p = this.pending.get(key);
    if (!p) {
      p = this.load(key, overrides, fidelity, seed);
      this.pending.set(key, p);
    }
    const out = await p;
    return out;
  }

  private async load(
    key: string,
    overrides: KnobValues,
    fidelity: number,
    seed: number,
  ): Promise<TrainOutcome> {
    const file = path.join(this.opts.cacheDir, key.slice(0, 2), `${key}.json`);
    if (this.opts.useCache !== false) {
      try {
        const hit = JSON.parse(await readFile(file, 'utf8')) as TrainOutcome;
        this.stats.cached += 1;
        return { ...hit, cached: true };
      } catch {
        // Not cached yet (or an unreadable entry, which is simply trained again).
      }
    }
    const out = await this.run(key, overrides, fidelity, seed);
    if (out.ok) this.stats.trained += 1;
    else this.stats.failed += 1;
    // Only successes are cached: a failure may be the configuration's (out of memory, divergence) but also
    // the machine's (a timeout under load, a working directory that vanished), and a cached machine fault
    // would follow the configuration into every later bench.
    if (out.ok) {
      await mkdir(path.dirname(file), { recursive: true });
      const tmp = `${file}.${process.pid}.tmp`;
      await writeFile(tmp, `${JSON.stringify({ ...out, overrides, fidelity, seed })}\n`);
      await rename(tmp, file);
    }
    return out;
  }

  private async run(
    key: string,
    overrides: KnobValues,
    fidelity: number,
    seed: number,
  ): Promise<TrainOutcome> {
    this.seq += 1;
    const runId = `t${this.seq}-${key.slice(0, 8)}`;
    const report = new Promise<RunnerReport>((resolve) => this.waiting.set(runId, resolve));
    await this.getRunner().dispatch({
      planId: 'bench',
      runId,
      attempt: 1,
      overrides,
      fidelity,
      seed,
      idempotencyKey: runId,
    });
    const r = await report;
    await rm(path.join(this.opts.workDir, 'bench', runId), { recursive: true, force: true });
    const metric = this.opts.model.config.metric.name;
    if (r.type === 'finished') {
      return { ok: true, value: r.metrics[metric]!, metrics: r.metrics, cached: false };
    }
    if (r.type === 'failed') {
      return {
        ok: false,
        conclusion: r.conclusion,
        reason: r.reason,
        logTail: r.logTail.split('\n').slice(-5).join('\n'),
        cached: false,
      };
    }
    throw new Error(`unexpected runner report ${r.type}`);
  }

  async close(): Promise<void> {
    await this.runner?.shutdown();
  }
}
