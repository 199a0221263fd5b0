import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { writeNpy } from '../src/io/npy.js';

/** Bad input through the real CLI: one clear line naming the input, a distinct exit code, no output files. */

const bin = path.resolve('bin/uap.js');
const tmp = mkdtempSync(path.join(os.tmpdir(), 'uap-cli-'));

function uap(...args: string[]) {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, stderr: r.stderr, stdout: r.stdout };
}

const computeArgs = (out: string, extra: string[]) => [
  'compute', '--model', 'mnist', '--data', 'mnist:train', '--limit', '20', '--xi', '77', '--out', out, ...extra,
];

test('ξ ≤ 0 and δ outside (0, 1) are refused before any work, and nothing is written', () => {
  for (const [flag, value] of [['--xi', '0'], ['--xi', '-3'], ['--delta', '1'], ['--delta', '0'], ['--norm', '3']] as const) {
    const out = path.join(tmp, `bad${flag}${value}`);
    const args = computeArgs(out, []).filter((a, i, all) => !(a === '--xi' || all[i - 1] === '--xi'));
    const r = uap(...args, '--xi', flag === '--xi' ? value : '77', ...(flag === '--xi' ? [] : [flag, value]));
    assert.equal(r.code, 2, `${flag} ${value}: exit ${r.code}, ${r.stderr}`);
    assert.match(r.stderr, new RegExp(`uap: ${flag}: `));
    assert.equal(existsSync(out), false, 'no output folder for a refused run');
  }
});

test('a bad --augment list is refused before any work, naming the flag and the bad part', () => {
  for (const value of ['mirror', 'crop:0', 'crop:1.5', 'flip:2']) {
    const out = path.join(tmp, `augment-${value}`);
    const r = uap(...computeArgs(out, ['--method', 'sgd', '--augment', value]));
    assert.equal(r.code, 2, `${value}: exit ${r.code}, ${r.stderr}`);
    assert.match(r.stderr, /uap: --augment: /);
    assert.equal(existsSync(out), false);
  }
});

test('an unknown model name is refused, naming it', () => {
  const r = uap(...computeArgs(path.join(tmp, 'm'), []).map((a) => (a === 'mnist' ? 'no_such_model' : a)));
  assert.equal(r.code, 4, r.stderr);
  assert.match(r.stderr, /no_such_model/);
});

test('a perturbation of the wrong shape, with NaN, or not a .npy is refused, naming the file', () => {
  const wrongShape = path.join(tmp, 'wrong.npy');
  writeFileSync(wrongShape, writeNpy(new Float32Array(224 * 224 * 3), [224, 224, 3]));
  const withNaN = path.join(tmp, 'nan.npy');
  const nanData = new Float32Array(28 * 28);
  nanData[5] = NaN;
  writeFileSync(withNaN, writeNpy(nanData, [28, 28, 1]));
  const notNpy = path.join(tmp, 'text.npy');
  writeFileSync(notNpy, 'just some text\n');
  for (const [file, why] of [[wrongShape, /224×224×3/], [withNaN, /NaN/], [notNpy, /not a \.npy/]] as const) {
    const r = uap('eval', '--model', 'mnist', '--data', 'mnist:test', '--limit', '10', '--perturbation', file);
    assert.equal(r.code, 3, `${file}: ${r.stderr}`);
    assert.ok(r.stderr.includes(file), `names ${file}: ${r.stderr}`);
    assert.match(r.stderr, why);
  }
});

test('an empty dataset is refused', () => {
  const empty = path.join(tmp, 'empty');
  spawnSync('mkdir', ['-p', empty]);
  const r = uap('eval', '--model', 'mnist', '--data', empty);
  assert.equal(r.code, 3, r.stderr);
  assert.match(r.stderr, /empty|no image/i);
});
