import path from 'node:path';
import type { Command } from 'commander';
import { buildInsightsView, renderInsightsText } from '../app/insights-view.ts';
import { loadModelOrExit, openContext } from './context.ts';

// `rea insights --dir DIR [text...]`: what earlier plans of the model in DIR found, searchable.

/** Enough for every change of a model at every fidelity; the view shows the top of each section. */
const SEARCH_LIMIT = 500;

export function registerInsights(program: Command): void {
  program
    .command('insights [text...]')
    .description(
      'what earlier plans found: wins with intervals, failures and why, null results, untried knobs',
    )
    .option('--dir <dir>', 'model directory (with .rea.yml)', '.')
    .option('--json', 'print JSON for scripts')
    .option('--all', 'list every item of each section (default: the top 10)')
    .action(async (words: string[], opts: { dir: string; json?: boolean; all?: boolean }) => {
      const dir = path.resolve(opts.dir);
      const model = await loadModelOrExit(dir);
      const { config, baseline } = model;
      const text = words.join(' ').trim();
      const ctx = await openContext();
      try {
        const [matched, all] = await Promise.all([
          ctx.store.searchInsights({ model: config.model, ...(text ? { text } : {}), limit: SEARCH_LIMIT }),
          ctx.store.listInsights(config.model, []),
        ]);
        const view = buildInsightsView({
          model: config.model,
          ...(text ? { text } : {}),
          metric: config.metric.name,
          baseline,
          matched,
          all: all.filter((r) => r.model === config.model),
          knobs: Object.keys(config.knobs),
        });
        if (opts.json) {
          process.stdout.write(`${JSON.stringify(view, null, 2)}\n`);
          return;
        }
        const out = renderInsightsText(view, opts.all ? { maxPerSection: Number.MAX_SAFE_INTEGER } : {});
        process.stdout.write(`${out}\n`);
      } finally {
        await ctx.close();
      }
    });
}
