/**
 * Seeded pseudo-random numbers, identical on every run and platform (pure 32-bit integer arithmetic).
 * Generator: mulberry32 (period 2^32), seeded through a splitmix32 scramble so that nearby seeds
 * (0, 1, 2 …) give unrelated streams. Browser-safe.
 *
 * `gaussian` uses Math.log/Math.cos/Math.sqrt: V8 (Node, Chrome) computes these with the same fdlibm port on
 * every platform, so Node runs agree bit for bit; another JS engine may differ in the last bit.
 */

/** A generator: each call returns a float in [0, 1) with 32 random bits. */
export type Rng = () => number;

function splitmix32(x: number): number {
  x = (x + 0x9e3779b9) | 0;
  let z = x;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

/** A mulberry32 generator. `seed` is any finite number; its integer part modulo 2^32 is used. */
export function createRng(seed: number): Rng {
  if (!Number.isFinite(seed)) throw new RangeError(`seed must be a finite number, got ${seed}`);
  // Fold in the high bits of large seeds so that 2^32 + k and k differ.
  const hi = Math.floor(Math.trunc(seed) / 4294967296) | 0;
  let a = splitmix32((Math.trunc(seed) | 0) ^ splitmix32(hi));
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** An integer in [0, n). */
export function randomInt(rng: Rng, n: number): number {
  return Math.floor(rng() * n);
}

/** Fisher–Yates shuffle, in place; returns the same array. */
export function shuffle<T, A extends { length: number; [i: number]: T }>(array: A, rng: Rng): A {
  for (let i = array.length - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    const t = array[i]!;
    array[i] = array[j]!;
    array[j] = t;
  }
  return array;
}

/** 0 … n−1 in a seeded random order. */
export function permutation(n: number, rng: Rng): Int32Array {
  const p = new Int32Array(n);
  for (let i = 0; i < n; i++) p[i] = i;
  return shuffle<number, Int32Array>(p, rng);
}

/** n values, each −1 or +1 with probability ½. */
export function randomSigns(n: number, rng: Rng): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = rng() < 0.5 ? -1 : 1;
  return out;
}

/** One standard normal sample (Box–Muller). */
export function gaussian(rng: Rng): number {
  const u1 = 1 - rng(); // (0, 1]: log never sees 0
  const u2 = rng();
  return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
}

/** n normal samples with the given mean and standard deviation (Box–Muller, both outputs of each pair used). */
export function gaussianArray(n: number, rng: Rng, mean = 0, std = 1): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i += 2) {
    const u1 = 1 - rng();
    const u2 = rng();
    const r = Math.sqrt(-2 * Math.log(u1));
    out[i] = mean + std * r * Math.cos(2 * Math.PI * u2);
    if (i + 1 < n) out[i + 1] = mean + std * r * Math.sin(2 * Math.PI * u2);
  }
  return out;
}
