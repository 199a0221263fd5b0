import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { loadModel } from './model-files.js';
import type { NetClassifier } from '../models/net-classifier.js';
import { randomTensor, relativeError, seededRandom, useWasm } from '../tensor/testing/grad.js';
import { repoRoot } from './model-files.js';
import { WorkerPoolClassifier } from './worker-pool-classifier.js';
import { hasPerturbationGradient } from '../models/classifier.js';
import type { OrtClassifier } from './ort-classifier.js';
import { loadOrtEngine } from './ort-engine.js';

const modelsDir = path.join(process.env.UAP_SHARED ?? path.resolve(repoRoot, '../shared'), 'models');
const spec = 'mobilenet_v1_0.25_224';

describe('WorkerPoolClassifier (2 workers) equals the in-thread NetClassifier', { skip: !existsSync(modelsDir) && 'no ../shared/models' }, () => {
  let pool: WorkerPoolClassifier;
  let local: NetClassifier;
  let x: tf.Tensor4D;

  before(async () => {
    await useWasm();
    [pool, local] = await Promise.all([WorkerPoolClassifier.create(spec, { modelsDir, workers: 2 }), loadModel(spec, { modelsDir })]);
    // 3 images: the workers get 2 and 1
    x = randomTensor<tf.Rank.R4>([3, 224, 224, 3], seededRandom(4), 127.5, 127.5);
  });
  after(() => {
    pool?.dispose();
    local?.dispose();
    x?.dispose();
  });

  it('describes the same model', () => {
    assert.equal(pool.size, 2);
    assert.equal(pool.id, local.id);
    assert.deepEqual([...pool.inputShape], [...local.inputShape]);
    assert.deepEqual(pool.labels.ids, local.labels.ids);
    assert.equal(pool.backend, 'wasm');
  });

  it('logits', async () => {
    const [a, b] = await Promise.all([pool.logits(x), local.logits(x)]);
    assert.deepEqual(a.shape, [3, 1000]);
    assert.ok(relativeError(a, b) < 1e-6);
    tf.dispose([a, b]);
  });

  it('jacobian', async () => {
    const classes = tf.tensor2d([1, 2, 3, 4, 5, 6], [3, 2], 'int32');
    const a = await pool.jacobian(x, classes);
    const b = await local.jacobian(x, classes);
    assert.deepEqual(a.grads.shape, [3, 2, 224, 224, 3]);
    assert.ok(relativeError(a.logits, b.logits) < 1e-6);
    assert.ok(relativeError(a.grads, b.grads) < 1e-6);
    assert.ok(a.grads.abs().max().dataSync()[0]! > 0);
    tf.dispose([a.logits, a.grads, b.logits, b.grads, classes]);
  });

  it('vjp with a logits-dependent upstream (softmax cross-entropy towards class 7)', async () => {
    const upstream = (l: tf.Tensor2D) => tf.sub(tf.softmax(l), tf.oneHot(tf.fill([l.shape[0]], 7, 'int32') as tf.Tensor1D, 1000)) as tf.Tensor2D;
    const a = await pool.vjp(x, upstream);
    const b = await local.vjp(x, upstream);
    assert.ok(relativeError(a.logits, b.logits) < 1e-6);
    assert.ok(relativeError(a.grad, b.grad) < 1e-5);
    tf.dispose([a.logits, a.grad, b.logits, b.grad]);
  });

  it('jacobian of one image (fewer images than workers): the classes are split, the result is the same', async () => {
    const x1 = tf.slice(x, [1], [1]) as tf.Tensor4D;
    const classes = tf.tensor2d([[9, 3, 7, 1, 5]], [1, 5], 'int32');
    const a = await pool.jacobian(x1, classes);
    const b = await local.jacobian(x1, classes);
    assert.deepEqual(a.grads.shape, [1, 5, 224, 224, 3]);
    assert.ok(relativeError(a.logits, b.logits) < 1e-6);
    assert.ok(relativeError(a.grads, b.grads) < 1e-6);
    // each class row individually (a mix-up of the interleaving would still pass a global error test only by luck)
    for (let j = 0; j < 5; j++) {
      const e = tf.tidy(() => relativeError(tf.slice(a.grads, [0, j], [1, 1]), tf.slice(b.grads, [0, j], [1, 1])));
      assert.ok(e < 1e-6, `class row ${j}: ${e}`);
    }
    tf.dispose([x1, classes, a.logits, a.grads, b.logits, b.grads]);
  });

  it('vjp with an upstream that needs the whole batch (mean over images): one forward, then the reverse passes', async () => {
    // d/dlogits of mean_i (logits_i · softmax(mean of all logits)) — depends on every image's logits
    const upstream = (l: tf.Tensor2D) => tf.div(tf.tile(tf.softmax(tf.mean(l, 0, true)), [l.shape[0], 1]), l.shape[0]) as tf.Tensor2D;
    const a = await pool.vjp(x, upstream);
    const b = await local.vjp(x, upstream);
    assert.ok(relativeError(a.logits, b.logits) < 1e-6);
    assert.ok(relativeError(a.grad, b.grad) < 1e-5);
    tf.dispose([a.logits, a.grad, b.logits, b.grad]);
  });

  it('a failing upstream releases the recorded passes; the pool keeps working', async () => {
    await assert.rejects(
      pool.vjp(x, () => {
        throw new Error('boom');
      }),
      /boom/,
    );
    const l = await pool.logits(x);
    assert.deepEqual(l.shape, [3, 1000]);
    l.dispose();
  });

  it('rejects images of the wrong size', async () => {
    const small = tf.zeros([1, 8, 8, 3]) as tf.Tensor4D;
    await assert.rejects(pool.logits(small), /224/);
    small.dispose();
  });
});

