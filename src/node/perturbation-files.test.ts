import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, test } from 'node:test';
import sharp from 'sharp';
import { UapError } from '../errors.js';
import { writeNpy } from '../io/npy.js';
import type { PerturbationRecord } from '../io/perturbation-record.js';
import { writeFileAtomic, writeJsonAtomic } from './atomic-files.js';
import { loadPerturbation, savePerturbation } from './perturbation-files.js';
import { encodePng } from './png.js';

const root = await mkdtemp(path.join(tmpdir(), 'uap-pf-'));
after(() => rm(root, { recursive: true, force: true }));

function record(over: Partial<PerturbationRecord> = {}): PerturbationRecord {
  return {
    formatVersion: 1,
    modelId: 'toy',
    inputShape: [4, 6, 3],
    norm: 'inf',
    xi: 10,
    method: 'deepfool',
    options: { delta: 0.2 },
    seed: 1,
    backend: 'cpu',
    tfjsVersion: '4.22.0',
    packageVersion: '0.1.0',
    data: { spec: 'mnist:test', n: 10 },
    clip: true,
    history: [],
    foolingRateOnX: 0.5,
    wallSeconds: 1,
    createdAt: new Date(0).toISOString(),
    ...over,
  };
}

const v = Float32Array.from({ length: 4 * 6 * 3 }, (_, i) => ((i % 7) - 3) * 3);
const isErr = (code: string, re: RegExp) => (e: unknown) => e instanceof UapError && e.code === code && re.test(e.message);

test('savePerturbation writes npy + json + png; loadPerturbation reads them back', async () => {
  const dir = path.join(root, 'run1');
  const files = await savePerturbation(dir, v, [4, 6, 3], record());
  assert.deepEqual((await readdir(dir)).sort(), ['perturbation.json', 'perturbation.npy', 'perturbation.png']);
  const meta = await sharp(files.png).metadata();
  assert.equal(meta.width, 6);
  assert.equal(meta.height, 4);
  const px = await sharp(files.png).raw().toBuffer();
  assert.equal(px[0], Math.round(127.5 + (-9 / 9) * 127.5)); // v[0] = −9 = −max|v| → 0
  for (const target of [dir, files.npy, files.json]) {
    const p = await loadPerturbation(target, { expectShape: [4, 6, 3] });
    assert.deepEqual(p.data, v);
    assert.deepEqual(p.shape, [4, 6, 3]);
    assert.deepEqual(p.record, record());
    assert.equal(p.file, files.npy);
  }
  // Overwriting keeps a consistent folder, no temp files left.
  await savePerturbation(dir, v.map((x) => -x), [4, 6, 3], record({ seed: 2 }));
  assert.deepEqual((await readdir(dir)).sort(), ['perturbation.json', 'perturbation.npy', 'perturbation.png']);
  assert.equal((await loadPerturbation(dir)).record?.seed, 2);
});

test('bad inputs leave no output at all', async () => {
  const dir = path.join(root, 'bad');
  const nan = v.slice();
  nan[5] = NaN;
  await assert.rejects(savePerturbation(dir, nan, [4, 6, 3], record()), isErr('BAD_INPUT', /non-finite.*index 5/));
  await assert.rejects(savePerturbation(dir, v, [4, 6, 3], record({ inputShape: [28, 28, 1] })), isErr('BAD_INPUT', /record says inputShape 28×28×1/));
  await assert.rejects(savePerturbation(dir, v, [4, 6, 3], record({ xi: NaN })), isErr('BAD_INPUT', /xi/));
  await assert.rejects(savePerturbation(dir, v.subarray(1), [4, 6, 3], record()), isErr('BAD_INPUT', /71 values/));
  await assert.rejects(readdir(dir), /ENOENT/);
});

