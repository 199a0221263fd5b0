import { Worker } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs';
import { UapError, type UapErrorCode } from '../errors.js';
import type { Classifier, PerturbationGradient, PerturbedLogits } from '../models/classifier.js';
import type { Labels } from '../models/labels.js';
import type { BackendName } from '../tensor/backend.js';
import type { InitRequest, PgradObjective, WorkerReply, WorkRequest } from './classifier-worker.js';
import { copyValues, HostBuffers, tensorOf } from './host-buffers.js';
import type { OrtDevice } from './ort-classifier.js';

/**
 * A Classifier that spreads each batch over several worker threads (default 2: the wasm backend runs
 * one thread per instance in Node, so this is how a second core gets used). Each worker runs its own
 * backend and loads its own copy of the model by the same spec (zoo name or path) via loadModel.
 * Images are split into contiguous chunks, one per worker; results are concatenated in order, so
 * the numbers are those of the in-thread NetClassifier on the same backend.
 *
 * jacobian with fewer images than workers (Algorithm 1 runs DeepFool on one image at a time, with 10
 * classes) splits the classes instead: every worker runs the same forward and the reverse pass for its
 * share of the k upstream rows — the reverse passes are ~90% of a 10-class Jacobian's work.
 *
 * vjp: the `upstream` function cannot cross threads, and it may need the whole batch's logits (a mean
 * loss). So a vjp is two round trips: each worker records its forward pass and returns its logits;
 * `upstream` runs here on all of them; each worker then runs its reverse pass on the recorded values.
 * No work is repeated. `vjpFixed` does it in one round trip when the upstream is known up front.
 *
 * `engine: 'ort'`: each worker runs its own OrtClassifier (ONNX Runtime, `threads` intra-op threads each,
 * default 1). Why: ORT's own threads split each operator, which pays little on small layers (mobilenet_v1_0.25:
 * 1.29 → 1.20 ms/photo forward from 1 to 2 threads), while two 1-thread sessions on halves of the batch work
 * independently; and `session.run` blocks its thread, so two sessions need two threads. There a vjp is a
 * 'logits' round trip, then a vjpFixed (ORT's gradient graph runs its own forward), as OrtClassifier.vjp does
 * in-thread; and the pool has the PerturbationGradient capability (each worker sums its share of the batch,
 * the pool adds the workers' sums) and the PerturbedLogits one.
 *
 * Images reach the workers in shared memory (a SharedArrayBuffer the pool keeps and reuses), and large
 * results are joined in a kept buffer: writing into fresh memory is slow on this VM (see HostBuffers), and
 * slicing a batch of 16 photos per worker cost 0.4 ms per photo, a third of a forward pass.
 */
export interface WorkerPoolOptions {
  /** Worker threads (default 2). */
  workers?: number;
  /** Passed to loadModel in each worker. */
  modelsDir?: string;
  /** Backend of each worker (default 'wasm'); the ort engine uses tfjs's cpu backend for the weights only. */
  backend?: BackendName;
  /** Which engine each worker runs (default 'tfjs'). */
  engine?: 'tfjs' | 'ort';
  /** ort: intra-op threads per worker (default 1). */
  threads?: number;
  /** ort: the execution provider (default 'cpu'). */
  device?: OrtDevice;
}

/** A request without its id (assigned per worker); distributive, so each kind keeps its own fields. */
type RequestBody = WorkRequest extends infer R ? (R extends WorkRequest ? Omit<R, 'id'> : never) : never;

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

/**
 * One worker and its requests in flight. The worker is unref'd while idle, so a pool that nobody
 * disposed does not keep the process alive; a request in flight keeps it alive until the reply.
 */
class PoolWorker {
  private nextId = 0;
  private readonly pending = new Map<number, Pending>();
  private failed: Error | undefined;

  constructor(readonly worker: Worker) {
    worker.unref();
    worker.on('message', (m: WorkerReply) => {
      if (m.type === 'ready') return;
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (this.pending.size === 0) worker.unref();
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

  request(req: RequestBody, transfer: ArrayBuffer[]): Promise<{ logits: Float32Array; grads?: Float32Array }> {
    if (this.failed) return Promise.reject(this.failed);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      if (this.pending.size === 0) this.worker.ref();
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ ...req, id } as WorkRequest, transfer);
    });
  }
}

function toError(m: { message: string; code?: string; input?: string }): Error {
  return m.code ? new UapError(m.code as UapErrorCode, m.message.replace(m.input ? `${m.input}: ` : '', ''), m.input) : new Error(m.message);
}

export class WorkerPoolClassifier implements Classifier {
  private nextKey = 0;
  /** the images of the calls in flight, shared with the workers */
  private readonly inputs = new HostBuffers(true);
  /** where large results are joined before they become tensors */
  private readonly joined = new HostBuffers();
  /** Present on the ort engine only (feature-tested by the attacks, see hasPerturbationGradient). */
  readonly perturbationGradient?: PerturbationGradient['perturbationGradient'];
  /** Present on the ort engine only (feature-tested, see hasPerturbedLogits). */
  readonly perturbedLogits?: PerturbedLogits['perturbedLogits'];

