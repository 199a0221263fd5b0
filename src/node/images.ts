import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, stat, unlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import sharp, { type Metadata } from 'sharp';
import { resizeCropBox, CROP_FRACTION } from '../data/resize-crop.js';
import { resizeCropPixels } from '../data/resample.js';
import { UapError } from '../errors.js';
import { readFileBounded } from './bounded-read.js';
import type { Labels } from '../models/labels.js';
import { mapLimit } from '../util/concurrency.js';

/**
 * Photo decoding for Node: JPEG / PNG / WebP (also GIF, TIFF, AVIF) with sharp, then the standard ImageNet geometry
 * (resize shorter side to round(size/0.875), centre crop; see data/resize-crop.ts), to raw pixels.
 *
 * Resampling: by default ('linear') sharp decodes the photo at full size and the library's own resizeCropPixels
 * (data/resample.ts: bilinear, the filter widened when shrinking, like PIL's BILINEAR) resizes and crops it — the
 * same code as the web page, so both agree; other kernels use sharp's resize (no JPEG shrink-on-load) — the shared models' accuracy was measured with bilinear resizing. EXIF orientation
 * is applied (the photo as a viewer shows it). Alpha is dropped; greyscale photos become grey RGB for C = 3 models,
 * colour photos are converted to luminance for C = 1 models.
 *
 * Decoded images are cached in memory (LRU, bounded) and on disk ($UAP_CACHE/decoded, default ~/.cache/uap/decoded),
 * keyed by (absolute path, mtime, size, target shape, crop fraction): a changed file is decoded again.
 */

/** Image file extensions a folder dataset picks up. */
export const IMAGE_EXTENSIONS = ['.jpg', '.jpeg', '.png', '.webp', '.gif', '.tif', '.tiff', '.avif'];
const FORMATS = new Set(['jpeg', 'png', 'webp', 'gif', 'tiff', 'heif']);

/** Default limit on width × height before decoding (a decompression bomb guard): 100 megapixels. */
export const DEFAULT_MAX_PIXELS = 100_000_000;

export function isImageFileName(file: string): boolean {
  return IMAGE_EXTENSIONS.includes(path.extname(file).toLowerCase());
}

/**
 * How decodeImage turns a photo into model input: output shape, centre-crop fraction, resampling kernel, pixel
 * limit and cache.
 */
export interface DecodeOptions {
  /** [H, W, C] of the output; C is 1 or 3. */
  shape: readonly [number, number, number];
  /** Default 0.875 (256 → 224). 1 = resize the shorter side to the output size, crop the rest. */
  cropFraction?: number;
  /** Refuse images with more pixels than this (default 100 M). */
  maxPixels?: number;
  /** The cache to use; false disables caching. Default: the process-wide cache (defaultImageCache()). */
  cache?: ImageCache | false;
  /** Resampling kernel of the resize (default 'linear', i.e. bilinear). */
  kernel?: ResizeKernel;
}

/** sharp's resampling kernels for the resize ('linear' is bilinear). */
export type ResizeKernel = 'linear' | 'cubic' | 'lanczos3' | 'nearest';

function firstLine(e: unknown): string {
  const m = e instanceof Error ? e.message : String(e);
  return m.split('\n')[0]!.trim();
}

function checkShape(shape: readonly number[]): void {
  const [h, w, c] = shape;
  if (shape.length !== 3 || !Number.isInteger(h) || !Number.isInteger(w) || h! <= 0 || w! <= 0 || (c !== 1 && c !== 3)) {
    throw new UapError('BAD_ARGUMENT', `cannot decode photos to shape [${shape.join(', ')}] (H×W×1 or H×W×3)`);
  }
}

/** Files larger than this are refused before reading (256 MiB). */
export const MAX_FILE_BYTES = 256 * 1024 * 1024;

/**
 * Decodes one file to uint8 HWC pixels (no cache). The file is read into memory first and sharp decodes that
 * buffer: libvips' own cache, keyed by file name, could otherwise serve a stale image after the file changes.
 */
