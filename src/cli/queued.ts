import { existsSync } from 'node:fs';
import path from 'node:path';
import {
  dominantLabels,
  formatDominantLabels,
  lpNorm,
  ratesOf,
  UapError,
  type Classifier,
  type DominantLabels,
  type ImageSource,
  type Labels,
  type SgdEngineFactory,
  type TransferMatrix,
  type TransferRow,
} from '../index.js';
import {
  Coordinator,
  loadPerturbation,
  openIndexedData,
  perturbationRef,
  queuedEvaluate,
  queuedSgdEngine,
  queuedTransferMatrix,
  redactUrl,
  type QueuedEvaluation,
} from '../node/index.js';
import { fmtPct, int, type SharedFlags } from './options.js';
import { fmtErrorRate, fmtMeasures, progressBar } from './progress.js';

/**
 * The `--queue URL` branches of eval, labels, transfer and compute: the same output as the local commands,
 * computed by `uap worker` processes (src/node/queue). For eval, labels and transfer this process loads neither
 * model nor data: it counts the images, sends jobs and adds up what comes back.
 */

export interface QueueFlags {
  queue?: string;
  shardSize?: string;
  gradShards?: string;
}

const SHARD_SIZE = '512';
const GRAD_SHARDS = '4';

/** --queue and --shard-size (and, for compute, --grad-shards). */
export function addQueueOptions<T extends { option: (flags: string, description: string, value?: string) => T }>(cmd: T, o: { gradients?: boolean } = {}): T {
  cmd
    .option('--queue <url>', 'run on `uap worker` processes: redis://HOST:PORT, redis://:PASSWORD@HOST:PORT or rediss://… (TLS)')
    .option('--shard-size <n>', 'with --queue: images per prediction job (rounded up to a multiple of the batch size)', SHARD_SIZE);
  return o.gradients ? cmd.option('--grad-shards <k>', 'sgd, sga with --queue: jobs per minibatch gradient', GRAD_SHARDS) : cmd;
}

/** Paths that exist here travel as absolute paths (workers on this machine may run elsewhere); names travel as they are. */
export function portable(nameOrPath: string): string {
  if (/^[a-z][a-z0-9+.-]*:/i.test(nameOrPath) && !/^[a-z]:[\\/]/i.test(nameOrPath)) return nameOrPath; // mnist:test, https://…
  return existsSync(nameOrPath) ? path.resolve(nameOrPath) : nameOrPath;
}

/** Opens the queue, runs `body`, closes; Ctrl-C aborts `body` (its jobs are removed) and exits 130. */
export async function withQueue<T>(url: string, body: (coord: Coordinator, signal: AbortSignal) => Promise<T>): Promise<T> {
  const coord = await Coordinator.open(url);
  const controller = new AbortController();
  const onSigint = () => {
    console.error('\ninterrupt: removing this run\'s jobs from the queue');
    controller.abort();
  };
  process.once('SIGINT', onSigint);
  try {
    const workers = (await coord.queue.getWorkers()).length;
    console.error(`queue: ${redactUrl(url)}, ${workers} worker${workers === 1 ? '' : 's'} connected${workers === 0 ? ' (jobs wait until one starts: uap worker --queue URL)' : ''}`);
    return await body(coord, controller.signal);
  } finally {
    process.off('SIGINT', onSigint);
    await coord.close();
  }
}

function bar(label: string) {
  const b = progressBar(label);
  let started = false;
  return {
    onProgress: (done: number, total: number) => {
      if (!started) b.start(total, 0, { status: 'on the queue' });
      started = true;
      b.update(done, { status: 'on the queue' });
    },
    stop: () => started && b.stop(),
  };
}

interface QueuedFlags extends Omit<SharedFlags, 'json'> {
  queue: string;
  shardSize?: string | undefined;
}

function common(f: QueuedFlags) {
  const limit = f.limit === undefined ? undefined : int('--limit', f.limit, 1);
  return {
    model: portable(f.model),
    data: portable(f.data),
    seed: int('--seed', f.seed),
    ...(limit === undefined ? {} : { limit }),
    ...(f.modelsDir ? { modelsDir: path.resolve(f.modelsDir) } : {}),
    batchSize: int('--batch-size', f.batchSize, 1),
    shardSize: int('--shard-size', f.shardSize ?? SHARD_SIZE, 1),
    clip: f.clip,
  };
}

