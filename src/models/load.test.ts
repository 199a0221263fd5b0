import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync, mkdirSync, copyFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { UapError, type UapErrorCode } from '../errors.js';
import { sharedDir } from '../node/testing/photos.js';
import { loadModel, nodeModelIO } from '../node/model-files.js';
import { checkWeightPath, type ModelFolder } from './load.js';
import { ZOO, zooNames, type ZooEntry } from './zoo.js';

const models = path.join(sharedDir(), 'models');
const haveShared = existsSync(path.join(models, 'mobilenet_v1_0.25_224/model.json'));
const tmp = mkdtempSync(path.join(os.tmpdir(), 'uap-load-'));

let modelJson: Record<string, unknown>;
let shard: Uint8Array;
let server: http.Server;
let base: string;
const hits: string[] = [];

/** A tiny layers model: [4, 4, 1] → conv → flatten → dense(5). */
async function tinyModel(): Promise<void> {
  const m = tf.sequential();
  m.add(tf.layers.conv2d({ inputShape: [4, 4, 1], filters: 2, kernelSize: 3, activation: 'relu' }));
  m.add(tf.layers.flatten());
  m.add(tf.layers.dense({ units: 5 }));
  await m.save(
    tf.io.withSaveHandler(async (a) => {
      modelJson = { modelTopology: a.modelTopology, weightsManifest: [{ paths: ['w.bin'], weights: a.weightSpecs }] };
      shard = new Uint8Array(a.weightData as ArrayBuffer);
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  m.dispose();
}

/** Writes a copy of the tiny model into a fresh folder, with the manifest's paths and shard bytes changed. */
function writeModel(name: string, paths: string[], shards: Record<string, Uint8Array>): string {
  const dir = path.join(tmp, name);
  mkdirSync(dir, { recursive: true });
  const json = structuredClone(modelJson) as { weightsManifest: { paths: string[] }[] };
  json.weightsManifest[0]!.paths = paths;
  writeFileSync(path.join(dir, 'model.json'), JSON.stringify(json));
  for (const [f, b] of Object.entries(shards)) writeFileSync(path.join(dir, f), b);
  return dir;
}

async function rejectsWith(p: Promise<unknown>, code: UapErrorCode, pattern?: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof UapError, `not a UapError: ${String(e)}`);
    assert.equal(e.code, code, e.message);
    if (pattern) assert.match(e.message, pattern);
    return true;
  });
}

