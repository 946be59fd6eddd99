import { Command } from 'commander';
import { registerBench } from './bench.ts';
import { registerBenchDigest } from './bench-digest.ts';
import { UsageError } from './context.ts';
import { registerDemo } from './demo.ts';
import { registerDigest } from './digest.ts';
import { registerInsights } from './insights.ts';
import { registerPlan } from './plan.ts';
import { registerRun } from './run.ts';
import { registerRunbooks } from './runbooks.ts';
import { registerServe } from './serve.ts';
import { registerStatus } from './status.ts';
import { registerValidate } from './validate.ts';

// The `rea` command line: one file per command, each exporting register<Name>(program).
const program = new Command();
program.name('rea').description('Autonomous ML experimentation agent').showHelpAfterError();
registerDemo(program);
registerRun(program);
registerPlan(program);
registerStatus(program);
registerValidate(program);
registerRunbooks(program);
registerServe(program);
registerDigest(program);
registerBench(program);
registerBenchDigest(program);
registerInsights(program);

program.parseAsync(process.argv).catch((err: unknown) => {
  if (err instanceof UsageError) {
    process.stderr.write(`rea: ${err.message}\n`);
    process.exit(2);
  }
  process.stderr.write(`rea: ${err instanceof Error ? err.message : String(err)}\n`);
  if (process.env.LOG_LEVEL === 'debug' && err instanceof Error) process.stderr.write(`${err.stack}\n`);
  process.exit(1);
});
