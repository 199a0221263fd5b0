import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';

/** `uap compute --model a,b` (an ensemble) with `--augment jpeg`, end to end on the embedded MNIST CNN (twice). */

test('uap compute --model mnist,mnist --method sgd --augment flip,jpeg:60-90 runs, stays in the ball and records the ensemble', () => {
  const out = mkdtempSync(path.join(os.tmpdir(), 'uap-ensemble-'));
  try {
    const r = spawnSync(
      process.execPath,
      ['bin/uap.js', 'compute', '--model', 'mnist,mnist', '--data', 'mnist:train', '--limit', '64', '--method', 'sgd', '--max-passes', '1', '--batch-size', '32', '--norm', 'inf', '--xi', '40', '--augment', 'flip,jpeg:60-90', '--out', out, '--json'],
      { encoding: 'utf8', timeout: 120_000 },
    );
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /ensemble of 2 models/);
    const rec = JSON.parse(r.stdout) as { modelId: string; options: { augment: { flip: boolean; jpeg: number[] } }; history: { normInf: number }[] };
    assert.equal(rec.modelId, 'mnist,mnist');
    assert.deepEqual(rec.options.augment, { flip: true, jpeg: [60, 90] });
    assert.ok(rec.history.at(-1)!.normInf <= 40 + 1e-3);
    const bad = spawnSync(process.execPath, ['bin/uap.js', 'compute', '--model', 'mnist', '--data', 'mnist:train', '--method', 'sgd', '--xi', '40', '--augment', 'jpeg:90-60', '--out', out], { encoding: 'utf8' });
    assert.equal(bad.status, 2);
    assert.match(bad.stderr.trim(), /^uap: --augment: .*jpeg qualities must be 1 ≤ lo ≤ hi ≤ 100/);
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});
