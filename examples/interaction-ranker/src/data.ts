/**
 * The synthetic search log ("the world"): queries, each with a slate of candidate items from a fixed
 * catalog and a graded relevance label (0-3) per candidate.
 *
 * The true utility of item j for query q is
 *
 *   u = a . v_j + beta_j + q' D v_j + sum_r (q . P_r)(v_j . Q_r) + c . q + noise
 *
 * - a . v_j: what a linear model on the features can learn;
 * - beta_j: a hidden per-item quality that only an item-id parameter can pick up, and only from the
 *   item's own (few) labels, which is what makes the right amount of regularisation depend on how much
 *   data a run sees;
 * - q' D v_j (diagonal) and the rank-R off-diagonal term: the part of the signal that lives in
 *   query x item interactions, which needs the hidden layer (or explicit crosses for the diagonal part);
 * - c . q: a per-query offset that does not change the ranking but does change pointwise targets.
 *
 * Query k of a stream is a pure function of (world seed, stream, k), so the holdout is fixed and a run's
 * training sample at seed s is a prefix of the seed's own stream: fidelity 0.1 sees the first 10% of the
 * queries fidelity 1 sees.
 */
import { hash2, Rng } from './rng.ts';

export const QUERY_FEATURES = 6;
export const ITEM_FEATURES = 6;
/** Candidates per query (a fixed slate size keeps batches of whole queries simple). */
export const SLATE = 16;
export const CATALOG_ITEMS = 3000;
export const TRAIN_QUERIES = 4000;
export const HOLDOUT_QUERIES = 1000;
export const MAX_RELEVANCE = 3;

const WORLD_SEED = 0x1a7e5;
const HOLDOUT_STREAM = 0x401d;
const OFF_DIAGONAL_RANK = 2;
const POPULARITY_EXPONENT = 0.8;
// Standard deviations of the utility's parts (features are standard normal, so each part's sd is the norm
// of its coefficient vector).
const ITEM_QUALITY_SD = 0.5;
const LINEAR_SD = 0.6;
const DIAGONAL_SD = 0.6;
const OFF_DIAGONAL_SD = 0.6;
const QUERY_OFFSET_SD = 0.4;
const LABEL_NOISE_SD = 1.0;
/** Utility cut points of relevance 1, 2, 3. */
const THRESHOLDS = [1.6, 2.4, 3.2];

/** A set of queries: per query its features; per candidate row its item id and label. */
export interface QuerySet {
  queries: number;
  /** queries x QUERY_FEATURES */
  queryFeatures: Float32Array;
  /** queries x SLATE item ids */
  items: Int32Array;
  /** queries x SLATE relevance labels in 0..MAX_RELEVANCE */
  labels: Uint8Array;
}

interface World {
  itemFeatures: Float32Array;
  itemQuality: Float64Array;
  /** Cumulative popularity, for sampling candidates. */
  popularity: Float64Array;
  linear: Float64Array;
  diagonal: Float64Array;
  /** OFF_DIAGONAL_RANK x QUERY_FEATURES, then OFF_DIAGONAL_RANK x ITEM_FEATURES */
  left: Float64Array;
  right: Float64Array;
  queryOffset: Float64Array;
}

let world: World | undefined;

function getWorld(): World {
  if (world) return world;
  const rng = new Rng(WORLD_SEED);
  const itemFeatures = new Float32Array(CATALOG_ITEMS * ITEM_FEATURES);
  for (let i = 0; i < itemFeatures.length; i++) itemFeatures[i] = rng.normal();
  const itemQuality = new Float64Array(CATALOG_ITEMS);
  for (let j = 0; j < CATALOG_ITEMS; j++) itemQuality[j] = ITEM_QUALITY_SD * rng.normal();
  // Zipf-like popularity over a random permutation of the catalog, so that popularity is unrelated to
  // the item's features and quality.
  const perm = Array.from({ length: CATALOG_ITEMS }, (_, j) => j);
  for (let j = CATALOG_ITEMS - 1; j > 0; j--) {
    const k = rng.int(j + 1);
    [perm[j], perm[k]] = [perm[k]!, perm[j]!];
  }
  const weight = new Float64Array(CATALOG_ITEMS);
  for (let r = 0; r < CATALOG_ITEMS; r++) weight[perm[r]!] = 1 / (r + 1) ** POPULARITY_EXPONENT;
  const popularity = new Float64Array(CATALOG_ITEMS);
  let total = 0;
  for (let j = 0; j < CATALOG_ITEMS; j++) {
    total += weight[j]!;
    popularity[j] = total;
  }
  for (let j = 0; j < CATALOG_ITEMS; j++) popularity[j]! /= total;
  // A random direction of the given norm (per block of `block` coordinates).
  const vec = (n: number, norm: number, block = n) => {
    const out = Float64Array.from({ length: n }, () => rng.normal());
    for (let b0 = 0; b0 < n; b0 += block) {
      let ss = 0;
      for (let i = b0; i < b0 + block; i++) ss += out[i]! ** 2;
      for (let i = b0; i < b0 + block; i++) out[i]! *= norm / Math.sqrt(ss);
    }
    return out;
  };
  // Each rank-1 term (q . P_r)(v . Q_r) has sd |P_r| |Q_r|.
  const rankNorm = Math.sqrt(OFF_DIAGONAL_SD / Math.sqrt(OFF_DIAGONAL_RANK));
  world = {
    itemFeatures,
    itemQuality,
    popularity,
    linear: vec(ITEM_FEATURES, LINEAR_SD),
    diagonal: vec(ITEM_FEATURES, DIAGONAL_SD),
    left: vec(OFF_DIAGONAL_RANK * QUERY_FEATURES, rankNorm, QUERY_FEATURES),
    right: vec(OFF_DIAGONAL_RANK * ITEM_FEATURES, rankNorm, ITEM_FEATURES),
    queryOffset: vec(QUERY_FEATURES, QUERY_OFFSET_SD),
  };
  return world;
}

