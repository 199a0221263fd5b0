import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { UapError } from '../errors.js';
import { isNpy, readNpy, writeNpy } from './npy.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const SHARED = process.env.UAP_SHARED ?? path.resolve(repoRoot, '../shared');

function badInput(re: RegExp) {
  return (e: unknown) => e instanceof UapError && e.code === 'BAD_INPUT' && re.test(e.message);
}

/** Hand-built .npy bytes: version, dict text, then data. */
function craft(version: number, dict: string, data: Uint8Array): Uint8Array {
  const prefix = version === 1 ? 10 : 12;
  const total = Math.ceil((prefix + dict.length + 1) / 64) * 64;
  const header = dict.padEnd(total - prefix - 1, ' ') + '\n';
  const out = new Uint8Array(total + data.length);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, version, 0]);
  const v = new DataView(out.buffer);
  if (version === 1) v.setUint16(8, header.length, true);
  else v.setUint32(8, header.length, true);
  out.set(new TextEncoder().encode(header), prefix);
  out.set(data, total);
  return out;
}

test('writeNpy → readNpy round-trips float32 exactly', () => {
  const data = Float32Array.from({ length: 2 * 3 * 4 }, (_, i) => (i - 7) * 0.37);
  data[3] = -0;
  data[4] = 3.4e38;
  const bytes = writeNpy(data, [2, 3, 4]);
  assert.ok(isNpy(bytes));
  assert.equal(bytes[6], 1);
  const headerEnd = 10 + (bytes[8]! | (bytes[9]! << 8));
  assert.equal(headerEnd % 64, 0);
  assert.equal(bytes[headerEnd - 1], 0x0a);
  const back = readNpy(bytes, 'x.npy');
  assert.deepEqual(back.shape, [2, 3, 4]);
  assert.deepEqual(back.data, data);
  // 1-D, scalar and empty shapes
  assert.deepEqual(readNpy(writeNpy(new Float32Array([1, 2]), [2]), 'a').shape, [2]);
  assert.deepEqual(readNpy(writeNpy(new Float32Array([5]), []), 'a'), { data: new Float32Array([5]), shape: [] });
  assert.deepEqual(readNpy(writeNpy(new Float32Array(0), [0, 3]), 'a').shape, [0, 3]);
  // data not aligned in its buffer
  const shifted = new Uint8Array(bytes.length + 1);
  shifted.set(bytes, 1);
  assert.deepEqual(readNpy(shifted.subarray(1), 'x.npy').data, data);
  // a Node Buffer (readFileSync's), whose slice() is a view, not a copy
  const dir = mkdtempSync(path.join(tmpdir(), 'uap-npy-'));
  try {
    writeFileSync(path.join(dir, 'v.npy'), bytes);
    assert.deepEqual(readNpy(readFileSync(path.join(dir, 'v.npy')), 'v.npy').data, data);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('writeNpy refuses data that does not fill the shape', () => {
  assert.throws(() => writeNpy(new Float32Array(5), [2, 3]), /do not fill/);
});

test('reads float64 (converted), big-endian, versions 2 and 3', () => {
  const f8 = new Float64Array([1.5, -2.25, 1e-3]);
  const a = readNpy(craft(1, "{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }", new Uint8Array(f8.buffer)), 'a');
  assert.deepEqual(a.data, Float32Array.from(f8));
  const be = new Uint8Array(8);
  new DataView(be.buffer).setFloat32(0, 1.25, false);
  new DataView(be.buffer).setFloat32(4, -7, false);
  const b = readNpy(craft(2, "{'descr': '>f4', 'fortran_order': False, 'shape': (1, 2), }", be), 'b');
  assert.deepEqual(b, { data: new Float32Array([1.25, -7]), shape: [1, 2] });
  const c = readNpy(craft(3, "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", new Uint8Array(new Float32Array([3, 4]).buffer)), 'c');
  assert.deepEqual(c.data, new Float32Array([3, 4]));
});

test('bad files are refused with the file name', () => {
  const text = new TextEncoder().encode('hello, I am a text file renamed to .npy\n');
  assert.throws(() => readNpy(text, 'notes.npy'), badInput(/^notes\.npy: not a \.npy file/));
  assert.throws(() => readNpy(new Uint8Array(0), 'empty.npy'), badInput(/not a \.npy file/));
  const full = writeNpy(new Float32Array(100), [10, 10]);
  assert.throws(() => readNpy(full.subarray(0, full.length - 4), 't.npy'), badInput(/^t\.npy: truncated.*\(10, 10\).*400 bytes.*396/));
  assert.throws(() => readNpy(full.subarray(0, 30), 't.npy'), badInput(/truncated/));
  assert.throws(() => readNpy(full.subarray(0, 8), 't.npy'), badInput(/truncated/));
  const fortran = craft(1, "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }", new Uint8Array(16));
  assert.throws(() => readNpy(fortran, 'f.npy'), badInput(/^f\.npy: .*Fortran/));
  const ints = craft(1, "{'descr': '<i8', 'fortran_order': False, 'shape': (2,), }", new Uint8Array(16));
  assert.throws(() => readNpy(ints, 'i.npy'), badInput(/unsupported dtype '<i8'/));
  const obj = craft(1, "{'descr': '|O', 'fortran_order': False, 'shape': (2,), }", new Uint8Array(16));
  assert.throws(() => readNpy(obj, 'o.npy'), badInput(/unsupported dtype/));
  const garbage = craft(1, 'this is not a dict', new Uint8Array(0));
  assert.throws(() => readNpy(garbage, 'g.npy'), badInput(/unreadable header/));
  const v9 = writeNpy(new Float32Array(1), [1]);
  v9[6] = 9;
  assert.throws(() => readNpy(v9, 'v.npy'), badInput(/version 9/));
});

test('reads the LTS4 perturbations from shared/', { skip: !safeExists(path.join(SHARED, 'perturbations/lts4')) }, () => {
  const dir = path.join(SHARED, 'perturbations/lts4');
  const files = readdirSync(dir).filter((f) => f.endsWith('.npy'));
  assert.ok(files.length >= 7);
  for (const f of files) {
    const { data, shape } = readNpy(new Uint8Array(readFileSync(path.join(dir, f))), f);
    assert.deepEqual(shape, [224, 224, 3]);
    let max = 0;
    for (const v of data) {
      assert.ok(Number.isFinite(v));
      max = Math.max(max, Math.abs(v));
    }
    assert.ok(Math.abs(max - 10) < 0.5, `${f}: max |v| = ${max}`);
  }
});

const hasNumpy = spawnSync('python3', ['-c', 'import numpy'], { stdio: 'ignore' }).status === 0;

test('numpy.load reads what writeNpy wrote, and we read what numpy.save wrote', { skip: !hasNumpy && 'python3 with numpy not available' }, () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'uap-npy-'));
  try {
    const data = Float32Array.from({ length: 4 * 5 * 3 }, (_, i) => Math.sin(i) * 10);
    writeFileSync(path.join(dir, 'ours.npy'), writeNpy(data, [4, 5, 3]));
    const script = `
import numpy as np, sys, json
a = np.load(sys.argv[1] + '/ours.npy')
assert a.dtype == np.float32 and a.shape == (4, 5, 3), (a.dtype, a.shape)
print(json.dumps([float(x) for x in a.ravel()]))
b = np.arange(6, dtype=np.float64).reshape(2, 3) / 4
np.save(sys.argv[1] + '/theirs.npy', b)
np.save(sys.argv[1] + '/fortran.npy', np.asfortranarray(np.ones((2, 3), dtype=np.float32)))
np.lib.format.write_array(open(sys.argv[1] + '/v2.npy', 'wb'), np.ones((2, 2), dtype=np.float32), version=(2, 0))
`;
    const out = execFileSync('python3', ['-c', script, dir], { encoding: 'utf8' });
    assert.deepEqual(Float32Array.from(JSON.parse(out) as number[]), data);
    const theirs = readNpy(new Uint8Array(readFileSync(path.join(dir, 'theirs.npy'))), 'theirs.npy');
    assert.deepEqual(theirs, { data: new Float32Array([0, 0.25, 0.5, 0.75, 1, 1.25]), shape: [2, 3] });
    const v2 = readNpy(new Uint8Array(readFileSync(path.join(dir, 'v2.npy'))), 'v2.npy');
    assert.deepEqual(v2, { data: new Float32Array([1, 1, 1, 1]), shape: [2, 2] });
    assert.throws(() => readNpy(new Uint8Array(readFileSync(path.join(dir, 'fortran.npy'))), 'fortran.npy'), badInput(/Fortran/));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

function safeExists(p: string): boolean {
  try {
    readdirSync(p);
    return true;
  } catch {
    return false;
  }
}
