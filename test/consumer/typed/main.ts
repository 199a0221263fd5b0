// A strict TypeScript consumer of the shipped .d.ts (type-checked by consumer.test.ts, never run): it uses both
// entry points together with the app's own copy of TensorFlow.js, and the @ts-expect-error lines fail the check
// if the types ever decay to `any`.
import * as tf from '@tensorflow/tfjs';
import {
  batchSource,
  evaluatePerturbation,
  projectLp,
  readNpy,
  sgdPerturbation,
  UapError,
  writeNpy,
  type Batch,
  type Classifier,
  type Evaluation,
  type LpNorm,
  type SgdOptions,
} from 'uap';
import { initBackend, loadDataset, loadModel } from 'uap/node';

export async function foolingRate(limit: number): Promise<number> {
  const backend: string = await initBackend('wasm');
  const model: Classifier = await loadModel('mnist');
  const [h, w, c] = model.inputShape;
  const batch: Batch = await loadDataset('mnist:test', { inputShape: model.inputShape, limit });
  const norm: LpNorm = 'inf';
  const options: SgdOptions = { norm, xi: 77, epochs: 1, seed: 1 };
  const { v, history } = await sgdPerturbation(model, batchSource(batch), options);
  const e: Evaluation = await evaluatePerturbation(model, batchSource(batch), batch.labels, projectLp(v, 77, norm));
  // The Classifier speaks the app's tf.Tensor types: one copy of TensorFlow.js.
  const logits: tf.Tensor2D = await model.logits(tf.zeros([1, h, w, c]) as tf.Tensor4D);
  logits.dispose();
  const npy = readNpy(writeNpy(v, [h, w, c]), 'v.npy');
  const values: Float32Array = npy.data;
  // @ts-expect-error a norm is 'inf', 2 or 1
  projectLp(v, 77, 'l3');
  // @ts-expect-error evaluatePerturbation needs the perturbation
  await evaluatePerturbation(model, batchSource(batch), batch.labels);
  console.log(backend, history.length, values.length);
  return e.foolingRate;
}

export function describe(err: unknown): string {
  return err instanceof UapError ? `${err.code}: ${err.message}` : String(err);
}
