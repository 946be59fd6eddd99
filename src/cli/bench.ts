import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { renderBenchChart } from '../app/charts/bench-chart.ts';
import { BENCH_STRATEGIES, type BenchResult, type BenchStrategy, runBench } from '../bench/bench.ts';
import { DEFAULT_PYTHON } from '../bench/optuna.ts';
import { requestedBudget } from '../bench/rea-strategy.ts';
import { BenchReferenceError, parseReference, type Reference, withReference } from '../bench/reference.ts';
import { benchJson, chartData, renderMarkdown } from '../bench/report.ts';
import { CachedTrainer } from '../bench/trainer.ts';
import { loadModelOrExit, loadRunbooksOrExit, parsePositive, UsageError } from './context.ts';

// `rea bench search`: how much improvement each search strategy buys per GPU-hour on a model directory.

const EXAMPLE_DIR = fileURLToPath(new URL('../../examples/ctr-model', import.meta.url));
// Every peer of issue 24's acceptance: the block reads n/a for a criterion whose peer was not run.
const DEFAULT_STRATEGIES = 'rea,random,tpe,tpe-hyperband,random-hyperband,tpe-multivariate';

interface SearchOpts {
  dir?: string;
  budget?: string;
  budgetRuns?: string;
  seeds?: string;
  quick?: boolean;
  reference?: string;
  strategies: string;
  out: string;
  json?: boolean;
  warmStart?: boolean;
  evalSeeds: string;
  parallel: string;
  jobs?: string;
  cache: boolean;
  python: string;
}

/** Seeds of `--quick`: enough for a direction in the inner loop, not for a claim (that takes the full 10). */
const QUICK_SEEDS = 3;

async function readReference(file: string): Promise<Reference> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new UsageError(
      `--reference ${file}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`,
    );
  }
  try {
    return parseReference(text, file);
  } catch (e) {
    if (e instanceof BenchReferenceError) throw new UsageError(`--reference: ${e.message}`);
    throw e;
  }
}

function mergeOrExit(result: BenchResult, reference: Reference): BenchResult {
  try {
    return withReference(result, reference);
  } catch (e) {
    if (e instanceof BenchReferenceError) throw new UsageError(`--reference: ${e.message}`);
    throw e;
  }
}

function parseCount(value: string, flag: string, min: number): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min)
    throw new UsageError(`${flag} must be a whole number >= ${min} (got '${value}')`);
  return n;
}

export function parseStrategies(text: string, warmStart: boolean): BenchStrategy[] {
  const names = text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const unknown = names.filter((n) => !(BENCH_STRATEGIES as readonly string[]).includes(n));
  if (unknown.length > 0) {
    throw new UsageError(`unknown strategy ${unknown.join(', ')} (known: ${BENCH_STRATEGIES.join(', ')})`);
  }
  const out = [...new Set(names)] as BenchStrategy[];
  if (warmStart && !out.includes('rea-warm')) out.push('rea-warm');
  if (out.length === 0) throw new UsageError('--strategies names no strategy');
  return out;
}

