import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { randomTensor, relativeError, seededRandom, useWasm } from '../../tensor/testing/grad.js';
import { referenceInputGrad } from './testing/reference.js';
import { NetClassifier } from '../net-classifier.js';
import { backwardNet } from './backward.js';
import { forwardValues } from './forward.js';
import { NetBuilder, disposeNet, type Activation, type Net, type NetOp } from './ir.js';

/**
 * backwardNet on wasm against tfjs's stock reverse mode (tf.grad through plain unfused ops) on cpu,
 * op by op on small random shapes, then on nets with fan-out, and the jacobian/vjp contract.
 */

const TOL = 1e-3;

/** Input gradients of `net` at a seeded random x for k seeded random upstream rows per image: wasm engine vs cpu stock. */
async function compare(net: Net, n: number, k: number, seed: number, integer = false): Promise<number> {
  await useWasm();
  const rng = seededRandom(seed);
  const [h, w, c] = net.inputShape;
  // integer-valued inputs make ties (several maxima in one pooling window)
  const x = integer ? tf.tidy(() => tf.round(randomTensor<tf.Rank.R4>([n, h, w, c], rng, 1.5))) : randomTensor<tf.Rank.R4>([n, h, w, c], rng);
  const K = tf.tidy(() => forwardValues(net, x, true)[net.output]!.shape[1]!);
  const upstream = randomTensor<tf.Rank.R2>([n * k, K], rng);

  const before = tf.memory().numTensors;
  const g = tf.tidy(() => backwardNet(net, forwardValues(net, x, true), upstream, k));
  assert.equal(tf.memory().numTensors, before + 1, 'backwardNet leaked tensors');
  assert.deepEqual(g.shape, [n * k, h, w, c]);
  const engine = (await g.data()) as Float32Array;
  g.dispose();

  await tf.setBackend('cpu');
  const ref = referenceInputGrad(net, x, upstream, k);
  const stock = (await ref.data()) as Float32Array;
  ref.dispose();
  await tf.setBackend('wasm');
  tf.dispose([x, upstream]);
  const err = relativeError(engine, stock);
  // guard against a vacuous comparison
  assert.ok(stock.some((v) => v !== 0), 'reference gradient is all zeros');
  return err;
}

let seed = 1;
function w<R extends tf.Rank>(shape: number[], scale = 0.5): tf.Tensor<R> {
  return randomTensor<R>(shape, seededRandom(1000 + seed++), scale);
}

/** input → op → (global average pool if spatial) → dense to 5 logits. */
function single(inShape: [number, number, number], op: () => NetOp, outChannels: number): Net {
  const b = new NetBuilder(inShape);
  const o = op();
  let id = b.add('op', o, b.input);
  const spatial = !['globalAvgPool', 'dense', 'reshape', 'gatherOutputs'].includes(o.kind);
  if (spatial) id = b.add('gap', { kind: 'globalAvgPool' }, id);
  id = b.add('logits', { kind: 'dense', kernel: w([outChannels, 5]), bias: w([5]), activation: 'linear' }, id);
  return b.build(id);
}

async function expectClose(net: Net, n = 2, k = 3, integer = false): Promise<void> {
  try {
    const err = await compare(net, n, k, seed++, integer);
    assert.ok(err < TOL, `relative error ${err}`);
  } finally {
    disposeNet(net);
  }
}

const leaky: Activation = { leakyAlpha: 0.1 };

before(async () => {
  await useWasm();
});

