import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { Command } from 'commander';
import { computeCommand, type ComputeFlags } from '../src/cli/compute.js';
import { algorithm1FlagDefaults, sgdFlagDefaults } from '../src/cli/options.js';
import { UapError } from '../src/errors.js';

/**
 * Every flag of `uap compute` is checked — by the attacks' own validators — before any model or data loads:
 * the model named here does not exist, so a flag checked after loading would fail with "not found" (exit 4)
 * instead of naming the flag (exit 2).
 */

const cases: [args: string[], message: RegExp][] = [
  [['--overshoot', '-1'], /^--overshoot: must be a finite number ≥ 0, got -1$/],
  [['--candidates', '1'], /^--candidates: must be an integer ≥ 2/],
  [['--max-iter-deepfool', '0'], /^--max-iter-deepfool: must be an integer ≥ 1/],
  [['--deepfool-batch', '2.5'], /^--deepfool-batch: must be an integer ≥ 1/],
  [['--delta', '1'], /^--delta: must be in \(0, 1\)/],
  [['--max-passes', '0'], /^--max-passes: must be an integer ≥ 1/],
  [['--step', '1'], /^--step: must be 2 or inf/],
  [['--method', 'sgd', '--batch-size', '0'], /^--batch-size: must be an integer ≥ 1/],
  [['--method', 'sgd', '--step-size', '-2'], /^--step-size: must be > 0/],
  [['--method', 'sgd', '--loss', 'hinge'], /^--loss: unknown loss "hinge"/],
  [['--method', 'sgd', '--optimizer', 'rmsprop'], /^--optimizer: unknown optimizer "rmsprop"/],
  [['--method', 'sgd', '--max-passes', '0'], /^--max-passes: must be an integer ≥ 1/],
  [['--method', 'sgd', '--augment', 'crop:2'], /^--augment: the crop scale must be in \(0, 1\]/],
  [['--method', 'pgd'], /^--method: must be sga, sgd, deepfool/],
];

/** `--flag value` pairs as ComputeFlags over the command's defaults. */
function flags(extra: string[]): ComputeFlags {
  const f: Record<string, unknown> = {
    ...algorithm1FlagDefaults(),
    ...sgdFlagDefaults(),
    model: 'no-such-model',
    data: 'mnist:train',
    xi: '10',
    norm: 'inf',
    seed: '1',
    clip: true,
    method: 'deepfool',
    out: '/nonexistent/out',
  };
  for (let i = 0; i < extra.length; i += 2) f[extra[i]!.slice(2).replace(/-([a-z])/g, (_, c: string) => c.toUpperCase())] = extra[i + 1];
  return f as unknown as ComputeFlags;
}

test('computeCommand refuses each bad flag by name before loading the model', async () => {
  for (const [extra, message] of cases) {
    await assert.rejects(computeCommand(new Command(), flags(extra)), (e: unknown) => {
      assert.ok(e instanceof UapError && e.code === 'BAD_ARGUMENT', `${extra.join(' ')}: ${String(e)}`);
      assert.match(e.message, message, extra.join(' '));
      return true;
    });
  }
});

test('uap compute --overshoot -1: one line naming the flag, exit 2, before the (missing) model is looked up', () => {
  const r = spawnSync(process.execPath, ['bin/uap.js', 'compute', '--model', 'no-such-model', '--data', 'mnist:train', '--xi', '10', '--out', '/nonexistent/out', '--overshoot', '-1'], {
    encoding: 'utf8',
    timeout: 60_000,
  });
  assert.equal(r.status, 2, r.stderr);
  assert.equal(r.stderr.trim(), 'uap: --overshoot: must be a finite number ≥ 0, got -1');
});