  private constructor(
    private readonly workers: PoolWorker[],
    readonly id: string,
    readonly inputShape: readonly [number, number, number],
    readonly labels: Labels,
    readonly backend: string,
    /** What runs in each worker: tfjs on `backend`, or an OrtClassifier (ONNX Runtime). */
    readonly engine: 'tfjs' | 'ort',
  ) {
    if (engine === 'ort') {
      this.perturbationGradient = (x, v, cls, objective) => this.pgrad(x, v, cls, objective);
      this.perturbedLogits = async (x, v, clip) => {
        const parts = await this.run(x, (s, e, xs) => {
          const vs = v.slice();
          return { req: { type: 'plogits', x: xs, n: e - s, v: vs, clip }, transfer: [vs.buffer as ArrayBuffer] };
        });
        return tf.tensor2d(concat(parts.map((p) => p.logits)), [x.shape[0], this.labels.ids.length]);
      };
    }
  }

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
              const init: InitRequest = { type: 'init', spec, modelsDir: opts.modelsDir, backend: opts.backend, engine: opts.engine, threads: opts.threads, device: opts.device };
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
        opts.engine ?? 'tfjs',
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

  private checkShape(x: tf.Tensor4D): void {
    const [, h, w, c] = x.shape;
    if (h !== this.inputShape[0] || w !== this.inputShape[1] || c !== this.inputShape[2]) {
      throw new UapError('BAD_INPUT', `images are ${h}×${w}×${c}, the model takes ${this.inputShape.join('×')}`, 'images');
    }
  }

  /**
   * Sends each worker its images (views of one shared buffer: posted, not copied) and what `make` adds; resolves
   * when every worker has answered, and only then reuses the buffer (a failed call waits for the others too).
   * `whole`: every worker gets all images (a Jacobian split by classes).
   */
  private async run(
    x: tf.Tensor4D,
    make: (start: number, end: number, xs: Float32Array) => { req: RequestBody; transfer: ArrayBuffer[] },
    ranges: [number, number][] = this.split(x.shape[0]),
    whole = false,
  ): Promise<{ logits: Float32Array; grads?: Float32Array }[]> {
    const [n, h, w, c] = x.shape;
    this.checkShape(x);
    const d = h * w * c;
    const data = this.inputs.take(n * d);
    copyValues(x, data);
    const settled = await Promise.allSettled(
      ranges.map(([s, e], i) => {
        const xs = whole ? data : data.subarray(s * d, e * d);
        const { req, transfer } = make(s, e, xs);
        return this.workers[i]!.request(req, transfer);
      }),
    );
    this.inputs.give(data);
    const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
    return settled.map((r) => (r as PromiseFulfilledResult<{ logits: Float32Array; grads?: Float32Array }>).value);
  }

  /** A tensor of the workers' parts joined in order (in a kept buffer when there are several). */
  private joinedTensor<R extends tf.Rank>(parts: Float32Array[], shape: number[]): tf.Tensor<R> {
    if (parts.length === 1) {
      const t: tf.Tensor = tf.tensor(parts[0]!, shape, 'float32'); // a transferred array: nobody else writes it
      return t as tf.Tensor<R>;
    }
    const out = this.joined.take(parts.reduce((a, p) => a + p.length, 0));
    let o = 0;
    for (const p of parts) {
      out.set(p, o);
      o += p.length;
    }
    try {
      return tensorOf<R>(out, shape);
    } finally {
      this.joined.give(out);
    }
  }

  async logits(x: tf.Tensor4D): Promise<tf.Tensor2D> {
    const parts = await this.run(x, (s, e, xs) => ({ req: { type: 'logits', x: xs, n: e - s }, transfer: [] }));
    return tf.tensor2d(concat(parts.map((p) => p.logits)), [x.shape[0], this.labels.ids.length]);
  }

  async jacobian(x: tf.Tensor4D, classes: tf.Tensor2D): Promise<{ logits: tf.Tensor2D; grads: tf.Tensor5D }> {
    const [n, k] = classes.shape;
    if (n !== x.shape[0]) throw new UapError('BAD_ARGUMENT', `classes has ${n} rows for ${x.shape[0]} images`, 'classes');
    const cls = Int32Array.from(await classes.data());
    if (n < this.workers.length && k > 1) return this.jacobianByClass(x, cls, k);
    const parts = await this.run(x, (s, e, xs) => {
      const cs = cls.slice(s * k, e * k);
      return { req: { type: 'jacobian', x: xs, n: e - s, classes: cs, k }, transfer: [cs.buffer as ArrayBuffer] };
    });
    const [, h, w, c] = x.shape;
    return {
      logits: tf.tensor2d(concat(parts.map((p) => p.logits)), [n, this.labels.ids.length]),
      grads: this.joinedTensor<tf.Rank.R5>(parts.map((p) => p.grads!), [n, k, h, w, c]),
    };
  }

