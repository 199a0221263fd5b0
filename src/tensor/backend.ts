import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { getThreadsCount, setThreadsCount } from '@tensorflow/tfjs-backend-wasm';
import { UapError } from '../errors.js';
import { registerMissingKernels } from './register_kernels.js';

/**
 * Backend choice, in Node and in the browser.
 *
 * Default order: 'tensorflow' (native, when the optional @tensorflow/tfjs-node package can be imported),
 * then 'wasm' (measured here ≈ 15× faster than 'cpu' for MobileNet forwards), then 'cpu'. In a browser
 * the native package is never tried; 'webgl' is used only when asked for. A backend that was asked for
 * and cannot start throws UapError('BAD_ARGUMENT'). Kernels missing from wasm that the gradient engine
 * or stock tfjs gradients need are registered here.
 */

export type BackendName = 'wasm' | 'cpu' | 'tensorflow' | 'webgl';

/** Options of initBackend. */
export interface InitBackendOptions {
  /** Called with one line saying which backend was chosen (default: silent). */
  log?: (line: string) => void;
  /** wasm threads (only where the threaded wasm build can run, i.e. cross-origin-isolated browsers). */
  threads?: number;
}

const isNode = typeof process !== 'undefined' && typeof process.versions?.node === 'string';

/** Imports @tensorflow/tfjs-node if it is installed (Node only); true when its backend is registered. */
async function tryNative(): Promise<boolean> {
  if (!isNode) return false;
  if (tf.findBackend('tensorflow')) return true;
  // A computed specifier keeps bundlers (Vite) from trying to resolve the optional package.
  const spec = ['@tensorflow', 'tfjs-node'].join('/');
  try {
    await import(/* @vite-ignore */ spec);
  } catch {
    return false;
  }
  return tf.findBackend('tensorflow') !== undefined || tf.engine().registryFactory['tensorflow'] !== undefined;
}

async function trySet(name: string): Promise<boolean> {
  try {
    return await tf.setBackend(name);
  } catch {
    return false;
  }
}

/** Chooses, initialises and returns the backend (see module comment). */
export async function initBackend(preferred?: BackendName, opts: InitBackendOptions = {}): Promise<string> {
  const allowed: BackendName[] = ['wasm', 'cpu', 'tensorflow', 'webgl'];
  if (preferred !== undefined && !allowed.includes(preferred)) {
    throw new UapError('BAD_ARGUMENT', `unknown backend "${String(preferred)}" (expected one of ${allowed.join(', ')})`, 'backend');
  }
  if (opts.threads !== undefined) {
    if (!Number.isInteger(opts.threads) || opts.threads < 1) {
      throw new UapError('BAD_ARGUMENT', `must be a positive integer, got ${opts.threads}`, 'threads');
    }
    setThreadsCount(opts.threads);
  }
  const handlers = processHandlers();
  let chosen: string | undefined;
  if (preferred === 'tensorflow') {
    if (!(await tryNative()) || !(await trySet('tensorflow'))) {
      throw new UapError('BAD_ARGUMENT', 'the native backend "tensorflow" needs @tensorflow/tfjs-node, which is not installed or failed to load', 'backend');
    }
    chosen = 'tensorflow';
  } else if (preferred !== undefined) {
    if (!(await trySet(preferred))) {
      throw new UapError('BAD_ARGUMENT', `backend "${preferred}" is not available here`, 'backend');
    }
    chosen = preferred;
  } else {
    if ((await tryNative()) && (await trySet('tensorflow'))) chosen = 'tensorflow';
    else if (await trySet('wasm')) chosen = 'wasm';
    else if (await trySet('cpu')) chosen = 'cpu';
    else throw new UapError('BAD_ARGUMENT', 'no tfjs backend could be started', 'backend');
  }
  await tf.ready();
  removeAddedHandlers(handlers);
  if (chosen === 'wasm') registerMissingKernels('wasm');
  opts.log?.(`tfjs ${tf.version.tfjs}, backend ${chosen}${chosen === 'wasm' ? `, ${wasmThreads()} thread(s)` : ''}`);
  return chosen;
}

const PROCESS_EVENTS = ['uncaughtException', 'unhandledRejection'] as const;
type Handlers = Map<'uncaughtException', Function[]>;

/** The process's current error handlers (none outside Node). */
function processHandlers(): Handlers | undefined {
  if (!isNode) return undefined;
  // (typed as one event: @types/node's overloads do not take a union of event names)
  return new Map(PROCESS_EVENTS.map((e) => [e as 'uncaughtException', process.listeners(e as 'uncaughtException')]));
}

/**
 * Emscripten's Node glue (tfjs-backend-wasm) installs uncaughtException/unhandledRejection handlers that
 * rethrow from inside its one-line, 39 KB minified source, so any later unhandled error printed that whole
 * line before the error. Removing the handlers it added restores Node's own report of the error.
 */
function removeAddedHandlers(before: Handlers | undefined): void {
  if (!before) return;
  for (const [event, old] of before) {
    for (const h of process.listeners(event)) if (!old.includes(h)) process.removeListener(event, h as (...a: unknown[]) => void);
  }
}

function wasmThreads(): number {
  try {
    return getThreadsCount();
  } catch {
    return 1;
  }
}
