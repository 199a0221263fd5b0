import { UapError } from '../../errors.js';
import { float16ToFloat32 } from './common.js';

/** The weightsManifest of a TF.js model.json (layers and graph models alike). */
export interface WeightEntry {
  name: string;
  shape: number[];
  dtype: string;
  quantization?: { dtype: string; scale?: number; min?: number; original_dtype?: string };
}
export interface WeightGroup {
  paths: string[];
  weights: WeightEntry[];
}

export interface DecodedWeight {
  data: Float32Array | Int32Array;
  shape: number[];
  dtype: 'float32' | 'int32';
}

/** Reads one shard, named by its path as written in the manifest. */
export type ShardReader = (path: string) => Promise<Uint8Array>;

const BYTES: Record<string, number> = { float32: 4, int32: 4, uint8: 1, uint16: 2, float16: 2, bool: 1, int8: 1, int16: 2 };

function entryBytes(w: WeightEntry, source: string): number {
  const dt = w.quantization?.dtype ?? w.dtype;
  const b = BYTES[dt];
  if (b === undefined) throw new UapError('BAD_MODEL', `weight ${w.name} has unsupported dtype ${dt}`, source);
  return b * w.shape.reduce((a, d) => a * d, 1);
}

/** Default cap on the bytes all shards of one model hold together (the largest zoo model has 17 MB). */
export const DEFAULT_MAX_WEIGHT_BYTES = 1024 * 1024 * 1024;

/**
 * Checks a weightsManifest's structure (groups of string paths and named, shaped weights) and that no shard
 * is named twice: a manifest repeating one shard would otherwise make us read it over and over.
 */
export function parseManifest(json: unknown, source: string): WeightGroup[] {
  if (!Array.isArray(json)) throw new UapError('BAD_MODEL', 'model.json has no weightsManifest', source);
  const seen = new Set<string>();
  for (const g of json as WeightGroup[]) {
    if (!g || typeof g !== 'object' || !Array.isArray(g.paths) || !Array.isArray(g.weights) || g.paths.some((p) => typeof p !== 'string')) {
      throw new UapError('BAD_MODEL', 'malformed weightsManifest group', source);
    }
    for (const p of g.paths) {
      if (seen.has(p)) throw new UapError('BAD_MODEL', `weightsManifest names shard ${p} more than once`, source);
      seen.add(p);
    }
    for (const w of g.weights) {
      if (
        !w ||
        typeof w !== 'object' ||
        typeof w.name !== 'string' ||
        typeof w.dtype !== 'string' ||
        !Array.isArray(w.shape) ||
        !w.shape.every((d) => Number.isSafeInteger(d) && d >= 0) ||
        (w.quantization !== undefined && (typeof w.quantization !== 'object' || w.quantization === null || typeof w.quantization.dtype !== 'string'))
      ) {
        throw new UapError('BAD_MODEL', 'malformed weightsManifest entry', source);
      }
    }
  }
  return json as WeightGroup[];
}

/** Bytes the shards of each group must hold, from the manifest alone; BAD_MODEL when over `maxTotal` in all. */
export function manifestBytes(groups: WeightGroup[], source: string, maxTotal = DEFAULT_MAX_WEIGHT_BYTES): number[] {
  const sizes = groups.map((g) => g.weights.reduce((a, w) => a + entryBytes(w, source), 0));
  const total = sizes.reduce((a, b) => a + b, 0);
  if (!(total <= maxTotal)) {
    throw new UapError('BAD_MODEL', `the weightsManifest needs ${total} bytes of weights, over the ${maxTotal}-byte limit`, source);
  }
  return sizes;
}

/**
 * Reads and decodes every weight of a manifest: float32/int32 as is, uint8/uint16 quantised ones as
 * q × scale + min, float16 ones widened. A shard whose size does not match the manifest is BAD_MODEL
 * naming that shard.
 */
export async function readWeights(
  groups: WeightGroup[],
  readShard: ShardReader,
  source: string,
  opts: { maxTotalBytes?: number } = {},
): Promise<Map<string, DecodedWeight>> {
  const out = new Map<string, DecodedWeight>();
  // Sizes come from the manifest, before any shard is read; reading stops once a group has more than it needs.
  const sizes = manifestBytes(groups, source, opts.maxTotalBytes ?? DEFAULT_MAX_WEIGHT_BYTES);
  for (const [gi, g] of groups.entries()) {
    const expected = sizes[gi]!;
    const shards: Uint8Array[] = [];
    let total = 0;
    for (const p of g.paths) {
      const s = await readShard(p);
      shards.push(s);
      total += s.length;
      if (total > expected) {
        throw new UapError('BAD_MODEL', `weight shard ${p} is too long: the group has at least ${total} bytes, manifest needs ${expected}`, source);
      }
    }
    if (total !== expected) {
      // Converter shards are equal-sized but for the last one: blame the first that breaks that pattern.
      let blame = g.paths.length - 1;
      const first = shards[0]?.length ?? 0;
      for (let i = 1; i < shards.length - 1; i++) if (shards[i]!.length !== first) { blame = i; break; }
      if (shards.length > 1 && shards[shards.length - 1]!.length > first) blame = shards.length - 1;
      const what = total < expected ? 'truncated' : 'too long';
      throw new UapError('BAD_MODEL', `weight shard ${g.paths[blame]} is ${what}: group has ${total} bytes, manifest needs ${expected}`, source);
    }
    const buf = new Uint8Array(total);
    let off = 0;
    for (const s of shards) {
      buf.set(s, off);
      off += s.length;
    }
    off = 0;
    for (const w of g.weights) {
      const n = w.shape.reduce((a, d) => a * d, 1);
      const nb = entryBytes(w, source);
      const bytes = buf.slice(off, off + nb); // aligned copy
      off += nb;
      const q = w.quantization;
      let data: Float32Array | Int32Array;
      let dtype: 'float32' | 'int32' = 'float32';
      if (q && (q.dtype === 'uint8' || q.dtype === 'uint16')) {
        const vals = q.dtype === 'uint8' ? bytes : new Uint16Array(bytes.buffer);
        const scale = q.scale ?? 1;
        const min = q.min ?? 0;
        data = new Float32Array(n);
        for (let i = 0; i < n; i++) data[i] = vals[i]! * scale + min;
        if (w.dtype === 'int32') {
          dtype = 'int32';
          data = Int32Array.from(data, Math.round);
        }
      } else if (q && q.dtype === 'float16') {
        data = float16ToFloat32(new Uint16Array(bytes.buffer));
      } else if (w.dtype === 'float32') {
        data = new Float32Array(bytes.buffer);
      } else if (w.dtype === 'int32') {
        data = new Int32Array(bytes.buffer);
        dtype = 'int32';
      } else {
        // bool and other small types: not used by the ops we map; keep as numbers
        data = Float32Array.from(bytes);
      }
      out.set(w.name, { data, shape: w.shape, dtype });
    }
  }
  return out;
}
