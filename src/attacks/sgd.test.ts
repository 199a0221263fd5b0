import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { UapError } from '../errors.js';
import { evaluatePerturbation } from '../eval/fooling-rate.js';
import { createRng, gaussianArray } from '../util/rng.js';
import { lpNorm } from './project.js';
import { accumulateMomentum, lossGradient, lossValue, sgdPerturbation, type SgdOptions } from './sgd.js';
import type { PassRecord } from './universal.js';
import { MlpClassifier } from './testing/affine-classifier.js';

await tf.setBackend('cpu');

const SHAPE = [4, 4, 1] as const;
const D = 16;
const N = 100;
const mlp = new MlpClassifier(SHAPE, 32, 10, createRng(2));
const U = tf.tensor4d(
  gaussianArray(N * D, createRng(9), 128, 40).map((a) => Math.min(255, Math.max(0, a))),
  [N, ...SHAPE],
);

test('the loss gradients equal autodiff of the losses they claim to be', () => {
  const rng = createRng(4);
  const z = tf.tensor2d(gaussianArray(6 * 5, rng, 0, 3), [6, 5]);
  const cls = new Int32Array([0, 1, 2, 3, 4, 0]);
  const clsT = tf.tensor1d(cls, 'int32');
  for (const loss of ['ce', 'clamped-ce', 'margin', 'complement'] as const) {
    for (const targeted of [false, true]) {
      const kappa = 1;
      const beta = 2.5; // some rows above it, some below
      const got = lossGradient(z, clsT, loss, kappa, targeted, undefined, beta).arraySync();
      // Reference: tf.grad of the mean objective written directly.
      const f = (zz: tf.Tensor) =>
        tf.tidy(() => {
          const oh = tf.oneHot(clsT, 5).toFloat();
          // −log(1 − p_y) = LSE(z) − LSE_{k≠y}(z) (checked against float64 below; float32 1 − p_y loses the digits)
          if (loss === 'complement' && !targeted) return tf.mean(tf.sub(tf.logSumExp(zz, 1), tf.logSumExp(tf.sub(zz, tf.mul(oh, 1e9)), 1)));
          if (loss === 'ce' || loss === 'clamped-ce' || loss === 'complement') {
            const ce = tf.neg(tf.sum(tf.mul(oh, tf.logSoftmax(zz)), 1));
            if (targeted) return tf.mean(ce);
            return tf.mean(tf.neg(loss === 'ce' ? ce : tf.minimum(ce, beta)));
          }
          const zc = tf.sum(tf.mul(zz, oh), 1);
          const zo = tf.max(tf.sub(zz, tf.mul(oh, 1e9)), 1);
          return tf.mean(tf.maximum(targeted ? tf.sub(zo, zc) : tf.sub(zc, zo), -kappa));
        });
      const want = tf.grad(f)(z).arraySync() as number[][];
      for (let i = 0; i < 6; i++) for (let k = 0; k < 5; k++) assert.ok(Math.abs(got[i]![k]! - want[i]![k]!) < 1e-6, `${loss} targeted=${targeted}`);
      // And the reported value is that objective.
      const val = lossValue(z.dataSync() as Float32Array, cls, 5, loss, kappa, targeted, beta);
      assert.ok(Math.abs(val - (f(z).dataSync()[0] as number)) < 1e-5);
      if (loss === 'complement' && !targeted) {
        const rows = z.arraySync();
        const want64 = rows.reduce((acc, r, i) => {
          const e = r.map(Math.exp);
          return acc - Math.log(1 - e[cls[i]!]! / e.reduce((a, b) => a + b, 0));
        }, 0) / rows.length;
        assert.ok(Math.abs(val - want64) < 1e-4, `complement: ${val} vs −log(1 − p_y) in float64 ${want64}`);
      }
    }
  }
  tf.dispose([z, clsT]);
});

test('ce-norm: each row is the CE gradient scaled to unit length, its value CE; a saturated row stays 0', () => {
  // Row 0: the model sure of class 0 (CE gradient ≈ 0.08 long); row 1: fooled (≈ 1.4 long); row 2: a logit
  // margin of 200, where float32's softmax is exactly one-hot and the CE gradient exactly 0.
  const z = tf.tensor2d([[4, 1, 0], [-3, 3, 0], [200, 0, 0]], [3, 3]);
  const clsT = tf.tensor1d(new Int32Array([0, 0, 0]), 'int32');
  for (const targeted of [false, true]) {
    const got = lossGradient(z, clsT, 'ce-norm', 0, targeted, 3).arraySync();
    const ce = lossGradient(z, clsT, 'ce', 0, targeted, 3).arraySync();
    for (const i of [0, 1]) {
      const len = Math.hypot(...ce[i]!);
      assert.ok(Math.abs(Math.hypot(...got[i]!) * 3 - 1) < 1e-6, `row ${i} has length 1/batch`);
      for (let k = 0; k < 3; k++) assert.ok(Math.abs(got[i]![k]! - ce[i]![k]! / len / 3) < 1e-6, `row ${i} points as CE's`);
    }
    assert.deepEqual(got[2]!.map(Math.abs), [0, 0, 0], 'saturated row: 0, not NaN');
  }
  assert.ok(Math.hypot(...lossGradient(z, clsT, 'ce', 0, false, 3).arraySync()[0]!) < 0.1, 'the sure row is short under CE');
  const zs = z.dataSync() as Float32Array;
  const cls = new Int32Array([0, 0, 0]);
  assert.equal(lossValue(zs, cls, 3, 'ce-norm', 0, false), lossValue(zs, cls, 3, 'ce', 0, false));
  tf.dispose([z, clsT]);
});

