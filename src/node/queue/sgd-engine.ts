import type { GradientRequest, SgdEngine, SgdEngineFactory, SgdEngineSettings } from '../../attacks/sgd-engine.js';
import { checkAugment, drawsPerImage, isIdentity } from '../../data/augment.js';
import { UapError } from '../../errors.js';
import { concatShards, shardRanges, sumGradients } from '../../eval/shard-counts.js';
import type { Coordinator } from './coordinator.js';
import { decodeF32, decodeI32, encodeF32, encodeI32, type DataRef, type GradientJob, type GradientResult, type PredictJob, type PredictResult } from './jobs.js';

/**
 * The SGD attack's engine on the queue (the hook is src/attacks/sgd-engine.ts). Each minibatch is cut into
 * `gradientShards` contiguous pieces, one job each, all carrying the current v and its version (the step
 * number); the coordinator adds the pieces' Σ ∂J/∂v in piece order. The split depends only on the settings,
 * never on how many workers are up, so a rerun adds the same numbers in the same order. The attack's own
 * state (visiting order, schedule, projection, augmentation draws) stays here: with --augment the coordinator
 * draws each image's numbers (drawsPerImage) from its stream, exactly as a local run would, and sends them along.
 * Predictions (clean, and the fooling rate on X after each epoch) are sharded like `uap eval --queue`.
 */

/** The queued SGD engine's size of X and its job sizes. */
export interface QueuedSgdOptions {
  /** Images of X (after --limit). */
  n: number;
  /** Jobs per minibatch gradient (default 4). */
  gradientShards?: number;
  /** Images per prediction job (default 512, rounded up to a multiple of the eval batch). */
  shardSize?: number;
}

/** The jobs' results, or null when the attack was stopped (its jobs are then removed from the queue). */
async function orNull<R>(work: Promise<R>): Promise<R | null> {
  try {
    return await work;
  } catch (e) {
    if (e instanceof UapError && e.code === 'INTERRUPTED') return null;
    throw e;
  }
}

/** An SgdEngineFactory whose predictions and minibatch gradients run on queue workers (see the top of this file). */
export function queuedSgdEngine(coord: Coordinator, ref: DataRef, opts: QueuedSgdOptions): SgdEngineFactory {
  return (settings: SgdEngineSettings): SgdEngine => {
    if (settings.augment?.jpeg) throw new UapError('BAD_ARGUMENT', 'the jpeg augmentation runs in the local engine only (not on queue workers)', 'augment');
    for (const view of ['shift', 'rotate', 'color'] as const) {
      if (settings.augment?.[view] !== undefined && settings.augment[view] !== false) throw new UapError('BAD_ARGUMENT', `the ${view} augmentation runs in the local engine only (not on queue workers)`, 'augment');
    }
    const augment = settings.augment && !isIdentity(settings.augment) ? checkAugment(settings.augment) : undefined;
    const pieces = opts.gradientShards ?? 4;
    const per = drawsPerImage(augment); // numbers per image and step: 4 (crop box, mirror), + resize, + noise
    let step = 0;
    const run = <R>(jobs: Parameters<Coordinator['runJobs']>[0], onProgress?: (done: number) => void) =>
      orNull(coord.runJobs<R>(jobs, { ...(settings.signal ? { signal: settings.signal } : {}), ...(onProgress ? { onProgress } : {}) }));

    return {
      predict: async (v, onProgress) => {
        const shards = shardRanges(opts.n, opts.shardSize ?? 512, settings.evalBatchSize);
        const vText = v ? encodeF32(v) : null;
        const jobs = shards.map((s) => {
          const data: PredictJob = { kind: 'predict', ...ref, run: coord.run, shard: s.shard, start: s.start, end: s.end, batchSize: settings.evalBatchSize, clip: settings.clip, v: vText };
          return { shard: s.shard, data, images: s.end - s.start };
        });
        const results = await run<PredictResult>(jobs, onProgress);
        if (results === null) return null;
        return concatShards(results.map((r) => decodeI32(r.pred)));
      },

      gradient: async (request: GradientRequest) => {
        const version = step++;
        const b = request.indices.length;
        const draws = augment ? Array.from({ length: per * b }, () => settings.augmentRng()) : undefined;
        const size = Math.ceil(b / Math.min(pieces, b));
        const vText = encodeF32(request.v);
        const jobs = [];
        for (let start = 0, shard = 0; start < b; start += size, shard++) {
          const end = Math.min(b, start + size);
          const data: GradientJob = {
            kind: 'gradient',
            ...ref,
            run: coord.run,
            step: version,
            shard,
            v: vText,
            indices: encodeI32(request.indices.slice(start, end)),
            cls: encodeI32(request.cls.slice(start, end)),
            batchSize: request.batchSize,
            loss: settings.loss,
            kappa: settings.kappa,
            beta: settings.beta,
            targeted: settings.targeted,
            clip: settings.clip,
            ...(augment && draws ? { augment, draws: draws.slice(per * start, per * end) } : {}),
          };
          jobs.push({ shard, data, images: end - start });
        }
        const results = await run<GradientResult>(jobs);
        if (results === null) return null;
        for (const r of results) {
          if (r.step !== version) throw new Error(`a gradient for step ${r.step} arrived for step ${version}`);
        }
        return { grad: sumGradients(results.map((r) => decodeF32(r.grad))), lossSum: results.reduce((s, r) => s + r.lossSum, 0) };
      },
    };
  };
}
