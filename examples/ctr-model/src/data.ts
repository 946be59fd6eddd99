/**
 * A deterministic synthetic ad-click log with known structure.
 *
 * The "world" (feature vocabularies, popularity skews, true effects) is drawn once from a fixed seed, so
 * every run of every config sees the same world and the same fixed holdout set. Row `i` of the log is a
 * pure function of (world seed, i): a run at fidelity f and seed s trains on a seed-dependent sample of
 * round(f * TRAIN_ROWS) rows of the full training log and only generates those rows.
 *
 * True click logit = bias
 *   + strong main effects   (position, ad quality, ad category, user segment, advertiser, site)
 *   + weak main effects     (hour, device, query, geo, day of week, three dense numeric features)
 *   + pairwise interactions (user_segment x ad_category, query_bucket x ad_category incl. a query/category
 *                            relevance bonus, site x ad_category, position x device, hour x device)
 *   + a small three-way term (user_segment x ad_category x device) that neither LR nor an FM can model.
 * A hashed logistic regression can only learn the main effects; factorization-machine crosses can learn
 * the pairwise interactions, better with a larger latent dimension (the interactions have rank > 8).
 */
import { fmix32, hash2, Rng } from './rng.ts';

export const WORLD_SEED = 0x5eed_c7a;
/** Rows in the full training log (fidelity 1). */
export const TRAIN_ROWS = 300_000;
/** Rows in the fixed holdout set every run is evaluated on. */
export const HOLDOUT_ROWS = 50_000;

export interface SparseField {
  readonly name: string;
  readonly cardinality: number;
}

export const SPARSE_FIELDS: readonly SparseField[] = [
  { name: 'user_segment', cardinality: 24 },
  { name: 'ad_category', cardinality: 32 },
  { name: 'position', cardinality: 6 },
  { name: 'device', cardinality: 3 },
  { name: 'hour', cardinality: 24 },
  { name: 'site', cardinality: 400 },
  { name: 'advertiser', cardinality: 800 },
  { name: 'ad_id', cardinality: 12_000 },
  { name: 'query_bucket', cardinality: 200 },
  { name: 'geo', cardinality: 40 },
  { name: 'day_of_week', cardinality: 7 },
];

/** Dense numeric features, standardised by the feature pipeline (fixed mean and sd of the full log). */
export const DENSE_FIELDS: readonly string[] = ['ad_log_impressions', 'user_log_activity', 'bid'];
const DENSE_MEAN = [9.1, 4.07, 0.81];
const DENSE_SD = [2.1, 1.6, 0.43];

export const NUM_SPARSE = SPARSE_FIELDS.length;
export const NUM_DENSE = DENSE_FIELDS.length;

const SEG = 0;
const CAT = 1;
const POS = 2;
const DEV = 3;
const HOUR = 4;
const SITE = 5;
const ADV = 6;
const AD = 7;
const QUERY = 8;
const GEO = 9;
const DOW = 10;

function card(field: number): number {
  return SPARSE_FIELDS[field]!.cardinality;
}

/** A rectangular block of rows of the click log, in struct-of-arrays layout. */
export interface ClickLog {
  readonly n: number;
  /** n * NUM_SPARSE raw value ids (0 .. cardinality-1), row-major. */
  readonly sparse: Uint32Array;
  /** n * NUM_DENSE dense feature values, row-major. */
  readonly dense: Float32Array;
  /** n click labels (0/1). */
  readonly labels: Uint8Array;
  /** n true click probabilities (for analysis only; models never read this). */
  readonly trueP: Float32Array;
}

/** Discrete distribution sampled by binary search on its cumulative weights. */
class Categorical {
  private readonly cdf: Float64Array;

  constructor(weights: ArrayLike<number>) {
    this.cdf = new Float64Array(weights.length);
    let acc = 0;
    for (let i = 0; i < weights.length; i++) {
      acc += weights[i]!;
      this.cdf[i] = acc;
    }
    for (let i = 0; i < weights.length; i++) this.cdf[i] = this.cdf[i]! / acc;
  }

  probability(i: number): number {
    return this.cdf[i]! - (i > 0 ? this.cdf[i - 1]! : 0);
  }

  sample(u: number): number {
    const cdf = this.cdf;
    let lo = 0;
    let hi = cdf.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (cdf[mid]! > u) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }
}

