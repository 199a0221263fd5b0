import type { PerturbationRecord } from '../io/perturbation-record.js';
import type { ApplyResultFile } from '../io/apply-result.js';
import { CONTACT_SHEET_CSS, contactSheetBody, type ContactThumbs } from './contact-sheet.js';
import { barChart, heatColor, heatTextColor, lineChart, type Series } from './charts.js';
import { reproduceCommand } from './command.js';
import { esc, fmtNum, fmtPct, fmtSeconds, safeImageSrc } from './escape.js';
import type { DominantLabels, EvalResult, SampleSet, Subspace, Sweep, TransferMatrix } from './schemas.js';
import { REPORT_CSS } from './style.js';

/**
 * The report: one self-contained HTML page (inline CSS, inline SVG charts, images as data: URIs, no script,
 * no request) from what node/report-files.ts found in a folder of runs. Browser-safe: the page's builder
 * can run anywhere; only the file walking is Node's.
 */

export interface ReportRun {
  /** The run's folder, relative to the report's root ('.' for the root itself). */
  dir: string;
  record?: PerturbationRecord;
  /** The perturbation at full contrast (Fig. 4), a PNG data: URI. */
  image: string;
  shape: readonly [number, number, number];
  /** Measured on the saved array. */
  normInf: number;
  norm2: number;
  samples?: SampleSet;
  evals?: EvalResult[];
}

export interface Found<T> {
  /** The file, relative to the report's root. */
  file: string;
  value: T;
}

/** Everything a report page shows: the runs found under a folder and their results. */
export interface ReportData {
  title?: string;
  /** The folder the report was made from, as the user named it. */
  root: string;
  generatedAt: string;
  packageVersion?: string;
  runs: ReportRun[];
  sweeps: Found<Sweep>[];
  transfers: Found<TransferMatrix>[];
  subspaces: Found<Subspace>[];
  dominantLabels: Found<DominantLabels>[];
  evals: Found<EvalResult[]>[];
  /** Sample sets not inside a run's folder. */
  samples: Found<SampleSet>[];
  /** apply.json files of `uap apply --check`, with contact-sheet thumbnails made from the photos. */
  applies?: Found<{ result: ApplyResultFile; thumbs: (ContactThumbs | undefined)[] }>[];
  /** Files that looked like report input but could not be read, and why. */
  skipped: Array<{ file: string; reason: string }>;
}

const NORM_SYMBOL: Record<string, string> = { inf: '∞', '2': '2', '1': '1' };

/**
 * An error rate as the report shows it: a percentage, "n/a (no labels)" where the run had no true labels (null in
 * the file), "—" where the file predates the measure (undefined).
 */
function fmtError(x: number | null | undefined): string {
  return x === null || (typeof x === 'number' && Number.isNaN(x)) ? 'n/a (no labels)' : fmtPct(x);
}

function normName(n: string | number): string {
  return `ℓ${NORM_SYMBOL[String(n)] ?? String(n)}`;
}

const pct = (y: number) => `${Math.round(y * 100)}%`;

/** An embedded image shown `display` px wide; small images are scaled up with crisp pixels. */
function img(src: string, alt: string, natural: number, display: number, cls = ''): string {
  const width = natural >= display ? display : natural * Math.max(1, Math.floor(display / natural));
  const pixelated = width >= natural * 2 ? ' pixelated' : '';
  return `<img class="${cls}${pixelated}" src="${esc(safeImageSrc(src))}" alt="${esc(alt)}" width="${width}">`;
}

function section(id: string, title: string, intro: string, body: string): string {
  return `<section id="${id}"><h2>${esc(title)}</h2>${intro ? `<p class="lead">${intro}</p>` : ''}${body}</section>`;
}

function metaLine(meta: Record<string, string>): string {
  const keys = ['model', 'modelId', 'norm', 'xi', 'data', 'val', 'nVal', 'seed', 'method', 'clip'];
  const parts = keys
    .filter((k) => meta[k] !== undefined && !(k === 'modelId' && meta.modelId === meta.model)).map((k) => `${esc(k)} <b>${esc(meta[k])}</b>`);
  return parts.length ? `<p class="meta">${parts.join(' · ')}</p>` : '';
}

