import { Worker } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs';
import { UapError, type UapErrorCode } from '../errors.js';
import type { Classifier } from '../models/classifier.js';
import type { Labels } from '../models/labels.js';
import type { BackendName } from '../tensor/backend.js';
import type { InitRequest, WorkerReply, WorkRequest } from './classifier-worker.js';

/**
 * A Classifier that spreads each batch over several worker threads (default 2: the wasm backend runs
 * one thread per instance in Node, so this is how a second core gets used). Each worker runs its own
 * backend and loads its own copy of the model by the same spec (zoo name or path) via loadModel.
 * Images are split into contiguous chunks, one per worker; results are concatenated in order, so
 * the numbers are those of the in-thread NetClassifier on the same backend.
 *
 * vjp: the `upstream` function cannot cross threads. It is evaluated here, on the logits of a first
 * (distributed) forward pass; the workers then run forward + backward with that fixed upstream. That
 * costs one extra forward per call, and is exact because a worker's forward is deterministic (the
 * upstream it would compute is the one computed here). `vjpFixed` skips the extra pass when the
 * upstream does not depend on the logits.
 */
export interface WorkerPoolOptions {
  /** Worker threads (default 2). */
  workers?: number;
  /** Passed to loadModel in each worker. */
  modelsDir?: string;
  /** Backend of each worker (default 'wasm'). */
  backend?: BackendName;
}

interface Pending {
  resolve: (r: { logits: Float32Array; grads?: Float32Array }) => void;
  reject: (e: Error) => void;
}

/**
 * Starts the worker entry next to this module: classifier-worker.js once compiled; under tsx (dev,
 * tests) the .ts file, through a small eval'd bootstrap that registers tsx's loader in the worker
 * first (`execArgv: ['--import', 'tsx']` alone does not make Node 20 accept a .ts worker entry).
 */
function startWorker(): Worker {
  if (!import.meta.url.endsWith('.ts')) return new Worker(new URL('./classifier-worker.js', import.meta.url));
  const entry = new URL('./classifier-worker.ts', import.meta.url).href;
  const boot = `import('tsx/esm/api').then(({ register }) => { register(); return import(${JSON.stringify(entry)}); })`;
  return new Worker(boot, { eval: true });
}

class PoolWorker {
  private nextId = 0;
  private readonly pending = new Map<number, Pending>();
  private failed: Error | undefined;

  constructor(readonly worker: Worker) {
    worker.on('message', (m: WorkerReply) => {
      if (m.type === 'ready') return;
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (m.type === 'error') p.reject(toError(m));
      else p.resolve({ logits: m.logits, grads: m.grads });
    });
    const fail = (e: Error) => {
      this.failed = e;
      for (const p of this.pending.values()) p.reject(e);
      this.pending.clear();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => {
      if (code !== 0) fail(new Error(`classifier worker exited with code ${code}`));
    });
  }

  request(req: Omit<WorkRequest, 'id'>, transfer: ArrayBuffer[]): Promise<{ logits: Float32Array; grads?: Float32Array }> {
    if (this.failed) return Promise.reject(this.failed);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ ...req, id } as WorkRequest, transfer);
    });
  }
}

function toError(m: { message: string; code?: string; input?: string }): Error {
  return m.code ? new UapError(m.code as UapErrorCode, m.message.replace(m.input ? `${m.input}: ` : '', ''), m.input) : new Error(m.message);
}

export class WorkerPoolClassifier implements Classifier {
  private constructor(
    private readonly workers: PoolWorker[],
    readonly id: string,
    readonly inputShape: readonly [number, number, number],
    readonly labels: Labels,
    readonly backend: string,
  ) {}

  /** Starts the workers and loads the model in each (in parallel). */
  static async create(spec: string, opts: WorkerPoolOptions = {}): Promise<WorkerPoolClassifier> {
    const count = opts.workers ?? 2;
    if (!Number.isInteger(count) || count < 1) throw new UapError('BAD_ARGUMENT', `must be a positive integer, got ${count}`, 'workers');
    const started = Array.from({ length: count }, () => startWorker());
    try {
      const readies = await Promise.all(
        started.map(
          (w) =>
            new Promise<Extract<WorkerReply, { type: 'ready' }>>((resolve, reject) => {
              const onMsg = (m: WorkerReply) => {
                if (m.type === 'ready') {
                  w.off('message', onMsg);
                  resolve(m);
                } else if (m.type === 'error') {
                  w.off('message', onMsg);
                  reject(toError(m));
                }
              };
              w.on('message', onMsg);
              w.once('error', reject);
              w.once('exit', (code) => reject(new Error(`classifier worker exited with code ${code} while loading`)));
              const init: InitRequest = { type: 'init', spec, modelsDir: opts.modelsDir, backend: opts.backend };
              w.postMessage(init);
            }),
        ),
      );
      const r = readies[0]!;
      return new WorkerPoolClassifier(
        started.map((w) => new PoolWorker(w)),
        r.id,
        r.inputShape,
        { ids: r.ids, names: r.names },
        r.backend,
      );
    } catch (e) {
      await Promise.all(started.map((w) => w.terminate()));
      throw e;
    }
  }

