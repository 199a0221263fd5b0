import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { createRng } from '../util/rng.js';
import { errorRate } from '../attacks/criteria.js';
import { addCounts, concatShards, countShard, inShardOrder, ratesOf, shardRanges, sumGradients } from './shard-counts.js';

test('shards cover 0..n once, contiguously, each starting on a multiple of the batch size', () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 5000 }), fc.integer({ min: 1, max: 700 }), fc.integer({ min: 1, max: 128 }), (n, shardSize, batch) => {
      const s = shardRanges(n, shardSize, batch);
      assert.equal(s[0]!.start, 0);
      assert.equal(s.at(-1)!.end, n);
      s.forEach((r, i) => {
        assert.equal(r.shard, i);
        assert.equal(r.start % batch, 0);
        assert.ok(r.end > r.start);
        if (i > 0) assert.equal(r.start, s[i - 1]!.end);
      });
    }),
  );
  assert.throws(() => shardRanges(0, 10, 1), /must be an integer ≥ 1/);
});

test('counts added over any split equal the counts of the whole set', () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 400 }), fc.integer({ min: 1, max: 100 }), fc.integer({ min: 0, max: 1e6 }), (n, shardSize, seed) => {
      const rng = createRng(seed);
      const draw = () => Int32Array.from({ length: n }, () => Math.floor(rng() * 4) - (rng() < 0.1 ? 5 : 0));
      const clean = draw().map(Math.abs);
      const pert = draw().map(Math.abs);
      const labels = draw(); // some −5: unknown
      const whole = countShard(clean, labels, [pert, clean], 2);
      const parts = shardRanges(n, shardSize, 1).map((r) =>
        countShard(clean.slice(r.start, r.end), labels.slice(r.start, r.end), [pert.slice(r.start, r.end), clean.slice(r.start, r.end)], 2),
      );
      assert.deepEqual(addCounts(parts), whole);
      assert.equal(ratesOf(whole, 1).foolingRate, 0);
      const err = errorRate(Int32Array.from(labels, (y) => (y < 0 ? -1 : y)), pert);
      assert.ok(Object.is(ratesOf(whole, 0).errorRate, err) || Math.abs(ratesOf(whole, 0).errorRate - err) < 1e-12);
      assert.deepEqual(concatShards(shardRanges(n, shardSize, 1).map((r) => pert.slice(r.start, r.end))), pert);
    }),
  );
});

test('results are taken in shard order, each shard once: a missing or a foreign shard is an error', () => {
  const m = new Map([[1, 'b'], [0, 'a'], [2, 'c']]);
  assert.deepEqual(inShardOrder(m, 3), ['a', 'b', 'c']);
  assert.throws(() => inShardOrder(new Map([[0, 'a'], [2, 'c']]), 3), /no result for shard 1 of 3/);
  assert.throws(() => inShardOrder(new Map([[0, 'a'], [1, 'b'], [7, 'x']]), 2), /3 results for 2 shards/);
});

test('shard gradients are summed in float32, in the order given', () => {
  const a = Float32Array.of(1e8, 1, -3);
  const b = Float32Array.of(1, 2, 3);
  const c = Float32Array.of(-1e8, 0.5, 0);
  assert.deepEqual([...sumGradients([a, b, c])], [Math.fround(Math.fround(1e8 + 1) - 1e8), 3.5, 0]);
  assert.throws(() => sumGradients([a, Float32Array.of(1)]), /has 1 values, not 3/);
});
