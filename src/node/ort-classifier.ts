import os from 'node:os';
import * as tf from '@tensorflow/tfjs';
import * as ort from 'onnxruntime-node';
import { UapError } from '../errors.js';
import type { Classifier, PerturbationGradient, PerturbedLogits } from '../models/classifier.js';
import type { Labels } from '../models/labels.js';
import type { NetClassifier } from '../models/net-classifier.js';
import type { Net } from '../models/net/ir.js';
import {
  exportGradGraph,
  exportLogitsGraph,
  exportPerturbationGradGraph,
  exportPerturbedLogitsGraph,
  type ExportOptions,
  type PerturbationObjective,
} from '../models/onnx/export.js';
import { HostBuffers, readValues, tensorOf } from './host-buffers.js';

/**
 * The Classifier contract on ONNX Runtime (onnxruntime-node): the Net IR is exported to ONNX graphs
 * (src/models/onnx/export.ts) — logits, and logits + input gradients of k upstream rows per image
 * through one forward — and each graph runs in an InferenceSession, cached per graph and batch size.
 * Tensors in and out are tfjs tensors, so attacks, evaluation and the worker pool are unchanged.
 *
 * Why: ORT's CPU kernels (MLAS, blocked NCHWc convolutions, every core) run mobilenet_v1_0.25's forward
 * in 0.9 ms of CPU per photo against tfjs-backend-wasm's 3.3 ms (one thread, which is all wasm gets
 * under Node), and with our own reverse graph (docs/engines.md) the gradients follow.
 */

/** Where ONNX Runtime runs the graphs: its CPU provider, or CUDA (needs onnxruntime-node built with it, docs/engines.md). */
export type OrtDevice = 'cpu' | 'cuda';

// ORT's own logger would print e.g. a missing CUDA library as a multi-line native message before our
// one-line error; every failure reaches us as an exception anyway.
ort.env.logLevel = 'fatal';

/** Options of `OrtClassifier.create`: threads, device, and how the graphs are exported. */
export interface OrtClassifierOptions extends ExportOptions {
  /** intra-op threads per session (default: every core, os.availableParallelism()) */
  threads?: number;
  device?: OrtDevice;
  /**
   * Whether ORT's intra-op threads spin while they wait for work (ORT's own default). Default false here:
   * spinning saves microseconds per op on idle cores but burns the CPU other processes need, and on a
   * shared 2-core machine two SGD epochs over 96 photos took 10.1 s with spinning, 5.0 s without (1 thread: 8.5 s).
   */
  spin?: boolean;
  /** write ORT's JSON profile with this file prefix (one file per session, at dispose) */
  profilePrefix?: string;
  /**
   * Gradient rows (images × k) per run; larger batches run in chunks of whole images, so memory stays
   * bounded (a 32-image, 10-class Jacobian of mobilenet_v1_0.75 would hold ~2 GB of first-layer rows).
   */
  rowsPerPass?: number;
}

/**
 * A {@link Classifier} that runs a loaded model's Net on ONNX Runtime (the ort engine). Made by the static
 * `OrtClassifier.create(model, options?, takeOwnership = true)` over a NetClassifier (with `takeOwnership`,
 * dispose() also frees the model's weights); it fails with one line when the device is unavailable.
 * uap/node exports the class through {@link loadOrtEngine}, which imports onnxruntime-node only when asked.
 */
export class OrtClassifier implements Classifier, PerturbationGradient, PerturbedLogits {
  readonly inputShape: readonly [number, number, number];
  readonly backend: string;
  readonly threads: number;
  private readonly sessions = new Map<string, Promise<ort.InferenceSession>>();
  private readonly rowsPerPass: number;
  /** inputs and outputs of the runs, kept from run to run (see HostBuffers for why) */
  private readonly buffers = new HostBuffers();

  private constructor(
    readonly id: string,
    readonly net: Net,
    readonly labels: Labels,
    private readonly opts: OrtClassifierOptions,
    private readonly owned?: NetClassifier,
  ) {
    this.inputShape = net.inputShape;
    this.threads = opts.threads ?? os.availableParallelism();
    this.backend = `onnxruntime-${opts.device ?? 'cpu'}`;
    this.rowsPerPass = opts.rowsPerPass ?? 160;
  }

