import { UapError } from '../errors.js';

/**
 * NumPy .npy files (format versions 1.0, 2.0, 3.0), browser-safe.
 * https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html
 *
 * Reads float32 and float64 (either byte order; float64 is converted to float32), C order only.
 * Writes little-endian float32 ('<f4'), version 1.0 (2.0 when the header would not fit), header padded so that
 * the data start on a 64-byte boundary, as numpy itself does.
 */

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY

/** A float32 array read from a .npy file, with its shape (C order). */
export interface NpyArray {
  data: Float32Array;
  shape: number[];
}

interface Header {
  descr: string;
  fortranOrder: boolean;
  shape: number[];
}

function bad(message: string, name: string): UapError {
  return new UapError('BAD_INPUT', message, name);
}

/** True when the bytes start with the .npy magic string. */
export function isNpy(bytes: Uint8Array): boolean {
  return bytes.length >= MAGIC.length && MAGIC.every((b, i) => bytes[i] === b);
}

/** Parses the Python dict literal of a .npy header: {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), } */
function parseHeader(text: string, name: string): Header {
  const descr = /['"]descr['"]\s*:\s*['"]([^'"]*)['"]/.exec(text);
  const fortran = /['"]fortran_order['"]\s*:\s*(True|False)/.exec(text);
  const shape = /['"]shape['"]\s*:\s*\(([^)]*)\)/.exec(text);
  if (!text.trim().startsWith('{') || !descr || !fortran || !shape) {
    throw bad(`not a .npy file: unreadable header ${JSON.stringify(text.trim().slice(0, 120))}`, name);
  }
  const dims = shape[1]!
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
    .map((s) => {
      const d = /^(\d{1,16})L?$/.exec(s);
      if (!d) throw bad(`bad shape (${shape[1]}) in the .npy header`, name);
      return Number(d[1]);
    });
  return { descr: descr[1]!, fortranOrder: fortran[1] === 'True', shape: dims };
}

function formatShape(shape: readonly number[]): string {
  return shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
}

/** The longest header read, as numpy.load's max_header_size (10,000 bytes): a longer one is not a real array. */
export const MAX_NPY_HEADER_BYTES = 10_000;

/** What the header of a .npy file says, and where its data are. */
export interface NpyLayout {
  shape: number[];
  descr: string;
  /** Offset of the first data byte. */
  dataStart: number;
  /** Values, and bytes of data they take. */
  count: number;
  dataBytes: number;
  itemSize: 4 | 8;
  littleEndian: boolean;
}

/** Bytes needed to know a .npy file's header length: the magic, version and length field. */
export const NPY_PREFIX_BYTES = 12;

/**
 * Parses the header of a .npy file from its first bytes (at least the prefix and header; the data need not
 * be there), so a file reader can check sizes before it reads or allocates anything. UapError BAD_INPUT
 * naming `name`: bad magic, a header over MAX_NPY_HEADER_BYTES, unsupported dtype or order, a bad shape.
 */
export function readNpyLayout(bytes: Uint8Array, name: string): NpyLayout {
  if (!isNpy(bytes)) throw bad('not a .npy file (it does not start with the NumPy magic string \\x93NUMPY)', name);
  if (bytes.length < 10) throw bad('truncated .npy file: the header is cut off', name);
  const major = bytes[6]!;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let headerLen: number;
  let headerStart: number;
  if (major === 1) {
    headerLen = view.getUint16(8, true);
    headerStart = 10;
  } else if (major === 2 || major === 3) {
    if (bytes.length < 12) throw bad('truncated .npy file: the header is cut off', name);
    headerLen = view.getUint32(8, true);
    headerStart = 12;
  } else {
    throw bad(`unsupported .npy format version ${major}.${bytes[7]} (1.0, 2.0 and 3.0 are read)`, name);
  }
  if (headerLen > MAX_NPY_HEADER_BYTES) {
    throw bad(`the .npy header is ${headerLen} bytes, over the ${MAX_NPY_HEADER_BYTES}-byte limit numpy also applies: not an array file uap wrote`, name);
  }
  const dataStart = headerStart + headerLen;
  if (bytes.length < dataStart) throw bad('truncated .npy file: the header is cut off', name);
  const headerBytes = bytes.subarray(headerStart, dataStart);
  const text = major === 3 ? new TextDecoder('utf-8').decode(headerBytes) : latin1(headerBytes);
  const header = parseHeader(text, name);
  if (header.fortranOrder) {
    throw bad(
      'the array is stored in Fortran (column-major) order; save it in C order (numpy.save(f, numpy.ascontiguousarray(a)))',
      name,
    );
  }
  const m = /^([<>|=])([fiu])(\d+)$/.exec(header.descr);
  const kind = m ? `${m[2]}${m[3]}` : '';
  if (!m || (kind !== 'f4' && kind !== 'f8')) {
    throw bad(`unsupported dtype '${header.descr}': only float32 ('<f4') and float64 ('<f8') are read`, name);
  }
  const itemSize = kind === 'f4' ? 4 : 8;
  const count = header.shape.reduce((a, b) => a * b, 1);
  if (!header.shape.every((d) => Number.isSafeInteger(d)) || !Number.isSafeInteger(count * itemSize)) {
    throw bad(`shape ${formatShape(header.shape)} in the .npy header is too large`, name);
  }
  return { shape: header.shape, descr: header.descr, dataStart, count, dataBytes: count * itemSize, itemSize, littleEndian: m[1] !== '>' };
}

/**
 * Reads a .npy file. `name` (the file name) goes into every error.
 * Throws UapError BAD_INPUT: "not a .npy file" for bad magic, unsupported dtype, Fortran order, truncated data,
 * a header over 10,000 bytes. Nothing is allocated before the data are known to be there.
 */
export function readNpy(bytes: Uint8Array, name: string): NpyArray {
  const layout = readNpyLayout(bytes, name);
  const { dataStart, count, dataBytes: need, descr, shape } = layout;
  const little = layout.littleEndian;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const have = bytes.length - dataStart;
  if (have < need) {
    throw bad(`truncated .npy file: shape ${formatShape(shape)} of ${descr} needs ${need} bytes of data, the file has ${have}`, name);
  }
  const data = new Float32Array(count);
  if (layout.itemSize === 4 && little && hostIsLittleEndian) {
    // a byte copy: the data may sit at any offset, and `bytes` may be a view (a Node Buffer's slice is one)
    new Uint8Array(data.buffer).set(bytes.subarray(dataStart, dataStart + need));
  } else if (layout.itemSize === 4) {
    for (let i = 0; i < count; i++) data[i] = view.getFloat32(dataStart + 4 * i, little);
  } else {
    for (let i = 0; i < count; i++) data[i] = view.getFloat64(dataStart + 8 * i, little);
  }
  return { data, shape };
}

const hostIsLittleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function latin1(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) s += String.fromCharCode(b);
  return s;
}

/** Serialises float32 data of the given shape (C order) as a .npy file that numpy.load reads. */
export function writeNpy(data: Float32Array, shape: readonly number[]): Uint8Array {
  if (!shape.every((d) => Number.isInteger(d) && d >= 0)) {
    throw new UapError('BAD_ARGUMENT', `bad shape [${shape.join(', ')}]`);
  }
  const count = shape.reduce((a, b) => a * b, 1);
  if (count !== data.length) {
    throw new UapError('BAD_ARGUMENT', `${data.length} values do not fill shape ${formatShape(shape)} (${count})`);
  }
  const dict = `{'descr': '<f4', 'fortran_order': False, 'shape': ${formatShape(shape)}, }`;
  let version = 1;
  let prefix = 10;
  let total = Math.ceil((prefix + dict.length + 1) / 64) * 64;
  if (total - prefix > 0xffff) {
    version = 2;
    prefix = 12;
    total = Math.ceil((prefix + dict.length + 1) / 64) * 64;
  }
  const headerLen = total - prefix;
  const header = dict + ' '.repeat(headerLen - dict.length - 1) + '\n';
  const out = new Uint8Array(total + data.length * 4);
  out.set(MAGIC, 0);
  out[6] = version;
  out[7] = 0;
  const view = new DataView(out.buffer);
  if (version === 1) view.setUint16(8, headerLen, true);
  else view.setUint32(8, headerLen, true);
  for (let i = 0; i < header.length; i++) out[prefix + i] = header.charCodeAt(i);
  if (hostIsLittleEndian) {
    out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), total);
  } else {
    for (let i = 0; i < data.length; i++) view.setFloat32(total + 4 * i, data[i]!, true);
  }
  return out;
}
