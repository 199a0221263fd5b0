import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { batchSource, wideBatchSource } from '../data/batch-source.js';
import { toSource } from '../data/image-source.js';
import { UapError } from '../errors.js';
import { evaluatePerturbation } from '../eval/fooling-rate.js';
import { loadDataset } from '../node/datasets.js';
import { loadModel } from '../node/model-files.js';
import { createRng, gaussianArray } from '../util/rng.js';
import type { PassRecord } from './pass-driver.js';
import { lpNorm } from './project.js';
import { resolveSgaOptions, SGA_DEFAULTS, sgaPerturbation, type SgaOptions } from './sga.js';
import { sgdPerturbation } from './sgd.js';
import { localSgdEngine, type SgdEngineFactory } from './sgd-engine.js';
import { MlpClassifier } from './testing/affine-classifier.js';

await tf.setBackend('wasm');
await tf.ready();

const SHAPE = [4, 4, 1] as const;
const N = 100;
const mlp = new MlpClassifier(SHAPE, 32, 10, createRng(2));
const U = tf.tensor4d(
  gaussianArray(N * 16, createRng(9), 128, 40).map((a) => Math.min(255, Math.max(0, a))),
  [N, ...SHAPE],
);

test('SGA with K = 1 and outer batch = minibatch is plain sign-SGD (same v, same seed, constant step)', async () => {
  for (const [norm, xi, extra] of [
    ['inf', 30, {}],
    [2, 80, {}],
    ['inf', 30, { augment: { flip: true, minScale: 0.75 }, target: 3 }],
    ['inf', 30, { loss: 'clamped-ce', beta: 1.5, momentum: 0.9 }],
  ] as const) {
    const common = { norm, xi, seed: 3, epochs: 3, batchSize: 10, stepSize: 4, schedule: 'constant', ...extra } as const;
    const sga = await sgaPerturbation(mlp, U, { ...common, minibatch: 10, innerSteps: 1 });
    const sgd = await sgdPerturbation(mlp, U, common);
    assert.deepEqual(sga.v, sgd.v, `${norm} ${JSON.stringify(extra)}`);
    assert.deepEqual(sga.history.map((h) => h.foolingRate), sgd.history.map((h) => h.foolingRate));
  }
});

test('SGA takes one step on v per outer batch, after K·|B|/|b| inner gradients, and stays in the ball', async () => {
  const calls: number[] = [];
  const spy: SgdEngineFactory = (settings) => {
    const inner = localSgdEngine(mlp, toSource(U, 'X'), settings);
    return { gradient: (r) => (calls.push(r.indices.length), inner.gradient(r)) };
  };
  const res = await sgaPerturbation(mlp, U, { norm: 'inf', xi: 20, epochs: 2, batchSize: 40, minibatch: 8, innerSteps: 3, engine: spy });
  // 100 images: outer batches of 40, 40, 20, i.e. 5 + 5 + 3 minibatches of ≤ 8, each batch seen K = 3 times.
  const perEpoch = (5 + 5 + 3) * 3;
  assert.equal(calls.length, 2 * perEpoch);
  assert.equal(calls.reduce((a, b) => a + b, 0), 2 * 3 * N);
  assert.deepEqual(res.history.map((h) => h.updates), [3, 3]);
  assert.ok(lpNorm(res.v, 'inf') <= 20 + 1e-5);
});

test('SGA: the loss of the clean labels rises, seeded, and a resumed run repeats the uninterrupted one', async () => {
  const opts: SgaOptions = { norm: 'inf', xi: 30, epochs: 3, seed: 5, batchSize: 50, minibatch: 10, innerSteps: 2, stepSize: 3, augment: { flip: true, minScale: 0.8, resize: [0.5, 1.5], noise: 4 } };
  const full = await sgaPerturbation(mlp, U, opts);
  assert.deepEqual((await sgaPerturbation(mlp, U, opts)).v, full.v, 'deterministic for a seed');
  const losses = full.history.map((h) => h.loss!);
  assert.ok(losses.at(-1)! < losses[0]!, `J (minimised) ${losses.join(' ')}`);
  assert.ok(full.foolingRate > 0.3, `fooling rate ${full.foolingRate}`);
  assert.equal((await evaluatePerturbation(mlp, U, null, full.v)).foolingRate, full.foolingRate);
  let after1: Float32Array | null = null;
  let history1: PassRecord[] = [];
  const ctl = new AbortController();
  await sgaPerturbation(mlp, U, {
    ...opts,
    signal: ctl.signal,
    onPassEnd: (v, h) => {
      after1 = v.slice();
      history1 = h.slice();
      ctl.abort();
    },
  });
  const resumed = await sgaPerturbation(mlp, U, { ...opts, initial: { v: after1!, pass: 1, history: history1 } });
  assert.deepEqual(resumed.v, full.v);
});

