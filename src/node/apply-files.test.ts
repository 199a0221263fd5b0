import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import sharp from 'sharp';
import { UapError } from '../errors.js';
import { APPLY_LOCK, applyToFiles, lockOutDir, perturbPhoto, planApply } from './apply-files.js';
import { writeFileAtomic } from './atomic-files.js';
import { estimateJpegQuality } from './jpeg-quality.js';
import { decodePhoto } from './photo-codec.js';

/**
 * uap apply's file layer on fixtures made here with sharp: every copy keeps the size, format, depth, alpha,
 * orientation (applied once) and colour profile of its photo, and the metadata unless stripped; v reaches the
 * pixels (a constant v = +7 moves every sample by exactly 7 in lossless formats); bad input and a failing disk.
 */

const W = 48;
const H = 32;
const V7 = { v: new Float32Array(16 * 16 * 3).fill(7), vShape: [16, 16, 3] as const };
let dir: string;

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'uap-apply-files-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A smooth RGB pattern, dark on the left and bright on the right (so a wrong rotation shows). */
function pattern(channels: number, w = W, h = H): Buffer {
  const b = Buffer.alloc(w * h * channels);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++)
      for (let k = 0; k < channels; k++) b[(y * w + x) * channels + k] = k === 3 ? 40 + ((x * 5 + y) % 200) : 30 + Math.round((150 * x) / w) + 10 * k + Math.round((30 * y) / h);
  return b;
}

const EXIF = { IFD0: { Artist: 'uap test', Copyright: 'CC0' }, IFD3: { GPSLatitudeRef: 'N', GPSLatitude: '46/1 31/1 0/1' } };

async function run(name: string, bytes: Uint8Array, opts: { stripMetadata?: boolean; quality?: number; chroma?: '4:2:0' | '4:4:4' } = {}) {
  const src = path.join(dir, 'in', name);
  await writeFileAtomic(src, bytes);
  const outDir = path.join(dir, `out-${name}-${opts.stripMetadata ? 's' : 'k'}${opts.chroma ? opts.chroma.replace(/:/g, '') : ''}`);
  const [r] = await applyToFiles(await planApply([src], outDir), { ...V7, outDir, ...opts });
  assert.equal(r!.status, 'written', r!.error);
  const out = await readFile(r!.output);
  return { src: Uint8Array.from(bytes), out, srcMeta: await sharp(bytes).metadata(), outMeta: await sharp(out).metadata() };
}

/** Largest |copy − (upright original + 7)| over the colour samples. */
async function offBy7(srcBytes: Uint8Array, outBytes: Uint8Array): Promise<number> {
  const a = await decodePhoto(srcBytes, 'src');
  const b = await decodePhoto(outBytes, 'out');
  assert.deepEqual([b.width, b.height, b.channels], [a.width, a.height, a.channels]);
  const colour = a.channels >= 3 ? 3 : 1;
  const step = a.depth === 16 ? 7 * 257 : 7;
  let worst = 0;
  for (let i = 0; i < a.pixels.length; i++) if (i % a.channels < colour) worst = Math.max(worst, Math.abs(b.pixels[i]! - (a.pixels[i]! + step)));
  return worst / (a.depth === 16 ? 257 : 1);
}

for (const orientation of [6, 8]) {
  test(`JPEG with EXIF orientation ${orientation}: pixels rotated once, tag 1, EXIF/GPS and ICC kept (or EXIF stripped)`, async () => {
    const jpeg = await sharp(pattern(3), { raw: { width: W, height: H, channels: 3 } })
      .withIccProfile('p3')
      .withExif(EXIF)
      .withMetadata({ orientation })
      .jpeg({ quality: 88, chromaSubsampling: '4:4:4' })
      .toBuffer();
    const { src, out, srcMeta, outMeta } = await run(`o${orientation}.jpg`, jpeg);
    assert.equal(srcMeta.orientation, orientation);
    assert.deepEqual([outMeta.format, outMeta.width, outMeta.height, outMeta.orientation], ['jpeg', H, W, 1], 'upright pixels, orientation 1');
    assert.ok(outMeta.exif?.toString('latin1').includes('uap test'), 'EXIF kept');
    assert.ok(outMeta.exif?.includes(Buffer.from([0x88, 0x25])) || outMeta.exif?.includes(Buffer.from([0x25, 0x88])), 'GPS IFD pointer kept');
    assert.deepEqual(outMeta.icc, srcMeta.icc, 'the same ICC profile');
    assert.equal(outMeta.chromaSubsampling, '4:4:4');
    assert.equal(estimateJpegQuality(out), 88, 'written at the source quality');
    // A viewer (autoOrient) sees the original + 7: rotated once, not twice (that would be W×H, or upside down).
    assert.ok((await offBy7(src, out)) <= 4, 'copy = upright original + 7 within JPEG error');

    const sub = await run(`o${orientation}.jpg`, jpeg, { chroma: '4:2:0' });
    assert.deepEqual([sub.outMeta.chromaSubsampling, estimateJpegQuality(sub.out), sub.outMeta.orientation], ['4:2:0', 88, 1], '--chroma 4:2:0: subsampled, same quality, upright');
    assert.ok(sub.outMeta.exif?.toString('latin1').includes('uap test'), 'EXIF kept with --chroma');

    const stripped = await run(`o${orientation}.jpg`, jpeg, { stripMetadata: true });
    assert.equal(stripped.outMeta.exif, undefined, 'no EXIF (and so no GPS)');
    assert.equal(stripped.outMeta.orientation, undefined);
    assert.deepEqual([stripped.outMeta.width, stripped.outMeta.height], [H, W]);
    assert.deepEqual(stripped.outMeta.icc, srcMeta.icc, 'the colour profile stays when stripping');
  });
}

