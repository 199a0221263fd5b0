import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/tensor/backend.js';
import { loadModel } from '../src/models/load.js';
import { forwardValues, runNet } from '../src/models/net/forward.js';
import { backwardNet } from '../src/models/net/backward.js';
await initBackend('wasm');
const name = process.argv[2] ?? 'mobilenet_v1_0.25_224';
const t0 = performance.now();
const clf = await loadModel(name, { modelsDir: (process.env.UAP_SHARED ?? '../shared') + '/models' });
console.log('loaded', name, (performance.now() - t0).toFixed(0), 'ms', clf.net.nodes.length, 'nodes');
const kinds = new Map<string, number>();
for (const n of clf.net.nodes) if (n.op) kinds.set(n.op.kind, (kinds.get(n.op.kind) ?? 0) + 1);
console.log([...kinds]);
for (const n of (process.argv[3] ?? '1,8').split(',').map(Number)) {
  const x = tf.randomUniform([n, 224, 224, 3], 0, 255) as tf.Tensor4D;
  const time = async (label: string, f: () => tf.Tensor | tf.Tensor[], reps = 3) => {
    tf.dispose(f());
    let best = Infinity;
    for (let i = 0; i < reps; i++) { const t = performance.now(); const r = f(); const a = Array.isArray(r) ? r : [r]; for (const q of a) await q.data(); tf.dispose(r); best = Math.min(best, performance.now() - t); }
    const ms = best / n;
    console.log(`N=${n} ${label}: ${ms.toFixed(1)} ms/image`);
    return ms;
  };
  const fwd = await time('forward', () => runNet(clf.net, x));
  const g = await time('grad k=1', () => tf.tidy(() => { const v = forwardValues(clf.net, x, true); const K = v[clf.net.output]!.shape[1]!; return backwardNet(clf.net, v, tf.oneHot(tf.fill([n], 3, 'int32') as tf.Tensor1D, K).toFloat() as tf.Tensor2D, 1); }));
  const j = await time('jac k=10', () => tf.tidy(() => { const v = forwardValues(clf.net, x, true); const K = v[clf.net.output]!.shape[1]!; return backwardNet(clf.net, v, tf.oneHot(tf.tensor1d(Array.from({length: n*10}, (_, i) => i % 10), 'int32'), K).toFloat() as tf.Tensor2D, 10); }), 2);
  console.log(`ratios grad ${(g / fwd).toFixed(2)} jac ${(j / fwd).toFixed(2)}`);
  x.dispose();
}
