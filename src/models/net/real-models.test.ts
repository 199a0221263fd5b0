import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { decodeForTests } from '../../node/testing/photos.js';
import { repoRoot } from '../../node/model-files.js';
import { randomTensor, relativeError, seededRandom, useWasm } from '../../tensor/testing/grad.js';
import { referenceInputGrad } from './testing/reference.js';
import type { NetClassifier } from '../net-classifier.js';
import { loadModel } from '../../node/model-files.js';
import { backwardNet } from './backward.js';
import { forwardValues } from './forward.js';

/**
 * The gradient engine on real pretrained models (../shared/models), against tfjs's stock tf.grad through
 * the same net built from plain unfused ops on the cpu backend, for k = 2 random upstream rows at a photo.
 *
 * Why two checks: the input gradient of a ReLU net is discontinuous where a unit sits at a kink, and the
 * wasm and cpu forwards differ in the last bits. Measured here: at the brambling photo, one unit of
 * 100352 in one layer of mobilenet_v1_0.25_224_graph is on different sides of relu6's kink on the two
 * backends, which alone moves the gradient by 2 % (L2). So
 *  1. the backward pass itself: forward values recorded on cpu, backwardNet run on wasm, vs stock cpu;
 *  2. end to end on wasm (wasm forward + backward) at a photo where both backends' forwards put every
 *     unit on the same side of every kink (the first such of a few photos).
 */

const shared = process.env.UAP_SHARED ?? path.resolve(repoRoot, '../shared');
const modelsDir = path.join(shared, 'models');
const photos = ['n01530575_brambling.jpg', 'n01440764_tench.jpg', 'n01484850_great_white_shark.jpg', 'n01491361_tiger_shark.jpg'].map((f) =>
  path.join(shared, 'imagenet-sample', 'images', f),
);

/** For every node with an activation (and every max pool input), which side of each kink each unit is on. */
function kinkPattern(net: NetClassifier['net'], values: (tf.Tensor | undefined)[]): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (const node of net.nodes) {
    const op = node.op;
    if (!op || !('activation' in op) || op.activation === 'linear') continue;
    const v = values[node.id]!.dataSync();
    const m = new Uint8Array(v.length);
    for (let i = 0; i < v.length; i++) m[i] = (v[i]! > 0 ? 1 : 0) + (v[i]! >= 6 ? 2 : 0);
    out.push(m);
  }
  return out;
}

async function valuesOn(backend: string, clf: NetClassifier, x: tf.Tensor4D): Promise<{ data: Float32Array; shape: number[] }[]> {
  await tf.setBackend(backend);
  return tf.tidy(() => forwardValues(clf.net, x, true).map((v) => ({ data: v!.dataSync().slice() as Float32Array, shape: v!.shape })));
}

async function stockCpu(clf: NetClassifier, x: tf.Tensor4D, upstream: tf.Tensor2D, k: number): Promise<Float32Array> {
  await tf.setBackend('cpu');
  const ref = referenceInputGrad(clf.net, x, upstream, k);
  const out = (await ref.data()) as Float32Array;
  ref.dispose();
  await tf.setBackend('wasm');
  assert.ok(out.some((v) => v !== 0));
  return out;
}

async function check(name: string, endToEnd: boolean): Promise<void> {
  await useWasm();
  const clf = await loadModel(name, { modelsDir });
  try {
    const [h, w, c] = clf.inputShape;
    const k = 2;
    const upstream = randomTensor<tf.Rank.R2>([k, clf.labels.ids.length], seededRandom(9));

    // 1. the backward pass on wasm, from values recorded on cpu
    const x0 = tf.tensor4d(await decodeForTests(photos[0]!, h), [1, h, w, c]);
    const recorded = await valuesOn('cpu', clf, x0);
    await tf.setBackend('wasm');
    const before = tf.memory().numTensors;
    const g = tf.tidy(() => backwardNet(clf.net, recorded.map((r) => tf.tensor(r.data, r.shape)), upstream, k));
    assert.equal(tf.memory().numTensors, before + 1, 'leaked tensors');
    const engine = (await g.data()) as Float32Array;
    g.dispose();
    const err = relativeError(engine, await stockCpu(clf, x0, upstream, k));
    assert.ok(err < 1e-3, `${name}, backward from cpu-recorded values: relative error ${err}`);
    x0.dispose();

    // 2. end to end on wasm at a photo without kink ambiguity
    if (endToEnd) {
      let done = false;
      for (const photo of photos) {
        const x = tf.tensor4d(await decodeForTests(photo, h), [1, h, w, c]);
        const cpuValues = (await valuesOn('cpu', clf, x)).map((r) => tf.tensor(r.data, r.shape));
        const onCpu = kinkPattern(clf.net, cpuValues);
        tf.dispose(cpuValues);
        await tf.setBackend('wasm');
        const same = tf.tidy(() => {
          const onWasm = kinkPattern(clf.net, forwardValues(clf.net, x, true));
          return onWasm.every((m, i) => m.every((b, j) => b === onCpu[i]![j]));
        });
        if (!same) {
          x.dispose();
          continue;
        }
        const ge = tf.tidy(() => backwardNet(clf.net, forwardValues(clf.net, x, true), upstream, k));
        const e2e = (await ge.data()) as Float32Array;
        ge.dispose();
        const err2 = relativeError(e2e, await stockCpu(clf, x, upstream, k));
        x.dispose();
        assert.ok(err2 < 1e-3, `${name} end to end at ${path.basename(photo)}: relative error ${err2}`);
        done = true;
        break;
      }
      assert.ok(done, 'every photo has a unit on different sides of a kink on wasm and cpu');
    }
    upstream.dispose();
  } finally {
    clf.dispose();
  }
}

describe('input gradients of real models (wasm engine vs cpu stock tf.grad)', { skip: !existsSync(modelsDir) && 'no ../shared/models' }, () => {
  it('mobilenet_v1_0.25_224 (conv, depthwise, relu6, stride 2), also end to end', () => check('mobilenet_v1_0.25_224', true));
  it('tiny_darknet (leaky relu, max pooling, Darknet class order)', () => check('tiny_darknet', false));
  it('mobilenet_v1_0.25_224_graph (TF-slim graph model, background class dropped)', () => check('mobilenet_v1_0.25_224_graph', false));
});
