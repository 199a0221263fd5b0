import sharp, { type Metadata } from 'sharp';
import { UapError } from '../errors.js';
import { estimateJpegQuality } from './jpeg-quality.js';
import { transplantMetadata } from './photo-metadata.js';

/**
 * A photo at its own size and depth, upright, for `uap apply`, and its re-encoding in the same format.
 *
 * Decoding (sharp): EXIF orientation is applied to the pixels (the copy then says orientation 1, see
 * photo-metadata.ts), the colour values are the file's own (no ICC transform: the same profile is written back), alpha
 * and 16 bits per sample are kept. CMYK JPEGs are the exception: they are converted to sRGB (through their embedded
 * profile when they have one) and written as sRGB JPEGs — a colour-managed round trip back to CMYK moved colours by
 * up to ~17 levels here (gamut mapping, black generation), more than the perturbation itself.
 * Palette PNGs are written as truecolour (a palette would quantise the perturbation away).
 *
 * Quality: a JPEG is re-encoded at its estimated quality (jpeg-quality.ts), its chroma subsampling and its
 * progressive flag; a lossless WebP stays lossless; a lossy WebP has no readable quality setting, so it is written at
 * {@link WEBP_DEFAULT_QUALITY}. `quality` overrides both.
 */

/** The formats uap apply reads and writes. */
export type PhotoFormat = 'jpeg' | 'png' | 'webp';
export const PHOTO_FORMATS: readonly PhotoFormat[] = ['jpeg', 'png', 'webp'];
/** Quality of a lossy WebP copy without --quality (the source's setting is not stored in the file). */
export const WEBP_DEFAULT_QUALITY = 90;

/** A decoded photo: its bytes, upright pixels at full size and depth, and what its copy must keep. */
export interface Photo {
  /** The file's bytes. */
  readonly source: Uint8Array;
  readonly format: PhotoFormat;
  /** Upright size (after the EXIF orientation). */
  readonly width: number;
  readonly height: number;
  /** Interleaved samples: 1 grey, 2 grey + alpha, 3 RGB, 4 RGBA. */
  readonly channels: 1 | 2 | 3 | 4;
  readonly depth: 8 | 16;
  readonly pixels: Uint8Array | Uint16Array;
  readonly cmyk: boolean;
  /** Estimated JPEG quality; undefined for PNG and WebP. */
  readonly quality?: number;
  readonly lossless: boolean;
  readonly chroma444: boolean;
  readonly progressive: boolean;
  readonly icc?: Uint8Array;
}

function firstLine(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).split('\n')[0]!.trim();
}

/**
 * Decodes a photo file's bytes (JPEG, PNG, WebP) upright at full size; `file` names it in errors (BAD_INPUT: not
 * an image, unsupported, animated, over `maxPixels`, corrupt).
 */
