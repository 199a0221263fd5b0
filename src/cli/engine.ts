import type { Command } from 'commander';
import os from 'node:os';
import { UapError, type Classifier } from '../index.js';
import { loadModel, loadOrtEngine, WorkerPoolClassifier, type OrtClassifier } from '../node/index.js';

/**
 * `--engine ort|tfjs`, `--device cpu|cuda`, `--threads N`: which engine runs a model's forward and
 * gradients in the CLI. ONNX Runtime (OrtClassifier, uap/node) is the default in Node whenever
 * onnxruntime-node loads; tfjs (the `--backend` flag) is the fallback, and stays the engine of the web
 * page and of `uap train` / `uap harden` (they fit weights, which the ORT graphs do not compute).
 *
 * `--workers N` with the ort engine runs N worker threads, each with its own ORT sessions (default 1 thread
 * each): measured on 2 cores against one 2-thread session, it is faster on gradients and Jacobians (1.3–1.4×
 * on mobilenet_v1_0.75_224), the same on forwards and slower on Algorithm 1's one-photo steps, and it holds the
 * model twice; so one session stays the default (docs/engines.md).
 */

export type EngineName = 'ort' | 'tfjs';

interface EngineFlags {
  engine?: string;
  device?: string;
  threads?: string;
  workers?: string;
}

export function engineFlags(program: Command): { engine?: EngineName; device: 'cpu' | 'cuda'; threads: number } {
  const o = program.opts() as EngineFlags;
  if (o.engine !== undefined && o.engine !== 'ort' && o.engine !== 'tfjs') {
    throw new UapError('BAD_ARGUMENT', `unknown engine ${o.engine}: use ort or tfjs`, '--engine');
  }
  const device = o.device ?? 'cpu';
  if (device !== 'cpu' && device !== 'cuda') throw new UapError('BAD_ARGUMENT', `unknown device ${device}: use cpu or cuda`, '--device');
  if (device === 'cuda' && o.engine === 'tfjs') throw new UapError('BAD_ARGUMENT', 'only the ort engine runs on CUDA', '--device');
  const threads = o.threads === undefined ? os.availableParallelism() : Number(o.threads);
  if (!Number.isInteger(threads) || threads < 1 || threads > 1024) throw new UapError('BAD_ARGUMENT', `must be an integer ≥ 1, got ${o.threads}`, '--threads');
  return { engine: o.engine as EngineName | undefined, device, threads };
}

/**
 * The model on ONNX Runtime when that engine is chosen (explicitly, or by default when onnxruntime-node
 * loads); undefined when tfjs should run it. Says on stderr which engine runs.
 */
export async function openWithOrt(program: Command, name: string, modelsDir?: string): Promise<Classifier | undefined> {
  const { engine, device, threads } = engineFlags(program);
  if (engine === 'tfjs') return undefined;
  const o = program.opts() as EngineFlags;
  let Ort: typeof OrtClassifier;
  try {
    Ort = await loadOrtEngine();
  } catch (e) {
    const why = (e as Error).message.split('\n')[0];
    if (engine === 'ort') throw new UapError('BAD_ARGUMENT', `onnxruntime-node does not load here (${why})`, '--engine ort');
    console.error(`engine: tfjs (onnxruntime-node does not load: ${why})`);
    return undefined;
  }
  const workers = o.workers === undefined ? 1 : Number(o.workers);
  if (!Number.isInteger(workers) || workers < 1 || workers > 256) throw new UapError('BAD_ARGUMENT', `must be an integer from 1 to 256, got ${o.workers}`, '--workers');
  if (workers > 1) {
    const perWorker = o.threads === undefined ? 1 : threads;
    const pool = await WorkerPoolClassifier.create(name, { modelsDir, workers, engine: 'ort', threads: perWorker, device });
    console.error(`engine: onnxruntime-node (${device}, ${workers} workers × ${perWorker} thread${perWorker > 1 ? 's' : ''})`);
    return pool;
  }
  const base = await loadModel(name, { modelsDir });
  const model = await Ort.create(base, { device, threads }).catch((e: unknown) => {
    base.dispose();
    throw e;
  });
  console.error(`engine: onnxruntime-node (${device}, ${threads} threads)`);
  return model;
}
