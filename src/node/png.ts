import sharp from 'sharp';
import type { Image8 } from '../io/perturbation-image.js';
import { writeFileAtomic } from './atomic-files.js';

/** PNG bytes of an 8-bit image (sharp/libpng, deterministic for the same pixels). */
export async function encodePng(image: Image8): Promise<Uint8Array> {
  const { data, width, height, channels } = image;
  if (data.length !== width * height * channels) {
    throw new RangeError(`${data.length} bytes do not match ${width}×${height}×${channels}`);
  }
  const buf = await sharp(Buffer.from(data.buffer, data.byteOffset, data.byteLength), {
    raw: { width, height, channels },
  })
    .png({ compressionLevel: 9, adaptiveFiltering: true })
    .toBuffer();
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}

/** Writes an image as a PNG file, atomically. */
export async function writePng(file: string, image: Image8): Promise<void> {
  await writeFileAtomic(file, await encodePng(image));
}
