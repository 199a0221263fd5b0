import type { Command } from 'commander';
import path from 'node:path';
import { batchSource, serializeResult, sizeSweep, sweepSummary, SweepResultSchema, UapError, type LpNorm, type PerturbationRecord, type SweepPoint } from '../index.js';
import { openOutDir, savePerturbation, writeFileAtomic } from '../node/index.js';
import { openData, openModel } from './context.js';
import { addAlgorithm1Options, addModelAndData, addRunOptions, fmtPct, int, norm, parseAlgorithm1Options, positive, type Algorithm1Flags } from './options.js';
import { fmtErrorRate, stageBar, withInterrupts } from './progress.js';
import { perturbationRecord } from './record.js';

interface SweepFlags extends Algorithm1Flags {
  model: string;
  data: string;
  val: string;
  valLimit?: string;
  sizes: string;
  norm: string;
  xi: string;
  seed: string;
  clip: boolean;
  out: string;
  modelsDir?: string;
  json?: boolean;
}

/** `uap sweep`: fooling rate on validation images against the size of X (paper, Fig. 6). */
export function registerSweep(program: Command): void {
  const cmd = program
    .command('sweep')
    .description('compute a perturbation for several |X| (nested subsets) and measure each on validation data (paper, Fig. 6)')
    .requiredOption('--val <spec>', 'validation images the fooling rate is measured on')
    .option('--val-limit <n>', 'first n validation images of a seeded shuffle')
    .requiredOption('--sizes <list>', 'comma-separated |X| values, e.g. 50,100,200,500')
    .option('--norm <p>', 'ℓp ball: inf, 2 or 1', 'inf')
    .requiredOption('--xi <x>', 'radius ξ of the ball, pixel units');
  addAlgorithm1Options(addModelAndData(cmd, 'training images X is drawn from (mnist:train, a folder, a list file …)'))
    .option('--seed <n>', 'seed of the shuffle that picks X, of the visiting order and of --val-limit', '1')
    .requiredOption('--out <dir>', 'DIR/n-<size>/perturbation.* and DIR/sweep.json');
  addRunOptions(cmd, { clip: 'do not clip x + v to 0..255', json: 'print sweep.json on stdout' }).action(async (f: SweepFlags) => {
    const out = await sweepCommand(program, f);
    if (f.json) console.log(serializeResult(SweepResultSchema, out, 'uap sweep --json'));
  });
}

export async function sweepCommand(program: Command, f: SweepFlags): Promise<Record<string, unknown>> {
  const p: LpNorm = norm('--norm', f.norm);
  const xi = positive('--xi', f.xi);
  const seed = int('--seed', f.seed);
  const sizes = [
    ...new Set(
      f.sizes
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s !== '')
        .map((s) => int('--sizes', s, 1)),
    ),
  ].sort((a, b) => a - b);
  if (sizes.length === 0) throw new UapError('BAD_ARGUMENT', 'no sizes', '--sizes');
  const valLimit = f.valLimit === undefined ? undefined : int('--val-limit', f.valLimit, 1);
  const options = parseAlgorithm1Options(f, { norm: p, xi });

  const maxSize = sizes[sizes.length - 1]!;

  // --out checked and locked before any work (src/node/out-dir.ts): sizes are saved into it as they finish.
  const outDir = await openOutDir(f.out, 'uap sweep');
  const model = await openModel(program, f.model, f.modelsDir).catch(async (e: unknown) => {
    await outDir.release();
    throw e;
  });
  try {
    // The first max(sizes) images of a seeded shuffle; X of size n is its first n, so the sets are nested.
    const train = await openData(f.data, model, { limit: maxSize, seed, label: 'decode X' });
    if (train.n < maxSize) {
      throw new UapError('BAD_ARGUMENT', `size ${maxSize} exceeds the ${train.n} images of ${f.data}`, '--sizes');
    }
    const val = await openData(f.val, model, { limit: valLimit, seed, label: 'decode val' });
    const started = new Date().toISOString();
    const summary = {
      model: f.model,
      modelId: model.id,
      data: f.data,
      val: f.val,
      nVal: val.n,
      norm: p,
      xi,
      seed,
      clip: f.clip,
      options,
      backend: model.backend,
      createdAt: started,
      sizes: [] as Array<Record<string, unknown>>,
    };

    const makeRecord = (pt: SweepPoint): PerturbationRecord => {
      const record = perturbationRecord({
        modelId: f.model,
        model,
        v: pt.v,
        norm: p,
        xi,
        method: 'deepfool',
        options: { ...options, limit: pt.size, sweep: true, complete: true },
        seed,
        data: { spec: f.data, n: pt.size },
        clip: f.clip,
        history: pt.history,
        wallSeconds: pt.seconds,
      });
      record.foolingRateOnX = Number.isNaN(pt.foolingRateX) ? 0 : pt.foolingRateX;
      return record;
    };

    const bar = stageBar('sweep');
    const result = await withInterrupts(`finished sizes stay in ${f.out}`, (signal) =>
      sizeSweep(model, batchSource(train), batchSource(val), val.labels, {
        sizes,
        trainLabels: train.labels,
        universal: { norm: p, xi, seed, clip: f.clip, ...options },
        noShuffle: true,
        signal,
        onProgress: (e) => {
          const u = e.universal;
          if (u && u.phase === 'pass') bar.update(`${e.size}/pass${u.pass}`, u.done, u.total, `|X| = ${e.size}, pass ${u.pass}: ${u.deepfoolCalls} DeepFool calls, ${u.updates} updates`);
          else if (e.validation) bar.update(`${e.size}/val`, e.validation.done, e.validation.total, `|X| = ${e.size}: validation`);
        },
        onSizeEnd: async (pt) => {
          bar.stop();
          const dir = path.join(f.out, `n-${pt.size}`);
          await savePerturbation(dir, pt.v, model.inputShape, makeRecord(pt));
          summary.sizes.push({ ...sweepSummary(pt), dir: `n-${pt.size}` });
          const file = path.join(f.out, 'sweep.json');
          await writeFileAtomic(file, serializeResult(SweepResultSchema, summary, file) + '\n');
          console.error(
            `|X| = ${pt.size}: fooling rate on X ${fmtPct(pt.foolingRateX)}, on ${val.n} validation images ${fmtPct(pt.foolingRateVal)}; ` +
              `error rate on X ${fmtErrorRate(pt.errorRateX)}, on validation ${fmtErrorRate(pt.errorRateVal)} (${pt.passes} passes, ${pt.seconds.toFixed(1)} s)`,
          );
        },
      }),
    ).finally(() => bar.stop());
    if (result.aborted) throw new UapError('INTERRUPTED', `stopped after ${result.points.length} of ${sizes.length} sizes`, f.out);
    console.error(`saved ${path.join(f.out, 'sweep.json')}`);
    return summary;
  } finally {
    model.dispose();
    await outDir.release();
  }
}