  get size(): number {
    return this.workers.length;
  }

  /** Contiguous row ranges, one per worker that gets any. */
  private split(n: number): [number, number][] {
    const parts = Math.min(n, this.workers.length);
    const out: [number, number][] = [];
    let start = 0;
    for (let p = 0; p < parts; p++) {
      const len = Math.floor(n / parts) + (p < n % parts ? 1 : 0);
      out.push([start, start + len]);
      start += len;
    }
    return out;
  }

  private async run(
    x: tf.Tensor4D,
    make: (start: number, end: number, xs: Float32Array) => { req: Omit<WorkRequest, 'id'>; transfer: ArrayBuffer[] },
  ): Promise<{ logits: Float32Array; grads?: Float32Array }[]> {
    const [n, h, w, c] = x.shape;
    if (h !== this.inputShape[0] || w !== this.inputShape[1] || c !== this.inputShape[2]) {
      throw new UapError('BAD_INPUT', `images are ${h}×${w}×${c}, the model takes ${this.inputShape.join('×')}`, 'images');
    }
    const data = (await x.data()) as Float32Array;
    const d = h * w * c;
    return Promise.all(
      this.split(n).map(([s, e], i) => {
        const xs = data.slice(s * d, e * d);
        const { req, transfer } = make(s, e, xs);
        return this.workers[i]!.request(req, [xs.buffer as ArrayBuffer, ...transfer]);
      }),
    );
  }

  async logits(x: tf.Tensor4D): Promise<tf.Tensor2D> {
    const parts = await this.run(x, (s, e, xs) => ({ req: { type: 'logits', x: xs, n: e - s }, transfer: [] }));
    return tf.tensor2d(concat(parts.map((p) => p.logits)), [x.shape[0], this.labels.ids.length]);
  }

  async jacobian(x: tf.Tensor4D, classes: tf.Tensor2D): Promise<{ logits: tf.Tensor2D; grads: tf.Tensor5D }> {
    const [n, k] = classes.shape;
    if (n !== x.shape[0]) throw new UapError('BAD_ARGUMENT', `classes has ${n} rows for ${x.shape[0]} images`, 'classes');
    const cls = Int32Array.from(await classes.data());
    const parts = await this.run(x, (s, e, xs) => {
      const cs = cls.slice(s * k, e * k);
      return { req: { type: 'jacobian', x: xs, n: e - s, classes: cs, k }, transfer: [cs.buffer as ArrayBuffer] };
    });
    const [, h, w, c] = x.shape;
    return {
      logits: tf.tensor2d(concat(parts.map((p) => p.logits)), [n, this.labels.ids.length]),
      grads: tf.tensor5d(concat(parts.map((p) => p.grads!)), [n, k, h, w, c]),
    };
  }

  async vjp(x: tf.Tensor4D, upstream: (logits: tf.Tensor2D) => tf.Tensor2D): Promise<{ logits: tf.Tensor2D; grad: tf.Tensor4D }> {
    const first = await this.logits(x);
    let u: tf.Tensor2D;
    try {
      u = tf.tidy(() => upstream(first));
    } finally {
      first.dispose();
    }
    try {
      return await this.vjpFixed(x, u);
    } finally {
      u.dispose();
    }
  }

  /** vjp with an upstream [N, K] given up front: one forward and one backward per worker. */
  async vjpFixed(x: tf.Tensor4D, upstream: tf.Tensor2D): Promise<{ logits: tf.Tensor2D; grad: tf.Tensor4D }> {
    const K = this.labels.ids.length;
    if (upstream.shape[0] !== x.shape[0] || upstream.shape[1] !== K) {
      throw new UapError('BAD_ARGUMENT', `upstream is [${upstream.shape}], expected [${x.shape[0]}, ${K}]`, 'upstream');
    }
    const u = (await upstream.data()) as Float32Array;
    const parts = await this.run(x, (s, e, xs) => {
      const us = u.slice(s * K, e * K);
      return { req: { type: 'vjp', x: xs, n: e - s, upstream: us }, transfer: [us.buffer as ArrayBuffer] };
    });
    return {
      logits: tf.tensor2d(concat(parts.map((p) => p.logits)), [x.shape[0], K]),
      grad: tf.tensor4d(concat(parts.map((p) => p.grads!)), x.shape),
    };
  }

  dispose(): void {
    for (const w of this.workers) void w.worker.terminate();
  }
}

function concat(parts: Float32Array[]): Float32Array {
  if (parts.length === 1) return parts[0]!;
  const out = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
