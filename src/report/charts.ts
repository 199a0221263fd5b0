import { esc } from './escape.js';

/**
 * Charts as inline SVG strings: no script, no network, the same picture in every browser and in a saved file.
 * Browser-safe. Every text that comes from a file is escaped here.
 */

export const PALETTE = ['#2563eb', '#dc2626', '#059669', '#d97706', '#7c3aed', '#db2777', '#0891b2', '#4b5563'];

export interface Series {
  name: string;
  points: ReadonlyArray<readonly [number, number]>;
  color?: string;
  dashed?: boolean;
}

export interface LineChartOptions {
  title?: string;
  xLabel: string;
  yLabel: string;
  xLog?: boolean;
  yLog?: boolean;
  /** Fixed y range (linear axes); by default from the data (and 0 when all values are ≥ 0). */
  yMin?: number;
  yMax?: number;
  yFormat?: (y: number) => string;
  xFormat?: (x: number) => string;
  /** Integer x ticks only (passes, sizes). */
  xIntegers?: boolean;
  width?: number;
  height?: number;
}

const FONT = `font-family="system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif"`;

/** Round numbers for an axis: about `count` ticks covering [lo, hi]. */
export function niceTicks(lo: number, hi: number, count = 5): number[] {
  if (!(hi > lo)) {
    const d = lo === 0 ? 1 : Math.abs(lo) * 0.1;
    return niceTicks(lo - d, hi + d, count);
  }
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const first = Math.ceil(lo / step - 1e-9) * step;
  const out: number[] = [];
  for (let t = first; t <= hi + step * 1e-9; t += step) out.push(Number(t.toPrecision(12)));
  return out;
}

/** Powers of ten within [lo, hi] (lo > 0), with 2 and 5 between when that alone gives fewer than 4 ticks. */
export function logTicks(lo: number, hi: number): number[] {
  const a = Math.floor(Math.log10(lo));
  const b = Math.ceil(Math.log10(hi));
  const pick = (mults: number[]) => {
    const out: number[] = [];
    for (let e = a; e <= b; e++) {
      for (const m of mults) {
        const t = Number((m * 10 ** e).toPrecision(12));
        if (t >= lo * (1 - 1e-9) && t <= hi * (1 + 1e-9)) out.push(t);
      }
    }
    return out;
  };
  const powers = pick([1]);
  return powers.length >= 4 ? powers : pick([1, 2, 5]);
}

export function defaultFormat(x: number): string {
  const a = Math.abs(x);
  if (a !== 0 && (a >= 1e5 || a < 1e-3)) return x.toExponential(0).replace('e+', 'e');
  return String(Number(x.toPrecision(4)));
}

interface Axis {
  map: (v: number) => number;
  ticks: number[];
}

function axis(values: number[], log: boolean, p0: number, p1: number, fixed: { min?: number; max?: number }, integers = false, tight = false): Axis {
  const finite = values.filter((v) => Number.isFinite(v) && (!log || v > 0));
  if (log) {
    let lo = Math.min(...finite);
    let hi = Math.max(...finite);
    if (!(lo > 0)) lo = 1;
    if (!(hi > lo)) hi = lo * 10;
    if (tight) {
      // The data's own range, a little padded (sizes 50 … 2000 should not sit inside 10 … 10000).
      const pad = (Math.log10(hi) - Math.log10(lo)) * 0.04;
      lo = 10 ** (Math.log10(lo) - pad);
      hi = 10 ** (Math.log10(hi) + pad);
    } else {
      lo = 10 ** Math.floor(Math.log10(lo) + 1e-9);
      hi = 10 ** Math.ceil(Math.log10(hi) - 1e-9);
    }
    if (hi <= lo) hi = lo * 10;
    const l0 = Math.log10(lo);
    const l1 = Math.log10(hi);
    return { map: (v) => p0 + ((Math.log10(Math.max(v, lo)) - l0) / (l1 - l0)) * (p1 - p0), ticks: logTicks(lo, hi) };
  }
  let lo = fixed.min ?? Math.min(...finite);
  let hi = fixed.max ?? Math.max(...finite);
  if (fixed.min === undefined && lo > 0 && lo < hi * 0.6) lo = 0;
  if (!Number.isFinite(lo)) lo = 0;
  if (!Number.isFinite(hi)) hi = 1;
  let ticks = niceTicks(lo, hi);
  if (integers) ticks = [...new Set(ticks.map((t) => Math.round(t)))].filter((t) => t >= lo - 1e-9 && t <= hi + 1e-9);
  if (fixed.min === undefined) lo = Math.min(lo, ticks[0] ?? lo);
  if (fixed.max === undefined) hi = Math.max(hi, ticks[ticks.length - 1] ?? hi);
  if (!(hi > lo)) {
    hi = lo + 1;
    ticks = [lo, hi];
  }
  return { map: (v) => p0 + ((v - lo) / (hi - lo)) * (p1 - p0), ticks };
}

