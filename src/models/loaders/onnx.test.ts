import * as tf from '@tensorflow/tfjs';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { UapError } from '../../errors.js';
import { readNpy } from '../../io/npy.js';
import { loadModel, repoRoot } from '../../node/model-files.js';
import { decodeBatchForTests, sharedDir, testPhotoBatch } from '../../node/testing/photos.js';
import { relativeError, seededRandom, useWasm } from '../../tensor/testing/grad.js';
import { imagenetLabels } from '../imagenet-classes.js';
import type { NetClassifier } from '../net-classifier.js';
import { backwardNet } from '../net/backward.js';
import { forwardValues, runNet } from '../net/forward.js';
import { disposeNet } from '../net/ir.js';
import { referenceInputGrad } from '../net/testing/reference.js';
import { floatTensor, int64Tensor, onnx, type NodeProto, type TensorProto } from '../onnx/proto.js';
import { onnxToNet } from './onnx.js';

/**
 * The ONNX importer against (1) a naive NCHW forward pass written out here, on small synthetic graphs
 * built with onnx-proto; (2) the real PyTorch export of mobilenet_v1_0.25_224, whose logits must equal
 * the TF.js model's; (3) bad files, each refused with one line naming the file and the op.
 */

before(useWasm);

// ---- a small ONNX writer ----

type Dim = number | string;
function valueInfo(name: string, dims: Dim[]) {
  return { name, type: { tensorType: { elemType: 1, shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) } } } };
}
function node(opType: string, input: string[], output: string[], attrs: Record<string, number | number[] | string> = {}): NodeProto {
  const attribute = Object.entries(attrs).map(([name, v]) =>
    typeof v === 'string'
      ? { name, type: 3, s: new TextEncoder().encode(v) }
      : Array.isArray(v)
        ? { name, type: 7, ints: v }
        : Number.isInteger(v) && !['alpha', 'epsilon', 'beta'].includes(name)
          ? { name, type: 2, i: v }
          : { name, type: 1, f: v },
  );
  return { opType, input, output, name: output[0], attribute };
}
function buildModel(o: { input?: Dim[]; inputs?: [string, Dim[]][]; output?: string; nodes: NodeProto[]; inits?: TensorProto[]; meta?: Record<string, string> }): Uint8Array {
  const m = onnx.ModelProto.create({
    irVersion: 7,
    producerName: 'uap-test',
    opsetImport: [{ domain: '', version: 13 }],
    metadataProps: Object.entries(o.meta ?? {}).map(([key, value]) => ({ key, value })),
    graph: {
      name: 'g',
      node: o.nodes,
      initializer: o.inits ?? [],
      input: (o.inputs ?? [['x', o.input ?? ['N', 3, 6, 6]]]).map(([n, d]) => valueInfo(n, d)),
      output: [valueInfo(o.output ?? 'y', ['N', 4])],
    },
  });
  return onnx.ModelProto.encode(m).finish();
}

// ---- a naive NCHW reference (one image: [C][H][W] as a flat array) ----

