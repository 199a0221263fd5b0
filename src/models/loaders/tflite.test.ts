import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import * as flatbuffers from 'flatbuffers';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { before, test } from 'node:test';
import { UapError } from '../../errors.js';
import { sharedDir, testPhotoBatch, TEST_PHOTOS } from '../../node/testing/photos.js';
import { loadModel } from '../../node/model-files.js';
import { runNet } from '../net/forward.js';
import { tfliteToNet } from './tflite.js';

const tfliteDir = path.join(sharedDir(), 'models/tflite');
const haveShared = existsSync(tfliteDir);

before(async () => {
  await tf.setBackend('wasm');
  await tf.ready();
});

// --- a minimal TFLite writer (schema slots as in tensorflow/lite/schema/schema.fbs) ------------------
interface TensorSpec {
  shape: number[];
  type: number; // 0 float32, 2 int32, 3 uint8, 9 int8
  buffer?: Uint8Array;
  name: string;
  quant?: { scale: number[]; zeroPoint: number[]; dim?: number };
}
interface OpSpec {
  code: number;
  inputs: number[];
  outputs: number[];
  /** builds the options table; returns its offset */
  options?: (b: flatbuffers.Builder) => number;
}

function intVector(b: flatbuffers.Builder, v: number[]): number {
  b.startVector(4, v.length, 4);
  for (let i = v.length - 1; i >= 0; i--) b.addInt32(v[i]!);
  return b.endVector();
}
function floatVector(b: flatbuffers.Builder, v: number[]): number {
  b.startVector(4, v.length, 4);
  for (let i = v.length - 1; i >= 0; i--) b.addFloat32(v[i]!);
  return b.endVector();
}
function longVector(b: flatbuffers.Builder, v: number[]): number {
  b.startVector(8, v.length, 8);
  for (let i = v.length - 1; i >= 0; i--) b.addInt64(BigInt(v[i]!));
  return b.endVector();
}
function tableVector(b: flatbuffers.Builder, v: number[]): number {
  b.startVector(4, v.length, 4);
  for (let i = v.length - 1; i >= 0; i--) b.addOffset(v[i]!);
  return b.endVector();
}

function buildTflite(tensors: TensorSpec[], ops: OpSpec[], inputs: number[], outputs: number[], codeField: 'new' | 'deprecated' = 'new'): Uint8Array {
  const b = new flatbuffers.Builder(1024);
  // buffers: 0 is the empty one
  const bufferData = [undefined, ...tensors.map((t) => t.buffer)].filter((x, i) => i === 0 || x !== undefined);
  const bufferOffsets = bufferData.map((d) => {
    const data = d ? b.createByteVector(d) : 0;
    b.startObject(3);
    if (data) b.addFieldOffset(0, data, 0);
    return b.endObject();
  });
  let nextBuffer = 1;
  const tensorOffsets = tensors.map((t) => {
    const name = b.createString(t.name);
    const shape = intVector(b, t.shape);
    let quant = 0;
    if (t.quant) {
      const s = floatVector(b, t.quant.scale);
      const z = longVector(b, t.quant.zeroPoint);
      b.startObject(7);
      b.addFieldOffset(2, s, 0);
      b.addFieldOffset(3, z, 0);
      b.addFieldInt32(6, t.quant.dim ?? 0, 0);
      quant = b.endObject();
    }
    b.startObject(5);
    b.addFieldOffset(0, shape, 0);
    b.addFieldInt8(1, t.type, 0);
    b.addFieldInt32(2, t.buffer ? nextBuffer++ : 0, 0);
    b.addFieldOffset(3, name, 0);
    if (quant) b.addFieldOffset(4, quant, 0);
    return b.endObject();
  });
  const codes = [...new Set(ops.map((o) => o.code))];
  const opOffsets = ops.map((o) => {
    const ins = intVector(b, o.inputs);
    const outs = intVector(b, o.outputs);
    const opt = o.options ? o.options(b) : 0;
    b.startObject(5);
    b.addFieldInt32(0, codes.indexOf(o.code), 0);
    b.addFieldOffset(1, ins, 0);
    b.addFieldOffset(2, outs, 0);
    if (opt) {
      b.addFieldInt8(3, 1, 0);
      b.addFieldOffset(4, opt, 0);
    }
    return b.endObject();
  });
  const codeOffsets = codes.map((c) => {
    b.startObject(4);
    if (codeField === 'deprecated') b.addFieldInt8(0, c, 0);
    else {
      b.addFieldInt8(0, Math.min(c, 127), 0);
      b.addFieldInt32(3, c, 0);
    }
    return b.endObject();
  });
  const tv = tableVector(b, tensorOffsets);
  const iv = intVector(b, inputs);
  const ov = intVector(b, outputs);
  const opv = tableVector(b, opOffsets);
  b.startObject(5);
  b.addFieldOffset(0, tv, 0);
  b.addFieldOffset(1, iv, 0);
  b.addFieldOffset(2, ov, 0);
  b.addFieldOffset(3, opv, 0);
  const sg = b.endObject();
  const sgv = tableVector(b, [sg]);
  const cv = tableVector(b, codeOffsets);
  const bv = tableVector(b, bufferOffsets);
  b.startObject(5);
  b.addFieldInt32(0, 3, 0);
  b.addFieldOffset(1, cv, 0);
  b.addFieldOffset(2, sgv, 0);
  b.addFieldOffset(4, bv, 0);
  b.finish(b.endObject(), 'TFL3');
  return b.asUint8Array().slice();
}

