/**
 * The `apply` section of docs/results.md (issue 13): do perturbations protect photos at their own size, after
 * sharing, on classifiers they were made with and on one they never saw?
 *
 *   node --import tsx scripts/apply-results.ts [--only NAME,…] [--no-compute | --render-only] [--photos N]
 *
 * Steps, each cached under runs/apply/ (gitignored) so a rerun only does what is missing:
 *   1. perturbations: leave-one-out ensembles over the five shared 224 models (`uap compute --model A,B,C,D
 *      --method sgd --augment flip,crop,jpeg`, ℓ∞ 10, train.txt), a single-model SGD one, and the paper authors'
 *      VGG-16 one (../shared/perturbations/lts4/vgg-16.npy);  → runs/apply/perturbations/NAME/ (a `done` file once complete)
 *   2. `uap apply` of each, per --fit mode, on the 200 full-size originals;       → runs/apply/copies/NAME-FIT/
 *   3. each copy re-encoded as a quality-75 JPEG (sharp, libjpeg's defaults: 4:2:0), as a sharing site would;
 *   4. top-1 of the original and of the re-encoded copy on the five models (ONNX Runtime, 1 thread; decoded as
 *      `uap classify` does), PSNR / SSIM (ssim.js, via checkApplied) and file sizes;  → runs/apply/results/NAME-FIT.json
 *   5. the markdown, put between `<!-- begin:apply -->` and `<!-- end:apply -->` in docs/results.md (appended at the
 *      end when the markers are absent); the rest of the file is kept byte for byte.
 * One process at a time (compute runs as a child with --threads 1). UAP_SHARED overrides ../shared.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import * as tf from '@tensorflow/tfjs';
import { APPLY_DEFAULTS, predictBatch, type Classifier } from '../src/index.js';
import { checkApplied, decodeImages, estimateJpegQuality, initBackend, loadModel, loadOrtEngine, type AppliedFile, type CheckedPhoto } from '../src/node/index.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const shared = process.env.UAP_SHARED ?? path.resolve(root, '..', 'shared');
const rel = (p: string) => path.relative(root, p) || '.';
const modelsDir = process.env.UAP_MODELS_DIR ?? path.join(shared, 'models');
const work = path.join(root, 'runs', 'apply');
const args = process.argv.slice(2);
const flag = (name: string) => {
  const i = args.indexOf(name);
  return i < 0 ? undefined : args[i + 1];
};
const only = flag('--only')?.split(',');
const noCompute = args.includes('--no-compute') || args.includes('--render-only');
/** Only what is cached: no apply, no check (a quick look while the pipeline runs). */
const renderOnly = args.includes('--render-only');
const nPhotos = Number(flag('--photos') ?? 200);
sharp.concurrency(1);

/** The five shared 224 models. */
const A = 'mobilenet_v1_0.25_224';
const B = 'mobilenet_v1_0.75_224';
const C = 'tiny_darknet';
const D = 'mobilenet_v2_1.0_224_quant';
const E = 'mobilenet_v1_0.25_224_onnx';
const MODELS = [A, B, C, D, E];
const EPOCHS = 5;

interface Perturbation {
  name: string;
  /** What the table calls it. */
  label: string;
  /** Models it was computed on (the others are "left out"). */
  members: string[];
  /** The uap compute arguments (after `uap --threads 1`), or none for a given file. */
  compute?: string[];
  file: string;
  note?: string;
}

