import * as tf from '@tensorflow/tfjs';
import { readFile } from 'node:fs/promises';
import sharp from 'sharp';
import { ssim } from 'ssim.js';
import type { AppliedPhotoRecord } from '../io/apply-result.js';
import type { Classifier } from '../models/classifier.js';
import type { ContactThumbs } from '../report/contact-sheet.js';
import { predictBatch } from '../models/predict.js';
import type { AppliedFile } from './apply-files.js';
import { decodeImageBytes } from './images.js';

/**
 * `uap apply --check`: each copy is read back from disk as any viewer or classifier would read it, and compared with
 * its original.
 *
 * - Top-1 per model, original vs copy, both decoded by the same path as `uap classify` (sharp, the model's resize and
 *   centre crop): "changed" is the paper's fooling criterion on the photo as it was shared.
 * - PSNR (over R, G, B, 8 bits, full size, upright, sRGB) and SSIM (ssim.js with its defaults: Wang et al.'s
 *   automatic downsampling, luminance) of the copy against the original.
 * - Thumbnails for the contact sheet: original, copy, and the difference amplified `amplify` times around grey 128.
 */

/** A photo's record with the check's results (top-1 per model, PSNR, SSIM) and its contact-sheet thumbnails. */
export interface CheckedPhoto extends AppliedPhotoRecord {
  thumbs?: ContactThumbs;
}

interface Rgba {
  data: Uint8ClampedArray;
  width: number;
  height: number;
}

async function rgbaOf(bytes: Uint8Array): Promise<Rgba> {
  const { data, info } = await sharp(bytes).autoOrient().toColourspace('srgb').ensureAlpha(1).raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
  return { data: new Uint8ClampedArray(data.buffer, data.byteOffset, data.byteLength), width: info.width, height: info.height };
}

/** PSNR over the colour channels of two RGBA images of one size (dB; Infinity when identical). */
export function psnrRgba(a: Rgba, b: Rgba): number {
  let se = 0;
  for (let i = 0; i < a.data.length; i++) {
    if ((i & 3) === 3) continue;
    const d = a.data[i]! - b.data[i]!;
    se += d * d;
  }
  const mse = se / ((a.data.length / 4) * 3);
  return mse === 0 ? Infinity : 10 * Math.log10((255 * 255) / mse);
}

async function thumb(img: Rgba, height: number): Promise<string> {
  const buf = await sharp(img.data, { raw: { width: img.width, height: img.height, channels: 4 } })
    .resize({ height: Math.min(height, img.height), kernel: 'linear' })
    .removeAlpha()
    .jpeg({ quality: 85 })
    .toBuffer();
  return `data:image/jpeg;base64,${buf.toString('base64')}`;
}

/** Contact-sheet thumbnails of an original and its copy (decoded RGBA of one size): original, copy, amplified difference. */
async function thumbsOf(a: Rgba, b: Rgba, height: number, amplify: number): Promise<ContactThumbs> {
  const diff = new Uint8ClampedArray(a.data.length);
  for (let i = 0; i < diff.length; i++) diff[i] = (i & 3) === 3 ? 255 : 128 + amplify * (b.data[i]! - a.data[i]!);
  return { original: await thumb(a, height), perturbed: await thumb(b, height), difference: await thumb({ ...a, data: diff }, height) };
}

/** The contact-sheet thumbnails of two image files' bytes (undefined when their sizes differ). */
export async function contactThumbs(original: Uint8Array, copy: Uint8Array, height = 160, amplify = 10): Promise<ContactThumbs | undefined> {
  const [a, b] = await Promise.all([rgbaOf(original), rgbaOf(copy)]);
  return a.width === b.width && a.height === b.height ? thumbsOf(a, b, height, amplify) : undefined;
}

/** The top-1 class index of each model for an image file (decoded as the model's input). */
async function top1(models: readonly Classifier[], file: string): Promise<number[]> {
  const out: number[] = [];
  for (const m of models) {
    const px = await decodeImageBytes(file, { shape: m.inputShape, cache: false });
    const x = tf.tensor4d(Float32Array.from(px), [1, ...m.inputShape]);
    out.push((await predictBatch(m, x, undefined, true))[0]!);
  }
  return out;
}

/** Options of checkApplied. */
export interface CheckOptions {
  /** Thumbnail height for the contact sheet (0: none; default 160). */
  thumbHeight?: number;
  /** Gain of the difference image (default 10). */
  amplify?: number;
  /** Called after each photo is checked. */
  onPhoto?: (done: number, total: number) => void;
}

/** Checks every written or skipped copy against its original; failed photos pass through unchanged. */
export async function checkApplied(results: readonly AppliedFile[], models: readonly Classifier[], o: CheckOptions = {}): Promise<CheckedPhoto[]> {
  const thumbHeight = o.thumbHeight ?? 160;
  const amplify = o.amplify ?? 10;
  const out: CheckedPhoto[] = [];
  let done = 0;
  for (const r of results) {
    if (r.status === 'failed') {
      out.push({ ...r });
      o.onPhoto?.(++done, results.length);
      continue;
    }
    const [srcBytes, outBytes] = await Promise.all([readFile(r.input), readFile(r.output)]);
    const [a, b] = await Promise.all([rgbaOf(srcBytes), rgbaOf(outBytes)]);
    if (a.width !== b.width || a.height !== b.height) throw new Error(`${r.output}: the copy is ${b.width}×${b.height}, the original ${a.width}×${a.height}`);
    const psnr = psnrRgba(a, b);
    const s = ssim(a, b).mssim;
    const [before, after] = [await top1(models, r.input), await top1(models, r.output)];
    const checks = models.map((m, i) => ({
      model: m.id,
      before: { index: before[i]!, name: m.labels.names[before[i]!] ?? String(before[i]) },
      after: { index: after[i]!, name: m.labels.names[after[i]!] ?? String(after[i]) },
      changed: before[i] !== after[i],
    }));
    const thumbs = thumbHeight > 0 ? await thumbsOf(a, b, thumbHeight, amplify) : undefined;
    out.push({
      ...r,
      bytesIn: r.bytesIn ?? srcBytes.length,
      bytesOut: outBytes.length,
      width: r.width ?? a.width,
      height: r.height ?? a.height,
      psnr: Number.isFinite(psnr) ? psnr : null,
      ssim: s,
      checks,
      ...(thumbs ? { thumbs } : {}),
    });
    o.onPhoto?.(++done, results.length);
  }
  return out;
}