  /**
   * An ORT classifier over the net of a loaded model. With `takeOwnership`, dispose() also frees the
   * model's weights. Fails with one line when the device is unavailable (e.g. CUDA without its provider).
   */
  static async create(model: NetClassifier, opts: OrtClassifierOptions = {}, takeOwnership = true): Promise<OrtClassifier> {
    if (opts.threads !== undefined && (!Number.isInteger(opts.threads) || opts.threads < 1)) {
      throw new UapError('BAD_ARGUMENT', `threads must be a positive integer, got ${opts.threads}`, '--threads');
    }
    const c = new OrtClassifier(model.id, model.net, model.labels, opts, takeOwnership ? model : undefined);
    await c.session('logits', 1); // fail now, not in the middle of an attack
    return c;
  }

  /**
   * The session of one graph and batch size: `logits`, `grad<k>`, `plogits-clip` / `plogits-free` (perturbed
   * logits), or a perturbation-gradient graph of `objective`.
   */
  private session(kind: 'logits' | `grad${number}` | 'pgrad' | 'plogits-clip' | 'plogits-free', n: number, objective?: PerturbationObjective): Promise<ort.InferenceSession> {
    const o = objective;
    const key = o ? `pgrad-${o.loss}-${o.targeted ? 't' : 'u'}-${o.clip ? 'clip' : 'free'}-b${o.beta}-k${o.kappa}:${n}` : `${kind}:${n}`;
    let s = this.sessions.get(key);
    if (!s) {
      const bytes = o
        ? exportPerturbationGradGraph(this.net, n, o, this.opts)
        : kind === 'logits'
          ? exportLogitsGraph(this.net, n, this.opts)
          : kind.startsWith('plogits')
            ? exportPerturbedLogitsGraph(this.net, n, kind === 'plogits-clip', this.opts)
            : exportGradGraph(this.net, n, Number(kind.slice(4)), this.opts);
      s = this.open(bytes, key);
      this.sessions.set(key, s);
      s.catch(() => this.sessions.delete(key));
    }
    return s;
  }

  private async open(bytes: Uint8Array, key: string): Promise<ort.InferenceSession> {
    const device = this.opts.device ?? 'cpu';
    try {
      return await ort.InferenceSession.create(bytes, {
        executionProviders: [device],
        intraOpNumThreads: this.threads,
        interOpNumThreads: 1,
        executionMode: 'sequential',
        graphOptimizationLevel: 'all',
        enableProfiling: this.opts.profilePrefix !== undefined,
        profileFilePrefix: this.opts.profilePrefix ? `${this.opts.profilePrefix}_${key.replace(':', '_b')}` : undefined,
        logSeverityLevel: 3,
        ...(this.opts.spin === true ? {} : { extra: { session: { intra_op: { allow_spinning: '0' } } } }),
      });
    } catch (e) {
      const msg = (e as Error).message.split('\n')[0];
      if (device === 'cuda') {
        throw new UapError(
          'BAD_ARGUMENT',
          `the CUDA execution provider is not available in this onnxruntime-node (${msg}); install it with CUDA (docs/engines.md) or use --device cpu`,
          '--device cuda',
        );
      }
      throw new UapError('BAD_MODEL', `ONNX Runtime rejected the exported graph ${key} (${msg})`, this.id);
    }
  }

  /**
   * A batch of n images as runs of power-of-two sizes (27 = 16 + 8 + 2 + 1), at most `max` each: the
   * graphs have static shapes, so every distinct batch size is a session to export and create (0.1–0.5 s),
   * and DeepFool and Algorithm 1 call with every size from 1 up. Powers of two keep that to a handful
   * of sessions and waste no work on padding.
   */
  private static pieces(n: number, max: number): [number, number][] {
    const cap = 2 ** Math.floor(Math.log2(Math.max(1, max)));
    const out: [number, number][] = [];
    for (let s = 0; s < n; ) {
      let m = cap;
      while (m > n - s) m >>= 1;
      out.push([s, m]);
      s += m;
    }
    return out;
  }

  private get pixels(): number {
    const [h, w, c] = this.inputShape;
    return h * w * c;
  }

  private static tensor(data: Float32Array, dims: number[]): ort.Tensor {
    return new ort.Tensor('float32', data, dims);
  }

  /** x's pixels for the runs, and their release (a kept buffer goes back to `buffers`). */
  private pixelsOf(x: tf.Tensor4D): { xd: Float32Array; done: () => void } {
    const { values, owned } = readValues(x, this.buffers);
    return { xd: values, done: () => owned && this.buffers.give(values) };
  }