async function decodeUncached(
  file: string,
  shape: readonly [number, number, number],
  cropFraction: number,
  maxPixels: number,
  kernel: ResizeKernel,
): Promise<Uint8Array> {
  const [h, w, c] = shape;
  const input = await readFile(file);
  let meta: Metadata;
  try {
    // Header only: limitInputPixels is checked by us below, with the dimensions in the message.
    meta = await sharp(input, { limitInputPixels: false }).metadata();
  } catch (e) {
    throw new UapError('BAD_INPUT', `not a readable image (JPEG, PNG or WebP expected): ${firstLine(e)}`, file);
  }
  if (!meta.format || !FORMATS.has(meta.format)) {
    throw new UapError('BAD_INPUT', `unsupported image format '${meta.format}' (JPEG, PNG or WebP expected)`, file);
  }
  const width = meta.autoOrient?.width ?? meta.width;
  const height = meta.autoOrient?.height ?? meta.height;
  if (!width || !height) throw new UapError('BAD_INPUT', 'the image header gives no size', file);
  if (width * height > maxPixels) {
    throw new UapError(
      'BAD_INPUT',
      `image is ${width}×${height} = ${((width * height) / 1e6).toFixed(0)} megapixels, over the limit of ${(maxPixels / 1e6).toFixed(0)} (a decompression bomb?)`,
      file,
    );
  }
  if (kernel === 'linear') {
    // The default: sharp decodes at full size, the library's resize-and-crop (data/resample.ts) does the rest —
    // the same code the web page runs on the browser's decoded pixels, so both give the model the same input.
    let full: { data: Buffer; info: { width: number; height: number; channels: number } };
    try {
      full = await sharp(input, { limitInputPixels: maxPixels, failOn: 'warning' })
        .autoOrient()
        .removeAlpha()
        .toColourspace('srgb')
        .raw({ depth: 'uchar' })
        .toBuffer({ resolveWithObject: true });
    } catch (e) {
      throw new UapError('BAD_INPUT', `corrupt or unreadable image: ${firstLine(e)}`, file);
    }
    return resizeCropPixels({ data: full.data, width: full.info.width, height: full.info.height, channels: full.info.channels }, shape, cropFraction);
  }
  const box = resizeCropBox(width, height, h, w, cropFraction);
  try {
    // failOn 'warning': a truncated or damaged JPEG is refused rather than decoded with grey filler.
    let p = sharp(input, { limitInputPixels: maxPixels, failOn: 'warning' })
      .autoOrient()
      .resize(box.resizeWidth, box.resizeHeight, { fit: 'fill', kernel, fastShrinkOnLoad: false })
      .extract({ left: box.left, top: box.top, width: box.width, height: box.height })
      .removeAlpha();
    p = c === 1 ? p.greyscale() : p.toColourspace('srgb');
    const { data, info } = await p.raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
    if (info.width !== w || info.height !== h || info.channels !== c || data.length !== h * w * c) {
      throw new Error(`decoded to ${info.width}×${info.height}×${info.channels}, expected ${w}×${h}×${c}`);
    }
    return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  } catch (e) {
    throw new UapError('BAD_INPUT', `corrupt or unreadable image: ${firstLine(e)}`, file);
  }
}

/** Decodes one photo to float32 HWC pixels 0..255 of `opts.shape`. Throws UapError naming the file. */
export async function decodeImage(file: string, opts: DecodeOptions): Promise<Float32Array> {
  return Float32Array.from(await decodeImageBytes(file, opts));
}