describe('backwardNet: conv2d', () => {
  const conv = (
    shape: [number, number, number],
    f: [number, number, number, number],
    strides: [number, number],
    pad: 'same' | 'valid' | [[number, number], [number, number]],
    activation: Activation,
    dilations?: [number, number],
  ) =>
    single(shape, () => ({ kind: 'conv2d', filter: w([...f]), bias: w([f[3]]), strides, pad, activation, dilations }), f[3]);

  it('3×3 stride 1 same, relu', () => expectClose(conv([6, 6, 3], [3, 3, 3, 4], [1, 1], 'same', 'relu')));
  it('3×3 stride 2 same, even size', () => expectClose(conv([8, 8, 3], [3, 3, 3, 4], [2, 2], 'same', 'linear')));
  it('3×3 stride 2 same, odd size, relu6', () => expectClose(conv([7, 9, 2], [3, 3, 2, 4], [2, 2], 'same', 'relu6')));
  it('5×5 stride 2 valid, odd size, leaky', () => expectClose(conv([11, 9, 2], [5, 5, 2, 3], [2, 2], 'valid', leaky)));
  it('4×2 filter, strides [3, 2], same', () => expectClose(conv([10, 7, 2], [4, 2, 2, 3], [3, 2], 'same', 'linear')));
  it('5×5 stride 3 same (sub-pixel form, s = 3)', () => expectClose(conv([10, 11, 2], [5, 5, 2, 3], [3, 3], 'same', 'relu')));
  it('1×1 pointwise', () => expectClose(conv([5, 5, 6], [1, 1, 6, 4], [1, 1], 'same', 'relu')));
  it('1×1 stride 2 valid (only every other pixel gets a gradient)', () =>
    expectClose(conv([6, 7, 3], [1, 1, 3, 4], [2, 2], 'valid', 'linear')));
  it('dilations 2, same', () => expectClose(conv([9, 9, 2], [3, 3, 2, 3], [1, 1], 'same', 'linear', [2, 2])));
  it('explicit padding', () => expectClose(conv([6, 6, 2], [3, 3, 2, 3], [2, 2], [[1, 0], [0, 2]], 'relu')));
});

describe('backwardNet: depthwiseConv2d', () => {
  const dw = (
    shape: [number, number, number],
    f: [number, number, number, number],
    strides: [number, number],
    pad: 'same' | 'valid' | [[number, number], [number, number]],
    activation: Activation,
    dilations?: [number, number],
  ) =>
    single(
      shape,
      () => ({ kind: 'depthwiseConv2d', filter: w([...f]), bias: w([f[2] * f[3]]), strides, pad, activation, dilations }),
      f[2] * f[3],
    );

  it('3×3 stride 1 same, relu6', () => expectClose(dw([6, 6, 4], [3, 3, 4, 1], [1, 1], 'same', 'relu6')));
  it('3×3 stride 2 same, even size (TF pads bottom/right only)', () =>
    expectClose(dw([8, 8, 3], [3, 3, 3, 1], [2, 2], 'same', 'linear')));
  it('3×3 stride 2 same, odd size', () => expectClose(dw([7, 9, 3], [3, 3, 3, 1], [2, 2], 'same', 'relu')));
  it('4×4 stride 2 same (asymmetric padding)', () => expectClose(dw([8, 7, 2], [4, 4, 2, 1], [2, 2], 'same', 'linear')));
  it('3×3 stride 2 valid', () => expectClose(dw([9, 8, 3], [3, 3, 3, 1], [2, 2], 'valid', leaky)));
  it('channel multiplier 2', () => expectClose(dw([7, 7, 3], [3, 3, 3, 2], [2, 2], 'same', 'linear')));
  it('channel multiplier 2, stride 1 valid', () => expectClose(dw([6, 5, 2], [3, 3, 2, 2], [1, 1], 'valid', 'relu')));
  it('dilations 2', () => expectClose(dw([9, 9, 2], [3, 3, 2, 1], [1, 1], 'same', 'linear', [2, 2])));
  it('explicit padding', () => expectClose(dw([7, 7, 2], [3, 3, 2, 1], [2, 2], [[0, 1], [1, 1]], 'linear')));
});

