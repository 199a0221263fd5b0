import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { Command } from 'commander';
import { loadPerturbation } from '../node/perturbation-files.js';
import { saveLayersModel } from '../node/save-layers-model.js';
import { registerCompute } from './compute.js';
import { labelsCommand } from './labels.js';
import { subspaceCommand } from './subspace.js';
import { sweepCommand } from './sweep.js';
import { transferCommand } from './transfer.js';

/** The analysis commands end to end on MNIST digits and a tiny random layers model (cpu backend). */

const base = await mkdtemp(path.join(tmpdir(), 'uap-analyses-cli-'));
after(() => rm(base, { recursive: true, force: true }));

await tf.setBackend('cpu');
const modelDir = path.join(base, 'model');
{
  const init = (s: number) => tf.initializers.glorotUniform({ seed: s });
  const m = tf.sequential({
    layers: [
      tf.layers.rescaling({ inputShape: [28, 28, 1], scale: 1 / 255, offset: 0 }),
      tf.layers.flatten(),
      tf.layers.dense({ units: 16, activation: 'relu', kernelInitializer: init(1) }),
      tf.layers.dense({ units: 10, kernelInitializer: init(2) }),
    ],
  });
  await saveLayersModel(m, modelDir);
  m.dispose();
}
const program = new Command().option('--backend <name>');
program.parse(['node', 'uap', '--backend', 'cpu']);
const common = {
  norm: 'inf', xi: '60', delta: '0.2', maxPasses: '1', candidates: '10', overshoot: '0.02', maxIterDeepfool: '10',
  deepfoolBatch: '4', seed: '1', clip: true,
};

test('sweep → transfer → labels agree with each other and with compute', { timeout: 60_000 }, async () => {
  const sweepDir = path.join(base, 'sweep');
  await sweepCommand(program, { ...common, model: modelDir, data: 'mnist:train', val: 'mnist:test', valLimit: '20', sizes: '10,5', out: sweepDir });
  const sweep = JSON.parse(await readFile(path.join(sweepDir, 'sweep.json'), 'utf8')) as {
    nVal: number;
    sizes: Array<{ size: number; foolingRateX: number; foolingRateVal: number; seconds: number; dir: string }>;
  };
  assert.equal(sweep.nVal, 20);
  assert.ok(sweep.sizes.some((s) => s.foolingRateVal > 0 && s.foolingRateVal < 1), 'non-trivial fooling rates');
  assert.deepEqual(sweep.sizes.map((s) => [s.size, s.dir]), [[5, 'n-5'], [10, 'n-10']]);
  const n5 = await loadPerturbation(path.join(sweepDir, 'n-5'));
  assert.equal(n5.record?.data.n, 5);

  // The sweep's X of size 5 is what `uap compute --limit 5` with the same seed uses: the same perturbation.
  const computed = path.join(base, 'compute5');
  const cli = new Command().option('--backend <name>').exitOverride();
  registerCompute(cli);
  await cli.parseAsync(['node', 'uap', '--backend', 'cpu', 'compute', '--model', modelDir, '--data', 'mnist:train', '--limit', '5',
    '--xi', '60', '--method', 'deepfool', '--max-passes', '1', '--deepfool-batch', '4', '--seed', '1', '--out', computed]);
  assert.deepEqual((await loadPerturbation(computed)).data, n5.data);

  // Transfer on the sweep's validation images (same spec, limit, seed) reproduces the sweep's fooling rates.
  const tFile = path.join(base, 'transfer.json');
  const t = await transferCommand(program, {
    models: modelDir, perturbations: `${path.join(sweepDir, 'n-5')},${path.join(sweepDir, 'n-10')}`, data: 'mnist:test', limit: '20',
    seed: '1', clip: true, batchSize: '64', out: tFile,
  });
  const saved = JSON.parse(await readFile(tFile, 'utf8')) as { foolingRates: number[][] };
  assert.deepEqual(saved.foolingRates, sweep.sizes.map((s) => [s.foolingRateVal]));
  // Fooling rates: title, header, rule, 2 rows, accuracy, images; then a blank line and the error rates (no images line).
  assert.equal(t.lines.length, 14, t.lines.join('\n'));
  assert.match(t.lines[8]!, /^error rates on mnist:test/);

  const l = await labelsCommand(program, {
    model: modelDir, perturbation: path.join(sweepDir, 'n-10'), data: 'mnist:test', limit: '20', seed: '1', top: '3', clip: true, batchSize: '64',
  });
  assert.equal(l.dominant.fooled, Math.round(sweep.sizes[1]!.foolingRateVal * 20));
  assert.ok(l.dominant.top.length <= 3);
});

test('subspace writes the spectra and fooling rates', { timeout: 60_000 }, async () => {
  const out = path.join(base, 'subspace');
  const r = await subspaceCommand(program, {
    model: modelDir, data: 'mnist:test', limit: '12', dims: '2,40', xi: '800', samples: '2', seed: '1', candidates: '10', overshoot: '0.02',
    maxIterDeepfool: '50', deepfoolBatch: '6', clip: true, batchSize: '64', out,
  });
  const j = JSON.parse(await readFile(path.join(out, 'subspace.json'), 'utf8')) as {
    singularValues: number[];
    randomSingularValues: number[];
    normals: number;
    foolingRates: Array<{ dim: number; dimUsed: number; samples: number[] }>;
  };
  assert.equal(j.normals, r.result.normals);
  assert.ok(j.normals >= 10, `${j.normals} normals of 12`);
  assert.equal(j.singularValues.length, j.normals);
  assert.equal(j.randomSingularValues.length, j.normals);
  for (let i = 1; i < j.normals; i++) assert.ok(j.singularValues[i - 1]! >= j.singularValues[i]!);
  // Σσ² = ‖N‖_F² = number of unit rows.
  assert.ok(Math.abs(j.singularValues.reduce((s, x) => s + x * x, 0) - j.normals) < 1e-3);
  assert.deepEqual(j.foolingRates.map((f) => [f.dim, f.dimUsed, f.samples.length]), [[2, 2, 2], [40, j.normals, 2]]);
});
