import type { Command } from 'commander';
import { renderDigestMarkdown } from '../app/digest-render.ts';
import { DIGEST_WEEKS, loadDigestInputs } from '../app/digest-service.ts';
import { computeDigest, isValidTimeZone, weekBefore, weekContaining } from '../core/digest.ts';
import { loadModelOrExit, openContext, UsageError } from './context.ts';

// `rea digest --dir DIR`: the weekly digest of a model's local plans, in the terminal. The week is the current
// one so far (or the last complete one with --last), counted in REA_DIGEST_TZ (UTC by default).

export function registerDigest(program: Command): void {
  program
    .command('digest')
    .description("print this week's digest of a model's plans (wins, spend, dead ends, insights)")
    .option('--dir <dir>', 'model directory with .rea.yml', '.')
    .option('--last', 'the last complete week instead of the current one')
    .option('--tz <zone>', 'time zone the weeks are counted in (default REA_DIGEST_TZ or UTC)')
    .option('--json', 'print the digest as JSON for scripts')
    .action(async (opts: { dir: string; last?: boolean; tz?: string; json?: boolean }) => {
      const timeZone = opts.tz ?? process.env.REA_DIGEST_TZ ?? 'UTC';
      if (!isValidTimeZone(timeZone))
        throw new UsageError(`'${timeZone}' is not a time zone (use an IANA name such as Europe/Paris)`);
      const model = await loadModelOrExit(opts.dir);
      const name = model.config.model;
      const ctx = await openContext();
      try {
        const now = new Date();
        const current = weekContaining(now.getTime(), timeZone);
        const week = opts.last ? weekBefore(current, 1) : current;
        const inputs = await loadDigestInputs(ctx.store, week);
        const digest = computeDigest({
          channel: name,
          week,
          plans: inputs.plans.filter((p) => p.spec.model === name),
          insights: inputs.insights.filter((r) => r.model === name),
          now: now.toISOString(),
          weeks: DIGEST_WEEKS,
        });
        process.stdout.write(
          opts.json ? `${JSON.stringify(digest, null, 2)}\n` : renderDigestMarkdown(digest),
        );
      } finally {
        await ctx.close();
      }
    });
}