describe('backwardNet: elementwise and pooling ops', () => {
  it('scaleShift with leaky relu (alpha 0.2)', () =>
    expectClose(single([5, 5, 3], () => ({ kind: 'scaleShift', scale: w([3], 2), shift: w([3]), activation: { leakyAlpha: 0.2 } }), 3)));
  it('activation relu6', () =>
    expectClose(
      (() => {
        const b = new NetBuilder([5, 4, 3]);
        const s = b.add('scale', { kind: 'scaleShift', scale: tf.fill([3], 5) as tf.Tensor1D, shift: tf.fill([3], 2) as tf.Tensor1D, activation: 'linear' }, 0);
        const a = b.add('act', { kind: 'activation', activation: 'relu6' }, s);
        const g = b.add('gap', { kind: 'globalAvgPool' }, a);
        return b.build(b.add('logits', { kind: 'dense', kernel: w([3, 4]), activation: 'linear' }, g));
      })(),
    ));
  it('maxPool 2×2 stride 2 valid', () =>
    expectClose(single([8, 6, 3], () => ({ kind: 'maxPool', size: [2, 2], strides: [2, 2], pad: 'valid' }), 3)));
  it('maxPool 3×3 stride 2 same, odd size', () =>
    expectClose(single([7, 9, 2], () => ({ kind: 'maxPool', size: [3, 3], strides: [2, 2], pad: 'same' }), 2)));
  it('maxPool 2×2 stride 1 same (Tiny Darknet)', () =>
    expectClose(single([5, 5, 2], () => ({ kind: 'maxPool', size: [2, 2], strides: [1, 1], pad: 'same' }), 2)));
  it('maxPool 2×2 stride 2 with ties: the first maximum (row-major) takes the gradient, k = 1 and 3', async () => {
    await expectClose(single([6, 8, 3], () => ({ kind: 'maxPool', size: [2, 2], strides: [2, 2], pad: 'same' }), 3), 2, 1, true);
    await expectClose(single([6, 8, 3], () => ({ kind: 'maxPool', size: [2, 2], strides: [2, 2], pad: 'same' }), 3), 2, 3, true);
  });
  it('maxPool 3×3 stride 2 same with ties', () =>
    expectClose(single([7, 7, 2], () => ({ kind: 'maxPool', size: [3, 3], strides: [2, 2], pad: 'same' }), 2), 2, 2, true));
  it('avgPool 3×3 stride 2 same (edge windows average fewer pixels)', () =>
    expectClose(single([7, 8, 2], () => ({ kind: 'avgPool', size: [3, 3], strides: [2, 2], pad: 'same' }), 2)));
  it('avgPool 2×2 valid', () =>
    expectClose(single([6, 6, 3], () => ({ kind: 'avgPool', size: [2, 2], strides: [2, 2], pad: 'valid' }), 3)));
  it('pad', () => expectClose(single([4, 5, 2], () => ({ kind: 'pad', paddings: [[1, 2], [0, 3]] }), 2)));
  it('reverseChannels', () => expectClose(single([4, 4, 3], () => ({ kind: 'reverseChannels' }), 3)));
});

describe('backwardNet: head ops', () => {
  function head(tail: (b: NetBuilder, id: number) => number): Net {
    const b = new NetBuilder([4, 4, 3]);
    const c = b.add('conv', { kind: 'conv2d', filter: w([3, 3, 3, 4]), strides: [1, 1], pad: 'same', activation: 'linear' }, 0);
    return b.build(tail(b, c));
  }
  it('reshape + dense with relu + dense', () =>
    expectClose(
      head((b, c) => {
        const r = b.add('flat', { kind: 'reshape', shape: [64] }, c);
        const d = b.add('fc', { kind: 'dense', kernel: w([64, 7]), bias: w([7]), activation: 'relu' }, r);
        return b.add('logits', { kind: 'dense', kernel: w([7, 6]), activation: 'linear' }, d);
      }),
    ));
  it('reshape to [1, 1, C] then 1×1 conv then reshape (Keras MobileNet head)', () =>
    expectClose(
      head((b, c) => {
        const g = b.add('gap', { kind: 'globalAvgPool' }, c);
        const r = b.add('r1', { kind: 'reshape', shape: [1, 1, 4] }, g);
        const p = b.add('preds', { kind: 'conv2d', filter: w([1, 1, 4, 6]), bias: w([6]), strides: [1, 1], pad: 'same', activation: 'linear' }, r);
        return b.add('r2', { kind: 'reshape', shape: [6] }, p);
      }),
    ));
  it('gatherOutputs dropping a class and reordering', () =>
    expectClose(
      head((b, c) => {
        const g = b.add('gap', { kind: 'globalAvgPool' }, c);
        const d = b.add('fc', { kind: 'dense', kernel: w([4, 6]), activation: 'linear' }, g);
        return b.add('gather', { kind: 'gatherOutputs', indices: Int32Array.from([5, 3, 1, 2, 4]) }, d);
      }),
    ));
  it('gatherOutputs with a duplicated index', () =>
    expectClose(
      head((b, c) => {
        const g = b.add('gap', { kind: 'globalAvgPool' }, c);
        const d = b.add('fc', { kind: 'dense', kernel: w([4, 6]), activation: 'linear' }, g);
        return b.add('gather', { kind: 'gatherOutputs', indices: Int32Array.from([2, 0, 2, 5]) }, d);
      }),
    ));
});

