import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { before, test } from 'node:test';
import { UapError } from '../../errors.js';
import { sharedDir, testPhotoBatch, TEST_PHOTOS } from '../../node/testing/photos.js';
import { loadModel } from '../../node/model-files.js';
import { runNet } from '../net/forward.js';
import { graphModelToNet } from './graph.js';
import type { DecodedWeight, WeightGroup } from './weights.js';

const dir = path.join(sharedDir(), 'models/mobilenet_v1_0.25_224_graph');
const haveShared = existsSync(path.join(dir, 'model.json'));

before(async () => {
  await tf.setBackend('wasm');
  await tf.ready();
});

const b64 = (s: string) => Buffer.from(s).toString('base64');
const w = (data: number[], shape: number[]): DecodedWeight => ({ data: Float32Array.from(data), shape, dtype: 'float32' });

test('synthetic graph: _FusedConv2D(BiasAdd, Relu6), Sub/Mul preprocessing, FusedBatchNorm, Mean, MatMul, Softmax', () => {
  const node = (name: string, op: string, input: string[] = [], attr: Record<string, unknown> = {}) => ({ name, op, input, attr });
  const topo = {
    node: [
      node('x', 'Placeholder', [], { shape: { shape: { dim: [{ size: '-1' }, { size: '2' }, { size: '2' }, { size: '1' }] } } }),
      node('two', 'Const'),
      node('one', 'Const'),
      node('mul', 'Mul', ['x', 'two']),
      node('sub', 'Sub', ['mul', 'one']),
      node('f', 'Const'),
      node('b', 'Const'),
      node('conv', '_FusedConv2D', ['sub', 'f', 'b'], {
        strides: { list: { i: ['1', '1', '1', '1'] } },
        padding: { s: b64('VALID') },
        fused_ops: { list: { s: [b64('BiasAdd'), b64('Relu6')] } },
        num_args: { i: '1' },
      }),
      node('g', 'Const'), node('o', 'Const'), node('m', 'Const'), node('v', 'Const'),
      node('bn', 'FusedBatchNormV3', ['conv', 'g', 'o', 'm', 'v'], { epsilon: { f: 0 } }),
      node('axes', 'Const'),
      node('mean', 'Mean', ['bn', 'axes'], { keep_dims: { b: false } }),
      node('k', 'Const'),
      node('mm', 'MatMul', ['mean', 'k']),
      node('id', 'Identity', ['mm']),
      node('sm', 'Softmax', ['id']),
    ],
  };
  const weights = new Map<string, DecodedWeight>([
    ['two', w([2], [])], ['one', w([1], [])],
    ['f', w([1, -1], [1, 1, 1, 2])], ['b', w([0.5, 0.5], [2])],
    ['g', w([2, 1], [2])], ['o', w([0, 1], [2])], ['m', w([0, 0], [2])], ['v', w([1, 1], [2])],
    ['axes', { data: Int32Array.from([1, 2]), shape: [2], dtype: 'int32' }],
    ['k', w([1, 0, 0, 1, 1, 1], [2, 3])],
  ]);
  const { net, outputs } = graphModelToNet({ modelTopology: topo }, weights, { source: 'g', preprocessing: { scale: 1 / 10, shift: 0 } });
  assert.equal(outputs, 3);
  // x/10 → 2x − 1 → conv(+0.5) → relu6 → bn (×[2,1], +[0,1]) → mean → matmul
  const px = [0, 10, 20, 40];
  const y = Array.from(runNet(net, tf.tensor4d(px, [1, 2, 2, 1])).dataSync());
  const r = px.map((p) => 2 * (p / 10) - 1);
  const c0 = r.map((v) => Math.min(6, Math.max(0, v + 0.5)) * 2);
  const c1 = r.map((v) => Math.min(6, Math.max(0, -v + 0.5)) + 1);
  const m0 = c0.reduce((a, b) => a + b) / 4;
  const m1 = c1.reduce((a, b) => a + b) / 4;
  const want = [m0 + m1, m1, m1];
  y.forEach((v, i) => assert.ok(Math.abs(v - want[i]!) < 1e-5, `${y} vs ${want}`));
});

test('unsupported graph op → BAD_MODEL naming it', () => {
  const topo = {
    node: [
      { name: 'x', op: 'Placeholder', attr: { shape: { shape: { dim: [{ size: '-1' }, { size: '2' }, { size: '2' }, { size: '1' }] } } } },
      { name: 'y', op: 'Tanh', input: ['x'] },
    ],
  };
  assert.throws(() => graphModelToNet({ modelTopology: topo }, new Map(), { source: 'g.json' }), (e: unknown) => e instanceof UapError && e.code === 'BAD_MODEL' && /Tanh/.test(e.message));
});

test('mobilenet_v1_0.25_224_graph: logits match tf.loadGraphModel (background dropped) and classify photos', { skip: !haveShared }, async () => {
  const json = JSON.parse(readFileSync(path.join(dir, 'model.json'), 'utf8'));
  const groups = json.weightsManifest as WeightGroup[];
  const data = new Uint8Array(Buffer.concat(groups.flatMap((g) => g.paths.map((p) => readFileSync(path.join(dir, p))))));
  const ref = await tf.loadGraphModel({
    load: async () => ({ modelTopology: json.modelTopology, weightSpecs: groups.flatMap((g) => g.weights) as tf.io.WeightsManifestEntry[], weightData: data.buffer }),
  });
  const model = await loadModel('mobilenet_v1_0.25_224_graph', { modelsDir: path.dirname(dir) });
  assert.equal(model.labels.ids.length, 1000);
  const n = TEST_PHOTOS.length;
  const px = tf.tensor4d(await testPhotoBatch(224), [n, 224, 224, 3]);
  const ours = await model.logits(px);
  const theirs = tf.slice(ref.predict(tf.div(px, 255)) as tf.Tensor2D, [0, 1], [n, 1000]);
  const d = tf.max(tf.abs(tf.sub(ours, theirs))).dataSync()[0]!;
  assert.ok(d < 1e-3, `max logit diff ${d}`);
  const top = Array.from(tf.argMax(ours, 1).dataSync());
  const correct = top.filter((t, i) => model.labels.ids[t] === TEST_PHOTOS[i]!.wnid).length;
  assert.equal(top[0], 0); // tench
  assert.ok(correct >= 4, `${correct}/${n} correct`);
  model.dispose();
  ref.dispose();
});
