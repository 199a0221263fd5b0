import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import * as ort from 'onnxruntime-node';
import { UapError } from '../errors.js';
import { evaluatePerturbation } from '../eval/fooling-rate.js';
import { readNpy } from '../io/npy.js';
import type { NetClassifier } from '../models/net-classifier.js';
import { backwardNet } from '../models/net/backward.js';
import { forwardValues } from '../models/net/forward.js';
import { windowOf } from '../models/onnx/export-geometry.js';
import { exportGradGraph } from '../models/onnx/export.js';
import { activationDerivative } from '../tensor/activation_grad.js';
import { randomTensor, relativeError, seededRandom, useWasm } from '../tensor/testing/grad.js';
import { loadModel, repoRoot } from './model-files.js';
import { OrtClassifier } from './ort-classifier.js';
import { decodeForTests } from './testing/photos.js';

/**
 * The ONNX Runtime engine against the tfjs engine (wasm forward + our reverse pass, net/backward.ts), on
 * every shared model and the embedded MNIST CNN, at batch 2: logits, a vjp with random upstream rows and
 * a 3-class Jacobian within 1e-4 relative (max |a − b| / max |b|); and the fooling rate of a perturbation.
 *
 * Kinks: a ReLU net's input gradient jumps where a unit sits at a kink, and the engines' forwards differ
 * in the last bits, so a unit within ~1e-6 of 0 (or of 6, relu6) can be on different sides in the two —
 * at most photo pairs of a MobileNet one unit of ~10^5 is, which alone moves the gradient by percents
 * (see net/real-models.test.ts). So the tfjs reference gradient is run from its recorded forward values
 * with exactly those units moved onto ORT's side (ORT's masks come from the graph exported with
 * exposeMasks); the test checks that each moved unit was within 1e-3 of the kink (a wrong mask would be
 * far from it) and that they are under 1e-4 of all units. Likewise a max-pool window whose two largest
 * inputs are within float noise may have its maximum taken elsewhere by ORT (its argmax is exposed too):
 * the reference re-ties it there, after checking that both are maxima within 1e-5. A little seeded
 * noise on the photos breaks the exact ties of saturated regions.
 */

const shared = process.env.UAP_SHARED ?? path.resolve(repoRoot, '../shared');
const modelsDir = path.join(shared, 'models');
const haveShared = existsSync(modelsDir);
const PHOTOS = ['n01440764_tench.jpg', 'n01530575_brambling.jpg'];
const TOL = 1e-4;

async function photoPair(clf: NetClassifier): Promise<tf.Tensor4D> {
  const [h, w, c] = clf.inputShape;
  const rng = seededRandom(100);
  if (c === 1) return randomTensor<tf.Rank.R4>([2, h, w, c], rng, 255);
  const files = PHOTOS.map((f) => path.join(shared, 'imagenet-sample', 'images', f));
  const data = new Float32Array(2 * h * w * c);
  for (let j = 0; j < 2; j++) data.set(await decodeForTests(files[j]!, h), j * h * w * c);
  for (let j = 0; j < data.length; j++) data[j] = Math.min(255, Math.max(0, data[j]! + 4 * (rng() - 0.5)));
  return tf.tensor4d(data, [2, h, w, c]);
}

/** ORT's activation masks (NCHW for images) and max-pool argmaxes at x, by node id. */
async function ortMasks(clf: NetClassifier, x: tf.Tensor4D): Promise<{ masks: Map<number, Float32Array>; argmax: Map<number, BigInt64Array> }> {
  const session = await ort.InferenceSession.create(exportGradGraph(clf.net, 2, 1, { exposeMasks: true, maskOps: 'nchwc' }), { intraOpNumThreads: 2 });
  try {
    const K = clf.labels.ids.length;
    const r = await session.run({
      x: new ort.Tensor('float32', x.dataSync() as Float32Array, x.shape),
      upstream: new ort.Tensor('float32', new Float32Array(2 * K), [2, K]),
    });
    const masks = new Map<number, Float32Array>();
    const argmax = new Map<number, BigInt64Array>();
    for (const [name, v] of Object.entries(r)) {
      if (name.startsWith('mask_')) masks.set(Number(name.slice(5)), v.data as Float32Array);
      if (name.startsWith('argmax_')) argmax.set(Number(name.slice(7)), v.data as BigInt64Array);
    }
    return { masks, argmax };
  } finally {
    await session.release();
  }
}

