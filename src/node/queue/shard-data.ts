import * as tf from '@tensorflow/tfjs';
import type { ImageSource } from '../../data/image-source.js';
import { UapError } from '../../errors.js';
import type { Labels } from '../../models/labels.js';
import { loadDataset, resolveDatasetSpec, selectIndices, type DatasetEntry } from '../datasets.js';
import { decodeImages, labelOfFile, parseLabel } from '../images.js';
import { loadMnist } from '../mnist-files.js';

/**
 * The images of a data spec by index, without decoding the whole set: a worker decodes only the images of
 * its shard (50,000 ImageNet photos are 30 GB as float32; a shard of 512 is 300 MB). The order and the labels
 * are those of `loadDataset` (src/node/datasets.ts): the first `limit` of the same seeded shuffle. MNIST is
 * small and read once per process.
 */

/** A data spec with its --limit and --seed, as jobs name it. */
export interface DataSpec {
  data: string;
  limit?: number;
  seed: number;
}

/** A spec's images by index (decoded on demand), with their labels. */
export interface IndexedData extends ImageSource {
  /** True labels of the images at `indices` (−1 unknown). */
  labelsOf(indices: Int32Array): Int32Array;
}

/** How many images a spec names (after --limit), without decoding any. */
export async function datasetSize(spec: DataSpec): Promise<number> {
  const resolved = await resolveDatasetSpec(spec.data);
  const total = resolved.kind === 'mnist' ? (await loadMnist(resolved.split!)).n : resolved.entries.length;
  if (total === 0) throw new UapError('BAD_INPUT', 'empty dataset', spec.data);
  return selectIndices(total, spec.limit, spec.seed).length;
}

const mnistCache = new Map<string, Promise<IndexedData>>();

function fromArrays(images: Float32Array, labels: Int32Array, shape: [number, number, number]): IndexedData {
  const size = shape[0] * shape[1] * shape[2];
  return {
    size: labels.length,
    get(indices) {
      const out = new Float32Array(indices.length * size);
      indices.forEach((i, j) => out.set(images.subarray(i * size, (i + 1) * size), j * size));
      return tf.tensor4d(out, [indices.length, ...shape]);
    },
    labelsOf: (indices) => Int32Array.from(indices, (i) => labels[i]!),
  };
}

/** Random access to a spec's images at a model's input shape. */
export async function openIndexedData(spec: DataSpec, inputShape: readonly [number, number, number], labelSpace: Labels): Promise<IndexedData> {
  const shape: [number, number, number] = [inputShape[0], inputShape[1], inputShape[2]];
  const resolved = await resolveDatasetSpec(spec.data);
  if (resolved.kind === 'mnist') {
    const key = JSON.stringify([spec.data, spec.limit ?? null, spec.seed, shape]);
    let p = mnistCache.get(key);
    if (!p) {
      p = loadDataset(spec.data, { inputShape: shape, limit: spec.limit, seed: spec.seed, labels: labelSpace }).then((b) =>
        fromArrays(b.images, b.labels, shape),
      );
      mnistCache.set(key, p);
      p.catch(() => mnistCache.delete(key));
    }
    return p;
  }
  if (resolved.entries.length === 0) throw new UapError('BAD_INPUT', 'empty dataset', spec.data);
  const idx = selectIndices(resolved.entries.length, spec.limit, spec.seed);
  const entries: DatasetEntry[] = Array.from(idx, (i) => resolved.entries[i]!);
  const labelOf = (e: DatasetEntry) => (e.label !== undefined ? parseLabel(e.label, labelSpace, `${spec.data} (${e.file})`) : labelOfFile(e.file, labelSpace));
  return {
    size: entries.length,
    async get(indices) {
      const files = Array.from(indices, (i) => entries[i]!.file);
      const images = await decodeImages(files, { shape });
      return tf.tensor4d(images, [indices.length, ...shape]);
    },
    labelsOf: (indices) => Int32Array.from(indices, (i) => labelOf(entries[i]!)),
  };
}
