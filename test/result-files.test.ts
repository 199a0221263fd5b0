import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import type { z } from 'zod';
import { UapError } from '../src/errors.js';
import {
  EvalResultSchema,
  LabelsResultSchema,
  parseResult,
  serializeResult,
  SubspaceResultSchema,
  SweepResultSchema,
  TransferResultSchema,
} from '../src/io/results.js';
import { readDominantLabels, readEval, readSubspace, readSweep, readTransfer } from '../src/report/schemas.js';

/**
 * Each result file is defined once (src/io/results.ts): what the commands write parses with the schema the
 * report reads it with, and a file that breaks the schema is refused naming the file.
 */

const tmp = mkdtempSync(path.join(os.tmpdir(), 'uap-results-'));
const bin = path.resolve('bin/uap.js');

function uap(args: string[]): unknown {
  const r = spawnSync(process.execPath, [bin, ...args, '--json'], { encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.status, 0, `uap ${args.join(' ')}: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

const v = path.join(tmp, 'v');
uap(['compute', '--model', 'mnist', '--data', 'mnist:train', '--limit', '100', '--xi', '60', '--method', 'sgd', '--max-passes', '2', '--batch-size', '25', '--out', v]);

function roundTrip<T>(schema: z.ZodType<T>, json: unknown, what: string): T {
  const parsed = parseResult(schema, json, 'x.json', what);
  // The writer's check accepts it too.
  assert.doesNotThrow(() => serializeResult(schema, json, 'x.json'));
  return parsed;
}

test('eval: what `uap eval --json` prints is an EvalResult (with a perturbation, and accuracy alone)', () => {
  const e = roundTrip(EvalResultSchema, uap(['eval', '--model', 'mnist', '--data', 'mnist:test', '--limit', '100', '--perturbation', v]), 'eval');
  assert.equal(e.n, 100);
  assert.equal(readEval(e, 'x.json')[0]!.foolingRate, e.foolingRate);
  const acc = roundTrip(EvalResultSchema, uap(['eval', '--model', 'mnist', '--data', 'mnist:test', '--limit', '50']), 'eval');
  assert.ok(acc.accuracyTop1! > 0.9);
});

test('labels, transfer (stdout and --out), sweep.json and subspace.json parse with their schemas and the report readers', () => {
  const l = roundTrip(LabelsResultSchema, uap(['labels', '--model', 'mnist', '--data', 'mnist:test', '--limit', '100', '--perturbation', v]), 'labels');
  assert.equal(readDominantLabels(l, 'x.json').labels.length, l.top.length);

  const out = path.join(tmp, 'transfer.json');
  const t = roundTrip(TransferResultSchema, uap(['transfer', '--models', 'mnist', '--perturbations', v, '--data', 'mnist:test', '--limit', '50', '--out', out]), 'transfer');
  assert.deepEqual(JSON.parse(readFileSync(out, 'utf8')).foolingRates, t.foolingRates);
  assert.deepEqual(readTransfer(t, 'x.json').values, t.foolingRates);

  const sweepDir = path.join(tmp, 'sweep');
  uap(['sweep', '--model', 'mnist', '--data', 'mnist:train', '--val', 'mnist:test', '--val-limit', '50', '--sizes', '10,20', '--xi', '60', '--max-passes', '1', '--out', sweepDir]);
  const s = roundTrip(SweepResultSchema, JSON.parse(readFileSync(path.join(sweepDir, 'sweep.json'), 'utf8')), 'sweep');
  assert.deepEqual(readSweep(s, 'x.json').points.map((p) => p.size), [10, 20]);

  const subDir = path.join(tmp, 'subspace');
  uap(['subspace', '--model', 'mnist', '--data', 'mnist:test', '--limit', '30', '--xi', '500', '--dims', '5,10', '--samples', '2', '--out', subDir]);
  const sub = roundTrip(SubspaceResultSchema, JSON.parse(readFileSync(path.join(subDir, 'subspace.json'), 'utf8')), 'subspace');
  assert.deepEqual(readSubspace(sub, 'x.json').singularValues, sub.singularValues);
});

test('a result that breaks its schema is refused by the reader (naming the file) and by the writer', () => {
  const bad = { model: 'mnist', data: 'mnist:test', n: 10, labelled: 10, foolingRate: 1.5 };
  assert.throws(
    () => parseResult(EvalResultSchema, bad, 'runs/eval.json', 'eval'),
    (e: unknown) => e instanceof UapError && e.code === 'BAD_INPUT' && /runs\/eval\.json: not a valid eval: foolingRate/.test(e.message),
  );
  assert.throws(() => serializeResult(EvalResultSchema, { ...bad, foolingRate: 0.5, n: -1 }, 'out.json'), /out\.json: refusing to write an invalid result: n/);
  // NaN rates (no labelled image) are null in the file, which the schema allows.
  assert.doesNotThrow(() => serializeResult(EvalResultSchema, { ...bad, foolingRate: 0.5, accuracyClean: Number.NaN }, 'out.json'));
});