test('clamped CE is CE below β and has zero gradient above it (closed form and finite differences)', () => {
  // Row 0: CE ≈ 0.1 (below β = 2); row 1: CE ≈ 6 (above); row 2: just below β; targeted rows are plain CE.
  const z = tf.tensor2d([[4, 1, 0], [-3, 3, 0], [0.2, 1.5, 0]], [3, 3]);
  const cls = new Int32Array([0, 0, 0]);
  const clsT = tf.tensor1d(cls, 'int32');
  const beta = 2;
  const zs = z.arraySync();
  const ce = zs.map((row) => Math.log(row.reduce((a, b) => a + Math.exp(b), 0)) - row[0]!);
  assert.ok(ce[0]! < beta && ce[1]! > beta && ce[2]! < beta && ce[2]! > beta - 0.5, `CE ${ce.join(' ')}`);
  const clamped = lossGradient(z, clsT, 'clamped-ce', 0, false, 3, beta).arraySync();
  const plain = lossGradient(z, clsT, 'ce', 0, false, 3).arraySync();
  assert.deepEqual(clamped[0], plain[0], 'below β: the CE gradient');
  assert.deepEqual(clamped[2], plain[2], 'below β: the CE gradient');
  assert.deepEqual(clamped[1]!.map(Math.abs), [0, 0, 0], 'above β: no gradient');
  // The value: −min(CE, β) per row, averaged.
  const v = lossValue(z.dataSync() as Float32Array, cls, 3, 'clamped-ce', 0, false, beta);
  assert.ok(Math.abs(v - -(ce[0]! + beta + ce[2]!) / 3) < 1e-5, `value ${v}`);
  // Central finite differences of that value match the analytic gradient, entry by entry.
  const h = 1e-2;
  for (let i = 0; i < 3; i++) {
    for (let k = 0; k < 3; k++) {
      const at = (e: number) => {
        const zz = zs.map((r) => r.slice());
        zz[i]![k]! += e;
        return lossValue(Float32Array.from(zz.flat()), cls, 3, 'clamped-ce', 0, false, beta);
      };
      const fd = (at(h) - at(-h)) / (2 * h);
      assert.ok(Math.abs(fd - clamped[i]![k]!) < 2e-3, `∂J/∂z[${i}][${k}]: finite difference ${fd}, analytic ${clamped[i]![k]}`);
    }
  }
  const targeted = lossGradient(z, clsT, 'clamped-ce', 0, true, 3, beta).arraySync();
  assert.deepEqual(targeted, lossGradient(z, clsT, 'ce', 0, true, 3).arraySync(), 'targeted clamped-ce is CE');
  tf.dispose([z, clsT]);
});

test('momentum 0 is no momentum; momentum μ > 0 steps along sign(μ·m + g/‖g‖₁)', async () => {
  const opts: SgdOptions = { norm: 'inf', xi: 30, epochs: 2, seed: 5, batchSize: 16 };
  const plain = await sgdPerturbation(mlp, U, opts);
  assert.deepEqual((await sgdPerturbation(mlp, U, { ...opts, momentum: 0 })).v, plain.v);
  assert.notDeepEqual((await sgdPerturbation(mlp, U, { ...opts, momentum: 0.9 })).v, plain.v);
  // The accumulator itself, against numbers worked by hand.
  const m = Float32Array.of(0.5, -1, 0);
  accumulateMomentum(m, Float32Array.of(2, 2, -4), 0.5); // ‖g‖₁ = 8: m = 0.5·m + g/8
  assert.deepEqual(Array.from(m), [0.5, -0.25, -0.5]);
  accumulateMomentum(m, new Float32Array(3), 0.5); // g = 0 adds nothing
  assert.deepEqual(Array.from(m), [0.25, -0.125, -0.25]);
});