interface Img {
  c: number;
  h: number;
  w: number;
  d: Float64Array;
}
const at = (x: Img, c: number, i: number, j: number) => (i < 0 || j < 0 || i >= x.h || j >= x.w ? 0 : x.d[(c * x.h + i) * x.w + j]!);
function conv(x: Img, w: Float32Array, [O, Ig, kh, kw]: number[], b: Float32Array, s: number, [pt, pl, pb, pr]: number[], group: number): Img {
  const h = Math.floor((x.h + pt + pb - kh) / s) + 1;
  const wd = Math.floor((x.w + pl + pr - kw) / s) + 1;
  const d = new Float64Array(O * h * wd);
  const perGroup = O / group;
  for (let o = 0; o < O; o++) {
    const g = Math.floor(o / perGroup);
    for (let i = 0; i < h; i++)
      for (let j = 0; j < wd; j++) {
        let sum = b[o]!;
        for (let ci = 0; ci < Ig; ci++)
          for (let u = 0; u < kh; u++) for (let v = 0; v < kw; v++) sum += w[((o * Ig + ci) * kh + u) * kw + v]! * at(x, g * Ig + ci, i * s - pt + u, j * s - pl + v);
        d[(o * h + i) * wd + j] = sum;
      }
  }
  return { c: O, h, w: wd, d };
}
const map = (x: Img, f: (v: number, c: number) => number): Img => ({ ...x, d: x.d.map((v, i) => f(v, Math.floor(i / (x.h * x.w)))) });
function maxPool(x: Img, k: number, s: number): Img {
  const h = Math.floor((x.h - k) / s) + 1;
  const w = Math.floor((x.w - k) / s) + 1;
  const d = new Float64Array(x.c * h * w);
  for (let c = 0; c < x.c; c++)
    for (let i = 0; i < h; i++)
      for (let j = 0; j < w; j++) {
        let m = -Infinity;
        for (let u = 0; u < k; u++) for (let v = 0; v < k; v++) m = Math.max(m, at(x, c, i * s + u, j * s + v));
        d[(c * h + i) * w + j] = m;
      }
  return { c: x.c, h, w, d };
}
/** Gemm with transB: y = W x + b, W [out, in], x in CHW order. */
const gemm = (x: Float64Array, W: Float32Array, b: Float32Array, out: number) =>
  Array.from({ length: out }, (_, o) => x.reduce((s, v, i) => s + v * W[o * x.length + i]!, b[o]!));

function rand(n: number, rng: () => number, scale = 0.5): Float32Array {
  return Float32Array.from({ length: n }, () => (rng() * 2 - 1) * scale);
}

/** NHWC pixels of one image → NCHW Img */
function toImg(px: Float32Array, img: number, h: number, w: number, c: number): Img {
  const d = new Float64Array(c * h * w);
  for (let i = 0; i < h; i++) for (let j = 0; j < w; j++) for (let k = 0; k < c; k++) d[(k * h + i) * w + j] = px[((img * h + i) * w + j) * c + k]!;
  return { c, h, w, d };
}

