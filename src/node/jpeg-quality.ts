/**
 * The quality a JPEG was saved at, estimated from its quantisation tables (sharp's metadata does not give it).
 *
 * libjpeg (and libjpeg-turbo, which sharp and most cameras' software use) makes its tables by scaling the tables of
 * the JPEG standard (Annex K) by S = quality < 50 ? 5000 / quality : 200 − 2 · quality (percent), q = ⌊(std·S + 50) / 100⌋
 * clamped to 1..255. The inverse: S ≈ 100 · Σq / Σstd over the luminance table (table 0), then
 * quality = S ≤ 100 ? (200 − S) / 2 : 5000 / S. Sums are order-free, so the zig-zag order of the file does not
 * matter. Tables from other encoders (a camera's own) give the libjpeg quality whose tables are as coarse on
 * average, which is what re-encoding at that quality should keep. Returns undefined when the file has no DQT
 * marker before its first scan (not a baseline/progressive JPEG we can read).
 */

/** The luminance quantisation table of the JPEG standard, Annex K.1 (natural order; only its sum is used). */
const STD_LUMINANCE = [
  16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29, 51, 87, 80, 62, 18, 22,
  37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92, 49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99,
];
const STD_SUM = STD_LUMINANCE.reduce((a, b) => a + b, 0);

/** The luminance table (table id 0) of a JPEG, 64 values, or undefined. */
export function jpegLuminanceTable(bytes: Uint8Array): number[] | undefined {
  if (bytes[0] !== 0xff || bytes[1] !== 0xd8) return undefined;
  let p = 2;
  while (p + 4 <= bytes.length) {
    if (bytes[p] !== 0xff) return undefined;
    const marker = bytes[p + 1]!;
    if (marker === 0xff) {
      p++; // fill byte
      continue;
    }
    if (marker === 0xda || marker === 0xd9) return undefined; // start of scan / end: no table 0 before the data
    const len = (bytes[p + 2]! << 8) | bytes[p + 3]!;
    if (marker === 0xdb) {
      let q = p + 4;
      const end = p + 2 + len;
      while (q < end) {
        const precision = bytes[q]! >> 4;
        const id = bytes[q]! & 15;
        const n = precision ? 128 : 64;
        if (id === 0) {
          const t: number[] = [];
          for (let i = 0; i < 64; i++) t.push(precision ? (bytes[q + 1 + 2 * i]! << 8) | bytes[q + 2 + 2 * i]! : bytes[q + 1 + i]!);
          return t;
        }
        q += 1 + n;
      }
    }
    p += 2 + len;
  }
  return undefined;
}

/** The estimated libjpeg quality (1..100) of a JPEG file's bytes, or undefined when no luminance table is found. */
export function estimateJpegQuality(bytes: Uint8Array): number | undefined {
  const t = jpegLuminanceTable(bytes);
  if (!t) return undefined;
  const sum = t.reduce((a, b) => a + b, 0);
  if (sum <= 64) return 100; // every step 1: quality 100 (or above what the tables can tell)
  const s = (100 * sum) / STD_SUM;
  const q = s <= 100 ? (200 - s) / 2 : 5000 / s;
  return Math.min(100, Math.max(1, Math.round(q)));
}
