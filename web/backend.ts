/// <reference types="vite/client" />
import * as tf from '@tensorflow/tfjs';
import { getThreadsCount, setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
// Registers the webgpu backend; it starts only where the browser offers a WebGPU adapter, else webgl is next.
import '@tensorflow/tfjs-backend-webgpu';
import wasmPlain from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm?url';
import wasmSimd from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm?url';
import wasmThreaded from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-threaded-simd.wasm?url';

/**
 * The TensorFlow.js backend of the page: the first of webgpu → webgl → wasm → cpu that starts (webgpu where the
 * browser has a WebGPU adapter); `?backend=wasm` asks for one. The wasm binaries are bundled by Vite; the threaded build
 * runs when the page is cross-origin isolated (uap serve and the Vite config send COOP/COEP).
 */
setWasmPaths({
  'tfjs-backend-wasm.wasm': wasmPlain,
  'tfjs-backend-wasm-simd.wasm': wasmSimd,
  'tfjs-backend-wasm-threaded-simd.wasm': wasmThreaded,
});

export const BACKEND_ORDER = ['webgpu', 'webgl', 'wasm', 'cpu'] as const;

let started: Promise<string> | undefined;

/** The first backend of `order` that starts (`?backend=` of the page's URL overrides it). Started once. */
export function initBackend(order: readonly string[] = BACKEND_ORDER): Promise<string> {
  started ??= (async () => {
    const asked = new URLSearchParams(location.search).get('backend');
    const tried: string[] = [];
    for (const name of asked ? [asked] : order) {
      if (!tf.findBackendFactory(name)) continue;
      try {
        if (await tf.setBackend(name)) {
          await tf.ready();
          return name;
        }
      } catch {
        // next one
      }
      tried.push(name);
    }
    throw new Error(`no TensorFlow.js backend could start (tried ${tried.join(', ') || asked})`);
  })();
  return started;
}

/** The backend as shown: "wasm (SIMD, 4 threads, cross-origin isolated)". */
export function describeBackend(name: string): string {
  const isolated = globalThis.crossOriginIsolated ? 'cross-origin isolated' : 'not cross-origin isolated';
  if (name !== 'wasm') return `${name} (${isolated})`;
  const simd = tf.env().getBool('WASM_HAS_SIMD_SUPPORT') ? 'SIMD' : 'no SIMD';
  const threads = getThreadsCount();
  return `wasm (${simd}, ${threads} thread${threads === 1 ? '' : 's'}, ${isolated})`;
}
