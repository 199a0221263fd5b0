import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { before, describe, test } from 'node:test';
import { UapError } from '../errors.js';
import { buildMnistCnn } from '../models/train/mnist-cnn.js';
import { loadDataset } from '../node/datasets.js';
import { hardenInFolder } from '../node/harden-folder.js';
import { loadMnist } from '../node/mnist-files.js';
import { loadModel, localFolder, repoRoot } from '../node/model-files.js';
import { saveLayersModel } from '../node/save-layers-model.js';
import { registerConv2DBackpropFilterForWasm } from '../tensor/conv2d_backprop_filter.js';
import { finetuneWithPerturbations, type TrainingSet } from './finetune.js';
import type { HardenReport } from './harden.js';
import { loadLayersModelFromFolder } from './layers-model.js';
import { universalAdversarialTraining } from './universal-adversarial-training.js';

before(async () => {
  await tf.setBackend('wasm');
  await tf.ready();
  registerConv2DBackpropFilterForWasm();
});

async function digits(n: number, offset = 0): Promise<TrainingSet> {
  const m = await loadMnist('train');
  return { images: m.images.slice(offset * 784, (offset + n) * 784), labels: m.labels.slice(offset, offset + n), n, shape: [28, 28, 1] };
}

function weightsOf(model: tf.LayersModel): Float32Array[] {
  return model.getWeights().map((w) => w.dataSync() as Float32Array);
}

describe('finetuneWithPerturbations (small, untrained CNN)', () => {
  test('perturbs each image with the given probability, trains in place, leaks no tensors', async () => {
    const model = buildMnistCnn(3);
    const data = await digits(256);
    const pool = [new Float32Array(784).fill(30), new Float32Array(784).fill(-30)];
    const w0 = weightsOf(model);
    const n0 = tf.memory().numTensors;
    const all = await finetuneWithPerturbations(model, data, { pool, probability: 1, epochs: 1, batchSize: 64, learningRate: 1e-3 });
    assert.equal(tf.memory().numTensors, n0, 'no tensors leaked');
    assert.equal(all.steps, 4);
    assert.equal(all.epochs[0]!.perturbedShare, 1);
    const none = await finetuneWithPerturbations(model, data, { pool, probability: 0, epochs: 1, batchSize: 128 });
    assert.equal(none.epochs[0]!.perturbedShare, 0);
    const half = await finetuneWithPerturbations(model, data, { pool, epochs: 2, batchSize: 128, seed: 4 });
    for (const e of half.epochs) assert.ok(e.perturbedShare > 0.35 && e.perturbedShare < 0.65, `share ${e.perturbedShare}`);
    const w1 = weightsOf(model);
    assert.ok(w1.some((w, i) => w.some((x, j) => x !== w0[i]![j])), 'weights changed');
    model.dispose();
  });

  test('refuses an empty pool, a wrong-sized perturbation and unlabelled images', async () => {
    const model = buildMnistCnn(3);
    const data = await digits(8);
    await assert.rejects(finetuneWithPerturbations(model, data, { pool: [] }), (e: unknown) => e instanceof UapError && e.code === 'BAD_ARGUMENT');
    await assert.rejects(finetuneWithPerturbations(model, data, { pool: [new Float32Array(10)] }), (e: unknown) => e instanceof UapError && e.code === 'BAD_ARGUMENT');
    const unlabelled = { ...data, labels: data.labels.map((y, i) => (i === 3 ? -1 : y)) };
    await assert.rejects(finetuneWithPerturbations(model, unlabelled, { pool: [new Float32Array(784)] }), (e: unknown) => e instanceof UapError && e.code === 'BAD_INPUT');
    model.dispose();
  });
});

describe('universalAdversarialTraining (small, untrained CNN)', () => {
  test('v stays in the ℓ∞ ball, grows by ascent steps, and the weights train; no leaks', async () => {
    const data = await digits(256);
    for (const simultaneous of [false, true]) {
      const model = buildMnistCnn(5);
      const w0 = weightsOf(model);
      const n0 = tf.memory().numTensors;
      const r = await universalAdversarialTraining(model, data, { xi: 20, stepSize: 4, epochs: 1, batchSize: 32, learningRate: 1e-3, simultaneous });
      assert.equal(tf.memory().numTensors, n0, 'no tensors leaked');
      assert.equal(r.steps, 8);
      let max = 0;
      let nonzero = 0;
      for (const x of r.v) {
        max = Math.max(max, Math.abs(x));
        if (x !== 0) nonzero++;
      }
      assert.ok(max <= 20 + 1e-4, `‖v‖∞ = ${max}`);
      // 8 sign steps of 4 reach the boundary 20 where the gradient sign is stable
      assert.ok(max >= 20 - 1e-4, `‖v‖∞ = ${max} after 8 steps of 4`);
      assert.ok(nonzero > 100, `${nonzero} pixels moved`);
      assert.equal(r.epochs[0]!.normInf, max);
      assert.ok(weightsOf(model).some((w, i) => w.some((x, j) => x !== w0[i]![j])), 'weights changed');
      model.dispose();
    }
  });
});

