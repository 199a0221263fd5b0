import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, unlink } from 'node:fs/promises';
import path from 'node:path';
import type { PassRecord } from '../attacks/universal.js';
import type { EpochRecord } from '../defense/finetune.js';
import { UapError } from '../errors.js';
import { readNpy, writeNpy } from '../io/npy.js';
import { writeFileAtomic, writeJsonAtomic } from '../node/perturbation-files.js';

/**
 * The checkpoint of `uap harden` in DIR/checkpoint/: state.json plus .npy arrays it names.
 *
 * Every array is written (atomically) under a new name before the state.json that refers to it, and
 * state.json itself is written to a temporary file and renamed; arrays no longer named are deleted only
 * after that. So an interrupt at any moment leaves a consistent checkpoint: the old one or the new one.
 */

/** A universal perturbation in progress: the v after `pass` completed passes, and the best one so far. */
export interface AttackInProgress {
  key: string;
  pass: number;
  history: PassRecord[];
  v: string;
  /** keepBest (Algorithm 1): the pass with the highest fooling rate on X so far, and its v. */
  best?: { pass: number; foolingRate: number; v: string };
  seconds: number;
}

export interface DoneAttack<R> {
  record: R;
  v: string;
}

export interface TrainingState {
  epochs: EpochRecord[];
  steps: number;
  seconds: number;
  /** model.getWeights(), concatenated; `shapes` splits them. */
  weights: string;
  shapes: number[][];
  /** optimizer.getWeights() (Adam's iterations and moments), concatenated, and its shapes. */
  optimizer?: string;
  optimizerShapes?: number[][];
  /** Adam's β₁ᵗ and β₂ᵗ (float32 values). */
  adamPowers?: [number, number];
  /** UAT: v at the end of the last epoch. */
  v?: string;
  done: boolean;
}

export interface HardenState<R, S> {
  formatVersion: 1;
  /** The settings this checkpoint was made with (a resume must match them). */
  settings: unknown;
  pool: DoneAttack<R>[];
  freshBefore?: DoneAttack<R>;
  before?: S;
  training?: TrainingState;
  /** The hardened model is saved in DIR (model.json, weights.bin). */
  saved?: boolean;
  attack?: AttackInProgress;
  evaluationSeconds: number;
  /** Wall time of the earlier, interrupted runs. */
  elapsedSeconds: number;
}

export class HardenCheckpoint<R, S> {
  readonly dir: string;
  private counter = 0;

  constructor(out: string) {
    this.dir = path.join(out, 'checkpoint');
  }

  get file(): string {
    return path.join(this.dir, 'state.json');
  }

  exists(): boolean {
    return existsSync(this.file);
  }

  async load(): Promise<HardenState<R, S>> {
    let state: HardenState<R, S>;
    try {
      state = JSON.parse(await readFile(this.file, 'utf8')) as HardenState<R, S>;
    } catch (e) {
      const missing = (e as NodeJS.ErrnoException).code === 'ENOENT';
      throw new UapError(missing ? 'NOT_FOUND' : 'BAD_INPUT', missing ? 'no checkpoint to resume from' : `unreadable checkpoint (${(e as Error).message})`, this.file);
    }
    if (state.formatVersion !== 1) throw new UapError('BAD_INPUT', `unknown checkpoint format ${String(state.formatVersion)}`, this.file);
    // New array names must not collide with the ones this state refers to.
    this.counter = Date.now();
    return state;
  }

  /** Starts afresh: removes an earlier checkpoint. */
  async clear(): Promise<void> {
    await rm(this.dir, { recursive: true, force: true });
  }

  /** Writes one array under a fresh name (`stem`-N.npy) and returns that name. */
  async writeArray(stem: string, data: Float32Array): Promise<string> {
    await mkdir(this.dir, { recursive: true });
    const name = `${stem}-${++this.counter}.npy`;
    await writeFileAtomic(path.join(this.dir, name), writeNpy(data, [data.length]));
    return name;
  }

  async readArray(name: string): Promise<Float32Array> {
    const file = path.join(this.dir, path.basename(name));
    try {
      return readNpy(new Uint8Array(await readFile(file)), name).data;
    } catch (e) {
      if (e instanceof UapError) throw e;
      throw new UapError('BAD_INPUT', `checkpoint array missing or unreadable (${(e as Error).message})`, file);
    }
  }

  /** Writes state.json, then deletes the arrays it no longer names. */
  async save(state: HardenState<R, S>): Promise<void> {
    await writeJsonAtomic(this.file, state);
    const named = new Set(JSON.stringify(state).match(/[\w.-]+-\d+\.npy/g) ?? []);
    for (const f of await readdir(this.dir)) {
      if (f.endsWith('.npy') && !named.has(f)) await unlink(path.join(this.dir, f)).catch(() => {});
    }
  }
}

/** Splits a concatenation back into arrays of the given shapes. */
export function splitArrays(flat: Float32Array, shapes: number[][], source: string): Float32Array[] {
  const out: Float32Array[] = [];
  let off = 0;
  for (const s of shapes) {
    const n = s.reduce((a, b) => a * b, 1);
    out.push(flat.slice(off, off + n));
    off += n;
  }
  if (off !== flat.length) throw new UapError('BAD_INPUT', `checkpoint holds ${flat.length} values, the shapes need ${off}`, source);
  return out;
}

export function concatArrays(parts: Float32Array[]): Float32Array {
  const flat = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
  let off = 0;
  for (const p of parts) {
    flat.set(p, off);
    off += p.length;
  }
  return flat;
}
