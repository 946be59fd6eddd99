import type { Command } from 'commander';
import { loadModelDir } from '../config/load.ts';
import { fmtValue } from '../core/knobs.ts';

export function registerValidate(program: Command): void {
  program
    .command('validate')
    .description('check a model directory: .rea.yml and its baseline config')
    .option('--dir <dir>', 'model directory', '.')
    .action(async (opts: { dir: string }) => {
      const loaded = await loadModelDir(opts.dir);
      if (!loaded.ok) {
        process.stderr.write(`.rea.yml in ${opts.dir} is not valid:\n`);
        for (const p of loaded.problems) process.stderr.write(`  ${p.path}: ${p.message}\n`);
        process.exitCode = 1;
        return;
      }
      const { config, baseline } = loaded.value;
      const out = [
        `model ${config.model}${config.tags.length ? ` (tags: ${config.tags.join(', ')})` : ''}`,
        `metric ${config.metric.name}: ${config.metric.goal}, min effect ${config.metric.min_effect * 100}%`,
        `knobs (${Object.keys(config.knobs).length}):`,
        ...Object.entries(config.knobs).map(
          ([name, k]) => `  ${name.padEnd(18)} ${k.type.padEnd(6)} baseline ${fmtValue(baseline[name])}`,
        ),
        `budget ${config.budget.max_gpu_hours} GPU-h, at most ${config.budget.max_concurrent_runs} runs at once, $${config.run.usd_per_gpu_hour}/GPU-h`,
        'ok',
      ];
      process.stdout.write(`${out.join('\n')}\n`);
    });
}
