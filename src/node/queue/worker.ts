import { UnrecoverableError, Worker, type Job } from 'bullmq';
import os from 'node:os';
import { batchGradient } from '../../attacks/sgd-engine.js';
import { range, type ImageSource } from '../../data/image-source.js';
import { augmentImages } from '../../data/augment.js';
import { UapError } from '../../errors.js';
import { accuracy } from '../../eval/accuracy.js';
import { evaluatePerturbation } from '../../eval/fooling-rate.js';
import { predict } from '../../models/predict.js';
import { countShard } from '../../eval/shard-counts.js';
import { resizePerturbation } from '../../eval/transfer.js';
import type { Classifier } from '../../models/classifier.js';
import { findClass } from '../../models/labels.js';
import { loadModel } from '../model-files.js';
import { checkRedis, createRedis, QUEUE_NAME, redactUrl } from './connection.js';
import {
  decodeF32,
  decodeI32,
  encodeError,
  encodeF32,
  encodeI32,
  type EvalJob,
  type EvalResult,
  type GradientJob,
  type GradientResult,
  type PredictJob,
  type PredictResult,
  type QueueJob,
  type QueueResult,
  type RowResult,
} from './jobs.js';
import { openIndexedData, type IndexedData } from './shard-data.js';

/**
 * `uap worker`: takes jobs from the queue and runs them with this machine's engine. A job names its model
 * and data (see jobs.ts); models stay loaded between jobs (one cache per process), MNIST is read once, photos
 * are decoded per shard. Deterministic failures (a model that cannot be loaded, a perturbation that does not
 * fit) fail the job at once with the UapError's text; anything else is retried by BullMQ (3 attempts). A
 * worker that dies mid-job loses its lock; another worker's stalled-job check puts the job back in the queue.
 */

/** How a worker connects and behaves (`uap worker`'s flags). */
export interface WorkerOptions {
  url: string;
  concurrency?: number;
  /** Overrides the models dir a job names. */
  modelsDir?: string;
  name?: string;
  /** How long a job's lock lasts without renewal (ms, BullMQ default 30 000): a dead worker's job is retried after it. */
  lockDuration?: number;
  /** How often workers look for stalled jobs (ms, BullMQ default 30 000). */
  stalledInterval?: number;
  /** Where log lines go (default: stderr). */
  log?: (line: string) => void;
}

/** A started worker. */
export interface RunningWorker {
  /** As `uap queue status` lists it. */
  name: string;
  /** The BullMQ Worker. */
  worker: Worker;
  /** Finishes the job in hand, then disconnects and releases the models. */
  close(): Promise<void>;
}

/** Fault injection for tests: UAP_WORKER_FAULT=throw-once:SHARD makes the first attempt of that eval shard throw. */
function injectedFault(job: Job, data: QueueJob): void {
  const m = /^throw-once:(\d+)$/.exec(process.env.UAP_WORKER_FAULT ?? '');
  if (m && data.kind === 'eval' && data.shard === Number(m[1]) && job.attemptsMade === 0) {
    throw new Error(`injected fault (UAP_WORKER_FAULT) on shard ${data.shard}`);
  }
}

/**
 * The images [start, end) of a source, as a source of their own. Each batch first yields to the event loop:
 * wasm kernels run synchronously and their promises resolve as microtasks, so without it a whole shard would
 * run without BullMQ's lock-renewal timer firing, and a busy but healthy worker would look stalled.
 */
function slice(data: IndexedData, start: number, end: number): ImageSource {
  return {
    size: end - start,
    get: async (indices) => {
      await new Promise((r) => setImmediate(r));
      return data.get(Int32Array.from(indices, (i) => i + start));
    },
  };
}

/** Replays the coordinator's augmentation draws, so a shard sees the views a local run would. */
function replay(draws: number[]): () => number {
  let k = 0;
  return () => {
    if (k >= draws.length) throw new UapError('BAD_INPUT', 'too few augmentation draws in the job', 'draws');
    return draws[k++]!;
  };
}

