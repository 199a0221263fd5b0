import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { Command } from 'commander';
import sharp from 'sharp';
import { writeNpy } from '../io/npy.js';
import { PERTURBATION_FORMAT_VERSION } from '../io/perturbation-record.js';
import { savePerturbation } from '../node/perturbation-files.js';
import { saveLayersModel } from '../node/save-layers-model.js';
import { reportCommand } from './report.js';

test('uap report --samples: classifies photos clean and perturbed with the run’s own model', { timeout: 60_000 }, async () => {
  const base = await mkdtemp(path.join(tmpdir(), 'uap-report-cli-'));
  try {
    await tf.setBackend('cpu');
    // A tiny layers model on 8×8×3: class 0 when the red channel is bright, else class 1 (10 outputs → digit labels).
    const model = tf.sequential({ layers: [tf.layers.flatten({ inputShape: [8, 8, 3] }), tf.layers.dense({ units: 10 })] });
    const w = new Float32Array(192 * 10);
    const b = new Float32Array(10).fill(-1e3);
    for (let p = 0; p < 64; p++) {
      w[(p * 3) * 10 + 0] = 1 / 64; // red → class 0
      w[(p * 3 + 2) * 10 + 1] = 1 / 64; // blue → class 1
    }
    b[0] = 0;
    b[1] = 0;
    model.setWeights([tf.tensor2d(w, [192, 10]), tf.tensor1d(b)]);
    const modelDir = path.join(base, 'model');
    await saveLayersModel(model, modelDir);
    model.dispose();
    // Three photos: red, blue, purple-ish red.
    const photos = path.join(base, 'photos');
    await mkdir(photos);
    for (const [name, rgb] of [['a.png', [220, 0, 30]], ['b.png', [10, 0, 200]], ['c.png', [150, 0, 120]]] as const) {
      await sharp({ create: { width: 8, height: 8, channels: 3, background: { r: rgb[0], g: rgb[1], b: rgb[2] } } }).png().toFile(path.join(photos, name));
    }
    // v: −60 red, +60 blue: flips c (150 − 60 = 90 < 180) but not a (160 > 90).
    const v = new Float32Array(192);
    for (let p = 0; p < 64; p++) {
      v[p * 3] = -60;
      v[p * 3 + 2] = 60;
    }
    const runs = path.join(base, 'runs');
    await savePerturbation(path.join(runs, 'r1'), v, [8, 8, 3], {
      formatVersion: PERTURBATION_FORMAT_VERSION, modelId: modelDir, inputShape: [8, 8, 3], norm: 'inf', xi: 60, method: 'deepfool', options: {},
      seed: 1, backend: 'cpu', tfjsVersion: tf.version.tfjs, packageVersion: '0.1.0', data: { spec: photos, n: 3 }, clip: true,
      history: [{ pass: 1, foolingRate: 0.33, deepfoolCalls: 3, seconds: 0.1, norm: 60 }], foolingRateOnX: 0.33, wallSeconds: 0.1, createdAt: '2026-01-01T00:00:00Z',
    });
    const program = new Command().option('--backend <name>');
    program.parse(['node', 'uap', '--backend', 'cpu']);
    const out = await reportCommand(runs, { samples: photos, samplesCount: '3', seed: '1' }, program);
    const html = await readFile(out, 'utf8');
    const preds = [...html.matchAll(/<div class="pred( changed)?">([^<]*)</g)].map((m) => `${m[2]!.trim()}${m[1] ? '*' : ''}`);
    // Pairs (clean, perturbed) in the seeded order; the one flipped is marked changed.
    assert.equal(preds.length, 6);
    const pairs = [0, 2, 4].map((i) => `${preds[i]}→${preds[i + 1]}`).sort();
    assert.deepEqual(pairs, ['0→0', '0→1*', '1→1']);
    assert.ok(html.includes('1 of 3 labels changed'));
    // A perturbation without a record gets samples with --model.
    await mkdir(path.join(runs, 'imported'));
    await writeFile(path.join(runs, 'imported', 'paper.npy'), writeNpy(v, [8, 8, 3]));
    const out3 = await reportCommand(runs, { samples: photos, samplesCount: '3', model: modelDir, out: path.join(base, 'r3.html') }, program);
    const html3 = await readFile(out3, 'utf8');
    assert.equal((html3.match(/1 of 3 labels changed/g) ?? []).length, 2);
    assert.ok(html3.includes('perturbation <code>imported/paper.npy</code>'));
    await rm(path.join(runs, 'imported'), { recursive: true });
    // A run whose model cannot be opened is listed as skipped, and the report is still written.
    const out2 = await reportCommand(runs, { samples: path.join(base, 'nowhere'), out: path.join(base, 'r2.html') }, program);
    assert.ok((await readFile(out2, 'utf8')).includes('1 file skipped'));
  } finally {
    await rm(base, { recursive: true, force: true });
  }
});