describe('ONNX import: synthetic NCHW graphs against a naive NCHW forward', () => {
  const rng = seededRandom(12);
  // weights
  const w1 = rand(6 * 3 * 3 * 3, rng); // conv 3→6, 3×3, stride 2, after an explicit Pad
  const b1 = rand(6, rng);
  const bn = { scale: rand(6, rng).map((v) => 1 + v), bias: rand(6, rng), mean: rand(6, rng), varr: rand(6, rng).map((v) => 0.5 + Math.abs(v)) };
  const wd = rand(12 * 1 * 3 * 3, rng); // depthwise, multiplier 2: 6 → 12, pads 1
  const bd = rand(12, rng);
  const px = Float32Array.from({ length: 2 * 6 * 6 * 3 }, () => rng() * 255);

  test('Div/Sub preprocessing, Pad+Conv, BatchNormalization, Clip(0,6), depthwise Conv, Relu, MaxPool, Flatten of 12×1×1… and of C×H×W, Gemm, Softmax', () => {
    // two heads: A through MaxPool(2) on 3×3 → 1×1 then Flatten; B flattens the 3×3 map directly (CHW order matters)
    const wA = rand(4 * 12, rng);
    const bA = rand(4, rng);
    const wB = rand(4 * 12 * 9, rng);
    const bB = rand(4, rng);
    for (const head of ['A', 'B'] as const) {
      const tail =
        head === 'A'
          ? [node('MaxPool', ['r2'], ['mp'], { kernel_shape: [2, 2], strides: [2, 2] }), node('Flatten', ['mp'], ['fl']), node('Gemm', ['fl', 'wh', 'bh'], ['z'], { transB: 1 })]
          : [node('Flatten', ['r2'], ['fl']), node('Gemm', ['fl', 'wh', 'bh'], ['z'], { transB: 1 })];
      const bytes = buildModel({
        nodes: [
          node('Div', ['x', 'c127'], ['p1']),
          node('Sub', ['p1', 'one'], ['p2']),
          node('Pad', ['p2', 'pads'], ['padded']),
          node('Conv', ['padded', 'w1', 'b1'], ['c1'], { strides: [2, 2], kernel_shape: [3, 3] }),
          node('BatchNormalization', ['c1', 'bn_s', 'bn_b', 'bn_m', 'bn_v'], ['n1'], { epsilon: 1e-3 }),
          node('Clip', ['n1', 'zero', 'six'], ['r1']),
          node('Conv', ['r1', 'wd', 'bd'], ['c2'], { group: 6, pads: [1, 1, 1, 1], kernel_shape: [3, 3] }),
          node('Relu', ['c2'], ['r2']),
          ...tail,
          node('Softmax', ['z'], ['y'], { axis: 1 }),
        ],
        inits: [
          floatTensor('c127', [], [127.5]), floatTensor('one', [], [1]), floatTensor('zero', [], [0]), floatTensor('six', [], [6]),
          int64Tensor('pads', [8], [0, 0, 0, 0, 0, 0, 1, 1]), // bottom/right: TF "same" for stride 2
          floatTensor('w1', [6, 3, 3, 3], w1), floatTensor('b1', [6], b1),
          floatTensor('bn_s', [6], bn.scale), floatTensor('bn_b', [6], bn.bias), floatTensor('bn_m', [6], bn.mean), floatTensor('bn_v', [6], bn.varr),
          floatTensor('wd', [12, 1, 3, 3], wd), floatTensor('bd', [12], bd),
          floatTensor('wh', [4, head === 'A' ? 12 : 108], head === 'A' ? wA : wB), floatTensor('bh', [4], head === 'A' ? bA : bB),
        ],
      });
      const { net, outputs } = onnxToNet(bytes, { source: 'synthetic.onnx' });
      assert.equal(outputs, 4);
      assert.deepEqual(net.inputShape, [6, 6, 3]);
      const kinds = net.nodes.map((n) => n.op?.kind).filter(Boolean);
      assert.ok(!kinds.includes('pad'), `the Pad is absorbed by the conv: ${kinds}`);
      const got = tf.tidy(() => runNet(net, tf.tensor4d(px, [2, 6, 6, 3])).arraySync());
      for (let i = 0; i < 2; i++) {
        let x = map(toImg(px, i, 6, 6, 3), (v) => v / 127.5 - 1);
        x = conv(x, w1, [6, 3, 3, 3], b1, 2, [0, 0, 1, 1], 1);
        x = map(x, (v, c) => ((v - bn.mean[c]!) / Math.sqrt(bn.varr[c]! + 1e-3)) * bn.scale[c]! + bn.bias[c]!);
        x = map(x, (v) => Math.min(6, Math.max(0, v)));
        x = conv(x, wd, [12, 1, 3, 3], bd, 1, [1, 1, 1, 1], 6);
        x = map(x, (v) => Math.max(0, v));
        const logits = head === 'A' ? gemm(maxPool(x, 2, 2).d, wA, bA, 4) : gemm(x.d, wB, bB, 4);
        for (let k = 0; k < 4; k++) assert.ok(Math.abs(got[i]![k]! - logits[k]!) < 1e-4 * (1 + Math.abs(logits[k]!)), `head ${head}, image ${i}, logit ${k}: ${got[i]![k]} vs ${logits[k]}`);
      }
      disposeNet(net);
    }
  });

  test('PyTorch-style run-time padding arithmetic (Shape → Gather → Sub → Div → Cast → Concat → Pad) is folded', () => {
    // pads for H and W: top = (9 − H) / 2 (int), bottom = (9 − H) − top; from Shape(x)[2], as F.pad's export does
    const bytes = buildModel({
      input: ['N', 3, 6, 6],
      nodes: [
        node('Shape', ['x'], ['shp']),
        node('Gather', ['shp', 'i2'], ['h'], { axis: 0 }),
        node('Sub', ['nine', 'h'], ['tot']),
        node('Div', ['tot', 'two'], ['top']),
        node('Sub', ['tot', 'top'], ['bot']),
        node('Unsqueeze', ['top', 'ax0'], ['top1']),
        node('Unsqueeze', ['bot', 'ax0'], ['bot1']),
        node('Concat', ['z2', 'top1', 'top1', 'z2', 'bot1', 'bot1'], ['pads'], { axis: 0 }),
        node('Cast', ['pads'], ['padsi'], { to: 7 }),
        node('Pad', ['x', 'padsi'], ['xp']),
        node('Conv', ['xp', 'w', 'b'], ['c'], { kernel_shape: [2, 2], strides: [1, 1] }),
        node('GlobalAveragePool', ['c'], ['g']),
        node('Flatten', ['g'], ['y']),
      ],
      inits: [
        int64Tensor('i2', [], [2]), int64Tensor('nine', [], [9]), int64Tensor('two', [], [2]), int64Tensor('ax0', [1], [0]), int64Tensor('z2', [2], [0, 0]),
        floatTensor('w', [4, 3, 2, 2], rand(48, rng)), floatTensor('b', [4], rand(4, rng)),
      ],
      meta: { preprocessing: '{"scale": 1, "shift": 0}' },
    });
    const { net } = onnxToNet(bytes, { source: 'pads.onnx' });
    const c = net.nodes.find((n) => n.op?.kind === 'conv2d')!.op as { pad: unknown };
    assert.deepEqual(c.pad, [[1, 2], [1, 2]]);
  });

  test('NHWC input (tf2onnx style: Transpose to NCHW), dynamic H and W resolved by the sidecar; labels and preprocessing from it', () => {
    const labels = ['cat', 'dog', 'emu', 'owl'];
    const w = rand(4 * 3, rng);
    const bytes = buildModel({
      input: ['N', 'height', 'width', 3],
      nodes: [
        node('Transpose', ['x', ], ['xt'], { perm: [0, 3, 1, 2] }),
        node('GlobalAveragePool', ['xt'], ['g']),
        node('Flatten', ['g'], ['f']),
        node('MatMul', ['f', 'w'], ['m']),
        node('Add', ['m', 'b'], ['y']),
      ],
      inits: [floatTensor('w', [3, 4], w), floatTensor('b', [4], [1, 2, 3, 4])],
    });
    assert.throws(() => onnxToNet(bytes, { source: 'dyn.onnx' }), (e: unknown) => e instanceof UapError && /dyn\.onnx/.test(e.message) && /"height" is dynamic and cannot be resolved/.test(e.message));
    const { net, labels: named } = onnxToNet(bytes, { source: 'dyn.onnx', sidecar: { inputSize: [5, 7], preprocessing: { scale: 2, shift: 0 }, labels } });
    assert.deepEqual(net.inputShape, [5, 7, 3]);
    assert.deepEqual(named?.names, labels);
    const ones = tf.ones([1, 5, 7, 3]) as tf.Tensor4D;
    const y = tf.tidy(() => runNet(net, ones).dataSync());
    ones.dispose();
    for (let k = 0; k < 4; k++) assert.ok(Math.abs(y[k]! - (2 * (w[k]! + w[4 + k]! + w[8 + k]!) + k + 1)) < 1e-5);
  });
});

