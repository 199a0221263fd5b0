import { parentPort } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs';
import { loadModel } from './model-files.js';
import type { Classifier, LogitObjective, PerturbationGradient, PerturbedLogits } from '../models/classifier.js';
import type { NetClassifier } from '../models/net-classifier.js';
import { backwardNet } from '../models/net/backward.js';
import { forwardValues } from '../models/net/forward.js';
import { initBackend, type BackendName } from '../tensor/backend.js';
import { HostBuffers } from './host-buffers.js';
import { loadOrtEngine } from './ort-engine.js';
import type { OrtDevice } from './ort-classifier.js';

/**
 * Worker-thread side of WorkerPoolClassifier: its own tfjs backend and its own copy of the model,
 * loaded by the same spec. Requests carry raw Float32Array/Int32Array data (transferred, not copied).
 *
 * A vjp is two requests: 'forward' records the forward pass (kept under `key`) and returns the logits;
 * 'backward' brings the upstream gradient the pool computed from all workers' logits and runs the reverse
 * pass on the recorded values, then frees them ('release' frees them without a backward, after an error).
 *
 * With `engine: 'ort'` the worker runs the model on ONNX Runtime (an OrtClassifier with its own sessions and
 * `threads` intra-op threads; tfjs only carries the weights, on its cpu backend). onnxruntime-node's
 * `session.run` occupies the calling thread, so worker threads are how several ORT sessions run at once.
 * There the pool's vjp is 'logits' then 'vjp' (ORT's gradient graph runs its own forward; there is no
 * recorded pass to keep), 'pgrad' is the PerturbationGradient of the worker's share of the batch and 'plogits'
 * its PerturbedLogits.
 *
 * The images arrive as views of the pool's shared buffer, which the pool reuses once this request is answered.
 * tfjs-wasm copies them into its heap; elsewhere (ORT, which does not take shared memory, or the cpu backend,
 * which would keep the view) they are first copied into memory of this worker's own.
 */

export interface InitRequest {
  type: 'init';
  spec: string;
  modelsDir?: string;
  backend?: BackendName;
  /** 'ort': run the model on ONNX Runtime (default 'tfjs') */
  engine?: 'tfjs' | 'ort';
  /** ort: intra-op threads of each session (default 1) */
  threads?: number;
  device?: OrtDevice;
}
export type PgradObjective = LogitObjective & { readonly clip: boolean };
export type WorkRequest =
  | { type: 'logits'; id: number; x: Float32Array; n: number }
  | { type: 'jacobian'; id: number; x: Float32Array; n: number; classes: Int32Array; k: number }
  | { type: 'vjp'; id: number; x: Float32Array; n: number; upstream: Float32Array }
  | { type: 'forward'; id: number; key: number; x: Float32Array; n: number }
  | { type: 'backward'; id: number; key: number; upstream: Float32Array }
  | { type: 'release'; id: number; key: number }
  | { type: 'pgrad'; id: number; x: Float32Array; n: number; v: Float32Array; cls: Int32Array; objective: PgradObjective }
  | { type: 'plogits'; id: number; x: Float32Array; n: number; v: Float32Array; clip: boolean };
export type WorkerReply =
  | { type: 'ready'; id: string; inputShape: [number, number, number]; ids: string[]; names: string[]; backend: string }
  | { type: 'result'; id: number; logits: Float32Array; grads?: Float32Array }
  | { type: 'error'; id: number; message: string; code?: string; input?: string };

const port = parentPort;
if (!port) throw new Error('classifier-worker.ts must run in a worker thread');

/** The model as loaded (tfjs engine), whose net the recorded passes run on. */
let clf: NetClassifier | undefined;
/** What answers the requests: clf itself, or its OrtClassifier. */
let model: (Classifier & Partial<PerturbationGradient> & Partial<PerturbedLogits>) | undefined;
let backendName = '';
/** this worker's copies of the shared images (reused: see HostBuffers) */
const local = new HostBuffers();
/** Recorded forward passes awaiting their backward, by key. */
const recorded = new Map<number, (tf.Tensor | undefined)[]>();

port.on('message', (msg: InitRequest | WorkRequest) => {
  void handle(msg);
});

