import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PERTURBATION_FORMAT_VERSION, type PerturbationRecord } from '../io/perturbation-record.js';
import { reproduceArgs, reproduceCommand, shellQuote, wrapCommand } from './command.js';

const record: PerturbationRecord = {
  formatVersion: PERTURBATION_FORMAT_VERSION,
  modelId: 'mobilenet_v1_0.25_224',
  inputShape: [224, 224, 3],
  norm: 'inf',
  xi: 10,
  method: 'deepfool',
  options: { delta: 0.2, maxPasses: 10, step: 'inf', candidates: 10, overshoot: 0.02, maxIterDeepFool: 10, deepfoolBatchSize: 1, keepBest: true, limit: 500, complete: true },
  seed: 1,
  backend: 'wasm',
  tfjsVersion: '4.22.0',
  packageVersion: '0.1.0',
  data: { spec: "my photos/it's here", n: 500 },
  clip: false,
  history: [],
  foolingRateOnX: 0.8,
  wallSeconds: 10,
  createdAt: '2026-01-01T00:00:00Z',
};

test('the command spells out every setting of the record, quoted for a shell', () => {
  const args = reproduceArgs(record, 'runs/x')!;
  assert.deepEqual(args, [
    'uap', '--backend', 'wasm', 'compute', '--model', 'mobilenet_v1_0.25_224', '--data', "my photos/it's here", '--limit', '500',
    '--norm', 'inf', '--xi', '10', '--method', 'deepfool', '--delta', '0.2', '--max-passes', '10', '--step', 'inf', '--candidates', '10', '--overshoot', '0.02',
    '--max-iter-deepfool', '10', '--deepfool-batch', '1', '--seed', '1', '--no-clip', '--keep-best', '--out', 'runs/x',
  ]);
  const cmd = reproduceCommand(record, 'runs/x')!;
  assert.ok(cmd.includes(`--data 'my photos/it'\\''s here'`), cmd);
  assert.ok(!cmd.includes('\n'));
});

test('a webgl/unknown backend is left out; sgd and targets are spelled out; other methods have no command unless the record carries one', () => {
  assert.ok(!reproduceArgs({ ...record, backend: 'webgl' }, 'o')!.includes('--backend'));
  assert.equal(reproduceCommand({ ...record, method: 'imported' }, 'o'), undefined);
  assert.equal(reproduceCommand({ ...record, method: 'custom', options: { command: 'uap custom --x 1' } }, 'o'), 'uap custom --x 1');
  const sgd = reproduceArgs({ ...record, method: 'sgd', target: { index: 7, name: 'x' }, options: { batchSize: 32, stepSize: 1, loss: 'margin', optimizer: 'adam' } }, 'o')!;
  const after = (flag: string) => sgd[sgd.indexOf(flag) + 1];
  assert.equal(after('--method'), 'sgd');
  assert.equal(after('--target'), '7');
  assert.equal(after('--batch-size'), '32');
  assert.equal(after('--step-size'), '1');
  assert.equal(after('--loss'), 'margin');
  assert.equal(after('--optimizer'), 'adam');
  assert.ok(!reproduceArgs(record, 'o')!.includes('--loss'), 'sgd flags only for sgd');
  assert.ok(!sgd.includes('--augment'), 'no --augment when the record has none');
  const augmented = reproduceArgs({ ...record, method: 'sgd', options: { augment: { flip: true, minScale: 0.8 } } }, 'o')!;
  assert.equal(augmented[augmented.indexOf('--augment') + 1], 'flip,crop:0.8');
});

test('wrapping breaks only before options, keeps each option with its value, and round-trips', () => {
  const words = reproduceArgs(record, 'runs/x')!.map(shellQuote);
  const wrapped = wrapCommand(words, 40);
  const lines = wrapped.split('\n');
  assert.ok(lines.length > 3);
  for (const l of lines.slice(0, -1)) assert.ok(l.endsWith(' \\'));
  for (const l of lines.slice(1)) assert.match(l, /^ {2}--/);
  assert.equal(wrapped.replace(/ \\\n {2}/g, ' '), words.join(' '));
  assert.equal(shellQuote('a b'), `'a b'`);
  assert.equal(shellQuote('mnist:train'), 'mnist:train');
});