/**
 * The tfjs forward values at x with every unit that ORT puts on the other side of a kink moved onto
 * ORT's side, and every max-pool window whose maximum ORT takes elsewhere (a near-tie) re-tied so that
 * tfjs's first maximum is ORT's. Asserts that each move is tiny (a real bug would need a large one).
 */
function alignedValues(
  clf: NetClassifier,
  x: tf.Tensor4D,
  ortSide: { masks: Map<number, Float32Array>; argmax: Map<number, BigInt64Array> },
): { values: tf.Tensor[]; moved: number; units: number } {
  const net = clf.net;
  const values = forwardValues(net, x, true) as tf.Tensor[];
  let moved = 0;
  let units = 0;
  const replace = (id: number, data: Float32Array) => {
    const old = values[id]!;
    values[id] = tf.tensor(data, old.shape);
    if (id !== 0) old.dispose();
  };
  for (const node of net.nodes) {
    const op = node.op;
    const am = ortSide.argmax.get(node.id);
    if (op?.kind === 'maxPool' && am) {
      const src = node.inputs[0]!;
      const patched = retie(values[src]!, values[node.id]!, am, op.size, op.strides, op.pad);
      if (patched) {
        moved += patched.moved;
        replace(src, patched.x);
        replace(node.id, patched.y);
      }
      continue;
    }
    const m = ortSide.masks.get(node.id);
    if (!m || !op || !('activation' in op) || op.activation === 'linear') continue;
    const act = op.activation;
    const y = values[node.id]!;
    const yd = y.dataSync() as Float32Array;
    const d = activationDerivative(y, act)!;
    const dd = d.dataSync();
    d.dispose();
    // tfjs is NHWC, ORT's image masks NCHW
    const [hw, c] = y.rank === 4 ? [y.shape[1]! * y.shape[2]!, y.shape[3]!] : [1, y.shape[1]!];
    const patched = Float32Array.from(yd);
    units += yd.length;
    let changed = false;
    for (let i = 0; i < yd.length; i++) {
      const ch = i % c;
      const pix = Math.floor(i / c) % hw;
      const b = Math.floor(i / (c * hw));
      const theirs = m[(b * c + ch) * hw + pix]!;
      if (Math.abs(theirs - dd[i]!) <= 0.5) continue;
      const v = yd[i]!;
      const on = theirs > 0.5;
      let to: number;
      if (typeof act === 'object') to = on ? Math.max(Math.abs(v), 1e-30) : -Math.max(Math.abs(v), 1e-30);
      else if (v < 3) to = on ? 1e-30 : 0;
      else to = on ? 5.9999995 : 6;
      assert.ok(Math.abs(to - v) < 1e-3, `${node.name}: ORT's mask ${theirs} at a unit of value ${v}, far from any kink`);
      patched[i] = to;
      changed = true;
      moved++;
    }
    if (changed) replace(node.id, patched);
  }
  return { values, moved, units };
}

/**
 * Max pool input x (NHWC) re-tied to ORT's argmax (flat NCHW over the batch): where tfjs's first
 * maximum (x == y, row-major) is elsewhere, ORT's position gets the maximum and the earlier maxima go
 * just below it. The maxima are recomputed from x, which the kink alignment may have moved; "near" is
 * 1e-5 of the layer's largest |value| (float noise scales with the layer, not with one unit).
 */
