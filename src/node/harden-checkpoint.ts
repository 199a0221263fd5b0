import { existsSync } from 'node:fs';
import { mkdir, readdir, rm, unlink } from 'node:fs/promises';
import path from 'node:path';
import type { HardenCheckpointStore, HardenState } from '../defense/checkpoint.js';
import { UapError } from '../errors.js';
import { writeNpy } from '../io/npy.js';
import { HardenResultSchema, serializeResult } from '../io/results.js';
import { removeStaleTemporaries, writeFileAtomic, writeJsonAtomic } from './atomic-files.js';
import { readFileBounded, readNpyFile } from './bounded-read.js';

/**
 * The checkpoint of runHarden (`uap harden`) in DIR/checkpoint/: state.json plus .npy arrays it names;
 * the final report goes to DIR/harden.json.
 *
 * Every array is written (atomically) under a new name before the state.json that refers to it, and
 * state.json itself is written to a temporary file and renamed; arrays no longer named are deleted only
 * after that. So an interrupt at any moment leaves a consistent checkpoint: the old one or the new one.
 */

export class HardenCheckpoint<R, S> implements HardenCheckpointStore<R, S> {
  readonly dir: string;
  private counter = 0;

  constructor(readonly out: string) {
    this.dir = path.join(out, 'checkpoint');
  }

  get where(): string {
    return this.dir;
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
      const bytes = await readFileBounded(this.file, { maxBytes: 64 * 1024 * 1024, what: 'checkpoint state' });
      state = JSON.parse(new TextDecoder().decode(bytes)) as HardenState<R, S>;
    } catch (e) {
      if (e instanceof UapError && e.code !== 'NOT_FOUND') throw e;
      const missing = e instanceof UapError || (e as NodeJS.ErrnoException).code === 'ENOENT';
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

  /** Reads back an array written by writeArray. */
  async readArray(name: string): Promise<Float32Array> {
    const file = path.join(this.dir, path.basename(name));
    try {
      return (await readNpyFile(file)).data;
    } catch (e) {
      if (e instanceof UapError) throw e;
      throw new UapError('BAD_INPUT', `checkpoint array missing or unreadable (${(e as Error).message})`, file);
    }
  }

  /** Writes state.json, then deletes the arrays it no longer names. */
  async save(state: HardenState<R, S>): Promise<void> {
    await writeJsonAtomic(this.file, state);
    await removeStaleTemporaries(this.dir);
    const named = new Set(JSON.stringify(state).match(/[\w.-]+-\d+\.npy/g) ?? []);
    for (const f of await readdir(this.dir)) {
      if (f.endsWith('.npy') && !named.has(f)) await unlink(path.join(this.dir, f)).catch(() => {});
    }
  }

  /** Writes DIR/harden.json, then removes the checkpoint. */
  async complete(report: unknown): Promise<void> {
    const file = path.join(this.out, 'harden.json');
    await writeFileAtomic(file, serializeResult(HardenResultSchema, report, file) + '\n');
    await this.clear();
  }
}
