import assert from 'node:assert/strict';
import { test } from 'node:test';
import { UapError } from '../errors.js';
import { parsePerturbationJson, parsePerturbationRecord, validatePerturbation, type PerturbationRecord } from './perturbation-record.js';

function sampleRecord(over: Partial<PerturbationRecord> = {}): PerturbationRecord {
  return {
    formatVersion: 1,
    modelId: 'mobilenet_v1_0.25_224',
    inputShape: [224, 224, 3],
    norm: 'inf',
    xi: 10,
    method: 'deepfool',
    options: { delta: 0.2, overshoot: 0.02, candidates: 10 },
    seed: 0,
    backend: 'wasm',
    tfjsVersion: '4.22.0',
    packageVersion: '0.1.0',
    data: { spec: 'imagenet-sample/train.txt', n: 500 },
    clip: true,
    history: [{ pass: 1, foolingRate: 0.5, deepfoolCalls: 300, seconds: 12.5, norm: 10 }],
    foolingRateOnX: 0.81,
    wallSeconds: 40,
    createdAt: '2026-11-25T14:00:00.000Z',
    ...over,
  };
}

const isBad = (re: RegExp) => (e: unknown) => e instanceof UapError && e.code === 'BAD_INPUT' && re.test(e.message);

test('a valid record parses, also with a target and norm 2', () => {
  const r = sampleRecord();
  assert.deepEqual(parsePerturbationRecord(JSON.parse(JSON.stringify(r)), 'p.json'), r);
  const t = sampleRecord({ norm: 2, xi: 2000, target: { index: 1, id: 'n01443537', name: 'goldfish' } });
  assert.deepEqual(parsePerturbationJson(JSON.stringify(t), 'p.json'), t);
});

test('invalid records name the file and the fields', () => {
  assert.throws(() => parsePerturbationJson('{ not json', 'p.json'), isBad(/^p\.json: not valid JSON/));
  const bad = { ...sampleRecord(), xi: -1, norm: 3, inputShape: [224, 224] };
  assert.throws(() => parsePerturbationRecord(bad, 'run/p.json'), isBad(/^run\/p\.json: not a valid perturbation record: .*xi.*/));
  assert.throws(() => parsePerturbationRecord(bad, 'p.json'), isBad(/norm/));
  assert.throws(() => parsePerturbationRecord({ ...sampleRecord(), formatVersion: 2 }, 'p.json'), isBad(/newer uap/));
  assert.throws(() => parsePerturbationRecord({ ...sampleRecord(), createdAt: 'yesterday' }, 'p.json'), isBad(/createdAt/));
  assert.throws(() => parsePerturbationRecord(null, 'p.json'), isBad(/not a valid/));
  const { modelId: _, ...noModel } = sampleRecord();
  assert.throws(() => parsePerturbationRecord(noModel, 'p.json'), isBad(/modelId/));
});

test('validatePerturbation: shape, length, NaN/Inf', () => {
  const v = new Float32Array(4 * 5 * 3);
  assert.deepEqual(validatePerturbation(v, [4, 5, 3], [4, 5, 3], 'v.npy'), [4, 5, 3]);
  assert.deepEqual(validatePerturbation(v, [1, 4, 5, 3], undefined, 'v.npy'), [4, 5, 3]);
  assert.throws(
    () => validatePerturbation(new Float32Array(224 * 224 * 3), [224, 224, 3], [28, 28, 1], 'v.npy'),
    (e: unknown) =>
      isBad(/^v\.npy: computed at 224×224×3, model takes 28×28×1$/)(e) &&
      (e as UapError).hint?.option === 'resize' &&
      (e as UapError).hint?.text === 'to resize the perturbation to 28×28×1',
  );
  assert.throws(() => validatePerturbation(v, [4, 5, 2], undefined, 'v.npy'), isBad(/60 values.*40/));
  assert.throws(() => validatePerturbation(v, [60], undefined, 'v.npy'), isBad(/not an image/));
  const nan = v.slice();
  nan[17] = NaN;
  nan[30] = Infinity;
  assert.throws(() => validatePerturbation(nan, [4, 5, 3], undefined, 'v.npy'), isBad(/2 non-finite values.*NaN at index 17 \(row 1, column 0, channel 2\)/));
});
