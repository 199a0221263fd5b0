import { open, type FileHandle } from 'node:fs/promises';
import { UapError } from '../errors.js';
import { NPY_PREFIX_BYTES, readNpy, readNpyLayout, MAX_NPY_HEADER_BYTES, type NpyArray } from '../io/npy.js';

/**
 * Reading user-named files in bounded time and memory. `readFile` on /dev/zero grows until memory runs out,
 * on a 3 GB file it throws a bare RangeError, on a folder a bare EISDIR; here each is one UapError naming the
 * file, decided from fstat (or, for a pipe or device, after at most `maxBytes` + 1 bytes) before the bytes
 * are held.
 */

export interface BoundedReadOptions {
  /** Largest file accepted. */
  maxBytes: number;
  /** What the file should be, for messages ("data list", "perturbation record" …). */
  what: string;
}

async function openForReading(file: string, what: string): Promise<FileHandle> {
  try {
    return await open(file, 'r');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') throw new UapError('NOT_FOUND', `no such ${what}`, file);
    if (code === 'EISDIR') throw new UapError('BAD_INPUT', `is a directory, expected a ${what}`, file);
    if (code === 'EACCES' || code === 'EPERM') throw new UapError('BAD_INPUT', `cannot read the ${what}: permission denied`, file);
    throw new UapError('BAD_INPUT', `cannot read the ${what} (${code ?? (e as Error).message})`, file);
  }
}

function tooBig(file: string, size: number, o: BoundedReadOptions): UapError {
  return new UapError('BAD_INPUT', `is ${size} bytes, over the ${o.maxBytes}-byte limit for a ${o.what}`, file);
}

/** Reads exactly `length` bytes at `position` (fewer only if the file is shorter). */
async function readAt(fh: FileHandle, position: number, length: number): Promise<Uint8Array> {
  const out = new Uint8Array(length);
  let off = 0;
  while (off < length) {
    const { bytesRead } = await fh.read(out, off, length - off, position + off);
    if (bytesRead === 0) break;
    off += bytesRead;
  }
  return off === length ? out : out.subarray(0, off);
}

/** A whole file of at most `maxBytes`: regular files by their size, pipes and devices by reading at most maxBytes + 1. */
export async function readFileBounded(file: string, o: BoundedReadOptions): Promise<Uint8Array> {
  const fh = await openForReading(file, o.what);
  try {
    const st = await fh.stat();
    if (st.isDirectory()) throw new UapError('BAD_INPUT', `is a directory, expected a ${o.what}`, file);
    if (st.isFile()) {
      if (st.size > o.maxBytes) throw tooBig(file, st.size, o);
      return await readAt(fh, 0, st.size);
    }
    // A pipe or a device (/dev/stdin, /dev/zero): stream, and stop one byte past the limit.
    const parts: Uint8Array[] = [];
    let total = 0;
    const chunk = new Uint8Array(Math.min(1 << 20, o.maxBytes + 1));
    for (;;) {
      const { bytesRead } = await fh.read(chunk, 0, Math.min(chunk.length, o.maxBytes + 1 - total), null);
      if (bytesRead === 0) break;
      parts.push(chunk.slice(0, bytesRead));
      total += bytesRead;
      if (total > o.maxBytes) throw new UapError('BAD_INPUT', `is not a regular file and gives more than ${o.maxBytes} bytes, the limit for a ${o.what}`, file);
    }
    const out = new Uint8Array(total);
    let off = 0;
    for (const p of parts) {
      out.set(p, off);
      off += p.length;
    }
    return out;
  } catch (e) {
    if (e instanceof UapError) throw e;
    throw new UapError('BAD_INPUT', `cannot read the ${o.what} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, file);
  } finally {
    await fh.close().catch(() => undefined);
  }
}

/** Default cap on one .npy file: far above a perturbation (224×224×3 float64 is 1.2 MB) or a checkpointed model. */
export const DEFAULT_MAX_NPY_BYTES = 1024 * 1024 * 1024;

/**
 * Reads a .npy file: first its header (at most 10,000 bytes, as numpy), then — once the shape says how many
 * bytes the data take and the file is known to hold them, within `maxBytes` — exactly those bytes.
 */
export async function readNpyFile(file: string, opts: { maxBytes?: number } = {}): Promise<NpyArray> {
  const o = { maxBytes: opts.maxBytes ?? DEFAULT_MAX_NPY_BYTES, what: '.npy file' };
  const fh = await openForReading(file, o.what);
  try {
    const st = await fh.stat();
    if (st.isDirectory()) throw new UapError('BAD_INPUT', `is a directory, expected a ${o.what}`, file);
    if (!st.isFile()) throw new UapError('BAD_INPUT', `not a regular file, expected a ${o.what}`, file);
    const head = await readAt(fh, 0, Math.min(st.size, NPY_PREFIX_BYTES + MAX_NPY_HEADER_BYTES));
    const layout = readNpyLayout(head, file);
    if (layout.dataBytes > o.maxBytes) {
      throw new UapError('BAD_INPUT', `its header says shape (${layout.shape.join(', ')}): ${layout.dataBytes} bytes of data, over the ${o.maxBytes}-byte limit for a ${o.what}`, file);
    }
    const end = layout.dataStart + layout.dataBytes;
    if (st.size < end) {
      throw new UapError(
        'BAD_INPUT',
        `truncated .npy file: its header needs ${layout.dataBytes} bytes of data, the file has ${st.size - layout.dataStart}`,
        file,
      );
    }
    return readNpy(await readAt(fh, 0, end), file);
  } catch (e) {
    if (e instanceof UapError) throw e;
    throw new UapError('BAD_INPUT', `cannot read the ${o.what} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, file);
  } finally {
    await fh.close().catch(() => undefined);
  }
}
