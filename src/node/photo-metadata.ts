import { crc32 } from 'node:zlib';

/**
 * Metadata carried from a photo into its perturbed copy, byte for byte, so nothing is lost in translation.
 *
 * Why not sharp's own keepMetadata(): the perturbed pixels reach sharp as a raw buffer (exact values, alpha and
 * 16 bits kept), which has no metadata to keep, and sharp's withExif() takes tags as strings (types and maker notes
 * would be rewritten). So the encoded output gets the source's segments (JPEG APPn), chunks (PNG) or RIFF chunks
 * (WebP) spliced in. The pixels were rotated upright when decoded, so the EXIF orientation tag is set to 1 in the copy
 * (rotation applied once: a viewer must not rotate again). `strip` keeps only what renders colour right (the ICC
 * profile; PNG's sRGB/gAMA/cHRM and pixel density) and drops EXIF (with GPS), XMP, IPTC and text.
 */

export interface MetadataOptions {
  /** Drop EXIF (incl. GPS), XMP, IPTC, comments and text; keep the colour profile. */
  strip: boolean;
  /** Leave the source's ICC profile out (the encoder attached its own, e.g. for CMYK). */
  skipIcc?: boolean;
}

/** Sets the orientation tag (0x0112) of IFD0 in a TIFF-structured EXIF block to 1, in place; returns whether it was found. */
export function resetOrientation(tiff: Uint8Array): boolean {
  if (tiff.length < 8) return false;
  const le = tiff[0] === 0x49 && tiff[1] === 0x49;
  if (!le && !(tiff[0] === 0x4d && tiff[1] === 0x4d)) return false;
  const dv = new DataView(tiff.buffer, tiff.byteOffset, tiff.byteLength);
  const ifd = dv.getUint32(4, le);
  if (ifd + 2 > tiff.length) return false;
  const n = dv.getUint16(ifd, le);
  for (let i = 0; i < n; i++) {
    const e = ifd + 2 + 12 * i;
    if (e + 12 > tiff.length) return false;
    if (dv.getUint16(e, le) === 0x0112 && dv.getUint16(e + 2, le) === 3) {
      dv.setUint16(e + 8, 1, le);
      return true;
    }
  }
  return false;
}

// ---------------------------------------------------------------------------------------------------------------
// JPEG: APP1 (Exif, XMP), APP2 (ICC_PROFILE), APP13 (Photoshop/IPTC), COM

interface Segment {
  marker: number;
  bytes: Uint8Array; // the whole segment, marker included
}

/** The marker segments before the first scan (SOS excluded), and where the scan starts. */
function jpegSegments(b: Uint8Array): { segments: Segment[]; rest: number } | undefined {
  if (b[0] !== 0xff || b[1] !== 0xd8) return undefined;
  const segments: Segment[] = [];
  let p = 2;
  while (p + 4 <= b.length && b[p] === 0xff) {
    const marker = b[p + 1]!;
    if (marker === 0xda) break;
    const len = (b[p + 2]! << 8) | b[p + 3]!;
    segments.push({ marker, bytes: b.subarray(p, p + 2 + len) });
    p += 2 + len;
  }
  return { segments, rest: p };
}

const startsWith = (b: Uint8Array, at: number, s: string) => Buffer.from(b.buffer, b.byteOffset + at, Math.min(s.length, b.length - at)).toString('latin1') === s;
const isExif = (s: Segment) => s.marker === 0xe1 && startsWith(s.bytes, 4, 'Exif\0\0');
const isIcc = (s: Segment) => s.marker === 0xe2 && startsWith(s.bytes, 4, 'ICC_PROFILE\0');
const METADATA_MARKERS = new Set([0xe1, 0xe2, 0xed, 0xfe]);

function transplantJpeg(source: Uint8Array, output: Uint8Array, o: MetadataOptions): Uint8Array {
  const src = jpegSegments(source);
  const out = jpegSegments(output);
  if (!src || !out) return output;
  const keep = src.segments
    .filter((s) => METADATA_MARKERS.has(s.marker))
    .filter((s) => (isIcc(s) ? !o.skipIcc : !o.strip))
    .map((s) => {
      if (!isExif(s)) return s.bytes;
      const copy = Uint8Array.from(s.bytes);
      resetOrientation(copy.subarray(10));
      return copy;
    });
  // The encoder's own segments, minus metadata it wrote itself (unless it is an ICC profile we do not replace).
  const own = out.segments.filter((s) => !METADATA_MARKERS.has(s.marker) || (o.skipIcc && isIcc(s)));
  // APP0 (JFIF) first, then the metadata, then the tables and frame header.
  const app0 = own.filter((s) => s.marker === 0xe0).map((s) => s.bytes);
  const others = own.filter((s) => s.marker !== 0xe0).map((s) => s.bytes);
  return Buffer.concat([output.subarray(0, 2), ...app0, ...keep, ...others, output.subarray(out.rest)]);
}

// ---------------------------------------------------------------------------------------------------------------
// PNG

interface Chunk {
  type: string;
  bytes: Uint8Array; // length, type, data, CRC
}

function pngChunks(b: Uint8Array): Chunk[] | undefined {
  if (b.length < 8 || b[0] !== 0x89 || b[1] !== 0x50) return undefined;
  const chunks: Chunk[] = [];
  let p = 8;
  while (p + 12 <= b.length) {
    const len = new DataView(b.buffer, b.byteOffset + p, 4).getUint32(0);
    const type = Buffer.from(b.buffer, b.byteOffset + p + 4, 4).toString('latin1');
    chunks.push({ type, bytes: b.subarray(p, p + 12 + len) });
    p += 12 + len;
  }
  return chunks;
}

