import type { Command } from 'commander';
import { progressOf, renderCostTable } from '../app/render.ts';
import { fmtHours } from '../core/decide.ts';
import { openContext } from './context.ts';

export function registerStatus(program: Command): void {
  program
    .command('status [plan]')
    .description('list plans, or show one plan in detail')
    .option('--json', 'print JSON for scripts')
    .action(async (planId: string | undefined, opts: { json?: boolean }) => {
      const ctx = await openContext();
      try {
        if (!planId) {
          const plans = await ctx.store.listPlans();
          const rows = await Promise.all(
            plans.map(async (s) => {
              const p = await ctx.store.getPlan(s.id);
              return { ...s, progress: p ? progressOf(p) : undefined };
            }),
          );
          if (opts.json) {
            process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
            return;
          }
          if (rows.length === 0) {
            process.stdout.write('No plans yet. Try: rea demo\n');
            return;
          }
          for (const r of rows) {
            const pr = r.progress;
            process.stdout.write(
              `${r.id.padEnd(24)} ${r.status.padEnd(18)} ${r.phase.padEnd(13)} ${pr ? `${pr.done}/${pr.planned} runs, ${fmtHours(pr.spent)} GPU-h` : ''}  ${r.goal}\n`,
            );
          }
          return;
        }
        const plan = await ctx.store.getPlan(planId);
        if (!plan) {
          process.stderr.write(`rea: no plan '${planId}' (rea status lists them)\n`);
          process.exitCode = 1;
          return;
        }
        if (opts.json) {
          process.stdout.write(`${JSON.stringify(plan, null, 2)}\n`);
          return;
        }
        const p = progressOf(plan);
        process.stdout.write(
          [
            `Plan ${plan.id} (${plan.spec.model}): ${plan.goal}`,
            `Status ${plan.status}${plan.pauseReason ? ` (${plan.pauseReason})` : ''}, phase ${plan.phase}/${plan.step}; ${p.done}/${p.planned} runs done, ${p.failed} failed; ${fmtHours(p.spent)} of ${fmtHours(p.budget)} GPU-hours.`,
            '',
            renderCostTable(plan),
            '',
            ...plan.decisions.map((d) => `- ${d.phase}: ${d.text}`),
          ].join('\n') + '\n',
        );
      } finally {
        await ctx.close();
      }
    });
}