function zipf(n: number, s: number, rng: Rng): Categorical {
  // Zipf popularity over a randomly permuted vocabulary, so value ids carry no information by themselves.
  const w = new Float64Array(n);
  for (let i = 0; i < n; i++) w[i] = 1 / (i + 1) ** s;
  for (let i = n - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    const t = w[i]!;
    w[i] = w[j]!;
    w[j] = t;
  }
  return new Categorical(w);
}

function normals(n: number, sd: number, rng: Rng): Float64Array {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = sd * rng.normal();
  return out;
}

/** n x r matrix of latent factors whose pairwise dot products have standard deviation `productSd`. */
function factors(n: number, r: number, productSd: number, rng: Rng): Float64Array {
  return normals(n * r, Math.sqrt(productSd / Math.sqrt(r)), rng);
}

function dot(a: Float64Array, i: number, b: Float64Array, j: number, r: number): number {
  let s = 0;
  for (let d = 0; d < r; d++) s += a[i * r + d]! * b[j * r + d]!;
  return s;
}

const SEG_CAT_RANK = 6;
const QUERY_CAT_RANK = 8;
const SITE_CAT_RANK = 4;
const HOUR_DEV_RANK = 2;
const RELATED_QUERIES_PER_CATEGORY = 6;

/** The fixed ground truth every click log row is drawn from. */
export class World {
  readonly bias = -3.6;
  // Traffic distributions.
  readonly segDist: Categorical;
  readonly posDist = new Categorical([0.3, 0.24, 0.18, 0.13, 0.09, 0.06]);
  readonly devDist = new Categorical([0.58, 0.34, 0.08]);
  readonly hourDist: Categorical;
  readonly siteDist: Categorical;
  readonly adDist: Categorical;
  readonly queryDist: Categorical;
  readonly geoDist: Categorical;
  // Ad inventory.
  readonly adAdvertiser: Uint32Array;
  readonly adCategory: Uint32Array;
  readonly adLogImpressions: Float32Array;
  readonly adBid: Float32Array;
  readonly relatedQueries: Uint32Array;
  readonly queryRelatedTo: Int32Array;
  readonly segActivity: Float64Array;
  // Main effects (logit scale).
  readonly posEff = new Float64Array([0, -0.45, -0.8, -1.05, -1.25, -1.4]);
  readonly devEff = new Float64Array([0, 0.15, -0.1]);
  readonly hourEff: Float64Array;
  readonly siteEff: Float64Array;
  readonly advEff: Float64Array;
  readonly adEff: Float64Array;
  readonly catEff: Float64Array;
  readonly segEff: Float64Array;
  readonly queryEff: Float64Array;
  readonly geoEff: Float64Array;
  readonly dowEff: Float64Array;
  // Interactions.
  readonly segF: Float64Array;
  readonly catSegF: Float64Array;
  readonly queryF: Float64Array;
  readonly catQueryF: Float64Array;
  readonly siteF: Float64Array;
  readonly catSiteF: Float64Array;
  readonly posDev: Float64Array;
  readonly hourF: Float64Array;
  readonly devHourF: Float64Array;
  readonly relevanceBonus = 0.8;
  readonly threeWay: Float64Array;

