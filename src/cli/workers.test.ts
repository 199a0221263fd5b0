import assert from 'node:assert/strict';
import os from 'node:os';
import { test } from 'node:test';
import { Command } from 'commander';
import { UapError } from '../errors.js';
import { workerCount } from './workers.js';

function program(argv: string[], engine = false): Command {
  const p = new Command('uap').option('--workers <n>').exitOverride();
  if (engine) p.option('--engine <name>');
  p.parse(argv, { from: 'user' });
  return p;
}

test('--workers: one per core by default on wasm and cpu, one on native backends and the ort engine, as asked otherwise', () => {
  assert.equal(workerCount(program([]), 'wasm'), os.availableParallelism());
  assert.equal(workerCount(program([]), 'cpu'), os.availableParallelism());
  assert.equal(workerCount(program([]), 'tensorflow'), 1);
  assert.equal(workerCount(program(['--engine', 'ort'], true), 'wasm'), 1);
  assert.equal(workerCount(program(['--workers', '3']), 'wasm'), 3);
  assert.equal(workerCount(program(['--workers', '1']), 'wasm'), 1);
  for (const bad of ['0', '-2', '1.5', 'two']) {
    assert.throws(() => workerCount(program(['--workers', bad]), 'wasm'), (e: unknown) => e instanceof UapError && e.code === 'BAD_ARGUMENT' && /--workers/.test(e.message));
  }
});
