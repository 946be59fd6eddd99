import path from 'node:path';
import { createInterface } from 'node:readline/promises';
import type { Command } from 'commander';
import { researchSources } from '../adapters/llm/research-agents.ts';
import { LocalCodeReader } from '../adapters/local/local-code-reader.ts';
import { LocalProcessRunner } from '../adapters/local/local-process-runner.ts';
import { TerminalChat } from '../adapters/local/terminal-chat.ts';
import { type Choice, runLocalSession } from '../app/local-session.ts';
import { pct } from '../core/analysis.ts';
import { fmtHours, fullRunEquivalents, spentGpuHours } from '../core/decide.ts';
import type { Actor, PlanState } from '../core/model.ts';
import {
  cliActor,
  loadModelOrExit,
  loadRunbooksOrExit,
  openContext,
  parsePositive,
  UsageError,
} from './context.ts';

export interface LocalRunOptions {
  dir: string;
  goal: string;
  yes: boolean;
  budget?: number;
  actor: Actor;
  /** What to do with an open escalation when nobody is asked (`--yes`). */
  autoResolve: Choice;
}

async function ask(question: string): Promise<string> {
  const rl = createInterface({ input: process.stdin, output: process.stdout });
  try {
    return (await rl.question(question)).trim().toLowerCase();
  } finally {
    rl.close();
  }
}

/** Runs (or resumes) the model's plan locally; returns the final state. */
export async function runLocal(opts: LocalRunOptions): Promise<PlanState> {
  const model = await loadModelOrExit(opts.dir);
  const runbooks = await loadRunbooksOrExit(model.dir);
  const ctx = await openContext();
  const chat = new TerminalChat();
  let stopping = false;
  let current: PlanState | undefined;
  const onSignal = () => {
    if (stopping) process.exit(130);
    stopping = true;
    process.stdout.write(
      `\nStopping. Run the same command again to resume${current ? ` plan ${current.id}` : ''}.\n`,
    );
    process.exit(130);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    return await runLocalSession({
      store: ctx.store,
      model,
      goal: opts.goal,
      runbooks,
      sources: researchSources(process.env, ctx.log),
      code: new LocalCodeReader(model.dir),
      chat,
      makeRunner: (onReport) =>
        new LocalProcessRunner({
          dir: model.dir,
          command: model.config.run.command,
          gpus: model.config.run.gpus,
          timeoutMinutes: model.config.run.timeout_minutes,
          maxConcurrent: model.config.budget.max_concurrent_runs,
          outputRoot: path.join(ctx.dataDir, 'runs'),
          metricName: model.config.metric.name,
          editable: model.config.editable,
          onReport,
        }),
      reportDir: path.join(ctx.dataDir, 'reports'),
      log: ctx.log,
      actor: opts.actor,
      ...(opts.budget !== undefined ? { budgetGpuHours: opts.budget } : {}),
      onPlan: (p) => {
        current = p;
      },
      approve: async (plan) => {
        if (opts.yes) return true;
        if (!process.stdin.isTTY) {
          throw new UsageError(
            `plan ${plan.id} needs approval: run with --yes, or in a terminal to be asked`,
          );
        }
        const answer = await ask(
          `Approve plan ${plan.id} with a budget of ${fmtHours(plan.budget.requestedGpuHours)} GPU-hours ($${(plan.budget.requestedGpuHours * plan.spec.usdPerGpuHour).toFixed(2)})? [y/N] `,
        );
        return answer === 'y' || answer === 'yes';
      },
      raiseBudget: async (plan) => {
        const cap = opts.budget ?? model.config.budget.max_gpu_hours;
        const approved = plan.budget.approvedGpuHours;
        const needed = plan.budgetRequest?.neededGpuHours ?? 0;
        // Enough for the rest of the plan as now estimated (with measured costs), never past the cap.
        const extra = Math.min(cap - approved, Math.max(needed, plan.estimate.gpuHoursP90 - approved));
        if (!(extra > 0) || extra < needed) {
          process.stdout.write(
            `The plan needs ${fmtHours(needed)} more GPU-hours but the cap is ${fmtHours(cap)} (approved ${fmtHours(approved)}); raise it with --budget.\n`,
          );
          return undefined;
        }
        if (opts.yes) return extra;
        if (!process.stdin.isTTY) return undefined;
        const answer = await ask(
          `Raise the budget of plan ${plan.id} by ${fmtHours(extra)} GPU-hours (to ${fmtHours(approved + extra)})? [y/N] `,
        );
        return answer === 'y' || answer === 'yes' ? extra : undefined;
      },
      resolveEscalation: async (plan, id) => {
        const e = plan.escalations.find((x) => x.id === id)!;
        process.stdout.write(`Open escalation ${id}: ${e.reason}\n`);
        if (opts.yes || !process.stdin.isTTY) return opts.autoResolve;
        const answer = await ask('retry, skip or cancel? [skip] ');
        return answer === 'retry' || answer === 'cancel' ? answer : 'skip';
      },
    });
  } finally {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
    await ctx.close();
  }
}

export function summarize(plan: PlanState): string {
  const spent = spentGpuHours(plan);
  const w = plan.winner;
  const head = w
    ? `Plan ${plan.id} ${plan.status}: ${plan.spec.metric.name} improved by ${pct(w.relEffect)} (95% interval [${pct(w.lo)}, ${pct(w.hi)}], ${w.n} seeds at full fidelity)`
    : `Plan ${plan.id} ${plan.status}${plan.finishedReason ? `: ${plan.finishedReason}` : ''}`;
  return `${head}; ${fmtHours(spent)} GPU-hours spent of ${fmtHours(plan.budget.approvedGpuHours)} approved (${fullRunEquivalents(plan).toFixed(1)} full-run equivalents).`;
}

export function registerRun(program: Command): void {
  program
    .command('run')
    .description('run (or resume) an experiment plan for a model directory')
    .option('--local', 'run the jobs as local processes (the only runner on the command line)')
    .option('--dir <dir>', 'model directory with .rea.yml', '.')
    .option('--goal <text>', 'what the plan should achieve', 'improve the primary metric')
    .option('--yes', 'approve without asking')
    .option('--budget <gpuHours>', 'the most GPU-hours the plan may use')
    .action(async (opts: { local?: boolean; dir: string; goal: string; yes?: boolean; budget?: string }) => {
      if (!opts.local)
        throw new UsageError(
          'only --local is supported on the command line; GitHub runs start from a plan PR',
        );
      const plan = await runLocal({
        dir: opts.dir,
        goal: opts.goal,
        yes: opts.yes ?? false,
        ...(opts.budget !== undefined ? { budget: parsePositive(opts.budget, '--budget') } : {}),
        actor: opts.yes ? { ...cliActor(), via: 'cli' } : cliActor(),
        autoResolve: 'skip',
      });
      process.stdout.write(`\n${summarize(plan)}\n`);
      if (plan.status === 'paused') process.exitCode = 3;
    });
}
