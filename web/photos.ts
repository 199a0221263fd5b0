import { resizeCropPixels, UapError, type PixelImage } from '../src/index.js';

/**
 * Photos in the page: the browser decodes the file at its full size (EXIF orientation applied), and the library's
 * resizeCropPixels — the code `uap classify` runs after sharp's decode — makes the model's input.
 */

/** Refused before decoding (bytes) and after reading the header (pixels). */
export const MAX_PHOTO_BYTES = 64 * 2 ** 20;
export const MAX_PHOTO_PIXELS = 50_000_000;

export async function decodePhoto(file: Blob, name: string): Promise<ImageData> {
  if (file.size === 0) throw new UapError('BAD_INPUT', 'empty file, not an image', name);
  if (file.size > MAX_PHOTO_BYTES) throw new UapError('BAD_INPUT', `file of ${(file.size / 2 ** 20).toFixed(0)} MiB is too large for a photo`, name);
  let bitmap: ImageBitmap;
  try {
    bitmap = await createImageBitmap(file);
  } catch {
    throw new UapError('BAD_INPUT', 'not an image this browser can decode (JPEG, PNG or WebP expected)', name);
  }
  try {
    if (bitmap.width * bitmap.height > MAX_PHOTO_PIXELS) {
      throw new UapError('BAD_INPUT', `image is ${bitmap.width}×${bitmap.height}, over the limit of ${MAX_PHOTO_PIXELS / 1e6} megapixels`, name);
    }
    return frameToImageData(bitmap, bitmap.width, bitmap.height);
  } finally {
    bitmap.close();
  }
}

/** Pixels of anything drawable (a bitmap, a video frame, a canvas) at w × h. */
export function frameToImageData(source: CanvasImageSource, w: number, h: number): ImageData {
  const canvas = new OffscreenCanvas(w, h);
  const ctx = canvas.getContext('2d', { willReadFrequently: true })!;
  ctx.drawImage(source, 0, 0, w, h);
  return ctx.getImageData(0, 0, w, h);
}

export function asPixelImage(im: ImageData): PixelImage {
  return { data: im.data, width: im.width, height: im.height, channels: 4 };
}

/** The model's input for a decoded photo: float32 HWC pixels 0..255 (cropFraction 1 for the square drawing pad). */
export function modelInput(im: ImageData, shape: readonly [number, number, number], cropFraction?: number): Float32Array {
  return Float32Array.from(resizeCropPixels(asPixelImage(im), shape, cropFraction));
}

/** The wnid a file is named after (n01440764_tench.jpg), as `uap` reads labels. */
export function wnidOf(name: string): string | undefined {
  return /^(n\d{8})(?![0-9])/.exec(name.split('/').pop() ?? name)?.[1];
}
