/**
 * Hashed logistic regression with optional factorization-machine (FM) second-order crosses, trained by
 * mini-batch SGD, Adagrad or Adam on the synthetic click log, evaluated by normalized entropy and AUC.
 *
 *   logit(x) = b + sum_d u_d * dense_d + sum_f w[h(f, x_f)]
 *              + (crosses ? sum_{f<g} <v[h(f, x_f)], v[h(g, x_g)]> : 0)
 *
 * h() hashes (field, value) into 2^hash_bits buckets. Everything is typed arrays; the training loop
 * allocates nothing per example. Like a GPU job, parameters and predictions are float32, and the
 * training loss is the textbook binary cross-entropy on float32 probabilities, so a diverging run really
 * produces an inf/NaN loss instead of being silently rescued.
 */
import {
  type ClickLog,
  featureHash,
  holdoutSet,
  NUM_DENSE,
  NUM_SPARSE,
  SPARSE_FIELDS,
  trainingSet,
} from './data.ts';
import { hash2, Rng } from './rng.ts';

export const OPTIMIZERS = ['sgd', 'adagrad', 'adam'] as const;
export type OptimizerName = (typeof OPTIMIZERS)[number];

/** One value per knob of .rea.yml. */
export interface ModelConfig {
  learning_rate: number;
  l2: number;
  embedding_dim: number;
  optimizer: OptimizerName;
  batch_size: number;
  epochs: number;
  feature_crosses: boolean;
  hash_bits: number;
}

export interface Metrics {
  /** Normalized entropy on the holdout: mean log loss / entropy of the holdout base CTR. Lower is better. */
  ne: number;
  /** Area under the ROC curve on the holdout. */
  auc: number;
  /** Deterministic pseudo serving throughput (queries per second per replica). */
  qps: number;
}

export interface TrainResult {
  metrics: Metrics;
  /** Number of optimizer steps (mini-batches) taken. */
  steps: number;
  /** Number of training rows used (depends on the fidelity). */
  trainRows: number;
}

export interface TrainOptions {
  /** Fraction of the training log to use, in (0, 1]. Default 1. */
  fidelity?: number;
  /** Changes the training sample, its order and the initialisation; never the world or the holdout. */
  seed?: number;
  /** Called every `logEvery` steps and after the last step with the mean training loss since the last call. */
  onProgress?: (step: number, loss: number) => void;
  logEvery?: number;
}

// ---------------------------------------------------------------------------------------------------
// Failure modes

/** Thrown when the simulated GPU memory rule is exceeded; the message mimics PyTorch's. */
export class CudaOutOfMemoryError extends Error {
  readonly triedGiB: number;
  readonly allocatedGiB: number;

  constructor(triedGiB: number, allocatedGiB: number) {
    const free = Math.max(0, GPU_CAPACITY_GIB - allocatedGiB - CACHING_ALLOCATOR_SLACK_GIB);
    super(
      `CUDA out of memory. Tried to allocate ${triedGiB.toFixed(2)} GiB ` +
        `(GPU 0; ${GPU_CAPACITY_GIB.toFixed(2)} GiB total capacity; ${allocatedGiB.toFixed(2)} GiB already allocated; ` +
        `${free.toFixed(2)} GiB free; ${(allocatedGiB + CACHING_ALLOCATOR_SLACK_GIB).toFixed(2)} GiB reserved in total by PyTorch)`,
    );
    this.name = 'RuntimeError';
    this.triedGiB = triedGiB;
    this.allocatedGiB = allocatedGiB;
  }
}

/** Thrown when the training loss stops being a finite number. */
export class FloatingPointError extends Error {
  readonly step: number;

  constructor(step: number, loss: number) {
    super(`loss is ${Number.isNaN(loss) ? 'nan' : 'inf'} at step ${step}`);
    this.name = 'FloatingPointError';
    this.step = step;
  }
}

// ---------------------------------------------------------------------------------------------------
// Simulated GPU memory and serving cost

export const GPU_CAPACITY_GIB = 15.78;
const CUDA_CONTEXT_GIB = 1.05;
const CACHING_ALLOCATOR_SLACK_GIB = 0.24;
/** Activation memory per example of the (pretend production-sized) model, in MiB. */
const ACTIVATION_MIB_PER_EXAMPLE = 4;
const CROSS_ACTIVATION_MIB_PER_EXAMPLE_PER_DIM = 0.05;
/** The pretend production embedding tables are this many times larger than the toy ones. */
const PARAMETER_SCALE = 16;
const ACTIVATION_CHUNKS = 4;
const GIB = 1024 ** 3;

