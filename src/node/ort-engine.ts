import type { OrtClassifier } from './ort-classifier.js';

/**
 * The ONNX Runtime engine, loaded on first use: onnxruntime-node is a native addon that does not load on every
 * platform, and uap/node (the CLI, the worker threads) must work without it, falling back to tfjs.
 *
 * @returns the {@link OrtClassifier} class; `await (await loadOrtEngine()).create(model, { threads: 2 })`
 * @throws whatever loading onnxruntime-node throws, when it does not load here
 */
export async function loadOrtEngine(): Promise<typeof OrtClassifier> {
  return (await import('./ort-classifier.js')).OrtClassifier;
}
