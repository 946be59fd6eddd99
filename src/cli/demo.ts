import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { pct } from '../core/analysis.ts';
import { fmtHours, fullRunEquivalents, spentGpuHours } from '../core/decide.ts';
import type { PlanState } from '../core/model.ts';
import { openContext } from './context.ts';
import { runLocal, summarize } from './run.ts';

// `rea demo`: the whole loop on this machine with the bundled example model, auto-approved.

export const EXAMPLE_DIR = fileURLToPath(new URL('../../examples/ctr-model', import.meta.url));

async function previousDemoPlans(model: string, except: string): Promise<PlanState[]> {
  const ctx = await openContext();
  try {
    const list = await ctx.store.listPlans({ model, statuses: ['completed'] });
    const plans = await Promise.all(list.filter((p) => p.id !== except).map((p) => ctx.store.getPlan(p.id)));
    return plans.filter((p): p is PlanState => p !== undefined);
  } finally {
    await ctx.close();
  }
}

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description('run a whole plan on the bundled example CTR model (local processes, embedded database)')
    .option('--dir <dir>', 'model directory', EXAMPLE_DIR)
    .action(async (opts: { dir: string }) => {
      process.stdout.write(
        'rea demo: plan, approve, run and report on a real (small) CTR model, all on this machine.\n' +
          `Data (database, run logs, reports) goes to ${process.env.REA_DATA_DIR ?? '.rea/'}.\n`,
      );
      const plan = await runLocal({
        dir: opts.dir,
        goal: 'reduce NE of the CTR model',
        yes: true,
        actor: { by: 'rea demo', via: 'auto' },
        autoResolve: 'skip',
      });
      process.stdout.write(`\n${summarize(plan)}\n`);
      const before = await previousDemoPlans(plan.spec.model, plan.id);
      if (before.length > 0) {
        process.stdout.write('\nEarlier plans of this model:\n');
        for (const p of before) {
          const w = p.winner;
          process.stdout.write(
            `  ${p.id}: ${w ? pct(w.relEffect) : 'no winner'} for ${fmtHours(spentGpuHours(p))} GPU-hours, ${fullRunEquivalents(p).toFixed(1)} full-run equivalents (${p.hypotheses.filter((h) => h.source === 'insights').length} hypotheses from insights)\n`,
          );
        }
      }
      if (plan.status !== 'completed') process.exitCode = 1;
    });
}