function kv(rows: Array<[string, string]>): string {
  return `<table class="kv"><tbody>${rows.map(([k, v]) => `<tr><th scope="row">${esc(k)}</th><td>${v}</td></tr>`).join('')}</tbody></table>`;
}

function runTitle(run: ReportRun): string {
  const r = run.record;
  if (!r) return run.dir;
  return `${r.modelId} · ${normName(r.norm)} ξ = ${fmtNum(r.xi)}`;
}

function optionText(o: Record<string, unknown>): string {
  const skip = new Set(['command', 'commandLine', 'argv', 'complete']);
  return Object.entries(o)
    .filter(([k, v]) => !skip.has(k) && v !== null && v !== undefined && (typeof v !== 'object' || Array.isArray(v)))
    .map(([k, v]) => `${k} ${Array.isArray(v) ? v.join(',') : String(v)}`)
    .join(', ');
}

function joinPath(root: string, dir: string): string {
  if (dir === '.') return root;
  return root.endsWith('/') ? root + dir : `${root}/${dir}`;
}

function renderRun(run: ReportRun, i: number, root: string): string {
  const r = run.record;
  const [h, w, c] = run.shape;
  const rows: Array<[string, string]> = [];
  if (r) {
    rows.push(['Model', esc(r.modelId)]);
    rows.push(['Method', esc(r.method) + (r.target ? ` → class <b>${esc(r.target.name ?? r.target.id ?? r.target.index)}</b>` : '')]);
    rows.push(['Norm bound', `${normName(r.norm)} ≤ ξ = <b>${esc(fmtNum(r.xi))}</b> <span class="muted">(pixel units, 0..255)</span>`]);
    rows.push(['Data X', `${esc(r.data.spec)} <span class="muted">(${esc(r.data.n)} images)</span>`]);
    rows.push(['Fooling rate on X', `<b>${esc(fmtPct(r.foolingRateOnX))}</b> <span class="muted">(top-1 changed)</span>`]);
    if (r.errorRateOnX !== undefined) rows.push(['Error rate on X', `${esc(fmtError(r.errorRateOnX))} <span class="muted">(wrong against the true labels)</span>`]);
    if (r.accuracyCleanOnX !== undefined) rows.push(['Clean accuracy on X', esc(fmtError(r.accuracyCleanOnX))]);
    const complete = r.options.complete === false ? ' <span class="tag warn">incomplete (checkpoint)</span>' : '';
    rows.push(['Passes', `${esc(r.history.length)}${complete}`]);
    rows.push(['Wall time', esc(fmtSeconds(r.wallSeconds))]);
    rows.push(['x + v', r.clip ? 'clipped to 0..255' : '<b>not</b> clipped']);
    rows.push(['Seed', esc(r.seed)]);
    rows.push(['Backend', `${esc(r.backend)} <span class="muted">(tfjs ${esc(r.tfjsVersion)}, uap ${esc(r.packageVersion)})</span>`]);
    const opts = optionText(r.options);
    if (opts) rows.push(['Options', `<span class="small">${esc(opts)}</span>`]);
    rows.push(['Created', esc(r.createdAt.replace('T', ' ').replace(/\.\d+Z$/, 'Z'))]);
  } else {
    rows.push(['Record', '<span class="tag warn">no perturbation.json</span>']);
  }
  rows.push(['Measured', `‖v‖∞ = ${esc(fmtNum(run.normInf))}, ‖v‖₂ = ${esc(fmtNum(run.norm2, 1))} <span class="muted">(${h}×${w}×${c})</span>`]);
  rows.push(['Folder', `<code>${esc(run.dir)}</code>`]);

  const cmd = r ? reproduceCommand(r, joinPath(root, run.dir), 84) : undefined;
  const cmdBlock = r
    ? cmd
      ? `<div class="cmd"><div class="cmd-title">Reproduce</div><pre><code>${esc(cmd)}</code></pre></div>`
      : `<p class="muted small">Method “${esc(r.method)}”: no <code>uap compute</code> command reproduces it.</p>`
    : '';

  let chart = '';
  if (r && r.history.length) {
    const withError = r.history.some((p) => p.errorRate !== undefined);
    const hist = `<table class="data compact"><thead><tr><th class="num">pass</th><th class="num">fooling rate on X</th>${withError ? '<th class="num">error rate on X</th>' : ''}<th class="num">${r.method === 'sgd' ? 'steps' : 'DeepFool calls'}</th><th class="num">‖v‖${esc(({ inf: '∞', '2': '₂', '1': '₁' } as Record<string, string>)[String(r.norm)] ?? '')}</th><th class="num">time</th></tr></thead><tbody>${r.history
      .map((p) => `<tr><td class="num">${esc(p.pass)}</td><td class="num">${esc(fmtPct(p.foolingRate))}</td>${withError ? `<td class="num">${esc(fmtPct(p.errorRate))}</td>` : ''}<td class="num">${esc(r.method === 'sgd' ? p.updates : p.deepfoolCalls)}</td><td class="num">${esc(fmtNum(p.norm))}</td><td class="num">${esc(fmtSeconds(p.seconds))}</td></tr>`)
      .join('')}</tbody></table>`;
    const series: Series[] = [{ name: 'fooling rate on X', points: r.history.map((p) => [p.pass, p.foolingRate] as const) }];
    if (withError) series.push({ name: 'error rate on X', points: r.history.filter((p) => p.errorRate !== undefined).map((p) => [p.pass, p.errorRate!] as const), dashed: true });
    chart = `<div class="chart-row"><figure class="chart-box">${lineChart(
      series,
      { title: withError ? 'Fooling rate and error rate on X per pass' : 'Fooling rate on X per pass', xLabel: 'pass over X', yLabel: withError ? 'rate on X' : 'fooling rate on X', yMin: 0, yMax: 1, yFormat: pct, xIntegers: true, width: 460, height: 260 },
    )}<figcaption>${withError ? 'Fooling rate (top-1 changed) and error rate (wrong against the true labels)' : 'Fooling rate'} on X after each pass.</figcaption></figure>${hist}</div>`;
  }

  const evals = run.evals?.length ? `<h4>Evaluations</h4>${evalTable(run.evals)}` : '';
  const samples = run.samples ? renderSamples(run.samples, run.record?.clip, w) : '';
  const scale = Math.max(1, run.normInf);
  return `<article class="run card" id="run-${i + 1}">
<h3>${esc(runTitle(run))}</h3>
<div class="run-grid">
<figure class="perturbation">${img(run.image, `perturbation ${run.dir}`, w, 224, 'pert')}
<figcaption>Full contrast: −${esc(fmtNum(scale, 1))} … +${esc(fmtNum(scale, 1))} → black … white, 0 is mid-grey.</figcaption></figure>
<div class="settings">${kv(rows)}${cmdBlock}</div>
</div>
${chart}${evals}${samples}
</article>`;
}

