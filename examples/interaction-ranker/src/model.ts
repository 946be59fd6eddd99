/**
 * A small neural ranker: a one-hidden-layer ReLU MLP over [query features, item features,
 * (cross_features ? query x item products : nothing)] plus a per-item bias, trained with Adam on a
 * pointwise (sigmoid cross-entropy on relevance / 3) or pairwise (RankNet) loss, evaluated by NDCG@10 on
 * the fixed holdout queries.
 *
 *   score(q, j) = b2 + w2 . relu(W1 x(q, j) + b1) + itemBias[j]
 *
 * Like a GPU job, parameters are float32 and the losses are the textbook formulas on float32
 * probabilities, so a run that blows up really produces a NaN/inf loss instead of being silently rescued.
 */
import {
  holdoutSet,
  ITEM_FEATURES,
  itemFeatures,
  MAX_RELEVANCE,
  QUERY_FEATURES,
  type QuerySet,
  SLATE,
  trainingSet,
} from './data.ts';
import { hash2, Rng } from './rng.ts';

export const LOSSES = ['pointwise', 'pairwise'] as const;
export type LossName = (typeof LOSSES)[number];

/** One value per knob of .rea.yml. */
export interface ModelConfig {
  learning_rate: number;
  warmup: boolean;
  hidden_units: number;
  batch_size: number;
  weight_decay: number;
  loss: LossName;
  cross_features: boolean;
}

export interface Metrics {
  /** Mean NDCG@10 over the holdout queries that have a relevant candidate. Higher is better. */
  ndcg: number;
  /** Fraction of holdout candidate pairs with different labels that the model orders correctly. */
  pair_accuracy: number;
}

export interface TrainResult {
  metrics: Metrics;
  steps: number;
  trainQueries: number;
}

export interface TrainOptions {
  fidelity?: number;
  seed?: number;
  onProgress?: (step: number, loss: number) => void;
  logEvery?: number;
}

/** Passes over the training queries. */
export const EPOCHS = 3;
/** Fraction of the run spent warming the learning rate up linearly from zero, when warmup is on. */
export const WARMUP_FRACTION = 0.2;
const ADAM_BETA1 = 0.9;
const ADAM_BETA2 = 0.999;
const ADAM_EPS = 1e-8;
const NDCG_AT = 10;

// ---------------------------------------------------------------------------------------------------
// Failure modes

export const GPU_CAPACITY_GIB = 15.78;
const CUDA_CONTEXT_GIB = 1.05;
const CACHING_ALLOCATOR_SLACK_GIB = 0.24;
/** Activation memory per (example, hidden unit) of the pretend production-sized model, in MiB. */
const ACTIVATION_MIB_PER_UNIT = 0.14;
/** RankNet keeps a slate x slate matrix of pair terms per query. */
const PAIRWISE_ACTIVATION_FACTOR = 1.3;
/** Parameters + gradients + two Adam slots of the pretend production model (embedding tables). */
const PARAMETERS_GIB = 1.6;
const ACTIVATION_CHUNKS = 4;

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
    this.name = 'RuntimeError'; // what PyTorch raises it as
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

export interface GpuMemoryEstimate {
  contextGiB: number;
  parametersGiB: number;
  activationsGiB: number;
  totalGiB: number;
  capacityGiB: number;
  fits: boolean;
}

/**
 * The memory rule (GiB): 1.05 context + 1.6 parameters and optimizer state
 * + batch_size * hidden_units * 0.14 MiB (x 1.3 for the pairwise loss) of activations.
 */
