import type * as tf from '@tensorflow/tfjs';
import path from 'node:path';
import { layersModelFiles } from '../defense/layers-model.js';
import { writeFileAtomic } from './atomic-files.js';

/**
 * Saves a tfjs layers model into `dir` as model.json + one weights.bin shard, each written atomically, the
 * weights first: a reader never finds a model.json whose weights are missing or partial.
 */
export async function saveLayersModel(model: tf.LayersModel, dir: string): Promise<void> {
  const files = await layersModelFiles(model);
  for (const name of ['weights.bin', 'model.json']) await writeFileAtomic(path.join(dir, name), files.get(name)!);
}
