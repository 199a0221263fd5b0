import sharp from 'sharp';
import path from 'node:path';
import { repoRoot } from '../model-files.js';

/**
 * Minimal photo decoding for the model tests and scripts/model-accuracy.ts (the general image loader
 * lives in src/node/images.ts): resize the shorter side to size/0.875 (bilinear), centre-crop size×size,
 * RGB float32 pixels 0..255, HWC.
 */
export async function decodeForTests(file: string, size: number, resize: 'sharp' | 'tf' = 'sharp'): Promise<Float32Array> {
  if (resize === 'tf') return decodeWithTf(file, size);
  const img = sharp(file).removeAlpha().toColourspace('srgb');
  const meta = await sharp(file).metadata();
  const w = meta.width!;
  const h = meta.height!;
  const short = Math.round(size / 0.875);
  const scale = short / Math.min(w, h);
  const rw = Math.max(size, Math.round(w * scale));
  const rh = Math.max(size, Math.round(h * scale));
  const { data } = await img
    .resize(rw, rh, { kernel: 'linear', fit: 'fill' })
    .extract({ left: Math.floor((rw - size) / 2), top: Math.floor((rh - size) / 2), width: size, height: size })
    .raw()
    .toBuffer({ resolveWithObject: true });
  return Float32Array.from(data);
}

/** The same geometry with tf.image.resizeBilinear (no antialiasing) on the full-size decoded photo. */
async function decodeWithTf(file: string, size: number): Promise<Float32Array> {
  const tf = await import('@tensorflow/tfjs');
  const { data, info } = await sharp(file).removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
  const w = info.width;
  const h = info.height;
  const short = Math.round(size / 0.875);
  const scale = short / Math.min(w, h);
  const rw = Math.max(size, Math.round(w * scale));
  const rh = Math.max(size, Math.round(h * scale));
  return tf.tidy(() => {
    const img = tf.tensor3d(Float32Array.from(data), [h, w, 3]);
    const r = tf.image.resizeBilinear(img, [rh, rw]);
    const c = tf.slice(r, [Math.floor((rh - size) / 2), Math.floor((rw - size) / 2), 0], [size, size, 3]);
    return c.dataSync() as Float32Array;
  });
}

/** Several photos as one NHWC batch buffer. */
export async function decodeBatchForTests(files: string[], size: number, resize: 'sharp' | 'tf' = 'sharp'): Promise<Float32Array> {
  const out = new Float32Array(files.length * size * size * 3);
  const parts = await Promise.all(files.map((f) => decodeForTests(f, size, resize)));
  parts.forEach((p, i) => out.set(p, i * size * size * 3));
  return out;
}

/** ../shared beside the repository (env UAP_SHARED overrides); found from the package root, not this file's depth. */
export function sharedDir(): string {
  return process.env.UAP_SHARED ?? path.resolve(repoRoot, '../shared');
}

/** Photos of imagenet-sample that the tests classify, with their standard class index. */
export const TEST_PHOTOS: readonly { file: string; wnid: string }[] = [
  'n01440764_tench.jpg',
  'n01855672_goose.jpg',
  'n02099601_golden_retriever.jpg',
  'n07753592_banana.jpg',
  'n07873807_pizza.jpg',
  'n11939491_daisy.jpg',
].map((f) => ({ file: `images/${f}`, wnid: f.split('_')[0]! }));

/** The test photos as one [N, size, size, 3] batch of pixels. */
export async function testPhotoBatch(size: number): Promise<Float32Array> {
  return decodeBatchForTests(TEST_PHOTOS.map((p) => path.join(sharedDir(), 'imagenet-sample', p.file)), size);
}
