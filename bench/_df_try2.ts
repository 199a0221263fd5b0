import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/tensor/backend.js';
import { loadModelNode } from '../src/node/model-files.js';
import { loadDataset } from '../src/node/datasets.js';
import { batchSource } from '../src/data/batch-source.js';
import { universalPerturbation } from '../src/attacks/universal.js';
await initBackend('wasm');
const model = await loadModelNode('mobilenet_v1_0.25_224');
const data = await loadDataset('../shared/imagenet-sample/train.txt', { inputShape: model.inputShape, limit: 32, seed: 1 });
const src = batchSource(data);
for (const [step, dfb] of [[2, 1], ['inf', 8]] as const) {
  const t0 = performance.now();
  const res = await universalPerturbation(model, src, { norm: 'inf', xi: 10, maxPasses: 1, seed: 0, step, deepfoolBatchSize: dfb });
  console.log('step', step, 'dfBatch', dfb, ((performance.now() - t0) / 1000).toFixed(1), 's', JSON.stringify(res.history[0]));
}
