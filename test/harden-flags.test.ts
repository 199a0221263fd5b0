import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';

/** The flags of `uap harden` added for ImageNet models and resume: bad values are refused with exit 2 (or 4) and a line naming the flag. */

const bin = path.resolve('bin/uap.js');
const tmp = mkdtempSync(path.join(os.tmpdir(), 'uap-harden-flags-'));

function harden(out: string, ...extra: string[]) {
  const r = spawnSync(
    process.execPath,
    [bin, 'harden', '--model', 'mnist', '--limit', '20', '--test-limit', '10', '--attack-size', '8', '--pool', '1', '--out', out, ...extra],
    { encoding: 'utf8', timeout: 120_000 },
  );
  return { code: r.status, stderr: r.stderr };
}

test('uap harden refuses bad --attack, --labels and --trainable-layers values with exit 2, naming the flag, writing nothing', () => {
  const cases: [string, string, RegExp][] = [
    ['--attack', 'fgsm', /--attack: must be deepfool or sgd/],
    ['--labels', 'onehot', /--labels: must be true, clean or soft/],
    ['--trainable-layers', '0', /--trainable-layers: must be an integer ≥ 1/],
    ['--trainable-layers', 'two', /--trainable-layers: /],
    // the MNIST CNN has 4 layers with weights: known only once the model is loaded, still before any attack
    ['--trainable-layers', '5', /--trainable-layers: the model has only 4 layers with weights/],
  ];
  for (const [flag, value, message] of cases) {
    const out = path.join(tmp, `bad${flag}${value}`);
    const r = harden(out, flag, value);
    assert.equal(r.code, 2, `${flag} ${value}: exit ${r.code}, ${r.stderr}`);
    assert.match(r.stderr, message);
    assert.equal(existsSync(path.join(out, 'harden.json')), false);
    assert.equal(existsSync(path.join(out, 'checkpoint')), false);
  }
});

test('uap harden --resume without a checkpoint exits 4 and says so', () => {
  const r = harden(path.join(tmp, 'nothing-here'), '--resume');
  assert.equal(r.code, 4, r.stderr);
  assert.match(r.stderr, /no checkpoint to resume from/);
});
