import { parentPort } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs';
import { loadModel } from './model-files.js';
import type { NetClassifier } from '../models/net-classifier.js';
import { backwardNet } from '../models/net/backward.js';
import { forwardValues } from '../models/net/forward.js';
import { initBackend, type BackendName } from '../tensor/backend.js';

/**
 * Worker-thread side of WorkerPoolClassifier: its own tfjs backend and its own copy of the model,
 * loaded by the same spec. Requests carry raw Float32Array/Int32Array data (transferred, not copied).
 *
 * A vjp is two requests: 'forward' records the forward pass (kept under `key`) and returns the logits;
 * 'backward' brings the upstream gradient the pool computed from all workers' logits and runs the reverse
 * pass on the recorded values, then frees them ('release' frees them without a backward, after an error).
 */

export interface InitRequest {
  type: 'init';
  spec: string;
  modelsDir?: string;
  backend?: BackendName;
}
export type WorkRequest =
  | { type: 'logits'; id: number; x: Float32Array; n: number }
  | { type: 'jacobian'; id: number; x: Float32Array; n: number; classes: Int32Array; k: number }
  | { type: 'vjp'; id: number; x: Float32Array; n: number; upstream: Float32Array }
  | { type: 'forward'; id: number; key: number; x: Float32Array; n: number }
  | { type: 'backward'; id: number; key: number; upstream: Float32Array }
  | { type: 'release'; id: number; key: number };
export type WorkerReply =
  | { type: 'ready'; id: string; inputShape: [number, number, number]; ids: string[]; names: string[]; backend: string }
  | { type: 'result'; id: number; logits: Float32Array; grads?: Float32Array }
  | { type: 'error'; id: number; message: string; code?: string; input?: string };

const port = parentPort;
if (!port) throw new Error('classifier-worker.ts must run in a worker thread');

let clf: NetClassifier | undefined;
/** Recorded forward passes awaiting their backward, by key. */
const recorded = new Map<number, (tf.Tensor | undefined)[]>();

port.on('message', (msg: InitRequest | WorkRequest) => {
  void handle(msg);
});

async function handle(msg: InitRequest | WorkRequest): Promise<void> {
  const id = msg.type === 'init' ? -1 : msg.id;
  try {
    if (msg.type === 'init') {
      const backend = await initBackend(msg.backend ?? 'wasm');
      clf = await loadModel(msg.spec, msg.modelsDir ? { modelsDir: msg.modelsDir } : {});
      const reply: WorkerReply = {
        type: 'ready',
        id: clf.id,
        inputShape: [...clf.inputShape] as [number, number, number],
        ids: [...clf.labels.ids],
        names: [...clf.labels.names],
        backend,
      };
      port!.postMessage(reply);
      return;
    }
    if (!clf) throw new Error('worker not initialised');
    const [h, w, c] = clf.inputShape;
    const net = clf.net;
    const K = clf.labels.ids.length;
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
      const x = tf.tensor4d(msg.x, [msg.n, h, w, c]);
      let keep = false;
      try {
        if (msg.type === 'logits') {
          const l = await clf.logits(x);
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
          const r = await clf.jacobian(x, classes);
          classes.dispose();
          logits = (await r.logits.data()) as Float32Array;
          grads = (await r.grads.data()) as Float32Array;
          tf.dispose([r.logits, r.grads]);
        } else {
          const r = await clf.vjp(x, () => tf.tensor2d(msg.upstream, [msg.n, K]));
          logits = (await r.logits.data()) as Float32Array;
          grads = (await r.grad.data()) as Float32Array;
          tf.dispose([r.logits, r.grad]);
        }
      } finally {
        if (!keep) x.dispose();
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
