import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, test } from 'node:test';
import sharp from 'sharp';
import { UapError } from '../errors.js';
import { imagenetLabels } from '../models/imagenet-classes.js';
import { loadDataset, resolveDatasetSpec, selectIndices } from './datasets.js';
import { ImageCache } from './images.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const SHARED = process.env.UAP_SHARED ?? path.resolve(repoRoot, '../shared');
const root = await mkdtemp(path.join(tmpdir(), 'uap-ds-'));
after(() => rm(root, { recursive: true, force: true }));
const isErr = (code: string, re: RegExp) => (e: unknown) => e instanceof UapError && e.code === code && re.test(e.message);
const cache = new ImageCache({ dir: false });
const S224: [number, number, number] = [224, 224, 3];
const S16: [number, number, number] = [16, 16, 3];

async function solid(file: string, r: number): Promise<string> {
  await mkdir(path.dirname(file), { recursive: true });
  await sharp({ create: { width: 24, height: 20, channels: 3, background: { r, g: 0, b: 0 } } }).png().toFile(file);
  return file;
}

// A folder: three photos named by wnid, a note, a hidden file, a subfolder named by wnid.
const folder = path.join(root, 'photos');
await solid(path.join(folder, 'n01443537_goldfish.png'), 10);
await solid(path.join(folder, 'n01440764_tench.png'), 20);
await solid(path.join(folder, 'cat.png'), 30);
await solid(path.join(folder, 'n01484850', 'shark1.png'), 40);
await writeFile(path.join(folder, 'README.txt'), 'notes about these photos\n');
await writeFile(path.join(folder, '.DS_Store'), 'junk');

test('a folder: images sorted by path, labels from wnids, other files ignored', async () => {
  const done: Array<[number, number]> = [];
  const b = await loadDataset(folder, { inputShape: S16, cache, onProgress: (d, t) => done.push([d, t]) });
  assert.equal(b.n, 4);
  assert.deepEqual(b.shape, [16, 16, 3]);
  assert.deepEqual(
    b.names.map((n) => path.relative(folder, n)),
    ['cat.png', 'n01440764_tench.png', 'n01443537_goldfish.png', path.join('n01484850', 'shark1.png')],
  );
  assert.deepEqual([...b.labels], [-1, 0, 1, 2]);
  assert.deepEqual([0, 1, 2, 3].map((i) => b.images[i * 16 * 16 * 3]), [30, 20, 10, 40]);
  assert.equal(b.images.length, 4 * 16 * 16 * 3);
  assert.deepEqual(done.at(-1), [4, 4]);
  // 1-channel model: greyscale.
  const g = await loadDataset(folder, { inputShape: [8, 8, 1], cache });
  assert.equal(g.images.length, 4 * 64);
});

test('PHOTOS+prior:…: the photos, then the prior\'s images (unlabelled); --limit applies to each part', async () => {
  const both = await loadDataset(`${folder}+prior:jigsaw:3:seed=5`, { inputShape: S16, cache });
  const photos = await loadDataset(folder, { inputShape: S16, cache });
  const prior = await loadDataset('prior:jigsaw:3:seed=5', { inputShape: S16 });
  assert.equal(both.n, 4 + 3);
  assert.deepEqual(both.images, Float32Array.from([...photos.images, ...prior.images]));
  assert.deepEqual([...both.labels], [...photos.labels, -1, -1, -1]);
  const limited = await loadDataset(`${folder}+prior:jigsaw:3`, { inputShape: S16, cache, limit: 2, seed: 1 });
  assert.equal(limited.n, 2 + 2);
  await assert.rejects(loadDataset(`${folder}+prior:none`, { inputShape: S16, cache }), isErr('BAD_ARGUMENT', /unknown prior "none"/));
});

test('a list file: paths relative to the list, absolute paths, label column, comments', async () => {
  const list = path.join(root, 'lists', 'train.txt');
  await mkdir(path.dirname(list), { recursive: true });
  await writeFile(
    list,
    `# my list\n../photos/cat.png 5\n\n${path.join(folder, 'n01440764_tench.png')}\n../photos/n01443537_goldfish.png\tn01484850\n`,
  );
  const b = await loadDataset(list, { inputShape: S16, cache });
  assert.equal(b.n, 3);
  assert.deepEqual([...b.labels], [5, 0, 2]);
  assert.equal(b.images[0], 30);
  // labelsFile for names without a wnid
  const lf = path.join(root, 'labels.txt');
  await writeFile(lf, 'cat.png goldfish\n');
  const c = await loadDataset(path.join(folder, 'cat.png'), { inputShape: S16, cache, labelsFile: lf });
  assert.deepEqual([...c.labels], [1]);
  // a bad line
  await writeFile(list, '../photos/missing.png\n');
  await assert.rejects(loadDataset(list, { inputShape: S16, cache }), isErr('NOT_FOUND', /missing\.png/));
});

