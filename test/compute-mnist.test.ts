import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { readNpy } from '../src/io/npy.js';

/** Algorithm 1 end to end through the CLI on the embedded MNIST CNN: it must reach its target, and survive Ctrl-C. */

const bin = path.resolve('bin/uap.js');
const tmp = mkdtempSync(path.join(os.tmpdir(), 'uap-compute-'));

function evalJson(extra: string[]) {
  const e = spawnSync(process.execPath, [bin, 'eval', '--model', 'mnist', '--data', 'mnist:test', '--limit', '1000', '--json', ...extra], {
    encoding: 'utf8',
    timeout: 120_000,
  });
  assert.equal(e.status, 0, e.stderr);
  return JSON.parse(e.stdout) as { foolingRate: number; accuracyClean: number; accuracyPerturbed: number; n: number };
}

function compute(out: string, extra: string[]) {
  const r = spawnSync(
    process.execPath,
    [bin, 'compute', '--model', 'mnist', '--data', 'mnist:train', '--norm', 'inf', '--xi', '77', '--seed', '3', '--out', out, '--json', ...extra],
    { encoding: 'utf8', timeout: 300_000 },
  );
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as { foolingRateOnX: number; history: { pass: number }[] };
}

test('Algorithm 1 (uap compute --method deepfool) reaches its target 1 − δ on a small MNIST X and beats random noise on unseen digits', () => {
  // On MNIST the ℓ2 DeepFool step works better than the ℓ∞ one (ℓ∞ steps saturate v: see docs/results.md).
  const out = path.join(tmp, 'alg1');
  const record = compute(out, ['--method', 'deepfool', '--limit', '100', '--delta', '0.5', '--max-passes', '6', '--step', '2']);
  assert.ok(record.foolingRateOnX >= 0.5, `fooling rate on X ${record.foolingRateOnX}`);
  const { data, shape } = readNpy(new Uint8Array(readFileSync(path.join(out, 'perturbation.npy'))), 'perturbation.npy');
  assert.deepEqual(shape, [28, 28, 1]);
  assert.ok(Math.max(...data.map(Math.abs)) <= 77 + 1e-3, 'inside the ℓ∞ ball');
  assert.ok(existsSync(path.join(out, 'perturbation.png')));
  const universal = evalJson(['--perturbation', out]);
  const random = evalJson(['--random', 'sign', '--norm', 'inf', '--xi', '77']);
  assert.equal(universal.n, 1000);
  assert.ok(universal.accuracyClean > 0.97, `clean accuracy ${universal.accuracyClean}`);
  assert.ok(universal.foolingRate > random.foolingRate + 0.25, `universal ${universal.foolingRate} vs random ${random.foolingRate}`);
});

test('SGD (uap compute --method sgd) fools 80% of X at ℓ∞ 77 and most unseen digits', () => {
  const out = path.join(tmp, 'sgd');
  const record = compute(out, ['--method', 'sgd', '--limit', '2000', '--delta', '0.2', '--max-passes', '10', '--seed', '1']);
  assert.ok(record.foolingRateOnX >= 0.8, `fooling rate on X ${record.foolingRateOnX}`);
  const universal = evalJson(['--perturbation', out]);
  assert.ok(universal.foolingRate > 0.7, `fooling rate on 1000 test digits ${universal.foolingRate}`);
});

test('Ctrl-C keeps the last completed pass on disk and --resume continues from it', async () => {
  const out = path.join(tmp, 'interrupted');
  // A small ξ keeps the target out of reach, so the run would go on for all passes.
  const args = [bin, 'compute', '--model', 'mnist', '--data', 'mnist:train', '--limit', '60', '--xi', '20', '--method', 'deepfool',
    '--delta', '0.05', '--max-passes', '4', '--seed', '5', '--out', out];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const jsonFile = path.join(out, 'perturbation.json');
  const deadline = Date.now() + 240_000;
  while (!existsSync(jsonFile) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  assert.ok(existsSync(jsonFile), `no checkpoint after the first pass: ${stderr}`);
  child.kill('SIGINT');
  const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  assert.equal(code, 130, stderr);
  const saved = JSON.parse(readFileSync(jsonFile, 'utf8'));
  const passesSaved = saved.history.length;
  assert.ok(passesSaved >= 1 && passesSaved < 4, `passes on disk: ${passesSaved}`);
  readNpy(new Uint8Array(readFileSync(path.join(out, 'perturbation.npy'))), 'perturbation.npy'); // complete, parseable

  const resumed = spawnSync(process.execPath, [...args, '--resume', '--json'], { encoding: 'utf8', timeout: 300_000 });
  assert.equal(resumed.status, 0, resumed.stderr);
  assert.match(resumed.stderr, new RegExp(`resuming after pass ${passesSaved}`));
  const final = JSON.parse(resumed.stdout);
  assert.deepEqual(final.history.map((h: { pass: number }) => h.pass), [1, 2, 3, 4]);
});
