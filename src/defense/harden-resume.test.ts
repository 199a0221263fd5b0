import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { before, test } from 'node:test';
import { UapError } from '../errors.js';
import { loadDataset } from '../node/datasets.js';
import { hardenInFolder } from '../node/harden-folder.js';
import type { HardenReport, HardenSettings } from './harden.js';

/**
 * runHarden interrupted in the middle of a universal perturbation (after its first pass) and resumed gives the
 * report of an uninterrupted run (wall times aside): the attack continues from the checkpointed pass, and
 * keepBest still picks the best pass over the passes of both runs.
 */

before(async () => {
  await tf.setBackend('wasm');
  await tf.ready();
});

const strip = (r: HardenReport) =>
  JSON.parse(JSON.stringify({ ...r, wallSeconds: undefined, createdAt: undefined, hardenedModel: undefined, resumed: undefined }), (k, v) =>
    k === 'seconds' ? undefined : v,
  );

for (const attack of ['deepfool', 'sgd'] as const) {
  test(`runHarden (--attack ${attack}): interrupt after pass 1 of the pool perturbation, resume = uninterrupted`, { timeout: 120_000 }, async () => {
    const train = await loadDataset('mnist:train', { inputShape: [28, 28, 1], limit: 64, seed: 1 });
    const testSet = await loadDataset('mnist:test', { inputShape: [28, 28, 1], limit: 20, seed: 1 });
    const dirs = [await mkdtemp(path.join(os.tmpdir(), 'uap-harden-a-')), await mkdtemp(path.join(os.tmpdir(), 'uap-harden-b-'))];
    const settings: HardenSettings = {
      model: 'mnist', method: 'finetune', xi: 40, pool: 1, attackSize: 16, attack, delta: 0.01, maxPasses: 3, deepfoolBatch: 4, step: 2,
      candidates: 4, epochs: 1, batchSize: 32, learningRate: 1e-3, probability: 0.5, seed: 4, dataSpec: 'mnist:train', testSpec: 'mnist:test',
    };
    try {
      const full = await hardenInFolder(settings, train, testSet, { out: dirs[0]!, log: () => undefined });
      const controller = new AbortController();
      const stopAfterPass1 = (line: string) => {
        if (line.startsWith('pool 1/1: pass 1,')) controller.abort();
      };
      await assert.rejects(hardenInFolder(settings, train, testSet, { out: dirs[1]!, log: stopAfterPass1, signal: controller.signal }), (e: unknown) => {
        assert.ok(e instanceof UapError && e.code === 'INTERRUPTED', String(e));
        return true;
      });
      const state = JSON.parse(await readFile(path.join(dirs[1]!, 'checkpoint', 'state.json'), 'utf8'));
      assert.equal(state.attack.key, 'pool0');
      assert.equal(state.attack.pass, 1);
      const lines: string[] = [];
      const resumed = await hardenInFolder(settings, train, testSet, { out: dirs[1]!, log: (l) => lines.push(l), resume: true });
      assert.ok(lines.some((l) => l.includes('pool0 after pass 1')), lines.join('\n'));
      assert.ok(!lines.some((l) => l.startsWith('pool 1/1: pass 1,')), 'pass 1 is not computed again');
      assert.equal(full.pool[0]!.passes, 3);
      assert.deepEqual(strip(resumed), strip(full));
      assert.equal(existsSync(path.join(dirs[1]!, 'checkpoint')), false);
    } finally {
      for (const d of dirs) await rm(d, { recursive: true, force: true });
    }
  });
}