test('greyscale JPEG stays 1-channel grey at its quality; --quality overrides', async () => {
  const grey = await sharp(pattern(1), { raw: { width: W, height: H, channels: 1 } }).toColourspace('b-w').jpeg({ quality: 70 }).toBuffer();
  const { src, out, outMeta } = await run('grey.jpg', grey);
  assert.deepEqual([outMeta.channels, outMeta.space, outMeta.width, outMeta.height], [1, 'b-w', W, H]);
  assert.equal(estimateJpegQuality(out), 70);
  assert.ok((await offBy7(src, out)) <= 4);
  const q = await run('grey.jpg', grey, { quality: 40, stripMetadata: true });
  assert.equal(estimateJpegQuality(q.out), 40);
});

test('PNG with alpha: alpha copied exactly, colour + 7 exactly; EXIF orientation applied', async () => {
  const png = await sharp(pattern(4), { raw: { width: W, height: H, channels: 4 } }).withExif(EXIF).withMetadata({ orientation: 6 }).png().toBuffer();
  const { src, out, outMeta } = await run('alpha.png', png);
  assert.deepEqual([outMeta.format, outMeta.channels, outMeta.hasAlpha, outMeta.width, outMeta.height, outMeta.orientation], ['png', 4, true, H, W, 1]);
  assert.equal(await offBy7(src, out), 0);
  const a = await decodePhoto(src, 'a');
  const b = await decodePhoto(out, 'b');
  for (let i = 3; i < a.pixels.length; i += 4) assert.equal(b.pixels[i], a.pixels[i], 'alpha unchanged');
});

test('16-bit PNG stays 16-bit: every sample + 7·257', async () => {
  const u16 = new Uint16Array(W * H * 3).map((_, i) => 1000 + ((i * 2399) % 60000));
  const png = await sharp(u16, { raw: { width: W, height: H, channels: 3 } }).toColourspace('rgb16').png().toBuffer();
  const { src, out, outMeta } = await run('deep.png', png);
  assert.deepEqual([outMeta.depth, outMeta.width, outMeta.height], ['ushort', W, H]);
  assert.equal(await offBy7(src, out), 0);
});

test('CMYK JPEG: a JPEG of the same size, in sRGB (its colours as shown), + 7', async () => {
  const cmyk = await sharp(pattern(3), { raw: { width: W, height: H, channels: 3 } }).withIccProfile('cmyk').jpeg({ quality: 90 }).toBuffer();
  const { src, out, srcMeta, outMeta } = await run('cmyk.jpg', cmyk);
  assert.equal(srcMeta.space, 'cmyk');
  assert.deepEqual([outMeta.format, outMeta.space, outMeta.channels, outMeta.width, outMeta.height], ['jpeg', 'srgb', 3, W, H]);
  assert.equal(outMeta.icc, undefined, 'the CMYK profile is not attached to sRGB pixels');
  assert.ok((await offBy7(src, out)) <= 4, 'the copy = the sRGB view of the original + 7, within JPEG error');
});

test('WebP: lossless RGBA stays lossless and exact; metadata and orientation handled', async () => {
  const webp = await sharp(pattern(4), { raw: { width: W, height: H, channels: 4 } }).withIccProfile('p3').withExif(EXIF).withMetadata({ orientation: 8 }).webp({ lossless: true }).toBuffer();
  const { src, out, srcMeta, outMeta } = await run('pic.webp', webp);
  assert.deepEqual([outMeta.format, outMeta.width, outMeta.height, outMeta.orientation, outMeta.hasAlpha], ['webp', H, W, 1, true]);
  assert.deepEqual(outMeta.icc, srcMeta.icc);
  assert.ok(outMeta.exif?.toString('latin1').includes('uap test'));
  assert.equal(await offBy7(src, out), 0);
});

test('JPEG quality is read back from the quantisation tables', async () => {
  for (const q of [30, 50, 75, 92, 100]) {
    const jpeg = await sharp(pattern(3), { raw: { width: W, height: H, channels: 3 } }).jpeg({ quality: q }).toBuffer();
    assert.equal(estimateJpegQuality(jpeg), q);
  }
  assert.equal(estimateJpegQuality(new Uint8Array([1, 2, 3])), undefined);
});