function renderSamples(set: SampleSet, recordClip?: boolean, fallbackWidth = 112): string {
  const w = set.shape?.[1] ?? fallbackWidth;
  const clip = set.clip ?? recordClip ?? true;
  const changed = set.samples.filter((s) => s.clean.label !== s.perturbed.label).length;
  const cards = set.samples
    .map((s) => {
      const fooled = s.clean.label !== s.perturbed.label;
      const prob = (p?: number) => (typeof p === 'number' ? ` <span class="prob">${esc(fmtPct(p, 0))}</span>` : '');
      return `<figure class="sample${fooled ? ' fooled' : ''}">
<div class="pair"><div>${img(s.clean.src, `clean ${s.name ?? ''}`, w, 112)}<div class="pred">${esc(s.clean.label)}${prob(s.clean.prob)}</div></div>
<div>${img(s.perturbed.src, `perturbed ${s.name ?? ''}`, w, 112)}<div class="pred${fooled ? ' changed' : ''}">${esc(s.perturbed.label)}${prob(s.perturbed.prob)}</div></div></div>
<figcaption title="${esc(s.name ?? '')}">${esc((s.name ?? '').split(/[\\/]/).pop())}${s.trueLabel !== undefined ? ` · true: ${esc(s.trueLabel)}` : ''}</figcaption></figure>`;
    })
    .join('');
  const who = [set.model ? `model ${esc(set.model)}` : '', set.perturbation ? `perturbation <code>${esc(set.perturbation)}</code>` : ''].filter(Boolean).join(', ');
  return `<div class="samples-block"><h4>Clean x (left) and ${clip ? 'clip(x + v)' : 'x + v'} (right) with their top-1 labels</h4>
<p class="muted small">${who ? who + ' · ' : ''}${changed} of ${set.samples.length} labels changed (red).</p>
<div class="samples">${cards}</div></div>`;
}

