import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { parsePerturbationRecord } from '../src/io/perturbation-record.js';
import { EvalResultSchema, parseResult, TransferResultSchema } from '../src/io/results.js';

/**
 * Both measures by name in what the CLI prints and writes (issue #15, item 4): the paper's fooling rate (top-1
 * changed) and the error rate (wrong against the true labels), and "n/a (no labels)" where no label is known
 * (a data-free prior), never a number made up from the model's own predictions. Small MNIST runs.
 */

const tmp = mkdtempSync(path.join(os.tmpdir(), 'uap-measures-'));
const bin = path.resolve('bin/uap.js');

function uap(args: string[]): { stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', timeout: 120_000, env: { ...process.env, CI: '1' } });
  assert.equal(r.status, 0, `uap ${args.join(' ')}: ${r.stderr}`);
  return { stdout: r.stdout, stderr: r.stderr };
}

const v = path.join(tmp, 'v');
const computed = uap(['compute', '--model', 'mnist', '--data', 'mnist:train', '--limit', '100', '--xi', '60', '--method', 'sgd', '--max-passes', '2', '--batch-size', '25', '--out', v, '--json']);

test('compute: each pass and the final line name both measures on X; perturbation.json holds both', () => {
  assert.match(computed.stderr, /pass 1: fooling rate on X \d+\.\d%, error rate on X \d+\.\d%/);
  assert.match(computed.stderr, /fooling rate on X: \d+\.\d%, error rate on X: \d+\.\d% \(clean accuracy \d+\.\d%\) after 2 passes/);
  const record = parsePerturbationRecord(JSON.parse(readFileSync(path.join(v, 'perturbation.json'), 'utf8')), 'perturbation.json');
  assert.equal(typeof record.errorRateOnX, 'number');
  assert.ok(record.accuracyCleanOnX! > 0.8, 'the MNIST model is accurate on clean digits');
  assert.equal(record.errorRateOnX, record.history.at(-1)!.errorRate);
  assert.deepEqual(JSON.parse(computed.stdout).errorRateOnX, record.errorRateOnX);
});

test('eval: text and --json give the fooling rate and the error rate (= 1 − perturbed accuracy) by name', () => {
  const args = ['eval', '--model', 'mnist', '--data', 'mnist:test', '--limit', '100', '--perturbation', v];
  const text = uap(args).stdout;
  assert.match(text, /fooling rate +\d+\.\d% +\(top-1 on x \+ v differs from top-1 on x/);
  assert.match(text, /error rate +\d+\.\d% +\(top-1 on x \+ v is not the true label, over 100 labelled/);
  const e = parseResult(EvalResultSchema, JSON.parse(uap([...args, '--json']).stdout), 'eval', 'eval');
  assert.ok(Math.abs(e.errorRate! - (1 - e.accuracyPerturbed!)) < 1e-12);
  assert.notEqual(e.errorRate, e.foolingRate, 'different measures on this case (some digits were wrong before v)');
});

test('a prior has no labels: the error rate is "n/a (no labels)" (null in JSON), the fooling rate is measured', () => {
  const text = uap(['eval', '--model', 'mnist', '--data', 'prior:gaussian:40', '--perturbation', v]).stdout;
  assert.match(text, /error rate +n\/a \(no labels\)\n/);
  const e = JSON.parse(uap(['eval', '--model', 'mnist', '--data', 'prior:jigsaw:40', '--perturbation', v, '--json']).stdout);
  assert.equal(e.errorRate, null);
  assert.equal(e.labelled, 0);
  assert.ok(e.foolingRate >= 0 && e.foolingRate <= 1);

  const pv = path.join(tmp, 'prior');
  const c = uap(['compute', '--model', 'mnist', '--data', 'prior:jigsaw:50', '--xi', '60', '--method', 'sgd', '--max-passes', '1', '--batch-size', '25', '--out', pv]);
  assert.match(c.stderr, /pass 1: fooling rate on X \d+\.\d%, error rate on X n\/a \(no labels\)/);
  const record = parsePerturbationRecord(JSON.parse(readFileSync(path.join(pv, 'perturbation.json'), 'utf8')), 'perturbation.json');
  assert.equal(record.errorRateOnX, null);
  assert.equal(record.data.spec, 'prior:jigsaw:50');
  assert.equal(record.data.n, 50);
});

test('transfer prints a table of each measure and writes errorRates; labels names both', () => {
  const out = path.join(tmp, 'transfer.json');
  const t = uap(['transfer', '--models', 'mnist', '--perturbations', v, '--data', 'mnist:test', '--limit', '50', '--out', out]).stdout;
  assert.match(t, /^fooling rates on mnist:test \(top-1 on x \+ v differs from top-1 on x/m);
  assert.match(t, /^error rates on mnist:test \(top-1 on x \+ v is not the true label/m);
  const j = parseResult(TransferResultSchema, JSON.parse(readFileSync(out, 'utf8')), out, 'transfer');
  const cell = j.cells[0]![0]!;
  assert.ok(cell.status === 'ok' && j.errorRates![0]![0] === cell.errorRate && Math.abs(cell.errorRate! - (1 - cell.accuracyPerturbed!)) < 1e-12);
  const l = uap(['labels', '--model', 'mnist', '--perturbation', v, '--data', 'mnist:test', '--limit', '50']).stdout;
  assert.match(l, /: fooling rate \d+\.\d%, error rate \d+\.\d% \(n = 50\)/);
});
