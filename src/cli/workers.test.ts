import assert from 'node:assert/strict';
import os from 'node:os';
import { before, test } from 'node:test';
import { Command } from 'commander';
import { UapError } from '../errors.js';
import { WorkerPoolClassifier } from '../node/worker-pool-classifier.js';
import { useWasm } from '../tensor/testing/grad.js';
import { loadWithWorkers, workerCount } from './workers.js';

before(useWasm);

function program(argv: string[], engine = false): Command {
  const p = new Command('uap').option('--workers <n>').exitOverride();
  if (engine) p.option('--engine <name>');
  p.parse(argv, { from: 'user' });
  return p;
}

test('a small model (MNIST) stays in the main thread by default; --workers 2 puts it on the pool', async () => {
  const a = await loadWithWorkers('mnist', { workers: { count: 2, asked: false }, backend: 'wasm' });
  assert.equal(a.workers, 1);
  assert.ok(!(a.model instanceof WorkerPoolClassifier));
  a.model.dispose();
  const b = await loadWithWorkers('mnist', { workers: { count: 2, asked: true }, backend: 'wasm' });
  assert.equal(b.workers, 2);
  assert.ok(b.model instanceof WorkerPoolClassifier);
  b.model.dispose();
});

test('--workers: one per core by default on wasm and cpu, one on native backends and the ort engine, as asked otherwise', () => {
  const n = os.availableParallelism();
  assert.deepEqual(workerCount(program([]), 'wasm'), { count: n, asked: false });
  assert.deepEqual(workerCount(program([]), 'cpu'), { count: n, asked: false });
  assert.deepEqual(workerCount(program([]), 'tensorflow'), { count: 1, asked: false });
  assert.deepEqual(workerCount(program(['--engine', 'ort'], true), 'wasm'), { count: 1, asked: false });
  assert.deepEqual(workerCount(program(['--workers', '3']), 'wasm'), { count: 3, asked: true });
  assert.deepEqual(workerCount(program(['--workers', '1']), 'wasm'), { count: 1, asked: true });
  for (const bad of ['0', '-2', '1.5', 'two']) {
    assert.throws(() => workerCount(program(['--workers', bad]), 'wasm'), (e: unknown) => e instanceof UapError && e.code === 'BAD_ARGUMENT' && /--workers/.test(e.message));
  }
});
