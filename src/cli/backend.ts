import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import type { Command } from 'commander';

/** Picks the tfjs backend for a CLI command (global --backend flag) and says which one runs. */
export async function initCliBackend(program: Command): Promise<string> {
  const wanted = (program.opts().backend as string | undefined) ?? 'wasm';
  await tf.setBackend(wanted);
  await tf.ready();
  console.error(`backend: ${tf.getBackend()} (tfjs ${tf.version.tfjs})`);
  return tf.getBackend();
}
