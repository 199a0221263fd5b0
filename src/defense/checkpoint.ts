import type { PassRecord } from '../attacks/universal.js';
import { UapError } from '../errors.js';
import type { EpochRecord } from './finetune.js';

/**
 * What runHarden checkpoints, and the store it checkpoints into. The store is injected (uap/node: a folder,
 * src/node/harden-checkpoint.ts), so the protocol runs wherever arrays and a small JSON state can be kept.
 * A store must keep the state consistent across an interrupt at any moment: arrays first, under fresh names,
 * then the state that names them.
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

/** A finished attack in a checkpoint: its record and the name of its stored perturbation. */
export interface DoneAttack<R> {
  record: R;
  v: string;
}

/** Where training stands in a checkpoint: epochs done, the weights and optimiser state by array name, UAT's v. */
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

/** Everything a hardening run has finished so far; resuming from it continues where it stopped. */
export interface HardenState<R, S> {
  formatVersion: 1;
  /** The settings this checkpoint was made with (a resume must match them). */
  settings: unknown;
  pool: DoneAttack<R>[];
  freshBefore?: DoneAttack<R>;
  before?: S;
  training?: TrainingState;
  /** Where the hardened model was saved (the ModelStore's location for it). */
  saved?: string;
  attack?: AttackInProgress;
  evaluationSeconds: number;
  /** Wall time of the earlier, interrupted runs. */
  elapsedSeconds: number;
}

/** Where runHarden keeps its checkpoint (S: the measurement record of one side). */
export interface HardenCheckpointStore<R, S> {
  /** Names the checkpoint in messages (a folder, a key …). */
  readonly where: string;
  /** Whether an earlier, interrupted run left a checkpoint. */
  exists(): boolean | Promise<boolean>;
  /** The last saved state (NOT_FOUND when there is none, BAD_INPUT when it is unreadable). */
  load(): Promise<HardenState<R, S>>;
  /** Starts afresh: removes an earlier checkpoint. */
  clear(): Promise<void>;
  /** Stores one array under a fresh name and returns the name. */
  writeArray(stem: string, data: Float32Array): Promise<string>;
  /** Reads back an array that writeArray stored under `name`. */
  readArray(name: string): Promise<Float32Array>;
  /** Saves the state; arrays it no longer names may then be dropped. */
  save(state: HardenState<R, S>): Promise<void>;
  /** Stores the final report, then removes the checkpoint (the report holds everything it did). */
  complete(report: unknown): Promise<void>;
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