/** A small MobileNet/ResNet/Inception-like net: preprocessing, fan-out into add and concat, pooling. */
function multiNode(): Net {
  const b = new NetBuilder([9, 9, 3]);
  const pre = b.add('pre', { kind: 'scaleShift', scale: tf.fill([3], 1 / 127.5) as tf.Tensor1D, shift: tf.fill([3], -1) as tf.Tensor1D, activation: 'linear' }, 0);
  const bgr = b.add('bgr', { kind: 'reverseChannels' }, pre);
  const c1 = b.add('c1', { kind: 'conv2d', filter: w([3, 3, 3, 4]), bias: w([4]), strides: [2, 2], pad: 'same', activation: 'relu6' }, bgr);
  const d1 = b.add('d1', { kind: 'depthwiseConv2d', filter: w([3, 3, 4, 1]), bias: w([4]), strides: [1, 1], pad: 'same', activation: 'relu' }, c1);
  const p1 = b.add('p1', { kind: 'conv2d', filter: w([1, 1, 4, 4]), strides: [1, 1], pad: 'same', activation: 'linear' }, d1);
  const res = b.add('res', { kind: 'add' }, [c1, p1]); // c1 used twice
  const br1 = b.add('br1', { kind: 'conv2d', filter: w([1, 1, 4, 2]), strides: [1, 1], pad: 'same', activation: leaky }, res);
  const br2 = b.add('br2', { kind: 'maxPool', size: [3, 3], strides: [1, 1], pad: 'same' }, res);
  const cat = b.add('cat', { kind: 'concat' }, [br1, br2, res]); // res used three times
  const padded = b.add('pad', { kind: 'pad', paddings: [[1, 1], [1, 1]] }, cat);
  const d2 = b.add('d2', { kind: 'depthwiseConv2d', filter: w([3, 3, 10, 1]), strides: [2, 2], pad: 'valid', activation: 'linear' }, padded);
  const bn = b.add('bn', { kind: 'scaleShift', scale: w([10], 1), shift: w([10]), activation: 'relu' }, d2);
  const twice = b.add('twice', { kind: 'add' }, [bn, d2]); // d2 used twice
  const gap = b.add('gap', { kind: 'globalAvgPool' }, twice);
  const fc = b.add('fc', { kind: 'dense', kernel: w([10, 8]), bias: w([8]), activation: 'linear' }, gap);
  return b.build(b.add('out', { kind: 'gatherOutputs', indices: Int32Array.from([1, 2, 3, 4, 5, 6, 7]) }, fc));
}

describe('backwardNet: whole nets', () => {
  it('multi-node net with add/concat fan-out, k = 1', async () => {
    const net = multiNode();
    try {
      // pixels 0..255 would saturate relu6 everywhere; the input here is random in [−1, 1]
      const err = await compare(net, 3, 1, 77);
      assert.ok(err < TOL, `relative error ${err}`);
    } finally {
      disposeNet(net);
    }
  });
  it('multi-node net with add/concat fan-out, k = 4', () => expectClose(multiNode(), 2, 4));

  it('add of a node with itself', () =>
    expectClose(
      (() => {
        const b = new NetBuilder([5, 5, 2]);
        const c = b.add('c', { kind: 'conv2d', filter: w([3, 3, 2, 3]), strides: [1, 1], pad: 'same', activation: 'linear' }, 0);
        const a = b.add('a', { kind: 'add' }, [c, c, c]);
        const g = b.add('gap', { kind: 'globalAvgPool' }, a);
        return b.build(b.add('logits', { kind: 'dense', kernel: w([3, 4]), activation: 'linear' }, g));
      })(),
    ));

  it('upstream of the wrong shape is refused', async () => {
    const net = multiNode();
    try {
      const x = tf.zeros([2, 9, 9, 3]) as tf.Tensor4D;
      const u = tf.zeros([3, 7]) as tf.Tensor2D;
      assert.throws(() => tf.tidy(() => backwardNet(net, forwardValues(net, x, true), u, 2)), /upstream/);
      tf.dispose([x, u]);
    } finally {
      disposeNet(net);
    }
  });
});