test('labels from metadata_props: ImageNet wnids in the file\'s own order are reordered to the standard one; a typo in the sidecar is named', () => {
  const std = imagenetLabels().ids;
  const rng = seededRandom(5);
  const order = [...std.keys()].sort(() => rng() - 0.5); // output i of the file is class std[order[i]]
  const w = rand(1000 * 3, rng);
  const bytes = buildModel({
    input: ['N', 3, 4, 4],
    output: 'y',
    nodes: [node('GlobalAveragePool', ['x'], ['g']), node('Flatten', ['g'], ['f']), node('Gemm', ['f', 'w'], ['y'], { transB: 1 })],
    inits: [floatTensor('w', [1000, 3], w)],
    meta: { labels: JSON.stringify(order.map((j) => std[j])), preprocessing: '{"scale": 1, "shift": 0}' },
  });
  const r = onnxToNet(bytes, { source: 'wnids.onnx' });
  assert.equal(r.labelLayout, 'imagenet');
  const x = tf.fill([1, 4, 4, 3], 2) as tf.Tensor4D;
  const y = tf.tidy(() => runNet(r.net, x).dataSync());
  x.dispose();
  for (let i = 0; i < 1000; i += 97) {
    const j = order[i]!; // standard class j is file output i
    assert.ok(Math.abs(y[j]! - 2 * (w[i * 3]! + w[i * 3 + 1]! + w[i * 3 + 2]!)) < 1e-5, `class ${j}`);
  }
  disposeNet(r.net);
  assert.throws(
    () => onnxToNet(bytes, { source: '/m/wnids.onnx', sidecar: { layuot: 'NCHW' } }),
    (e: unknown) => e instanceof UapError && e.code === 'BAD_MODEL' && /\/m\/wnids\.onnx\.json/.test(e.message) && /layuot/.test(e.message),
  );
});

