import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { before, test } from 'node:test';
import { UapError } from '../errors.js';
import type { ModelFolder, ModelIO } from '../models/load.js';
import { loadDataset } from '../node/datasets.js';
import { hardenInFolder } from '../node/harden-folder.js';
import { repoRoot } from '../node/model-files.js';
import type { HardenState } from './checkpoint.js';
import { runHarden, type AttackRecord, type HardenCheckpointOf, type HardenReport, type HardenSettings, type SideRecord } from './harden.js';
import { layersModelFiles } from './layers-model.js';
import type { ModelStore } from './model-store.js';

/**
 * runHarden is the protocol alone: with a checkpoint and a model store kept in memory (no file system, as in a
 * browser) it computes exactly what `uap harden` computes in a folder, and hands its report to the store.
 */

before(async () => {
  await tf.setBackend('wasm');
  await tf.ready();
});

type State = HardenState<AttackRecord, Omit<SideRecord, 'fresh'>>;

class MemoryCheckpoint implements HardenCheckpointOf {
  readonly where = 'memory';
  state?: State;
  report?: unknown;
  saves = 0;
  private arrays = new Map<string, Float32Array>();
  private counter = 0;
  exists(): boolean {
    return this.state !== undefined;
  }
  async load(): Promise<State> {
    if (!this.state) throw new UapError('NOT_FOUND', 'no checkpoint', this.where);
    return structuredClone(this.state);
  }
  async clear(): Promise<void> {
    this.state = undefined;
    this.arrays.clear();
  }
  async writeArray(stem: string, data: Float32Array): Promise<string> {
    const name = `${stem}-${++this.counter}`;
    this.arrays.set(name, data.slice());
    return name;
  }
  async readArray(name: string): Promise<Float32Array> {
    const a = this.arrays.get(name);
    if (!a) throw new UapError('BAD_INPUT', 'no such array', name);
    return a.slice();
  }
  async save(state: State): Promise<void> {
    this.state = structuredClone(state);
    this.saves++;
  }
  async complete(report: unknown): Promise<void> {
    this.report = report;
    await this.clear();
  }
}

function memoryFolder(name: string, files: Map<string, Uint8Array>): ModelFolder {
  return {
    name,
    async read(rel) {
      const bytes = files.get(rel);
      if (!bytes) throw new UapError('NOT_FOUND', `missing ${rel}`, name);
      return bytes;
    },
  };
}

/** The bundled MNIST model, read once into memory; saved models stay in memory too. */
async function memoryModels(): Promise<ModelStore & { saved: Map<string, Map<string, Uint8Array>> }> {
  const dir = path.join(repoRoot, 'models', 'mnist');
  const json = await readFile(path.join(dir, 'model.json'));
  const mnist = new Map<string, Uint8Array>([['model.json', new Uint8Array(json)]]);
  for (const g of (JSON.parse(json.toString('utf8')) as { weightsManifest: { paths: string[] }[] }).weightsManifest) {
    for (const p of g.paths) mnist.set(p, new Uint8Array(await readFile(path.join(dir, p))));
  }
  const saved = new Map<string, Map<string, Uint8Array>>();
  const io: ModelIO = {
    zoo: (entry) => memoryFolder(entry.name, mnist),
    async open(location) {
      const files = saved.get(location);
      if (!files) throw new UapError('NOT_FOUND', 'no such model', location);
      return { folder: memoryFolder(location, files), file: 'model.json' };
    },
  };
  return {
    io,
    saved,
    async save(model) {
      saved.set('memory:hardened', await layersModelFiles(model));
      return 'memory:hardened';
    },
  };
}

const strip = (r: HardenReport) =>
  JSON.parse(JSON.stringify({ ...r, wallSeconds: undefined, createdAt: undefined, hardenedModel: undefined }), (k, v) => (k === 'seconds' ? undefined : v));

test('runHarden on in-memory stores computes what hardenInFolder computes, and hands the report to the store', { timeout: 120_000 }, async () => {
  const train = await loadDataset('mnist:train', { inputShape: [28, 28, 1], limit: 64, seed: 1 });
  const testSet = await loadDataset('mnist:test', { inputShape: [28, 28, 1], limit: 20, seed: 1 });
  const settings: HardenSettings = {
    model: 'mnist', method: 'finetune', xi: 40, pool: 1, attackSize: 16, attack: 'sgd', delta: 0.01, maxPasses: 2, deepfoolBatch: 4, step: 2,
    candidates: 4, epochs: 1, batchSize: 32, learningRate: 1e-3, probability: 0.5, seed: 4, dataSpec: 'mnist:train', testSpec: 'mnist:test',
  };
  const checkpoint = new MemoryCheckpoint();
  const models = await memoryModels();
  const inMemory = await runHarden(settings, train, testSet, { checkpoint, models }, { log: () => undefined });
  assert.equal(inMemory.hardenedModel, 'memory:hardened');
  assert.deepEqual(checkpoint.report, inMemory);
  assert.equal(checkpoint.exists(), false, 'the checkpoint is cleared once the report is stored');
  assert.ok(checkpoint.saves >= 4, `checkpointed ${checkpoint.saves} times`);
  assert.deepEqual([...models.saved.get('memory:hardened')!.keys()].sort(), ['model.json', 'weights.bin']);

  const out = await mkdtemp(path.join(os.tmpdir(), 'uap-harden-memory-'));
  try {
    const inFolder = await hardenInFolder(settings, train, testSet, { out, log: () => undefined });
    assert.deepEqual(strip(inMemory), strip(inFolder));
  } finally {
    await rm(out, { recursive: true, force: true });
  }
});
