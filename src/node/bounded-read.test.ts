import assert from 'node:assert/strict';
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, truncateSync, writeFileSync, writeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import fc from 'fast-check';
import { UapError, type UapErrorCode } from '../errors.js';
import { MAX_NPY_HEADER_BYTES, readNpy, writeNpy } from '../io/npy.js';
import { readFileBounded, readNpyFile } from './bounded-read.js';
import { readDataList, resolveDatasetSpec } from './datasets.js';
import { loadPerturbation } from './perturbation-files.js';

/**
 * Bounded readers: .npy files, perturbation folders and data lists given /dev/zero, a 3 GB (sparse) file, a
 * directory or a 150 MB header are refused with one UapError naming the file, before anything big is read
 * or allocated. Property tests feed random and mutated bytes.
 */

const tmp = mkdtempSync(path.join(os.tmpdir(), 'uap-bounded-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

async function rejectsWith(p: Promise<unknown>, code: UapErrorCode, pattern: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof UapError, `not a UapError: ${String(e)}`);
    assert.equal(e.code, code, e.message);
    assert.match(e.message, pattern);
    return true;
  });
}

/** A sparse file of `size` bytes starting with `head` (no disk space used). */
function sparse(name: string, size: number, head: Uint8Array = new Uint8Array()): string {
  const f = path.join(tmp, name);
  writeFileSync(f, head);
  truncateSync(f, size);
  return f;
}

/** A .npy prefix (version 2) that declares a header of `headerLen` bytes. */
function hugeHeader(headerLen: number): Uint8Array {
  const b = new Uint8Array(12);
  b.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 2, 0]);
  new DataView(b.buffer).setUint32(8, headerLen, true);
  return b;
}

/** A version 1.0 .npy prefix + header holding `dict`, padded to 64 bytes. */
function npyHeader(dict: string): Uint8Array {
  const total = Math.ceil((10 + dict.length + 1) / 64) * 64;
  const out = new Uint8Array(total);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
  new DataView(out.buffer).setUint16(8, total - 10, true);
  const text = dict.padEnd(total - 11, ' ') + '\n';
  for (let i = 0; i < text.length; i++) out[10 + i] = text.charCodeAt(i);
  return out;
}

test('.npy: a 150 MB header is refused from its length field alone, as numpy does', async () => {
  const f = sparse('huge-header.npy', 150e6, hugeHeader(150e6 - 12));
  await rejectsWith(readNpyFile(f), 'BAD_INPUT', /header is 149999988 bytes, over the 10000-byte limit/);
  await rejectsWith(loadPerturbation(f), 'BAD_INPUT', /huge-header\.npy: the \.npy header is/);
  assert.throws(() => readNpy(hugeHeader(50e6), 'x.npy'), /over the 10000-byte limit/);
});

test('.npy: a 3 GB file, a header claiming 4 GB, /dev/zero and a directory are refused before reading', async () => {
  const big = writeNpy(new Float32Array(1), [1]);
  // a header whose shape needs 4e9 bytes, in a 3 GB (sparse) file
  const claim = npyHeader("{'descr': '<f4', 'fortran_order': False, 'shape': (1000000000,), }");
  await rejectsWith(readNpyFile(sparse('claims-4gb.npy', 3e9, claim)), 'BAD_INPUT', /claims-4gb\.npy: its header says shape \(1000000000\): 4000000000 bytes of data, over the \d+-byte limit for a \.npy file/);
  await rejectsWith(loadPerturbation(path.join(tmp, 'claims-4gb.npy')), 'BAD_INPUT', /over the \d+-byte limit/);
  // a 3 GB file whose header says one value: only those 4 bytes are read
  assert.deepEqual([...(await readNpyFile(sparse('3gb.npy', 3e9, big), { maxBytes: 16 })).data], [0]);
  await rejectsWith(readNpyFile('/dev/zero'), 'BAD_INPUT', /\/dev\/zero: not a regular file/);
  mkdirSync(path.join(tmp, 'dir.npy'));
  await rejectsWith(readNpyFile(path.join(tmp, 'dir.npy')), 'BAD_INPUT', /dir\.npy: is a directory/);
  mkdirSync(path.join(tmp, 'pdir', 'perturbation.npy'), { recursive: true });
  await rejectsWith(loadPerturbation(path.join(tmp, 'pdir')), 'BAD_INPUT', /perturbation\.npy: is a directory/);
  await rejectsWith(readNpyFile(sparse('short.npy', 100, big.subarray(0, 64))), 'BAD_INPUT', /truncated/);
});