test('SGA (minibatch 10, K = 4, clamped CE) fools most unseen MNIST test digits at ℓ∞ 77 from 300 training digits', async () => {
  const model = await loadModel('mnist');
  try {
    const X = await loadDataset('mnist:train', { inputShape: [28, 28, 1], limit: 300, seed: 1 });
    const T = await loadDataset('mnist:test', { inputShape: [28, 28, 1], limit: 300, seed: 1 });
    // The published defaults but for the outer batch: 50 of 300 digits gives 6 steps on v per epoch, not 1.
    const res = await sgaPerturbation(model, batchSource(X), { norm: 'inf', xi: 77, epochs: 3, batchSize: 50 });
    const onTest = await evaluatePerturbation(model, batchSource(T), null, res.v);
    console.error(`# SGA on MNIST: fooling rate on X ${res.foolingRate.toFixed(3)}, on 300 test digits ${onTest.foolingRate.toFixed(3)}`);
    assert.ok(onTest.foolingRate >= 0.5, `fooling rate on 300 test digits ${onTest.foolingRate} (on X ${res.foolingRate})`);
  } finally {
    model.dispose();
  }
});

test('bad SGA options are rejected with BAD_ARGUMENT naming the option', () => {
  const base: SgaOptions = { norm: 'inf', xi: 10 };
  const cases: [Partial<Record<keyof SgaOptions, unknown>>, string][] = [
    [{ minibatch: 0 }, 'minibatch'],
    [{ innerSteps: 1.5 }, 'innerSteps'],
    [{ batchSize: -3 }, 'batchSize'],
    [{ innerStepSize: 0 }, 'innerStepSize'],
    [{ stepSize: Number.NaN }, 'stepSize'],
    [{ beta: 0 }, 'beta'],
    [{ momentum: 1 }, 'momentum'],
    [{ loss: 'hinge' }, 'loss'],
    [{ schedule: 'linear' }, 'schedule'],
    [{ epochs: 0 }, 'epochs'],
    [{ delta: 0 }, 'delta'],
  ];
  for (const [o, option] of cases) {
    assert.throws(
      () => resolveSgaOptions({ ...base, ...o } as SgaOptions),
      (e: unknown) => e instanceof UapError && e.code === 'BAD_ARGUMENT' && e.input === option,
      option,
    );
  }
  const r = resolveSgaOptions(base);
  assert.equal(r.stepSize, 1, 'step ξ/10');
  assert.equal(r.innerStepSize, 1, 'inner step = step');
  assert.equal(r.batchSize, SGA_DEFAULTS.batchSize);
});

test('the shift view: needs a source with the photos around the crop; with wideBatchSource v keeps the model\'s size and the engine reads the wide photos', async () => {
  await assert.rejects(sgaPerturbation(mlp, U, { norm: 'inf', xi: 20, epochs: 1, batchSize: 20, augment: { shift: true } }), /getWide/);
  // 6×6 photos whose centre 4×4 is U's image
  const wide = new Float32Array(N * 36).fill(128);
  const u = U.dataSync();
  for (let i = 0; i < N; i++) for (let y = 0; y < 4; y++) for (let x = 0; x < 4; x++) wide[i * 36 + (y + 1) * 6 + x + 1] = u[i * 16 + y * 4 + x]!;
  const base = wideBatchSource({ images: wide, labels: new Int32Array(N).fill(-1), n: N, shape: [6, 6, 1], names: [] }, [4, 4]);
  let wideReads = 0;
  const source = { ...base, getWide: (idx: Int32Array) => (wideReads++, base.getWide!(idx)) };
  const res = await sgaPerturbation(mlp, source, { norm: 'inf', xi: 20, epochs: 2, batchSize: 20, augment: { shift: true, flip: true } });
  assert.equal(res.v.length, 16);
  assert.ok(wideReads > 0 && res.foolingRate > 0);
  // the fooling rate on X is measured on the centre windows: the same as on U itself
  const onU = await evaluatePerturbation(mlp, U, null, res.v, { batchSize: 50 });
  assert.equal(res.foolingRate, onU.foolingRate);
});

test('--smooth: a blurred gradient gives a smoother v (less total variation) than the raw one, same seed', async () => {
  const tv = (v: Float32Array) => {
    let s = 0;
    for (let y = 0; y < 4; y++) for (let x = 0; x < 4; x++) s += (x < 3 ? Math.abs(v[y * 4 + x]! - v[y * 4 + x + 1]!) : 0) + (y < 3 ? Math.abs(v[y * 4 + x]! - v[(y + 1) * 4 + x]!) : 0);
    return s;
  };
  const common = { norm: 'inf', xi: 20, epochs: 3, batchSize: 20, seed: 4 } as const;
  const raw = await sgaPerturbation(mlp, U, common);
  const smooth = await sgaPerturbation(mlp, U, { ...common, smooth: 1.5 });
  assert.ok(tv(smooth.v) < tv(raw.v), `TV ${tv(smooth.v)} vs ${tv(raw.v)}`);
  const sgdRaw = await sgdPerturbation(mlp, U, common);
  const sgdSmooth = await sgdPerturbation(mlp, U, { ...common, smooth: 1.5 });
  assert.ok(tv(sgdSmooth.v) < tv(sgdRaw.v), `sgd: TV ${tv(sgdSmooth.v)} vs ${tv(sgdRaw.v)}`);
  assert.throws(() => resolveSgaOptions({ norm: 'inf', xi: 1, smooth: -1 }), /≥ 0/);
});