  /** Every worker: all n images, a contiguous share of the k classes; grads re-interleaved per image. */
  private async jacobianByClass(x: tf.Tensor4D, cls: Int32Array, k: number): Promise<{ logits: tf.Tensor2D; grads: tf.Tensor5D }> {
    const [n, h, w, c] = x.shape;
    const ranges = this.split(k);
    const parts = await this.run(
      x,
      (s, e, xs) => {
        const cs = new Int32Array(n * (e - s));
        for (let r = 0; r < n; r++) cs.set(cls.subarray(r * k + s, r * k + e), r * (e - s));
        return { req: { type: 'jacobian', x: xs, n, classes: cs, k: e - s }, transfer: [cs.buffer as ArrayBuffer] };
      },
      ranges,
      true,
    );
    const d = h * w * c;
    const grads = this.joined.take(n * k * d);
    try {
      ranges.forEach(([s, e], i) => {
        const g = parts[i]!.grads!;
        for (let r = 0; r < n; r++) grads.set(g.subarray(r * (e - s) * d, (r + 1) * (e - s) * d), (r * k + s) * d);
      });
      return { logits: tf.tensor2d(parts[0]!.logits, [n, this.labels.ids.length]), grads: tensorOf<tf.Rank.R5>(grads, [n, k, h, w, c]) };
    } finally {
      this.joined.give(grads);
    }
  }

  async vjp(x: tf.Tensor4D, upstream: (logits: tf.Tensor2D) => tf.Tensor2D): Promise<{ logits: tf.Tensor2D; grad: tf.Tensor4D }> {
    if (this.engine === 'ort') return this.vjpOrt(x, upstream);
    const K = this.labels.ids.length;
    const key = this.nextKey++;
    const ranges = this.split(x.shape[0]);
    const forward = await this.run(x, (_s, e, xs) => ({ req: { type: 'forward', key, x: xs, n: e - _s }, transfer: [] }));
    const logits = tf.tensor2d(concat(forward.map((p) => p.logits)), [x.shape[0], K]);
    let u: Float32Array;
    try {
      const ut = tf.tidy(() => upstream(logits));
      if (ut.shape[0] !== x.shape[0] || ut.shape[1] !== K) throw new UapError('BAD_ARGUMENT', `upstream is [${ut.shape}], expected [${x.shape[0]}, ${K}]`, 'upstream');
      u = (await ut.data()) as Float32Array;
      ut.dispose();
    } catch (e) {
      logits.dispose();
      await Promise.all(ranges.map((_, i) => this.workers[i]!.request({ type: 'release', key }, []).catch(() => undefined)));
      throw e;
    }
    try {
      const back = await Promise.all(
        ranges.map(([s, e], i) => {
          const us = u.slice(s * K, e * K);
          return this.workers[i]!.request({ type: 'backward', key, upstream: us }, [us.buffer as ArrayBuffer]);
        }),
      );
      return { logits, grad: this.joinedTensor<tf.Rank.R4>(back.map((p) => p.grads!), x.shape) };
    } catch (e) {
      logits.dispose();
      throw e;
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
      grad: this.joinedTensor<tf.Rank.R4>(parts.map((p) => p.grads!), x.shape),
    };
  }

  /**
   * The ort engine's vjp: the logits, the upstream here, then one vjpFixed (its own forward and the reverse
   * pass). An upstream declared without a parameter does not read the logits: the first round trip is skipped.
   */
  private async vjpOrt(x: tf.Tensor4D, upstream: (logits: tf.Tensor2D) => tf.Tensor2D): Promise<{ logits: tf.Tensor2D; grad: tf.Tensor4D }> {
    const n = x.shape[0];
    const K = this.labels.ids.length;
    const first = upstream.length > 0 ? await this.logits(x) : undefined;
    try {
      const u = tf.tidy(() => upstream(first ?? (tf.zeros([n, K]) as tf.Tensor2D)));
      try {
        const r = await this.vjpFixed(x, u);
        if (!first) return r;
        r.logits.dispose();
        return { logits: first, grad: r.grad };
      } finally {
        u.dispose();
      }
    } catch (e) {
      first?.dispose();
      throw e;
    }
  }

  /** PerturbationGradient on the ort engine: each worker sums ∂J/∂v over its images; the sums are added here. */
  private async pgrad(x: tf.Tensor4D, v: Float32Array, cls: Int32Array, objective: PgradObjective): Promise<{ grad: Float32Array; logits: Float32Array }> {
    const n = x.shape[0];
    if (cls.length !== n) throw new UapError('BAD_ARGUMENT', `cls has ${cls.length} entries for ${n} images`, 'cls');
    const parts = await this.run(x, (s, e, xs) => {
      const vs = v.slice(); // small (one image); each worker gets its own
      const cs = cls.slice(s, e);
      return { req: { type: 'pgrad', x: xs, n: e - s, v: vs, cls: cs, objective }, transfer: [vs.buffer as ArrayBuffer, cs.buffer as ArrayBuffer] };
    });
    const grad = parts[0]!.grads!;
    for (const p of parts.slice(1)) for (let i = 0; i < grad.length; i++) grad[i] = grad[i]! + p.grads![i]!;
    return { grad, logits: concat(parts.map((p) => p.logits)) };
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
