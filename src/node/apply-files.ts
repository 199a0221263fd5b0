import { access, constants, mkdir, open, readdir, readFile, realpath, stat, unlink } from 'node:fs/promises';
import path from 'node:path';
import { applyPerturbationToPhoto } from '../data/apply-perturbation.js';
import { CROP_FRACTION, resizeCropBox } from '../data/resize-crop.js';
import { UapError } from '../errors.js';
import { writeFileAtomic } from './atomic-files.js';
import { MAX_FILE_BYTES } from './images.js';
import { decodePhoto, encodePhoto, outputQuality, type Photo, type PhotoFormat } from './photo-codec.js';

/**
 * `uap apply` on files: a perturbed copy of every photo at its own size, in its own format, written atomically into
 * an output folder.
 *
 * - `fit: 'photo'` (default) puts v on the whole photo with data/apply-perturbation.ts (the web page's code): v
 *   magnified to the scale at which the model sees the photo, tiled beyond the centre crop, refined so that the
 *   model's own resize-and-crop of the copy gives back v. `fit: 'crop'` keeps only the region the model sees (the
 *   centre crop, at the model's scale); the rest of the photo is untouched.
 * - Grey photos get the luminance of v (0.299 R + 0.587 G + 0.114 B: what a model sees of a grey photo decoded as
 *   RGB is the grey value in all three channels); alpha is copied; 16-bit samples change by 257 × the 8-bit step.
 * - Safety: the plan is checked before any work (planApply): no output may be an input and --out may not be an
 *   input's folder; two inputs with the same name are refused. A copy that exists is skipped (its atomic rename
 *   means it is complete), so a rerun after an interrupt does only what is left; temporary files left by a killed
 *   run are removed. A photo that cannot be decoded is reported and the others are still done; a failure to write
 *   (full disk, read-only folder) stops the run with one error naming the file, and leaves nothing half-written.
 */

/** Where v goes: over the whole photo (`photo`) or only on the region the model sees (`crop`). */
export type Fit = 'photo' | 'crop';

/** What applyToFiles puts on the photos, and how it writes the copies. */
export interface ApplyFilesOptions {
  /** The perturbation, pixel units, HWC, at the model's input size. */
  v: Float32Array;
  vShape: readonly [number, number, number];
  outDir: string;
  fit?: Fit;
  /** JPEG / lossy WebP quality (default: the source's). */
  quality?: number;
  /**
   * JPEG chroma subsampling of the copies: 'source' (default) keeps the photo's; '4:2:0' halves the colour
   * resolution, which the models (and SSIM, on luminance) hardly see but the file size does: v's fine colour detail
   * in a photo saved at 4:4:4 is what makes its copy grow most (docs/results.md, the apply section).
   */
  chroma?: 'source' | '4:2:0' | '4:4:4';
  stripMetadata?: boolean;
  /** The model's crop fraction (default 0.875). */
  cropFraction?: number;
  /** Back-projection steps of applyPerturbationToPhoto (default its own, 4). */
  refine?: number;
  /** Largest change of a pixel value (default ‖v‖∞: the copy keeps v's bound). */
  limit?: number;
  /** Called after each photo. */
  onPhoto?: (r: AppliedFile, done: number, total: number) => void;
  /** Stops before the next photo. */
  signal?: AbortSignal;
  /** The atomic write (tests inject a failing one). */
  write?: (file: string, bytes: Uint8Array) => Promise<void>;
}

/** What happened to one photo: its copy written, already there (skipped) or not possible (failed, with why). */
export interface AppliedFile {
  input: string;
  output: string;
  status: 'written' | 'skipped' | 'failed';
  /** One line: why it failed. */
  error?: string;
  format?: PhotoFormat;
  width?: number;
  height?: number;
  channels?: number;
  depth?: number;
  /** Quality the copy was encoded at (undefined: lossless or skipped). */
  quality?: number;
  bytesIn?: number;
  bytesOut?: number;
}

/** The output folder (absolute) and where each photo's copy goes, from planApply. */
export interface ApplyPlan {
  outDir: string;
  items: { input: string; output: string }[];
}

async function real(p: string): Promise<string> {
  try {
    return await realpath(p);
  } catch {
    return path.resolve(p);
  }
}

