import type { Command } from 'commander';
import path from 'node:path';
import { APPLY_DEFAULTS, ApplyResultSchema, renderContactSheet, serializeResult, UapError, type ApplyResultFile, type Classifier } from '../index.js';
import {
  applyToFiles,
  checkApplied,
  loadModel,
  loadPerturbation,
  lockOutDir,
  planApply,
  resolveDatasetSpec,
  writeFileAtomic,
  type AppliedFile,
  type CheckedPhoto,
  type Fit,
} from '../node/index.js';
import { initCliBackend } from './backend.js';
import { fmtPct, int, num } from './options.js';
import { progressBar, withInterrupts } from './progress.js';

interface ApplyFlags {
  perturbation: string;
  out: string;
  data?: string;
  fit: string;
  quality?: string;
  chroma: string;
  stripMetadata?: boolean;
  refine: string;
  bound: string;
  cropFraction: string;
  check?: boolean;
  model?: string;
  modelsDir?: string;
  json?: boolean;
}

/** The files apply.json and the contact sheet go to, inside --out. */
export const APPLY_FILES = { json: 'apply.json', sheet: 'contact-sheet.html' } as const;

/** `uap apply`: a perturbed copy of every photo at its own size and format; --check reads the copies back. */
export function registerApply(program: Command): void {
  program
    .command('apply')
    .description('write a perturbed copy of every photo, at its own size, format, orientation and colour profile, into --out')
    .argument('[photos...]', 'photo files (JPEG, PNG, WebP); or give --data')
    .requiredOption('--perturbation <file>', 'perturbation.npy (or its folder)')
    .requiredOption('--out <dir>', 'folder for the copies (never an input folder; copies already there are skipped)')
    .option('--data <spec>', 'a folder, a list file, or comma-separated files, instead of PHOTOS')
    .option('--fit <mode>', 'photo: v covers the whole photo and survives the model’s resize and crop; crop: only the region the model sees', 'photo')
    .option('--quality <q>', 'JPEG / lossy WebP quality 1–100 (default: the source’s, estimated from its quantisation tables)')
    .option('--chroma <mode>', 'JPEG chroma subsampling of the copies: source (keep the photo’s), 4:2:0 (smaller files; what the models see hardly changes) or 4:4:4', 'source')
    .option('--strip-metadata', 'drop EXIF (incl. GPS), XMP, IPTC and text; the colour profile stays')
    .option('--refine <n>', 'back-projection steps that make the model’s view of the copy match v (0: plain bilinear rescale)', String(APPLY_DEFAULTS.refine))
    .option('--bound <k>', 'change a pixel by at most k·‖v‖∞ (1 keeps the bound of v; 1.5 lets the model see v more exactly)', '1')
    .option('--crop-fraction <f>', 'the crop fraction the model input is made with', '0.875')
    .option('--check', 'read every copy back: top-1 before/after per --model, PSNR, SSIM, sizes; writes apply.json and contact-sheet.html')
    .option('--model <list>', 'with --check (and --fit crop): comma-separated models (zoo names, folders, model.json, .tflite)')
    .option('--models-dir <dir>', 'local model mirror (default: env UAP_MODELS_DIR)')
    .option('--json', 'print apply.json on stdout')
    .action(async (photos: string[], f: ApplyFlags) => {
      const { result, lines } = await applyCommand(program, photos, f);
      if (f.json) console.log(serializeResult(ApplyResultSchema, result, 'uap apply --json'));
      else for (const l of lines) console.log(l);
      if (result.failed > 0) process.exitCode = 3;
    });
}

function settings(photos: string[], f: ApplyFlags) {
  if (f.fit !== 'photo' && f.fit !== 'crop') throw new UapError('BAD_ARGUMENT', `must be photo or crop, got "${f.fit}"`, '--fit');
  const quality = f.quality === undefined ? undefined : int('--quality', f.quality, 1);
  if (quality !== undefined && quality > 100) throw new UapError('BAD_ARGUMENT', `must be 1–100, got ${f.quality}`, '--quality');
  if (f.chroma !== 'source' && f.chroma !== '4:2:0' && f.chroma !== '4:4:4') throw new UapError('BAD_ARGUMENT', `must be source, 4:2:0 or 4:4:4, got "${f.chroma}"`, '--chroma');
  const refine = int('--refine', f.refine, 0);
  const bound = num('--bound', f.bound);
  if (!(bound > 0)) throw new UapError('BAD_ARGUMENT', `must be > 0, got ${f.bound}`, '--bound');
  const cropFraction = num('--crop-fraction', f.cropFraction);
  if (!(cropFraction > 0 && cropFraction <= 1)) throw new UapError('BAD_ARGUMENT', `must be in (0, 1], got ${f.cropFraction}`, '--crop-fraction');
  if (photos.length > 0 && f.data) throw new UapError('BAD_ARGUMENT', 'give photos or --data, not both', '--data');
  if (photos.length === 0 && !f.data) throw new UapError('BAD_ARGUMENT', 'no photos: give photo files or --data SPEC', 'photos');
  const models = f.model ? f.model.split(',').map((m) => m.trim()).filter((m) => m !== '') : [];
  if (f.check && models.length === 0) throw new UapError('BAD_ARGUMENT', 'needs --model M[,M2…] to check the copies with', '--check');
  if (!f.check && models.length > 0 && f.fit !== 'crop') throw new UapError('BAD_ARGUMENT', 'is used by --check and --fit crop only', '--model');
  return { fit: f.fit as Fit, quality, chroma: f.chroma as 'source' | '4:2:0' | '4:4:4', refine, bound, cropFraction, models };
}

