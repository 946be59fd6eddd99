/**
 * Training job entry point: `node --import tsx train.ts` (cwd = examples/ctr-model).
 *
 * Reads the rea run contract from the environment (REA_RUN_ID, REA_OVERRIDES, REA_FIDELITY, REA_SEED,
 * REA_OUTPUT_DIR), applies the overrides to configs/baseline.yaml, trains, and writes
 * $REA_OUTPUT_DIR/metrics.json as {"metrics": {"ne", "auc", "qps"}, "steps"}.
 *
 * Exit codes: 0 success; 1 the job failed (CUDA out of memory, non-finite loss, unexpected error);
 * 2 bad configuration (unknown knob, wrong type, bad REA_* value).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { applyOverrides, ConfigError, loadConfigFile, parseRunEnv } from './src/config.ts';
import { TRAIN_ROWS, trainingRows } from './src/data.ts';
import { CudaOutOfMemoryError, FloatingPointError, type ModelConfig, train } from './src/model.ts';

const here = path.dirname(fileURLToPath(import.meta.url));

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

function describeModel(cfg: ModelConfig): string {
  const buckets = 2 ** cfg.hash_bits;
  const params = buckets * (1 + (cfg.feature_crosses ? cfg.embedding_dim : 0));
  const crosses = cfg.feature_crosses ? ` + FM crosses (dim ${cfg.embedding_dim})` : '';
  return `hashed LR (${buckets} buckets)${crosses}, ${params} sparse parameters, optimizer ${cfg.optimizer}`;
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
  console.log(`data: ${trainingRows(run.fidelity)} of ${TRAIN_ROWS} training rows`);
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

  const { ne, auc, qps } = result.metrics;
  console.log(`eval ne ${ne.toFixed(4)} auc ${auc.toFixed(4)} qps ${qps}`);
  const out = path.resolve(run.outputDir);
  mkdirSync(out, { recursive: true });
  const metrics = { metrics: { ne: round(ne, 6), auc: round(auc, 6), qps }, steps: result.steps };
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