test('data lists: /dev/zero, a 3 GB file, binary content and too many lines are one clear error', async () => {
  await rejectsWith(resolveDatasetSpec('/dev/zero'), 'BAD_INPUT', /\/dev\/zero: is not a regular file and gives more than 67108864 bytes, the limit for a data list/);
  await rejectsWith(resolveDatasetSpec(sparse('list-3gb.txt', 3e9)), 'BAD_INPUT', /list-3gb\.txt: is 3000000000 bytes, over the 67108864-byte limit/);
  await rejectsWith(resolveDatasetSpec(sparse('list-nul.txt', 100, new TextEncoder().encode('a.jpg\n'))), 'BAD_INPUT', /binary content/);
  const many = path.join(tmp, 'many.txt');
  writeFileSync(many, 'a.jpg\n'.repeat(20));
  await rejectsWith(readDataList(many, { maxBytes: 1000, maxEntries: 10 }), 'BAD_INPUT', /more than 10 images/);
  await rejectsWith(readDataList(many, { maxBytes: 50, maxEntries: 100 }), 'BAD_INPUT', /120 bytes, over the 50-byte limit/);
  assert.equal((await readDataList(many)).length, 20);
  // a FIFO-like stream is read up to the limit
  await rejectsWith(readFileBounded('/dev/zero', { maxBytes: 1000, what: 'data list' }), 'BAD_INPUT', /gives more than 1000 bytes/);
});

test('property: readNpy on random and mutated bytes returns or throws UapError, allocating at most the data it holds', () => {
  const valid = [
    writeNpy(Float32Array.from([1, 2, 3, 4, 5, 6]), [2, 3]),
    writeNpy(new Float32Array(12), [2, 2, 3]),
  ];
  const mutated = fc.tuple(
    fc.constantFrom(...valid),
    fc.array(fc.tuple(fc.nat(200), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }),
    fc.nat(200),
  ).map(([b, edits, cut]) => {
    const c = b.slice(0, Math.max(0, b.length - (cut % 8 === 0 ? cut % b.length : 0)));
    for (const [at, v] of edits) if (at < c.length) c[at] = v;
    return c;
  });
  const headerText = fc.tuple(fc.string({ maxLength: 80 }), fc.constantFrom('<f4', '>f8', '<i4', '|u1', 'x'), fc.array(fc.oneof(fc.nat(), fc.constant(2 ** 40), fc.constant(-1)), { maxLength: 4 }))
    .map(([junk, d, shape]) => {
      const h = `{'descr': '${d}', 'fortran_order': False, 'shape': (${shape.join(', ')},), ${junk}}`;
      const out = new Uint8Array(10 + h.length + 16);
      out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
      new DataView(out.buffer).setUint16(8, h.length, true);
      for (let i = 0; i < h.length; i++) out[10 + i] = h.charCodeAt(i) & 0xff;
      return out;
    });
  const bytes = fc.oneof(fc.uint8Array({ maxLength: 300 }), mutated, headerText);
  fc.assert(
    fc.property(bytes, (b) => {
      try {
        const a = readNpy(b, 'fuzz.npy');
        assert.ok(a.data.length * 4 <= b.length * 2, 'never more values than the bytes hold');
      } catch (e) {
        assert.ok(e instanceof UapError, `not a UapError: ${String(e)}`);
      }
    }),
    { numRuns: 1000 },
  );
  assert.equal(MAX_NPY_HEADER_BYTES, 10_000);
});

test('property: readNpyFile on files whose header fields are random reads at most the header plus the data', async () => {
  const f = path.join(tmp, 'fuzz.npy');
  await fc.assert(
    fc.asyncProperty(fc.uint8Array({ minLength: 12, maxLength: 12 }), fc.nat(3e9), async (prefix, size) => {
      prefix.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]);
      prefix[6] = (prefix[6]! % 3) + 1;
      const fd = openSync(f, 'w');
      writeSync(fd, prefix);
      closeSync(fd);
      truncateSync(f, Math.max(12, size));
      try {
        await readNpyFile(f, { maxBytes: 1 << 20 });
      } catch (e) {
        assert.ok(e instanceof UapError, `not a UapError: ${String(e)}`);
      }
    }),
    { numRuns: 60 },
  );
});

test('property: data lists of random lines never crash and name at most one image a line', async () => {
  const f = path.join(tmp, 'fuzz-list.txt');
  const line = fc.oneof(fc.string({ maxLength: 40 }), fc.constantFrom('# c', '', 'a.jpg 3', 'b.png\tn01440764', 'c d.jpg', ' \r'));
  const content = fc.oneof(fc.array(line, { maxLength: 40 }).map((ls) => new TextEncoder().encode(ls.join('\n'))), fc.uint8Array({ maxLength: 400 }));
  await fc.assert(
    fc.asyncProperty(content, async (bytes) => {
      writeFileSync(f, bytes);
      try {
        const entries = await readDataList(f, { maxBytes: 10_000, maxEntries: 30 });
        const lines = new TextDecoder().decode(bytes).split('\n').length;
        assert.ok(entries.length <= Math.min(lines, 30));
        for (const e of entries) assert.equal(typeof e.file, 'string');
      } catch (e) {
        assert.ok(e instanceof UapError, `not a UapError: ${String(e)}`);
      }
    }),
    { numRuns: 300 },
  );
});