describe("ONNX import: PyTorch's own exporter (fixtures/make_onnx_fixtures.py)", () => {
  const dir = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures');
  const refs = JSON.parse(readFileSync(path.join(dir, 'onnx-reference.json'), 'utf8')) as Record<string, { size: number; logSoftmax: boolean; output: number[][] }>;
  for (const [name, what] of [
    ['resnetish', 'ResNet-style: 7×7/2 stem, folded BatchNorm, MaxPool(3, 2, pad 1), residual Adds, a strided 1×1 shortcut, adaptive avg pool, Linear; normalisation in the graph'],
    ['vggish', 'LeakyReLU, ReLU6, channel Concat, AvgPool with count_include_pad, Flatten of a 4×4 map, Linear, Dropout, Softmax'],
    ['mobilenetv2ish', 'depthwise convs, ReLU6, inverted residual Adds, channel multiplier 2, x.mean([2, 3]), Linear without bias'],
  ] as const) {
    test(`${name}: ${what} — the logits PyTorch computed`, () => {
      const r = refs[name]!;
      const s = r.size;
      const { net } = onnxToNet(new Uint8Array(readFileSync(path.join(dir, `${name}.onnx`))), { source: `${name}.onnx` });
      const px = new Float32Array(2 * s * s * 3);
      for (let n = 0; n < 2; n++) for (let h = 0; h < s; h++) for (let w = 0; w < s; w++) for (let c = 0; c < 3; c++) px[((n * s + h) * s + w) * 3 + c] = ((7 * n + 13 * c + 31 * h + 17 * w) * 37) % 256;
      const x = tf.tensor4d(px, [2, s, s, 3]);
      const y = tf.tidy(() => runNet(net, x).arraySync());
      x.dispose();
      disposeNet(net);
      for (let i = 0; i < 2; i++) {
        // a softmax at the end is dropped: compare with PyTorch's log-softmax up to the per-image constant
        const off = r.logSoftmax ? y[i]![0]! - r.output[i]![0]! : 0;
        for (let k = 0; k < r.output[i]!.length; k++) assert.ok(Math.abs(y[i]![k]! - off - r.output[i]![k]!) < 1e-5, `${name} image ${i} logit ${k}: ${y[i]![k]! - off} vs ${r.output[i]![k]}`);
      }
    });
  }
});