  constructor(seed: number) {
    const rng = new Rng(seed);
    this.segDist = zipf(card(SEG), 0.7, rng);
    const hourW = new Float64Array(24);
    for (let h = 0; h < 24; h++) hourW[h] = 1 + 0.8 * Math.sin((2 * Math.PI * (h - 9)) / 24);
    this.hourDist = new Categorical(hourW);
    this.siteDist = zipf(card(SITE), 1.05, rng);
    this.adDist = zipf(card(AD), 0.8, rng);
    this.queryDist = zipf(card(QUERY), 0.9, rng);
    this.geoDist = zipf(card(GEO), 1.2, rng);

    const advDist = zipf(card(ADV), 0.9, rng);
    const advMainCat = new Uint32Array(card(ADV));
    for (let a = 0; a < advMainCat.length; a++) advMainCat[a] = rng.int(card(CAT));
    const nAds = card(AD);
    this.adAdvertiser = new Uint32Array(nAds);
    this.adCategory = new Uint32Array(nAds);
    this.adLogImpressions = new Float32Array(nAds);
    this.adBid = new Float32Array(nAds);
    for (let a = 0; a < nAds; a++) {
      const adv = advDist.sample(rng.float());
      this.adAdvertiser[a] = adv;
      this.adCategory[a] = rng.float() < 0.85 ? advMainCat[adv]! : rng.int(card(CAT));
      this.adLogImpressions[a] = Math.log1p(3e7 * this.adDist.probability(a) * Math.exp(0.3 * rng.normal()));
      this.adBid[a] = Math.exp(-0.3 + 0.5 * rng.normal());
    }
    this.relatedQueries = new Uint32Array(card(CAT) * RELATED_QUERIES_PER_CATEGORY);
    this.queryRelatedTo = new Int32Array(card(QUERY)).fill(-1);
    for (let c = 0; c < card(CAT); c++) {
      for (let j = 0; j < RELATED_QUERIES_PER_CATEGORY; j++) {
        const q = rng.int(card(QUERY));
        this.relatedQueries[c * RELATED_QUERIES_PER_CATEGORY + j] = q;
        this.queryRelatedTo[q] = c;
      }
    }
    this.segActivity = new Float64Array(card(SEG));
    for (let s = 0; s < card(SEG); s++) this.segActivity[s] = 2 + 4 * rng.float();

    this.hourEff = new Float64Array(24);
    for (let h = 0; h < 24; h++) {
      this.hourEff[h] = 0.12 * Math.sin((2 * Math.PI * (h - 6)) / 24) + 0.04 * rng.normal();
    }
    this.siteEff = normals(card(SITE), 0.35, rng);
    this.advEff = normals(card(ADV), 0.45, rng);
    this.adEff = normals(nAds, 0.3, rng);
    this.catEff = normals(card(CAT), 0.3, rng);
    this.segEff = normals(card(SEG), 0.25, rng);
    this.queryEff = normals(card(QUERY), 0.12, rng);
    this.geoEff = normals(card(GEO), 0.1, rng);
    this.dowEff = normals(card(DOW), 0.04, rng);

    this.segF = factors(card(SEG), SEG_CAT_RANK, 1.0, rng);
    this.catSegF = factors(card(CAT), SEG_CAT_RANK, 1.0, rng);
    this.queryF = factors(card(QUERY), QUERY_CAT_RANK, 0.75, rng);
    this.catQueryF = factors(card(CAT), QUERY_CAT_RANK, 0.75, rng);
    this.siteF = factors(card(SITE), SITE_CAT_RANK, 0.5, rng);
    this.catSiteF = factors(card(CAT), SITE_CAT_RANK, 0.5, rng);
    this.posDev = new Float64Array(card(POS) * card(DEV));
    const slope = [-0.12, 0.08, 0];
    for (let p = 0; p < card(POS); p++) {
      for (let d = 0; d < card(DEV); d++)
        this.posDev[p * card(DEV) + d] = slope[d]! * p + 0.05 * rng.normal();
    }
    this.hourF = factors(24, HOUR_DEV_RANK, 0.15, rng);
    this.devHourF = factors(card(DEV), HOUR_DEV_RANK, 0.15, rng);
    this.threeWay = normals(card(SEG) * card(CAT) * card(DEV), 0.1, rng);
  }
}

let cachedWorld: World | undefined;

export function getWorld(): World {
  cachedWorld ??= new World(WORLD_SEED);
  return cachedWorld;
}