/** As decodeImage, but uint8 (the values are integers 0..255 either way). Do not modify the result (it may be cached). */
export async function decodeImageBytes(file: string, opts: DecodeOptions): Promise<Uint8Array> {
  checkShape(opts.shape);
  const abs = path.resolve(file);
  let info;
  try {
    info = await stat(abs);
  } catch {
    throw new UapError('NOT_FOUND', 'no such image file', file);
  }
  if (!info.isFile()) throw new UapError('BAD_INPUT', 'not a file', file);
  if (info.size > MAX_FILE_BYTES) {
    throw new UapError('BAD_INPUT', `file of ${(info.size / 2 ** 20).toFixed(0)} MiB is too large for a photo (limit ${MAX_FILE_BYTES / 2 ** 20} MiB)`, file);
  }
  if (info.size === 0) throw new UapError('BAD_INPUT', 'empty file, not an image', file);
  const cropFraction = opts.cropFraction ?? CROP_FRACTION;
  const maxPixels = opts.maxPixels ?? DEFAULT_MAX_PIXELS;
  const cache = opts.cache === undefined ? defaultImageCache() : opts.cache;
  const kernel = opts.kernel ?? 'linear';
  const key = [abs, info.mtimeMs, info.size, opts.shape.join('x'), cropFraction, kernel, 'v2'].join('\u0000');
  if (cache) {
    const hit = await cache.get(key, opts.shape);
    if (hit) return hit;
  }
  const pixels = await decodeUncached(file, opts.shape, cropFraction, maxPixels, kernel);
  if (cache) await cache.set(key, opts.shape, pixels);
  return pixels;
}

/**
 * Decodes many photos into one n × H × W × C float32 array, `concurrency` at a time (default: 2 × cores).
 * onProgress(done, total) after each image. Fails on the first bad file (UapError naming it).
 */
export async function decodeImages(
  files: readonly string[],
  opts: DecodeOptions & { concurrency?: number; onProgress?: (done: number, total: number) => void },
): Promise<Float32Array> {
  checkShape(opts.shape);
  const size = opts.shape[0] * opts.shape[1] * opts.shape[2];
  const out = new Float32Array(files.length * size);
  let done = 0;
  const concurrency = opts.concurrency ?? Math.max(2, 2 * (os.availableParallelism?.() ?? os.cpus().length));
  await mapLimit(files, concurrency, async (file, i) => {
    const px = await decodeImageBytes(file, opts);
    out.set(px, i * size);
    done++;
    opts.onProgress?.(done, files.length);
  });
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Labels

/** The wnid a file is named after: a name starting with n + 8 digits (n01440764_tench.jpg), or its folder's name. */
export function wnidOfFile(file: string): string | undefined {
  const base = path.basename(file);
  const m = /^(n\d{8})(?![0-9])/.exec(base);
  if (m) return m[1];
  const dir = path.basename(path.dirname(file));
  return /^n\d{8}$/.test(dir) ? dir : undefined;
}

/** Class index from the file name's wnid in `labels`; −1 when there is none or it is not in the label space. */
export function labelOfFile(file: string, labels: Labels): number {
  const wnid = wnidOfFile(file);
  return wnid === undefined ? -1 : labels.ids.indexOf(wnid);
}

/**
 * A label given as text: a class index ("0".."999"), an id (wnid) or a name of `labels`.
 * Throws BAD_INPUT naming `where` when it matches nothing.
 */
export function parseLabel(text: string, labels: Labels, where: string): number {
  if (/^\d+$/.test(text)) {
    const i = Number(text);
    if (i < labels.ids.length) return i;
  } else {
    const byId = labels.ids.indexOf(text);
    if (byId >= 0) return byId;
    const lower = text.toLowerCase();
    const byName = labels.names.findIndex((n) => n.toLowerCase() === lower);
    if (byName >= 0) return byName;
  }
  throw new UapError('BAD_INPUT', `unknown class '${text}' (expected an index below ${labels.ids.length}, a wnid or a class name)`, where);
}

/**
 * A labels file: one "file label" pair a line (whitespace or comma separated; # comments), label = class index,
 * wnid or class name. Returns a map from the file's base name to the class index.
 */
export async function readLabelsFile(file: string, labels: Labels): Promise<Map<string, number>> {
  const text = new TextDecoder().decode(await readFileBounded(file, { maxBytes: 64 * 1024 * 1024, what: 'labels file' }));
  const map = new Map<string, number>();
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const m = /^(.*\S)[\s,]+(\S+)$/.exec(line);
    if (!m) throw new UapError('BAD_INPUT', `line ${i + 1}: expected "file label", got ${JSON.stringify(line)}`, file);
    map.set(path.basename(m[1]!), parseLabel(m[2]!, labels, `${file} line ${i + 1}`));
  });
  return map;
}