test('fit crop: only the region the model sees changes', async () => {
  const photo = await decodePhoto(await sharp(pattern(3, 200, 100), { raw: { width: 200, height: 100, channels: 3 } }).png().toBuffer(), 'wide');
  const px = perturbPhoto(photo, V7.v, V7.vShape, { fit: 'crop' });
  // 200×100 → shorter side 18 (16/0.875), width 36; crop 16 of 36 columns centred: photo columns ≈ 56..144, rows ≈ 6..94.
  const changed = (x: number, y: number) => px[(y * 200 + x) * 3] !== photo.pixels[(y * 200 + x) * 3];
  assert.ok(!changed(10, 50) && !changed(190, 50) && !changed(100, 1), 'outside the crop: untouched');
  assert.ok(changed(100, 50) && changed(60, 50) && changed(140, 50), 'inside: + v');
  const full = perturbPhoto(photo, V7.v, V7.vShape, { fit: 'photo' });
  assert.ok(full[(50 * 200 + 10) * 3] !== photo.pixels[(50 * 200 + 10) * 3], 'fit photo covers the whole photo');
});

test('planApply refuses --out = an input folder and two photos of one name, before any work', async () => {
  const a = path.join(dir, 'plan', 'a', 'x.png');
  const b = path.join(dir, 'plan', 'b', 'x.png');
  await writeFileAtomic(a, await sharp(pattern(3), { raw: { width: W, height: H, channels: 3 } }).png().toBuffer());
  await writeFileAtomic(b, await readFile(a));
  await assert.rejects(planApply([a], path.dirname(a)), (e: UapError) => e.code === 'BAD_ARGUMENT' && /folder of the input/.test(e.message));
  await assert.rejects(planApply([a], path.join(dir, 'plan', 'a', '.', '')), /folder of the input/);
  await assert.rejects(planApply([a, b], path.join(dir, 'plan', 'out')), /two photos are named x\.png/);
  await assert.rejects(planApply([a], path.join(a, 'sub')), (e: UapError) => /cannot write the copies there/.test(e.message), 'an --out under a file');
});

test('a non-image among the photos is listed; the others are done', async () => {
  const good = path.join(dir, 'mix', 'good.png');
  const bad = path.join(dir, 'mix', 'notes.jpg');
  await writeFileAtomic(good, await sharp(pattern(3), { raw: { width: W, height: H, channels: 3 } }).png().toBuffer());
  await writeFile(bad, 'not an image');
  const outDir = path.join(dir, 'mix-out');
  const r = await applyToFiles(await planApply([bad, good], outDir), { ...V7, outDir });
  assert.deepEqual(r.map((x) => x.status), ['failed', 'written']);
  assert.match(r[0]!.error!, /notes\.jpg: not a readable image/);
  assert.equal(r[0]!.error!.split('\n').length, 1);
  assert.deepEqual(await readdir(outDir), ['good.png']);
});

test('a full disk stops the run with one line and nothing half-written; a rerun skips what is done', async () => {
  const files: string[] = [];
  for (const n of ['p1', 'p2', 'p3']) {
    const f = path.join(dir, 'disk', `${n}.png`);
    await writeFileAtomic(f, await sharp(pattern(3), { raw: { width: W, height: H, channels: 3 } }).png().toBuffer());
    files.push(f);
  }
  const outDir = path.join(dir, 'disk-out');
  const plan = await planApply(files, outDir);
  // A temp file of a killed earlier run, and a disk that fills up on the second copy (after a partial temp write).
  await writeFile(path.join(outDir, '.p3.png.999.deadbeef.tmp'), 'partial');
  let writes = 0;
  const write = async (file: string, bytes: Uint8Array) => {
    if (++writes === 2) {
      const e = Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
      throw e;
    }
    await writeFileAtomic(file, bytes);
  };
  await assert.rejects(applyToFiles(plan, { ...V7, outDir, write }), (e: UapError) => e.code === 'BAD_ARGUMENT' && /p2\.png: cannot write the copy \(no space left on the device\)/.test(e.message) && !e.message.includes('\n'));
  assert.deepEqual(await readdir(outDir), ['p1.png'], 'one complete copy, no temp files');
  const again = await applyToFiles(plan, { ...V7, outDir });
  assert.deepEqual(again.map((x) => x.status), ['skipped', 'written', 'written']);
  assert.deepEqual((await readdir(outDir)).sort(), ['p1.png', 'p2.png', 'p3.png']);
});

test('the output folder is locked: a second run is refused, a dead run’s lock is taken over', async () => {
  const outDir = path.join(dir, 'locked');
  await planApply([path.join(dir, 'in', 'o6.jpg')], outDir);
  const release = await lockOutDir(outDir);
  await assert.rejects(lockOutDir(outDir), (e: UapError) => new RegExp(`another uap apply \\(process ${process.pid}\\)`).test(e.message));
  await release();
  await writeFile(path.join(outDir, APPLY_LOCK), '999999999'); // no such process
  const again = await lockOutDir(outDir);
  assert.equal((await readFile(path.join(outDir, APPLY_LOCK), 'utf8')).trim(), String(process.pid));
  await again();
  assert.deepEqual(await readdir(outDir), []);
});