async function handle(msg: InitRequest | WorkRequest): Promise<void> {
  const id = msg.type === 'init' ? -1 : msg.id;
  try {
    if (msg.type === 'init') {
      const ort = msg.engine === 'ort';
      // ORT runs the arithmetic; tfjs then only holds weights and small tensors, for which its cpu backend suffices
      const backend = await initBackend(ort ? 'cpu' : (msg.backend ?? 'wasm'));
      backendName = backend;
      clf = await loadModel(msg.spec, msg.modelsDir ? { modelsDir: msg.modelsDir } : {});
      model = ort ? await (await loadOrtEngine()).create(clf, { threads: msg.threads ?? 1, device: msg.device }) : clf;
      const reply: WorkerReply = {
        type: 'ready',
        id: model.id,
        inputShape: [...model.inputShape] as [number, number, number],
        ids: [...model.labels.ids],
        names: [...model.labels.names],
        backend: ort ? model.backend : backend,
      };
      port!.postMessage(reply);
      return;
    }
    if (!clf || !model) throw new Error('worker not initialised');
    const [h, w, c] = model.inputShape;
    const net = clf.net;
    const K = model.labels.ids.length;
    let logits: Float32Array = new Float32Array(0);
    let grads: Float32Array | undefined;
    if (msg.type === 'release') {
      tf.dispose(recorded.get(msg.key) as tf.Tensor[] | undefined);
      recorded.delete(msg.key);
    } else if (msg.type === 'backward') {
      const values = recorded.get(msg.key);
      if (!values) throw new Error(`no recorded forward pass ${msg.key}`);
      recorded.delete(msg.key);
      try {
        const n = values[0]!.shape[0]!;
        const g = tf.tidy(() => backwardNet(net, values, tf.tensor2d(msg.upstream, [n, K]), 1));
        grads = (await g.data()) as Float32Array;
        g.dispose();
      } finally {
        tf.dispose(values as tf.Tensor[]);
      }
    } else {
      // a recorded pass keeps x (then it gets an array of its own); otherwise a kept local buffer
      const shared = backendName !== 'wasm' && msg.x.buffer instanceof SharedArrayBuffer;
      const own = shared && msg.type !== 'forward' ? local.take(msg.x.length) : undefined;
      own?.set(msg.x);
      const x = tf.tensor4d(own ?? (shared ? Float32Array.from(msg.x) : msg.x), [msg.n, h, w, c]);
      let keep = false;
      try {
        if (msg.type === 'logits') {
          const l = await model.logits(x);
          logits = (await l.data()) as Float32Array;
          l.dispose();
        } else if (msg.type === 'forward') {
          const values = tf.tidy(() => forwardValues(net, x, true) as tf.Tensor[]);
          recorded.set(msg.key, values);
          keep = true;
          logits = (await values[net.output]!.data()) as Float32Array;
        } else if (msg.type === 'jacobian') {
          // NetClassifier.jacobian runs big batches in chunks of whole images (bounded memory)
          const classes = tf.tensor2d(msg.classes, [msg.n, msg.k], 'int32');
          const r = await model.jacobian(x, classes);
          classes.dispose();
          logits = (await r.logits.data()) as Float32Array;
          grads = (await r.grads.data()) as Float32Array;
          tf.dispose([r.logits, r.grads]);
        } else if (msg.type === 'plogits') {
          if (!model.perturbedLogits) throw new Error('this worker has no perturbed-logits graph (tfjs engine)');
          const l = await model.perturbedLogits(x, msg.v, msg.clip);
          logits = (await l.data()) as Float32Array;
          l.dispose();
        } else if (msg.type === 'pgrad') {
          if (!model.perturbationGradient) throw new Error('this worker has no perturbation-gradient graph (tfjs engine)');
          const r = await model.perturbationGradient(x, msg.v, msg.cls, msg.objective);
          logits = r.logits;
          grads = r.grad;
        } else {
          const r = await model.vjp(x, () => tf.tensor2d(msg.upstream, [msg.n, K]));
          logits = (await r.logits.data()) as Float32Array;
          grads = (await r.grad.data()) as Float32Array;
          tf.dispose([r.logits, r.grad]);
        }
      } finally {
        if (!keep) x.dispose();
        if (own) local.give(own);
      }
    }
    const reply: WorkerReply = { type: 'result', id, logits, grads };
    port!.postMessage(reply, (grads ? [logits.buffer, grads.buffer] : [logits.buffer]) as ArrayBuffer[]);
  } catch (e) {
    const err = e as Error & { code?: string; input?: string };
    const reply: WorkerReply = { type: 'error', id, message: err.message, code: err.code, input: err.input };
    port!.postMessage(reply);
  }
}
