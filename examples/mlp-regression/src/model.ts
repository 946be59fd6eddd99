/**
 * The data and the network. Data: Friedman's #1 regression problem (Friedman 1991), ten uniform inputs of
 * which five matter, y = 10 sin(pi x1 x2) + 20 (x3 - 0.5)^2 + 10 x4 + 5 x5 + N(0, 1), with inputs shifted
 * and scaled unevenly (as raw tabular features are) so that standardisation matters. The world (the test
 * set) is fixed; the seed draws the training sample, the initial weights and the minibatch order.
 * Model: one hidden layer, minibatch SGD with momentum and decoupled weight decay, a fixed number of
 * epochs. Fidelity is the fraction of the training rows used.
 */
import type { Activation, ModelConfig } from './config.ts';

export const TRAIN_ROWS = 3000;
export const TEST_ROWS = 2000;
export const EPOCHS = 12;
const INPUTS = 10;
const WORLD_SEED = 20_241;

/** mulberry32 with a normal draw: nothing here uses Math.random, so a (config, seed, fidelity) is exact. */
export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = (seed ^ 0x9e3779b9) | 0;
  }
  float(): number {
    this.s = (this.s + 0x6d2b79f5) | 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  normal(): number {
    return Math.sqrt(-2 * Math.log(1 - this.float())) * Math.cos(2 * Math.PI * this.float());
  }
}

/** Per-feature offsets and scales of the raw inputs, fixed by the world. */
const SHIFT = [3, -2, 10, 0.5, -7, 1, 4, -3, 6, 2];
const SCALE = [4, 0.5, 6, 1, 3, 8, 0.3, 2, 5, 1.5];

function friedman(x: number[]): number {
  return 10 * Math.sin(Math.PI * x[0]! * x[1]!) + 20 * (x[2]! - 0.5) ** 2 + 10 * x[3]! + 5 * x[4]!;
}

export interface Dataset {
  x: Float64Array[];
  y: Float64Array;
}

function sample(rng: Rng, n: number): Dataset {
  const x: Float64Array[] = [];
  const y = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const u = Array.from({ length: INPUTS }, () => rng.float());
    y[i] = friedman(u) + rng.normal();
    x.push(Float64Array.from(u, (v, j) => SHIFT[j]! + SCALE[j]! * v));
  }
  return { x, y };
}

export function testSet(): Dataset {
  return sample(new Rng(WORLD_SEED), TEST_ROWS);
}

export function trainingRows(fidelity: number): number {
  return Math.max(50, Math.round(TRAIN_ROWS * fidelity));
}

export function trainingSet(fidelity: number, seed: number): Dataset {
  return sample(new Rng(WORLD_SEED * 7 + seed * 1_000_003), trainingRows(fidelity));
}

/** A training run that blew up (non-finite loss); the job exits with 1. */
export class DivergedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FloatingPointError';
  }
}

function act(a: Activation, z: number): number {
  switch (a) {
    case 'sigmoid':
      return 1 / (1 + Math.exp(-z));
    case 'tanh':
      return Math.tanh(z);
    case 'relu':
      return Math.max(z, 0);
  }
}

/** Derivative from the activation's output h (all three have one). */
function dact(a: Activation, h: number): number {
  switch (a) {
    case 'sigmoid':
      return h * (1 - h);
    case 'tanh':
      return 1 - h * h;
    case 'relu':
      return h > 0 ? 1 : 0;
  }
}

export interface TrainResult {
  metrics: { r2: number; rmse: number };
  steps: number;
}

