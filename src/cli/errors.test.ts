import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Command } from 'commander';
import { UapError } from '../index.js';
import { describeUapError, reportError } from './errors.js';

const program = new Command('uap').option('--backend <name>');
const evalCmd = program.command('eval').option('--batch-size <n>').option('--max-iter-deepfool <n>');
const labelsCmd = program.command('labels').option('--resize');

test("a library option becomes the running command's flag, only where the command has one", () => {
  assert.equal(describeUapError(new UapError('BAD_ARGUMENT', 'must be an integer ≥ 1, got 0', 'batchSize'), evalCmd), '--batch-size: must be an integer ≥ 1, got 0');
  assert.equal(describeUapError(new UapError('BAD_ARGUMENT', 'must be ≥ 1', 'maxIterDeepFool'), evalCmd), '--max-iter-deepfool: must be ≥ 1');
  // a parent's flag counts; an option the command has no flag for stays as the library names it
  assert.equal(describeUapError(new UapError('BAD_ARGUMENT', 'unknown', 'backend'), evalCmd), '--backend: unknown');
  assert.equal(describeUapError(new UapError('BAD_ARGUMENT', 'must be ≥ 0', 'overshoot'), evalCmd), 'overshoot: must be ≥ 0');
  // a file or a value is not an option
  assert.equal(describeUapError(new UapError('BAD_INPUT', 'not a .npy file', 'v.npy'), evalCmd), 'v.npy: not a .npy file');
  assert.equal(describeUapError(new UapError('NOT_FOUND', 'no such model', 'mnist'), evalCmd), 'mnist: no such model');
});

test('a hint to pass a flag is kept only by commands that have it', () => {
  const e = new UapError('BAD_INPUT', 'computed at 2×2×3, model takes 28×28×1', 'v.npy', { hint: { option: 'resize', text: 'to resize the perturbation to 28×28×1' } });
  assert.equal(describeUapError(e, evalCmd), 'v.npy: computed at 2×2×3, model takes 28×28×1');
  assert.equal(describeUapError(e, labelsCmd), 'v.npy: computed at 2×2×3, model takes 28×28×1; pass --resize to resize the perturbation to 28×28×1');
});

test('a foreign error is its first line, bounded, exit 1', () => {
  const r = reportError(new RangeError(`${'x'.repeat(1000)}\n    at somewhere (wasm://123)`));
  assert.equal(r.exitCode, 1);
  assert.match(r.line, /^uap: RangeError: x+…$/);
  assert.ok(r.line.length < 320);
  assert.deepEqual(reportError(new UapError('NOT_FOUND', 'gone', 'f.npy')), { line: 'uap: f.npy: gone', exitCode: 4 });
});
