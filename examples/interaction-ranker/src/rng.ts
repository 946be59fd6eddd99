/**
 * Small deterministic pseudo-random number generation. Nothing in the example model uses Math.random:
 * every random draw comes from a seeded generator so that a (config, seed, fidelity) triple always
 * produces bit-identical results.
 */

/** murmur3's 32-bit finaliser: a good avalanche mix of a 32-bit integer. */
export function fmix32(x: number): number {
  let h = x | 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Combines two 32-bit integers into one well-mixed 32-bit integer. */
export function hash2(a: number, b: number): number {
  return fmix32(fmix32(a) ^ Math.imul(b | 0, 0x9e3779b1));
}

/** mulberry32: tiny, fast, statistically decent for simulation purposes. Re-seedable without allocation. */
export class Rng {
  private state: number;

  constructor(seed: number) {
    this.state = fmix32(seed) | 0;
  }

  reseed(seed: number): void {
    this.state = fmix32(seed) | 0;
  }

  /** Uniform 32-bit unsigned integer. */
  nextU32(): number {
    this.state = (this.state + 0x6d2b79f5) | 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** Uniform in [0, 1). */
  float(): number {
    return this.nextU32() / 4294967296;
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.float() * n);
  }

  /** Standard normal (Box-Muller, one draw per call). */
  normal(): number {
    const u = 1 - this.float(); // (0, 1]
    const v = this.float();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }
}