describe('NetClassifier on the engine', () => {
  it('jacobian rows equal k separate vjp calls; logits match; no leaks', async () => {
    await useWasm();
    const net = multiNode();
    const K = 7;
    const ids = Array.from({ length: K }, (_, i) => String(i));
    const clf = new NetClassifier('multi', net, { ids, names: ids });
    try {
      const rng = seededRandom(5);
      const n = 2;
      const k = 3;
      const x = randomTensor<tf.Rank.R4>([n, 9, 9, 3], rng, 127.5, 127.5);
      const classes = tf.tensor2d([4, 0, 6, 1, 1, 5], [n, k], 'int32');
      const before = tf.memory().numTensors;
      const { logits, grads } = await clf.jacobian(x, classes);
      assert.equal(tf.memory().numTensors, before + 2);
      assert.deepEqual(grads.shape, [n, k, 9, 9, 3]);
      const direct = await clf.logits(x);
      assert.ok(relativeError(logits, direct) < 1e-6);
      const cls = classes.arraySync();
      const jac = (await grads.data()) as Float32Array;
      const d = 9 * 9 * 3;
      for (let j = 0; j < k; j++) {
        const { logits: l2, grad } = await clf.vjp(x, (lg) =>
          tf.oneHot(tf.tensor1d(cls.map((row) => row[j]!), 'int32'), K).toFloat().mul(tf.onesLike(lg)) as tf.Tensor2D,
        );
        const gv = (await grad.data()) as Float32Array;
        for (let i = 0; i < n; i++) {
          const row = jac.subarray((i * k + j) * d, (i * k + j + 1) * d);
          const err = relativeError(row, gv.subarray(i * d, (i + 1) * d));
          assert.ok(err < 1e-5, `image ${i}, class ${j}: ${err}`);
          assert.ok(row.some((v) => v !== 0));
        }
        tf.dispose([l2, grad]);
      }
      tf.dispose([logits, grads, direct]);
      assert.equal(tf.memory().numTensors, before);
      tf.dispose([x, classes]);
    } finally {
      clf.dispose();
    }
  });

  it('jacobian in chunks of whole images (rowsPerPass) equals one pass', async () => {
    await useWasm();
    const net = multiNode();
    const ids = Array.from({ length: 7 }, (_, i) => String(i));
    const clf = new NetClassifier('multi', net, { ids, names: ids });
    try {
      const x = randomTensor<tf.Rank.R4>([5, 9, 9, 3], seededRandom(8), 127.5, 127.5);
      const classes = tf.tensor2d(Array.from({ length: 15 }, (_, i) => (i * 3) % 7), [5, 3], 'int32');
      clf.rowsPerPass = 0;
      const whole = await clf.jacobian(x, classes);
      clf.rowsPerPass = 7; // 2 images (6 rows) per pass: chunks of 2, 2, 1
      const before = tf.memory().numTensors;
      const chunked = await clf.jacobian(x, classes);
      assert.equal(tf.memory().numTensors, before + 2);
      assert.deepEqual(chunked.grads.shape, [5, 3, 9, 9, 3]);
      assert.ok(relativeError(chunked.logits, whole.logits) < 1e-6);
      assert.ok(relativeError(chunked.grads, whole.grads) < 1e-6);
      tf.dispose([whole.logits, whole.grads, chunked.logits, chunked.grads, x, classes]);
    } finally {
      clf.dispose();
    }
  });
});