export function estimateGpuMemory(cfg: ModelConfig): GpuMemoryEstimate {
  const factor = cfg.loss === 'pairwise' ? PAIRWISE_ACTIVATION_FACTOR : 1;
  const activationsGiB = (cfg.batch_size * cfg.hidden_units * ACTIVATION_MIB_PER_UNIT * factor) / 1024;
  const totalGiB = CUDA_CONTEXT_GIB + PARAMETERS_GIB + activationsGiB;
  return {
    contextGiB: CUDA_CONTEXT_GIB,
    parametersGiB: PARAMETERS_GIB,
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
  let allocated = m.contextGiB + m.parametersGiB;
  const chunk = m.activationsGiB / ACTIVATION_CHUNKS;
  while (allocated + chunk <= GPU_CAPACITY_GIB) allocated += chunk;
  throw new CudaOutOfMemoryError(chunk, allocated);
}

// ---------------------------------------------------------------------------------------------------
// Features

/** Width of the first layer's input: query features, item features and (optionally) their products. */
export function inputWidth(cfg: Pick<ModelConfig, 'cross_features'>): number {
  return QUERY_FEATURES + ITEM_FEATURES + (cfg.cross_features ? ITEM_FEATURES : 0);
}

/**
 * The per-candidate part of the input rows (queries * SLATE x (inputWidth - QUERY_FEATURES)): item
 * features, then the query x item products. The query part is shared by the slate and kept apart, so
 * that the first layer's query half is computed once per query instead of once per candidate.
 */
export function candidateInputs(set: QuerySet, crosses: boolean): Float32Array {
  const DC = inputWidth({ cross_features: crosses }) - QUERY_FEATURES;
  const vf = itemFeatures();
  const out = new Float32Array(set.queries * SLATE * DC);
  for (let k = 0; k < set.queries; k++) {
    const q0 = k * QUERY_FEATURES;
    for (let c = 0; c < SLATE; c++) {
      const o = (k * SLATE + c) * DC;
      const v0 = set.items[k * SLATE + c]! * ITEM_FEATURES;
      for (let d = 0; d < ITEM_FEATURES; d++) out[o + d] = vf[v0 + d]!;
      if (crosses) {
        for (let d = 0; d < ITEM_FEATURES; d++)
          out[o + ITEM_FEATURES + d] = set.queryFeatures[q0 + d]! * vf[v0 + d]!;
      }
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------
// The model

/**
 * Parameters in one flat array: W1 (H x D, each row [query | item | crosses]) | b1 (H) | w2 (H) | b2 (1)
 * | itemBias (catalog).
 */
export class Ranker {
  readonly hidden: number;
  readonly inputs: number;
  readonly params: Float32Array;
  readonly offB1: number;
  readonly offW2: number;
  readonly offB2: number;
  readonly offItem: number;

  constructor(hidden: number, inputs: number, catalog: number) {
    this.hidden = hidden;
    this.inputs = inputs;
    this.offB1 = hidden * inputs;
    this.offW2 = this.offB1 + hidden;
    this.offB2 = this.offW2 + hidden;
    this.offItem = this.offB2 + 1;
    this.params = new Float32Array(this.offItem + catalog);
  }

  /** First-layer query part b1 + W1[:, query] . q of query k, into zq. */
  queryPart(set: QuerySet, k: number, zq: Float64Array): void {
    const { hidden: H, inputs: D, params: p } = this;
    const q0 = k * QUERY_FEATURES;
    for (let h = 0; h < H; h++) {
      let z = p[this.offB1 + h]!;
      const wo = h * D;
      for (let d = 0; d < QUERY_FEATURES; d++) z += p[wo + d]! * set.queryFeatures[q0 + d]!;
      zq[h] = z;
    }
  }

  /** Scores of every candidate of a query set. */
  scoreSet(set: QuerySet, crosses: boolean): Float64Array {
    const { hidden: H, inputs: D, params: p } = this;
    const DC = D - QUERY_FEATURES;
    const x = candidateInputs(set, crosses);
    const out = new Float64Array(set.queries * SLATE);
    const zq = new Float64Array(H);
    for (let k = 0; k < set.queries; k++) {
      this.queryPart(set, k, zq);
      for (let c = 0; c < SLATE; c++) {
        const row = k * SLATE + c;
        const xo = row * DC;
        let s = p[this.offB2]! + p[this.offItem + set.items[row]!]!;
        for (let h = 0; h < H; h++) {
          let z = zq[h]!;
          const wo = h * D + QUERY_FEATURES;
          for (let d = 0; d < DC; d++) z += p[wo + d]! * x[xo + d]!;
          if (z > 0) s += p[this.offW2 + h]! * z;
        }
        out[row] = s;
      }
    }
    return out;
  }
}

/** NDCG@10 (gain 2^rel - 1) and pairwise ordering accuracy of scores on a query set. */
export function evaluateScores(scores: Float64Array, set: QuerySet): Metrics {
  let ndcgSum = 0;
  let counted = 0;
  let correct = 0;
  let pairs = 0;
  const order = new Int32Array(SLATE);
  const ideal = new Uint8Array(SLATE);
  for (let k = 0; k < set.queries; k++) {
    const o = k * SLATE;
    for (let c = 0; c < SLATE; c++) order[c] = c;
    // Ties broken by slate position so that a constant model gets the slate's own (random) order.
    order.sort((a, b) => scores[o + b]! - scores[o + a]! || a - b);
    for (let c = 0; c < SLATE; c++) ideal[c] = set.labels[o + c]!;
    ideal.sort().reverse();
    let dcg = 0;
    let idcg = 0;
    for (let i = 0; i < NDCG_AT; i++) {
      const discount = 1 / Math.log2(i + 2);
      dcg += (2 ** set.labels[o + order[i]!]! - 1) * discount;
      idcg += (2 ** ideal[i]! - 1) * discount;
    }
    if (idcg > 0) {
      ndcgSum += dcg / idcg;
      counted++;
    }
    for (let a = 0; a < SLATE; a++) {
      for (let b = 0; b < SLATE; b++) {
        if (set.labels[o + a]! <= set.labels[o + b]!) continue;
        pairs++;
        const d = scores[o + a]! - scores[o + b]!;
        correct += d > 0 ? 1 : d === 0 ? 0.5 : 0;
      }
    }
  }
  return { ndcg: ndcgSum / counted, pair_accuracy: correct / pairs };
}

/**
 * Trains `cfg` on the (fidelity, seed) training sample and evaluates it on the fixed holdout.
 * Throws CudaOutOfMemoryError if the config does not fit the simulated GPU, FloatingPointError if the
 * training loss becomes non-finite.
 */
export function train(cfg: ModelConfig, opts: TrainOptions = {}): TrainResult {
  const fidelity = opts.fidelity ?? 1;
  const seed = opts.seed ?? 0;
  checkGpuMemory(cfg); // before anything else, like the first CUDA allocation failing
  const data = trainingSet(fidelity, seed);
  const { model, steps } = fitModel(cfg, data, seed, opts);
  const test = holdoutSet();
  const metrics = evaluateScores(model.scoreSet(test, cfg.cross_features), test);
  return { metrics, steps, trainQueries: data.queries };
}

/** Mini-batches of whole queries, reshuffled every epoch (the order depends on the seed). */
export function fitModel(
  cfg: ModelConfig,
  data: QuerySet,
  seed: number,
  opts: Pick<TrainOptions, 'onProgress' | 'logEvery'> = {},
): { model: Ranker; steps: number } {
  const D = inputWidth(cfg);
  const DC = D - QUERY_FEATURES;
  const H = cfg.hidden_units;
  const x = candidateInputs(data, cfg.cross_features);
  const catalog = itemFeatures().length / ITEM_FEATURES;
  const model = new Ranker(H, D, catalog);
  const p = model.params;
  const { offB1, offW2, offB2, offItem } = model;
  const P = p.length;

  // He initialisation of W1, 1/sqrt(H) for w2; biases and item biases start at zero.
  const init = new Rng(hash2(seed, 0x1417));
  const sd1 = Math.sqrt(2 / D);
  for (let i = 0; i < offB1; i++) p[i] = sd1 * init.normal();
  const sd2 = Math.sqrt(1 / H);
  for (let h = 0; h < H; h++) p[offW2 + h] = sd2 * init.normal();

  const g = new Float64Array(P);
  const m = new Float32Array(P);
  const v = new Float32Array(P);
  // Weight decay (L2 added to the gradient, as torch.optim.Adam's weight_decay) on the weights and the
  // item biases, not on the layer biases.
  const decays = new Uint8Array(P);
  decays.fill(1, 0, offB1);
  decays.fill(1, offW2, offB2);
  decays.fill(1, offItem, P);

  const perBatch = Math.max(1, Math.round(cfg.batch_size / SLATE));
  const Q = data.queries;
  const totalSteps = EPOCHS * Math.ceil(Q / perBatch);
  const warmupSteps = cfg.warmup ? Math.max(1, Math.round(WARMUP_FRACTION * totalSteps)) : 0;
  const pairwise = cfg.loss === 'pairwise';
  const logEvery = opts.logEvery ?? 50;

  const order = new Int32Array(Q);
  for (let k = 0; k < Q; k++) order[k] = k;
  const shuffle = new Rng(hash2(seed, 0x5bf));
  const rows = perBatch * SLATE;
  const pre = new Float64Array(rows * H); // first-layer pre-activations
  const zq = new Float64Array(H);
  const gzq = new Float64Array(H);
  const scores = new Float64Array(rows);
  const gs = new Float64Array(rows);
  const labels = data.labels;

  let step = 0;
  let lossSum = 0;
  let lossCount = 0;
  for (let epoch = 0; epoch < EPOCHS; epoch++) {
    for (let k = Q - 1; k > 0; k--) {
      const j = shuffle.int(k + 1);
      const t = order[k]!;
      order[k] = order[j]!;
      order[j] = t;
    }
    for (let start = 0; start < Q; start += perBatch) {
      const nq = Math.min(perBatch, Q - start);
      const nr = nq * SLATE;

      // Forward.
      for (let b = 0; b < nq; b++) {
        const qk = order[start + b]!;
        model.queryPart(data, qk, zq);
        for (let c = 0; c < SLATE; c++) {
          const r = b * SLATE + c;
          const row = qk * SLATE + c;
          const xo = row * DC;
          let s = p[offB2]! + p[offItem + data.items[row]!]!;
          for (let h = 0; h < H; h++) {
            let z = zq[h]!;
            const wo = h * D + QUERY_FEATURES;
            for (let d = 0; d < DC; d++) z += p[wo + d]! * x[xo + d]!;
            pre[r * H + h] = z;
            if (z > 0) s += p[offW2 + h]! * z;
          }
          scores[r] = s;
        }
      }

      // Loss, and its gradient with respect to each score.
      let loss = 0;
      gs.fill(0, 0, nr);
      if (!pairwise) {
        for (let b = 0; b < nq; b++) {
          const l0 = order[start + b]! * SLATE;
          for (let c = 0; c < SLATE; c++) {
            const r = b * SLATE + c;
            const y = labels[l0 + c]! / MAX_RELEVANCE;
            const prob = Math.fround(1 / (1 + Math.exp(-scores[r]!)));
            loss -= y * Math.log(prob) + (1 - y) * Math.log(1 - prob);
            gs[r] = (prob - y) / nr;
          }
        }
        loss /= nr;
      } else {
        for (let b = 0; b < nq; b++) {
          const l0 = order[start + b]! * SLATE;
          const r0 = b * SLATE;
          let npairs = 0;
          for (let a = 0; a < SLATE; a++)
            for (let c = 0; c < SLATE; c++) if (labels[l0 + a]! > labels[l0 + c]!) npairs++;
          if (npairs === 0) continue;
          let ql = 0;
          for (let a = 0; a < SLATE; a++) {
            for (let c = 0; c < SLATE; c++) {
              if (labels[l0 + a]! <= labels[l0 + c]!) continue;
              const prob = Math.fround(1 / (1 + Math.exp(scores[r0 + c]! - scores[r0 + a]!)));
              ql -= Math.log(prob);
              const gd = (prob - 1) / (npairs * nq);
              gs[r0 + a]! += gd;
              gs[r0 + c]! -= gd;
            }
          }
          loss += ql / npairs;
        }
        loss /= nq;
      }
      step++;
      if (!Number.isFinite(loss)) throw new FloatingPointError(step, loss);
      lossSum += loss;
      lossCount++;

      // Backward.
      g.fill(0);
      for (let b = 0; b < nq; b++) {
        const qk = order[start + b]!;
        gzq.fill(0);
        for (let c = 0; c < SLATE; c++) {
          const r = b * SLATE + c;
          const gr = gs[r]!;
          if (gr === 0) continue;
          const row = qk * SLATE + c;
          const xo = row * DC;
          g[offB2]! += gr;
          g[offItem + data.items[row]!]! += gr;
          for (let h = 0; h < H; h++) {
            const z = pre[r * H + h]!;
            if (z <= 0) continue;
            g[offW2 + h]! += gr * z;
            const gz = gr * p[offW2 + h]!;
            gzq[h]! += gz;
            const wo = h * D + QUERY_FEATURES;
            for (let d = 0; d < DC; d++) g[wo + d]! += gz * x[xo + d]!;
          }
        }
        const q0 = qk * QUERY_FEATURES;
        for (let h = 0; h < H; h++) {
          const gz = gzq[h]!;
          if (gz === 0) continue;
          g[offB1 + h]! += gz;
          const wo = h * D;
          for (let d = 0; d < QUERY_FEATURES; d++) g[wo + d]! += gz * data.queryFeatures[q0 + d]!;
        }
      }

      // Adam with an optional linear warmup, then linear decay to zero.
      const lr =
        (cfg.learning_rate * (totalSteps - step + 1) * Math.min(1, step / Math.max(1, warmupSteps))) /
        totalSteps;
      const bc1 = 1 - ADAM_BETA1 ** step;
      const bc2 = 1 - ADAM_BETA2 ** step;
      const wd = cfg.weight_decay;
      for (let i = 0; i < P; i++) {
        const gi = g[i]! + (decays[i] ? wd * p[i]! : 0);
        const mi = ADAM_BETA1 * m[i]! + (1 - ADAM_BETA1) * gi;
        const vi = ADAM_BETA2 * v[i]! + (1 - ADAM_BETA2) * gi * gi;
        m[i] = mi;
        v[i] = vi;
        p[i]! -= (lr * (mi / bc1)) / (Math.sqrt(vi / bc2) + ADAM_EPS);
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
