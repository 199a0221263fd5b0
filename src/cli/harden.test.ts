import assert from 'node:assert/strict';
import { Command } from 'commander';
import { test } from 'node:test';
import { UapError } from '../errors.js';
import { hardenCommand, type HardenFlags } from './harden.js';

const flags: HardenFlags = {
  model: 'mnist',
  method: 'finetune',
  xi: '77',
  pool: '3',
  attackSize: '1000',
  delta: '0.2',
  maxPasses: '5',
  deepfoolBatch: '1',
  step: '2',
  candidates: '10',
  epochs: '1',
  batchSize: '64',
  lr: '0.0001',
  data: 'mnist:train',
  test: 'mnist:test',
  seed: '1',
  out: '/nonexistent/never-written',
};

function rejectsWith(f: Partial<HardenFlags>, input: string) {
  return assert.rejects(hardenCommand(new Command(), { ...flags, ...f }), (e: unknown) => {
    assert.ok(e instanceof UapError, String(e));
    assert.equal(e.code, 'BAD_ARGUMENT');
    assert.equal(e.input, input);
    return true;
  });
}

test('uap harden refuses bad flags before doing any work', async () => {
  await rejectsWith({ method: 'adversarial' }, '--method');
  await rejectsWith({ pool: '0' }, '--pool'); // fine-tuning needs a pool
  await rejectsWith({ xi: '-1' }, '--xi');
  await rejectsWith({ probability: '1.5' }, '--probability');
  await rejectsWith({ step: '1' }, '--step');
  await rejectsWith({ epochs: '0' }, '--epochs');
  await rejectsWith({ lr: '0' }, '--lr');
});
