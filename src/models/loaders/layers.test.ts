import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { before, test } from 'node:test';
import { UapError } from '../../errors.js';
import { loadModel } from '../../node/model-files.js';
import { runNet } from '../net/forward.js';
import { disposeNet } from '../net/ir.js';
import { sharedDir, testPhotoBatch, TEST_PHOTOS } from '../../node/testing/photos.js';
import { layersModelToNet } from './layers.js';
import { parseManifest, readWeights, type WeightGroup } from './weights.js';

const models = path.join(sharedDir(), 'models');
const haveShared = existsSync(path.join(models, 'mobilenet_v1_0.25_224/model.json'));

before(async () => {
  await tf.setBackend('wasm');
  await tf.ready();
});

/** Saves a tfjs model in memory as model.json + one shard. */
async function artifactsOf(model: tf.LayersModel): Promise<{ json: Record<string, unknown>; shard: Uint8Array }> {
  let out: { json: Record<string, unknown>; shard: Uint8Array } | undefined;
  await model.save(
    tf.io.withSaveHandler(async (a) => {
      out = {
        json: { modelTopology: a.modelTopology, weightsManifest: [{ paths: ['w.bin'], weights: a.weightSpecs }] },
        shard: new Uint8Array(a.weightData as ArrayBuffer),
      };
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  return out!;
}

async function convert(json: Record<string, unknown>, shard: Uint8Array, pre?: { scale: number; shift: number }) {
  const w = await readWeights(parseManifest(json.weightsManifest, 'mem'), async () => shard, 'mem');
  return layersModelToNet(json, w, { source: 'mem', preprocessing: pre });
}

function randomizeWeights(model: tf.LayersModel): void {
  const ws = model.weights.map((w, i) =>
    w.name.includes('variance')
      ? tf.randomUniform(w.shape as number[], 0.5, 1.5, 'float32', i)
      : tf.randomNormal(w.shape as number[], 0, 0.5, 'float32', i),
  );
  model.setWeights(ws);
  tf.dispose(ws);
}

function maxAbsDiff(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]!);
}

test('functional model with every supported layer kind matches tfjs predict', async () => {
  const inp = tf.input({ shape: [12, 12, 3] });
  let x = tf.layers.zeroPadding2d({ padding: [[1, 0], [0, 1]] }).apply(inp) as tf.SymbolicTensor;
  x = tf.layers.conv2d({ filters: 4, kernelSize: 3, strides: 2, useBias: false }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.batchNormalization().apply(x) as tf.SymbolicTensor;
  x = tf.layers.leakyReLU({ alpha: 0.2 }).apply(x) as tf.SymbolicTensor;
  const a = tf.layers.separableConv2d({ filters: 6, kernelSize: 3, padding: 'same', depthMultiplier: 2, activation: 'relu' }).apply(x) as tf.SymbolicTensor;
  let b = tf.layers.depthwiseConv2d({ kernelSize: 3, padding: 'same', activation: 'relu6' }).apply(x) as tf.SymbolicTensor;
  b = tf.layers.conv2d({ filters: 6, kernelSize: 1 }).apply(b) as tf.SymbolicTensor;
  b = tf.layers.batchNormalization({ scale: false }).apply(b) as tf.SymbolicTensor;
  let y = tf.layers.add().apply([a, b]) as tf.SymbolicTensor;
  y = tf.layers.concatenate().apply([y, x]) as tf.SymbolicTensor;
  y = tf.layers.maxPooling2d({ poolSize: 2 }).apply(y) as tf.SymbolicTensor;
  y = tf.layers.averagePooling2d({ poolSize: 2, strides: 1, padding: 'same' }).apply(y) as tf.SymbolicTensor;
  y = tf.layers.reLU({ maxValue: 6 }).apply(y) as tf.SymbolicTensor;
  const flat = tf.layers.flatten().apply(y) as tf.SymbolicTensor;
  const gap = tf.layers.globalAveragePooling2d({}).apply(y) as tf.SymbolicTensor;
  let z = tf.layers.concatenate().apply([flat, gap]) as tf.SymbolicTensor;
  z = tf.layers.dropout({ rate: 0.5 }).apply(z) as tf.SymbolicTensor;
  z = tf.layers.dense({ units: 7, activation: 'relu' }).apply(z) as tf.SymbolicTensor;
  z = tf.layers.dense({ units: 5, activation: 'softmax' }).apply(z) as tf.SymbolicTensor;
  const model = tf.model({ inputs: inp, outputs: z });
  randomizeWeights(model);
  const { json, shard } = await artifactsOf(model);
  const { net, outputs } = await convert(json, shard, { scale: 1 / 255, shift: 0 });
  assert.equal(outputs, 5);
  assert.equal(net.nodes[1]!.op!.kind, 'scaleShift');
  // batch norms and activations are folded: no standalone scaleShift after the preprocessing one
  assert.equal(net.nodes.filter((n) => n.op?.kind === 'scaleShift').length, 1);
  const px = tf.randomUniform([3, 12, 12, 3], 0, 255, 'float32', 7) as tf.Tensor4D;
  const ours = tf.softmax(runNet(net, px));
  const theirs = model.predict(tf.div(px, 255)) as tf.Tensor;
  assert.ok(maxAbsDiff(ours, theirs) < 1e-5, `diff ${maxAbsDiff(ours, theirs)}`);
  disposeNet(net);
  model.dispose();
});

test('Sequential model with Rescaling and Flatten → Dense logits', async () => {
  const model = tf.sequential();
  model.add(tf.layers.rescaling({ inputShape: [8, 8, 1], scale: 1 / 255, offset: -0.5 }));
  model.add(tf.layers.conv2d({ filters: 3, kernelSize: 3, activation: 'relu', padding: 'same' }));
  model.add(tf.layers.maxPooling2d({ poolSize: 2 }));
  model.add(tf.layers.flatten());
  model.add(tf.layers.dense({ units: 10 }));
  randomizeWeights(model);
  const { json, shard } = await artifactsOf(model);
  const { net, outputs } = await convert(json, shard);
  assert.equal(outputs, 10);
  assert.deepEqual(net.inputShape, [8, 8, 1]);
  const px = tf.randomUniform([2, 8, 8, 1], 0, 255) as tf.Tensor4D;
  assert.ok(maxAbsDiff(runNet(net, px), model.predict(px) as tf.Tensor) < 1e-4);
  disposeNet(net);
});

test('uint8-quantised weights are dequantised as q × scale + min', async () => {
  const model = tf.sequential();
  model.add(tf.layers.dense({ inputShape: [4], units: 2 }));
  const { json } = await artifactsOf(model);
  // 4 layers of reshape are not allowed: wrap the dense in an image model instead
  const topo = {
    modelTopology: {
      class_name: 'Sequential',
      config: {
        name: 's',
        layers: [
          { class_name: 'Flatten', config: { name: 'f', batch_input_shape: [null, 2, 2, 1] } },
          { class_name: 'Dense', config: { name: 'd', units: 2, use_bias: true, activation: 'linear' } },
        ],
      },
    },
    weightsManifest: [
      {
        paths: ['w.bin'],
        weights: [
          { name: 'd/kernel', shape: [4, 2], dtype: 'float32', quantization: { dtype: 'uint8', scale: 0.5, min: -1 } },
          { name: 'd/bias', shape: [2], dtype: 'float32', quantization: { dtype: 'uint16', scale: 0.25, min: 1 } },
        ],
      },
    ],
  };
  void json;
  const shard = new Uint8Array(8 + 4);
  shard.set([0, 1, 2, 3, 4, 5, 6, 7]);
  new Uint16Array(shard.buffer, 8, 2).set([4, 8]);
  const { net } = await convert(topo, shard);
  const x = tf.tensor4d([1, 0, 0, 0, 0, 0, 0, 1], [2, 2, 2, 1]);
  // kernel = q/2 − 1 = [[-1,-0.5],[0,0.5],[1,1.5],[2,2.5]]; bias = q/4 + 1 = [2, 3]
  assert.deepEqual(Array.from(runNet(net, x).dataSync()), [1, 2.5, 4, 5.5]);
});

test('unsupported layer and activation → BAD_MODEL naming them', async () => {
  const mk = (layer: Record<string, unknown>) => ({
    modelTopology: {
      class_name: 'Sequential',
      config: [{ class_name: 'Flatten', config: { name: 'f', batch_input_shape: [null, 2, 2, 1] } }, layer],
    },
    weightsManifest: [],
  });
  await assert.rejects(convert(mk({ class_name: 'LSTM', config: { name: 'rnn' } }), new Uint8Array(0)), (e: unknown) => {
    assert.ok(e instanceof UapError && e.code === 'BAD_MODEL' && /LSTM/.test(e.message) && /rnn/.test(e.message), String(e));
    return true;
  });
  await assert.rejects(convert(mk({ class_name: 'Activation', config: { name: 'a', activation: 'tanh' } }), new Uint8Array(0)), /activation tanh/);
});

test('mobilenet_v1_0.25_224: logits match tf.loadLayersModel (softmax within 1e-4) and classify photos', { skip: !haveShared }, async () => {
  const dir = path.join(models, 'mobilenet_v1_0.25_224');
  const json = JSON.parse(readFileSync(path.join(dir, 'model.json'), 'utf8'));
  const groups = json.weightsManifest as WeightGroup[];
  const bufs = groups.flatMap((g) => g.paths.map((p) => readFileSync(path.join(dir, p))));
  const data = new Uint8Array(bufs.reduce((a, b) => a + b.length, 0));
  let off = 0;
  for (const b of bufs) {
    data.set(b, off);
    off += b.length;
  }
  const handler: tf.io.IOHandler = {
    load: async () => ({ modelTopology: json.modelTopology, weightSpecs: groups.flatMap((g) => g.weights) as tf.io.WeightsManifestEntry[], weightData: data.buffer }),
  };
  const ref = await tf.loadLayersModel(handler);
  const model = await loadModel('mobilenet_v1_0.25_224', { modelsDir: models });
  const n = TEST_PHOTOS.length;
  const px = tf.tensor4d(await testPhotoBatch(224), [n, 224, 224, 3]);
  const logits = await model.logits(px);
  const probs = ref.predict(tf.sub(tf.div(px, 127.5), 1)) as tf.Tensor;
  const d = maxAbsDiff(tf.softmax(logits), probs);
  assert.ok(d < 1e-4, `max |softmax(ours) − tfjs| = ${d}`);
  // logits, not probabilities
  assert.ok(tf.max(logits).dataSync()[0]! > 1);
  const top = Array.from(tf.argMax(logits, 1).dataSync());
  const correct = top.filter((t, i) => model.labels.ids[t] === TEST_PHOTOS[i]!.wnid).length;
  assert.equal(model.labels.ids[top[0]!], 'n01440764'); // tench → class 0
  assert.ok(correct >= 4, `${correct}/${n} correct`);
  model.dispose();
  ref.dispose();
});

test('tiny_darknet: outputs reordered from Darknet order to the standard one (matches tfjs)', { skip: !haveShared }, async () => {
  const dir = path.join(models, 'tiny_darknet');
  const json = JSON.parse(readFileSync(path.join(dir, 'model.json'), 'utf8'));
  const groups = json.weightsManifest as WeightGroup[];
  const data = Buffer.concat(groups.flatMap((g) => g.paths.map((p) => readFileSync(path.join(dir, p)))));
  const ref = await tf.loadLayersModel({
    load: async () => ({ modelTopology: json.modelTopology, weightSpecs: groups.flatMap((g) => g.weights) as tf.io.WeightsManifestEntry[], weightData: new Uint8Array(data).buffer }),
  });
  const model = await loadModel(dir);
  assert.equal(model.id, 'tiny_darknet');
  const n = TEST_PHOTOS.length;
  const px = tf.tensor4d(await testPhotoBatch(224), [n, 224, 224, 3]);
  const logits = await model.logits(px);
  const order = readFileSync(path.join(dir, 'output_order_wnids.txt'), 'utf8').trim().split(/\s+/);
  const theirs = (await (ref.predict(tf.div(px, 255)) as tf.Tensor).array()) as number[][];
  const ours = (await logits.array()) as number[][];
  let maxDiff = 0;
  for (let i = 0; i < n; i++) {
    order.forEach((wnid, k) => {
      maxDiff = Math.max(maxDiff, Math.abs(theirs[i]![k]! - ours[i]![model.labels.ids.indexOf(wnid)]!));
    });
  }
  assert.ok(maxDiff < 1e-3, `max logit diff ${maxDiff}`);
  const top = Array.from(tf.argMax(logits, 1).dataSync());
  const correct = top.filter((t, i) => model.labels.ids[t] === TEST_PHOTOS[i]!.wnid).length;
  assert.ok(correct >= 4, `${correct}/${n} correct`);
  model.dispose();
  ref.dispose();
});

test('mobilenet_v1_0.75_224 classifies photos', { skip: !haveShared }, async () => {
  const model = await loadModel(path.join(models, 'mobilenet_v1_0.75_224/model.json'));
  assert.equal(model.id, 'mobilenet_v1_0.75_224');
  const n = TEST_PHOTOS.length;
  const logits = await model.logits(tf.tensor4d(await testPhotoBatch(224), [n, 224, 224, 3]));
  const top = Array.from(tf.argMax(logits, 1).dataSync());
  const correct = top.filter((t, i) => model.labels.ids[t] === TEST_PHOTOS[i]!.wnid).length;
  assert.ok(correct >= 5, `${correct}/${n} correct`);
  model.dispose();
});
