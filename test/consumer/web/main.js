// A browser app that imports only 'uap' (built by Vite in consumer.test.ts): it loads the MNIST model and the
// MNIST test digits over HTTP, computes a universal perturbation on 64 digits and measures it on 300 others.
// TensorFlow.js picks the page's backend (webgl, else cpu); both are slow at gradients here, so the perturbation
// takes full-size ℓ∞ steps (stepSize = ξ) for 3 epochs: ~15 s, where random ±77 noise fools ~2%.
import { batchSource, evaluatePerturbation, fetchModelIO, loadModel, parseIdxImages, parseIdxLabels, sgdPerturbation } from 'uap';

const out = document.getElementById('out');

async function bytes(url) {
  const r = await fetch(url);
  if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
  return new Uint8Array(await r.arrayBuffer());
}

function digits(images, labels, start, n) {
  const size = images.rows * images.cols;
  const pixels = Float32Array.from(images.pixels.subarray(start * size, (start + n) * size));
  const names = Array.from({ length: n }, (_, i) => `mnist:test#${start + i}`);
  return { images: pixels, labels: labels.slice(start, start + n), n, shape: [images.rows, images.cols, 1], names };
}

try {
  const model = await loadModel('mnist', { io: fetchModelIO() });
  const images = parseIdxImages(await bytes('mnist/t10k-images-idx3-ubyte'), 'images');
  const labels = parseIdxLabels(await bytes('mnist/t10k-labels-idx1-ubyte'), 'labels');
  const train = digits(images, labels, 0, 64);
  const test = digits(images, labels, 200, 300);
  const { v } = await sgdPerturbation(model, batchSource(train), { norm: 'inf', xi: 77, epochs: 3, stepSize: 77, seed: 1 });
  const e = await evaluatePerturbation(model, batchSource(test), test.labels, v);
  out.textContent = `fooling rate ${(100 * e.foolingRate).toFixed(1)}% on ${e.n} digits (backend ${model.backend})`;
} catch (err) {
  out.textContent = `error: ${err instanceof Error ? err.message : String(err)}`;
}