/** SGD, ℓ∞ 10 on train.txt; `delta` 0.05 lets a single model stop once it fools 95% of X (an ensemble never gets there in 5 epochs). */
const sgd = (name: string, models: string[], epochs: number, augment: string): Perturbation => {
  const out = path.join(work, 'perturbations', name);
  return {
    name,
    label: models.length > 1 ? `ensemble without ${MODELS.find((m) => !models.includes(m))}, ${epochs} epochs` : `single ${models[0]}, ${epochs} epochs (${augment})`,
    members: models,
    compute: ['compute', '--model', models.join(','), '--method', 'sgd', '--augment', augment, '--data', rel(path.join(shared, 'imagenet-sample', 'train.txt')), '--xi', '10', '--max-passes', String(epochs), ...(models.length === 1 ? ['--delta', '0.05'] : []), '--seed', '1', '--out', rel(out)],
    file: path.join(out, 'perturbation.npy'),
  };
};
/** The same ensembles with `uap compute`'s default recipe (SGA, CE, momentum 0.9, outer batch 50: issue 15) and jpeg views. */
const sga = (name: string, models: string[], label: string, epochs = EPOCHS, augment = 'flip,crop,jpeg', batch = 50, extra: string[] = []): Perturbation => {
  const out = path.join(work, 'perturbations', name);
  return {
    name,
    label,
    members: models,
    compute: ['compute', '--model', models.join(','), '--method', 'sga', '--loss', 'ce', '--momentum', '0.9', '--batch-size', String(batch), '--augment', augment, '--data', rel(path.join(shared, 'imagenet-sample', 'train.txt')), '--xi', '10', '--max-passes', String(epochs), ...extra, '--seed', '1', '--out', rel(out)],
    file: path.join(out, 'perturbation.npy'),
  };
};
const loo = (left: string, epochs = EPOCHS) => sgd(`loo-${left}${epochs === EPOCHS ? '' : `-${epochs}ep`}`, MODELS.filter((m) => m !== left), epochs, 'flip,crop,jpeg');
/** Most informative first: the pipeline may be stopped at a deadline, and what is missing is listed under the table. */
const PERTURBATIONS: Perturbation[] = [
  loo(D),
  // SGA-recipe ensembles, none counting the ONNX twin twice: the four networks; all but v1 0.25 (and its twin); all but v2.
  { ...sga('sga-four', [A, B, C, D], `ensemble without ${E} (the four networks once each), SGA recipe, ${EPOCHS} epochs`), note: `trivial: ${A}, the same weights, is in the ensemble` },
  sga('sga-loo-v1-0.25', [B, C, D], `ensemble without ${A} and its ONNX port, SGA recipe, ${EPOCHS} epochs`),
  sga('sga-loo-v2', [A, B, C], `ensemble without ${D} (and without the ONNX twin), SGA recipe, ${EPOCHS} epochs`),
  { ...sgd(`single-${A}`, [A], 10, 'flip,crop') },
  { name: 'vgg-16', label: 'VGG-16 (paper authors, 2017)', members: [], file: path.join(shared, 'perturbations', 'lts4', 'vgg-16.npy') },
  loo(C),
  loo(B),
  loo(D, 8),
  { ...loo(E), note: `trivial: ${A}, the same weights, is in the ensemble` },
  { ...loo(A), note: `trivial: ${E}, the same weights, is in the ensemble` },
  // One model, the SGA recipe: how much of a perturbation that fools ~95% of unseen photos at model size survives
  // the photo's own size and the q75 re-encode, with and without training through JPEG and resizing.
  sga(`sga-single-${A}`, [A], `single ${A}, SGA recipe, ${EPOCHS} epochs (flip,crop)`, EPOCHS, 'flip,crop'),
  sga(`sga-single-${A}-jpeg`, [A], `single ${A}, SGA recipe, ${EPOCHS} epochs (flip,crop,jpeg)`, EPOCHS, 'flip,crop,jpeg'),
  sga(`sga-single-${A}-jpeg-resize`, [A], `single ${A}, SGA recipe, ${EPOCHS} epochs (flip,crop,jpeg,resize)`, EPOCHS, 'flip,crop,jpeg,resize'),
  // The four networks with the new default recipe (outer batch 25, 10 epochs) and no jpeg views, which did not help one model.
  // One model, the new default recipe, with and without a blurred gradient (--smooth 1: v built of blobs, which a
  // resize and a JPEG re-encode should keep better, and which costs the photo less SSIM and fewer bytes).
  sga(`default-single-${A}`, [A], `single ${A}, the new default recipe (outer batch 25, 10 epochs, flip,crop)`, 10, 'flip,crop', 25),
  sga(`default-single-${A}-smooth1`, [A], `single ${A}, the new default recipe with --smooth 1`, 10, 'flip,crop', 25, ['--smooth', '1']),
  { ...sga('sga-four-default', [A, B, C, D], `ensemble without ${E} (the four networks once each), the new default recipe (outer batch 25, 10 epochs, flip,crop)`, 10, 'flip,crop', 25), note: `trivial: ${A}, the same weights, is in the ensemble` },
];
const FITS = ['photo', 'crop'] as const;
/** Choices in `uap apply` measured on the first perturbation, for the SSIM and size goals. */
const VARIANTS: { fit: (typeof FITS)[number]; extra: string[] }[] = [
  { fit: 'photo', extra: ['--quality', '85'] },
  { fit: 'photo', extra: ['--quality', '75'] },
  { fit: 'crop', extra: ['--quality', '85'] },
  { fit: 'photo', extra: ['--chroma', '4:2:0'] },
  { fit: 'crop', extra: ['--chroma', '4:2:0'] },
];

/** Runs `node bin/uap.js ARGS`, its output to LOG; resolves with the wall time in seconds. */
function uap(argv: string[], log: string): Promise<number> {
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    void (async () => {
      const fh = await import('node:fs').then((fs) => fs.openSync(log, 'a'));
      const child = spawn(process.execPath, [path.join(root, 'bin', 'uap.js'), ...argv], { cwd: root, stdio: ['ignore', fh, fh], env: { ...process.env, UAP_MODELS_DIR: modelsDir } });
      child.on('error', reject);
      child.on('exit', (code) => (code === 0 ? resolve((Date.now() - t0) / 1000) : reject(new Error(`uap ${argv.join(' ')} exited ${code}; see ${log}`))));
    })();
  });
}

async function readJson<T>(file: string): Promise<T | undefined> {
  return existsSync(file) ? (JSON.parse(await readFile(file, 'utf8')) as T) : undefined;
}
async function writeJson(file: string, data: unknown): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(`${file}.tmp`, JSON.stringify(data, null, 1) + '\n');
  await rename(`${file}.tmp`, file);
}