function retie(
  x: tf.Tensor,
  y: tf.Tensor,
  argmax: BigInt64Array,
  size: [number, number],
  strides: [number, number],
  pad: 'same' | 'valid',
): { x: Float32Array; y: Float32Array; moved: number } | undefined {
  const [n, H, W, C] = x.shape as [number, number, number, number];
  const w = windowOf(H, W, size[0], size[1], strides, [1, 1], pad);
  const xd = Float32Array.from(x.dataSync() as Float32Array);
  const yd = Float32Array.from(y.dataSync() as Float32Array);
  const near = 1e-5 * xd.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  let moved = 0;
  for (let b = 0; b < n; b++) {
    for (let c = 0; c < C; c++) {
      for (let oh = 0; oh < w.outH; oh++) {
        for (let ow = 0; ow < w.outW; ow++) {
          const flat = Number(argmax[((b * C + c) * w.outH + oh) * w.outW + ow]!) - (b * C + c) * H * W;
          const [ti, tj] = [Math.floor(flat / W), flat % W];
          const target = ((b * H + ti) * W + tj) * C + c;
          let ymax = -Infinity;
          for (let i = Math.max(0, oh * strides[0] - w.pads[0]); i < Math.min(H, oh * strides[0] - w.pads[0] + size[0]); i++) {
            for (let j = Math.max(0, ow * strides[1] - w.pads[1]); j < Math.min(W, ow * strides[1] - w.pads[1] + size[1]); j++) {
              ymax = Math.max(ymax, xd[((b * H + i) * W + j) * C + c]!);
            }
          }
          yd[((b * w.outH + oh) * w.outW + ow) * C + c] = ymax;
          let first = -1;
          for (let i = oh * strides[0] - w.pads[0]; i < oh * strides[0] - w.pads[0] + size[0] && first < 0; i++) {
            if (i < 0 || i >= H) continue;
            for (let j = ow * strides[1] - w.pads[1]; j < ow * strides[1] - w.pads[1] + size[1]; j++) {
              if (j >= 0 && j < W && xd[((b * H + i) * W + j) * C + c] === ymax) {
                first = ((b * H + i) * W + j) * C + c;
                break;
              }
            }
          }
          if (first === target) continue;
          assert.ok(ymax - xd[target]! <= near, `max pool: ORT's argmax ${xd[target]} is not a near-maximum ${ymax}`);
          const below = ymax - Math.max(Math.abs(ymax) * 1e-6, 1e-30);
          for (let i = oh * strides[0] - w.pads[0]; i < oh * strides[0] - w.pads[0] + size[0]; i++) {
            for (let j = ow * strides[1] - w.pads[1]; j < ow * strides[1] - w.pads[1] + size[1]; j++) {
              const e = ((b * H + i) * W + j) * C + c;
              if (i >= 0 && i < H && j >= 0 && j < W && e !== target && xd[e]! >= ymax) xd[e] = below;
            }
          }
          xd[target] = ymax;
          moved++;
        }
      }
    }
  }
  return moved > 0 ? { x: xd, y: yd, moved } : undefined;
}

async function agree(name: string): Promise<void> {
  const base = await loadModel(name, { modelsDir });
  const engine = await OrtClassifier.create(base, { threads: 2 }, false);
  try {
    const K = base.labels.ids.length;
    const [h, w, c] = base.inputShape;
    const upstream = randomTensor<tf.Rank.R2>([2, K], seededRandom(7));
    {
      const x = await photoPair(base);
      try {
        const [l1, l2] = [await base.logits(x), await engine.logits(x)];
        const el = relativeError(l2, l1);
        assert.ok(el < TOL, `${name}: logits differ by ${el}`);
        const classes = tf.topk(l1, 3).indices as tf.Tensor2D;
        tf.dispose([l1, l2]);
        const aligned = alignedValues(base, x, await ortMasks(base, x));
        assert.ok(aligned.moved <= 1e-4 * aligned.units, `${name}: ${aligned.moved} of ${aligned.units} units on different sides of a kink`);
        // the tfjs reference: one backward through the aligned forward (rows image-major, as backwardNet wants)
        const refVjp = tf.tidy(() => backwardNet(base.net, aligned.values, upstream, 1));
        const oneHot = tf.tidy(() => tf.oneHot(tf.reshape(classes, [6]).toInt(), K).toFloat() as tf.Tensor2D);
        const refJac = tf.tidy(() => backwardNet(base.net, aligned.values, oneHot, 3).reshape([2, 3, h, w, c]));
        tf.dispose([...aligned.values.filter((t) => t !== x), oneHot]);
        const v = await engine.vjp(x, () => upstream.clone());
        const j = await engine.jacobian(x, classes);
        const ev = relativeError(v.grad, refVjp);
        const ej = relativeError(j.grads, refJac);
        tf.dispose([v.grad, v.logits, j.grads, j.logits, refVjp, refJac, classes]);
        assert.ok(ev < TOL, `${name}: vjp differs by ${ev}`);
        assert.ok(ej < TOL, `${name}: 3-class Jacobian differs by ${ej}`);
        process.stderr.write(
          `# ${name}: logits ${el.toExponential(1)}, vjp ${ev.toExponential(1)}, Jacobian ${ej.toExponential(1)} (${aligned.moved} kink/tie units aligned)\n`,
        );
      } finally {
        x.dispose();
      }
    }
    upstream.dispose();

  } finally {
    await engine.release();
    base.dispose();
  }
}

