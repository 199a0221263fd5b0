import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, rename, unlink } from 'node:fs/promises';
import path from 'node:path';
import { faultPoint } from './faults.js';

/**
 * Files written so that readers see either the old content or the new, never a partial file: bytes go to a
 * synced temporary file beside the target, then are renamed into place.
 */

function tempName(file: string): string {
  return path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
}

/** Writes bytes to a temporary file beside `file` and syncs it; returns the temporary name. */
export async function writeTemp(file: string, bytes: Uint8Array | string): Promise<string> {
  const tmp = tempName(file);
  const fh = await open(tmp, 'wx');
  try {
    faultPoint('write'); // tests: UAP_TEST_FAULT=write:ENOSPC (src/node/faults.ts)
    await fh.writeFile(bytes);
    await fh.sync();
  } catch (e) {
    await fh.close().catch(() => {});
    await unlink(tmp).catch(() => {});
    throw e;
  }
  await fh.close();
  return tmp;
}

/** Writes a file so that readers see either the old content or the new, never a partial file. */
export async function writeFileAtomic(file: string, bytes: Uint8Array | string): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  const tmp = await writeTemp(file, bytes);
  try {
    await rename(tmp, file);
  } catch (e) {
    await unlink(tmp).catch(() => {});
    throw e;
  }
}

/** JSON (2-space indented, trailing newline), written atomically. */
export async function writeJsonAtomic(file: string, obj: unknown): Promise<void> {
  await writeFileAtomic(file, JSON.stringify(obj, null, 2) + '\n');
}

/** writeTemp's names: .<file>.<pid>.<random>.tmp */
const TEMP = /^\..+\.(\d+)\.[0-9a-f]{8}\.tmp$/;

function alive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Removes the temporary files (writeTemp's) that processes which are gone left in `dir`; returns their names. */
export async function removeStaleTemporaries(dir: string): Promise<string[]> {
  const removed: string[] = [];
  for (const n of await readdir(dir).catch(() => [] as string[])) {
    const t = TEMP.exec(n);
    if (t && !alive(Number(t[1]))) await unlink(path.join(dir, n)).then(() => removed.push(n), () => undefined);
  }
  return removed;
}