/** Step 1: the perturbation, computed unless its `done` marker is there. Returns the compute's wall time, if known. */
async function ensurePerturbation(p: Perturbation): Promise<boolean> {
  if (!p.compute) return existsSync(p.file);
  const dir = path.dirname(p.file);
  if (existsSync(path.join(dir, 'done'))) return true;
  if (noCompute) return false;
  await mkdir(dir, { recursive: true });
  console.error(`compute ${p.name}: uap --threads 1 ${p.compute.join(' ')}`);
  await uap(['--threads', '1', ...p.compute], path.join(dir, 'log.txt'));
  await writeFile(path.join(dir, 'done'), '');
  return true;
}

/** Seconds a compute took, from its record (sum of the passes). */
async function computeRecord(p: Perturbation): Promise<{ wallSeconds?: number; foolingRateOnX?: number; history?: unknown[] } | undefined> {
  return p.compute ? readJson(path.join(path.dirname(p.file), 'perturbation.json')) : undefined;
}

const photosDir = path.join(shared, 'imagenet-sample', 'originals');
const photos = (await readdir(photosDir)).filter((f) => /\.(jpe?g|png|webp)$/i.test(f)).sort().slice(0, nPhotos).map((f) => path.join(photosDir, f));
const isJpeg = (f: string) => /\.jpe?g$/i.test(f);

let models: Classifier[] | undefined;
async function openModels(): Promise<Classifier[]> {
  if (models) return models;
  await initBackend('wasm', { threads: 1 });
  const Ort = await loadOrtEngine();
  models = [];
  for (const name of MODELS) models.push(await Ort.create(await loadModel(name, { modelsDir }), { threads: 1 }));
  return models;
}

/** Top-1 of every file on every model (all five take 224×224×3, so one decode serves them all). */
async function top1(files: string[]): Promise<Record<string, number[]>> {
  const ms = await openModels();
  const shape = ms[0]!.inputShape;
  const px = await decodeImages(files, { shape, cache: false, concurrency: 1 });
  const out: Record<string, number[]> = {};
  const size = shape[0] * shape[1] * shape[2];
  for (const m of ms) {
    const pred: number[] = [];
    for (let s = 0; s < files.length; s += 25) {
      const e = Math.min(files.length, s + 25);
      pred.push(...(await predictBatch(m, tf.tensor4d(px.subarray(s * size, e * size), [e - s, ...shape]), undefined, true)));
    }
    out[m.id] = pred;
  }
  return out;
}

interface Measured {
  n: number;
  /** Share of photos whose top-1 changed (original vs the re-encoded copy), per model. */
  changed: Record<string, number>;
  /** The same with the copy itself (before the re-encode). */
  copy: { psnr: number[]; ssim: number[]; sizeChange: number[] };
  /** Share of photos whose top-1 changed on the copy `uap apply` wrote, before the q75 re-encode (rows measured since it was added). */
  changedBeforeReencode?: Record<string, number>;
  q75: { psnr: number[]; ssim: number[] };
  seconds: { apply: number };
}

/** Copies of `files` re-encoded as quality-75 JPEGs into `dir`, as AppliedFile records against their originals. */
async function reencode(copies: AppliedFile[], dir: string): Promise<AppliedFile[]> {
  await mkdir(dir, { recursive: true });
  const out: AppliedFile[] = [];
  for (const c of copies) {
    const file = path.join(dir, path.basename(c.output).replace(/\.[^.]+$/, '.jpg'));
    if (!existsSync(file)) await sharp(await readFile(c.output)).jpeg({ quality: 75 }).toFile(file);
    out.push({ ...c, output: file });
  }
  return out;
}

let clean: Record<string, number[]> | undefined;
async function cleanTop1(): Promise<Record<string, number[]>> {
  const file = path.join(work, 'results', `clean-${photos.length}.json`);
  clean ??= (await readJson<Record<string, number[]>>(file)) ?? (await top1(photos));
  await writeJson(file, clean);
  return clean;
}

/** Steps 2–4 for one perturbation and fit, with `extra` apply flags (cached). */
async function measure(p: Perturbation, fit: (typeof FITS)[number], extra: string[] = []): Promise<Measured | undefined> {
  const tag = `${p.name}-${fit}${extra.length ? `-${extra.join('').replace(/[^a-z0-9]+/gi, '')}` : ''}`;
  const file = path.join(work, 'results', `${tag}-${photos.length}.json`);
  const hit = await readJson<Measured>(file);
  if (hit || renderOnly) return hit;
  const outDir = path.join(work, 'copies', `${tag}-${photos.length}`);
  await mkdir(outDir, { recursive: true });
  console.error(`apply ${p.name} --fit ${fit} ${extra.join(' ')}`);
  const inputs = nPhotos >= 200 ? ['--data', photosDir] : photos;
  const applySeconds = await uap(['apply', '--perturbation', p.file, '--out', outDir, '--fit', fit, ...extra, ...inputs], path.join(work, 'copies', `${tag}.log`));
  const copies: AppliedFile[] = photos.map((input) => ({ input, output: path.join(outDir, path.basename(input)), status: 'written' }));
  for (const c of copies) c.bytesIn = (await stat(c.input)).size;
  const q75 = await reencode(copies, `${outDir}-q75`);
  const cc = await checkApplied(copies, [], { thumbHeight: 0 });
  const cq = await checkApplied(q75, [], { thumbHeight: 0 });
  const before = await cleanTop1();
  const after = await top1(q75.map((c) => c.output));
  const direct = await top1(copies.map((c) => c.output));
  const share = (t: Record<string, number[]>) => Object.fromEntries(MODELS.map((m) => [m, t[m]!.filter((k, i) => k !== before[m]![i]).length / photos.length]));
  const changed = share(after);
  const stats = (c: CheckedPhoto[]) => ({ psnr: c.map((r) => r.psnr ?? Infinity), ssim: c.map((r) => r.ssim!) });
  const m: Measured = {
    n: photos.length,
    changed,
    changedBeforeReencode: share(direct),
    copy: { ...stats(cc), sizeChange: cc.filter((r) => isJpeg(r.input)).map((r) => r.bytesOut! / r.bytesIn! - 1) },
    q75: stats(cq),
    seconds: { apply: applySeconds },
  };
  await writeJson(file, m);
  return m;
}