export interface GpuMemoryEstimate {
  contextGiB: number;
  /** Parameters + gradients + optimizer state. */
  parametersGiB: number;
  activationsGiB: number;
  totalGiB: number;
  capacityGiB: number;
  fits: boolean;
}

function optimizerSlots(optimizer: OptimizerName): number {
  return optimizer === 'sgd' ? 0 : optimizer === 'adagrad' ? 1 : 2;
}

/**
 * The memory rule (GiB, 15.78 GiB capacity):
 *   context     = 1.05
 *   parameters  = 16 * 4 B * 2^hash_bits * (1 + (crosses ? embedding_dim : 0)) * (2 + optimizer slots)
 *                 (weights + gradients + 0/1/2 state slots for sgd/adagrad/adam)
 *   activations = batch_size * (4 MiB + (crosses ? 0.05 MiB * embedding_dim : 0))
 */
export function estimateGpuMemory(cfg: ModelConfig): GpuMemoryEstimate {
  const width = 1 + (cfg.feature_crosses ? cfg.embedding_dim : 0);
  const parametersGiB =
    (PARAMETER_SCALE * 4 * 2 ** cfg.hash_bits * width * (2 + optimizerSlots(cfg.optimizer))) / GIB;
  const perExampleMiB =
    ACTIVATION_MIB_PER_EXAMPLE +
    (cfg.feature_crosses ? CROSS_ACTIVATION_MIB_PER_EXAMPLE_PER_DIM * cfg.embedding_dim : 0);
  const activationsGiB = (cfg.batch_size * perExampleMiB) / 1024;
  const totalGiB = CUDA_CONTEXT_GIB + parametersGiB + activationsGiB;
  return {
    contextGiB: CUDA_CONTEXT_GIB,
    parametersGiB,
    activationsGiB,
    totalGiB,
    capacityGiB: GPU_CAPACITY_GIB,
    fits: totalGiB <= GPU_CAPACITY_GIB,
  };
}

/** Throws CudaOutOfMemoryError at the allocation that would exceed the simulated GPU's capacity. */
export function checkGpuMemory(cfg: ModelConfig): GpuMemoryEstimate {
  const m = estimateGpuMemory(cfg);
  if (m.fits) return m;
  let allocated = m.contextGiB;
  if (allocated + m.parametersGiB > GPU_CAPACITY_GIB)
    throw new CudaOutOfMemoryError(m.parametersGiB, allocated);
  allocated += m.parametersGiB;
  const chunk = m.activationsGiB / ACTIVATION_CHUNKS;
  while (allocated + chunk <= GPU_CAPACITY_GIB) allocated += chunk;
  throw new CudaOutOfMemoryError(chunk, allocated);
}

/**
 * Pseudo serving throughput: 1500 QPS for a plain hashed LR with 2^14 buckets; FM crosses cost
 * O(fields * embedding_dim) per request and larger hash tables cost cache misses.
 */
export function servingQps(cfg: ModelConfig): number {
  const compute = 1 + (cfg.feature_crosses ? 0.05 + 0.0075 * cfg.embedding_dim : 0);
  const memory = 1 + 0.01 * Math.max(0, cfg.hash_bits - 12);
  return Math.round(1500 / (compute * memory));
}

// ---------------------------------------------------------------------------------------------------
// Feature hashing

let fieldHashes: Uint32Array[] | undefined;

