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
  | { type: 'vjp'; id: number; x: Float32Array; n: number; upstream: Float32Array };
export type WorkerReply =
  | { type: 'ready'; id: string; inputShape: [number, number, number]; ids: string[]; names: string[]; backend: string }
  | { type: 'result'; id: number; logits: Float32Array; grads?: Float32Array }
  | { type: 'error'; id: number; message: string; code?: string; input?: string };

const port = parentPort;
if (!port) throw new Error('classifier-worker.ts must run in a worker thread');

let clf: NetClassifier | undefined;

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
    const x = tf.tensor4d(msg.x, [msg.n, h, w, c]);
    let logits: Float32Array;
    let grads: Float32Array | undefined;
    try {
      if (msg.type === 'logits') {
        const l = await clf.logits(x);
        logits = (await l.data()) as Float32Array;
        l.dispose();
      } else {
        const [l, g] = tf.tidy(() => {
          const values = forwardValues(net, x, true);
          const out = values[net.output] as tf.Tensor2D;
          let upstream: tf.Tensor2D;
          let k = 1;
          if (msg.type === 'jacobian') {
            k = msg.k;
            upstream = tf.oneHot(tf.tensor1d(msg.classes, 'int32'), K).toFloat() as tf.Tensor2D;
          } else {
            upstream = tf.tensor2d(msg.upstream, [msg.n, K]);
          }
          return [out, backwardNet(net, values, upstream, k)];
        });
        logits = (await l.data()) as Float32Array;
        grads = (await g.data()) as Float32Array;
        tf.dispose([l, g]);
      }
    } finally {
      x.dispose();
    }
    const reply: WorkerReply = { type: 'result', id, logits, grads };
    port!.postMessage(reply, (grads ? [logits.buffer, grads.buffer] : [logits.buffer]) as ArrayBuffer[]);
  } catch (e) {
    const err = e as Error & { code?: string; input?: string };
    const reply: WorkerReply = { type: 'error', id, message: err.message, code: err.code, input: err.input };
    port!.postMessage(reply);
  }
}
