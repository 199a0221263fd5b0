import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/tensor/backend.js';
import { loadModelNode } from '../src/node/model-files.js';
import { loadDataset } from '../src/node/datasets.js';
import { batchSource } from '../src/data/batch-source.js';
import { deepfool } from '../src/attacks/deepfool.js';
import { universalPerturbation } from '../src/attacks/universal.js';
import { evaluatePerturbation } from '../src/eval/fooling-rate.js';
await initBackend('wasm');
const model = await loadModelNode(process.argv[2] ?? 'mobilenet_v1_0.25_224');
const data = await loadDataset('../shared/imagenet-sample/train.txt', { inputShape: model.inputShape, limit: Number(process.argv[3] ?? 32), seed: 1 });
console.log('backend', tf.getBackend(), 'n', data.n);
const src = batchSource(data);
const x = await src.get(Int32Array.from({ length: 8 }, (_, i) => i));
for (const norm of [2, 'inf'] as const) {
  let t0 = performance.now();
  const r = await deepfool(model, x, { norm, batchSize: 8, maxIter: 50 });
  const dt = (performance.now() - t0) / 1000;
  const d = 224 * 224 * 3;
  const norms = Array.from({ length: 8 }, (_, i) => { let s = 0, m = 0; for (let j = 0; j < d; j++) { const a = r.r[i * d + j]!; s += a * a; m = Math.max(m, Math.abs(a)); } return norm === 2 ? Math.sqrt(s).toFixed(1) : m.toFixed(2); });
  console.log(`deepfool ${norm} 8 imgs: ${dt.toFixed(1)}s iters ${Array.from(r.iterations)} conv ${Array.from(r.converged)} norms ${norms}`);
}
x.dispose();
const t0 = performance.now();
const res = await universalPerturbation(model, src, { norm: 'inf', xi: 10, maxPasses: 1, seed: 0, onProgress: (e) => { if (e.phase === 'pass-end') console.log(e.record); } });
console.log('alg1 1 pass', ((performance.now() - t0) / 1000).toFixed(1), 's fr', res.foolingRate, tf.memory().numTensors);