/** Bucket ids (0 .. 2^bits-1) of every (row, sparse field) of a click log. */
export function hashFeatures(log: ClickLog, bits: number): Int32Array {
  fieldHashes ??= SPARSE_FIELDS.map((f, fi) => {
    const t = new Uint32Array(f.cardinality);
    for (let v = 0; v < f.cardinality; v++) t[v] = featureHash(fi, v);
    return t;
  });
  const tables = fieldHashes;
  const shift = 32 - bits;
  const out = new Int32Array(log.n * NUM_SPARSE);
  for (let r = 0; r < log.n; r++) {
    const o = r * NUM_SPARSE;
    for (let f = 0; f < NUM_SPARSE; f++) out[o + f] = tables[f]![log.sparse[o + f]!]! >>> shift;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------
// The model

const ADAM_BETA1 = 0.9;
const ADAM_BETA2 = 0.999;
const ADAM_EPS = 1e-8;
const ADAGRAD_EPS = 1e-10;
/** As TensorFlow's Adagrad default. */
const ADAGRAD_INITIAL_ACCUMULATOR = 0.1;
const EMBEDDING_INIT_SD = 0.05;
/**
 * The gradient of a batch is its mean per-example gradient times REFERENCE_BATCH, i.e. learning rates are
 * quoted for the summed loss of a 256-example reference batch (a fixed loss normaliser). Plain SGD is
 * therefore stable only below a learning rate of about 0.15-0.2 (about 0.05 with FM crosses).
 */
const REFERENCE_BATCH = 256;

/** Trained parameters. Embedding rows that were never touched in training stay all-zero. */
export class FmModel {
  readonly bits: number;
  readonly k: number;
  readonly crosses: boolean;
  readonly w: Float32Array;
  readonly v: Float32Array;
  /** Dense feature weights followed by the bias (index NUM_DENSE). */
  readonly denseW = new Float32Array(NUM_DENSE + 1);

  constructor(cfg: ModelConfig) {
    this.bits = cfg.hash_bits;
    this.crosses = cfg.feature_crosses;
    this.k = cfg.feature_crosses ? cfg.embedding_dim : 0;
    const size = 2 ** cfg.hash_bits;
    this.w = new Float32Array(size);
    this.v = new Float32Array(size * this.k);
  }

  /** Logits (float64) for every row of a click log. */
  predictLogits(log: ClickLog): Float64Array {
    const idx = hashFeatures(log, this.bits);
    const out = new Float64Array(log.n);
    const { w, v, k, denseW } = this;
    const s = new Float64Array(k);
    for (let r = 0; r < log.n; r++) {
      const o = r * NUM_SPARSE;
      let z = denseW[NUM_DENSE]!;
      for (let d = 0; d < NUM_DENSE; d++) z += denseW[d]! * log.dense[r * NUM_DENSE + d]!;
      for (let f = 0; f < NUM_SPARSE; f++) z += w[idx[o + f]!]!;
      if (k > 0) {
        s.fill(0);
        let sq = 0;
        for (let f = 0; f < NUM_SPARSE; f++) {
          const base = idx[o + f]! * k;
          for (let j = 0; j < k; j++) {
            const x = v[base + j]!;
            s[j]! += x;
            sq += x * x;
          }
        }
        let ss = 0;
        for (let j = 0; j < k; j++) ss += s[j]! * s[j]!;
        z += 0.5 * (ss - sq);
      }
      out[r] = z;
    }
    return out;
  }
}

/** log(1 + exp(x)) without overflow. */
function softplus(x: number): number {
  return x > 0 ? x + Math.log1p(Math.exp(-x)) : Math.log1p(Math.exp(x));
}

/** Normalized entropy and AUC of logits against labels. */
export function evaluateLogits(logits: Float64Array, labels: Uint8Array): { ne: number; auc: number } {
  const n = labels.length;
  let positives = 0;
  let logLoss = 0;
  for (let i = 0; i < n; i++) {
    const z = logits[i]!;
    if (labels[i]) {
      positives++;
      logLoss += softplus(-z);
    } else {
      logLoss += softplus(z);
    }
  }
  const ctr = positives / n;
  const entropy = -(ctr * Math.log(ctr) + (1 - ctr) * Math.log(1 - ctr));
  const ne = logLoss / n / entropy;

  // AUC = Mann-Whitney U with average ranks for ties.
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  order.sort((a, b) => logits[a]! - logits[b]!);
  let rankSumPos = 0;
  let i = 0;
  while (i < n) {
    let j = i + 1;
    while (j < n && logits[order[j]!] === logits[order[i]!]) j++;
    const avgRank = (i + 1 + j) / 2; // ranks i+1 .. j
    for (let t = i; t < j; t++) if (labels[order[t]!]) rankSumPos += avgRank;
    i = j;
  }
  const negatives = n - positives;
  const auc = (rankSumPos - (positives * (positives + 1)) / 2) / (positives * negatives);
  return { ne, auc };
}

export function evaluate(model: FmModel, log: ClickLog): { ne: number; auc: number } {
  return evaluateLogits(model.predictLogits(log), log.labels);
}

/**
 * Trains `cfg` on the (fidelity, seed) training sample and evaluates it on the fixed holdout.
 * Throws CudaOutOfMemoryError if the config does not fit the simulated GPU, FloatingPointError if the
 * training loss becomes non-finite.
 */
export function train(cfg: ModelConfig, opts: TrainOptions = {}): TrainResult {
  const fidelity = opts.fidelity ?? 1;
  const seed = opts.seed ?? 0;
  const data = trainingSet(fidelity, seed);
  const model = fitModel(cfg, data, seed, opts);
  const { ne, auc } = evaluate(model.model, holdoutSet());
  return { metrics: { ne, auc, qps: servingQps(cfg) }, steps: model.steps, trainRows: data.n };
}

/** Mini-batch training of a fresh model on `data`; the batch order of epochs after the first depends on seed. */
export function fitModel(
  cfg: ModelConfig,
  data: ClickLog,
  seed: number,
  opts: Pick<TrainOptions, 'onProgress' | 'logEvery'> = {},
): { model: FmModel; steps: number } {
  checkGpuMemory(cfg); // before allocating anything, exactly like the first CUDA allocation failing

  const model = new FmModel(cfg);
  const { w, v, k, denseW } = model;
  const crosses = k > 0;
  const size = w.length;
  const F = NUM_SPARSE;
  const D = NUM_DENSE;
  const B = cfg.batch_size;
  let lr = cfg.learning_rate;
  const l2 = cfg.l2;
  const opt = cfg.optimizer === 'sgd' ? 0 : cfg.optimizer === 'adagrad' ? 1 : 2;
  const logEvery = opts.logEvery ?? 50;

  const idx = hashFeatures(data, cfg.hash_bits);
  const labels = data.labels;
  const dense = data.dense;
  const n = data.n;
  const totalSteps = cfg.epochs * Math.ceil(n / B);

  // Gradient accumulators and bookkeeping (allocated once).
  const gw = new Float32Array(size);
  const gv = new Float32Array(size * k);
  const gd = new Float64Array(D + 1); // dense weights + bias
  const mark = new Uint8Array(size);
  const touched = new Int32Array(Math.min(size, B * F));
  const initialised = new Uint8Array(crosses ? size : 0);
  const s = new Float64Array(k);
  const preds = new Float32Array(B);
  // Optimizer state: adagrad uses slot 1 (sum of squared gradients); adam uses slots 1 (m) and 2 (v).
  const sw1 = new Float32Array(opt >= 1 ? size : 0).fill(opt === 1 ? ADAGRAD_INITIAL_ACCUMULATOR : 0);
  const sw2 = new Float32Array(opt === 2 ? size : 0);
  const sv1 = new Float32Array(opt >= 1 ? size * k : 0).fill(opt === 1 ? ADAGRAD_INITIAL_ACCUMULATOR : 0);
  const sv2 = new Float32Array(opt === 2 ? size * k : 0);
  const sd1 = new Float32Array(D + 1).fill(opt === 1 ? ADAGRAD_INITIAL_ACCUMULATOR : 0);
  const sd2 = new Float32Array(D + 1);

  const initRng = new Rng(0);
  const initSeed = hash2(seed, 0xe1b);
  const initScale = EMBEDDING_INIT_SD * Math.sqrt(12);
  const shuffleRng = new Rng(hash2(seed, 0x5bf));
  const order = new Int32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;

  // Start the bias at the log-odds of the training CTR.
  let clicks = 0;
  for (let i = 0; i < n; i++) clicks += labels[i]!;
  const prior = Math.min(Math.max(clicks / n, 1e-4), 1 - 1e-4);
  denseW[D] = Math.log(prior / (1 - prior));

  let step = 0;
  let lossSum = 0;
  let lossCount = 0;
  let bc1 = 1;
  let bc2 = 1;

  // One optimizer update of parameter p[i] with gradient g; a[]/b[] are its optimizer state slots.
  const update = (p: Float32Array, a: Float32Array, b: Float32Array, i: number, g: number): void => {
    if (opt === 0) {
      p[i]! -= lr * g;
    } else if (opt === 1) {
      const acc = a[i]! + g * g;
      a[i] = acc;
      p[i]! -= (lr * g) / (Math.sqrt(acc) + ADAGRAD_EPS);
    } else {
      const m = ADAM_BETA1 * a[i]! + (1 - ADAM_BETA1) * g;
      const vv = ADAM_BETA2 * b[i]! + (1 - ADAM_BETA2) * g * g;
      a[i] = m;
      b[i] = vv;
      p[i]! -= (lr * (m / bc1)) / (Math.sqrt(vv / bc2) + ADAM_EPS);
    }
  };

  for (let epoch = 0; epoch < cfg.epochs; epoch++) {
    if (epoch > 0) {
      for (let i = n - 1; i > 0; i--) {
        const j = shuffleRng.int(i + 1);
        const t = order[i]!;
        order[i] = order[j]!;
        order[j] = t;
      }
    }
    for (let start = 0; start < n; start += B) {
      const bs = Math.min(B, n - start);
      let nt = 0;
      gd.fill(0);

      // Forward + backward with the parameters as of the start of the batch.
      for (let e = 0; e < bs; e++) {
        const r = order[start + e]!;
        const o = r * F;
        let z = denseW[D]!;
        for (let d = 0; d < D; d++) z += denseW[d]! * dense[r * D + d]!;
        for (let f = 0; f < F; f++) z += w[idx[o + f]!]!;
        if (crosses) {
          s.fill(0);
          let sq = 0;
          for (let f = 0; f < F; f++) {
            const i = idx[o + f]!;
            const base = i * k;
            if (initialised[i] === 0) {
              initialised[i] = 1;
              initRng.reseed(hash2(initSeed, i));
              for (let j = 0; j < k; j++) v[base + j] = (initRng.float() - 0.5) * initScale;
            }
            for (let j = 0; j < k; j++) {
              const x = v[base + j]!;
              s[j]! += x;
              sq += x * x;
            }
          }
          let ss = 0;
          for (let j = 0; j < k; j++) ss += s[j]! * s[j]!;
          z += 0.5 * (ss - sq);
        }
        preds[e] = 1 / (1 + Math.exp(-z));
        const g = preds[e]! - labels[r]!;
        for (let d = 0; d < D; d++) gd[d]! += g * dense[r * D + d]!;
        gd[D]! += g;
        for (let f = 0; f < F; f++) {
          const i = idx[o + f]!;
          if (mark[i] === 0) {
            mark[i] = 1;
            touched[nt++] = i;
          }
          gw[i]! += g + l2 * w[i]!;
          if (crosses) {
            const base = i * k;
            for (let j = 0; j < k; j++) {
              const x = v[base + j]!;
              gv[base + j]! += g * (s[j]! - x) + l2 * x;
            }
          }
        }
      }

      // Textbook binary cross-entropy on the float32 probabilities.
      let batchLoss = 0;
      for (let e = 0; e < bs; e++) {
        const y = labels[order[start + e]!]!;
        const p = preds[e]!;
        batchLoss -= y * Math.log(p) + (1 - y) * Math.log(1 - p);
      }
      batchLoss /= bs;
      step++;
      if (!Number.isFinite(batchLoss)) throw new FloatingPointError(step, batchLoss);
      lossSum += batchLoss;
      lossCount++;

      // Optimizer step.
      const scale = REFERENCE_BATCH / bs;
      // Linear decay of the learning rate to zero over the run.
      lr = cfg.learning_rate * (1 - (step - 1) / totalSteps);
      if (opt === 2) {
        bc1 = 1 - ADAM_BETA1 ** step;
        bc2 = 1 - ADAM_BETA2 ** step;
      }
      for (let d = 0; d <= D; d++) update(denseW, sd1, sd2, d, gd[d]! * scale);
      for (let t = 0; t < nt; t++) {
        const i = touched[t]!;
        update(w, sw1, sw2, i, gw[i]! * scale);
        gw[i] = 0;
        mark[i] = 0;
        if (crosses) {
          const base = i * k;
          for (let j = 0; j < k; j++) {
            update(v, sv1, sv2, base + j, gv[base + j]! * scale);
            gv[base + j] = 0;
          }
        }
      }

      if (opts.onProgress && step % logEvery === 0) {
        opts.onProgress(step, lossSum / lossCount);
        lossSum = 0;
        lossCount = 0;
      }
    }
  }
  if (opts.onProgress && lossCount > 0) opts.onProgress(step, lossSum / lossCount);
  return { model, steps: step };
}
