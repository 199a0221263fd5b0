import type { Command } from 'commander';
import path from 'node:path';
import { batchSource, DEEPFOOL_DEFAULTS, resolveDeepFoolOptions, serializeResult, subspaceAnalysis, SubspaceResultSchema, UapError, type SubspaceResult } from '../index.js';
import { openOutDir, writeFileAtomic } from '../node/index.js';
import { openData, openModel } from './context.js';
import { addImageOptions, addModelAndData, addRunOptions, asFlags, fmtPct, int, num, positive, type SharedFlags } from './options.js';
import { printResult, stageBar, type CommandOutput } from './progress.js';

interface SubspaceFlags extends SharedFlags {
  val?: string;
  valLimit?: string;
  dims: string;
  xi: string;
  samples: string;
  candidates: string;
  overshoot: string;
  maxIterDeepfool: string;
  deepfoolBatch: string;
  maxImages?: string;
  out: string;
}

/** `uap subspace`: the paper's Section 4 — singular values of DeepFool normals, fooling rate of their span. */
export function registerSubspace(program: Command): void {
  const cmd = addModelAndData(program.command('subspace').description('singular values of the decision-boundary normals and the fooling rate of random vectors of their top subspace (paper, Sec. 4, Fig. 9)'), 'images whose DeepFool normals are collected')
    .option('--val <spec>', 'images the random perturbations are measured on (default: --data)')
    .option('--val-limit <n>', 'first n of --val')
    .option('--dims <list>', "subspace dimensions d′, comma-separated", '10,50,100')
    .requiredOption('--xi <x>', 'ℓ2 norm of the random perturbations, pixel units (paper: 2000 on 224×224×3)')
    .option('--samples <n>', 'random vectors per d′ (fooling rates averaged)', '5')
    .option('--candidates <n>', 'DeepFool: classes considered', String(DEEPFOOL_DEFAULTS.candidates))
    .option('--overshoot <x>', 'DeepFool: overshoot', String(DEEPFOOL_DEFAULTS.overshoot))
    .option('--max-iter-deepfool <n>', 'DeepFool: iterations per image', String(DEEPFOOL_DEFAULTS.maxIter))
    .option('--deepfool-batch <n>', 'images per DeepFool call', '8')
    .option('--max-images <n>', 'refuse more images than this for the normals (Gram matrix n×n, O(n³) eigen-decomposition)', '2000')
    .requiredOption('--out <dir>', 'DIR/subspace.json');
  addImageOptions(cmd, { limit: 'first n images of a seeded shuffle', seed: 'seed of --limit and of the random vectors' });
  addRunOptions(cmd, {
    clip: 'do not clip x + v to 0..255 when measuring fooling rates',
    batchSize: 'images per forward pass when measuring',
    json: 'print subspace.json on stdout',
  }).action(async (f: SubspaceFlags) => printResult(f.json, await subspaceCommand(program, f), SubspaceResultSchema, 'uap subspace --json'));
}