function evalTable(list: EvalResult[]): string {
  const rows = list
    .map(
      (e) => `<tr><td>${esc(e.perturbation ?? '—')}</td><td>${esc(e.model ?? '—')}</td><td>${esc(e.data ?? '—')}</td><td class="num">${esc(e.n ?? '—')}</td>
<td class="num"><b>${esc(fmtPct(e.foolingRate))}</b></td><td class="num">${esc(e.errorRate === undefined ? 'n/a (no labels)' : fmtPct(e.errorRate))}</td><td class="num">${esc(fmtPct(e.accuracyClean))}</td><td class="num">${esc(fmtPct(e.accuracyPerturbed))}</td><td>${e.clip === undefined ? '—' : e.clip ? 'clipped' : 'not clipped'}</td></tr>`,
    )
    .join('');
  return `<table class="data"><thead><tr><th>perturbation</th><th>model</th><th>data</th><th class="num">n</th><th class="num">fooling rate <span class="muted">(top-1 changed)</span></th><th class="num">error rate <span class="muted">(wrong vs true label)</span></th><th class="num">accuracy clean</th><th class="num">accuracy perturbed</th><th>x + v</th></tr></thead><tbody>${rows}</tbody></table>`;
}

function summaryTable(runs: ReadonlyArray<readonly [ReportRun, number]>): string {
  if (runs.length === 0) return '';
  const rows = runs
    .map(([run, i]) => {
      const r = run.record;
      return `<tr><td><a href="#run-${i + 1}">${esc(run.dir)}</a></td><td>${esc(r?.modelId ?? '—')}</td><td>${r ? esc(normName(r.norm)) : '—'}</td>
<td class="num">${r ? esc(fmtNum(r.xi)) : '—'}</td><td>${esc(r ? `${r.data.spec} (${r.data.n})` : '—')}</td><td class="num"><b>${esc(fmtPct(r?.foolingRateOnX))}</b></td><td class="num">${esc(fmtError(r?.errorRateOnX))}</td>
<td class="num">${esc(r?.history.length ?? '—')}</td><td class="num">${esc(fmtSeconds(r?.wallSeconds))}</td><td>${r ? (r.clip ? 'clipped' : 'not clipped') : '—'}</td></tr>`;
    })
    .join('');
  return `<table class="data"><thead><tr><th>run</th><th>model</th><th>norm</th><th class="num">ξ</th><th>data X (n)</th><th class="num">fooling rate on X</th><th class="num">error rate on X</th><th class="num">passes</th><th class="num">time</th><th>x + v</th></tr></thead><tbody>${rows}</tbody></table>`;
}

/** Every perturbation as a small picture with its name and norms; recorded ones link to their card. */
function gallery(runs: ReportRun[]): string {
  const items = runs
    .map((run, i) => {
      const r = run.record;
      const title = r ? `${r.modelId}` : run.dir.split('/').pop()!.replace(/\.npy$/i, '');
      const sub = r ? `${normName(r.norm)} ξ = ${fmtNum(r.xi)} · ${fmtPct(r.foolingRateOnX)} on X` : `‖v‖∞ ${fmtNum(run.normInf)} · ‖v‖₂ ${fmtNum(run.norm2, 0)}`;
      const pic = img(run.image, `perturbation ${run.dir}`, run.shape[1], 150);
      const carded = r || run.samples || run.evals?.length;
      const name = carded ? `<a href="#run-${i + 1}">${esc(title)}</a>` : esc(title);
      return `<figure class="g-item">${pic}<figcaption><b>${name}</b><br>${esc(sub)}<br><span class="muted">${esc(run.dir)}</span></figcaption></figure>`;
    })
    .join('');
  return `<div class="gallery card">${items}</div>`;
}

