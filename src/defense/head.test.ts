import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { UapError } from '../errors.js';
import { buildMnistCnn } from '../models/train/mnist-cnn.js';
import { registerConv2DBackpropFilterForWasm } from '../tensor/conv2d_backprop_filter.js';
import { finetuneWithPerturbations, type TrainingSet } from './finetune.js';
import { classifierTopology, freezeAllButLast, PIXELS_LAYER, weightedLayers } from './head.js';

before(async () => {
  await tf.setBackend('wasm');
  await tf.ready();
  registerConv2DBackpropFilterForWasm();
});

/** Random pixels with labels, for a few optimiser steps. */
function noise(n: number, shape: [number, number, number], classes: number, seed = 1): TrainingSet {
  const size = shape[0] * shape[1] * shape[2];
  const images = new Float32Array(n * size);
  let s = seed;
  for (let i = 0; i < images.length; i++) images[i] = ((s = (s * 16807) % 2147483647) % 256) | 0;
  return { images, labels: Int32Array.from({ length: n }, (_, i) => i % classes), n, shape };
}

/**
 * A small model with a batch norm, a softmax and a trailing reshape, like the Keras MobileNets. Seeded
 * initialisers; the layer names are fixed (the tests look for them).
 */
function smallKerasLike(): tf.LayersModel {
  const input = tf.input({ shape: [8, 8, 3] });
  const init = (seed: number) => tf.initializers.glorotUniform({ seed });
  let h = tf.layers.conv2d({ filters: 4, kernelSize: 3, padding: 'same', kernelInitializer: init(1), name: 'c1' }).apply(input) as tf.SymbolicTensor;
  h = tf.layers.batchNormalization({ name: 'bn1', movingMeanInitializer: 'ones' }).apply(h) as tf.SymbolicTensor;
  h = tf.layers.globalAveragePooling2d({ name: 'gap' }).apply(h) as tf.SymbolicTensor;
  h = tf.layers.reshape({ targetShape: [1, 1, 4], name: 'r1' }).apply(h) as tf.SymbolicTensor;
  h = tf.layers.conv2d({ filters: 5, kernelSize: 1, kernelInitializer: init(2), name: 'preds' }).apply(h) as tf.SymbolicTensor;
  h = tf.layers.activation({ activation: 'softmax', name: 'act_softmax' }).apply(h) as tf.SymbolicTensor;
  h = tf.layers.reshape({ targetShape: [5], name: 'r2' }).apply(h) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: h });
}

async function artifactsOf(model: tf.LayersModel): Promise<tf.io.ModelArtifacts> {
  let saved: tf.io.ModelArtifacts | undefined;
  await model.save(tf.io.withSaveHandler(async (a) => ((saved = a), { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } })));
  return saved!;
}

test('classifierTopology: pixels in (preprocessing as a Rescaling layer), logits out (softmax dropped), same weights', async () => {
  const model = smallKerasLike();
  const a = await artifactsOf(model);
  const pre = { scale: 1 / 127.5, shift: -1 };
  const topo = classifierTopology(a.modelTopology, pre, 'small');
  const rewritten = await tf.loadLayersModel(tf.io.fromMemory({ modelTopology: topo as tf.io.ModelArtifacts['modelTopology'], weightSpecs: a.weightSpecs, weightData: a.weightData }));
  assert.equal(rewritten.layers[1]!.name, PIXELS_LAYER);
  const pixels = tf.randomUniform([3, 8, 8, 3], 0, 255, 'float32', 7);
  const got = rewritten.predict(pixels) as tf.Tensor;
  // expected: the original's probabilities are the softmax of the logits we now output
  const probs = model.predict(tf.add(tf.mul(pixels, pre.scale), pre.shift)) as tf.Tensor;
  const diff = tf.max(tf.abs(tf.sub(tf.softmax(got), probs))).dataSync()[0]!;
  assert.ok(diff < 1e-5, `softmax of the new outputs differs from the original's by ${diff}`);
  assert.ok(tf.max(tf.abs(tf.sub(tf.sum(got, 1), 1))).dataSync()[0]! > 1e-3, 'outputs are logits, not probabilities');
  // the input topology is left alone: a second rewrite of the original gives the same result
  assert.deepEqual(classifierTopology(a.modelTopology, pre, 'small'), topo);
  assert.throws(() => classifierTopology(a.modelTopology, { scale: [1, 2, 3], shift: 0 }, 'small'), (e: unknown) => e instanceof UapError && e.code === 'BAD_MODEL');
  tf.dispose([pixels, got, probs]);
  model.dispose();
  rewritten.dispose();
});

