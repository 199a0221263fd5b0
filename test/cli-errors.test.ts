import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
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

const lines = (text: string) => text.split('\n').filter((l) => l.trim() !== '');

test("Commander's own errors (unknown flag, missing option, unknown command) are one uap: line and exit 2", () => {
  for (const args of [
    ['eval', '--model', 'mnist', '--data', 'mnist:test', '--no-such-flag'],
    ['eval', '--data', 'mnist:test'],
    ['no-such-command'],
  ]) {
    const r = uap(...args);
    assert.equal(r.code, 2, `${args.join(' ')}: exit ${r.code}, ${r.stderr}`);
    assert.equal(lines(r.stderr).length, 1, r.stderr);
    assert.match(r.stderr, /^uap: (unknown option '--no-such-flag'|required option '--model <name>' not specified|unknown command 'no-such-command')/);
  }
});

test('a library option in a message becomes the flag of the running command', () => {
  const r = uap(...computeArgs(path.join(tmp, 'overshoot'), ['--overshoot', '-1']));
  assert.equal(r.code, 2, r.stderr);
  assert.match(lines(r.stderr).at(-1)!, /^uap: --overshoot: /);
});

test('the advice to pass --resize is given only by commands that have --resize', () => {
  const wrong = path.join(tmp, 'wrong-shape.npy');
  writeFileSync(wrong, writeNpy(new Float32Array(2 * 2 * 3), [2, 2, 3]));
  const evalRun = uap('eval', '--model', 'mnist', '--data', 'mnist:test', '--limit', '10', '--perturbation', wrong);
  assert.equal(evalRun.code, 3, evalRun.stderr);
  assert.match(lines(evalRun.stderr).at(-1)!, /^uap: .*wrong-shape\.npy: computed at 2×2×3, model takes 28×28×1$/);
  const labelsRun = uap('labels', '--model', 'mnist', '--data', 'mnist:test', '--limit', '10', '--perturbation', wrong);
  assert.equal(labelsRun.code, 3, labelsRun.stderr);
  assert.match(lines(labelsRun.stderr).at(-1)!, /model takes 28×28×1; pass --resize to resize the perturbation to 28×28×1$/);
});

test('a tfjs/wasm failure is one line (its first, bounded), exit 1; UAP_DEBUG=1 adds the stack', () => {
  // Fault injection: every convolution on the backend throws an error with a 40 KB first line, like a
  // wasm abort that quotes minified source. --engine tfjs: the default ort engine runs no tfjs convolution.
  const fault = path.join(tmp, 'fault.mjs');
  const tfjs = pathToFileURL(createRequire(import.meta.url).resolve('@tensorflow/tfjs')).href;
  writeFileSync(
    fault,
    `import * as tf from '${tfjs}';
    const engine = tf.engine();
    const run = engine.runKernel.bind(engine);
    engine.runKernel = (name, ...rest) => {
      if (/Conv2D/.test(name)) throw new Error('kernel failed: ' + 'x'.repeat(40000) + '\\n    at wasm-function[123]');
      return run(name, ...rest);
    };`,
  );
  const run = (env: Record<string, string>) =>
    spawnSync(process.execPath, ['--import', pathToFileURL(fault).href, bin, '--engine', 'tfjs', 'eval', '--model', 'mnist', '--data', 'mnist:test', '--limit', '5'], {
      encoding: 'utf8',
      timeout: 120_000,
      env: { ...process.env, ...env },
    });
  const r = run({});
  assert.equal(r.status, 1, r.stderr.slice(0, 2000));
  const errorLines = lines(r.stderr).filter((l) => l.startsWith('uap: '));
  assert.equal(errorLines.length, 1, r.stderr.slice(0, 2000));
  assert.match(errorLines[0]!, /^uap: kernel failed: x+…$/);
  assert.ok(r.stderr.length < 2000, `stderr is ${r.stderr.length} characters`);
  assert.doesNotMatch(r.stderr, /wasm-function/);
  const debug = run({ UAP_DEBUG: '1' });
  assert.equal(debug.status, 1);
  assert.match(debug.stderr, /wasm-function\[123\]/);
});

test('--workers on the ort engine: a count that is not an integer from 1 to 256 is refused, naming the flag', () => {
  for (const value of ['0', '2.5', 'two', '300']) {
    const out = path.join(tmp, `ort-workers-${value}`);
    const r = uap('--engine', 'ort', '--workers', value, ...computeArgs(out, ['--method', 'sgd']));
    assert.equal(r.code, 2, `${value}: exit ${r.code}, ${r.stderr}`);
    assert.match(r.stderr, /uap: --workers: must be an integer from 1 to 256/);
    assert.equal(existsSync(out), false);
  }
});
