import { UapError } from '../errors.js';

/**
 * Parsers for the IDX files MNIST ships in (http://yann.lecun.com/exdb/mnist/ format):
 * a big-endian header (magic, dimension sizes) followed by raw uint8 data. Browser-safe.
 */

const IMAGES_MAGIC = 0x00000803; // ubyte, 3 dimensions
const LABELS_MAGIC = 0x00000801; // ubyte, 1 dimension

/** The images of an IDX file: `count` greyscale images of `rows` × `cols` uint8 pixels. */
export interface MnistImages {
  count: number;
  rows: number;
  cols: number;
  /** count × rows × cols uint8 pixels, row-major. */
  pixels: Uint8Array;
}

/**
 * Parses an IDX image file (magic 0x803); throws UapError BAD_INPUT naming `name` when the bytes are not one or are
 * cut short.
 */
export function parseIdxImages(bytes: Uint8Array, name: string): MnistImages {
  if (bytes.length < 16) throw new UapError('BAD_INPUT', 'too short to be an IDX image file', name);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getUint32(0) !== IMAGES_MAGIC) throw new UapError('BAD_INPUT', 'not an IDX image file (bad magic number)', name);
  const count = view.getUint32(4);
  const rows = view.getUint32(8);
  const cols = view.getUint32(12);
  const size = count * rows * cols;
  if (bytes.length < 16 + size) {
    throw new UapError('BAD_INPUT', `truncated: header promises ${count} images of ${rows}×${cols}`, name);
  }
  return { count, rows, cols, pixels: bytes.subarray(16, 16 + size) };
}

/**
 * Parses an IDX label file (magic 0x801) into one class index per image; throws UapError BAD_INPUT naming `name`
 * otherwise.
 */
export function parseIdxLabels(bytes: Uint8Array, name: string): Int32Array {
  if (bytes.length < 8) throw new UapError('BAD_INPUT', 'too short to be an IDX label file', name);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getUint32(0) !== LABELS_MAGIC) throw new UapError('BAD_INPUT', 'not an IDX label file (bad magic number)', name);
  const count = view.getUint32(4);
  if (bytes.length < 8 + count) throw new UapError('BAD_INPUT', `truncated: header promises ${count} labels`, name);
  return Int32Array.from(bytes.subarray(8, 8 + count));
}
