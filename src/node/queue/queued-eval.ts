import { lpNorm } from '../../attacks/project.js';
import { UapError } from '../../errors.js';
import { addCounts, concatShards, ratesOf, shardRanges, type ShardCounts } from '../../eval/shard-counts.js';
import type { TransferCell, TransferMatrix, TransferRow } from '../../eval/transfer.js';
import type { Coordinator, RunJobsOptions } from './coordinator.js';
import { decodeI32, encodeF32, type DataRef, type EvalJob, type EvalResult, type ModelInfo, type PerturbationRef, type RowResult } from './jobs.js';
import { datasetSize } from './shard-data.js';

/**
 * Evaluations over the queue: the data cut into shards, one job per shard, the shards' counts added in shard
 * order (src/eval/shard-counts.ts), so every rate equals the one `evaluatePerturbation` computes on one machine.
 */

/** A sharded evaluation: what every shard job gets, and how the data are cut. */
export interface QueuedEvalRequest extends DataRef {
  perturbations: PerturbationRef[];
  batchSize: number;
  /** Images per job (rounded up to a multiple of batchSize). */
  shardSize: number;
  clip: boolean;
  resize?: boolean;
  target?: string;
  /** Per-image top-1 back (clean and on x + the first perturbation). */
  predictions?: boolean;
  labelNames?: boolean;
}

/** The shards' results added up (counts, per-image top-1 when asked), with the model the workers opened. */
export interface QueuedEvaluation extends ModelInfo {
  counts: ShardCounts;
  rows: RowResult[];
  top1?: number;
  top5?: number;
  target?: number;
  targetName?: string;
  cleanPred?: Int32Array;
  pertPred?: Int32Array;
  labels?: { ids: string[]; names: string[] };
  shards: number;
}

/** A perturbation as a job carries it (base64 float32). */
export function perturbationRef(v: Float32Array, shape: readonly number[], norm: PerturbationRef['norm'] = 'inf'): PerturbationRef {
  return { v: encodeF32(v), shape: [shape[0]!, shape[1]!, shape[2]!], norm };
}

/** Cuts the data into shards, queues one eval job per shard, and adds the results in shard order. */
export async function queuedEvaluate(coord: Coordinator, req: QueuedEvalRequest, opts: RunJobsOptions = {}): Promise<QueuedEvaluation> {
  const ref: DataRef = { model: req.model, data: req.data, seed: req.seed, ...(req.limit === undefined ? {} : { limit: req.limit }), ...(req.modelsDir ? { modelsDir: req.modelsDir } : {}) };
  const n = await datasetSize(ref);
  const shards = shardRanges(n, req.shardSize, req.batchSize);
  const jobs = shards.map((s) => {
    const data: EvalJob = {
      kind: 'eval',
      ...ref,
      run: coord.run,
      shard: s.shard,
      start: s.start,
      end: s.end,
      batchSize: req.batchSize,
      clip: req.clip,
      perturbations: req.perturbations,
      resize: Boolean(req.resize),
      ...(req.target === undefined ? {} : { target: req.target }),
      predictions: Boolean(req.predictions),
      labelNames: Boolean(req.labelNames) && s.shard === 0,
    };
    return { shard: s.shard, data, images: s.end - s.start };
  });
  const results = await coord.runJobs<EvalResult>(jobs, opts);
  const first = results[0]!;
  for (const r of results) {
    if (r.modelId !== first.modelId || r.inputShape.join('×') !== first.inputShape.join('×')) {
      throw new UapError('BAD_MODEL', `workers disagree on the model: ${first.modelId} (${first.inputShape.join('×')}) and ${r.modelId} (${r.inputShape.join('×')})`, req.model);
    }
  }
  const sum = (f: (r: EvalResult) => number | undefined) => (first.top1 === undefined ? undefined : results.reduce((s, r) => s + (f(r) ?? 0), 0));
  const top1 = sum((r) => r.top1);
  const top5 = sum((r) => r.top5);
  return {
    modelId: first.modelId,
    inputShape: first.inputShape,
    classes: first.classes,
    counts: addCounts(results.map((r) => r.counts)),
    rows: first.rows,
    shards: shards.length,
    ...(top1 === undefined ? {} : { top1, top5: top5! }),
    ...(first.target === undefined ? {} : { target: first.target, targetName: first.targetName! }),
    ...(req.predictions
      ? { cleanPred: concatShards(results.map((r) => decodeI32(r.cleanPred!))), pertPred: concatShards(results.map((r) => decodeI32(r.pertPred!))) }
      : {}),
    ...(first.labels ? { labels: first.labels } : {}),
  };
}

/** The transfer matrix over the queue: one sharded evaluation per model, every perturbation in each job. */
export async function queuedTransferMatrix(
  coord: Coordinator,
  rows: ReadonlyArray<TransferRow>,
  columns: ReadonlyArray<{ label: string; model: string }>,
  req: Omit<QueuedEvalRequest, 'perturbations' | 'model'>,
  opts: RunJobsOptions & { onColumn?: (column: number) => void } = {},
): Promise<TransferMatrix> {
  const perturbations = rows.map((r) => perturbationRef(r.v, r.shape, r.norm ?? 'inf'));
  const cellsByColumn: TransferCell[][] = [];
  const summaries: TransferMatrix['columns'] = [];
  for (let c = 0; c < columns.length; c++) {
    opts.onColumn?.(c);
    const e = await queuedEvaluate(coord, { ...req, model: columns[c]!.model, perturbations }, opts);
    const clean = ratesOf({ ...e.counts, perturbed: [{ fooled: 0, correctPerturbed: 0, targetHits: 0 }] });
    summaries.push({ label: columns[c]!.label, modelId: e.modelId, inputShape: e.inputShape, n: e.counts.n, accuracyClean: clean.accuracyClean });
    cellsByColumn.push(
      e.rows.map((row, r): TransferCell => {
        if (row.status === 'size-mismatch') {
          return { status: 'size-mismatch', perturbationShape: [...rows[r]!.shape], modelShape: e.inputShape, reason: row.reason };
        }
        const rates = ratesOf(e.counts, r);
        return {
          status: 'ok',
          foolingRate: rates.foolingRate,
          errorRate: rates.errorRate,
          accuracyClean: rates.accuracyClean,
          accuracyPerturbed: rates.accuracyPerturbed,
          n: rates.n,
          resized: row.resized,
        };
      }),
    );
  }
  return {
    rows: rows.map((r) => ({ label: r.label, shape: [...r.shape], norm: r.norm ?? 'inf', normValue: lpNorm(r.v, r.norm ?? 'inf') })),
    columns: summaries,
    cells: rows.map((_, r) => cellsByColumn.map((col) => col[r]!)),
    clip: req.clip,
    resize: Boolean(req.resize),
  };
}