const bytesOf = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

/** uint8 input [1,2,2,1] (scale 1/128, zp 128) → CONV_2D 1×1 with per-channel int8 weights → MEAN → SOFTMAX */
function tinyConvModel(): Uint8Array {
  const tensors: TensorSpec[] = [
    { name: 'input', shape: [1, 2, 2, 1], type: 3, quant: { scale: [1 / 128], zeroPoint: [128] } },
    // filter [outC=2, 1, 1, inC=1], int8 q = [2, -3], per-channel scales [0.5, 2] → w = [1, -6]
    { name: 'filter', shape: [2, 1, 1, 1], type: 9, buffer: bytesOf(new Int8Array([2, -3])), quant: { scale: [0.5, 2], zeroPoint: [0, 0], dim: 0 } },
    // bias int32 q = [4, 8], scales [0.25, 0.5] → b = [1, 4]
    { name: 'bias', shape: [2], type: 2, buffer: bytesOf(new Int32Array([4, 8])), quant: { scale: [0.25, 0.5], zeroPoint: [0, 0] } },
    { name: 'conv', shape: [1, 2, 2, 2], type: 3, quant: { scale: [0.1], zeroPoint: [0] } },
    { name: 'axes', shape: [2], type: 2, buffer: bytesOf(new Int32Array([1, 2])) },
    { name: 'mean', shape: [1, 2], type: 3 },
    { name: 'probs', shape: [1, 2], type: 3 },
  ];
  const conv: OpSpec = {
    code: 3,
    inputs: [0, 1, 2],
    outputs: [3],
    options: (b) => {
      b.startObject(6);
      b.addFieldInt8(0, 1, 0); // VALID
      b.addFieldInt32(1, 1, 0);
      b.addFieldInt32(2, 1, 0);
      return b.endObject();
    },
  };
  return buildTflite(tensors, [conv, { code: 40, inputs: [3, 4], outputs: [5] }, { code: 25, inputs: [5], outputs: [6] }], [0], [6]);
}

test('synthetic model: per-channel dequantisation, input quantisation → preprocessing, softmax dropped', () => {
  const { net, outputs } = tfliteToNet(tinyConvModel(), { source: 'tiny.tflite' });
  assert.equal(outputs, 2);
  assert.deepEqual(net.inputShape, [2, 2, 1]);
  assert.equal(net.nodes[1]!.op!.kind, 'scaleShift');
  const v = [0, 128, 192, 255];
  const x = tf.tensor4d(v.flatMap((p) => [p, p, p, p]), [4, 2, 2, 1]);
  const got = Array.from(runNet(net, x).dataSync());
  const want = v.flatMap((p) => {
    const r = (p - 128) / 128;
    return [1 * r + 1, -6 * r + 4];
  });
  got.forEach((g, i) => assert.ok(Math.abs(g - want[i]!) < 1e-5, `${got} vs ${want}`));
});

