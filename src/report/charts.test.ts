import assert from 'node:assert/strict';
import { test } from 'node:test';
import { barChart, heatColor, lineChart, logTicks, niceTicks } from './charts.js';

test('nice ticks are round and cover the range', () => {
  assert.deepEqual(niceTicks(0, 1), [0, 0.2, 0.4, 0.6, 0.8, 1]);
  assert.deepEqual(niceTicks(0, 87), [0, 20, 40, 60, 80]);
  assert.deepEqual(niceTicks(5, 5).length > 1, true);
  assert.deepEqual(logTicks(0.1, 10), [0.1, 0.2, 0.5, 1, 2, 5, 10]);
  assert.deepEqual(logTicks(1, 1e6), [1, 10, 100, 1000, 10000, 100000, 1000000]);
  assert.deepEqual(logTicks(46, 2200), [50, 100, 200, 500, 1000, 2000]);
});

test('a line chart draws one path per series, markers inside the plot, escaped names, no NaN', () => {
  const svg = lineChart(
    [
      { name: 'a <b>&', points: [[1, 0.2], [2, 0.5], [3, 0.9]] },
      { name: 'b', points: [[1, 0.1], [3, Number.NaN]], dashed: true },
    ],
    { xLabel: 'pass', yLabel: 'rate', yMin: 0, yMax: 1, width: 400, height: 200 },
  );
  assert.equal((svg.match(/<path /g) ?? []).length, 2);
  assert.ok(svg.includes('a &lt;b&gt;&amp;') && !svg.includes('<b>'));
  assert.ok(!/NaN|Infinity/.test(svg));
  for (const m of svg.matchAll(/<circle cx="([\d.]+)" cy="([\d.]+)"/g)) {
    const [x, y] = [Number(m[1]), Number(m[2])];
    assert.ok(x >= 64 && x <= 400 - 16 && y >= 0 && y <= 200 - 48, `marker ${x},${y} outside the plot`);
  }
  // Higher values are drawn higher (smaller y).
  const ys = [...svg.matchAll(/<circle cx="[\d.]+" cy="([\d.]+)"/g)].map((m) => Number(m[1]));
  assert.ok(ys[0]! > ys[1]! && ys[1]! > ys[2]!);
});

test('a log-scale chart skips non-positive values and orders decades', () => {
  const svg = lineChart([{ name: 's', points: [[1, 100], [2, 10], [3, 0], [4, 1]] }], { xLabel: 'i', yLabel: 'v', yLog: true });
  assert.ok(!/NaN|Infinity/.test(svg));
  const ys = [...svg.matchAll(/<circle cx="[\d.]+" cy="([\d.]+)"/g)].map((m) => Number(m[1]));
  assert.equal(ys.length, 3);
  // Equal steps on a log scale: 100 → 10 → 1.
  assert.ok(Math.abs(ys[1]! - ys[0]! - (ys[2]! - ys[1]!)) < 0.2);
});

test('bars scale with their values; empty input gives a placeholder', () => {
  const svg = barChart([{ label: 'x', value: 2 }, { label: '<y>', value: 1 }]);
  const widths = [...svg.matchAll(/<rect x="[\d.]+" y="[\d.]+" width="([\d.]+)"/g)].map((m) => Number(m[1])).slice(1);
  assert.ok(Math.abs(widths[0]! - 2 * widths[1]!) < 0.2);
  assert.ok(svg.includes('&lt;y&gt;'));
  assert.match(barChart([]), /no data/);
  assert.equal(heatColor(0), 'rgb(255, 255, 255)');
  assert.equal(heatColor(1), 'rgb(185, 28, 28)');
});