// ---------------------------------------------------------------------------------------------------------------
// Cache

/** The on-disk cache folder: $UAP_CACHE/decoded, default ~/.cache/uap/decoded. */
export function decodedCacheDir(): string {
  return path.join(process.env.UAP_CACHE ?? path.join(os.homedir(), '.cache', 'uap'), 'decoded');
}

const DISK_MAGIC = 'UAPDEC1\n';

/**
 * Decoded pixels (uint8 HWC) by key, in memory (least recently used dropped beyond `maxBytes`) and on disk
 * (one file per key, named by its SHA-256; the file stores the full key and is checked on read, so a collision or a
 * stale entry is never returned). Disk errors only disable the disk layer (e.g. a read-only home).
 */
export class ImageCache {
  private readonly memory = new Map<string, Uint8Array>();
  private bytes = 0;
  hits = 0;
  diskHits = 0;
  misses = 0;

  constructor(readonly opts: { dir?: string | false; maxBytes?: number } = {}) {}

  private get dir(): string | false {
    return this.opts.dir === undefined ? decodedCacheDir() : this.opts.dir;
  }

  private fileFor(dir: string, key: string): string {
    const h = createHash('sha256').update(key).digest('hex');
    return path.join(dir, h.slice(0, 2), `${h.slice(2, 40)}.px`);
  }

  async get(key: string, shape: readonly number[]): Promise<Uint8Array | undefined> {
    const size = shape[0]! * shape[1]! * shape[2]!;
    const m = this.memory.get(key);
    if (m) {
      this.memory.delete(key);
      this.memory.set(key, m);
      this.hits++;
      return m;
    }
    const dir = this.dir;
    if (dir) {
      try {
        const buf = await readFile(this.fileFor(dir, key));
        const header = DISK_MAGIC + key + '\n';
        const headerBytes = Buffer.byteLength(header);
        if (buf.length === headerBytes + size && buf.subarray(0, headerBytes).toString('utf8') === header) {
          const px = new Uint8Array(buf.buffer, buf.byteOffset + headerBytes, size);
          this.remember(key, px);
          this.diskHits++;
          return px;
        }
      } catch {
        // not cached (or unreadable): decode
      }
    }
    this.misses++;
    return undefined;
  }

  async set(key: string, _shape: readonly number[], pixels: Uint8Array): Promise<void> {
    this.remember(key, pixels);
    const dir = this.dir;
    if (!dir) return;
    const file = this.fileFor(dir, key);
    const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    try {
      await mkdir(path.dirname(file), { recursive: true });
      await writeFile(tmp, Buffer.concat([Buffer.from(DISK_MAGIC + key + '\n', 'utf8'), pixels]));
      await rename(tmp, file);
    } catch {
      await unlink(tmp).catch(() => {});
    }
  }

  private remember(key: string, px: Uint8Array): void {
    const max = this.opts.maxBytes ?? 512 * 1024 * 1024;
    if (px.length > max) return;
    const old = this.memory.get(key);
    if (old) this.bytes -= old.length;
    this.memory.delete(key);
    this.memory.set(key, px);
    this.bytes += px.length;
    for (const [k, v] of this.memory) {
      if (this.bytes <= max) break;
      this.memory.delete(k);
      this.bytes -= v.length;
    }
  }

  /** Forgets the in-memory entries (the disk stays). */
  clearMemory(): void {
    this.memory.clear();
    this.bytes = 0;
  }
}

let defaultCache: ImageCache | undefined;

/** The process-wide cache (memory up to 512 MiB + disk under decodedCacheDir(), read when first used). */
export function defaultImageCache(): ImageCache {
  defaultCache ??= new ImageCache();
  return defaultCache;
}
