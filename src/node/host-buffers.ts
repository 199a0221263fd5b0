import * as tf from '@tensorflow/tfjs';
import { heapView as anyHeapView } from '../tensor/heap-view.js';

/**
 * Host memory for the ORT engine's inputs and outputs, reused from run to run.
 *
 * Why: a tensor crosses from tfjs to ONNX Runtime and back through host arrays (the Classifier contract takes
 * and returns tfjs tensors), and a freshly allocated array is slow to fill: each new page faults on first write.
 * Measured on the 2-core VM here (2026-12-01): copying 9.6 MB (16 photos of 224×224×3) into a new array takes
 * 6 ms, into an array already written once 0.4–0.8 ms. At batch 16 on mobilenet_v1_0.25_224 that is 0.37 ms
 * per photo on a forward of 1.3 ms, and a 10-class Jacobian's 96 MB of gradients went through two such copies
 * (ORT's output array, then ours). So inputs are copied from tfjs-wasm's heap into a kept buffer, and ORT
 * writes its outputs straight into kept buffers (onnxruntime-node's pre-allocated outputs).
 */
export class HostBuffers {
  private readonly free = new Map<number, Float32Array[]>();

  /** `shared`: the buffers are SharedArrayBuffer views, which worker threads read in place (posted, not copied). */
  constructor(private readonly shared = false) {}

  /** A buffer of n floats (contents undefined); hand it back with give() once its values are copied out. */
  take(n: number): Float32Array {
    return this.free.get(n)?.pop() ?? (this.shared ? new Float32Array(new SharedArrayBuffer(4 * n)) : new Float32Array(n));
  }

  /** Returns a buffer for reuse; at most two are kept per size (a call in flight and the next one). */
  give(buf: Float32Array): void {
    const list = this.free.get(buf.length) ?? [];
    if (list.length < 2) list.push(buf);
    this.free.set(buf.length, list);
  }

  clear(): void {
    this.free.clear();
  }
}

/**
 * x's float32 values in a host array that ORT can read. On tfjs-wasm they are copied from the wasm heap into a
 * buffer from `buffers` (`owned` true: give it back after the run): dataSync would copy them into a new array.
 * On other backends, dataSync (the cpu backend hands out its own array without a copy).
 */
export function readValues(x: tf.Tensor, buffers: HostBuffers): { values: Float32Array; owned: boolean } {
  const view = heapView(x);
  if (!view) return { values: x.dataSync() as Float32Array, owned: false };
  const values = buffers.take(view.length);
  values.set(view);
  return { values, owned: true };
}

/** Copies x's float32 values into `into` (from the wasm heap when x lives there, without an intermediate array). */
export function copyValues(x: tf.Tensor, into: Float32Array): void {
  into.set(heapView(x) ?? (x.dataSync() as Float32Array));
}

/** A float32 tensor's view in tfjs-wasm's heap (see tensor/heap-view.ts). */
function heapView(x: tf.Tensor): Float32Array | undefined {
  return x.dtype === 'float32' ? (anyHeapView(x) as Float32Array | undefined) : undefined;
}

/**
 * A tfjs tensor of `values`, which the caller may overwrite afterwards: tfjs-wasm copies them into its heap when
 * the tensor is made; other backends (cpu, webgl) may keep the array itself, so they get a copy.
 */
export function tensorOf<R extends tf.Rank>(values: Float32Array, shape: number[]): tf.Tensor<R> {
  const t: tf.Tensor = tf.tensor(tf.getBackend() === 'wasm' ? values : values.slice(), shape, 'float32');
  return t as tf.Tensor<R>;
}
