/**
 * Training job entry point: `node --import tsx train.ts` (cwd = examples/mlp-regression).
 *
 * Reads the rea run contract from the environment (REA_RUN_ID, REA_OVERRIDES, REA_FIDELITY, REA_SEED,
 * REA_OUTPUT_DIR), applies the overrides to configs/baseline.yaml, trains, and writes
 * $REA_OUTPUT_DIR/metrics.json as {"metrics": {"r2", "rmse"}, "steps"}.
 *
 * Exit codes: 0 success; 1 the job failed (diverged, unexpected error); 2 bad configuration.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError, loadConfigFile, parseRunEnv } from './src/config.ts';
import { DivergedError, TRAIN_ROWS, train, trainingRows } from './src/model.ts';

const here = path.dirname(fileURLToPath(import.meta.url));

function main(): number {
  const started = performance.now();
  let run: ReturnType<typeof parseRunEnv>;
  let cfg: ReturnType<typeof loadConfigFile>;
  try {
    run = parseRunEnv(process.env);
    cfg = { ...loadConfigFile(path.join(here, 'configs', 'baseline.yaml')), ...run.overrides };
  } catch (e) {
    if (e instanceof ConfigError) {
      console.error(`ConfigError: ${e.message}`);
      return 2;
    }
    throw e;
  }
  console.log(`run ${run.runId}: fidelity ${run.fidelity}, seed ${run.seed}`);
  console.log(`config ${JSON.stringify(cfg)}`);
  console.log(`data: ${trainingRows(run.fidelity)} of ${TRAIN_ROWS} training rows`);
  let result: ReturnType<typeof train>;
  try {
    result = train(cfg, { fidelity: run.fidelity, seed: run.seed });
  } catch (e) {
    if (e instanceof DivergedError) {
      console.error(`${e.name}: ${e.message}`);
      return 1;
    }
    throw e;
  }
  const { r2, rmse } = result.metrics;
  console.log(`eval r2 ${r2.toFixed(4)} rmse ${rmse.toFixed(4)}`);
  const out = path.resolve(run.outputDir);
  mkdirSync(out, { recursive: true });
  const round = (x: number) => Math.round(x * 1e6) / 1e6;
  const metrics = { metrics: { r2: round(r2), rmse: round(rmse) }, steps: result.steps };
  writeFileSync(path.join(out, 'metrics.json'), `${JSON.stringify(metrics)}\n`);
  console.log(
    `wrote ${path.join(out, 'metrics.json')} (${((performance.now() - started) / 1000).toFixed(2)} s)`,
  );
  return 0;
}

try {
  process.exitCode = main();
} catch (e) {
  console.error(e instanceof Error ? (e.stack ?? `${e.name}: ${e.message}`) : String(e));
  process.exitCode = 1;
}