// the zoo's mnist: a local mirror (UAP_MODELS_DIR) first, then the committed models/mnist — as loadModel looks
const MNIST = [process.env.UAP_MODELS_DIR, path.join(repoRoot, 'models')]
  .filter((d): d is string => !!d)
  .map((d) => path.join(d, 'mnist', 'model.json'))
  .find((f) => existsSync(f)) ?? path.join(repoRoot, 'models', 'mnist', 'model.json');
const skip = existsSync(MNIST) ? false : 'models/mnist is not there yet (train it with `node bin/uap.js train mnist`)';

describe('harden on MNIST (fine-tuning with a pool, the paper’s recipe)', { skip }, () => {
  test('layers model from the zoo folder agrees with loadModel', async () => {
    const layers = await loadLayersModelFromFolder(localFolder(path.dirname(MNIST)));
    const net = await loadModel('mnist');
    const x = tf.tensor4d((await digits(8)).images, [8, 28, 28, 1]);
    const a = layers.predict(x) as tf.Tensor;
    const b = await net.logits(x);
    assert.ok(tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]! < 1e-3);
    tf.dispose([x, a, b]);
    layers.dispose();
    net.dispose();
  });

  test('a fine-tuned model is harder to fool by a fresh universal perturbation of the same budget', { timeout: 240_000 }, async () => {
    const out = await mkdtemp(path.join(os.tmpdir(), 'uap-harden-'));
    try {
      const train = await loadDataset('mnist:train', { inputShape: [28, 28, 1], limit: 2000, seed: 1 });
      const testSet = await loadDataset('mnist:test', { inputShape: [28, 28, 1], limit: 500, seed: 1 });
      const report: HardenReport = await hardenInFolder(
        {
          model: 'mnist',
          method: 'finetune',
          xi: 77,
          pool: 1,
          attackSize: 64,
          delta: 0.2,
          maxPasses: 2,
          deepfoolBatch: 4,
          step: 2,
          candidates: 4,
          epochs: 1,
          batchSize: 64,
          learningRate: 1e-4,
          probability: 0.5,
          seed: 1,
          dataSpec: 'mnist:train',
          testSpec: 'mnist:test',
        },
        train,
        testSet,
        { out, log: () => undefined },
      );
      const { before: b, after: a } = report;
      const summary = JSON.stringify({ before: { ...b, fresh: undefined }, after: { ...a, fresh: undefined }, seconds: report.wallSeconds });
      console.log(summary);
      // the untouched model: ~99% clean, and a universal v of ξ = 77 fools a large share
      assert.ok(b.cleanAccuracy > 0.95, `clean accuracy before ${b.cleanAccuracy}`);
      assert.ok(b.freshFoolingRate > 0.3, `fresh fooling rate before ${b.freshFoolingRate}`);
      // both measures: the error rate is 1 − perturbed accuracy over the labelled digits
      for (const side of [b, a]) assert.ok(Math.abs(side.freshErrorRate - (1 - side.freshAccuracyPerturbed)) < 1e-12, `error rate ${side.freshErrorRate}`);
      // clean accuracy survives fine-tuning
      assert.ok(a.cleanAccuracy > 0.95 && a.cleanAccuracy > b.cleanAccuracy - 0.03, `clean accuracy ${b.cleanAccuracy} → ${a.cleanAccuracy}`);
      // the pool's perturbation stops working …
      assert.ok(a.poolFoolingRates[0]! < b.poolFoolingRates[0]! - 0.2, `pool ${b.poolFoolingRates[0]} → ${a.poolFoolingRates[0]}`);
      // … and a fresh one, computed the same way against the hardened model, fools clearly fewer digits
      assert.ok(a.freshFoolingRate < b.freshFoolingRate - 0.1, `fresh ${b.freshFoolingRate} → ${a.freshFoolingRate}`);
      // the saved model loads with loadModel and the record is on disk
      const saved = JSON.parse(await readFile(path.join(out, 'harden.json'), 'utf8')) as HardenReport;
      assert.equal(saved.after.freshFoolingRate, a.freshFoolingRate);
      const reloaded = await loadModel(out);
      assert.deepEqual([...reloaded.inputShape], [28, 28, 1]);
      reloaded.dispose();
    } finally {
      await rm(out, { recursive: true, force: true });
    }
  });
});