  /** Logits [n·K] of pixels xd (n images), which ORT writes straight into the array returned. */
  private async logitsOf(xd: Float32Array, n: number): Promise<Float32Array> {
    const K = this.labels.ids.length;
    const out = new Float32Array(n * K);
    const [h, w, c] = this.inputShape;
    for (const [s, m] of OrtClassifier.pieces(n, 64)) {
      const session = await this.session('logits', m);
      await session.run(
        { x: OrtClassifier.tensor(xd.subarray(s * this.pixels, (s + m) * this.pixels), [m, h, w, c]) },
        { logits: OrtClassifier.tensor(out.subarray(s * K, (s + m) * K), [m, K]) },
      );
    }
    return out;
  }

  async logits(x: tf.Tensor4D): Promise<tf.Tensor2D> {
    const n = x.shape[0];
    const { xd, done } = this.pixelsOf(x);
    try {
      return tf.tensor2d(await this.logitsOf(xd, n), [n, this.labels.ids.length]);
    } finally {
      done();
    }
  }

  /** Logits of clip(x + v) from one graph per batch piece (see PerturbedLogits): the sum and the clip run in ORT. */
  async perturbedLogits(x: tf.Tensor4D, v: Float32Array, clip: boolean): Promise<tf.Tensor2D> {
    const n = x.shape[0];
    const K = this.labels.ids.length;
    const [h, w, c] = this.inputShape;
    const P = this.pixels;
    if (v.length !== P) throw new UapError('BAD_ARGUMENT', `v has ${v.length} values, not ${h}×${w}×${c}`, 'v');
    const vt = OrtClassifier.tensor(v, [h, w, c]);
    const out = new Float32Array(n * K);
    const { xd, done } = this.pixelsOf(x);
    try {
      for (const [s, m] of OrtClassifier.pieces(n, 64)) {
        const session = await this.session(clip ? 'plogits-clip' : 'plogits-free', m);
        await session.run({ x: OrtClassifier.tensor(xd.subarray(s * P, (s + m) * P), [m, h, w, c]), v: vt }, { logits: OrtClassifier.tensor(out.subarray(s * K, (s + m) * K), [m, K]) });
      }
      return tf.tensor2d(out, [n, K]);
    } finally {
      done();
    }
  }

  async jacobian(x: tf.Tensor4D, classes: tf.Tensor2D): Promise<{ logits: tf.Tensor2D; grads: tf.Tensor5D }> {
    const [n, k] = classes.shape;
    if (n !== x.shape[0]) throw new UapError('BAD_ARGUMENT', `classes has ${n} rows for ${x.shape[0]} images`, 'classes');
    if (k < 1) throw new UapError('BAD_ARGUMENT', 'at least one class per image is needed', 'classes');
    const cls = classes.dataSync();
    const [h, w, c] = this.inputShape;
    const P = this.pixels;
    const K = this.labels.ids.length;
    const logits = new Float32Array(n * K);
    const { xd, done } = this.pixelsOf(x);
    const grads = this.buffers.take(n * k * P);
    try {
      for (const [s, m] of OrtClassifier.pieces(n, Math.max(1, Math.floor(this.rowsPerPass / k)))) {
        // one-hot upstream rows, class-major (row j·m + b) as the gradient graph wants them
        const up = new Float32Array(k * m * K);
        for (let b = 0; b < m; b++) for (let j = 0; j < k; j++) up[(j * m + b) * K + cls[(s + b) * k + j]!] = 1;
        const session = await this.session(`grad${k}`, m);
        await session.run(
          { x: OrtClassifier.tensor(xd.subarray(s * P, (s + m) * P), [m, h, w, c]), upstream: OrtClassifier.tensor(up, [k * m, K]) },
          {
            logits: OrtClassifier.tensor(logits.subarray(s * K, (s + m) * K), [m, K]),
            grad: OrtClassifier.tensor(grads.subarray(s * k * P, (s + m) * k * P), k === 1 ? [m, h, w, c] : [m, k, h, w, c]),
          },
        );
      }
      return { logits: tf.tensor2d(logits, [n, K]), grads: tensorOf<tf.Rank.R5>(grads, [n, k, h, w, c]) };
    } finally {
      done();
      this.buffers.give(grads);
    }
  }