before(async () => {
  await tf.setBackend('wasm');
  await tf.ready();
  await tinyModel();
  writeModel('good', ['w.bin'], { 'w.bin': shard });
  server = http.createServer((req, res) => {
    hits.push(req.url!);
    const u = new URL(req.url!, 'http://x');
    const file = path.join(tmp, 'good', path.basename(u.pathname));
    if (u.pathname.startsWith('/good/') && existsSync(file)) {
      const body = readFileSync(file);
      res.writeHead(200, { 'content-length': body.length });
      res.end(body);
    } else {
      res.writeHead(404);
      res.end('no');
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(() => {
  server.close();
});

test('a folder and a model.json path load; labels are guessed from the output count', async () => {
  const a = await loadModel(path.join(tmp, 'good'));
  const b = await loadModel(path.join(tmp, 'good', 'model.json'));
  assert.equal(a.id, 'good');
  assert.deepEqual([...a.inputShape], [4, 4, 1]);
  assert.deepEqual(a.labels.ids, ['0', '1', '2', '3', '4']);
  const x = tf.randomUniform([2, 4, 4, 1], 0, 255) as tf.Tensor4D;
  assert.deepEqual(await (await a.logits(x)).array(), await (await b.logits(x)).array());
});

test('unknown zoo name → NOT_FOUND listing the known names; missing path → NOT_FOUND', async () => {
  await rejectsWith(loadModel('resnet_9000', { cacheDir: tmp }), 'NOT_FOUND', /known models: .*mobilenet_v1_0\.25_224.*tiny_darknet/);
  assert.ok(zooNames().includes('mnist') && zooNames().length === 10);
  await rejectsWith(loadModel(path.join(tmp, 'nope', 'model.json')), 'NOT_FOUND', /nope/);
  await rejectsWith(loadModel(path.join(tmp, 'nope')), 'NOT_FOUND');
});

test('weight paths leaving the model folder are refused with SECURITY', async () => {
  for (const [i, p] of ['../good/w.bin', '/etc/passwd', 'sub/../../good/w.bin', '%2e%2e/good/w.bin', 'C:\\w.bin', 'file:///etc/passwd', 'http://evil.example/w.bin', '//evil.example/w.bin'].entries()) {
    const dir = writeModel(`evil${i}`, [p], {});
    await rejectsWith(loadModel(dir), 'SECURITY', /weight path/);
  }
  const folder: ModelFolder = { name: 'https://models.example/m/model.json', origin: 'https://models.example', read: async () => new Uint8Array() };
  assert.equal(checkWeightPath('https://models.example/m/w.bin', folder), 'https://models.example/m/w.bin');
  assert.throws(() => checkWeightPath('https://other.example/m/w.bin', folder), (e: unknown) => e instanceof UapError && e.code === 'SECURITY');
});

test('a truncated or oversized shard → BAD_MODEL naming the shard; a missing shard → NOT_FOUND', async () => {
  await rejectsWith(loadModel(writeModel('short', ['w.bin'], { 'w.bin': shard.slice(0, shard.length - 4) })), 'BAD_MODEL', /w\.bin is truncated/);
  const long = new Uint8Array(shard.length + 8);
  long.set(shard);
  await rejectsWith(loadModel(writeModel('long', ['w.bin'], { 'w.bin': long })), 'BAD_MODEL', /w\.bin is too long/);
  const h = Math.floor(shard.length / 2);
  const parts = { 'g-shard1of3': shard.slice(0, h), 'g-shard2of3': shard.slice(h, h + 8), 'g-shard3of3': shard.slice(h + 16) };
  await rejectsWith(loadModel(writeModel('split', Object.keys(parts), parts)), 'BAD_MODEL', /g-shard2of3/);
  // equal-sized shards load fine
  const ok = { 'a1': shard.slice(0, h), 'a2': shard.slice(h) };
  assert.equal((await loadModel(writeModel('split-ok', Object.keys(ok), ok))).labels.ids.length, 5);
  await rejectsWith(loadModel(writeModel('missing', ['w.bin'], {})), 'NOT_FOUND', /w\.bin/);
});

test('a corrupt .tflite or model.json → BAD_MODEL', async () => {
  mkdirSync(path.join(tmp, 'bad'), { recursive: true });
  writeFileSync(path.join(tmp, 'bad', 'x.tflite'), new Uint8Array(100).fill(7));
  await rejectsWith(loadModel(path.join(tmp, 'bad', 'x.tflite')), 'BAD_MODEL');
  writeFileSync(path.join(tmp, 'bad', 'model.json'), '{"modelTopology": ');
  await rejectsWith(loadModel(path.join(tmp, 'bad', 'model.json')), 'BAD_MODEL', /not valid JSON/);
});

test('http(s) URL: the model and its shards are fetched beside model.json', async () => {
  const n = hits.length;
  const m = await loadModel(`${base}/good/model.json`);
  assert.deepEqual(hits.slice(n), ['/good/model.json', '/good/w.bin']);
  const local = await loadModel(path.join(tmp, 'good'));
  const x = tf.randomUniform([1, 4, 4, 1], 0, 255) as tf.Tensor4D;
  assert.deepEqual(await (await m.logits(x)).array(), await (await local.logits(x)).array());
  await rejectsWith(loadModel(`${base}/good/nothing.json`), 'NOT_FOUND', /404/);
  await rejectsWith(loadModel(`${base}/good/model.json`, { maxBytes: 100 }), 'SECURITY', /limit/);
});

test('zoo files: models dir first, then cache, then a download written atomically into the cache', async () => {
  const entry: ZooEntry = { ...ZOO[0]!, name: 'tiny', dir: 'tiny', url: `${base}/good/model.json` };
  const cacheDir = path.join(tmp, 'cache');
  const n = hits.length;
  const io = nodeModelIO({ cacheDir, modelsDir: path.join(tmp, 'empty-mirror') });
  const folder = io.zoo(entry);
  const first = await folder.read('model.json');
  await folder.read('w.bin');
  assert.deepEqual(hits.slice(n), ['/good/model.json', '/good/w.bin']);
  assert.ok(!existsSync(path.join(cacheDir, 'tiny')), 'nothing is cached before the model has been parsed');
  await folder.loaded!();
  assert.deepEqual(readdirSync(path.join(cacheDir, 'tiny')).sort(), ['model.json', 'w.bin']); // no temp files left
  const again = await nodeModelIO({ cacheDir }).zoo(entry).read('model.json');
  assert.deepEqual(again, first);
  assert.equal(hits.length, n + 2, 'the cache answered');
  // a mirror wins over the cache
  const mirror = path.join(tmp, 'mirror');
  mkdirSync(path.join(mirror, 'tiny'), { recursive: true });
  writeFileSync(path.join(mirror, 'tiny', 'model.json'), '{"mirror": true}');
  assert.equal(new TextDecoder().decode(await nodeModelIO({ cacheDir, modelsDir: mirror }).zoo(entry).read('model.json')), '{"mirror": true}');
  // download limits and failures
  const fresh = path.join(tmp, 'cache2');
  await rejectsWith(nodeModelIO({ cacheDir: fresh, maxBytes: 10 }).zoo(entry).read('w.bin'), 'SECURITY', /limit/);
  await rejectsWith(nodeModelIO({ cacheDir: fresh }).zoo(entry).read('absent.bin'), 'NOT_FOUND', /could not be downloaded/);
  assert.ok(!existsSync(path.join(fresh, 'tiny')) || readdirSync(path.join(fresh, 'tiny')).length === 0);
});

test('zoo models load offline from the models dir (no download attempted)', { skip: !haveShared }, async () => {
  const noNet = async (): Promise<Response> => {
    throw new Error('network used');
  };
  const m = await loadModel('mobilenet_v1_0.25_128_quant', { modelsDir: models, cacheDir: path.join(tmp, 'c3'), fetch: noNet });
  assert.equal(m.id, 'mobilenet_v1_0.25_128_quant');
  assert.equal(m.labels.ids[0], 'n01440764');
  m.dispose();
  // the same model from a folder copy named like the zoo's keeps the zoo's labels and preprocessing
  mkdirSync(path.join(tmp, 'copy'), { recursive: true });
  copyFileSync(path.join(models, 'tflite/mobilenet_v1_0.25_128_quant.tflite'), path.join(tmp, 'copy/mobilenet_v1_0.25_128_quant.tflite'));
  const c = await loadModel(path.join(tmp, 'copy'));
  assert.equal(c.id, 'mobilenet_v1_0.25_128_quant');
  assert.equal(c.labels.ids.length, 1000);
  c.dispose();
});

const repoMnist = path.join(path.dirname(new URL(import.meta.url).pathname), '../../models/mnist/model.json');
test("'mnist' loads the repository's own model (digits, 28×28×1, pixels in)", { skip: !existsSync(repoMnist) }, async () => {
  const m = await loadModel('mnist', { cacheDir: path.join(tmp, 'c4') });
  assert.deepEqual([...m.inputShape], [28, 28, 1]);
  assert.deepEqual(m.labels.ids, ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
  const logits = await m.logits(tf.zeros([2, 28, 28, 1]) as tf.Tensor4D);
  assert.deepEqual(logits.shape, [2, 10]);
  m.dispose();
});