test('input gradients through the imported fixtures equal tf.grad through the same ops (2-class Jacobian)', async () => {
  const dir = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures');
  for (const name of ['resnetish', 'vggish', 'mobilenetv2ish']) {
    const { net, outputs } = onnxToNet(new Uint8Array(readFileSync(path.join(dir, `${name}.onnx`))), { source: `${name}.onnx` });
    const [h, w, c] = net.inputShape;
    const x = tf.tensor4d(Float32Array.from({ length: 2 * h * w * c }, (_, i) => (i * 7919) % 256), [2, h, w, c]);
    const upstream = tf.oneHot(tf.tensor1d([1, 4, 0, 7], 'int32'), outputs).toFloat() as tf.Tensor2D;
    const ours = tf.tidy(() => backwardNet(net, forwardValues(net, x, true), upstream, 2).dataSync() as Float32Array);
    // the stock gradient of tf.gather (the CHW flatten) needs a kernel wasm lacks: reference on cpu
    await tf.setBackend('cpu');
    const ref = tf.tidy(() => referenceInputGrad(net, x, upstream, 2).dataSync() as Float32Array);
    await tf.setBackend('wasm');
    const e = relativeError(ours, ref);
    assert.ok(e < 1e-4, `${name}: relative error ${e}`);
    assert.ok(ref.some((v) => v !== 0));
    tf.dispose([x, upstream]);
    disposeNet(net);
  }
});