/**
 * Where each copy goes, and every reason not to start, checked before any model or photo loads: the output folder is
 * created (or must be a writable folder), is no input's folder, and no two inputs share a name.
 */
export async function planApply(files: readonly string[], outDir: string): Promise<ApplyPlan> {
  if (files.length === 0) throw new UapError('BAD_ARGUMENT', 'no photos to apply the perturbation to');
  const out = path.resolve(outDir);
  try {
    await mkdir(out, { recursive: true });
    if (!(await stat(out)).isDirectory()) throw new Error('not a folder');
    await access(out, constants.W_OK | constants.R_OK | constants.X_OK);
  } catch (e) {
    const why = e instanceof Error && 'code' in e ? String((e as NodeJS.ErrnoException).code) : e instanceof Error ? e.message : String(e);
    throw new UapError('BAD_ARGUMENT', `cannot write the copies there (${why})`, outDir);
  }
  const outReal = await real(out);
  const byName = new Map<string, string>();
  const items: ApplyPlan['items'] = [];
  for (const f of files) {
    const abs = path.resolve(f);
    const dirReal = await real(path.dirname(abs));
    if (dirReal === outReal) throw new UapError('BAD_ARGUMENT', `is the folder of the input ${f}; the copies would replace the photos (choose another --out)`, outDir);
    const name = path.basename(abs);
    const other = byName.get(name);
    if (other !== undefined) throw new UapError('BAD_ARGUMENT', `two photos are named ${name} (${other} and ${f}); their copies would collide in ${outDir}`, f);
    byName.set(name, f);
    items.push({ input: f, output: path.join(out, name) });
  }
  return { outDir: out, items };
}

/** The lock file of an output folder while a run writes into it. */
export const APPLY_LOCK = '.uap-apply.lock';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Locks `outDir` for one run (a file holding the process id, created exclusively): a second `uap apply` into the
 * same folder is refused instead of racing the first. The lock of a process that no longer runs (killed) is taken
 * over. Returns the release function.
 */
export async function lockOutDir(outDir: string): Promise<() => Promise<void>> {
  const file = path.join(outDir, APPLY_LOCK);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fh = await open(file, 'wx');
      await fh.writeFile(String(process.pid));
      await fh.close();
      return () => unlink(file).catch(() => {});
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw new UapError('BAD_ARGUMENT', `cannot lock the folder (${(e as NodeJS.ErrnoException).code ?? e})`, outDir);
      const pid = Number((await readFile(file, 'utf8').catch(() => '')).trim());
      if (Number.isInteger(pid) && pid > 0 && alive(pid)) throw new UapError('BAD_ARGUMENT', `another uap apply (process ${pid}) is writing into this folder`, outDir);
      await unlink(file).catch(() => {}); // a stale lock: its process is gone
    }
  }
  throw new UapError('BAD_ARGUMENT', 'cannot lock the folder', outDir);
}

/** Removes the temporary files of an interrupted run (writeFileAtomic's `.NAME.PID.HEX.tmp`). */
async function removeStaleTemps(dir: string, names: Set<string>): Promise<void> {
  for (const f of await readdir(dir).catch(() => [] as string[])) {
    const m = /^\.(.+)\.\d+\.[0-9a-f]{8}\.tmp$/.exec(f);
    if (m && names.has(m[1]!)) await unlink(path.join(dir, f)).catch(() => {});
  }
}

