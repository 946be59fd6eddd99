// Debug aid: runs one rea bench plan on a model directory and prints its decisions, its winner and what it
// spent. `npx tsx scripts/plan-trace.ts examples/ctr-model <seedBase> <budgetRuns> [cacheDir]`
import path from 'node:path';
import { runReaPlan } from '../src/bench/rea-strategy.ts';
import { CachedTrainer } from '../src/bench/trainer.ts';
import { loadModelOrExit, loadRunbooksOrExit } from '../src/cli/context.ts';
import { fullRunEquivalents } from '../src/core/decide.ts';

const [dir = 'examples/ctr-model', seed = '1', runs = '40', cache = '.rea/bench/cache'] =
  process.argv.slice(2);
const model = await loadModelOrExit(dir);
const runbooks = await loadRunbooksOrExit(model.dir);
const trainer = new CachedTrainer({
  model,
  cacheDir: path.resolve(cache),
  workDir: path.resolve('.rea/trace-work'),
  maxConcurrent: 2,
  useCache: true,
});
const { state } = await runReaPlan({
  model,
  trainer,
  runbooks,
  budgetGpuHours: Number(runs) * model.config.run.baseline_gpu_hours,
  seedBase: Number(seed),
  id: `trace-${seed}`,
});
await trainer.close();
for (const d of state.decisions) console.log(`[${d.step}] ${d.text}\n`);
console.log(state.status, state.finishedReason, state.pauseReason ?? '');
console.log('winner', JSON.stringify(state.winner ?? null));
console.log('spent full runs', fullRunEquivalents(state).toFixed(2), 'of', runs);