/** Generates the rows with the given global row ids (train rows: 0..TRAIN_ROWS-1). */
export function generateRows(rowIds: ArrayLike<number>): ClickLog {
  const w = getWorld();
  const n = rowIds.length;
  const sparse = new Uint32Array(n * NUM_SPARSE);
  const dense = new Float32Array(n * NUM_DENSE);
  const labels = new Uint8Array(n);
  const trueP = new Float32Array(n);
  const rng = new Rng(0);
  const nDev = card(DEV);
  const nCat = card(CAT);
  for (let r = 0; r < n; r++) {
    rng.reseed(hash2(WORLD_SEED, rowIds[r]!));
    const seg = w.segDist.sample(rng.float());
    const ad = w.adDist.sample(rng.float());
    const adv = w.adAdvertiser[ad]!;
    const cat = w.adCategory[ad]!;
    const pos = w.posDist.sample(rng.float());
    const dev = w.devDist.sample(rng.float());
    const hour = w.hourDist.sample(rng.float());
    const site = w.siteDist.sample(rng.float());
    const query =
      rng.float() < 0.55
        ? w.relatedQueries[cat * RELATED_QUERIES_PER_CATEGORY + rng.int(RELATED_QUERIES_PER_CATEGORY)]!
        : w.queryDist.sample(rng.float());
    const geo = w.geoDist.sample(rng.float());
    const dow = rng.int(7);
    const adLogImpressions = w.adLogImpressions[ad]!;
    const activity = Math.max(0, w.segActivity[seg]! + 1.2 * rng.normal());
    const bid = w.adBid[ad]!;

    let z =
      w.bias +
      w.posEff[pos]! +
      w.devEff[dev]! +
      w.hourEff[hour]! +
      w.siteEff[site]! +
      w.advEff[adv]! +
      w.adEff[ad]! +
      w.catEff[cat]! +
      w.segEff[seg]! +
      w.queryEff[query]! +
      w.geoEff[geo]! +
      w.dowEff[dow]!;
    z += 0.06 * (adLogImpressions - 10) + 0.15 * (activity - 4) + 0.1 * (bid - 0.8);
    z += dot(w.segF, seg, w.catSegF, cat, SEG_CAT_RANK);
    z += dot(w.queryF, query, w.catQueryF, cat, QUERY_CAT_RANK);
    if (w.queryRelatedTo[query] === cat) z += w.relevanceBonus;
    z += dot(w.siteF, site, w.catSiteF, cat, SITE_CAT_RANK);
    z += w.posDev[pos * nDev + dev]!;
    z += dot(w.hourF, hour, w.devHourF, dev, HOUR_DEV_RANK);
    z += w.threeWay[(seg * nCat + cat) * nDev + dev]!;

    const p = 1 / (1 + Math.exp(-z));
    const o = r * NUM_SPARSE;
    sparse[o + SEG] = seg;
    sparse[o + CAT] = cat;
    sparse[o + POS] = pos;
    sparse[o + DEV] = dev;
    sparse[o + HOUR] = hour;
    sparse[o + SITE] = site;
    sparse[o + ADV] = adv;
    sparse[o + AD] = ad;
    sparse[o + QUERY] = query;
    sparse[o + GEO] = geo;
    sparse[o + DOW] = dow;
    const d = r * NUM_DENSE;
    dense[d] = (adLogImpressions - DENSE_MEAN[0]!) / DENSE_SD[0]!;
    dense[d + 1] = (activity - DENSE_MEAN[1]!) / DENSE_SD[1]!;
    dense[d + 2] = (bid - DENSE_MEAN[2]!) / DENSE_SD[2]!;
    labels[r] = rng.float() < p ? 1 : 0;
    trueP[r] = p;
  }
  return { n, sparse, dense, labels, trueP };
}

let cachedHoldout: ClickLog | undefined;

/** The fixed holdout set: rows TRAIN_ROWS .. TRAIN_ROWS+HOLDOUT_ROWS-1 of the world's log. */
export function holdoutSet(): ClickLog {
  if (!cachedHoldout) {
    const ids = new Uint32Array(HOLDOUT_ROWS);
    for (let i = 0; i < HOLDOUT_ROWS; i++) ids[i] = TRAIN_ROWS + i;
    cachedHoldout = generateRows(ids);
  }
  return cachedHoldout;
}

/** Number of training rows used at a given fidelity. */
export function trainingRows(fidelity: number): number {
  return Math.max(1, Math.min(TRAIN_ROWS, Math.round(fidelity * TRAIN_ROWS)));
}

/**
 * The training rows for (fidelity, seed): a seed-dependent random sample of the full training log, in a
 * seed-dependent random order (the first epoch's order). At fidelity 1 every row is used; only the
 * order depends on the seed.
 */
export function trainingSet(fidelity: number, seed: number): ClickLog {
  const n = trainingRows(fidelity);
  const ids = new Uint32Array(TRAIN_ROWS);
  for (let i = 0; i < TRAIN_ROWS; i++) ids[i] = i;
  // Partial Fisher-Yates: the first n slots become a uniform random sample in random order.
  const rng = new Rng(hash2(0x7a1a, seed));
  for (let i = 0; i < n; i++) {
    const j = i + rng.int(TRAIN_ROWS - i);
    const t = ids[i]!;
    ids[i] = ids[j]!;
    ids[j] = t;
  }
  return generateRows(ids.subarray(0, n));
}

/** Stable 32-bit hash of a (field, value) pair, the input to the model's feature hashing. */
export function featureHash(field: number, value: number): number {
  return fmix32(hash2(field + 1, value) ^ 0x2545f491);
}