interface PhotoInfo {
  quality?: number;
  chroma?: string;
  bitsPerPixel: number;
}
/** Each original's estimated JPEG quality, chroma subsampling and bits per pixel (cached). */
async function originalsInfo(): Promise<Record<string, PhotoInfo>> {
  const file = path.join(work, 'results', `originals-${photos.length}.json`);
  const hit = await readJson<Record<string, PhotoInfo>>(file);
  if (hit) return hit;
  const out: Record<string, PhotoInfo> = {};
  for (const f of photos) {
    const bytes = await readFile(f);
    const meta = await sharp(bytes).metadata();
    out[path.basename(f)] = { quality: isJpeg(f) ? estimateJpegQuality(bytes) : undefined, chroma: meta.chromaSubsampling, bitsPerPixel: (8 * bytes.length) / (meta.width! * meta.height!) };
  }
  await writeJson(file, out);
  return out;
}

/** The baseline: the originals themselves re-encoded at quality 75 (no v). */
async function baseline(): Promise<Measured> {
  const file = path.join(work, 'results', `none-${photos.length}.json`);
  const hit = await readJson<Measured>(file);
  if (hit) return hit;
  const self: AppliedFile[] = photos.map((input) => ({ input, output: input, status: 'written' }));
  const q75 = await reencode(self, path.join(work, 'copies', `none-${photos.length}-q75`));
  const cq = await checkApplied(q75, [], { thumbHeight: 0 });
  const before = await cleanTop1();
  const after = await top1(q75.map((c) => c.output));
  const m: Measured = {
    n: photos.length,
    changed: Object.fromEntries(MODELS.map((k) => [k, after[k]!.filter((x, i) => x !== before[k]![i]).length / photos.length])),
    copy: { psnr: [], ssim: [], sizeChange: [] },
    q75: { psnr: cq.map((r) => r.psnr ?? Infinity), ssim: cq.map((r) => r.ssim!) },
    seconds: { apply: 0 },
  };
  await writeJson(file, m);
  return m;
}

// ---- the markdown ----
function pct(x: number): string {
  return `${Math.round(100 * x)}%`;
}
function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}
const minOf = (xs: number[]) => xs.reduce((a, b) => Math.min(a, b), Infinity);
const maxOf = (xs: number[]) => xs.reduce((a, b) => Math.max(a, b), -Infinity);
const signed = (x: number) => `${x >= 0 ? '+' : '−'}${Math.abs(Math.round(100 * x))}%`;