function renderSweep(f: Found<Sweep>): string {
  const p = f.value.points;
  const series: Series[] = [];
  const x = p.filter((q) => q.foolingRateX !== undefined).map((q) => [q.size, q.foolingRateX!] as const);
  const val = p.filter((q) => q.foolingRateVal !== undefined).map((q) => [q.size, q.foolingRateVal!] as const);
  if (x.length) series.push({ name: 'on X (the images it was computed on)', points: x });
  if (val.length) series.push({ name: 'on held-out images', points: val, dashed: true });
  const sizes = p.map((q) => q.size);
  const xLog = Math.min(...sizes) > 0 && Math.max(...sizes) / Math.min(...sizes) >= 20;
  const chart = lineChart(series, { width: 520, title: 'Fooling rate vs |X|', xLabel: '|X| (images used to compute v)', yLabel: 'fooling rate', yMin: 0, yMax: 1, yFormat: pct, xLog, xIntegers: !xLog });
  const acc = p.some((q) => q.accuracyCleanVal !== undefined);
  const err = p.some((q) => q.errorRateVal !== undefined);
  const rows = p
    .map(
      (q) =>
        `<tr><td class="num">${esc(q.size)}</td><td class="num">${esc(fmtPct(q.foolingRateX))}</td><td class="num">${esc(fmtPct(q.foolingRateVal))}</td>${
          err ? `<td class="num">${esc(fmtPct(q.errorRateVal))}</td>` : ''
        }${
          acc ? `<td class="num">${esc(fmtPct(q.accuracyCleanVal))} → ${esc(fmtPct(q.accuracyPerturbedVal))}</td>` : ''
        }<td class="num">${esc(fmtSeconds(q.seconds))}</td></tr>`,
    )
    .join('');
  return `<div class="card"><h3><code>${esc(f.file)}</code></h3>${metaLine(f.value.meta)}<div class="chart-row"><figure class="chart-box">${chart}</figure>
<table class="data compact"><thead><tr><th class="num">|X|</th><th class="num">fooling on X</th><th class="num">fooling held out</th>${err ? '<th class="num">error rate held out</th>' : ''}${acc ? '<th class="num">accuracy held out</th>' : ''}<th class="num">time</th></tr></thead><tbody>${rows}</tbody></table></div></div>`;
}

function renderTransfer(f: Found<TransferMatrix>): string {
  const m = f.value;
  const heatmap = (values: number[][], what: string) => {
    const head = `<tr><th class="corner">computed on ↓ · evaluated on →</th>${m.columns.map((c) => `<th scope="col">${esc(c)}</th>`).join('')}</tr>`;
    const body = m.rows
      .map(
        (r, i) =>
          `<tr><th scope="row">${esc(r)}</th>${values[i]!
            .map((v, j) => {
              const diag = m.rows[i] === m.columns[j] ? ' diag' : '';
              return `<td class="heat${diag}" style="background:${heatColor(v)};color:${heatTextColor(v)}" title="${esc(`${what}, ${r} → ${m.columns[j]}: ${fmtPct(v)}`)}">${esc(fmtPct(v, 0))}</td>`;
            })
            .join('')}</tr>`,
      )
      .join('');
    return `<div class="scroll"><table class="heatmap"><thead>${head}</thead><tbody>${body}</tbody></table></div>`;
  };
  const legend = `<div class="heat-legend"><span>0%</span><span class="ramp"></span><span>100%</span></div>`;
  const errors = m.errors
    ? `<h4>Error rate <span class="muted small">(wrong against the true labels; — where none is known)</span></h4>${heatmap(m.errors, 'error rate')}`
    : '';
  return `<div class="card"><h3><code>${esc(f.file)}</code></h3>${metaLine(m.meta)}${m.errors ? '<h4>Fooling rate <span class="muted small">(top-1 changed)</span></h4>' : ''}${heatmap(m.values, 'fooling rate')}${errors}${legend}</div>`;
}