test('comma-separated files', async () => {
  const a = path.join(folder, 'cat.png');
  const t = path.join(folder, 'n01440764_tench.png');
  const b = await loadDataset(`${t},${a}`, { inputShape: S16, cache });
  assert.deepEqual(b.names, [t, a]);
  assert.deepEqual([...b.labels], [0, -1]);
  await assert.rejects(loadDataset(`${t},${path.join(folder, 'nope.png')}`, { inputShape: S16, cache }), isErr('NOT_FOUND', /nope\.png/));
});

test('limit takes the first N of a seeded shuffle', async () => {
  const a = await loadDataset(folder, { inputShape: S16, cache, limit: 3, seed: 1 });
  const b = await loadDataset(folder, { inputShape: S16, cache, limit: 3, seed: 1 });
  assert.equal(a.n, 3);
  assert.deepEqual(a.names, b.names);
  assert.deepEqual(a.images, b.images);
  const orders = new Set<string>();
  for (let seed = 0; seed < 6; seed++) orders.add((await loadDataset(folder, { inputShape: S16, cache, limit: 2, seed })).names.join());
  assert.ok(orders.size > 1, 'different seeds pick different images');
  assert.equal((await loadDataset(folder, { inputShape: S16, cache, limit: 100 })).n, 4);
  assert.deepEqual([...selectIndices(5, undefined)], [0, 1, 2, 3, 4]);
  assert.deepEqual([...selectIndices(10, 4, 7)], [...selectIndices(10, 4, 7)]);
  await assert.rejects(loadDataset(folder, { inputShape: S16, cache, limit: 0 }), isErr('BAD_ARGUMENT', /limit/));
});

test('empty datasets, bad files and bad specs are refused clearly', async () => {
  const empty = path.join(root, 'empty');
  await mkdir(empty);
  await assert.rejects(loadDataset(empty, { inputShape: S16, cache }), isErr('BAD_INPUT', /empty: empty dataset: no images/));
  await writeFile(path.join(empty, 'notes.txt'), 'hello');
  await assert.rejects(loadDataset(empty, { inputShape: S16, cache }), isErr('BAD_INPUT', /empty dataset/));
  const emptyList = path.join(root, 'empty.txt');
  await writeFile(emptyList, '# nothing\n');
  await assert.rejects(loadDataset(emptyList, { inputShape: S16, cache }), isErr('BAD_INPUT', /empty\.txt: empty dataset: the list names no images/));

  const mixed = path.join(root, 'mixed');
  await solid(path.join(mixed, 'a.png'), 1);
  await writeFile(path.join(mixed, 'b.jpg'), 'I am a text file with a .jpg name');
  await assert.rejects(loadDataset(mixed, { inputShape: S16, cache }), isErr('BAD_INPUT', /b\.jpg: not a readable image/));

  await assert.rejects(loadDataset(path.join(root, 'nowhere'), { inputShape: S16, cache }), isErr('NOT_FOUND', /nowhere: no such file or folder/));
  await assert.rejects(loadDataset('mnist:validation', { inputShape: [28, 28, 1] }), isErr('BAD_ARGUMENT', /unknown MNIST split/));
  await assert.rejects(loadDataset('', { inputShape: S16 }), isErr('BAD_ARGUMENT', /empty data spec/));
  const bin = path.join(root, 'weights.bin');
  await writeFile(bin, Buffer.from([0, 1, 2, 0, 5]));
  await assert.rejects(loadDataset(bin, { inputShape: S16, cache }), isErr('BAD_INPUT', /weights\.bin: not a text list/));
});

test('MNIST specs', async () => {
  await assert.rejects(
    loadDataset('mnist:test', { inputShape: S224 }),
    isErr('BAD_ARGUMENT', /^mnist:test: MNIST holds 28×28×1 greyscale digits, but the model takes 224×224×3/),
  );
  const b = await loadDataset('mnist:test', { inputShape: [28, 28, 1], limit: 20, seed: 3 });
  assert.equal(b.n, 20);
  assert.deepEqual(b.shape, [28, 28, 1]);
  assert.equal(b.images.length, 20 * 784);
  assert.ok(b.labels.every((l) => l >= 0 && l <= 9));
  assert.match(b.names[0]!, /^mnist:test#\d+$/);
  assert.ok(Math.max(...b.images) > 200);
  const again = await loadDataset('mnist:test', { inputShape: [28, 28, 1], limit: 20, seed: 3 });
  assert.deepEqual(again.names, b.names);
  assert.equal((await resolveDatasetSpec('MNIST:Train')).split, 'train');
});

test('the shared ImageNet sample list', { skip: !existsSync(path.join(SHARED, 'imagenet-sample/train.txt')) }, async () => {
  const spec = path.join(SHARED, 'imagenet-sample/train.txt');
  const b = await loadDataset(spec, { inputShape: S224, limit: 6, seed: 0, cache });
  assert.equal(b.n, 6);
  const labels = imagenetLabels();
  b.names.forEach((name, i) => {
    assert.ok(existsSync(name));
    assert.equal(labels.ids[b.labels[i]!], path.basename(name).slice(0, 9));
  });
  const all = await resolveDatasetSpec(spec);
  assert.equal(all.entries.length, 500);
});
