import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { MlpClassifier } from '../src/attacks/testing/affine-classifier.js';
import { sgdPerturbation, type SgdOptions } from '../src/attacks/sgd.js';
import type { PassRecord } from '../src/attacks/universal.js';
import type { AugmentOptions } from '../src/data/augment.js';
import { createRng, gaussianArray } from '../src/util/rng.js';

await tf.setBackend('cpu');

// A resumed SGD run skips the passes done by drawing drawsPerImage(augment) numbers per image and pass; when that
// count is wrong, the resumed run sees other views than the uninterrupted one and ends elsewhere.
const SHAPE = [8, 8, 3] as const;
const mlp = new MlpClassifier(SHAPE, 16, 6, createRng(2));
const X = tf.tensor4d(gaussianArray(24 * 192, createRng(9), 128, 40).map((a) => Math.min(255, Math.max(0, a))), [24, ...SHAPE]);

for (const augment of [{ jpeg: [60, 90] }, { resize: [0.5, 1.5], noise: 3 }, { flip: true, resize: [0.6, 1], noise: 2, jpeg: [50, 95] }] as AugmentOptions[]) {
  test(`a run resumed after pass 1 repeats the uninterrupted one with --augment ${JSON.stringify(augment)}`, async () => {
    const opts: SgdOptions = { norm: 'inf', xi: 20, epochs: 2, seed: 3, batchSize: 8, augment };
    const full = await sgdPerturbation(mlp, X, opts);
    let after1: Float32Array | null = null;
    let history1: PassRecord[] = [];
    const ctl = new AbortController();
    await sgdPerturbation(mlp, X, {
      ...opts,
      signal: ctl.signal,
      onPassEnd: (v, h) => {
        after1 = v.slice();
        history1 = h.slice();
        ctl.abort();
      },
    });
    const resumed = await sgdPerturbation(mlp, X, { ...opts, initial: { v: after1!, pass: 1, history: history1 } });
    assert.deepEqual(resumed.v, full.v);
  });
}