test('freezeAllButLast: only the last n layers with weights train; frozen layers (batch-norm statistics included) do not move', async () => {
  const model = smallKerasLike();
  const data = noise(32, [8, 8, 3], 5);
  assert.deepEqual(weightedLayers(model).map((l) => l.name), ['c1', 'bn1', 'preds']);
  assert.deepEqual(freezeAllButLast(model, 1), ['preds']);
  const before = model.layers.map((l) => l.getWeights().map((w) => w.dataSync().slice()));
  const r = await finetuneWithPerturbations(model, data, { pool: [new Float32Array(8 * 8 * 3).fill(20)], epochs: 2, batchSize: 8, learningRate: 1e-2, training: false });
  assert.equal(r.steps, 8);
  model.layers.forEach((l, i) => {
    const changed = l.getWeights().some((w, j) => w.dataSync().some((x, k) => x !== before[i]![j]![k]));
    assert.equal(changed, l.name === 'preds', `${l.name} ${changed ? 'changed' : 'unchanged'}`);
  });
  assert.deepEqual(freezeAllButLast(model, undefined), ['c1', 'bn1', 'preds']);
  assert.equal(model.trainableWeights.length, 6);
  for (const bad of [0, 1.5, 4]) {
    assert.throws(() => freezeAllButLast(model, bad, '--trainable-layers'), (e: unknown) => e instanceof UapError && e.code === 'BAD_ARGUMENT' && e.input === '--trainable-layers');
  }
  model.dispose();
});

test('freezeAllButLast on the MNIST CNN: a frozen feature extractor keeps its weights, the head trains', async () => {
  const model = buildMnistCnn(2);
  const names = freezeAllButLast(model, 2);
  assert.equal(names.length, 2);
  const w0 = model.layers.map((l) => l.getWeights().map((w) => w.dataSync().slice()));
  await finetuneWithPerturbations(model, noise(16, [28, 28, 1], 10), { pool: [new Float32Array(784)], epochs: 1, batchSize: 8, learningRate: 1e-2 });
  const moved = model.layers.filter((l) => l.weights.length > 0).map((l) => {
    const i = model.layers.indexOf(l);
    return l.getWeights().some((w, j) => w.dataSync().some((x, k) => x !== w0[i]![j]![k]));
  });
  // the two convolutions are frozen; the two dense layers train
  assert.deepEqual(moved, [false, false, true, true]);
  model.dispose();
});

test('soft targets: training toward the model\'s own clean softmax leaves clean images without a pull; one-hot labels do pull', async () => {
  const data = noise(16, [28, 28, 1], 10, 5);
  const run = async (soft: boolean) => {
    const model = buildMnistCnn(3);
    const z = model.predict(tf.tensor4d(data.images, [16, 28, 28, 1])) as tf.Tensor;
    const targets = tf.softmax(z).dataSync() as Float32Array;
    const w0 = model.getWeights().map((w) => w.dataSync().slice());
    const sgd = tf.train.sgd(0.1);
    await finetuneWithPerturbations(model, { ...data, targets: soft ? targets : undefined }, { pool: [new Float32Array(784)], probability: 0, epochs: 1, batchSize: 16, optimizer: sgd });
    let moved = 0;
    model.getWeights().forEach((w, i) => w.dataSync().forEach((x, j) => (moved = Math.max(moved, Math.abs(x - w0[i]![j]!)))));
    tf.dispose(z);
    sgd.dispose();
    model.dispose();
    return moved;
  };
  const soft = await run(true);
  const hard = await run(false);
  assert.ok(soft < 1e-6, `weights moved by ${soft} toward the model's own predictions`);
  assert.ok(hard > 1e-4, `weights moved by ${hard} toward one-hot labels`);
  await assert.rejects(
    finetuneWithPerturbations(buildMnistCnn(3), { ...data, targets: new Float32Array(5) }, { pool: [new Float32Array(784)] }),
    (e: unknown) => e instanceof UapError && e.code === 'BAD_INPUT',
  );
});