/** Connects (one clear line when Redis cannot be reached) and starts taking jobs. */
export async function startWorker(opts: WorkerOptions): Promise<RunningWorker> {
  const log = opts.log ?? ((line: string) => console.error(line));
  await checkRedis(opts.url);
  const name = opts.name ?? `${os.hostname()}:${process.pid}`;
  const models = new Map<string, Promise<Classifier>>();
  const control = createRedis(opts.url);
  control.on('error', () => {});

  const openModel = (model: string, modelsDir?: string): Promise<Classifier> => {
    const dir = opts.modelsDir ?? modelsDir;
    const key = JSON.stringify([model, dir ?? null]);
    let p = models.get(key);
    if (!p) {
      const t0 = Date.now();
      p = loadModel(model, dir === undefined ? {} : { modelsDir: dir });
      models.set(key, p);
      p.then(
        (c) => log(`model ${c.id} loaded (input ${c.inputShape.join('×')}) in ${((Date.now() - t0) / 1000).toFixed(1)} s`),
        () => models.delete(key),
      );
    }
    return p;
  };

  const runEval = async (job: Job, d: EvalJob, signal: AbortSignal): Promise<EvalResult> => {
    const clf = await openModel(d.model, d.modelsDir);
    const data = await openIndexedData(d, clf.inputShape, clf.labels);
    if (d.end > data.size || d.start < 0 || d.start >= d.end) {
      throw new UapError('BAD_INPUT', `shard ${d.start}..${d.end} outside the ${data.size} images`, d.data);
    }
    const source = slice(data, d.start, d.end);
    const labels = data.labelsOf(range(d.start, d.end));
    let target: number | undefined;
    if (d.target !== undefined) {
      target = findClass(clf.labels, d.target);
      if (target < 0) throw new UapError('BAD_ARGUMENT', `no class "${d.target}" in ${clf.id}'s labels`, '--target');
    }
    const info = { modelId: clf.id, inputShape: [...clf.inputShape] as [number, number, number], classes: clf.labels.ids.length };
    const extra = {
      ...(target === undefined ? {} : { target, targetName: clf.labels.names[target]! }),
      ...(d.labelNames ? { labels: { ids: [...clf.labels.ids], names: [...clf.labels.names] } } : {}),
    };
    const n = d.end - d.start;
    const rowsTotal = Math.max(1, d.perturbations.length + 1);
    const progress = (row: number, done: number) => void job.updateProgress(Math.round(((row * n + done) / rowsTotal) * 1000) / 1000).catch(() => {});

    if (d.perturbations.length === 0) {
      const acc = await accuracy(clf, source, labels, d.batchSize, (e) => progress(0, e.done * rowsTotal));
      const hits = (r: number) => (acc.labelled > 0 ? Math.round(r * acc.labelled) : 0);
      return {
        ...info,
        ...extra,
        shard: d.shard,
        counts: { n, labelled: acc.labelled, correctClean: hits(acc.top1), perturbed: [] },
        top1: hits(acc.top1),
        top5: hits(acc.top5),
        rows: [],
      };
    }
    const cleanPred = await predict(clf, source, d.batchSize);
    progress(0, n);
    const rows: RowResult[] = [];
    const pertPreds: Int32Array[] = [];
    const shape = info.inputShape;
    for (let r = 0; r < d.perturbations.length; r++) {
      const p = d.perturbations[r]!;
      let v = decodeF32(p.v);
      let resized = false;
      if (p.shape.join('×') !== shape.join('×')) {
        const channelsDiffer = p.shape[2] !== shape[2];
        if (!d.resize || channelsDiffer) {
          rows.push({ status: 'size-mismatch', reason: channelsDiffer ? 'channels-differ' : 'resize-not-requested' });
          pertPreds.push(cleanPred);
          continue;
        }
        v = resizePerturbation(v, p.shape, shape, p.norm);
        resized = true;
      }
      const e = await evaluatePerturbation(clf, source, labels, v, {
        clip: d.clip,
        batchSize: d.batchSize,
        cleanPred,
        signal,
        onProgress: (x) => progress(r + 1, x.done),
      });
      rows.push({ status: 'ok', resized });
      pertPreds.push(e.pertPred);
    }
    return {
      ...info,
      ...extra,
      shard: d.shard,
      counts: countShard(cleanPred, labels, pertPreds, target),
      rows,
      ...(d.predictions ? { cleanPred: encodeI32(cleanPred), pertPred: encodeI32(pertPreds[0]!) } : {}),
    };
  };

  const runPredict = async (d: PredictJob): Promise<PredictResult> => {
    const clf = await openModel(d.model, d.modelsDir);
    const data = await openIndexedData(d, clf.inputShape, clf.labels);
    const source = slice(data, d.start, d.end);
    if (!d.v) return { shard: d.shard, pred: encodeI32(await predict(clf, source, d.batchSize)) };
    const tf = await import('@tensorflow/tfjs');
    const vt = tf.tensor3d(decodeF32(d.v), [...clf.inputShape] as [number, number, number]);
    try {
      return { shard: d.shard, pred: encodeI32(await predict(clf, source, d.batchSize, { v: vt, clip: d.clip })) };
    } finally {
      vt.dispose();
    }
  };

  const runGradient = async (d: GradientJob): Promise<GradientResult> => {
    const clf = await openModel(d.model, d.modelsDir);
    const data = await openIndexedData(d, clf.inputShape, clf.labels);
    const indices = decodeI32(d.indices);
    await new Promise((r) => setImmediate(r));
    let x = await data.get(indices);
    if (d.augment && d.draws) {
      const a = augmentImages(x, d.augment, replay(d.draws));
      x.dispose();
      x = a;
    }
    try {
      const { grad, lossSum } = await batchGradient(clf, x, { v: decodeF32(d.v), cls: decodeI32(d.cls), batchSize: d.batchSize }, d);
      return { shard: d.shard, step: d.step, grad: encodeF32(grad), lossSum };
    } finally {
      x.dispose();
    }
  };

  const describe = (d: QueueJob): string =>
    d.kind === 'gradient'
      ? `gradient, step ${d.step}, ${decodeI32(d.indices).length} images`
      : `${d.kind}, images ${d.start}..${d.end - 1}${d.kind === 'eval' ? `, ${d.perturbations.length} perturbation(s)` : ''}`;

  const processor = async (job: Job, _token?: string, signal?: AbortSignal): Promise<QueueResult | null> => {
    const d = job.data as QueueJob;
    const what = `job ${job.id} (${describe(d)}; model ${d.model}, data ${d.data})`;
    if (await control.exists(`uap:cancelled:${d.run}`)) {
      log(`${what}: skipped, its run was cancelled`);
      return null;
    }
    const t0 = Date.now();
    if (d.kind !== 'gradient') log(`${what}: started${job.attemptsMade > 0 ? ` (attempt ${job.attemptsMade + 1})` : ''}`);
    const abort = new AbortController();
    signal?.addEventListener('abort', () => abort.abort());
    const poll = setInterval(() => {
      void control.exists(`uap:cancelled:${d.run}`).then((c) => c && abort.abort(), () => {});
    }, 1000);
    try {
      injectedFault(job, d);
      const result = d.kind === 'eval' ? await runEval(job, d, abort.signal) : d.kind === 'predict' ? await runPredict(d) : await runGradient(d);
      if (d.kind !== 'gradient') log(`${what}: done in ${((Date.now() - t0) / 1000).toFixed(2)} s`);
      return result;
    } catch (e) {
      if (e instanceof UapError) {
        log(`${what}: failed: ${e.message}`);
        throw new UnrecoverableError(encodeError(e.code, e.message));
      }
      log(`${what}: attempt ${job.attemptsMade + 1} failed (will be retried): ${(e as Error).message}`);
      throw e;
    } finally {
      clearInterval(poll);
    }
  };

  const connection = createRedis(opts.url);
  connection.on('error', () => {});
  const worker = new Worker(QUEUE_NAME, processor, {
    connection,
    concurrency: opts.concurrency ?? 1,
    name,
    lockDuration: opts.lockDuration ?? 30_000,
    stalledInterval: opts.stalledInterval ?? 30_000,
    maxStalledCount: 3,
    autorun: false,
  });
  worker.on('error', (e) => log(`worker error: ${e.message}`));
  worker.on('stalled', (jobId) => log(`job ${jobId} stalled (its worker stopped answering); it goes back to the queue`));
  void worker.run();
  await worker.waitUntilReady();
  log(`worker ${name}: waiting for jobs on ${redactUrl(opts.url)} (queue "${QUEUE_NAME}", concurrency ${opts.concurrency ?? 1})`);
  return {
    name,
    worker,
    close: async () => {
      await worker.close();
      connection.disconnect();
      control.disconnect();
      for (const p of models.values()) void p.then((c) => c.dispose(), () => {});
    },
  };
}
