import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { UapError } from '../errors.js';
import { writeNpy } from '../io/npy.js';
import type { PerturbationRecord } from '../io/perturbation-record.js';
import { savePerturbation } from '../node/perturbation-files.js';
import { columnLabel, loadTransferRows, perturbationFiles } from './transfer.js';

const root = await mkdtemp(path.join(tmpdir(), 'uap-transfer-'));
after(() => rm(root, { recursive: true, force: true }));

const record = (modelId: string, norm: 'inf' | 2): PerturbationRecord => ({
  formatVersion: 1,
  modelId,
  inputShape: [2, 2, 1],
  norm,
  xi: 10,
  method: 'deepfool',
  options: {},
  seed: 1,
  backend: 'cpu',
  tfjsVersion: '4.22.0',
  packageVersion: '0.1.0',
  data: { spec: 'mnist:test', n: 3 },
  clip: true,
  history: [],
  foolingRateOnX: 0.5,
  wallSeconds: 1,
  createdAt: new Date(0).toISOString(),
});

test('rows: computed perturbations by modelId, imported .npy files by name, folders of .npy files expanded', async () => {
  const v = Float32Array.of(1, -2, 3, -4);
  await savePerturbation(path.join(root, 'run-a'), v, [2, 2, 1], record('mnist', 2));
  await savePerturbation(path.join(root, 'run-b'), v, [2, 2, 1], record('mnist', 'inf'));
  await mkdir(path.join(root, 'lts4'));
  await writeFile(path.join(root, 'lts4', 'vgg-16.npy'), writeNpy(Float32Array.of(10, -10, 10), [1, 1, 3]));
  await writeFile(path.join(root, 'lts4', 'caffenet.npy'), writeNpy(Float32Array.of(5, 5, 5), [1, 1, 3]));
  await mkdir(path.join(root, 'empty'));

  const files = await perturbationFiles([path.join(root, 'run-a'), path.join(root, 'lts4')]);
  assert.deepEqual(files, [path.join(root, 'run-a'), path.join(root, 'lts4', 'caffenet.npy'), path.join(root, 'lts4', 'vgg-16.npy')]);

  const rows = await loadTransferRows([path.join(root, 'run-a'), path.join(root, 'run-b'), path.join(root, 'lts4')]);
  assert.deepEqual(rows.map((r) => [r.label, r.modelId, r.norm, r.shape.join('×')]), [
    ['mnist', 'mnist', 2, '2×2×1'],
    ['mnist (2)', 'mnist', 'inf', '2×2×1'],
    ['caffenet', null, 'inf', '1×1×3'],
    ['vgg-16', null, 'inf', '1×1×3'],
  ]);
  assert.deepEqual(Array.from(rows[3]!.v), [10, -10, 10]);

  await assert.rejects(perturbationFiles([path.join(root, 'nope')]), (e: unknown) => e instanceof UapError && e.code === 'NOT_FOUND');
  await assert.rejects(perturbationFiles([path.join(root, 'empty')]), (e: unknown) => e instanceof UapError && e.code === 'NOT_FOUND');
});

test('column labels are short', () => {
  assert.equal(columnLabel('mobilenet_v1_0.25_224'), 'mobilenet_v1_0.25_224');
  assert.equal(columnLabel('../shared/models/tflite/mobilenet_v1_0.25_128_quant.tflite'), 'mobilenet_v1_0.25_128_quant');
  assert.equal(columnLabel('models/mnist/model.json'), 'mnist');
  assert.equal(columnLabel('models/mnist/'), 'mnist');
  assert.equal(columnLabel('https://example.com/m/tiny/model.json'), 'tiny');
});