function maxAbs(v: Float32Array): number {
  let m = 0;
  for (const a of v) m = Math.max(m, Math.abs(a));
  return m;
}

async function inputFiles(photos: string[], data?: string): Promise<string[]> {
  if (!data) return photos;
  const spec = await resolveDatasetSpec(data);
  if (spec.kind === 'mnist') throw new UapError('BAD_ARGUMENT', 'MNIST has no photo files to copy (give a folder, a list or files)', '--data');
  return spec.entries.map((e) => e.file);
}

export async function applyCommand(program: Command, photos: string[], f: ApplyFlags): Promise<{ result: ApplyResultFile; lines: string[] }> {
  // Every flag, the perturbation and the output folder are checked before any model loads or photo is read.
  const s = settings(photos, f);
  const p = await loadPerturbation(f.perturbation);
  const files = await inputFiles(photos, f.data);
  const plan = await planApply(files, f.out);
  const unlock = await lockOutDir(plan.outDir);

  const models: Classifier[] = [];
  try {
    if (s.models.length > 0) {
      await initCliBackend(program);
      for (const name of s.models) {
        const m = await loadModel(name, { modelsDir: f.modelsDir });
        models.push(m);
        console.error(`model: ${m.id} (input ${m.inputShape.join('×')})`);
        if (s.fit === 'crop' && m.inputShape.some((d, i) => d !== p.shape[i])) {
          throw new UapError('BAD_INPUT', `is ${p.shape.join('×')}, but ${m.id} sees ${m.inputShape.join('×')}: --fit crop puts v on the model's own crop, so it must be that size`, f.perturbation);
        }
      }
    }
    const bar = progressBar('apply');
    bar.start(plan.items.length, 0, { status: '' });
    const failures: string[] = [];
    const results: AppliedFile[] = await withInterrupts(`the copies written so far are complete in ${f.out}; rerun to finish`, (signal) =>
      applyToFiles(plan, {
        v: p.data,
        vShape: p.shape,
        outDir: plan.outDir,
        fit: s.fit,
        quality: s.quality,
        chroma: s.chroma,
        stripMetadata: f.stripMetadata,
        refine: s.refine,
        cropFraction: s.cropFraction,
        limit: s.bound * maxAbs(p.data),
        signal,
        onPhoto: (r, done) => {
          if (r.status === 'failed') failures.push(`uap: ${r.error}`);
          bar.update(done, { status: path.basename(r.input) });
        },
      }),
    ).finally(() => bar.stop());
    for (const line of failures) console.error(line);
    if (results.length < plan.items.length) {
      throw new UapError('INTERRUPTED', `interrupted after ${results.length} of ${plan.items.length} photos; rerun to finish (done copies are skipped)`, f.out);
    }

    let checked: CheckedPhoto[] = results;
    if (f.check) {
      const cbar = progressBar('check');
      cbar.start(results.length, 0, { status: '' });
      checked = await checkApplied(results, models, { onPhoto: (done) => cbar.update(done) }).finally(() => cbar.stop());
    }
    const count = (st: AppliedFile['status']) => results.filter((r) => r.status === st).length;
    const photosOut = checked.map(({ thumbs: _t, ...r }) => r);
    const changedRate: Record<string, number> | undefined = f.check
      ? Object.fromEntries(
          models.map((m, i) => {
            const seen = photosOut.filter((r) => r.checks);
            return [m.id, seen.length === 0 ? 0 : seen.filter((r) => r.checks![i]!.changed).length / seen.length];
          }),
        )
      : undefined;
    const result: ApplyResultFile = {
      perturbation: f.perturbation,
      vShape: [...p.shape] as [number, number, number],
      fit: s.fit,
      quality: s.quality ?? null,
      chroma: s.chroma,
      stripMetadata: Boolean(f.stripMetadata),
      outDir: f.out,
      n: results.length,
      written: count('written'),
      skipped: count('skipped'),
      failed: count('failed'),
      ...(changedRate ? { changedRate } : {}),
      photos: photosOut,
    };
    const lines = [`${result.written} copies written, ${result.skipped} already there, ${result.failed} failed, in ${f.out}`];
    if (f.check) {
      const json = serializeResult(ApplyResultSchema, result, APPLY_FILES.json);
      await writeFileAtomic(path.join(plan.outDir, APPLY_FILES.json), json + '\n');
      await writeFileAtomic(path.join(plan.outDir, APPLY_FILES.sheet), renderContactSheet(result, checked.map((c) => c.thumbs)));
      const ok = photosOut.filter((r) => r.ssim !== undefined);
      const med = (xs: number[]) => (xs.length === 0 ? NaN : [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!);
      const ssims = ok.map((r) => r.ssim!);
      const psnrs = ok.map((r) => r.psnr ?? Infinity);
      for (const [m, r] of Object.entries(changedRate!)) lines.push(`  ${m}: top-1 changed on ${fmtPct(r)} of ${ok.length} photos`);
      lines.push(`  SSIM median ${med(ssims).toFixed(4)}, worst ${Math.min(...ssims).toFixed(4)}; PSNR median ${med(psnrs).toFixed(1)} dB, worst ${Math.min(...psnrs).toFixed(1)} dB`);
      lines.push(`  ${APPLY_FILES.json} and ${APPLY_FILES.sheet} in ${f.out}`);
    }
    return { result, lines };
  } finally {
    for (const m of models) m.dispose();
    await unlock();
  }
}
