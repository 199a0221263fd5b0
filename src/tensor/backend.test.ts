import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { UapError } from '../errors.js';
import { initBackend } from './backend.js';

describe('initBackend', () => {
  it('defaults to wasm in Node when tfjs-node is absent, with the missing kernels registered', async () => {
    const lines: string[] = [];
    const name = await initBackend(undefined, { log: (l) => lines.push(l) });
    let nativeInstalled = true;
    try {
      await import(['@tensorflow', 'tfjs-node'].join('/'));
    } catch {
      nativeInstalled = false;
    }
    assert.equal(name, nativeInstalled ? 'tensorflow' : 'wasm');
    assert.equal(tf.getBackend(), name);
    assert.equal(lines.length, 1);
    assert.match(lines[0]!, new RegExp(`backend ${name}`));
    if (name === 'wasm') assert.ok(tf.getKernel('DepthwiseConv2dNativeBackpropInput', 'wasm'));
  });

  it('honours a forced available backend', async () => {
    assert.equal(await initBackend('cpu'), 'cpu');
    assert.equal(tf.getBackend(), 'cpu');
    assert.equal(await initBackend('wasm'), 'wasm');
    assert.equal(tf.getBackend(), 'wasm');
  });

  it('throws UapError for an unavailable or unknown forced backend', async () => {
    let native = true;
    try {
      await import(['@tensorflow', 'tfjs-node'].join('/'));
    } catch {
      native = false;
    }
    if (!native) {
      await assert.rejects(initBackend('tensorflow'), (e: unknown) => e instanceof UapError && e.code === 'BAD_ARGUMENT');
    }
    // no WebGL in Node
    await assert.rejects(initBackend('webgl'), (e: unknown) => e instanceof UapError && e.code === 'BAD_ARGUMENT');
    await assert.rejects(initBackend('metal' as never), (e: unknown) => e instanceof UapError && /unknown backend/.test(e.message));
    await assert.rejects(initBackend('wasm', { threads: 0 }), UapError);
  });
});

describe('initBackend and unhandled errors', () => {
  it('leaves no emscripten handler behind: a later unhandled rejection is reported by Node, without 39 KB of wasm glue', async () => {
    const { spawnSync } = await import('node:child_process');
    const { fileURLToPath } = await import('node:url');
    const backend = fileURLToPath(new URL('./backend.ts', import.meta.url));
    const script = `const { initBackend } = await import(${JSON.stringify(backend)});
      const before = process.listenerCount('uncaughtException') + process.listenerCount('unhandledRejection');
      await initBackend('wasm');
      if (process.listenerCount('uncaughtException') + process.listenerCount('unhandledRejection') !== before) console.error('handlers left');
      void Promise.reject(new Error('boom from the library'));`;
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 60_000 });
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /Error: boom from the library/);
    assert.doesNotMatch(r.stderr, /handlers left|WasmBackendModule/);
    assert.ok(r.stderr.length < 2000, `stderr is ${r.stderr.length} characters`);
  });
});
