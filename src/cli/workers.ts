import type { Command } from 'commander';
import os from 'node:os';
import type { Classifier } from '../models/classifier.js';
import { loadModel } from '../models/load.js';
import type { BackendName } from '../tensor/backend.js';
import { UapError } from '../errors.js';
import { WorkerPoolClassifier } from '../node/worker-pool-classifier.js';

/**
 * `--workers N`: how many worker threads run a tfjs model. tfjs-backend-wasm runs one thread per instance
 * in Node, so one worker per core is how every core gets used (src/node/worker-pool-classifier.ts). The
 * default is the number of cores for the wasm and cpu backends; 1 runs the model in the main thread.
 * Native tfjs-node and the ONNX Runtime engine thread themselves: one, unless asked.
 */
export function workerCount(program: Command, backend: string): number {
  const o = program.opts() as { workers?: string; engine?: string };
  if (o.workers !== undefined) {
    const n = Number(o.workers);
    if (!Number.isInteger(n) || n < 1 || n > 256) throw new UapError('BAD_ARGUMENT', `must be an integer from 1 to 256, got ${o.workers}`, '--workers');
    return n;
  }
  if (o.engine === 'ort' || (backend !== 'wasm' && backend !== 'cpu')) return 1;
  return os.availableParallelism();
}

/** Loads a model in the main thread (1 worker) or in a pool of workers on the same backend. */
export async function loadWithWorkers(name: string, opts: { modelsDir?: string; workers: number; backend: string }): Promise<Classifier> {
  if (opts.workers <= 1) return loadModel(name, { modelsDir: opts.modelsDir });
  return WorkerPoolClassifier.create(name, { modelsDir: opts.modelsDir, workers: opts.workers, backend: opts.backend as BackendName });
}
