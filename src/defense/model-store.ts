import type * as tf from '@tensorflow/tfjs';
import type { ModelIO } from '../models/load.js';

/**
 * Where runHarden reads the model it hardens and keeps the hardened one: reads go through a ModelIO (the
 * same file access as loadModel), and `save` returns the location that `io` opens the saved model from, so
 * the hardened model is checked by reloading it exactly as a user would. uap/node: a folder
 * (src/node/harden-folder.ts).
 */
export interface ModelStore {
  readonly io: ModelIO;
  /** Saves the hardened layers model; returns where `io.open` finds it. */
  save(model: tf.LayersModel): Promise<string>;
}
