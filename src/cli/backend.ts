import type { Command } from 'commander';
import { initBackend, type BackendName } from '../node/index.js';

/**
 * Picks the tfjs backend for a CLI command (global --backend flag; default: tfjs-node when installed,
 * else wasm, else cpu) and says on stderr which one runs.
 */
export async function initCliBackend(program: Command): Promise<string> {
  const wanted = program.opts().backend as BackendName | undefined;
  return initBackend(wanted, { log: (line) => console.error(line) });
}