function checkFits(e: QueuedEvaluation, shape: readonly number[], file: string): void {
  if (e.rows[0]?.status === 'size-mismatch') {
    throw new UapError('BAD_INPUT', `the perturbation is ${shape.join('×')}, the model ${e.modelId} expects ${e.inputShape.join('×')}`, file);
  }
}

/** `uap eval --queue`: --perturbation or plain accuracy (--random needs the model's shape: use it locally). */
export async function queuedEvalCommand(
  f: QueuedFlags & { perturbation?: string; random?: string; target?: string },
): Promise<Record<string, unknown> & { lines: string[] }> {
  if (f.random) throw new UapError('BAD_ARGUMENT', 'random noise is evaluated locally; save it with --perturbation instead, or drop --queue', '--random');
  const c = common(f);
  const p = f.perturbation ? await loadPerturbation(f.perturbation) : undefined;
  for (const w of p?.warnings ?? []) console.error(`warning: ${w}`);
  return withQueue(f.queue, async (coord, signal) => {
    const b = bar('eval');
    const e = await queuedEvaluate(
      coord,
      { ...c, perturbations: p ? [perturbationRef(p.data, p.shape, p.record?.norm ?? 'inf')] : [], ...(f.target === undefined ? {} : { target: f.target }) },
      { signal, onProgress: b.onProgress },
    ).finally(b.stop);
    console.error(`${e.counts.n} images in ${e.shards} shards`);
    if (!p) {
      const top1 = e.top1! / e.counts.labelled;
      const top5 = e.top5! / e.counts.labelled;
      return {
        model: e.modelId,
        data: f.data,
        n: e.counts.n,
        labelled: e.counts.labelled,
        accuracyTop1: top1,
        accuracyTop5: top5,
        lines: [`${e.modelId} on ${f.data}: top-1 ${fmtPct(top1)}, top-5 ${fmtPct(top5)} (${e.counts.labelled} labelled of ${e.counts.n})`],
      };
    }
    checkFits(e, p.shape, f.perturbation!);
    const r = ratesOf(e.counts);
    const what = f.perturbation!;
    // As the local eval: the size of what was measured, and what its record says.
    const normInf = lpNorm(p.data, 'inf');
    const norm2 = lpNorm(p.data, 2);
    return {
      model: e.modelId,
      data: f.data,
      perturbation: what,
      clip: f.clip,
      n: r.n,
      labelled: r.labelled,
      foolingRate: r.foolingRate,
      errorRate: r.errorRate,
      accuracyClean: r.accuracyClean,
      accuracyPerturbed: r.accuracyPerturbed,
      normInf,
      norm2,
      ...(p.record ? { recordNorm: p.record.norm, recordXi: p.record.xi } : {}),
      ...(e.target === undefined ? {} : { target: e.target, targetName: e.targetName, targetSuccess: r.targetSuccess }),
      lines: [
        ...(e.target === undefined ? [] : [`  sent to target ${e.targetName}: ${fmtPct(r.targetSuccess)}`]),
        `${what} on ${e.modelId}, ${f.data} (n = ${r.n}; x + v ${f.clip ? 'clipped' : 'not clipped'} to 0..255):`,
        `  ‖v‖∞ ${normInf.toFixed(2)}, ‖v‖₂ ${norm2.toFixed(1)} (pixels)${p.record ? `; its record: ξ = ${p.record.xi} (ℓ${p.record.norm === 'inf' ? '∞' : p.record.norm})` : ''}`,
        `  fooling rate        ${fmtPct(r.foolingRate)}   (top-1 on x + v differs from top-1 on x; the paper's measure)`,
        `  error rate          ${fmtErrorRate(r.errorRate)}${Number.isNaN(r.errorRate) ? '' : `   (top-1 on x + v is not the true label, over ${r.labelled} labelled; = 1 − perturbed accuracy)`}`,
        `  accuracy, clean     ${fmtPct(r.accuracyClean)}`,
        `  accuracy, perturbed ${fmtPct(r.accuracyPerturbed)}`,
      ],
    };
  });
}