export async function subspaceCommand(program: Command, f: SubspaceFlags): Promise<CommandOutput<{ result: SubspaceResult }>> {
  const seed = int('--seed', f.seed);
  const limit = f.limit === undefined ? undefined : int('--limit', f.limit, 1);
  const valLimit = f.valLimit === undefined ? undefined : int('--val-limit', f.valLimit, 1);
  const dims = f.dims
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
    .map((s) => int('--dims', s, 1));
  if (dims.length === 0) throw new UapError('BAD_ARGUMENT', 'no dimensions', '--dims');
  const xi = positive('--xi', f.xi);
  const samples = int('--samples', f.samples, 1);
  const normals = {
    candidates: num('--candidates', f.candidates),
    overshoot: num('--overshoot', f.overshoot),
    maxIter: num('--max-iter-deepfool', f.maxIterDeepfool),
    batchSize: num('--deepfool-batch', f.deepfoolBatch),
  };
  asFlags(() => resolveDeepFoolOptions(normals), { maxIter: '--max-iter-deepfool', batchSize: '--deepfool-batch' });
  const batchSize = int('--batch-size', f.batchSize, 1);
  const maxImages = int('--max-images', f.maxImages ?? '2000', 1);

  // Check before decoding where the size is known (MNIST: 10,000 or 60,000 digits); the library checks the rest.
  if ((limit ?? (/^mnist:/i.test(f.data.trim()) ? 10_000 : 0)) > maxImages) {
    throw new UapError('BAD_ARGUMENT', `give --limit ≤ ${maxImages}: normals are collected on every image and the Gram matrix is n×n`, '--limit');
  }

  // --out checked and locked before any work (not a file, writable, not full): the analysis is long.
  const outDir = await openOutDir(f.out, 'uap subspace');
  const model = await openModel(program, f.model, f.modelsDir).catch(async (e: unknown) => {
    await outDir.release();
    throw e;
  });
  try {
    const data = await openData(f.data, model, { limit, seed });
    const val = f.val ? await openData(f.val, model, { limit: valLimit, seed, label: 'decode val' }) : undefined;
    const bar = stageBar('subspace');
    const started = Date.now();
    const { basis: _basis, ...result } = await subspaceAnalysis(
      model,
      batchSource(data),
      {
        dims,
        xi,
        samples,
        seed,
        clip: f.clip,
        evalBatchSize: batchSize,
        maxImages,
        normals,
        onProgress: (e) => {
          if (e.phase === 'spectrum') {
            bar.stop();
            console.error('singular values (Gram matrix eigen-decomposition) …');
            return;
          }
          const status = e.phase === 'normals' ? `DeepFool normals (${e.converged} converged)` : e.what;
          bar.update(e.phase === 'normals' ? 'normals' : e.what, e.done, e.total, status);
        },
      },
      val ? batchSource(val) : undefined,
    );
    bar.stop();
    const json = {
      model: f.model,
      modelId: model.id,
      data: f.data,
      limit: limit ?? null,
      val: f.val ?? f.data,
      seed,
      clip: f.clip,
      deepfool: { norm: 2, ...normals },
      ...result,
      wallSeconds: (Date.now() - started) / 1000,
      createdAt: new Date().toISOString(),
    };
    const file = path.join(f.out, 'subspace.json');
    await writeFileAtomic(file, serializeResult(SubspaceResultSchema, json, file) + '\n');
    const sv = result.singularValues;
    const rsv = result.randomSingularValues;
    const at = (xs: number[], i: number) => (i < xs.length ? xs[i]!.toFixed(2) : '-');
    const idx = [0, 1, 4, 9, 49, 99, sv.length - 1].filter((i, k, a) => i >= 0 && i < sv.length && a.indexOf(i) === k);
    const lines = [
      `${result.normals} normals (of ${result.attempted} images; mean distance to the boundary ‖r‖₂ = ${result.meanDistance.toFixed(1)}), d = ${result.d}`,
      `singular values, normals vs random unit vectors (σ_i at i = ${idx.map((i) => i + 1).join(', ')}):`,
      `  normals: ${idx.map((i) => at(sv, i)).join('  ')}`,
      `  random:  ${idx.map((i) => at(rsv, i)).join('  ')}`,
      `fooling rate of random vectors with ‖v‖₂ = ${xi} on ${result.nEval} images (${samples} samples each):`,
      ...result.foolingRates.map(
        (r) => `  span of the top ${r.dim}${r.dimUsed < r.dim ? ` (rank ${r.dimUsed})` : ''} singular vectors: ${fmtPct(r.foolingRate)}`,
      ),
      `  unstructured Gaussian: ${fmtPct(result.randomFoolingRate.foolingRate)}`,
      `saved ${file}`,
    ];
    return { result, json, lines };
  } finally {
    model.dispose();
    await outDir.release();
  }
}
