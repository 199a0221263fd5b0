import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, rmdir, stat, unlink } from 'node:fs/promises';
import path from 'node:path';
import { UapError } from '../errors.js';
import { faultPoint } from './faults.js';
import { acquireRunLock, type RunLock } from './run-lock.js';

/**
 * Output folders and files checked before any work. A long run that can only fail at its first save loses
 * that pass; so --out is checked up front: not an existing file, not under a file, writable (a probe file
 * is written, synced and removed, which also meets a read-only mount or a full disk), and then locked
 * against a second run (src/node/run-lock.ts). A folder this created is removed again if the run leaves it
 * empty (a run refused later, e.g. for a bad model, writes nothing).
 */

/** Bytes of the probe: what one save of a 224×224×3 perturbation (npy + png + json) about takes. */
export const PROBE_BYTES = 1 << 20;

/** What an errno error means, in words (EACCES → permission denied …). */
export function describeErrno(e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code;
  switch (code) {
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'EROFS':
      return 'read-only file system';
    case 'ENOSPC':
      return 'no space left on the device';
    case 'EDQUOT':
      return 'disk quota exceeded';
    case 'ENAMETOOLONG':
      return 'the name is too long';
    default:
      return code ?? (e as Error).message;
  }
}

const bad = (message: string) => new UapError('BAD_ARGUMENT', message, undefined, { option: 'out' });

/** The nearest existing ancestor of `p` (itself if it exists), with its stat. */
async function nearestExisting(p: string): Promise<{ at: string; isDir: boolean }> {
  for (let at = path.resolve(p); ; at = path.dirname(at)) {
    try {
      const st = await stat(at);
      return { at, isDir: st.isDirectory() };
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOTDIR') continue; // an ancestor is a file: found further up
      if (code !== 'ENOENT') throw bad(`${p}: cannot look at ${at} (${describeErrno(e)})`);
      if (path.dirname(at) === at) return { at, isDir: true };
    }
  }
}

/** Writes, syncs and removes a probe file of `bytes` in `dir`: EACCES, EROFS, ENOSPC show up here, not after a pass. */
async function probe(dir: string, bytes: number, shown: string): Promise<void> {
  const file = path.join(dir, `.uap-probe.${process.pid}.${randomBytes(4).toString('hex')}`);
  let fh;
  try {
    fh = await open(file, 'wx');
    faultPoint('out-probe');
    await fh.write(new Uint8Array(bytes));
    await fh.sync();
  } catch (e) {
    throw bad(`${shown} is not writable (${describeErrno(e)})`);
  } finally {
    await fh?.close().catch(() => undefined);
    await unlink(file).catch(() => undefined);
  }
}

/** Checks that `dir` is, or can be made, a writable folder; creates it. Returns the top folder it created, if any. */
export async function checkOutDir(dir: string, opts: { probeBytes?: number } = {}): Promise<string | undefined> {
  const near = await nearestExisting(dir);
  const abs = path.resolve(dir);
  if (near.at === abs && !near.isDir) throw bad(`${dir} is a file, not a folder`);
  if (!near.isDir) throw bad(`${dir} cannot be created: ${near.at} is a file`);
  // One level at a time from the nearest existing folder: mkdir({ recursive }) loops forever under /proc.
  let created: string | undefined;
  const missing = path.relative(near.at, abs).split(path.sep).filter((s) => s !== '');
  let at = near.at;
  for (const part of missing) {
    at = path.join(at, part);
    try {
      await mkdir(at);
      created ??= at;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST' && (await stat(at).catch(() => undefined))?.isDirectory()) continue;
      if (created) await removeIfEmpty(path.dirname(at), created);
      throw bad(`${dir} cannot be created (${describeErrno(e)})`);
    }
  }
  try {
    await probe(abs, opts.probeBytes ?? PROBE_BYTES, dir);
  } catch (e) {
    if (created) await removeIfEmpty(abs, created);
    throw e;
  }
  return created;
}

/** Checks that `file` can be written (its folder exists or can be made and is writable, it is not a folder). */
export async function checkOutFile(file: string, opts: { probeBytes?: number } = {}): Promise<void> {
  try {
    if ((await stat(file)).isDirectory()) throw bad(`${file} is a folder, expected a file name`);
  } catch (e) {
    if (e instanceof UapError) throw e;
  }
  const created = await checkOutDir(path.dirname(path.resolve(file)), { probeBytes: opts.probeBytes ?? 64 * 1024 });
  if (created) await removeIfEmpty(path.dirname(path.resolve(file)), created);
}

/** Removes `dir` and its parents up to `top` while they are empty (what checkOutDir created and nothing filled). */
async function removeIfEmpty(dir: string, top: string): Promise<void> {
  for (let d = dir; d.startsWith(top); d = path.dirname(d)) {
    if ((await readdir(d).catch(() => ['?'])).length > 0) return;
    await rmdir(d).catch(() => undefined);
    if (d === top) return;
  }
}

/** An output folder checked and locked for one run (openOutDir). */
export interface OutDir {
  /** The folder, as given. */
  readonly dir: string;
  /** Releases the run lock, and removes the folder again when this created it and the run left it empty. */
  release(): Promise<void>;
}

/** An output folder for a long run: checked (checkOutDir), then locked (acquireRunLock). */
export async function openOutDir(dir: string, command: string, opts: { probeBytes?: number } = {}): Promise<OutDir> {
  const created = await checkOutDir(dir, opts);
  let lock: RunLock;
  try {
    lock = await acquireRunLock(dir, command);
  } catch (e) {
    if (created) await removeIfEmpty(path.resolve(dir), created);
    throw e;
  }
  return {
    dir,
    async release() {
      await lock.release();
      if (created) await removeIfEmpty(path.resolve(dir), created);
    },
  };
}