describe('OrtClassifier agrees with the tfjs engine (batch 2, 1e-4 relative)', () => {
  before(() => useWasm());
  it('embedded MNIST CNN', () => agree('mnist'));
  const models = [
    'mobilenet_v1_0.25_224',
    'mobilenet_v1_0.75_224',
    'tiny_darknet',
    'mobilenet_v1_0.25_224_graph',
    'mobilenet_v2_1.0_224_quant',
    'mobilenet_v1_0.75_192_quant',
    'mobilenet_v1_0.5_160_quant',
    'mobilenet_v1_0.25_128_quant',
    'mobilenet_v1_0.25_224_onnx', // PyTorch's ONNX export, through the ONNX importer
  ];
  for (const m of models) it(m, { skip: !haveShared && 'no ../shared/models' }, () => agree(m));
});

describe('OrtClassifier: the fooling rate of a perturbation', { skip: !haveShared && 'no ../shared/models' }, () => {
  let tfjs: NetClassifier;
  let engine: OrtClassifier;
  before(async () => {
    await useWasm();
    tfjs = await loadModel('mobilenet_v1_0.25_224', { modelsDir });
    engine = await OrtClassifier.create(tfjs, { threads: 2 }, false);
  });
  after(async () => {
    await engine.release();
    tfjs.dispose();
  });

  it('is the same on 32 photos with either engine (LTS4 CaffeNet perturbation)', async () => {
    const list = readFileSync(path.join(shared, 'imagenet-sample', 'val.txt'), 'utf8').split(/\r?\n/).filter(Boolean).slice(0, 32);
    const data = new Float32Array(list.length * 224 * 224 * 3);
    for (let i = 0; i < list.length; i++) data.set(await decodeForTests(path.join(shared, 'imagenet-sample', list[i]!), 224), i * 224 * 224 * 3);
    const x = tf.tensor4d(data, [list.length, 224, 224, 3]);
    const v = readNpy(new Uint8Array(readFileSync(path.join(shared, 'perturbations', 'lts4', 'caffenet.npy'))), 'caffenet.npy');
    const a = await evaluatePerturbation(tfjs, x, null, v.data as Float32Array, { batchSize: 16 });
    const b = await evaluatePerturbation(engine, x, null, v.data as Float32Array, { batchSize: 16 });
    x.dispose();
    process.stderr.write(`# fooling rate on ${list.length} photos: tfjs ${a.foolingRate}, ort ${b.foolingRate}\n`);
    assert.ok(a.foolingRate > 0.05, `the perturbation fools ${a.foolingRate}`);
    assert.ok(Math.abs(a.foolingRate - b.foolingRate) <= 0.005, `fooling rate tfjs ${a.foolingRate} vs ort ${b.foolingRate}`);
    assert.deepEqual(Array.from(b.cleanPred), Array.from(a.cleanPred));
  });
});