/** Item features of the fixed catalog (CATALOG_ITEMS x ITEM_FEATURES). */
export function itemFeatures(): Float32Array {
  return getWorld().itemFeatures;
}

function sampleItem(popularity: Float64Array, u: number): number {
  let lo = 0;
  let hi = popularity.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (popularity[mid]! < u) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The noiseless utility of item j for query features q (offset q0 into qf). */
function utility(w: World, qf: Float32Array, q0: number, j: number): number {
  const v0 = j * ITEM_FEATURES;
  const vf = w.itemFeatures;
  let u = w.itemQuality[j]!;
  for (let d = 0; d < ITEM_FEATURES; d++) {
    u += w.linear[d]! * vf[v0 + d]! + w.diagonal[d]! * qf[q0 + d]! * vf[v0 + d]!;
  }
  for (let r = 0; r < OFF_DIAGONAL_RANK; r++) {
    let a = 0;
    let b = 0;
    for (let d = 0; d < QUERY_FEATURES; d++) a += w.left[r * QUERY_FEATURES + d]! * qf[q0 + d]!;
    for (let d = 0; d < ITEM_FEATURES; d++) b += w.right[r * ITEM_FEATURES + d]! * vf[v0 + d]!;
    u += a * b;
  }
  for (let d = 0; d < QUERY_FEATURES; d++) u += w.queryOffset[d]! * qf[q0 + d]!;
  return u;
}

/** Queries 0..n-1 of a stream. */
function generate(stream: number, n: number): QuerySet {
  const w = getWorld();
  const queryFeatures = new Float32Array(n * QUERY_FEATURES);
  const items = new Int32Array(n * SLATE);
  const labels = new Uint8Array(n * SLATE);
  const rng = new Rng(0);
  for (let k = 0; k < n; k++) {
    rng.reseed(hash2(hash2(WORLD_SEED, stream), k));
    const q0 = k * QUERY_FEATURES;
    for (let d = 0; d < QUERY_FEATURES; d++) queryFeatures[q0 + d] = rng.normal();
    for (let c = 0; c < SLATE; c++) {
      let j: number;
      let fresh: boolean;
      do {
        j = sampleItem(w.popularity, rng.float());
        fresh = true;
        for (let e = 0; e < c; e++) if (items[k * SLATE + e] === j) fresh = false;
      } while (!fresh);
      items[k * SLATE + c] = j;
      const u = utility(w, queryFeatures, q0, j) + LABEL_NOISE_SD * rng.normal();
      let rel = 0;
      while (rel < MAX_RELEVANCE && u > THRESHOLDS[rel]!) rel++;
      labels[k * SLATE + c] = rel;
    }
  }
  return { queries: n, queryFeatures, items, labels };
}

let holdout: QuerySet | undefined;

/** The fixed evaluation queries. */
export function holdoutSet(): QuerySet {
  holdout ??= generate(HOLDOUT_STREAM, HOLDOUT_QUERIES);
  return holdout;
}

export function trainingQueries(fidelity: number): number {
  return Math.max(1, Math.round(fidelity * TRAIN_QUERIES));
}

/** The training sample of a run: the first round(fidelity * TRAIN_QUERIES) queries of the seed's stream. */
export function trainingSet(fidelity: number, seed: number): QuerySet {
  return generate(hash2(seed, 0x7ea1), trainingQueries(fidelity));
}

/** The noiseless utility of every (query, candidate) row of a set: the best any model can rank by. */
export function trueUtility(set: QuerySet): Float64Array {
  const w = getWorld();
  const out = new Float64Array(set.queries * SLATE);
  for (let k = 0; k < set.queries; k++) {
    for (let c = 0; c < SLATE; c++) {
      out[k * SLATE + c] = utility(w, set.queryFeatures, k * QUERY_FEATURES, set.items[k * SLATE + c]!);
    }
  }
  return out;
}