function renderSubspace(f: Found<Subspace>): string {
  const s = f.value;
  const series: Series[] = [{ name: 'normal vectors of the decision boundary', points: s.singularValues.map((v, i) => [i + 1, v] as const) }];
  if (s.randomSingularValues) series.push({ name: 'random vectors', points: s.randomSingularValues.map((v, i) => [i + 1, v] as const), dashed: true });
  const sv = lineChart(series, { width: 500, title: 'Singular values', xLabel: 'index', yLabel: 'singular value (log scale)', yLog: true, xIntegers: true });
  let fr = '';
  if (s.foolingRates) {
    const frs: Series[] = [{ name: 'random vector in the subspace', points: s.foolingRates.map((e) => [e.dim, e.foolingRate] as const) }];
    if (s.randomFoolingRate !== undefined) {
      const dims = s.foolingRates.map((e) => e.dim);
      frs.push({ name: 'random vector (whole space)', points: [[Math.min(...dims), s.randomFoolingRate], [Math.max(...dims), s.randomFoolingRate]], dashed: true });
    }
    fr = `<figure class="chart-box">${lineChart(frs, { width: 500, title: 'Fooling rate of random vectors', xLabel: 'subspace dimension', yLabel: 'fooling rate', yMin: 0, yMax: 1, yFormat: pct, xIntegers: true })}</figure>`;
  } else if (s.randomFoolingRate !== undefined) {
    fr = `<p>Random vector of the same norm: fooling rate <b>${esc(fmtPct(s.randomFoolingRate))}</b>.</p>`;
  }
  return `<div class="card"><h3><code>${esc(f.file)}</code></h3>${metaLine(s.meta)}<div class="chart-row"><figure class="chart-box">${sv}</figure>${fr}</div></div>`;
}

function renderDominant(f: Found<DominantLabels>): string {
  const labels = f.value.labels.slice(0, 15);
  const useShare = labels.every((l) => l.share !== undefined);
  const chart = barChart(
    labels.map((l) => ({ label: l.label, value: useShare ? l.share! : (l.count ?? 0) })),
    { title: 'Dominant labels', valueFormat: useShare ? (v) => fmtPct(v) : (v) => String(v) },
  );
  const note = f.value.labels.length > labels.length ? `<p class="muted small">Top ${labels.length} of ${f.value.labels.length} labels.</p>` : '';
  return `<div class="card"><h3><code>${esc(f.file)}</code></h3>${metaLine(f.value.meta)}<figure class="chart-box">${chart}</figure>${note}</div>`;
}

const INTRO = `<p>A <b>universal adversarial perturbation</b> v is one image-sized pattern that, added to most natural images x,
changes the classifier's answer (Moosavi-Dezfooli, Fawzi, Fawzi &amp; Frossard, CVPR 2017, arXiv:1610.08401).</p>
<ul class="defs">
<li><b>Fooling rate</b> = the share of images whose top-1 label on clip(x + v) differs from their top-1 label on x.
It compares the classifier with itself, not with the true labels (the paper's measure).</li>
<li><b>Error rate</b> = the share of labelled images whose top-1 label on clip(x + v) is not their true label, i.e.
1 − perturbed accuracy: what SGA (ICCV 2023) and ART call their “fooling rate”. An image already wrong on x that v moves to
another wrong class is fooled but no new error; “n/a (no labels)” where the images had no true labels (e.g. a data-free prior).
<b>Accuracy</b> (top-1 against the true labels, clean and perturbed) is shown beside both wherever it was measured.</li>
<li><b>Units</b>: images and perturbations are in pixel units on the 0..255 scale; ξ bounds ‖v‖ in the run's ℓp norm
(ℓ∞: the largest change of any pixel value).</li>
<li><b>Clipping</b>: each run says whether x + v was clipped to 0..255 (a valid image) or not.</li>
<li><b>Pictures</b> of v are shown at full contrast (the paper's Fig. 4): the largest |v| maps to black or white.</li>
</ul>`;