async function writeSection(base: Measured): Promise<void> {
  const short: Record<string, string> = { [A]: 'v1 0.25', [B]: 'v1 0.75', [C]: 'tiny darknet', [D]: 'v2 1.0 quant', [E]: 'v1 0.25 onnx' };
  const L: string[] = [];
  L.push('<!-- begin:apply -->');
  L.push('## Protecting photos: `uap apply` at full size, after a JPEG quality-75 re-encode (issue 13)');
  L.push('');
  L.push(`Generated by \`node --import tsx scripts/apply-results.ts\` (scripts/apply-results.ts; each step cached under runs/apply/) on ${os.cpus()[0]?.model ?? 'unknown CPU'}, one thread. ` +
    `The ${photos.length} full-size photos of ../shared/imagenet-sample/originals (75×56 to 1600×1200, all JPEG), none of them in the training photos; ` +
    'each perturbation is applied with `uap apply` (its default `--refine 4`, `--bound 1`: no pixel moves more than ‖v‖∞ = 10), the copy is re-encoded as a ' +
    'quality-75 JPEG (sharp / libjpeg defaults, 4:2:0), as a sharing site would, and the re-encoded copy is classified as `uap classify` decodes it. ' +
    '"Changed" is the paper\'s fooling criterion on that file: top-1 of the re-encoded copy ≠ top-1 of the original.');
  L.push('');
  L.push('Columns: the share of photos whose top-1 changed on each shared model (v1 0.25 onnx is v1 0.25\'s weights in a PyTorch port: the same network); *in italics*, models the perturbation was made on; **bold**, the one left out of a leave-one-out ensemble; "left out": the models it was not made on (the twin of its model excepted). ' +
    '"On X": the fooling rate the compute reached on its 500 training photos at model size (an ensemble\'s: on its mean logits), from perturbation.json. ' +
    'PSNR / SSIM (ssim.js, mean SSIM) of the copy `uap apply` wrote against the original (and of its q75 re-encode); size: the copy against the original file.');
  L.push('');
  L.push(`| perturbation | on X | --fit | ${MODELS.map((m) => short[m]).join(' | ')} | in it: worst | left out | copy PSNR dB median / worst | copy SSIM median / worst | q75 SSIM median / worst | copy size median / worst |`);
  L.push(`|---|---|---|${MODELS.map(() => '---|').join('')}---|---|---|---|---|---|`);
  const q = (xs: number[], d: number) => `${median(xs).toFixed(d)} / ${minOf(xs).toFixed(d)}`;
  L.push(`| none (the original → q75) | – | – | ${MODELS.map((m) => pct(base.changed[m]!)).join(' | ')} | – | – | – | – | ${q(base.q75.ssim, 3)} | – |`);
  /** "a–b", or "a" where every value prints the same. */
  const range = (xs: number[]) => (pct(minOf(xs)) === pct(maxOf(xs)) ? pct(minOf(xs)) : `${pct(minOf(xs))}–${pct(maxOf(xs))}`);
  for (const { p, fit, m } of rows) {
    // A model whose twin (the same weights: v1 0.25 and its ONNX port) made v is not a test of transfer.
    const twin: Record<string, string> = { [A]: E, [E]: A };
    const strict = MODELS.filter((k) => !p.members.includes(k) && !p.members.includes(twin[k]!));
    const left = strict.length || p.members.length === 1 ? strict : MODELS.filter((k) => !p.members.includes(k));
    const cells = MODELS.map((k) => (p.members.includes(k) ? `*${pct(m.changed[k]!)}*` : p.members.length > 1 ? `**${pct(m.changed[k]!)}**` : pct(m.changed[k]!)));
    const inIt = p.members.length ? pct(minOf(p.members.map((k) => m.changed[k]!))) : '–';
    const out = left.length === 1 ? `${pct(m.changed[left[0]!]!)}${p.note ? ` (${p.note})` : ''}` : left.length ? range(left.map((k) => m.changed[k]!)) : '–';
    const sz = m.copy.sizeChange;
    const rec = await computeRecord(p);
    L.push(`| ${p.label} | ${rec?.foolingRateOnX === undefined ? '–' : pct(rec.foolingRateOnX)} | ${fit} | ${cells.join(' | ')} | ${inIt} | ${out} | ${q(m.copy.psnr, 1)} | ${q(m.copy.ssim, 3)} | ${q(m.q75.ssim, 3)} | ${signed(median(sz))} / ${signed(maxOf(sz))} |`);
  }
  if (missing.length) L.push('', `Not computed in time (so not in the table): ${missing.join(', ')}.`);
  L.push('');
  // Where a single model's perturbation loses its photos: the photo's own size, or the re-encode.
  const staged = rows.filter((r) => r.m.changedBeforeReencode && r.p.members.length === 1);
  if (staged.length) {
    const k0 = (r: (typeof rows)[number]) => r.p.members[0]!;
    L.push('Where a one-model perturbation loses photos, on its own model: at model size on X, on the full-size copy `uap apply` wrote, and on that copy after the q75 re-encode:', '');
    L.push('| perturbation | --fit | on X (model size) | full size, as written | full size, after q75 |', '|---|---|---|---|---|');
    for (const r of staged) {
      const rec = await computeRecord(r.p);
      L.push(`| ${r.p.label} | ${r.fit} | ${rec?.foolingRateOnX === undefined ? '–' : pct(rec.foolingRateOnX)} | ${pct(r.m.changedBeforeReencode![k0(r)]!)} | ${pct(r.m.changed[k0(r)]!)} |`);
    }
    L.push('');
  }
  const refined = rows.find((r) => r.p.name === REFINE_OF && r.fit === 'photo');
  if (refined && refineRows.length) {
    L.push(`\`uap apply --refine N\` (back-projection steps that make the model's view of the copy match v; default ${APPLY_DEFAULTS.refine}), for ${refined.p.label}, --fit photo, on ${short[A]}:`, '');
    L.push('| --refine | full size, as written | after q75 | copy SSIM median / worst | copy size median |', '|---|---|---|---|---|');
    const all = [...refineRows.filter((r) => r.refine === '0'), { refine: `${APPLY_DEFAULTS.refine} (default)`, m: refined.m }, ...refineRows.filter((r) => r.refine !== '0')];
    for (const r of all) {
      L.push(`| ${r.refine} | ${r.m.changedBeforeReencode ? pct(r.m.changedBeforeReencode[A]!) : '–'} | ${pct(r.m.changed[A]!)} | ${q(r.m.copy.ssim, 3)} | ${signed(median(r.m.copy.sizeChange))} |`);
    }
    L.push('');
  }
  L.push('Goals (ℓ∞ 10, photos at their own size, after JPEG q75), over the ensembles measured:');
  L.push('');
  const ens = rows.filter((r) => r.p.members.length > 1);
  const informative = ens.filter((r) => !r.p.note);
  const leftOf = (p: Perturbation) => MODELS.find((k) => !p.members.includes(k))!;
  const met = (ok: boolean) => (ok ? '**met**' : '**not met**');
  if (ens.length === 0) L.push('- no ensemble measured yet.');
  else {
    const worstMember = ens.map((r) => ({ r, w: minOf(r.p.members.map((k) => r.m.changed[k]!)), b: maxOf(r.p.members.map((k) => r.m.changed[k]!)) }));
    const g1 = worstMember.reduce((a, x) => (x.w > a.w ? x : a));
    L.push(`- ≥ 90% of the photos change top-1 on each model in the ensemble: ${met(g1.w >= 0.9)}. The best row's worst member: ${pct(g1.w)} (${g1.r.p.label}, --fit ${g1.r.fit}); the members range over ${pct(minOf(worstMember.map((x) => x.w)))}–${pct(maxOf(worstMember.map((x) => x.b)))} across the rows.`);
    const lo = informative.map((r) => ({ r, x: r.m.changed[leftOf(r.p)]! }));
    const g2 = lo.length ? lo.reduce((a, x) => (x.x > a.x ? x : a)) : undefined;
    L.push(`- ≥ 70% change top-1 on the shared model left out: ${met(Boolean(g2 && g2.x >= 0.7))}. ${lo.map(({ r, x }) => `${short[leftOf(r.p)]} ${pct(x)} (${r.p.label.replace(/^ensemble without [^,]+, /, '')}, --fit ${r.fit})`).join('; ')}. ` +
      `Leaving out ${short[E]} or ${short[A]} while the other is in is no test of transfer (the same weights; their columns agree in every row).`);
    for (const fit of FITS) {
      const f = ens.filter((r) => r.fit === fit);
      const ss = f.map((r) => median(r.m.copy.ssim));
      const sz = f.map((r) => median(r.m.copy.sizeChange));
      const over = f.map((r) => r.m.copy.sizeChange.filter((x) => x > 0.3).length);
      L.push(`- --fit ${fit}: median SSIM ≥ 0.9 ${met(ss.every((x) => x >= 0.9))} (${ss.map((x) => x.toFixed(3)).join(', ')}); ` +
        `size within +30% for JPEG inputs ${met(sz.every((x) => x <= 0.3))} for the median (${sz.map(signed).join(', ')}), ${met(over.every((x) => x === 0))} for every photo (over +30%: ${over.map((x) => `${x}/${photos.length}`).join(', ')}).`);
    }
  }
  if (variantRows.length) {
    const p0 = variantRows[0]!.p;
    L.push('');
    L.push(`Choices in \`uap apply\` and the SSIM / size goals, for ${p0.label} (same photos, same q75 re-encode):`);
    L.push('');
    L.push('| --fit | --quality | --chroma | in it: worst / best | left out | copy SSIM median / worst | copy size median / worst | photos over +30% |');
    L.push('|---|---|---|---|---|---|---|---|');
    const all: { p: Perturbation; fit: string; extra: string[]; m: Measured }[] = [...rows.filter((r) => r.p === p0).map((r) => ({ ...r, extra: [] as string[] })), ...variantRows];
    for (const r of all) {
      const mem = r.p.members.map((k) => r.m.changed[k]!);
      const sz = r.m.copy.sizeChange;
      const flag = (f: string) => (r.extra.includes(f) ? r.extra[r.extra.indexOf(f) + 1] : undefined);
      L.push(`| ${r.fit} | ${flag('--quality') ?? "the source's (estimated)"} | ${flag('--chroma') ?? "the source's"} | ${pct(minOf(mem))} / ${pct(maxOf(mem))} | ${pct(r.m.changed[leftOf(r.p)]!)} | ${q(r.m.copy.ssim, 3)} | ${signed(median(sz))} / ${signed(maxOf(sz))} | ${sz.filter((x) => x > 0.3).length}/${sz.length} |`);
    }
    const ok = all.filter((r) => median(r.m.copy.ssim) >= 0.9 && median(r.m.copy.sizeChange) <= 0.3);
    const overOf = (r: (typeof all)[number]) => r.m.copy.sizeChange.filter((x) => x > 0.3).length;
    const fewest = all.reduce((x, r) => (overOf(r) < overOf(x) ? r : x));
    const name = (r: (typeof all)[number]) => `--fit ${r.fit}${r.extra.length ? ` ${r.extra.join(' ')}` : ''}`;
    // The photos whose copy grows most (default --fit photo): what they have in common.
    const info = await originalsInfo();
    const def = all[0]!;
    const grown = photos.map((f, i) => ({ f: path.basename(f), x: def.m.copy.sizeChange[i]! })).sort((x, y) => y.x - x.x).slice(0, 10).map((g) => ({ ...g, ...info[g.f]! }));
    const qs = grown.map((g) => g.quality ?? NaN);
    const allBpp = Object.values(info).map((i) => i.bitsPerPixel);
    L.push('');
    L.push(`${ok.length ? `Both goals are met for the median with ${ok.map(name).join(' and with ')}` : 'No choice here meets both goals for the median'}; ` +
      (overOf(fewest) === 0 ? `${name(fewest)} keeps every photo within +30%. ` : `no choice keeps every photo within +30% (fewest over: ${overOf(fewest)}, ${name(fewest)}). `) +
      `The 10 copies that grow most (--fit photo, ${signed(grown[grown.length - 1]!.x)} to ${signed(grown[0]!.x)}) come from photos saved at quality ${minOf(qs)}–${maxOf(qs)}, ` +
      `${grown.filter((g) => g.chroma === '4:4:4').length} of them with 4:4:4 chroma, at ${minOf(grown.map((g) => g.bitsPerPixel)).toFixed(1)}–${maxOf(grown.map((g) => g.bitsPerPixel)).toFixed(1)} bits per pixel (all ${photos.length}: median ${median(allBpp).toFixed(1)}): ` +
      "smooth photos saved at a high quality, where v's fine detail is most of what the encoder has to code. A lower --quality shrinks those, but a photo saved at a lower quality than the one asked " +
      "grows, and each re-encode costs SSIM; --chroma 4:2:0 drops the colour half of that detail, which SSIM (on luminance) and the models hardly see. --fit photo's SSIM is bounded by v itself (the whole photo carries it); --fit crop leaves the border of the photo untouched.");
    L.push('');
  }
  // What the numbers say, each sentence written from the measured values.
  const say: string[] = [];
  const row = (name: string, fit: string) => rows.find((r) => r.p.name === name && r.fit === fit);
  const vgg = row('vgg-16', 'photo');
  const single = rows.find((r) => r.p.name.startsWith('single-') && r.fit === 'photo');
  const bestEns = ens.filter((r) => r.fit === 'photo').reduce<(typeof rows)[number] | undefined>((a, r) => (!a || minOf(r.p.members.map((k) => r.m.changed[k]!)) > minOf(a.p.members.map((k) => a.m.changed[k]!)) ? r : a), undefined);
  if (vgg && bestEns) {
    const wins = MODELS.filter((k) => vgg.m.changed[k]! > bestEns.m.changed[k]!);
    say.push(wins.length === MODELS.length
      ? `The paper authors' VGG-16 perturbation, made on a network none of these models is, changes more photos than the best ensemble here (${bestEns.p.label}) on every model, the ensemble's own members included (${MODELS.map((k) => `${short[k]} ${pct(vgg.m.changed[k]!)} vs ${pct(bestEns.m.changed[k]!)}`).join(', ')}, --fit photo). ` +
        'The ensembles are under-trained rather than defeated by the photo pipeline: their fooling rate on X at model size (column "on X") is already that low, and ' + `the same pipeline (full size, q75) leaves VGG-16 fooling ${pct(minOf(MODELS.map((k) => vgg.m.changed[k]!)))}–${pct(maxOf(MODELS.map((k) => vgg.m.changed[k]!)))} of the photos.`
      : `Against the paper authors' VGG-16 perturbation, the best ensemble (${bestEns.p.label}) changes more photos on ${MODELS.filter((k) => !wins.includes(k)).map((k) => short[k]).join(', ')} and fewer on ${wins.map((k) => short[k]).join(', ') || 'none'}.`);
  }
  if (single) {
    say.push(`One model's SGD perturbation (${single.p.label}) changes ${pct(single.m.changed[A]!)} of the photos on its own model and ${pct(minOf(MODELS.filter((k) => k !== A && k !== E).map((k) => single.m.changed[k]!)))}–${pct(maxOf(MODELS.filter((k) => k !== A && k !== E).map((k) => single.m.changed[k]!)))} on the three other architectures: it fits its model, and transfers less than VGG-16.`);
  }
  const singles = rows.filter((r) => r.p.name.startsWith('sga-single-') && r.fit === 'photo' && r.m.changedBeforeReencode);
  const plain = singles.find((r) => r.p.name === REFINE_OF);
  if (plain && singles.length > 1) {
    const others = singles.filter((r) => r !== plain);
    const onX = (await computeRecord(plain.p))?.foolingRateOnX;
    say.push(`Even one model's own SGA perturbation (${plain.p.label}; the previous default recipe), which fools ${onX === undefined ? 'most' : pct(onX)} of X at model size, changes ${pct(plain.m.changedBeforeReencode![A]!)} of the full-size copies on that model and ` +
      `${pct(plain.m.changed[A]!)} after the q75 re-encode: the photo's own size (v magnified, then shrunk again by the model's resize, within ±‖v‖∞ per pixel) and JPEG each cost 6–8 points, ` +
      `and more back-projection steps do not win them back (--refine table). Training through real JPEG re-encodes (and random resizes) did not help either: ` +
      `${others.map((r) => `${r.p.label.replace(/^.*\(/, '(')} ${pct(r.m.changedBeforeReencode![A]!)} / ${pct(r.m.changed[A]!)}`).join(', ')}, with the same fit on X. ` +
      'So the 90% goal on ensemble members is beyond this pipeline even for one member; the ensembles (60–72% per member) lose the rest to sharing v among models.');
  }
  const withJpeg = row('sga-four', 'photo');
  const withoutJpeg = row('sga-four-default', 'photo');
  if (withJpeg && withoutJpeg) {
    const span = (r: (typeof rows)[number]) => `${pct(minOf(r.p.members.map((k) => r.m.changed[k]!)))}–${pct(maxOf(r.p.members.map((k) => r.m.changed[k]!)))}`;
    const xOf = async (r: (typeof rows)[number]) => pct((await computeRecord(r.p))?.foolingRateOnX ?? NaN);
    say.push(`For the four-network ensemble the jpeg views do matter, unlike for one model: with them (SGA, outer batch 50, 5 epochs; ${await xOf(withJpeg)} of X) its members change ${span(withJpeg)} of the photos after q75; ` +
      `with the new compute default instead (outer batch 25, 10 epochs, flip and crop only; ${await xOf(withoutJpeg)} of X) ${span(withoutJpeg)}. Perturbations for photos should keep \`--augment flip,crop,jpeg\`.`);
  }
  const photoCrop = ens.filter((r) => r.fit === 'photo').map((r) => ({ p: r, c: row(r.p.name, 'crop') })).filter((x) => x.c);
  if (photoCrop.length) {
    const d = photoCrop.map(({ p, c }) => maxOf(MODELS.map((k) => Math.abs(p.m.changed[k]! - c!.m.changed[k]!))));
    say.push(`--fit crop changes top-1 as often as --fit photo (at most ${pct(maxOf(d))} apart on any model) for a much smaller cost to the photo (SSIM median ${photoCrop.map(({ c }) => median(c!.m.copy.ssim).toFixed(3)).join(', ')} vs ${photoCrop.map(({ p }) => median(p.m.copy.ssim).toFixed(3)).join(', ')}), because these classifiers look at the centre crop; a classifier that looks elsewhere would not meet v.`);
  }
  const twice = ens.filter((r) => r.fit === 'photo' && r.p.members.includes(A) && r.p.members.includes(E));
  if (twice.length) {
    say.push(`An ensemble with both ${short[A]} and ${short[E]} counts that network twice in its summed loss: ` +
      `it is the member fooled most in ${twice.filter((r) => r.p.members.every((k) => r.m.changed[k]! <= r.m.changed[A]! + 1e-9)).length} of ${twice.length} such ensembles (--fit photo).`);
  }
  if (say.length) L.push('What this says:', '', ...say.map((x) => `- ${x}`), '');
  L.push('Commands (run by the script; `uap` is `node bin/uap.js`, UAP_MODELS_DIR=../shared/models):');
  L.push('');
  L.push('```sh');
  for (const p of PERTURBATIONS.filter((x) => x.compute && (!only || only.includes(x.name)))) {
    const r = await computeRecord(p);
    L.push(`uap --threads 1 ${p.compute!.join(' ')}${r?.wallSeconds ? `   # ${(r.wallSeconds / 60).toFixed(1)} min, ${r.history?.length} epochs` : ''}`);
  }
  L.push(`uap apply --perturbation P --out runs/apply/copies/NAME-FIT-${photos.length} --fit FIT --data ${rel(photosDir)}   # per perturbation and fit; ~${Math.round(median(rows.map((r) => r.m.seconds.apply)))} s each`);
  L.push('# then: sharp(copy).jpeg({ quality: 75 }), top-1 on the five models (ONNX Runtime), checkApplied (PSNR, SSIM, sizes)');
  L.push('```');
  L.push('<!-- end:apply -->');
  const section = L.join('\n');

  const docFile = path.join(root, 'docs', 'results.md');
  const doc = await readFile(docFile, 'utf8');
  const b = doc.indexOf('<!-- begin:apply -->');
  const e = doc.indexOf('<!-- end:apply -->');
  const next = b >= 0 && e > b ? doc.slice(0, b) + section + doc.slice(e + '<!-- end:apply -->'.length) : `${doc.replace(/\n*$/, '\n\n')}${section}\n`;
  await writeFile(`${docFile}.tmp`, next);
  await rename(`${docFile}.tmp`, docFile);
  console.error(`docs/results.md: the apply section (${rows.length} rows)`);
}

// ---- run the steps ----
const rows: { p: Perturbation; fit: string; m: Measured }[] = [];
const variantRows: { p: Perturbation; fit: string; extra: string[]; m: Measured }[] = [];
/** `--refine` (apply's back-projection steps, default 4) measured on the single-model SGA perturbation, --fit photo. */
const REFINE_OF = `sga-single-${A}`;
const REFINES = ['0', '16'];
const refineRows: { refine: string; m: Measured }[] = [];
const missing: string[] = [];
try {
  const base = await baseline();
  for (const p of PERTURBATIONS) {
    if (only && !only.includes(p.name)) continue;
    if (!(await ensurePerturbation(p))) {
      missing.push(p.name);
      continue;
    }
    for (const fit of FITS) {
      const m = await measure(p, fit);
      if (m) rows.push({ p, fit, m });
    }
    if (p.name === REFINE_OF) {
      for (const r of REFINES) {
        const m = await measure(p, 'photo', ['--refine', r]);
        if (m) refineRows.push({ refine: r, m });
      }
    }
    if (p === PERTURBATIONS[0]) {
      for (const v of VARIANTS) {
        const m = await measure(p, v.fit, v.extra);
        if (m) variantRows.push({ p, ...v, m });
      }
    }
  }
  await writeSection(base);
} finally {
  for (const m of models ?? []) m.dispose();
}
