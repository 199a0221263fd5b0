import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';

/**
 * Same seeds, same perturbations: `uap compute` with fixed seeds must write byte-identical perturbation.npy files
 * to the ones the code wrote before the package restructuring (issue #10). The hashes were computed on commit
 * 8c68014 (a worktree of it, the same commands as below, wasm backend); a refactor that changes any number an attack
 * computes (the visiting order, a default, a criterion, a step) changes a hash. If a change is meant to alter the
 * numbers, recompute the hashes and say why in the commit.
 *
 * Recomputed once, for the three Algorithm 1 cases (session 7): DeepFool's linearised step moved from tfjs ops to
 * plain loops, whose dual norms sum in float64 rather than tfjs-wasm's float32 (the step length moves by ~1e-5
 * relative) and whose ℓ∞ step takes the sign of gradient differences that tfjs-wasm had rounded to 0 (94 of 150528
 * pixels of one photo). One DeepFool step from the same point agrees with the old code to 1e-5 (ℓ2) and in every
 * iteration count and label (4 photos, mobilenet_v1_0.25_224); across Algorithm 1's updates the differences grow,
 * and the old and new perturbations fool the same share of X (MNIST ℓ∞: 5.0 % both, ‖v‖₂ 305.7 vs 305.6;
 * mobilenet_v1_0.25_224: 30.0 % both, ‖v‖₂ 333.2 vs 333.3). The SGD cases are unchanged.
 *
 * The runs pin `--engine tfjs`: the hashes are about the restructuring, and were taken on the tfjs engine; the ort
 * engine (the default in Node since issue #12) computes the same functions in another order of float operations,
 * so its perturbations differ in the last bits. src/node/ort-classifier.test.ts holds it to the tfjs engine.
 */

const shared = process.env.UAP_SHARED ?? path.resolve('../shared');
const env = { ...process.env, UAP_MODELS_DIR: process.env.UAP_MODELS_DIR ?? path.join(shared, 'models') };
const TRAIN = path.join(shared, 'imagenet-sample/train.txt');
const tmp = mkdtempSync(path.join(os.tmpdir(), 'uap-same-seeds-'));

const cases: { name: string; args: string[]; sha256: string }[] = [
  {
    name: 'MNIST, Algorithm 1 (DeepFool ℓ∞ steps), 40 digits, 2 passes',
    args: ['--model', 'mnist', '--data', 'mnist:train', '--limit', '40', '--xi', '60', '--norm', 'inf', '--seed', '7', '--method', 'deepfool', '--max-passes', '2', '--delta', '0.05'],
    sha256: 'e5722732c4b3eb9e18ed8c9f5883a8c8395e712e52e1f4c699c000a06992564d',
  },
  {
    name: 'MNIST, Algorithm 1 targeted, ℓ2, DeepFool batches of 5',
    args: ['--model', 'mnist', '--data', 'mnist:train', '--limit', '30', '--xi', '900', '--norm', '2', '--seed', '4', '--method', 'deepfool', '--deepfool-batch', '5', '--target', '3', '--max-passes', '1', '--delta', '0.05'],
    sha256: '81bb5997f0326b178557c8883363a7209d99a8fe01e72af0b85c1af562aabfd8',
  },
  {
    name: 'MNIST, SGD (sign steps, cross-entropy), 200 digits, 2 epochs',
    args: ['--model', 'mnist', '--data', 'mnist:train', '--limit', '200', '--xi', '60', '--norm', 'inf', '--seed', '7', '--method', 'sgd', '--max-passes', '2', '--delta', '0.05', '--batch-size', '25'],
    sha256: '27e95ad48a3c51af4afa509588e87c42cb73d9e29a96de69ea884e4c2cc8ed76',
  },
  {
    name: 'MNIST, SGD ℓ2 with Adam, the margin loss and flip/crop augmentation',
    args: ['--model', 'mnist', '--data', 'mnist:train', '--limit', '200', '--xi', '800', '--norm', '2', '--seed', '4', '--method', 'sgd', '--loss', 'margin', '--optimizer', 'adam', '--augment', 'flip,crop:0.9', '--max-passes', '2', '--delta', '0.05', '--batch-size', '25'],
    sha256: '5ebd051ed947df7c5048607284e7c40244d0d018a32f89f5de65a7c774686384',
  },
  {
    name: '20 photos on mobilenet_v1_0.25_224, SGD, 2 epochs',
    args: ['--model', 'mobilenet_v1_0.25_224', '--data', TRAIN, '--limit', '20', '--xi', '10', '--seed', '2', '--method', 'sgd', '--max-passes', '2', '--batch-size', '10', '--delta', '0.05'],
    sha256: '2a822cfbee62de5623202e2df50e348a22e9aac053fe89305ae0fa73ce9cea16',
  },
  {
    name: '20 photos on mobilenet_v1_0.25_224, Algorithm 1, 1 pass',
    args: ['--model', 'mobilenet_v1_0.25_224', '--data', TRAIN, '--limit', '20', '--xi', '10', '--seed', '2', '--method', 'deepfool', '--max-passes', '1', '--delta', '0.05'],
    sha256: '8d1e8c121c6d79334736b007fc34af38809b069f35a0aa0deedaf3e13bb49efb',
  },
];

cases.forEach((c, i) => {
  test(`same seeds, same perturbation: ${c.name}`, () => {
    const out = path.join(tmp, String(i));
    const r = spawnSync(process.execPath, ['bin/uap.js', '--engine', 'tfjs', 'compute', ...c.args, '--out', out], { encoding: 'utf8', env, timeout: 120_000 });
    assert.equal(r.status, 0, r.stderr);
    const hash = createHash('sha256').update(readFileSync(path.join(out, 'perturbation.npy'))).digest('hex');
    assert.equal(hash, c.sha256, `perturbation.npy of uap compute ${c.args.join(' ')}`);
  });
});