test('loadPerturbation refuses non-.npy files, NaN, wrong shapes, with the file name', async () => {
  const dir = path.join(root, 'load');
  await mkdir(dir);
  const txt = path.join(dir, 'renamed.npy');
  await writeFile(txt, 'just some text\n');
  await assert.rejects(loadPerturbation(txt), isErr('BAD_INPUT', /renamed\.npy: not a \.npy file/));
  const nan = v.slice();
  nan[2] = NaN;
  const nanFile = path.join(dir, 'nan.npy');
  await writeFile(nanFile, writeNpy(nan, [4, 6, 3]));
  await assert.rejects(loadPerturbation(nanFile), isErr('BAD_INPUT', /nan\.npy: contains 1 non-finite value/));
  const ok = path.join(dir, 'ok.npy');
  await writeFile(ok, writeNpy(v, [4, 6, 3]));
  assert.equal((await loadPerturbation(ok)).record, undefined);
  await assert.rejects(loadPerturbation(ok, { expectShape: [28, 28, 1] }), isErr('BAD_INPUT', /ok\.npy: computed at 4×6×3, model takes 28×28×1/));
  await writeFile(path.join(dir, 'ok.json'), JSON.stringify(record({ inputShape: [6, 4, 3] })));
  await assert.rejects(loadPerturbation(ok), isErr('BAD_INPUT', /record ok\.json says 6×4×3/));
  await writeFile(path.join(dir, 'ok.json'), '{"formatVersion": 1');
  await assert.rejects(loadPerturbation(ok), isErr('BAD_INPUT', /ok\.json: not valid JSON/));
  await assert.rejects(loadPerturbation(path.join(dir, 'missing.npy')), isErr('NOT_FOUND', /missing\.npy/));
  await assert.rejects(loadPerturbation(root), isErr('NOT_FOUND', /holds no perturbation\.npy/));
});

test('writeFileAtomic / writeJsonAtomic replace whole files and leave no temp files', async () => {
  const dir = path.join(root, 'atomic', 'nested');
  const f = path.join(dir, 'ckpt.json');
  await writeJsonAtomic(f, { a: 1 });
  await writeJsonAtomic(f, { a: 2, b: [1, 2] });
  assert.deepEqual(JSON.parse(await readFile(f, 'utf8')), { a: 2, b: [1, 2] });
  await writeFileAtomic(path.join(dir, 'x.bin'), new Uint8Array([1, 2, 3]));
  assert.deepEqual([...(await readFile(path.join(dir, 'x.bin')))], [1, 2, 3]);
  assert.deepEqual((await readdir(dir)).sort(), ['ckpt.json', 'x.bin']);
  await Promise.all(Array.from({ length: 8 }, (_, i) => writeJsonAtomic(f, { i })));
  assert.ok(typeof JSON.parse(await readFile(f, 'utf8')).i === 'number');
  assert.deepEqual((await readdir(dir)).sort(), ['ckpt.json', 'x.bin']);
});

test('encodePng is a real PNG', async () => {
  const png = await encodePng({ data: new Uint8ClampedArray([255, 0, 0, 0, 255, 0]), width: 2, height: 1, channels: 3 });
  assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  assert.deepEqual([...(await sharp(png).raw().toBuffer())], [255, 0, 0, 0, 255, 0]);
});

const LTS4 = path.join(
  process.env.UAP_SHARED ?? path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../shared'),
  'perturbations/lts4/vgg-16.npy',
);

test('loads the authors’ published perturbations (no record beside them)', { skip: !(await readFile(LTS4).then(() => true, () => false)) }, async () => {
  const p = await loadPerturbation(LTS4, { expectShape: [224, 224, 3] });
  assert.deepEqual(p.shape, [224, 224, 3]);
  assert.equal(p.record, undefined);
  await assert.rejects(loadPerturbation(LTS4, { expectShape: [160, 160, 3] }), isErr('BAD_INPUT', /vgg-16\.npy: computed at 224×224×3, model takes 160×160×3/));
});
