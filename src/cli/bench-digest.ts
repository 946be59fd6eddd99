import { performance } from 'node:perf_hooks';
import { Command } from 'commander';
import { digestMessage, finalReport, SLACK_LIMITS, type SlackMessage } from '../adapters/slack/blocks.ts';
import { renderDigestChart } from '../app/charts/digest-chart.ts';
import { renderDigestMarkdown } from '../app/digest-render.ts';
import { DIGEST_WEEKS, loadDigestInputs } from '../app/digest-service.ts';
import { synthWeek } from '../app/digest-synth.ts';
import { renderReport } from '../app/render.ts';
import { computeDigest, weekContaining } from '../core/digest.ts';
import { quantile } from '../core/stats.ts';
import { openStore } from '../db/store.ts';
import { parsePositive } from './context.ts';

// `rea bench digest`: how long the weekly digest takes for a busy week (50 plans, 5,000 runs by default),
// loaded from a database, computed and rendered (Markdown, Block Kit, PNG chart), and how long the plan
// reports of those plans take (Markdown and Block Kit). Prints medians with their spread over repetitions and
// checks every Block Kit message against Slack's limits. Fails (exit 1) over the limits or over 2 seconds.

const BUDGET_MS = 2000;

interface Stage {
  name: string;
  ms: number[];
}

/** Problems of a message against Slack's limits (blocks per message, section and header text). */
export function slackLimitProblems(what: string, msg: SlackMessage): string[] {
  const out: string[] = [];
  if (msg.blocks.length > SLACK_LIMITS.blocks) out.push(`${what}: ${msg.blocks.length} blocks`);
  for (const [i, b] of (msg.blocks as Array<{ type: string; text?: { text: string } }>).entries()) {
    const n = b.text?.text.length ?? 0;
    if (b.type === 'section' && n > SLACK_LIMITS.sectionText)
      out.push(`${what}: block ${i} has ${n} characters`);
    if (b.type === 'header' && n > SLACK_LIMITS.headerText) out.push(`${what}: header has ${n} characters`);
  }
  return out;
}

const fmt = (ms: number) => `${ms.toFixed(1)} ms`;

function summary(s: Stage): string {
  const med = quantile(s.ms, 0.5);
  return `${s.name.padEnd(34)} median ${fmt(med).padStart(10)}   p25-p75 ${fmt(quantile(s.ms, 0.25))} - ${fmt(quantile(s.ms, 0.75))}   min-max ${fmt(Math.min(...s.ms))} - ${fmt(Math.max(...s.ms))}`;
}

/** The `digest` subcommand, to be attached to the `bench` command group. */
export function benchDigestCommand(): Command {
  return new Command('digest')
    .description('time the weekly digest and the plan reports for a busy week (50 plans, 5,000 runs)')
    .option('--plans <n>', 'plans in the week', '50')
    .option('--runs <n>', 'runs in the week', '5000')
    .option('--reps <n>', 'repetitions', '7')
    .action(async (opts: { plans: string; runs: string; reps: string }) => {
      const plans = Math.round(parsePositive(opts.plans, '--plans'));
      const runs = Math.round(parsePositive(opts.runs, '--runs'));
      const reps = Math.round(parsePositive(opts.reps, '--reps'));
      const now = new Date();
      const week = weekContaining(now.getTime(), 'UTC');
      const channel = 'C0BENCH';
      const world = synthWeek({ week, plans, runs, channels: [channel], insights: 2000, textLength: 160 });
      process.stdout.write(
        `rea bench digest: ${plans} plans, ${runs} runs (+${world.plans.reduce((s, p) => s + p.runs.length, 0) - runs} in earlier weeks), ${world.insights.length} insight rows; ${reps} repetitions\n`,
      );
      const store = await openStore({ dataDir: ':memory:' });
      try {
        await store.transaction(async (tx) => {
          for (const p of world.plans) await tx.savePlan(p);
          await tx.upsertInsights(world.insights);
        });
        const stages: Stage[] = [
          'load from the database',
          'compute',
          'Markdown',
          'Block Kit',
          'PNG chart',
          'digest total',
          `plan reports (${plans}), Markdown`,
          `plan reports (${plans}), Block Kit`,
        ].map((name) => ({ name, ms: [] }));
        const problems = new Set<string>();
        const time = async <T>(i: number, fn: () => T | Promise<T>): Promise<T> => {
          const t0 = performance.now();
          const out = await fn();
          stages[i]!.ms.push(performance.now() - t0);
          return out;
        };
        // One untimed warm-up (module loading, font discovery, JIT), then the timed repetitions.
        for (let rep = -1; rep < reps; rep++) {
          const t0 = performance.now();
          const inputs = await time(0, () => loadDigestInputs(store, week));
          const digest = await time(1, () =>
            computeDigest({
              channel,
              week,
              plans: inputs.plans.filter((p) => p.slack?.channel === channel),
              insights: inputs.insights,
              now: now.toISOString(),
              weeks: DIGEST_WEEKS,
            }),
          );
          await time(2, () => renderDigestMarkdown(digest));
          const msg = await time(3, () => digestMessage(digest));
          const png = await time(4, () => renderDigestChart(digest));
          stages[5]!.ms.push(performance.now() - t0);
          await time(6, () => inputs.plans.map((p) => renderReport(p)));
          const reports = await time(7, () => inputs.plans.map((p) => finalReport(p)));
          if (rep === -1) {
            for (const s of stages) s.ms.length = 0;
            if (digest.plansInWeek !== plans)
              problems.add(`the digest saw ${digest.plansInWeek} plans, not ${plans}`);
            if (png.length < 1000) problems.add('the chart is not a PNG');
            process.stdout.write(
              `digest: ${msg.blocks.length} blocks, longest section ${Math.max(...(msg.blocks as Array<{ text?: { text: string } }>).map((b) => b.text?.text.length ?? 0))} characters; chart ${png.length} bytes; reports: at most ${Math.max(...reports.map((r) => r.blocks.length))} blocks\n`,
            );
          }
          for (const p of slackLimitProblems('digest', msg)) problems.add(p);
          for (const [i, r] of reports.entries())
            for (const p of slackLimitProblems(`report of ${inputs.plans[i]!.id}`, r)) problems.add(p);
        }
        for (const s of stages) process.stdout.write(`${summary(s)}\n`);
        const total = quantile(stages[5]!.ms, 0.5);
        const reports = quantile(stages[6]!.ms, 0.5) + quantile(stages[7]!.ms, 0.5);
        process.stdout.write(
          `\ndigest (load + compute + render) median ${fmt(total)}; plan reports median ${fmt(reports)}; budget ${BUDGET_MS} ms each\n`,
        );
        if (problems.size > 0) {
          process.stdout.write(`Slack limits exceeded:\n${[...problems].map((p) => `  ${p}`).join('\n')}\n`);
          process.exitCode = 1;
        } else
          process.stdout.write(
            'Every Block Kit message is within Slack limits (50 blocks, 3000 characters a section).\n',
          );
        if (total > BUDGET_MS || reports > BUDGET_MS) {
          process.stdout.write(`Over the ${BUDGET_MS} ms budget.\n`);
          process.exitCode = 1;
        }
      } finally {
        await store.close();
      }
    });
}

/** Attaches `digest` to the program's `bench` group, creating the group when no other bench command did. */
export function registerBenchDigest(program: Command): void {
  const bench =
    program.commands.find((c) => c.name() === 'bench') ??
    program.command('bench').description('measure rea on synthetic workloads');
  bench.addCommand(benchDigestCommand());
}