test('operator codes: deprecated_builtin_code alone is read too', () => {
  const t: TensorSpec[] = [
    { name: 'in', shape: [1, 2, 2, 1], type: 0 },
    { name: 'out', shape: [1, 2, 2, 1], type: 0 },
  ];
  const bytes = buildTflite(t, [{ code: 21, inputs: [0], outputs: [1] }], [0], [1], 'deprecated');
  const { net, outputs } = tfliteToNet(bytes, { source: 'relu6.tflite', preprocessing: { scale: 1, shift: -3 } });
  assert.equal(outputs, 4);
  assert.deepEqual(Array.from(runNet(net, tf.tensor4d([0, 4, 8, 20], [1, 2, 2, 1])).dataSync()), [0, 1, 5, 6]);
});

test('unsupported op → BAD_MODEL naming the op', () => {
  const t: TensorSpec[] = [
    { name: 'in', shape: [1, 2, 2, 1], type: 0 },
    { name: 'out', shape: [1, 2, 2, 1], type: 0 },
  ];
  const bytes = buildTflite(t, [{ code: 28, inputs: [0], outputs: [1] }], [0], [1]);
  assert.throws(
    () => tfliteToNet(bytes, { source: 'tanh.tflite' }),
    (e: unknown) => e instanceof UapError && e.code === 'BAD_MODEL' && /TANH/.test(e.message) && /tanh\.tflite/.test(e.message),
  );
  const custom = buildTflite(t, [{ code: 150, inputs: [0], outputs: [1] }], [0], [1]);
  assert.throws(() => tfliteToNet(custom, { source: 'x.tflite' }), /unsupported TFLite op BUILTIN_150/);
});

test('truncated, corrupt and non-TFLite bytes → BAD_MODEL', () => {
  const good = tinyConvModel();
  const isBad = (e: unknown) => e instanceof UapError && e.code === 'BAD_MODEL';
  for (const cut of [8, 40, Math.floor(good.length / 2), good.length - 30]) {
    assert.throws(() => tfliteToNet(good.slice(0, cut), { source: 'cut.tflite' }), isBad, `cut at ${cut}`);
  }
  assert.throws(() => tfliteToNet(new TextEncoder().encode('{"not": "a tflite file at all"}'), { source: 'x' }), isBad);
  // random garbage with the right identifier: must fail cleanly, never hang or crash
  let seed = 1;
  for (let k = 0; k < 20; k++) {
    const junk = good.slice();
    for (let i = 8; i < junk.length; i += 1 + (seed % 7)) {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      junk[i] = seed & 0xff;
    }
    try {
      tfliteToNet(junk, { source: 'junk.tflite' });
    } catch (e) {
      assert.ok(isBad(e), `unexpected ${String(e)}`);
    }
  }
});

for (const [name, size, min] of [
  ['mobilenet_v2_1.0_224_quant', 224, 5],
  ['mobilenet_v1_0.75_192_quant', 192, 5],
  ['mobilenet_v1_0.5_160_quant', 160, 4],
  ['mobilenet_v1_0.25_128_quant', 128, 3],
] as const) {
  test(`${name}.tflite loads (dequantised) and classifies photos`, { skip: !haveShared }, async () => {
    const model = await loadModel(path.join(tfliteDir, `${name}.tflite`));
    assert.equal(model.id, name);
    assert.deepEqual([...model.inputShape], [size, size, 3]);
    assert.equal(model.labels.ids.length, 1000);
    const n = TEST_PHOTOS.length;
    const logits = await model.logits(tf.tensor4d(await testPhotoBatch(size), [n, size, size, 3]));
    const top = Array.from(tf.argMax(logits, 1).dataSync());
    const correct = top.filter((t, i) => model.labels.ids[t] === TEST_PHOTOS[i]!.wnid).length;
    assert.ok(correct >= min, `${correct}/${n} correct: ${top}`);
    model.dispose();
  });
}

test('a real .tflite cut short → BAD_MODEL', { skip: !haveShared }, () => {
  const bytes = readFileSync(path.join(tfliteDir, 'mobilenet_v1_0.25_128_quant.tflite'));
  assert.throws(() => tfliteToNet(bytes.subarray(0, bytes.length - 100_000), { source: 'cut.tflite' }), (e: unknown) => e instanceof UapError && e.code === 'BAD_MODEL');
});
