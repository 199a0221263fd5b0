import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { randomTensor, relativeError, seededRandom, useWasm } from './testing/grad.js';
import { registerMissingKernels } from './register_kernels.js';

/** Stock tfjs gradient of depthwiseConv2d w.r.t. its input on one backend. */
async function stockGrad(
  backend: string,
  xShape: number[],
  fShape: number[],
  strides: [number, number],
  pad: 'same' | 'valid' | number,
  seed: number,
): Promise<Float32Array> {
  await tf.setBackend(backend);
  const rng = seededRandom(seed);
  const x = randomTensor<tf.Rank.R4>(xShape, rng);
  const f = randomTensor<tf.Rank.R4>(fShape, rng);
  const yShape = tf.tidy(() => tf.depthwiseConv2d(x, f, strides, pad).shape);
  const u = randomTensor<tf.Rank.R4>(yShape, rng);
  const g = tf.grad((xx: tf.Tensor) => tf.sum(tf.mul(tf.depthwiseConv2d(xx as tf.Tensor4D, f, strides, pad), u)))(x);
  const out = (await g.data()) as Float32Array;
  tf.dispose([x, f, u, g]);
  return out;
}

describe('DepthwiseConv2dNativeBackpropInput on wasm', () => {
  it('is registered, idempotently', async () => {
    await useWasm();
    registerMissingKernels('wasm');
    registerMissingKernels('wasm');
    assert.ok(tf.getKernel('DepthwiseConv2dNativeBackpropInput', 'wasm'));
  });

  const cases: [string, number[], number[], [number, number], 'same' | 'valid' | number][] = [
    ['3×3 stride 2 same, even size', [2, 8, 8, 3], [3, 3, 3, 1], [2, 2], 'same'],
    ['3×3 stride 1 valid, multiplier 2', [1, 7, 6, 2], [3, 3, 2, 2], [1, 1], 'valid'],
    ['5×3 stride [2, 1] same, odd size', [2, 9, 7, 2], [5, 3, 2, 1], [2, 1], 'same'],
    ['numeric padding 1, stride 2', [1, 7, 7, 2], [3, 3, 2, 1], [2, 2], 1],
  ];
  for (const [name, xs, fs, st, pad] of cases) {
    it(`tf.grad of tf.depthwiseConv2d matches cpu: ${name}`, async () => {
      await useWasm();
      const before = tf.memory().numTensors;
      const wasm = await stockGrad('wasm', xs, fs, st, pad, 11);
      await tf.setBackend('wasm');
      assert.equal(tf.memory().numTensors, before, 'leaked tensors');
      const cpu = await stockGrad('cpu', xs, fs, st, pad, 11);
      await tf.setBackend('wasm');
      assert.ok(cpu.some((v) => v !== 0));
      const err = relativeError(wasm, cpu);
      assert.ok(err < 1e-4, `relative error ${err}`);
    });
  }
});
