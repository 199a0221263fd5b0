import { batchSource, fetchModelIO, loadModel, sgdPerturbation, urlFolder, type ModelIO } from '../src/index.js';
import { initBackend } from './backend.js';

/**
 * Computing v in the page, off the main thread: this worker loads the same model (from the same URL) on the wasm
 * backend and runs the library's SGD attack on the gallery's model inputs, posting progress after every step. The
 * page stays responsive (its frames are not blocked by forward and backward passes); Stop aborts at the next step,
 * keeping the v of the last completed epoch.
 */

export interface ComputeRequest {
  type: 'start';
  /** A zoo name or a URL, as loadModel takes it. */
  spec: string;
  /** Absolute URL of a listed model's main file (the page's server); absent: the zoo's own URL / spec as a URL. */
  mainUrl?: string;
  images: Float32Array;
  labels: Int32Array;
  shape: [number, number, number];
  options: { xi: number; epochs: number; batchSize: number; seed: number; clip: boolean };
}

export type ComputeMessage =
  | { type: 'progress'; pass: number; done: number; total: number; loss: number }
  | { type: 'done'; v: Float32Array; foolingRate: number; passes: number; aborted: boolean }
  | { type: 'error'; message: string };

const controller = new AbortController();
const post = (m: ComputeMessage, transfer: Transferable[] = []) => (self as unknown as Worker).postMessage(m, transfer);

self.onmessage = (e: MessageEvent<ComputeRequest | { type: 'stop' }>) => {
  const m = e.data;
  if (m.type === 'stop') {
    controller.abort();
    return;
  }
  void run(m).catch((err: unknown) => post({ type: 'error', message: err instanceof Error ? err.message : String(err) }));
};

async function run(req: ComputeRequest): Promise<void> {
  await initBackend(['wasm', 'cpu']);
  const byUrl = fetchModelIO();
  const io: ModelIO = req.mainUrl ? { zoo: () => urlFolder(req.mainUrl!), open: (loc) => byUrl.open(loc) } : byUrl;
  const model = await loadModel(req.spec, { io });
  const n = req.labels.length;
  const source = batchSource({ images: req.images, labels: req.labels, n, shape: req.shape, names: Array.from({ length: n }, (_, i) => `photo ${i}`) });
  const result = await sgdPerturbation(model, source, {
    norm: 'inf',
    ...req.options,
    signal: controller.signal,
    onProgress: (p) => {
      if (p.phase === 'epoch') post({ type: 'progress', pass: p.pass, done: p.done, total: p.total, loss: p.loss });
    },
  });
  model.dispose();
  post({ type: 'done', v: result.v, foolingRate: result.foolingRate, passes: result.passes, aborted: result.aborted }, [result.v.buffer]);
}
