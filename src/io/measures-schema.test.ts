import assert from 'node:assert/strict';
import { test } from 'node:test';
import { readEval, readSweep, readTransfer } from '../report/schemas.js';
import { parsePerturbationJson, type PerturbationRecord } from './perturbation-record.js';
import { EvalResultSchema, parseResult, serializeResult, SweepResultSchema, TransferResultSchema } from './results.js';

// The error rate in the result files: written beside the fooling rate, NaN (no labels) as null, optional on read
// so files written before it still parse.

const record: PerturbationRecord = {
  formatVersion: 1,
  modelId: 'mobilenet_v1_0.25_224',
  inputShape: [224, 224, 3],
  norm: 'inf',
  xi: 10,
  method: 'sgd',
  options: {},
  seed: 1,
  backend: 'wasm',
  tfjsVersion: '4.22.0',
  packageVersion: '0.1.0',
  data: { spec: 'train.txt', n: 500 },
  clip: true,
  history: [{ pass: 1, foolingRate: 0.5, errorRate: 0.7, seconds: 1, norm: 10 }],
  foolingRateOnX: 0.5,
  errorRateOnX: 0.7,
  accuracyCleanOnX: 0.585,
  wallSeconds: 1,
  createdAt: '2026-12-01T12:00:00.000Z',
};

test('perturbation.json: both measures round-trip; null says "no labels"; an older record without them parses', () => {
  assert.deepEqual(parsePerturbationJson(JSON.stringify(record), 'p.json'), record);
  const prior = { ...record, data: { spec: 'prior:jigsaw:256', n: 256 }, history: [{ pass: 1, foolingRate: 0.9, seconds: 1, norm: 10 }], errorRateOnX: null, accuracyCleanOnX: null };
  assert.deepEqual(parsePerturbationJson(JSON.stringify(prior), 'p.json'), prior);
  const { errorRateOnX: _e, accuracyCleanOnX: _a, ...old } = record;
  const oldParsed = parsePerturbationJson(JSON.stringify({ ...old, history: [{ pass: 1, foolingRate: 0.5, seconds: 1, norm: 10 }] }), 'p.json');
  assert.equal(oldParsed.errorRateOnX, undefined);
  assert.throws(() => parsePerturbationJson(JSON.stringify({ ...record, errorRateOnX: 1.5 }), 'p.json'), /p\.json: not a valid perturbation record: errorRateOnX/);
});

test('eval, sweep and transfer files: the error rate is written (NaN → null) and read back; older files still parse', () => {
  const ev = { model: 'm', data: 'd', n: 4, labelled: 4, foolingRate: 0.5, errorRate: 0.75, accuracyClean: 0.5, accuracyPerturbed: 0.25 };
  const e = parseResult(EvalResultSchema, JSON.parse(serializeResult(EvalResultSchema, ev, 'e.json')), 'e.json', 'eval');
  assert.equal(e.errorRate, 0.75);
  assert.equal(readEval(e, 'e.json')[0]!.errorRate, 0.75);
  const none = JSON.parse(serializeResult(EvalResultSchema, { ...ev, labelled: 0, errorRate: Number.NaN, accuracyClean: Number.NaN, accuracyPerturbed: Number.NaN }, 'e.json'));
  assert.equal(none.errorRate, null);
  assert.equal(readEval(none, 'e.json')[0]!.errorRate, undefined, 'the report shows n/a (no labels)');
  const { errorRate: _x, ...oldEval } = ev;
  assert.equal(readEval(parseResult(EvalResultSchema, oldEval, 'e.json', 'eval'), 'e.json')[0]!.errorRate, 0.75, 'derived from the perturbed accuracy');
  assert.throws(() => serializeResult(EvalResultSchema, { ...ev, errorRate: -0.1 }, 'e.json'), /refusing to write an invalid result: errorRate/);

  const point = { size: 10, foolingRateX: 0.9, foolingRateVal: 0.6, accuracyCleanVal: 0.5, accuracyPerturbedVal: 0.3, passes: 1, history: [], seconds: 1, dir: 'n-10' };
  const sweep = { model: 'm', modelId: 'm', data: 'd', val: 'v', nVal: 10, norm: 'inf', xi: 10, seed: 1, clip: true, options: {}, backend: 'cpu', createdAt: record.createdAt, sizes: [{ ...point, errorRateX: 0.95, errorRateVal: 0.7 }] };
  const s = parseResult(SweepResultSchema, JSON.parse(serializeResult(SweepResultSchema, sweep, 's.json')), 's.json', 'sweep');
  assert.equal(readSweep(s, 's.json').points[0]!.errorRateVal, 0.7);
  assert.equal(readSweep(s, 's.json').points[0]!.errorRateX, 0.95);
  const oldSweep = parseResult(SweepResultSchema, { ...sweep, sizes: [point] }, 's.json', 'sweep');
  assert.equal(readSweep(oldSweep, 's.json').points[0]!.errorRateVal, 1 - 0.3);

  const transfer = {
    data: 'd', limit: null, seed: 1, clip: true, resize: false,
    rows: [{ label: 'a', shape: [2, 2, 1], norm: 'inf', normValue: 1, source: 'a.npy' }],
    columns: [{ label: 'm', modelId: 'm', inputShape: [2, 2, 1], n: 4, accuracyClean: null, model: 'm' }, { label: 'k', modelId: 'k', inputShape: [2, 2, 1], n: 4, accuracyClean: 0.5, model: 'k' }],
    foolingRates: [[0.5, 0.25]],
    errorRates: [[null, 0.75]],
    cells: [[
      { status: 'ok', foolingRate: 0.5, errorRate: Number.NaN, accuracyClean: Number.NaN, accuracyPerturbed: Number.NaN, n: 4, resized: false },
      { status: 'ok', foolingRate: 0.25, errorRate: 0.75, accuracyClean: 0.5, accuracyPerturbed: 0.25, n: 4, resized: false },
    ]],
    createdAt: record.createdAt,
  };
  const t = parseResult(TransferResultSchema, JSON.parse(serializeResult(TransferResultSchema, transfer, 't.json')), 't.json', 'transfer');
  assert.deepEqual(t.errorRates, [[null, 0.75]]);
  assert.deepEqual(readTransfer(t, 't.json').errors, [[Number.NaN, 0.75]]);
  const { errorRates: _r, ...oldTransfer } = transfer;
  const old = parseResult(TransferResultSchema, JSON.parse(JSON.stringify({ ...oldTransfer, cells: [[{ ...transfer.cells[0]![1]!, errorRate: undefined }, transfer.cells[0]![1]!]] })), 't.json', 'transfer');
  assert.equal(readTransfer(old, 't.json').errors, undefined);
});
