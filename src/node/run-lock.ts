import { randomBytes } from 'node:crypto';
import { readFileSync, unlinkSync } from 'node:fs';
import { link, mkdir, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { UapError } from '../errors.js';

/**
 * A run lock in an output folder: two `uap compute` runs into one --out would both report "saved to" while
 * one result silently replaced the other. The lock is a small file (`.uap.lock`: pid, host, command, start
 * time, a random token), created with link(2), which fails atomically when the file exists. A lock whose
 * process is gone (same host, pid not alive) is stale and taken over; one held by a live process is refused
 * with a line naming it. Released when the run ends (and, as a last resort, when the process exits).
 */

/** The name of the lock file in a locked folder. */
export const LOCK_FILE = '.uap.lock';

interface LockInfo {
  pid: number;
  host: string;
  command: string;
  started: string;
  token: string;
}

/** A held run lock (acquireRunLock). */
export interface RunLock {
  /** The lock file, DIR/.uap.lock. */
  readonly file: string;
  /** Removes the lock, if it is still this run's. */
  release(): Promise<void>;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function readLock(file: string): Promise<LockInfo | undefined> {
  try {
    const j = JSON.parse(await readFile(file, 'utf8')) as Partial<LockInfo>;
    if (typeof j.pid === 'number' && typeof j.token === 'string') return j as LockInfo;
  } catch {
    // unreadable: treated as stale below
  }
  return undefined;
}

/** Locks `dir` (created if its parent exists) for `command`; UapError BAD_ARGUMENT when another live run holds it. */
export async function acquireRunLock(dir: string, command: string): Promise<RunLock> {
  // (not { recursive }: it never returns under /proc; openOutDir creates deeper folders one level at a time)
  await mkdir(dir).catch((e: NodeJS.ErrnoException) => {
    if (e.code !== 'EEXIST') throw new UapError('BAD_ARGUMENT', `cannot create the folder (${e.code ?? e.message})`, dir);
  });
  const file = path.join(dir, LOCK_FILE);
  const me: LockInfo = { pid: process.pid, host: os.hostname(), command, started: new Date().toISOString(), token: randomBytes(8).toString('hex') };
  const tmp = path.join(dir, `${LOCK_FILE}.${me.token}.tmp`);
  await writeFile(tmp, JSON.stringify(me) + '\n');
  try {
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        await link(tmp, file);
        return held(file, me);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      }
      const other = await readLock(file);
      if (other && (other.host !== me.host || alive(other.pid))) {
        const where = other.host === me.host ? `pid ${other.pid}` : `pid ${other.pid} on ${other.host}`;
        throw new UapError(
          'BAD_ARGUMENT',
          `another ${other.command || 'uap run'} (${where}, started ${other.started}) is writing to this folder; wait for it to finish or choose another --out` +
            (other.host === me.host ? '' : ` (remove ${LOCK_FILE} if that run is gone)`),
          dir,
        );
      }
      // Stale: move it aside (only one taker succeeds), check it was the stale one, retry.
      const aside = path.join(dir, `${LOCK_FILE}.${me.token}.stale`);
      try {
        await rename(file, aside);
      } catch {
        continue; // someone else moved it first
      }
      const moved = await readLock(aside);
      if (other && moved && moved.token !== other.token) {
        // We moved a fresh lock taken in between: put it back, and let the next attempt see it.
        await rename(aside, file).catch(() => undefined);
      } else {
        await unlink(aside).catch(() => undefined);
      }
    }
    throw new UapError('BAD_ARGUMENT', 'could not take the run lock (other runs keep taking it)', dir);
  } finally {
    await unlink(tmp).catch(() => undefined);
  }
}

function held(file: string, me: LockInfo): RunLock {
  let released = false;
  const releaseSync = () => {
    if (released) return;
    released = true;
    try {
      if ((JSON.parse(readFileSync(file, 'utf8')) as LockInfo).token === me.token) unlinkSync(file);
    } catch {
      // already gone
    }
  };
  process.once('exit', releaseSync);
  return {
    file,
    async release() {
      if (released) return;
      process.off('exit', releaseSync);
      const now = await readLock(file);
      released = true;
      if (now?.token === me.token) await unlink(file).catch(() => undefined);
    },
  };
}