export function registerBench(program: Command): void {
  // `rea bench` is a group other commands add to (bench digest): join it rather than define it twice.
  const bench =
    program.commands.find((c) => c.name() === 'bench') ??
    program.command('bench').description('benchmarks you can run on your own model directory');
  bench
    .command('search')
    .description(
      'search efficiency: rea against random search, Optuna TPE (with and without Hyperband), random search with Hyperband and multivariate TPE on the same knob space, budget and seeds',
    )
    .option('--dir <dir>', 'model directory with .rea.yml (default: the bundled examples/ctr-model)')
    .option(
      '--budget <gpuHours>',
      'GPU-hours per strategy and seed (default: what a rea plan for the model requests)',
    )
    .option('--budget-runs <n>', 'the budget in full-run equivalents (n x run.baseline_gpu_hours)')
    .option('--seeds <n>', 'repetitions per strategy (default 10, the full protocol)')
    .option(
      '--quick',
      'the inner loop: 3 seeds, same protocol (use with --reference to see the peers beside)',
    )
    .option(
      '--reference <file>',
      "a bench JSON of the same protocol (docs/bench/<task>-search.json): its strategies that this run does not measure are shown beside this run's, and its budget is the default",
    )
    .option('--strategies <list>', `comma-separated, of ${BENCH_STRATEGIES.join(', ')}`, DEFAULT_STRATEGIES)
    .option(
      '--warm-start',
      "also run a second rea plan per seed with the first plan's insights (strategy rea-warm)",
    )
    .option('--eval-seeds <n>', 'fresh seeds for the full-fidelity evaluation of each pick', '3')
    .option(
      '--out <dir>',
      'where the Markdown table, the PNG chart, the JSON and the training cache go',
      '.rea/bench',
    )
    .option('--json', 'print results per strategy and seed as JSON on stdout')
    .option('--parallel <n>', 'strategy repetitions searching at once', '4')
    .option('--jobs <n>', 'trainings at once (default: the number of CPUs)')
    .option('--no-cache', 'train everything again instead of reusing cached results')
    .option('--python <path>', 'the Python that has Optuna', process.env.REA_BENCH_PYTHON ?? DEFAULT_PYTHON)
    .action(async (opts: SearchOpts) => {
      const dir = opts.dir ?? EXAMPLE_DIR;
      const strategies = parseStrategies(opts.strategies, opts.warmStart === true);
      if (opts.quick && opts.seeds !== undefined) throw new UsageError('give --quick or --seeds, not both');
      const seeds = opts.quick ? QUICK_SEEDS : parseCount(opts.seeds ?? '10', '--seeds', 1);
      // Read first: a reference that cannot be used is refused before minutes of training.
      const reference = opts.reference !== undefined ? await readReference(opts.reference) : undefined;
      const evalSeeds = parseCount(opts.evalSeeds, '--eval-seeds', 1);
      const parallel = parseCount(opts.parallel, '--parallel', 1);
      const jobs = opts.jobs === undefined ? os.availableParallelism() : parseCount(opts.jobs, '--jobs', 1);
      const model = await loadModelOrExit(dir);
      const runbooks = await loadRunbooksOrExit(model.dir);
      if (opts.budget !== undefined && opts.budgetRuns !== undefined)
        throw new UsageError('give --budget or --budget-runs, not both');
      const budget =
        opts.budgetRuns !== undefined
          ? parsePositive(opts.budgetRuns, '--budget-runs') * model.config.run.baseline_gpu_hours
          : opts.budget !== undefined
            ? parsePositive(opts.budget, '--budget')
            : (reference?.budget_gpu_hours ?? (await requestedBudget(model)));
      const out = path.resolve(opts.out);
      const say = (line: string) => process.stderr.write(`rea bench: ${line}\n`);
      const workDir = path.join(out, 'work', String(process.pid));
      const trainer = new CachedTrainer({
        model,
        cacheDir: path.join(out, 'cache'),
        workDir,
        maxConcurrent: jobs,
        useCache: opts.cache,
      });
      say(
        `${model.config.model}: ${strategies.join(', ')} x ${seeds} seeds, budget ${Number(budget.toPrecision(4))} GPU-hours each (${Number((budget / model.config.run.baseline_gpu_hours).toPrecision(3))} full runs), ${jobs} trainings at once`,
      );
      // Trainings run in process groups of their own: stop them too when the bench is interrupted.
      const stop = (signal: NodeJS.Signals) => {
        void trainer.close().finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      const started = Date.now();
      let result: BenchResult;
      try {
        result = await runBench({
          model,
          trainer,
          runbooks,
          strategies,
          seeds,
          budgetGpuHours: budget,
          evalSeeds,
          python: opts.python,
          parallel,
          progress: say,
        });
      } finally {
        await trainer.close();
        await rm(workDir, { recursive: true, force: true });
      }
      if (reference) result = mergeOrExit(result, reference);
      const secs = ((Date.now() - started) / 1000).toFixed(0);
      const s = trainer.stats;
      const cache = `${s.trained + s.failed} trained now (${s.failed} failed), ${s.cached} reused from the cache in ${path.join(opts.out, 'cache')} (training is deterministic in configuration, fidelity and seed, so successful trainings are cached and repeated strategies and seeds are cheap); ${secs} s on ${os.availableParallelism()} CPUs`;
      const command = `rea bench search${opts.dir ? ` --dir ${opts.dir}` : ''}${opts.budget ? ` --budget ${opts.budget}` : ''}${opts.budgetRuns ? ` --budget-runs ${opts.budgetRuns}` : ''} ${opts.quick ? ' --quick' : ` --seeds ${seeds}`}${opts.reference ? ` --reference ${opts.reference}` : ''} --strategies ${strategies.filter((x) => x !== 'rea-warm').join(',')}${opts.warmStart || strategies.includes('rea-warm') ? ' --warm-start' : ''}`;
      const md = renderMarkdown(result, model.baseline, { cache, command });
      await mkdir(out, { recursive: true });
      const base = path.join(out, `${model.config.model}-search`);
      const json = benchJson(result, command);
      const data = chartData(result);
      const png = await renderBenchChart({
        title: `${model.config.model}: improvement of each strategy's pick vs GPU-hours (median of ${seeds} seeds)`,
        ...data,
      });
      await writeFile(`${base}.md`, md);
      await writeFile(`${base}.json`, `${JSON.stringify(json, null, 2)}\n`);
      await writeFile(`${base}.png`, png);
      say(`wrote ${base}.md, ${base}.png and ${base}.json (${cache})`);
      process.stdout.write(opts.json ? `${JSON.stringify(json, null, 2)}\n` : md);
    });
}