/** The whole page. */
export function renderReport(d: ReportData): string {
  const title = d.title ?? 'Universal adversarial perturbations — report';
  const toc: Array<[string, string]> = [];
  const parts: string[] = [];
  if (d.runs.length) {
    toc.push(['runs', `Perturbations (${d.runs.length})`]);
    // A card for every run with something to say beyond its picture.
    const recorded = d.runs.map((r, i) => [r, i] as const).filter(([r]) => r.record || r.samples || r.evals?.length);
    const body =
      gallery(d.runs) +
      (recorded.length ? summaryTable(recorded.filter(([r]) => r.record)) + recorded.map(([r, i]) => renderRun(r, i, d.root)).join('') : '');
    const intro = recorded.length
      ? 'All perturbations side by side (as in the paper’s Fig. 4), then each one with the settings it was computed with and the command that reproduces it.'
      : 'All perturbations side by side (as in the paper’s Fig. 4). None has a perturbation.json record, so their settings are unknown.';
    parts.push(section('runs', 'Perturbations', intro, body));
  }
  if (d.samples.length) {
    toc.push(['samples', 'Examples']);
    parts.push(section('samples', 'Examples', 'Photos before and after adding the perturbation, with the classifier’s top-1 label.', d.samples.map((f) => `<div class="card"><h3><code>${esc(f.file)}</code></h3>${renderSamples(f.value)}</div>`).join('')));
  }
  if (d.evals.length) {
    toc.push(['evals', 'Evaluations']);
    parts.push(section('evals', 'Evaluations', 'Fooling rate with clean and perturbed accuracy beside it.', d.evals.map((f) => `<div class="card"><h3><code>${esc(f.file)}</code></h3>${evalTable(f.value)}</div>`).join('')));
  }
  if (d.sweeps.length) {
    toc.push(['sweep', 'Fooling rate vs |X|']);
    parts.push(section('sweep', 'Fooling rate vs the size of X', 'How many images the perturbation needs: computed on |X| images, measured on X and on held-out images (paper Fig. 6).', d.sweeps.map(renderSweep).join('')));
  }
  if (d.transfers.length) {
    toc.push(['transfer', 'Transfer']);
    parts.push(section('transfer', 'Transfer across models', 'Fooling rate of a perturbation computed on one model (row) when added to the inputs of another (column); the diagonal is outlined (paper Table 2).', d.transfers.map(renderTransfer).join('')));
  }
  if (d.dominantLabels.length) {
    toc.push(['dominant', 'Dominant labels']);
    parts.push(section('dominant', 'Dominant labels', 'The labels perturbed images are sent to most often (paper Sec. 4: a few labels dominate).', d.dominantLabels.map(renderDominant).join('')));
  }
  if (d.subspaces.length) {
    toc.push(['subspace', 'Subspace']);
    parts.push(section('subspace', 'Normal vectors of the decision boundary', 'Singular values of the matrix of normal vectors at the decision boundary vs those of random vectors (paper Fig. 9), and the fooling rate of random vectors drawn from the subspace they span.', d.subspaces.map(renderSubspace).join('')));
  }
  if (d.applies?.length) {
    toc.push(['apply', 'Applied to photos']);
    parts.push(section('apply', 'Applied to photos', 'Copies written by uap apply, read back: original | copy | amplified difference, with each model’s top-1 before and after.', d.applies.map((f) => `<div class="card"><h3><code>${esc(f.file)}</code></h3>${contactSheetBody(f.value.result, f.value.thumbs)}</div>`).join('')));
  }
  if (!parts.length) parts.push('<section><p class="muted">Nothing to show: no runs or evaluation files were found.</p></section>');
  const skipped = d.skipped.length
    ? `<details class="skipped"><summary>${d.skipped.length} file${d.skipped.length === 1 ? '' : 's'} skipped</summary><ul>${d.skipped.map((s) => `<li><code>${esc(s.file)}</code>: ${esc(s.reason)}</li>`).join('')}</ul></details>`
    : '';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'">
<title>${esc(title)}</title>
<style>${REPORT_CSS}${d.applies?.length ? CONTACT_SHEET_CSS : ''}</style></head>
<body><main>
<header><h1>${esc(title)}</h1><p class="meta">From <code>${esc(d.root)}</code> · generated ${esc(d.generatedAt.replace('T', ' ').replace(/\.\d+Z$/, 'Z'))}${d.packageVersion ? ` · uap ${esc(d.packageVersion)}` : ''}</p>
${toc.length > 1 ? `<nav>${toc.map(([id, t]) => `<a href="#${id}">${esc(t)}</a>`).join('')}</nav>` : ''}</header>
<section class="intro card">${INTRO}</section>
${parts.join('\n')}
<footer>${skipped}<p class="muted small">Self-contained page: no script and no request; charts are inline SVG and images are embedded.</p></footer>
</main></body></html>
`;
}