/** The perturbed pixels of `photo` (same layout), with v put on it as `fit` says. */
export function perturbPhoto(photo: Photo, v: Float32Array, vShape: readonly [number, number, number], o: { fit?: Fit; cropFraction?: number; refine?: number; limit?: number } = {}): Uint8Array | Uint16Array {
  const { width, height, channels, depth, pixels } = photo;
  const x8 = depth === 16 ? Uint8Array.from(pixels, (a) => Math.round(a / 257)) : (pixels as Uint8Array);
  const cropFraction = o.cropFraction ?? CROP_FRACTION;
  const applied = applyPerturbationToPhoto({ data: x8, width, height, channels }, v, vShape, {
    cropFraction,
    ...(o.refine === undefined ? {} : { refine: o.refine }),
    ...(o.limit === undefined ? {} : { limit: o.limit }),
  });
  // fit crop: only photo pixels whose centre falls inside the model's crop.
  let x0 = 0;
  let x1 = width;
  let y0 = 0;
  let y1 = height;
  if (o.fit === 'crop') {
    const box = resizeCropBox(width, height, vShape[0], vShape[1], cropFraction);
    const sx = box.resizeWidth / width;
    const sy = box.resizeHeight / height;
    x0 = Math.max(0, Math.ceil(box.left / sx - 0.5));
    x1 = Math.min(width, Math.ceil((box.left + box.width) / sx - 0.5));
    y0 = Math.max(0, Math.ceil(box.top / sy - 0.5));
    y1 = Math.min(height, Math.ceil((box.top + box.height) / sy - 0.5));
  }
  const out = pixels.slice();
  const colour = channels >= 3 ? 3 : 1;
  const max = depth === 16 ? 65535 : 255;
  const a = applied.data;
  for (let y = y0; y < y1; y++) {
    for (let x = x0; x < x1; x++) {
      const p = y * width + x;
      for (let k = 0; k < colour; k++) {
        const i = p * channels + k;
        const after = colour === 1 ? Math.round(0.299 * a[p * 4]! + 0.587 * a[p * 4 + 1]! + 0.114 * a[p * 4 + 2]!) : a[p * 4 + k]!;
        const d = after - x8[i]!;
        if (d === 0) continue;
        const next = depth === 16 ? pixels[i]! + 257 * d : after;
        out[i] = next < 0 ? 0 : next > max ? max : next;
      }
    }
  }
  return out;
}

function writeError(e: unknown, file: string): UapError {
  const code = (e as NodeJS.ErrnoException)?.code;
  const why =
    code === 'ENOSPC' ? 'no space left on the device' : code === 'EACCES' || code === 'EPERM' ? 'permission denied' : code === 'EROFS' ? 'read-only file system' : e instanceof Error ? e.message.split('\n')[0] : String(e);
  return new UapError('BAD_ARGUMENT', `cannot write the copy (${why}); nothing half-written is left, rerun to finish`, file);
}

/** Applies v to every planned photo; returns one record per photo, in order. */
export async function applyToFiles(plan: ApplyPlan, o: ApplyFilesOptions): Promise<AppliedFile[]> {
  const write = o.write ?? writeFileAtomic;
  await removeStaleTemps(plan.outDir, new Set(plan.items.map((i) => path.basename(i.output))));
  const results: AppliedFile[] = [];
  let done = 0;
  for (const { input, output } of plan.items) {
    if (o.signal?.aborted) break;
    let r: AppliedFile;
    const existing = await stat(output).catch(() => undefined);
    if (existing?.isFile()) {
      r = { input, output, status: 'skipped', bytesOut: existing.size };
    } else {
      let photo: Photo | undefined;
      try {
        const info = await stat(input).catch(() => undefined);
        if (!info) throw new UapError('NOT_FOUND', 'no such photo', input);
        if (!info.isFile()) throw new UapError('BAD_INPUT', 'not a file', input);
        if (info.size > MAX_FILE_BYTES) throw new UapError('BAD_INPUT', `file of ${(info.size / 2 ** 20).toFixed(0)} MiB is too large for a photo`, input);
        photo = await decodePhoto(await readFile(input), input);
      } catch (e) {
        if (!(e instanceof UapError)) throw e;
        r = { input, output, status: 'failed', error: e.message };
      }
      if (photo) {
        const as = o.chroma === undefined || o.chroma === 'source' ? photo : { ...photo, chroma444: o.chroma === '4:4:4' };
        const bytes = await encodePhoto(as, perturbPhoto(photo, o.v, o.vShape, o), { quality: o.quality, stripMetadata: o.stripMetadata });
        try {
          await write(output, bytes);
        } catch (e) {
          throw writeError(e, output);
        }
        r = {
          input,
          output,
          status: 'written',
          format: photo.format,
          width: photo.width,
          height: photo.height,
          channels: photo.channels,
          depth: photo.depth,
          quality: outputQuality(photo, o.quality),
          bytesIn: photo.source.length,
          bytesOut: bytes.length,
        };
      }
    }
    results.push(r!);
    o.onPhoto?.(r!, ++done, plan.items.length);
  }
  return results;
}