export async function decodePhoto(source: Uint8Array, file: string, maxPixels = 100_000_000): Promise<Photo> {
  let meta: Metadata;
  try {
    meta = await sharp(source, { limitInputPixels: false }).metadata();
  } catch (e) {
    throw new UapError('BAD_INPUT', `not a readable image (JPEG, PNG or WebP expected): ${firstLine(e)}`, file);
  }
  const format = meta.format as string;
  if (!PHOTO_FORMATS.includes(format as PhotoFormat)) throw new UapError('BAD_INPUT', `format '${format}' is not supported by uap apply (JPEG, PNG or WebP)`, file);
  if ((meta.pages ?? 1) > 1) throw new UapError('BAD_INPUT', `an animated ${format} (${meta.pages} frames) is not supported`, file);
  if (meta.width * meta.height > maxPixels) throw new UapError('BAD_INPUT', `image is ${meta.width}×${meta.height}, over the limit of ${maxPixels / 1e6} megapixels`, file);
  const cmyk = meta.space === 'cmyk';
  const depth = meta.depth === 'ushort' ? 16 : 8;
  try {
    let p = sharp(source, { failOn: 'warning', limitInputPixels: maxPixels }).autoOrient();
    const grey = !cmyk && meta.channels <= 2;
    // The file's own values: no ICC transform, grey stays grey, 16 bits stay 16 (sharp needs the 16-bit space named).
    if (cmyk) p = p.toColourspace('srgb');
    else {
      p = p.keepIccProfile();
      if (grey || depth === 16) p = p.toColourspace(grey ? (depth === 16 ? 'grey16' : 'b-w') : 'rgb16');
    }
    const { data, info } = await p.raw({ depth: depth === 16 ? 'ushort' : 'uchar' }).toBuffer({ resolveWithObject: true });
    const pixels = depth === 16 ? new Uint16Array(data.buffer, data.byteOffset, data.byteLength / 2) : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    const bytes = Uint8Array.from(source);
    return {
      source: bytes,
      format: format as PhotoFormat,
      width: info.width,
      height: info.height,
      channels: info.channels as 1 | 2 | 3 | 4,
      depth,
      pixels,
      cmyk,
      quality: format === 'jpeg' ? estimateJpegQuality(bytes) : undefined,
      lossless: format === 'png' || (format === 'webp' && webpIsLossless(bytes)),
      chroma444: meta.chromaSubsampling?.startsWith('4:4:4') ?? false,
      progressive: meta.isProgressive,
      icc: meta.icc ? Uint8Array.from(meta.icc) : undefined,
    };
  } catch (e) {
    throw new UapError('BAD_INPUT', `corrupt or unreadable image: ${firstLine(e)}`, file);
  }
}

/** A WebP whose image chunk is VP8L (lossless), not VP8. */
function webpIsLossless(b: Uint8Array): boolean {
  for (let p = 12; p + 8 <= b.length; ) {
    const fourcc = Buffer.from(b.buffer, b.byteOffset + p, 4).toString('latin1');
    if (fourcc === 'VP8L') return true;
    if (fourcc === 'VP8 ') return false;
    const len = new DataView(b.buffer, b.byteOffset + p + 4, 4).getUint32(0, true);
    p += 8 + len + (len & 1);
  }
  return false;
}

/** How encodePhoto writes a copy. */
export interface EncodeOptions {
  /** JPEG / lossy WebP quality 1..100 (default: the source's, see above). */
  quality?: number;
  /** Drop EXIF (incl. GPS), XMP, IPTC and text; the colour profile stays. */
  stripMetadata?: boolean;
}

/** The quality a copy of `photo` is written at (undefined: lossless). */
export function outputQuality(photo: Photo, quality?: number): number | undefined {
  if (photo.lossless) return undefined;
  return quality ?? photo.quality ?? (photo.format === 'webp' ? WEBP_DEFAULT_QUALITY : 90);
}

/** Encodes `pixels` (same layout as photo.pixels) in photo's format, with photo's metadata. */
export async function encodePhoto(photo: Photo, pixels: Uint8Array | Uint16Array, o: EncodeOptions = {}): Promise<Uint8Array> {
  const { width, height, channels, depth, format } = photo;
  // The typed array itself: sharp takes a Uint16Array as 16-bit samples (a Buffer would be read as bytes).
  let p = sharp(pixels, { raw: { width, height, channels } });
  if (depth === 16) p = p.toColourspace(channels <= 2 ? 'grey16' : 'rgb16');
  else if (channels <= 2) p = p.toColourspace('b-w');
  const quality = outputQuality(photo, o.quality);
  if (format === 'jpeg') p = p.jpeg({ quality, chromaSubsampling: photo.chroma444 ? '4:4:4' : '4:2:0', progressive: photo.progressive });
  else if (format === 'png') p = p.png({ compressionLevel: 9, adaptiveFiltering: true });
  else p = quality === undefined ? p.webp({ lossless: true }) : p.webp({ quality });
  const encoded = await p.toBuffer();
  return transplantMetadata(format, photo.source, encoded, { strip: o.stripMetadata ?? false, skipIcc: photo.cmyk }, { width, height, alpha: channels === 2 || channels === 4 });
}
