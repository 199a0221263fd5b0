import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { buildMnistCnn } from '../models/train/mnist-cnn.js';
import { loadMnist } from '../node/mnist-files.js';
import { registerConv2DBackpropFilterForWasm } from '../tensor/conv2d_backprop_filter.js';
import { finetuneWithPerturbations, type EpochEnd, type TrainingSet } from './finetune.js';
import { universalAdversarialTraining } from './universal-adversarial-training.js';

/**
 * Resuming training after a checkpointed epoch (`resume`) gives bit-for-bit the weights of an uninterrupted
 * run: the replayed epochs draw the same visiting orders and perturbation choices. Plain SGD (stateless)
 * isolates the replay from optimiser state.
 */

before(async () => {
  await tf.setBackend('wasm');
  await tf.ready();
  registerConv2DBackpropFilterForWasm();
});

async function digits(n: number): Promise<TrainingSet> {
  const m = await loadMnist('train');
  return { images: m.images.slice(0, n * 784), labels: m.labels.slice(0, n), n, shape: [28, 28, 1] };
}

const flat = (m: tf.LayersModel) => m.getWeights().map((w) => Array.from(w.dataSync()));

test('finetuneWithPerturbations: epoch 1, then resume for epoch 2 = two epochs at once', async () => {
  const data = await digits(96);
  const pool = [new Float32Array(784).fill(60), new Float32Array(784).map((_, i) => (i % 2 ? 60 : -60))];
  const opts = { pool, probability: 0.5, batchSize: 32, seed: 9 };
  const full = buildMnistCnn(4);
  const sgd1 = tf.train.sgd(0.05);
  const r = await finetuneWithPerturbations(full, data, { ...opts, epochs: 2, optimizer: sgd1 });

  const part = buildMnistCnn(4);
  const sgd2 = tf.train.sgd(0.05);
  const ends: EpochEnd[] = [];
  await finetuneWithPerturbations(part, data, { ...opts, epochs: 1, optimizer: sgd2, onEpochEnd: (e) => void ends.push(e) });
  assert.equal(ends.length, 1);
  const snapshot = part.getWeights().map((w) => w.clone());
  const resumedModel = buildMnistCnn(11); // other initial weights, overwritten by the checkpoint
  resumedModel.setWeights(snapshot);
  const e1 = ends[0]!;
  const r2 = await finetuneWithPerturbations(resumedModel, data, { ...opts, epochs: 2, optimizer: sgd2, resume: { epochs: e1.epochs, steps: e1.steps, seconds: 1 } });
  assert.deepEqual(r2.epochs.map((e) => e.epoch), [1, 2]);
  assert.equal(r2.steps, r.steps);
  assert.deepEqual(r2.epochs.map((e) => [e.loss, e.perturbedShare]), r.epochs.map((e) => [e.loss, e.perturbedShare]));
  assert.deepEqual(flat(resumedModel), flat(full));
  tf.dispose(snapshot);
  [full, part, resumedModel].forEach((m) => m.dispose());
  sgd1.dispose();
  sgd2.dispose();
});

test('universalAdversarialTraining: resume from the epoch-1 weights and v = two epochs at once', async () => {
  const data = await digits(64);
  const opts = { xi: 30, stepSize: 6, probability: 0.5, batchSize: 32, seed: 3 };
  const full = buildMnistCnn(6);
  const sgd1 = tf.train.sgd(0.05);
  const r = await universalAdversarialTraining(full, data, { ...opts, epochs: 2, optimizer: sgd1 });

  const part = buildMnistCnn(6);
  const sgd2 = tf.train.sgd(0.05);
  let end: EpochEnd | undefined;
  await universalAdversarialTraining(part, data, { ...opts, epochs: 1, optimizer: sgd2, onEpochEnd: (e) => void (end = e) });
  assert.ok(end?.v, 'the epoch hook gets v');
  const r2 = await universalAdversarialTraining(part, data, { ...opts, epochs: 2, optimizer: sgd2, initial: end.v, resume: { epochs: end.epochs, steps: end.steps, seconds: 0 } });
  assert.deepEqual(Array.from(r2.v), Array.from(r.v));
  assert.deepEqual(flat(part), flat(full));
  full.dispose();
  part.dispose();
  sgd1.dispose();
  sgd2.dispose();
});