/** A line chart with markers, axes, grid, legend and a tooltip (<title>) per point. */
export function lineChart(series: readonly Series[], o: LineChartOptions): string {
  const width = o.width ?? 560;
  const height = o.height ?? 320;
  const multi = series.length > 1;
  // Legend entries laid out left to right, wrapping to a new row when the width runs out.
  const legend: Array<{ x: number; y: number }> = [];
  let legendRows = 0;
  if (multi) {
    let lx = 64;
    legendRows = 1;
    for (const s of series) {
      const w = 34 + s.name.length * 6.8;
      if (lx > 64 && lx + w > width - 16) {
        lx = 64;
        legendRows++;
      }
      legend.push({ x: lx, y: 14 + (legendRows - 1) * 18 });
      lx += w + 14;
    }
  }
  const m = { left: 64, right: 16, top: multi ? 22 + legendRows * 18 : 16, bottom: 48 };
  const xs = series.flatMap((s) => s.points.map((p) => p[0]));
  const ys = series.flatMap((s) => s.points.map((p) => p[1]));
  if (xs.length === 0) return emptyChart(width, height, o.title ?? 'no data');
  const xa = axis(xs, Boolean(o.xLog), m.left, width - m.right, {}, o.xIntegers, true);
  const ya = axis(ys, Boolean(o.yLog), height - m.bottom, m.top, { min: o.yMin, max: o.yMax });
  const fx = o.xFormat ?? defaultFormat;
  const fy = o.yFormat ?? defaultFormat;
  const parts: string[] = [];
  parts.push(`<rect x="0" y="0" width="${width}" height="${height}" fill="#fff"/>`);
  // Grid and ticks.
  for (const t of ya.ticks) {
    const y = ya.map(t).toFixed(1);
    parts.push(`<line x1="${m.left}" x2="${width - m.right}" y1="${y}" y2="${y}" stroke="#e5e7eb"/>`);
    parts.push(`<text x="${m.left - 8}" y="${y}" text-anchor="end" dominant-baseline="middle" font-size="11" fill="#4b5563">${esc(fy(t))}</text>`);
  }
  for (const t of xa.ticks) {
    const x = xa.map(t).toFixed(1);
    parts.push(`<line x1="${x}" x2="${x}" y1="${m.top}" y2="${height - m.bottom}" stroke="#f3f4f6"/>`);
    parts.push(`<text x="${x}" y="${height - m.bottom + 16}" text-anchor="middle" font-size="11" fill="#4b5563">${esc(fx(t))}</text>`);
  }
  parts.push(`<line x1="${m.left}" x2="${width - m.right}" y1="${height - m.bottom}" y2="${height - m.bottom}" stroke="#9ca3af"/>`);
  parts.push(`<line x1="${m.left}" x2="${m.left}" y1="${m.top}" y2="${height - m.bottom}" stroke="#9ca3af"/>`);
  parts.push(`<text x="${(m.left + width - m.right) / 2}" y="${height - 10}" text-anchor="middle" font-size="12" fill="#111827">${esc(o.xLabel)}</text>`);
  const cy = (m.top + height - m.bottom) / 2;
  parts.push(`<text x="14" y="${cy}" text-anchor="middle" font-size="12" fill="#111827" transform="rotate(-90 14 ${cy})">${esc(o.yLabel)}</text>`);
  // Series.
  series.forEach((s, i) => {
    const color = s.color ?? PALETTE[i % PALETTE.length]!;
    const pts = s.points.filter((p) => Number.isFinite(p[0]) && Number.isFinite(p[1]) && (!o.yLog || p[1] > 0) && (!o.xLog || p[0] > 0));
    if (pts.length === 0) return;
    const d = pts.map((p, k) => `${k ? 'L' : 'M'}${xa.map(p[0]).toFixed(1)},${ya.map(p[1]).toFixed(1)}`).join('');
    parts.push(`<path d="${d}" fill="none" stroke="${color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 4"' : ''}/>`);
    if (pts.length <= 24) {
      for (const p of pts) {
        parts.push(
          `<circle cx="${xa.map(p[0]).toFixed(1)}" cy="${ya.map(p[1]).toFixed(1)}" r="3.5" fill="#fff" stroke="${color}" stroke-width="2"><title>${esc(`${s.name}: ${fx(p[0])}, ${fy(p[1])}`)}</title></circle>`,
        );
      }
    }
  });
  // Legend.
  series.forEach((s, i) => {
    const at = legend[i];
    if (!at) return;
    const color = s.color ?? PALETTE[i % PALETTE.length]!;
    parts.push(`<line x1="${at.x}" x2="${at.x + 22}" y1="${at.y}" y2="${at.y}" stroke="${color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 4"' : ''}/>`);
    parts.push(`<text x="${at.x + 28}" y="${at.y}" dominant-baseline="middle" font-size="12" fill="#111827">${esc(s.name)}</text>`);
  });
  return svg(width, height, o.title ?? o.yLabel, parts);
}

