import { UapError, type Classifier } from '../src/index.js';
import type { ComputeMessage, ComputeRequest } from './compute-worker.js';

/** The page's side of computing v: the worker that runs SGD, and the frame-gap monitor that shows the page stayed responsive. */

/** Watches requestAnimationFrame while work runs: the longest gap between frames is what the user feels. */
export function frameGapMonitor(): { stop: () => number } {
  let last = performance.now();
  let longest = 0;
  let on = true;
  const tick = (t: number) => {
    longest = Math.max(longest, t - last);
    last = t;
    if (on) requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
  return {
    stop: () => {
      on = false;
      return Math.max(longest, performance.now() - last);
    },
  };
}

export function computeInWorker(
  model: Classifier,
  req: ComputeRequest,
  onProgress: (e: { pass: number; done: number; total: number; loss: number }) => void,
  signal: AbortSignal,
): Promise<{ v: Float32Array; foolingRate: number; passes: number; aborted: boolean }> {
  const worker = new Worker(new URL('./compute-worker.ts', import.meta.url), { type: 'module' });
  return new Promise((resolve, reject) => {
    const stop = () => worker.postMessage({ type: 'stop' });
    signal.addEventListener('abort', stop);
    const end = () => {
      signal.removeEventListener('abort', stop);
      worker.terminate();
    };
    worker.onmessage = (e: MessageEvent<ComputeMessage>) => {
      const m = e.data;
      if (m.type === 'progress') onProgress(m);
      else {
        end();
        if (m.type === 'done') resolve(m);
        else reject(new UapError('BAD_INPUT', m.message, `computing v for ${model.id}`));
      }
    };
    worker.onerror = (e) => {
      end();
      reject(new UapError('BAD_INPUT', e.message || 'the worker failed', 'compute'));
    };
    worker.postMessage(req, [req.images.buffer]);
  });
}
