import { type ChildProcessWithoutNullStreams, execFile, spawn } from 'node:child_process';
import { createInterface, type Interface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { Knob, KnobValues } from '../config/rea-config.ts';
import { assertNever } from '../core/knobs.ts';
import { chargeFor } from './measure.ts';
import { better } from './random-search.ts';
import type { SearchArgs, SearchTrace } from './types.ts';

// Optuna's samplers (TPE, multivariate TPE, random) and its Hyperband pruner through Debian's python3-optuna:
// a small ask-and-tell bridge (scripts/optuna-bridge.py) speaking JSON lines over stdin/stdout. Optuna decides
// what to try and what to prune; the trainings are the same cached real runs every strategy uses.

export const BRIDGE_SCRIPT = fileURLToPath(new URL('../../scripts/optuna-bridge.py', import.meta.url));
export const DEFAULT_PYTHON = '/usr/bin/python3';
export const OPTUNA_HINT = 'install it with: apt-get install -y python3-optuna';

export type OptunaCheck = { ok: true; version: string } | { ok: false; reason: string };

export function checkOptuna(python: string): Promise<OptunaCheck> {
  return new Promise((resolve) => {
    execFile(
      python,
      ['-c', 'import optuna; print(optuna.__version__)'],
      { timeout: 60_000 },
      (err, stdout) => {
        if (!err) return resolve({ ok: true, version: stdout.trim() });
        const why =
          (err as NodeJS.ErrnoException).code === 'ENOENT'
            ? `${python} not found`
            : `cannot import optuna with ${python}`;
        resolve({ ok: false, reason: why });
      },
    );
  });
}

type Distribution =
  | { type: 'float'; low: number; high: number; log: boolean }
  | { type: 'int'; low: number; high: number; step: number }
  | { type: 'categorical'; choices: Array<string | number | boolean> };

export function optunaSpace(knobs: Record<string, Knob>): Record<string, Distribution> {
  const out: Record<string, Distribution> = {};
  for (const name of Object.keys(knobs).sort()) {
    const k = knobs[name]!;
    switch (k.type) {
      case 'float':
        out[name] = { type: 'float', low: k.min, high: k.max, log: k.log ?? false };
        break;
      case 'int':
        out[name] = { type: 'int', low: k.min, high: k.max, step: k.step };
        break;
      case 'choice':
        out[name] = { type: 'categorical', choices: [...k.values] };
        break;
      case 'bool':
        out[name] = { type: 'categorical', choices: [false, true] };
        break;
      default:
        assertNever(k);
    }
  }
  return out;
}

export class OptunaBridgeError extends Error {
  readonly code = 'optuna_bridge';
}

/** One Optuna study in one Python process; requests are answered in order. */
export class OptunaBridge {
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly lines: Interface;
  private readonly waiting: Array<(line: string | undefined) => void> = [];
  private stderr = '';
  private closed = false;

  constructor(python: string) {
    this.child = spawn(python, [BRIDGE_SCRIPT], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stderr.on('data', (d: Buffer) => {
      this.stderr = (this.stderr + d.toString()).slice(-4000);
    });
    this.lines = createInterface({ input: this.child.stdout });
    this.lines.on('line', (l) => this.waiting.shift()?.(l));
    this.child.on('close', () => {
      this.closed = true;
      for (const w of this.waiting.splice(0)) w(undefined);
    });
    this.child.on('error', () => {});
  }

  async request<T>(req: Record<string, unknown>): Promise<T> {
    if (this.closed) throw new OptunaBridgeError(`the Optuna bridge exited: ${this.stderr.trim()}`);
    const answer = new Promise<string | undefined>((resolve) => this.waiting.push(resolve));
    this.child.stdin.write(`${JSON.stringify(req)}\n`);
    const line = await answer;
    if (line === undefined) throw new OptunaBridgeError(`the Optuna bridge exited: ${this.stderr.trim()}`);
    const out = JSON.parse(line) as T & { error?: string };
    if (out.error) throw new OptunaBridgeError(`Optuna: ${out.error}`);
    return out;
  }

  close(): void {
    this.child.stdin.end();
  }
}

/** The bench strategies Optuna runs. */
export const OPTUNA_STRATEGIES = ['tpe', 'tpe-hyperband', 'random-hyperband', 'tpe-multivariate'] as const;
export type OptunaStrategy = (typeof OPTUNA_STRATEGIES)[number];

export function isOptunaStrategy(s: string): s is OptunaStrategy {
  return (OPTUNA_STRATEGIES as readonly string[]).includes(s);
}

/** What the bridge builds for a strategy: only the sampler and whether Hyperband prunes differ. */
export function optunaSetup(strategy: OptunaStrategy): {
  sampler: 'tpe' | 'tpe-multivariate' | 'random';
  hyperband: boolean;
} {
  switch (strategy) {
    case 'tpe':
      return { sampler: 'tpe', hyperband: false };
    case 'tpe-hyperband':
      return { sampler: 'tpe', hyperband: true };
    // Random search with the same pruner as TPE+Hyperband: on narrow or combined gains the strongest of the
    // standard searches (issue 23), so the peer rea has to beat.
    case 'random-hyperband':
      return { sampler: 'random', hyperband: true };
    // TPE that models knobs jointly (multivariate, grouped by the parameters trials share), so gains that
    // need two knobs moved together are within its reach; constant_liar as Optuna recommends it in parallel.
    case 'tpe-multivariate':
      return { sampler: 'tpe-multivariate', hyperband: false };
    default:
      return assertNever(strategy);
  }
}

/** Hyperband over fidelities: resources 1, 3, 9 (reduction factor 3) are fidelities 1/9, 1/3 and 1. */
export const HYPERBAND = { minResource: 1, maxResource: 9, reductionFactor: 3 } as const;
export const HYPERBAND_RUNGS = [1, 3, 9] as const;

export async function runOptuna(
  args: SearchArgs & { python: string; strategy: OptunaStrategy },
): Promise<SearchTrace> {
  const { sampler, hyperband } = optunaSetup(args.strategy);
  const bridge = new OptunaBridge(args.python);
  const trace: SearchTrace = { steps: [], final: undefined, gpuHoursUsed: 0, notes: [] };
  try {
    await bridge.request({
      op: 'create',
      seed: args.seed,
      direction: args.goal,
      space: optunaSpace(args.knobs),
      sampler,
      pruner: hyperband ? 'hyperband' : 'none',
      min_resource: HYPERBAND.minResource,
      max_resource: HYPERBAND.maxResource,
      reduction_factor: HYPERBAND.reductionFactor,
    });
    const rungs = hyperband ? HYPERBAND_RUNGS : [HYPERBAND.maxResource];
    let best: number | undefined;
    let pruned = 0;
    let complete = 0;
    for (;;) {
      // A trial starts only if its first rung fits; each rung is a separate training from scratch (the
      // example jobs do not resume), charged like every other run.
      const first = chargeFor(rungs[0]! / HYPERBAND.maxResource, args.fullRunGpuHours);
      if (trace.gpuHoursUsed + first > args.budgetGpuHours + 1e-12) break;
      const trial = await bridge.request<{ number: number; params: KnobValues }>({ op: 'ask' });
      let state: 'complete' | 'pruned' | 'fail' | 'unfinished' = 'unfinished';
      let value: number | undefined;
      for (const r of rungs) {
        const fidelity = r / HYPERBAND.maxResource;
        const cost = chargeFor(fidelity, args.fullRunGpuHours);
        if (trace.gpuHoursUsed + cost > args.budgetGpuHours + 1e-12) break;
        const out = await args.trainer.train(trial.params, fidelity, args.trainingSeed);
        trace.gpuHoursUsed += cost;
        if (!out.ok || !Number.isFinite(out.value)) {
          state = 'fail';
          trace.steps.push({ gpuHours: trace.gpuHoursUsed, fidelity, pick: trace.final });
          break;
        }
        value = out.value;
        if (r === HYPERBAND.maxResource) {
          state = 'complete';
          if (best === undefined || better(args.goal, value, best)) {
            best = value;
            trace.final = trial.params;
          }
        } else {
          const { prune } = await bridge.request<{ prune: boolean }>({
            op: 'report',
            number: trial.number,
            step: r,
            value,
          });
          if (prune) state = 'pruned';
        }
        trace.steps.push({ gpuHours: trace.gpuHoursUsed, fidelity, pick: trace.final });
        if (state !== 'unfinished') break;
      }
      if (state === 'unfinished') {
        // The budget ran out inside the trial: tell Optuna it was stopped early, and stop.
        await bridge.request({ op: 'tell', number: trial.number, state: 'pruned' });
        break;
      }
      if (state === 'pruned') pruned += 1;
      if (state === 'complete') complete += 1;
      await bridge.request({
        op: 'tell',
        number: trial.number,
        state,
        ...(state === 'complete' ? { value } : {}),
      });
    }
    trace.notes.push(`${complete} trials completed at full fidelity${hyperband ? `, ${pruned} pruned` : ''}`);
  } finally {
    bridge.close();
  }
  return trace;
}