export interface Bar {
  label: string;
  value: number;
  /** Tooltip; defaults to "label: value". */
  note?: string;
}

/** Horizontal bars, largest first as given, labels on the left. */
export function barChart(bars: readonly Bar[], o: { title?: string; valueFormat?: (v: number) => string; width?: number; color?: string } = {}): string {
  const width = o.width ?? 560;
  const rowH = 22;
  const labelW = Math.min(220, 16 + Math.max(4, ...bars.map((b) => Math.min(32, b.label.length))) * 6.6);
  const height = 12 + bars.length * rowH + 8;
  if (bars.length === 0) return emptyChart(width, 80, o.title ?? 'no data');
  const fmt = o.valueFormat ?? defaultFormat;
  const max = Math.max(...bars.map((b) => b.value).filter(Number.isFinite), 0) || 1;
  const valueW = 64;
  const plotW = width - labelW - valueW;
  const parts = [`<rect x="0" y="0" width="${width}" height="${height}" fill="#fff"/>`];
  bars.forEach((b, i) => {
    const y = 10 + i * rowH;
    const w = Number.isFinite(b.value) ? Math.max(1, (b.value / max) * plotW) : 0;
    const label = b.label.length > 32 ? b.label.slice(0, 31) + '…' : b.label;
    parts.push(`<text x="${labelW - 8}" y="${y + rowH / 2 - 2}" text-anchor="end" dominant-baseline="middle" font-size="12" fill="#111827">${esc(label)}</text>`);
    parts.push(
      `<rect x="${labelW}" y="${y + 2}" width="${w.toFixed(1)}" height="${rowH - 8}" rx="2" fill="${o.color ?? PALETTE[0]}"><title>${esc(b.note ?? `${b.label}: ${fmt(b.value)}`)}</title></rect>`,
    );
    parts.push(`<text x="${(labelW + w + 6).toFixed(1)}" y="${y + rowH / 2 - 2}" dominant-baseline="middle" font-size="11" fill="#4b5563">${esc(fmt(b.value))}</text>`);
  });
  return svg(width, height, o.title ?? 'bar chart', parts);
}

function emptyChart(width: number, height: number, title: string): string {
  return svg(width, height, title, [
    `<rect x="0" y="0" width="${width}" height="${height}" fill="#fff"/>`,
    `<text x="${width / 2}" y="${height / 2}" text-anchor="middle" font-size="12" fill="#6b7280">no data</text>`,
  ]);
}

function svg(width: number, height: number, title: string, parts: string[]): string {
  return (
    `<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" role="img" aria-label="${esc(title)}" ${FONT}>` +
    `<title>${esc(title)}</title>${parts.join('')}</svg>`
  );
}

/** Colour of a share in [0, 1] on a white → amber → red ramp (a heat-map cell). */
export function heatColor(t: number): string {
  if (!Number.isFinite(t)) return '#f3f4f6';
  const x = Math.min(1, Math.max(0, t));
  const stops: Array<[number, [number, number, number]]> = [
    [0, [255, 255, 255]],
    [0.35, [254, 215, 170]],
    [0.7, [248, 113, 113]],
    [1, [185, 28, 28]],
  ];
  let k = 0;
  while (k < stops.length - 2 && x > stops[k + 1]![0]) k++;
  const [t0, c0] = stops[k]!;
  const [t1, c1] = stops[k + 1]!;
  const f = (x - t0) / (t1 - t0);
  const c = c0.map((v, i) => Math.round(v + (c1[i]! - v) * f));
  return `rgb(${c[0]}, ${c[1]}, ${c[2]})`;
}

/** Text colour that reads on heatColor(t). */
export function heatTextColor(t: number): string {
  return Number.isFinite(t) && t > 0.62 ? '#fff' : '#111827';
}
