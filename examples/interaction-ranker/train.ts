/**
 * Training job entry point: `node --import tsx train.ts` (cwd = examples/interaction-ranker).
 *
 * Reads the rea run contract from the environment (REA_RUN_ID, REA_OVERRIDES, REA_FIDELITY, REA_SEED,
 * REA_OUTPUT_DIR), applies the overrides to configs/baseline.yaml, trains, and writes
 * $REA_OUTPUT_DIR/metrics.json as {"metrics": {"ndcg", "pair_accuracy"}, "steps"}.
 *
 * Exit codes: 0 success; 1 the job failed (CUDA out of memory, non-finite loss, unexpected error);
 * 2 bad configuration (unknown knob, wrong type, bad REA_* value).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { applyOverrides, ConfigError, loadConfigFile, parseRunEnv } from './src/config.ts';
import { CATALOG_ITEMS, SLATE, TRAIN_QUERIES, trainingQueries } from './src/data.ts';
import {
  CudaOutOfMemoryError,
  FloatingPointError,
  inputWidth,
  type ModelConfig,
  train,
} from './src/model.ts';

const here = path.dirname(fileURLToPath(import.meta.url));

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

function describeModel(cfg: ModelConfig): string {
  const d = inputWidth(cfg);
  const params = cfg.hidden_units * (d + 2) + 1 + CATALOG_ITEMS;
  const crosses = cfg.cross_features ? ' with query x item crosses' : '';
  return `MLP ${d}-${cfg.hidden_units}-1${crosses} + item bias, ${params} parameters, ${cfg.loss} loss`;
}

function main(): number {
  const started = performance.now();
  let cfg: ModelConfig;
  let run: ReturnType<typeof parseRunEnv>;
  try {
    run = parseRunEnv(process.env);
    cfg = applyOverrides(loadConfigFile(path.join(here, 'configs', 'baseline.yaml')), run.overrides);
  } catch (e) {
    if (e instanceof ConfigError) {
      console.error(`ConfigError: ${e.message}`);
      return 2;
    }
    throw e;
  }

  console.log(`run ${run.runId}: fidelity ${run.fidelity}, seed ${run.seed}`);
  console.log(`config ${JSON.stringify(cfg)}`);
  console.log(
    `data: ${trainingQueries(run.fidelity)} of ${TRAIN_QUERIES} training queries, ${SLATE} candidates each`,
  );
  console.log(`model: ${describeModel(cfg)}`);

  let result: ReturnType<typeof train>;
  try {
    result = train(cfg, {
      fidelity: run.fidelity,
      seed: run.seed,
      onProgress: (step, loss) => console.log(`step ${step} loss ${loss.toFixed(4)}`),
    });
  } catch (e) {
    if (e instanceof CudaOutOfMemoryError || e instanceof FloatingPointError) {
      console.error(`${e.name}: ${e.message}`);
      return 1;
    }
    throw e;
  }

  const { ndcg, pair_accuracy } = result.metrics;
  console.log(`eval ndcg@10 ${ndcg.toFixed(4)} pair_accuracy ${pair_accuracy.toFixed(4)}`);
  const out = path.resolve(run.outputDir);
  mkdirSync(out, { recursive: true });
  const metrics = {
    metrics: { ndcg: round(ndcg, 6), pair_accuracy: round(pair_accuracy, 6) },
    steps: result.steps,
  };
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