/** `uap labels --queue`: per-image top-1 come back with the counts; dominant labels as locally. */
export async function queuedLabelsCommand(
  f: QueuedFlags & { perturbation: string; top: string; resize?: boolean },
): Promise<{ dominant: DominantLabels; json: Record<string, unknown>; lines: string[] }> {
  const top = int('--top', f.top, 1);
  const c = common(f);
  const p = await loadPerturbation(f.perturbation);
  return withQueue(f.queue, async (coord, signal) => {
    const b = bar('labels');
    const e = await queuedEvaluate(
      coord,
      { ...c, perturbations: [perturbationRef(p.data, p.shape, p.record?.norm ?? 'inf')], resize: Boolean(f.resize), predictions: true, labelNames: true },
      { signal, onProgress: b.onProgress },
    ).finally(b.stop);
    checkFits(e, p.shape, f.perturbation);
    const labels: Labels | undefined = e.labels;
    const dominant = dominantLabels(e.cleanPred!, e.pertPred!, labels, top);
    const { foolingRate, errorRate } = ratesOf(e.counts);
    return {
      dominant,
      json: { model: e.modelId, perturbation: f.perturbation, data: f.data, foolingRate, errorRate, ...dominant },
      lines: [`${f.perturbation} on ${e.modelId}, ${f.data}: ${fmtMeasures(foolingRate, errorRate)} (n = ${e.counts.n})`, ...formatDominantLabels(dominant)],
    };
  });
}

/** `uap transfer --queue`: one sharded evaluation per model with every perturbation in each job. */
export async function queuedTransferMatrixCommand(
  f: Omit<QueuedFlags, 'model'> & { resize?: boolean },
  rows: ReadonlyArray<TransferRow>,
  columns: ReadonlyArray<{ label: string; model: string }>,
): Promise<TransferMatrix> {
  const c = common({ ...f, model: '' });
  return withQueue(f.queue, async (coord, signal) => {
    const b = bar('transfer');
    const matrix = await queuedTransferMatrix(
      coord,
      rows,
      columns.map((col) => ({ label: col.label, model: portable(col.model) })),
      { ...c, resize: Boolean(f.resize) },
      { signal, onProgress: b.onProgress, onColumn: (j) => console.error(`model ${j + 1} of ${columns.length}: ${columns[j]!.label}`) },
    ).finally(b.stop);
    return matrix;
  });
}

/**
 * `uap compute --method sga|sgd --queue`: the attack runs here (order, steps, checkpoints); predictions and
 * minibatch gradients run on the workers (src/node/queue/sgd-engine.ts). Images are decoded here only when
 * the attack asks for them (one, for its shape check).
 */
export async function openQueuedSgd(
  f: { queue?: string; method: string; model: string; data: string; modelsDir?: string; shardSize?: string; gradShards?: string },
  model: Classifier,
  o: { limit?: number | undefined; seed: number },
): Promise<{ source: ImageSource; options: { engine: SgdEngineFactory }; close: () => Promise<void> }> {
  if (f.method !== 'sgd' && f.method !== 'sga') throw new UapError('BAD_ARGUMENT', 'only --method sga or sgd run on the queue (Algorithm 1 visits images one after another)', '--queue');
  const shardSize = int('--shard-size', f.shardSize ?? SHARD_SIZE, 1);
  const gradientShards = int('--grad-shards', f.gradShards ?? GRAD_SHARDS, 1);
  const ref = {
    model: portable(f.model),
    data: portable(f.data),
    seed: o.seed,
    ...(o.limit === undefined ? {} : { limit: o.limit }),
    ...(f.modelsDir ? { modelsDir: path.resolve(f.modelsDir) } : {}),
  };
  const coord = await Coordinator.open(f.queue!);
  try {
    const workers = (await coord.queue.getWorkers()).length;
    console.error(`queue: ${redactUrl(f.queue!)}, ${workers} worker${workers === 1 ? '' : 's'} connected`);
    const source = await openIndexedData(ref, model.inputShape, model.labels);
    const engine = queuedSgdEngine(coord, ref, { n: source.size, gradientShards, shardSize });
    return { source, options: { engine }, close: () => coord.close() };
  } catch (e) {
    await coord.close();
    throw e;
  }
}
