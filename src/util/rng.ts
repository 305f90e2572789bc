/**
 * Seeded pseudo-random numbers. Every random choice in poi (shuffling, augmentation, label noise,
 * weight init) draws from an Rng derived from the run's seed, so a run and its resumption agree.
 */
export class Rng {
  private s: number;
  constructor(seed: number) {
    // splitmix32 of the seed so nearby seeds give unrelated streams
    this.s = hash32(seed >>> 0);
  }
  /** Uniform in [0, 1). mulberry32. */
  next(): number {
    let t = (this.s = (this.s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  /** Uniform in [a, b). */
  uniform(a: number, b: number): number {
    return a + (b - a) * this.next();
  }
  /** Standard normal (Box-Muller). */
  normal(): number {
    const u = 1 - this.next();
    const v = this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }
  /** In-place Fisher-Yates shuffle. */
  shuffle<T>(a: T[] | Int32Array | Uint32Array): typeof a {
    for (let i = a.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const t = a[i];
      a[i] = a[j];
      a[j] = t as never;
    }
    return a;
  }
  /** A child stream, independent of this one, keyed by the given integers (epoch, step, ...). */
  static derive(seed: number, ...keys: number[]): Rng {
    let h = hash32(seed >>> 0);
    for (const k of keys) h = hash32((h ^ hash32(k >>> 0)) >>> 0);
    return new Rng(h);
  }
}

function hash32(x: number): number {
  x = (x + 0x9e3779b9) >>> 0;
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b) >>> 0;
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35) >>> 0;
  return (x ^ (x >>> 16)) >>> 0;
}