const PNG_COLOUR = new Set(['iCCP', 'sRGB', 'gAMA', 'cHRM', 'pHYs']);
const PNG_PRIVATE = new Set(['eXIf', 'tEXt', 'zTXt', 'iTXt', 'tIME']);

function pngChunk(type: string, data: Uint8Array): Uint8Array {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'latin1');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])) >>> 0, 0);
  return Buffer.concat([head, data, crc]);
}

function transplantPng(source: Uint8Array, output: Uint8Array, o: MetadataOptions): Uint8Array {
  const src = pngChunks(source);
  const out = pngChunks(output);
  if (!src || !out) return output;
  const keep = src
    .filter((c) => (PNG_COLOUR.has(c.type) && !(o.skipIcc && c.type === 'iCCP')) || (!o.strip && PNG_PRIVATE.has(c.type)))
    // sRGB and iCCP exclude each other: keep the source's choice only.
    .map((c) => {
      if (c.type !== 'eXIf') return c.bytes;
      const data = Uint8Array.from(c.bytes.subarray(8, c.bytes.length - 4));
      resetOrientation(data);
      return pngChunk('eXIf', data);
    });
  const replaced = new Set([...PNG_COLOUR, ...PNG_PRIVATE]);
  const own = out.filter((c) => !replaced.has(c.type));
  const ihdr = own.findIndex((c) => c.type === 'IHDR');
  const parts = [...own.slice(0, ihdr + 1).map((c) => c.bytes), ...keep, ...own.slice(ihdr + 1).map((c) => c.bytes)];
  return Buffer.concat([output.subarray(0, 8), ...parts]);
}

// ---------------------------------------------------------------------------------------------------------------
// WebP (RIFF): VP8X, ICCP, ALPH, VP8 / VP8L, EXIF, XMP

interface RiffChunk {
  fourcc: string;
  data: Uint8Array;
}

function riffChunks(b: Uint8Array): RiffChunk[] | undefined {
  if (b.length < 12 || !startsWith(b, 0, 'RIFF') || !startsWith(b, 8, 'WEBP')) return undefined;
  const chunks: RiffChunk[] = [];
  let p = 12;
  while (p + 8 <= b.length) {
    const fourcc = Buffer.from(b.buffer, b.byteOffset + p, 4).toString('latin1');
    const len = new DataView(b.buffer, b.byteOffset + p + 4, 4).getUint32(0, true);
    chunks.push({ fourcc, data: b.subarray(p + 8, p + 8 + len) });
    p += 8 + len + (len & 1);
  }
  return chunks;
}

function riffChunk(c: RiffChunk): Uint8Array {
  const head = Buffer.alloc(8);
  head.write(c.fourcc, 0, 'latin1');
  head.writeUInt32LE(c.data.length, 4);
  return Buffer.concat([head, c.data, c.data.length & 1 ? Buffer.alloc(1) : Buffer.alloc(0)]);
}

function transplantWebp(source: Uint8Array, output: Uint8Array, o: MetadataOptions, size: { width: number; height: number; alpha: boolean }): Uint8Array {
  const src = riffChunks(source);
  const out = riffChunks(output);
  if (!src || !out) return output;
  const icc = o.skipIcc ? undefined : src.find((c) => c.fourcc === 'ICCP');
  const exif = o.strip ? undefined : src.find((c) => c.fourcc === 'EXIF');
  const xmp = o.strip ? undefined : src.find((c) => c.fourcc === 'XMP ');
  if (!icc && !exif && !xmp) return output;
  const image = out.filter((c) => c.fourcc === 'ALPH' || c.fourcc === 'VP8 ' || c.fourcc === 'VP8L');
  const vp8x = new Uint8Array(10);
  vp8x[0] = (icc ? 0x20 : 0) | (size.alpha ? 0x10 : 0) | (exif ? 0x08 : 0) | (xmp ? 0x04 : 0);
  const w = size.width - 1;
  const h = size.height - 1;
  vp8x.set([w & 255, (w >> 8) & 255, (w >> 16) & 255, h & 255, (h >> 8) & 255, (h >> 16) & 255], 4);
  let exifData = exif?.data;
  if (exifData) {
    exifData = Uint8Array.from(exifData);
    resetOrientation(startsWith(exifData, 0, 'Exif\0\0') ? exifData.subarray(6) : exifData);
  }
  const chunks: RiffChunk[] = [
    { fourcc: 'VP8X', data: vp8x },
    ...(icc ? [icc] : []),
    ...image,
    ...(exifData ? [{ fourcc: 'EXIF', data: exifData }] : []),
    ...(xmp ? [xmp] : []),
  ];
  const body = Buffer.concat(chunks.map(riffChunk));
  const head = Buffer.alloc(12);
  head.write('RIFF', 0, 'latin1');
  head.writeUInt32LE(body.length + 4, 4);
  head.write('WEBP', 8, 'latin1');
  return Buffer.concat([head, body]);
}

/** `output` (encoded by sharp from raw pixels, in `format`) with the metadata of `source` spliced in. */
export function transplantMetadata(
  format: 'jpeg' | 'png' | 'webp',
  source: Uint8Array,
  output: Uint8Array,
  o: MetadataOptions,
  size: { width: number; height: number; alpha: boolean },
): Uint8Array {
  if (format === 'jpeg') return transplantJpeg(source, output, o);
  if (format === 'png') return transplantPng(source, output, o);
  return transplantWebp(source, output, o, size);
}
