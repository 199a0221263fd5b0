import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { registerMissingKernels } from '../register_kernels.js';

/**
 * Test helpers for the gradient kernels (browser-safe; used by *.test.ts): the wasm backend with our
 * kernels, small seeded random tensors and a relative error. The reference forward of a Net that the
 * engine is checked against is src/models/net/reference.ts.
 */

let wasmReady: Promise<void> | undefined;

/** Makes sure the cpu and wasm backends are both registered and wasm initialised; leaves wasm active. */
export function useWasm(): Promise<void> {
  wasmReady ??= (async () => {
    await tf.setBackend('wasm');
    await tf.ready();
    registerMissingKernels('wasm');
  })();
  return wasmReady.then(() => tf.setBackend('wasm')).then(() => undefined);
}

/** Deterministic pseudo-random numbers (mulberry32) — test data must not depend on the backend's RNG. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function randomData(size: number, rng: () => number, scale = 1, offset = 0): Float32Array {
  const a = new Float32Array(size);
  for (let i = 0; i < size; i++) a[i] = offset + scale * (2 * rng() - 1);
  return a;
}

export function randomTensor<R extends tf.Rank>(shape: number[], rng: () => number, scale = 1, offset = 0): tf.Tensor<R> {
  return tf.tensor(randomData(shape.reduce((a, b) => a * b, 1), rng, scale, offset), shape as number[]) as unknown as tf.Tensor<R>;
}

/** max |a − b| / max |b| (both read to the host). */
export function relativeError(a: tf.Tensor | Float32Array, b: tf.Tensor | Float32Array): number {
  const av = a instanceof Float32Array ? a : (a.dataSync() as Float32Array);
  const bv = b instanceof Float32Array ? b : (b.dataSync() as Float32Array);
  if (av.length !== bv.length) throw new Error(`relativeError: sizes ${av.length} vs ${bv.length}`);
  let num = 0;
  let den = 0;
  for (let i = 0; i < av.length; i++) {
    num = Math.max(num, Math.abs(av[i]! - bv[i]!));
    den = Math.max(den, Math.abs(bv[i]!));
  }
  return den === 0 ? num : num / den;
}