export function train(cfg: ModelConfig, opts: { fidelity: number; seed: number }): TrainResult {
  const data = trainingSet(opts.fidelity, opts.seed);
  const test = testSet();
  const rng = new Rng(opts.seed * 31 + 7);
  // Input normalisation statistics come from the training sample only.
  const mu = new Float64Array(INPUTS);
  const sd = new Float64Array(INPUTS).fill(1);
  if (cfg.standardize) {
    for (let j = 0; j < INPUTS; j++) {
      let s = 0;
      let ss = 0;
      for (const x of data.x) {
        s += x[j]!;
        ss += x[j]! ** 2;
      }
      const m = s / data.x.length;
      mu[j] = m;
      sd[j] = Math.sqrt(Math.max(1e-12, ss / data.x.length - m * m));
    }
  }
  const yMean = data.y.reduce((s, v) => s + v, 0) / data.y.length;
  const norm = (x: Float64Array) => Float64Array.from(x, (v, j) => (v - mu[j]!) / sd[j]!);
  const X = data.x.map(norm);
  const H = cfg.hidden_units;
  const w1 = Array.from({ length: H }, () =>
    Float64Array.from({ length: INPUTS }, () => rng.normal() / Math.sqrt(INPUTS)),
  );
  const b1 = new Float64Array(H);
  const w2 = Float64Array.from({ length: H }, () => rng.normal() / Math.sqrt(H));
  let b2 = yMean;
  const v1 = Array.from({ length: H }, () => new Float64Array(INPUTS));
  const vb1 = new Float64Array(H);
  const v2 = new Float64Array(H);
  let vb2 = 0;
  const h = new Float64Array(H);
  const g1 = Array.from({ length: H }, () => new Float64Array(INPUTS));
  const gb1 = new Float64Array(H);
  const g2 = new Float64Array(H);
  const order = Array.from({ length: X.length }, (_, i) => i);
  const lr = cfg.learning_rate;
  const mom = cfg.momentum;
  const wd = cfg.weight_decay;
  let steps = 0;
  for (let epoch = 0; epoch < EPOCHS; epoch++) {
    for (let i = order.length - 1; i > 0; i--) {
      const j = Math.floor(rng.float() * (i + 1));
      [order[i], order[j]] = [order[j]!, order[i]!];
    }
    for (let start = 0; start < order.length; start += cfg.batch_size) {
      const batch = order.slice(start, start + cfg.batch_size);
      for (let k = 0; k < H; k++) {
        g1[k]!.fill(0);
        gb1[k] = 0;
        g2[k] = 0;
      }
      let gb2 = 0;
      let loss = 0;
      for (const idx of batch) {
        const x = X[idx]!;
        let out = b2;
        for (let k = 0; k < H; k++) {
          let z = b1[k]!;
          const w = w1[k]!;
          for (let j = 0; j < INPUTS; j++) z += w[j]! * x[j]!;
          h[k] = act(cfg.activation, z);
          out += w2[k]! * h[k]!;
        }
        const err = out - data.y[idx]!;
        loss += err * err;
        gb2 += err;
        for (let k = 0; k < H; k++) {
          g2[k]! += err * h[k]!;
          const d = err * w2[k]! * dact(cfg.activation, h[k]!);
          gb1[k]! += d;
          const g = g1[k]!;
          for (let j = 0; j < INPUTS; j++) g[j]! += d * x[j]!;
        }
      }
      if (!Number.isFinite(loss)) throw new DivergedError(`loss is not finite at step ${steps}`);
      const n = batch.length;
      for (let k = 0; k < H; k++) {
        const w = w1[k]!;
        const v = v1[k]!;
        const g = g1[k]!;
        for (let j = 0; j < INPUTS; j++) {
          v[j] = mom * v[j]! - lr * (g[j]! / n + wd * w[j]!);
          w[j]! += v[j]!;
        }
        vb1[k] = mom * vb1[k]! - (lr * gb1[k]!) / n;
        b1[k]! += vb1[k]!;
        v2[k] = mom * v2[k]! - lr * (g2[k]! / n + wd * w2[k]!);
        w2[k]! += v2[k]!;
      }
      vb2 = mom * vb2 - (lr * gb2) / n;
      b2 += vb2;
      steps++;
    }
  }
  let sse = 0;
  let sst = 0;
  const tMean = test.y.reduce((s, v) => s + v, 0) / test.y.length;
  for (let i = 0; i < test.x.length; i++) {
    const x = norm(test.x[i]!);
    let out = b2;
    for (let k = 0; k < H; k++) {
      let z = b1[k]!;
      const w = w1[k]!;
      for (let j = 0; j < INPUTS; j++) z += w[j]! * x[j]!;
      out += w2[k]! * act(cfg.activation, z);
    }
    if (!Number.isFinite(out)) throw new DivergedError('prediction is not finite');
    sse += (out - test.y[i]!) ** 2;
    sst += (test.y[i]! - tMean) ** 2;
  }
  return { metrics: { r2: 1 - sse / sst, rmse: Math.sqrt(sse / test.x.length) }, steps };
}