test('untargeted SGD: the loss goes down and the fooling rate rises, inside the ξ-ball', async () => {
  for (const [norm, xi, optimizer] of [
    ['inf', 40, 'sgd'],
    [2, 80, 'adam'],
  ] as const) {
    const before = tf.memory().numTensors;
    const res = await sgdPerturbation(mlp, U, { norm, xi, epochs: 6, seed: 1, optimizer });
    assert.equal(tf.memory().numTensors, before, 'no leaked tensors');
    const losses = res.history.map((h) => h.loss!);
    assert.ok(losses.at(-1)! < losses[0]! - 0.3, `loss ${losses.join(' ')}`);
    assert.ok(res.foolingRate >= 0.5, `fooling rate ${res.foolingRate}`);
    assert.ok(res.foolingRate > res.history[0]!.foolingRate);
    assert.ok(lpNorm(res.v, norm) <= xi * (1 + 1e-5));
    assert.equal((await evaluatePerturbation(mlp, U, null, res.v)).foolingRate, res.foolingRate);
  }
});

test('targeted SGD (margin loss) sends most images to the target class', async () => {
  const target = 3;
  const chance = (await evaluatePerturbation(mlp, U, null, new Float32Array(D), { target })).targetSuccess!;
  const res = await sgdPerturbation(mlp, U, { norm: 'inf', xi: 40, epochs: 6, seed: 1, target, loss: 'margin', kappa: 2 });
  const success = res.history.at(-1)!.targetSuccess!;
  assert.ok(success >= 0.7 && success > chance + 0.5, `target success ${success} (clean: ${chance})`);
});

test('deterministic for a seed; delta stops early; abort returns the last epoch', async () => {
  const opts: SgdOptions = { norm: 'inf', xi: 30, epochs: 3, seed: 5, batchSize: 16 };
  const a = await sgdPerturbation(mlp, U, opts);
  const b = await sgdPerturbation(mlp, U, opts);
  assert.deepEqual(a.v, b.v);
  assert.equal(a.passes, 3);

  const early = await sgdPerturbation(mlp, U, { ...opts, xi: 40, epochs: 10, delta: 0.6 });
  assert.ok(early.passes < 10 && early.foolingRate >= 0.4);

  const ctl = new AbortController();
  let epoch1: Float32Array | null = null;
  const res = await sgdPerturbation(mlp, U, {
    ...opts,
    signal: ctl.signal,
    onPassEnd: (v) => {
      epoch1 = v.slice();
      ctl.abort();
    },
  });
  assert.equal(res.aborted, true);
  assert.equal(res.passes, 1);
  assert.deepEqual(res.v, epoch1);
});

test('augmentation changes the steps, stays seeded, and a resumed run repeats the uninterrupted one', async () => {
  const opts: SgdOptions = { norm: 'inf', xi: 30, epochs: 2, seed: 5, batchSize: 16, augment: { flip: true, minScale: 0.75 } };
  const plain = await sgdPerturbation(mlp, U, { ...opts, augment: undefined });
  const full = await sgdPerturbation(mlp, U, opts);
  assert.notDeepEqual(full.v, plain.v, 'augmentation has an effect');
  let after1: Float32Array | null = null;
  let history1: PassRecord[] = [];
  const ctl = new AbortController();
  await sgdPerturbation(mlp, U, {
    ...opts,
    signal: ctl.signal,
    onPassEnd: (v, h) => {
      after1 = v.slice();
      history1 = h.slice();
      ctl.abort();
    },
  });
  const resumed = await sgdPerturbation(mlp, U, { ...opts, initial: { v: after1!, pass: 1, history: history1 } });
  assert.deepEqual(resumed.v, full.v);
});

test('bad options are rejected with BAD_ARGUMENT naming the option', async () => {
  const base: SgdOptions = { norm: 'inf', xi: 10 };
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ xi: 0 }, /xi/],
    [{ norm: 'l3' }, /norm/],
    [{ epochs: 0 }, /epochs/],
    [{ stepSize: -1 }, /stepSize/],
    [{ loss: 'hinge' }, /loss/],
    [{ optimizer: 'rmsprop' }, /optimizer/],
    [{ target: 10 }, /target/],
    [{ delta: 1 }, /delta/],
    [{ kappa: -1 }, /kappa/],
    [{ beta: 0 }, /beta/],
    [{ momentum: -0.1 }, /momentum/],
    [{ momentum: 1 }, /momentum/],
    [{ momentum: 0.5, optimizer: 'adam' }, /momentum/],
    [{ loss: 'clamped-ce', beta: Number.POSITIVE_INFINITY }, /beta/],
    [{ augment: { minScale: 0 } }, /minScale/],
  ];
  for (const [o, re] of cases) {
    await assert.rejects(
      sgdPerturbation(mlp, U, { ...base, ...o } as SgdOptions),
      (e: unknown) => e instanceof UapError && e.code === 'BAD_ARGUMENT' && re.test(e.message),
    );
  }
});