describe('WorkerPoolClassifier on the ort engine (2 workers × 1 thread) equals one in-thread OrtClassifier', { skip: !existsSync(modelsDir) && 'no ../shared/models' }, () => {
  let pool: WorkerPoolClassifier;
  let local: OrtClassifier;
  let x: tf.Tensor4D;

  before(async () => {
    await useWasm();
    const Ort = await loadOrtEngine();
    [pool, local] = await Promise.all([
      WorkerPoolClassifier.create(spec, { modelsDir, workers: 2, engine: 'ort' }),
      loadModel(spec, { modelsDir }).then((m) => Ort.create(m, { threads: 1 })),
    ]);
    x = randomTensor<tf.Rank.R4>([3, 224, 224, 3], seededRandom(5), 127.5, 127.5);
  });
  after(() => {
    pool?.dispose();
    local?.dispose();
    x?.dispose();
  });

  it('runs ONNX Runtime in the workers', () => {
    assert.equal(pool.backend, 'onnxruntime-cpu');
    assert.equal(pool.engine, 'ort');
    assert.ok(hasPerturbationGradient(pool));
  });

  it('logits and a Jacobian split by images (2 + 1) and by classes (1 image)', async () => {
    const [a, b] = await Promise.all([pool.logits(x), local.logits(x)]);
    assert.ok(relativeError(a, b) < 1e-5);
    const classes = tf.tensor2d([1, 2, 3, 4, 5, 6], [3, 2], 'int32');
    const ja = await pool.jacobian(x, classes);
    const jb = await local.jacobian(x, classes);
    assert.ok(relativeError(ja.grads, jb.grads) < 1e-4);
    const x1 = tf.slice(x, [2], [1]) as tf.Tensor4D;
    const c1 = tf.tensor2d([[9, 3, 7]], [1, 3], 'int32');
    const ka = await pool.jacobian(x1, c1);
    const kb = await local.jacobian(x1, c1);
    for (let j = 0; j < 3; j++) {
      const e = tf.tidy(() => relativeError(tf.slice(ka.grads, [0, j], [1, 1]), tf.slice(kb.grads, [0, j], [1, 1])));
      assert.ok(e < 1e-4, `class row ${j}: ${e}`);
    }
    tf.dispose([a, b, classes, ja.logits, ja.grads, jb.logits, jb.grads, x1, c1, ka.logits, ka.grads, kb.logits, kb.grads]);
  });

  it('vjp with a logits-dependent upstream', async () => {
    const upstream = (l: tf.Tensor2D) => tf.sub(tf.softmax(l), tf.oneHot(tf.fill([l.shape[0]], 7, 'int32') as tf.Tensor1D, 1000)) as tf.Tensor2D;
    const a = await pool.vjp(x, upstream);
    const b = await local.vjp(x, upstream);
    assert.ok(relativeError(a.logits, b.logits) < 1e-5);
    assert.ok(relativeError(a.grad, b.grad) < 1e-4);
    assert.ok(a.grad.abs().max().dataSync()[0]! > 0);
    tf.dispose([a.logits, a.grad, b.logits, b.grad]);
  });

  it('perturbedLogits equals one session over the whole batch', async () => {
    const v = Float32Array.from({ length: 224 * 224 * 3 }, (_, i) => ((i * 13) % 41) - 20);
    const a = await pool.perturbedLogits!(x, v, true);
    const b = await local.perturbedLogits(x, v, true);
    assert.deepEqual(a.shape, [3, 1000]);
    assert.ok(relativeError(a, b) < 1e-5);
    tf.dispose([a, b]);
  });

  it('perturbationGradient: the sum over both workers equals one session over the whole batch', async () => {
    const v = Float32Array.from({ length: 224 * 224 * 3 }, (_, i) => ((i * 37) % 21) - 10);
    const cls = Int32Array.from([3, 500, 999]);
    const objective = { loss: 'ce', targeted: false, beta: 9, kappa: 0, clip: true } as const;
    const a = await pool.perturbationGradient!(x, v, cls, objective);
    const b = await local.perturbationGradient(x, v, cls, objective);
    const ta = tf.tensor1d(a.grad);
    const tb = tf.tensor1d(b.grad);
    assert.ok(relativeError(ta, tb) < 1e-4);
    assert.ok(tf.max(tf.abs(tb)).dataSync()[0]! > 0);
    assert.equal(a.logits.length, 3 * 1000);
    tf.dispose([ta, tb]);
    const la = tf.tensor1d(a.logits);
    const lb = tf.tensor1d(b.logits);
    assert.ok(relativeError(la, lb) < 1e-5);
    tf.dispose([la, lb]);
  });
});
