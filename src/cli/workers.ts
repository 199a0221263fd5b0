import type { Command } from 'commander';
import os from 'node:os';
import { findZooEntry, UapError, type Classifier } from '../index.js';
import { loadModel, WorkerPoolClassifier, type BackendName } from '../node/index.js';

/**
 * `--workers N`: how many worker threads run a tfjs model. tfjs-backend-wasm runs one thread per instance
 * in Node, so one worker per core is how every core gets used (src/node/worker-pool-classifier.ts). The
 * default is the number of cores for the wasm and cpu backends; 1 runs the model in the main thread.
 * Native tfjs-node and the ONNX Runtime engine thread themselves: one, unless asked.
 */
export function workerCount(program: Command, backend: string): { count: number; asked: boolean } {
  const o = program.opts() as { workers?: string; engine?: string };
  if (o.workers !== undefined) {
    const n = Number(o.workers);
    if (!Number.isInteger(n) || n < 1 || n > 256) throw new UapError('BAD_ARGUMENT', `must be an integer from 1 to 256, got ${o.workers}`, '--workers');
    return { count: n, asked: true };
  }
  if (o.engine === 'ort' || (backend !== 'wasm' && backend !== 'cpu')) return { count: 1, asked: false };
  return { count: os.availableParallelism(), asked: false };
}

/**
 * Below this many input pixels (H·W) a model stays in the main thread unless --workers asks otherwise:
 * starting a worker (tfjs, the wasm module, the model: 1–3 s) costs more than an MNIST job's whole work.
 */
export const SMALL_INPUT = 64 * 64;

/**
 * Loads a model in the main thread or in a pool of workers on the same backend. With the default worker
 * count, a small model (a zoo entry's input size, else the loaded model's) stays in the main thread.
 */
export async function loadWithWorkers(
  name: string,
  opts: { modelsDir?: string; workers: { count: number; asked: boolean }; backend: string },
): Promise<{ model: Classifier; workers: number }> {
  const inThread = async () => ({ model: await loadModel(name, { modelsDir: opts.modelsDir }), workers: 1 });
  if (opts.workers.count <= 1) return inThread();
  const pool = async () => ({
    model: await WorkerPoolClassifier.create(name, { modelsDir: opts.modelsDir, workers: opts.workers.count, backend: opts.backend as BackendName }),
    workers: opts.workers.count,
  });
  if (opts.workers.asked) return pool();
  const small = (shape: readonly number[]) => shape[0]! * shape[1]! < SMALL_INPUT;
  const entry = findZooEntry(name);
  if (entry) return small(entry.inputShape) ? inThread() : pool();
  const probe = await inThread();
  if (small(probe.model.inputShape)) return probe;
  probe.model.dispose();
  return pool();
}
