import assert from 'node:assert/strict';
import { deflateSync } from 'node:zlib';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, test } from 'node:test';
import sharp from 'sharp';
import { UapError } from '../errors.js';
import { imagenetLabels } from '../models/imagenet-classes.js';
import { decodeImage, decodeImages, ImageCache, labelOfFile, parseLabel, readLabelsFile, wnidOfFile } from './images.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const SHARED = process.env.UAP_SHARED ?? path.resolve(repoRoot, '../shared');
const root = await mkdtemp(path.join(tmpdir(), 'uap-img-'));
after(() => rm(root, { recursive: true, force: true }));
const isErr = (code: string, re: RegExp) => (e: unknown) => e instanceof UapError && e.code === code && re.test(e.message);

/** A PNG whose pixel (x, y) is [x mod 256, y mod 256, 7]. */
async function gradientPng(file: string, width: number, height: number): Promise<void> {
  const raw = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) raw.set([x % 256, y % 256, 7], (y * width + x) * 3);
  }
  await sharp(raw, { raw: { width, height, channels: 3 } }).png().toFile(file);
}

function crc32(buf: Uint8Array): number {
  let crc = 0xffffffff;
  for (const b of buf) {
    crc ^= b;
    for (let k = 0; k < 8; k++) crc = crc & 1 ? 0xedb88320 ^ (crc >>> 1) : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
}

function pngChunk(type: string, data: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const td = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(td));
  return Buffer.concat([len, td, crc]);
}

/** A tiny PNG (< 200 bytes) whose header claims width × height RGB pixels: a decompression bomb. */
function pngBomb(width: number, height: number): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // RGB
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    pngChunk('IHDR', ihdr),
    pngChunk('IDAT', deflateSync(Buffer.alloc(64))),
    pngChunk('IEND', Buffer.alloc(0)),
  ]);
}

test('resize + centre crop geometry, exact when no resampling is needed', async () => {
  const file = path.join(root, 'grad.png');
  await gradientPng(file, 300, 256); // shorter side already 256: crop only
  const px = await decodeImage(file, { shape: [224, 224, 3], cache: false });
  assert.equal(px.length, 224 * 224 * 3);
  // crop box: left = (300 − 224)/2 = 38, top = 16
  assert.deepEqual([...px.subarray(0, 3)], [38, 16, 7]);
  const last = (223 * 224 + 223) * 3;
  assert.deepEqual([...px.subarray(last, last + 3)], [(38 + 223) % 256, 16 + 223, 7]);
  // 160 model: shorter side 183, so the image is scaled by 183/256; the centre pixel keeps the centre colour.
  const small = await decodeImage(file, { shape: [160, 160, 3], cache: false });
  const c = (80 * 160 + 80) * 3;
  assert.ok(Math.abs(small[c]! - 150) <= 2, `centre R ${small[c]}`);
  assert.ok(Math.abs(small[c + 1]! - 128) <= 2, `centre G ${small[c + 1]}`);
  assert.equal(small[c + 2], 7);
  // Greyscale output for 1-channel models.
  const grey = await decodeImage(file, { shape: [28, 28, 1], cache: false, cropFraction: 1 });
  assert.equal(grey.length, 28 * 28);
  assert.ok(grey.every((v) => v >= 0 && v <= 255 && Number.isInteger(v)));
});

test('decodes a shared ImageNet JPEG', { skip: !existsSync(path.join(SHARED, 'imagenet-sample')) }, async () => {
  const file = path.join(SHARED, 'imagenet-sample/images/n01440764_tench.jpg');
  const px = await decodeImage(file, { shape: [224, 224, 3], cache: false });
  let min = 255;
  let max = 0;
  for (const v of px) {
    min = Math.min(min, v);
    max = Math.max(max, v);
  }
  assert.ok(min < 40 && max > 200, `range ${min}..${max}`);
});

test('refuses non-images, corrupt JPEGs, decompression bombs and missing files, naming the file', async () => {
  const text = path.join(root, 'notes.jpg');
  await writeFile(text, 'this is not a picture\n');
  await assert.rejects(decodeImage(text, { shape: [224, 224, 3], cache: false }), isErr('BAD_INPUT', /notes\.jpg: not a readable image/));

  const jpeg = await sharp({ create: { width: 300, height: 260, channels: 3, background: { r: 200, g: 30, b: 30 } } })
    .jpeg()
    .toBuffer();
  const corrupt = path.join(root, 'corrupt.jpg');
  await writeFile(corrupt, jpeg.subarray(0, Math.floor(jpeg.length / 2)));
  await assert.rejects(decodeImage(corrupt, { shape: [224, 224, 3], cache: false }), isErr('BAD_INPUT', /corrupt\.jpg: .*(corrupt|premature|unreadable)/i));

  const bomb = path.join(root, 'bomb.png');
  await writeFile(bomb, pngBomb(100000, 100000));
  const t0 = Date.now();
  await assert.rejects(
    decodeImage(bomb, { shape: [224, 224, 3], cache: false }),
    isErr('BAD_INPUT', /bomb\.png: image is 100000×100000 = 10000 megapixels, over the limit of 100/),
  );
  assert.ok(Date.now() - t0 < 2000, 'refused from the header, without decoding');
  // A lower limit also applies to ordinary images.
  const ok = path.join(root, 'ok.png');
  await gradientPng(ok, 64, 64);
  await assert.rejects(decodeImage(ok, { shape: [32, 32, 3], cache: false, maxPixels: 1000 }), isErr('BAD_INPUT', /over the limit/));

  await assert.rejects(decodeImage(path.join(root, 'nope.png'), { shape: [32, 32, 3], cache: false }), isErr('NOT_FOUND', /nope\.png/));
  await assert.rejects(decodeImage(ok, { shape: [32, 32, 2], cache: false }), isErr('BAD_ARGUMENT', /32, 32, 2/));
});