describe('ONNX import: bad files get one line naming the file and the op', () => {
  const conv = (extra: NodeProto[] = [], input: Dim[] = ['N', 3, 4, 4]) =>
    buildModel({
      input,
      nodes: [node('Conv', ['x', 'w'], ['c'], { kernel_shape: [1, 1] }), ...extra, node('GlobalAveragePool', [extra.length ? extra.at(-1)!.output![0]! : 'c'], ['g']), node('Flatten', ['g'], ['y'])],
      inits: [floatTensor('w', [4, 3, 1, 1], new Float32Array(12).fill(0.1))],
    });
  const fails = (bytes: Uint8Array, pattern: RegExp) =>
    assert.throws(
      () => onnxToNet(bytes, { source: '/models/bad.onnx' }),
      (e: unknown) => e instanceof UapError && e.code === 'BAD_MODEL' && e.message.includes('/models/bad.onnx') && pattern.test(e.message) && !e.message.includes('\n'),
    );

  test('a truncated file and random bytes', () => {
    const good = conv();
    assert.ok(onnxToNet(good, { source: 'good.onnx' }).outputs === 4);
    fails(good.subarray(0, Math.floor(good.length * 0.6)), /truncated|not an ONNX model/);
    const rng = seededRandom(3);
    fails(Uint8Array.from({ length: 4096 }, () => Math.floor(rng() * 256)), /not an ONNX model/);
    fails(new Uint8Array(0), /not an ONNX model/);
  });

  test('an unsupported op, named with its node', () => {
    fails(conv([node('Erf', ['c'], ['e'])]), /unsupported ONNX op Erf \(node e\)/);
    fails(conv([node('Clip', ['c', 'lo', 'hi'], ['e'])]), /Clip \(node e\)/); // Clip inputs missing → named too
  });

  test('a dynamic dimension that cannot be resolved (in the input, and inside the graph: pads from the batch size)', () => {
    fails(conv([], ['N', 3, 'H', 4]), /dimension "H" is dynamic and cannot be resolved/);
    const batchPads = buildModel({
      nodes: [
        node('Shape', ['x'], ['s']),
        node('Gather', ['s', 'i0'], ['n']),
        node('Unsqueeze', ['n', 'ax0'], ['n1']),
        node('Concat', ['z7', 'n1'], ['pads'], { axis: 0 }),
        node('Pad', ['x', 'pads'], ['xp']),
        node('GlobalAveragePool', ['xp'], ['g']),
        node('Flatten', ['g'], ['y']),
      ],
      inits: [int64Tensor('i0', [], [0]), int64Tensor('ax0', [1], [0]), int64Tensor('z7', [7], [0, 0, 0, 0, 0, 0, 0])],
    });
    fails(batchPads, /Pad \(node xp\): its pads depends on a dynamic dimension that cannot be resolved/);
  });

  test('a non-image input (rank ≠ 4)', () => {
    const flat = buildModel({ input: ['N', 12], nodes: [node('Gemm', ['x', 'w'], ['y'], { transB: 1 })], inits: [floatTensor('w', [4, 12], new Float32Array(48))] });
    fails(flat, /input x is \[N, 12\] \(rank 2\): an image classifier takes/);
  });

  test('the CLI: one line on stderr naming the file and the op, a BAD_MODEL exit code, nothing written', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'uap-onnx-'));
    try {
      const file = path.join(dir, 'erf.onnx');
      writeFileSync(file, conv([node('Erf', ['c'], ['e'])]));
      const out = path.join(dir, 'out');
      const r = spawnSync(process.execPath, [path.join(repoRoot, 'bin/uap.js'), 'compute', '--model', file, '--data', 'mnist:test', '--limit', '4', '--xi', '10', '--out', out], {
        encoding: 'utf8',
        timeout: 60_000,
      });
      const lines = r.stderr.trim().split('\n').filter((l) => l.startsWith('uap:'));
      assert.equal(lines.length, 1, r.stderr);
      assert.match(lines[0]!, /erf\.onnx.*unsupported ONNX op Erf \(node e\)/);
      assert.notEqual(r.status, 0);
      assert.ok(!existsSync(out), 'nothing written');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

const onnxFile = path.join(sharedDir(), 'models/onnx/mobilenet_v1_0.25_224_pytorch.onnx');
const modelsDir = path.join(sharedDir(), 'models');

describe('the PyTorch export of mobilenet_v1_0.25_224 equals the TF.js model', { skip: !existsSync(onnxFile) && 'no ../shared/models/onnx' }, () => {
  let a: NetClassifier;
  let b: NetClassifier;
  before(async () => {
    [a, b] = await Promise.all([loadModel(onnxFile, { modelsDir }), loadModel('mobilenet_v1_0.25_224', { modelsDir })]);
  });
  after(() => {
    a?.dispose();
    b?.dispose();
  });

  test('the file says it all: NCHW 224×224×3 pixels, preprocessing in the graph, standard labels', () => {
    assert.equal(a.id, 'mobilenet_v1_0.25_224_onnx');
    assert.deepEqual([...a.inputShape], [224, 224, 3]);
    assert.deepEqual(a.labels.ids, b.labels.ids);
    // the same fused network: 27 convolutions, one pooling, the head
    assert.equal(a.net.nodes.filter((n) => n.op?.kind === 'conv2d' || n.op?.kind === 'depthwiseConv2d').length, 28);
  });

  test('logits on photos within 1e-3 of the TF.js model', async () => {
    const x = tf.tensor4d(await testPhotoBatch(224), [6, 224, 224, 3]);
    const [la, lb] = await Promise.all([a.logits(x), b.logits(x)]);
    const diff = tf.tidy(() => tf.max(tf.abs(tf.sub(la, lb))).dataSync()[0]!);
    assert.ok(diff < 1e-3, `max |Δ logit| = ${diff}`);
    assert.deepEqual(la.argMax(1).arraySync(), lb.argMax(1).arraySync());
    tf.dispose([x, la, lb]);
  });

  test('20 photos of val.txt: the same top-1 on x and on x + a perturbation (lts4 vgg-16), so the same accuracy and fooling rate', async () => {
    const lines = readFileSync(path.join(sharedDir(), 'imagenet-sample/val.txt'), 'utf8').trim().split('\n').slice(0, 20);
    const px = await decodeBatchForTests(lines.map((l) => path.join(sharedDir(), 'imagenet-sample', l.split(/\s+/)[0]!)), 224);
    const v = readNpy(new Uint8Array(readFileSync(path.join(sharedDir(), 'perturbations/lts4/vgg-16.npy'))), 'vgg-16.npy').data;
    const top1 = async (m: NetClassifier, t: tf.Tensor4D) => {
      const l = await m.logits(t);
      const r = l.argMax(1).arraySync() as number[];
      l.dispose();
      return r;
    };
    const x = tf.tensor4d(px, [20, 224, 224, 3]);
    const xv = tf.tidy(() => tf.clipByValue(tf.add(x, tf.tensor3d(v, [224, 224, 3])), 0, 255) as tf.Tensor4D);
    assert.deepEqual(await top1(a, x), await top1(b, x));
    assert.deepEqual(await top1(a, xv), await top1(b, xv));
    tf.dispose([x, xv]);
  });
});