  /**
   * One forward for the logits the upstream function needs, then the gradient graph (its own forward
   * and the reverse pass). An upstream function declared without a parameter does not read the logits,
   * so the first forward is skipped.
   */
  async vjp(x: tf.Tensor4D, upstream: (logits: tf.Tensor2D) => tf.Tensor2D): Promise<{ logits: tf.Tensor2D; grad: tf.Tensor4D }> {
    const n = x.shape[0];
    const K = this.labels.ids.length;
    const [h, w, c] = this.inputShape;
    const P = this.pixels;
    const { xd, done } = this.pixelsOf(x);
    const grad = this.buffers.take(n * P);
    try {
      const first = upstream.length > 0 ? await this.logitsOf(xd, n) : undefined;
      const ud = tf.tidy(() => {
        const u = upstream(first ? tf.tensor2d(first, [n, K]) : tf.zeros([n, K]));
        if (u.shape[0] !== n || u.shape[1] !== K) throw new UapError('BAD_ARGUMENT', `upstream gave [${u.shape}], not [${n}, ${K}]`, 'upstream');
        return Float32Array.from(u.dataSync() as Float32Array);
      });
      // the gradient graph's own logits equal the first pass's; they are written to a second array, not read
      const logits = first ?? new Float32Array(n * K);
      const graphLogits = first ? new Float32Array(n * K) : logits;
      for (const [s, m] of OrtClassifier.pieces(n, this.rowsPerPass)) {
        const session = await this.session('grad1', m);
        await session.run(
          { x: OrtClassifier.tensor(xd.subarray(s * P, (s + m) * P), [m, h, w, c]), upstream: OrtClassifier.tensor(ud.subarray(s * K, (s + m) * K), [m, K]) },
          { logits: OrtClassifier.tensor(graphLogits.subarray(s * K, (s + m) * K), [m, K]), grad: OrtClassifier.tensor(grad.subarray(s * P, (s + m) * P), [m, h, w, c]) },
        );
      }
      return { logits: tf.tensor2d(logits, [n, K]), grad: tensorOf<tf.Rank.R4>(grad, [n, h, w, c]) };
    } finally {
      done();
      this.buffers.give(grad);
    }
  }

  /**
   * Σ_i ∂J_i/∂v and the logits at clip(x_i + v), from one graph per batch piece (see PerturbationGradient):
   * one forward instead of vjp's two, and one image back instead of N.
   */
  async perturbationGradient(x: tf.Tensor4D, v: Float32Array, cls: Int32Array, objective: PerturbationObjective): Promise<{ grad: Float32Array; logits: Float32Array }> {
    const n = x.shape[0];
    if (cls.length !== n) throw new UapError('BAD_ARGUMENT', `cls has ${cls.length} entries for ${n} images`, 'cls');
    const K = this.labels.ids.length;
    const [h, w, c] = this.inputShape;
    const P = this.pixels;
    if (v.length !== P) throw new UapError('BAD_ARGUMENT', `v has ${v.length} values, not ${h}×${w}×${c}`, 'v');
    const vt = OrtClassifier.tensor(v, [h, w, c]);
    const logits = new Float32Array(n * K);
    const grad = new Float32Array(P);
    const { xd, done } = this.pixelsOf(x);
    const piece = this.buffers.take(P);
    try {
      for (const [s, m] of OrtClassifier.pieces(n, this.rowsPerPass)) {
        const target = new Float32Array(m * K);
        for (let b = 0; b < m; b++) target[b * K + cls[s + b]!] = 1;
        const session = await this.session('pgrad', m, objective);
        await session.run(
          { x: OrtClassifier.tensor(xd.subarray(s * P, (s + m) * P), [m, h, w, c]), v: vt, target: OrtClassifier.tensor(target, [m, K]) },
          { logits: OrtClassifier.tensor(logits.subarray(s * K, (s + m) * K), [m, K]), grad: OrtClassifier.tensor(piece, [h, w, c]) },
        );
        for (let i = 0; i < P; i++) grad[i] = grad[i]! + piece[i]!;
      }
      return { grad, logits };
    } finally {
      done();
      this.buffers.give(piece);
    }
  }

  /** Writes the profiles (when profiling) and releases every session. */
  async release(): Promise<void> {
    const all = [...this.sessions.values()];
    this.sessions.clear();
    this.buffers.clear();
    for (const p of all) {
      const s = await p.catch(() => undefined);
      if (!s) continue;
      if (this.opts.profilePrefix !== undefined) s.endProfiling();
      await s.release();
    }
  }

  dispose(): void {
    void this.release();
    this.owned?.dispose();
  }
}