test('cache: memory, then disk; a changed file is decoded again', async () => {
  const dir = path.join(root, 'cache');
  const file = path.join(root, 'cached.png');
  await gradientPng(file, 40, 30);
  const cache = new ImageCache({ dir });
  const opts = { shape: [24, 24, 3] as [number, number, number], cache };
  const a = await decodeImage(file, opts);
  assert.equal(cache.misses, 1);
  assert.deepEqual(await decodeImage(file, opts), a);
  assert.equal(cache.hits, 1);
  // Another shape is another entry.
  await decodeImage(file, { ...opts, shape: [16, 16, 3] });
  assert.equal(cache.misses, 2);
  // A fresh process (new cache object) reads the disk.
  const cache2 = new ImageCache({ dir });
  assert.deepEqual(await decodeImage(file, { ...opts, cache: cache2 }), a);
  assert.equal(cache2.diskHits, 1);
  assert.equal(cache2.misses, 0);
  // Change the file: new content and mtime → decoded again, new pixels.
  await sharp({ create: { width: 40, height: 30, channels: 3, background: { r: 1, g: 2, b: 3 } } }).png().toFile(file);
  const later = new Date(Date.now() + 5000);
  await utimes(file, later, later);
  const b = await decodeImage(file, opts);
  assert.deepEqual([...b.subarray(0, 3)], [1, 2, 3]);
  assert.equal(cache.misses, 3);
  // A damaged cache file is ignored, not returned.
  const cache3 = new ImageCache({ dir });
  for (const sub of await readdir(dir)) {
    for (const f of await readdir(path.join(dir, sub))) {
      const p = path.join(dir, sub, f);
      await writeFile(p, (await readFile(p)).subarray(0, 100));
    }
  }
  assert.deepEqual(await decodeImage(file, { ...opts, cache: cache3 }), b);
  assert.equal(cache3.misses, 1);
});

test('decodeImages decodes in parallel, in order, with progress', async () => {
  const files: string[] = [];
  for (let i = 0; i < 6; i++) {
    const f = path.join(root, `solid${i}.png`);
    await sharp({ create: { width: 20 + i, height: 20, channels: 3, background: { r: i * 10, g: 0, b: 0 } } }).png().toFile(f);
    files.push(f);
  }
  const progress: number[] = [];
  const px = await decodeImages(files, { shape: [8, 8, 3], cache: false, concurrency: 3, onProgress: (d, t) => progress.push(d / t) });
  for (let i = 0; i < 6; i++) assert.equal(px[i * 8 * 8 * 3], i * 10);
  assert.equal(progress.length, 6);
  assert.equal(progress.at(-1), 1);
  const bad = path.join(root, 'bad.png');
  await writeFile(bad, 'nope');
  await assert.rejects(decodeImages([...files, bad], { shape: [8, 8, 3], cache: false }), isErr('BAD_INPUT', /bad\.png/));
});

test('labels from wnid file names, folders and labels files', async () => {
  const labels = imagenetLabels();
  assert.equal(wnidOfFile('/x/n01440764_tench.jpg'), 'n01440764');
  assert.equal(wnidOfFile('/x/n01443537/ILSVRC2012_val_1.JPEG'), 'n01443537');
  assert.equal(wnidOfFile('/x/cat.jpg'), undefined);
  assert.equal(wnidOfFile('/x/n014407641.jpg'), undefined);
  assert.equal(labelOfFile('n01443537_goldfish.jpg', labels), 1);
  assert.equal(labelOfFile('n99999999_x.jpg', labels), -1);
  assert.equal(parseLabel('999', labels, 'x'), 999);
  assert.equal(parseLabel('goldfish', labels, 'x'), 1);
  assert.throws(() => parseLabel('1000', labels, 'l.txt line 2'), isErr('BAD_INPUT', /l\.txt line 2: unknown class '1000'/));
  const lf = path.join(root, 'labels.txt');
  await writeFile(lf, '# file label\ncat.jpg 1\nsub/dog.png,n01440764\nmy fish.png tench\n');
  const map = await readLabelsFile(lf, labels);
  assert.deepEqual([...map], [['cat.jpg', 1], ['dog.png', 0], ['my fish.png', 0]]);
  await writeFile(lf, 'cat.jpg wombat-like\n');
  await assert.rejects(readLabelsFile(lf, labels), isErr('BAD_INPUT', /line 1: unknown class 'wombat-like'/));
});