describe('OrtClassifier: devices and options', () => {
  before(() => useWasm());
  it('--device cuda without the CUDA execution provider fails with one line naming it', async () => {
    const base = await loadModel('mnist');
    try {
      await assert.rejects(OrtClassifier.create(base, { device: 'cuda' }, false), (e: Error) => {
        assert.ok(e instanceof UapError, String(e));
        assert.match(e.message, /^--device cuda: the CUDA execution provider is not available/);
        assert.match(e.message, /docs\/engines\.md/);
        assert.equal(e.message.split('\n').length, 1);
        return true;
      });
    } finally {
      base.dispose();
    }
  });
  it('rejects a thread count that is not a positive integer', async () => {
    const base = await loadModel('mnist');
    try {
      await assert.rejects(OrtClassifier.create(base, { threads: 0 }, false), /threads must be a positive integer/);
    } finally {
      base.dispose();
    }
  });
});

describe('the one-photo Jacobian graph: one reverse chain of k rows equals k chains', () => {
  before(() => useWasm());
  /** grad and logits of the batch-1, k = 4 gradient graph with and without singleChain, on one photo. */
  async function both(name: string): Promise<{ single: Float32Array; chains: Float32Array; ls: Float32Array; lc: Float32Array }> {
    const base = await loadModel(name, { modelsDir });
    try {
      const [h, w, c] = base.inputShape;
      const K = base.labels.ids.length;
      const x = (await photoPair(base)).slice([0, 0, 0, 0], [1, h, w, c]);
      const feeds = {
        x: new ort.Tensor('float32', x.dataSync() as Float32Array, [1, h, w, c]),
        upstream: new ort.Tensor('float32', randomTensor<tf.Rank.R2>([4, K], seededRandom(3)).dataSync() as Float32Array, [4, K]),
      };
      x.dispose();
      const run = async (singleChain: boolean) => {
        const s = await ort.InferenceSession.create(exportGradGraph(base.net, 1, 4, { singleChain, exposeMasks: true }), { intraOpNumThreads: 2 });
        try {
          const r = await s.run(feeds);
          const masks = Object.keys(r).filter((k) => k.startsWith('mask_'));
          assert.ok(masks.length > 0, `${name}: no masks exposed (singleChain ${singleChain})`);
          return { grad: r.grad!.data as Float32Array, logits: r.logits!.data as Float32Array, masks: masks.sort().map((k) => r[k]!.data as Float32Array) };
        } finally {
          await s.release();
        }
      };
      const [a, b] = [await run(true), await run(false)];
      assert.deepEqual(a.masks, b.masks);
      return { single: a.grad, chains: b.grad, ls: a.logits, lc: b.logits };
    } finally {
      base.dispose();
    }
  }
  const rel = (a: Float32Array, b: Float32Array) => {
    let e = 0;
    let m = 0;
    for (let i = 0; i < a.length; i++) {
      e = Math.max(e, Math.abs(a[i]! - b[i]!));
      m = Math.max(m, Math.abs(b[i]!));
    }
    return e / m;
  };
  // depthwise convs and relu6 (v1), residual adds (v2), and PyTorch's export through the ONNX importer
  for (const m of ['mobilenet_v1_0.25_224', 'mobilenet_v2_1.0_224_quant', 'mobilenet_v1_0.25_224_onnx']) {
    it(m, { skip: !haveShared && 'no ../shared/models' }, async () => {
      const r = await both(m);
      assert.deepEqual(r.ls, r.lc);
      assert.equal(r.single.length, r.chains.length);
      const e = rel(r.single, r.chains);
      assert.ok(e < 1e-5, `${m}: single chain differs from the chains by ${e}`);
      assert.ok(r.chains.some((v) => v !== 0));
    });
  }
  it('a net with max pools keeps the chains, and asking for one chain there is refused', async () => {
    const base = await loadModel('mnist');
    try {
      assert.throws(() => exportGradGraph(base.net, 1, 4, { singleChain: true }), /needs batch 1 and a net without max pools/);
      assert.throws(() => exportGradGraph(base.net, 2, 4, { singleChain: true }), /needs batch 1/);
      assert.ok(exportGradGraph(base.net, 1, 4).length > 0);
    } finally {
      base.dispose();
    }
  });
});
