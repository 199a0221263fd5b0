import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { writeNpy } from '../src/index.js';
import { startServer } from '../src/cli/serve.js';

/**
 * `uap serve` without a browser: the index of local models and perturbations, cross-origin isolation on every
 * response, 127.0.0.1 only, and no way out of the roots (.., encoded .., NUL, symlinks pointing outside).
 */

let base: string;
let server: Server;
let url: string;

before(async () => {
  base = await mkdtemp(path.join(tmpdir(), 'uap-serve-'));
  process.env.UAP_CACHE = path.join(base, 'cache');
  const site = path.join(base, 'site');
  const models = path.join(base, 'models');
  const perts = path.join(base, 'perturbations');
  await mkdir(site);
  await mkdir(path.join(models, 'mobilenet_v1_0.25_224'), { recursive: true });
  await mkdir(path.join(models, 'tflite'), { recursive: true });
  await mkdir(path.join(perts, 'run1'), { recursive: true });
  await writeFile(path.join(site, 'index.html'), '<!doctype html><title>page</title>');
  await writeFile(path.join(models, 'mobilenet_v1_0.25_224', 'model.json'), '{"modelTopology":{}}');
  await writeFile(path.join(models, 'tflite', 'mobilenet_v1_0.25_128_quant.tflite'), 'x');
  await writeFile(path.join(perts, 'run1', 'perturbation.npy'), writeNpy(new Float32Array(12), [2, 2, 3]));
  await writeFile(path.join(perts, 'run1', 'perturbation.json'), '{}');
  await writeFile(path.join(perts, 'noise.npy'), writeNpy(new Float32Array(28 * 28), [28, 28, 1]));
  await writeFile(path.join(perts, 'broken.npy'), 'not npy');
  await writeFile(path.join(base, 'secret.txt'), 'secret');
  await symlink(path.join(base, 'secret.txt'), path.join(perts, 'out.npy'));
  await symlink(path.join(perts, 'noise.npy'), path.join(perts, 'alias.npy'));
  ({ server, url } = await startServer({ port: 0, siteDir: site, modelsDir: models, perturbationsDir: perts }));
});

after(async () => {
  server?.close();
  await rm(base, { recursive: true, force: true });
});

test('listens on 127.0.0.1 only; every response is cross-origin isolated', async () => {
  assert.equal((server.address() as AddressInfo).address, '127.0.0.1');
  for (const p of ['', 'nope.html', 'api/index.json']) {
    const res = await fetch(url + p);
    assert.equal(res.headers.get('cross-origin-opener-policy'), 'same-origin', p);
    assert.equal(res.headers.get('cross-origin-embedder-policy'), 'require-corp', p);
    assert.equal(res.headers.get('cross-origin-resource-policy'), 'same-origin', p);
  }
  assert.match(await (await fetch(url)).text(), /<title>page/);
  assert.equal((await fetch(url, { method: 'POST' })).status, 405);
  assert.equal((await fetch(url, { method: 'HEAD' })).status, 200);
});

test('the index: zoo models present locally (with input, preprocessing, accuracy), perturbations with shape and record', async () => {
  const index = (await (await fetch(`${url}api/index.json`)).json()) as {
    models: Array<{ name: string; url: string; format: string; inputShape: number[]; reference?: { top1: number } }>;
    perturbations: Array<{ name: string; shape: number[]; url: string; json?: string }>;
  };
  const byName = new Map(index.models.map((m) => [m.name, m]));
  assert.deepEqual([...byName.keys()].sort(), ['mnist', 'mobilenet_v1_0.25_128_quant', 'mobilenet_v1_0.25_224']);
  assert.equal(byName.get('mobilenet_v1_0.25_224')!.reference!.top1, 58.5);
  assert.deepEqual(byName.get('mobilenet_v1_0.25_128_quant')!.inputShape, [128, 128, 3]);
  for (const m of index.models) assert.equal((await fetch(url + m.url)).status, 200, m.url);
  assert.deepEqual(
    index.perturbations.map((p) => [p.name, p.shape.join('×'), p.json ?? '']),
    [
      ['alias', '28×28×1', ''],
      ['noise', '28×28×1', ''],
      ['run1', '2×2×3', 'perturbations/run1/perturbation.json'],
    ],
  );
  for (const p of index.perturbations) assert.equal((await fetch(url + p.url)).status, 200, p.url);
});

test('no path leaves its root: .., encoded .., backslashes, NUL, a symlink pointing outside', async () => {
  for (const bad of [
    '../secret.txt',
    '%2e%2e/secret.txt',
    'perturbations/..%2f..%2fsecret.txt',
    'perturbations/%2e%2e/%2e%2e/secret.txt',
    'perturbations/out.npy',
    'perturbations/..%5c..%5csecret.txt',
    'models/mobilenet_v1_0.25_224/..%2f..%2f..%2fsecret.txt',
    'models/unknown/model.json',
    'index.html%00.png',
  ]) {
    const res = await fetch(url + bad);
    assert.equal(res.status, 404, bad);
    assert.doesNotMatch(await res.text(), /secret/);
  }
  assert.equal((await fetch(`${url}%E0%A4%A`)).status, 400);
});
