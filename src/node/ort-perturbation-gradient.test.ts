import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { batchGradient, type SgdLossSettings } from '../attacks/sgd-engine.js';
import { hasPerturbationGradient, type Classifier } from '../models/classifier.js';
import { EnsembleClassifier } from '../models/ensemble.js';
import { randomTensor, relativeError, seededRandom, useWasm } from '../tensor/testing/grad.js';
import { loadModel, repoRoot } from './model-files.js';
import { OrtClassifier } from './ort-classifier.js';
import { decodeForTests } from './testing/photos.js';

/**
 * The ORT engine's perturbation-gradient graph (loss, reverse pass, clip mask and batch sum in one graph)
 * against the generic path of the gradient attacks on the same engine (logits, the loss gradient in tfjs,
 * vjp, mask and sum in tfjs), for every objective: Σ ∂J/∂v and J within 1e-4 relative. Batch 3 runs as
 * pieces of 2 and 1, so the host's sum over pieces is exercised too; v reaches ±40 so that x + v is clipped.
 */

const shared = process.env.UAP_SHARED ?? path.resolve(repoRoot, '../shared');
const haveShared = existsSync(path.join(shared, 'models'));

/** The same engine without the capability: batchGradient then takes the vjp path. */
function withoutCapability(c: Classifier): Classifier {
  return { id: c.id, inputShape: c.inputShape, labels: c.labels, backend: c.backend, logits: (x) => c.logits(x), jacobian: (x, k) => c.jacobian(x, k), vjp: (x, u) => c.vjp(x, u), dispose: () => {} };
}

async function images(name: string, shape: readonly [number, number, number]): Promise<tf.Tensor4D> {
  const [h, w, c] = shape;
  if (c === 1) return randomTensor<tf.Rank.R4>([3, h, w, c], seededRandom(3), 255);
  const data = new Float32Array(3 * h * w * c);
  for (const [j, f] of ['n01440764_tench.jpg', 'n01530575_brambling.jpg'].entries()) data.set(await decodeForTests(path.join(shared, 'imagenet-sample', 'images', f), h), j * h * w * c);
  const rng = seededRandom(4);
  for (let i = 2 * h * w * c; i < data.length; i++) data[i] = 255 * rng();
  return tf.tensor4d(data, [3, h, w, c]);
}

async function agree(name: string, ensemble = false): Promise<void> {
  const base = await loadModel(name, { modelsDir: path.join(shared, 'models') });
  const one = await OrtClassifier.create(base, { threads: 2 }, false);
  // an ensemble of the engine and a second session set of it: the members' sums add up
  const two = ensemble ? await OrtClassifier.create(base, { threads: 1 }, false) : undefined;
  const engine: Classifier = two ? new EnsembleClassifier([one, two]) : one;
  try {
    assert.ok(hasPerturbationGradient(engine));
    const x = await images(name, base.inputShape);
    const rng = seededRandom(5);
    const v = Float32Array.from({ length: x.size / 3 }, () => 80 * (rng() - 0.5));
    const clean = (await (await engine.logits(x)).array()) as number[][];
    const top = clean.map((r) => r.indexOf(Math.max(...r)));
    const second = clean.map((r, i) => r.indexOf(Math.max(...r.filter((_, k) => k !== top[i]))));
    // CE(z(clip(x + v)), top) per row; β sits between the two smallest, so one row is clamped and one is not
    const seen = tf.tidy(() => tf.clipByValue(tf.add(x, tf.tensor3d(v, base.inputShape as [number, number, number])), 0, 255)) as tf.Tensor4D;
    const ce = ((await (await engine.logits(seen)).array()) as number[][]).map((r, i) => Math.log(r.reduce((s, a) => s + Math.exp(a), 0)) - r[top[i]!]!);
    seen.dispose();
    const [lo, hi] = [...ce].sort((a, b) => a - b);
    const beta = (lo! + hi!) / 2;
    const cases: [string, SgdLossSettings, Int32Array][] = [
      ['ce', { loss: 'ce', kappa: 0, targeted: false, clip: true }, Int32Array.from(top)],
      ['ce, no clip', { loss: 'ce', kappa: 0, targeted: false, clip: false }, Int32Array.from(top)],
      ['ce, targeted', { loss: 'ce', kappa: 0, targeted: true, clip: true }, Int32Array.from(second)],
      ['clamped-ce', { loss: 'clamped-ce', kappa: 0, beta, targeted: false, clip: true }, Int32Array.from(top)],
      ['margin', { loss: 'margin', kappa: 2, targeted: false, clip: true }, Int32Array.from(top)],
      ['complement', { loss: 'complement', kappa: 0, targeted: false, clip: true }, Int32Array.from(top)],
      ['ce-norm', { loss: 'ce-norm', kappa: 0, targeted: false, clip: true }, Int32Array.from(top)],
      ['ce-norm, targeted', { loss: 'ce-norm', kappa: 0, targeted: true, clip: true }, Int32Array.from(second)],
      ['margin, targeted', { loss: 'margin', kappa: 5, targeted: true, clip: true }, Int32Array.from(second)],
    ];
    for (const [label, settings, cls] of cases) {
      const request = { v, cls, batchSize: 7 };
      const got = await batchGradient(engine, x, request, settings);
      assert.ok(hasPerturbationGradient(engine));
      const want = await batchGradient(withoutCapability(engine), x, request, settings);
      const err = relativeError(got.grad, want.grad);
      assert.ok(want.grad.some((g) => g !== 0), `${name} ${label}: the reference gradient is not zero`);
      assert.ok(err < 1e-4, `${name} ${label}: relative error ${err}`);
      assert.ok(Math.abs(got.lossSum - want.lossSum) <= 1e-4 * Math.max(1, Math.abs(want.lossSum)), `${name} ${label}: J ${got.lossSum} vs ${want.lossSum}`);
    }
    x.dispose();
  } finally {
    await one.release();
    await two?.release();
    base.dispose();
  }
}

describe('OrtClassifier.perturbationGradient equals the vjp path of the gradient attacks', () => {
  before(() => useWasm());
  it('embedded MNIST CNN', () => agree('mnist'));
  it('an ensemble (the MNIST CNN twice)', () => agree('mnist', true));
  it('not an ensemble with a member of another input size (it resizes: vjp path)', async () => {
    const a = await loadModel('mnist');
    const pad = { ...a, inputShape: [32, 32, 1] as const } as unknown as Classifier;
    const o = await OrtClassifier.create(a, { threads: 1 }, false);
    assert.equal(hasPerturbationGradient(new EnsembleClassifier([o, pad])), false);
    assert.equal(hasPerturbationGradient(new EnsembleClassifier([o, a])), false, 'a member without the capability');
    await o.release();
    a.dispose();
  });
  it('mobilenet_v1_0.25_224', { skip: !haveShared && 'no ../shared/models' }, () => agree('mobilenet_v1_0.25_224'));
});
