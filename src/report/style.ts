/** The report's stylesheet (inlined into the page). */
export const REPORT_CSS = `
:root { --fg: #111827; --muted: #6b7280; --line: #e5e7eb; --bg: #f8fafc; --card: #fff; --accent: #2563eb; --bad: #dc2626; }
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; }
body { margin: 0; background: var(--bg); color: var(--fg);
  font: 15px/1.55 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width: 1120px; margin: 0 auto; padding: 28px 24px 48px; }
header h1 { font-size: 26px; line-height: 1.25; margin: 0 0 4px; letter-spacing: -0.01em; }
h2 { font-size: 20px; margin: 36px 0 6px; padding-bottom: 6px; border-bottom: 1px solid var(--line); }
h3 { font-size: 16px; margin: 0 0 10px; }
h4 { font-size: 14px; margin: 18px 0 6px; color: #374151; }
code, pre { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, "Liberation Mono", monospace; font-size: 12.5px; }
a { color: var(--accent); text-decoration: none; }
a:hover { text-decoration: underline; }
nav { display: flex; flex-wrap: wrap; gap: 6px; margin: 12px 0 0; }
nav a { padding: 3px 10px; border: 1px solid var(--line); border-radius: 999px; background: #fff; font-size: 13px; }
.meta { color: var(--muted); font-size: 13px; margin: 2px 0 10px; }
.meta b { color: var(--fg); font-weight: 600; }
.lead { color: #374151; margin: 4px 0 14px; max-width: 80ch; }
.muted { color: var(--muted); }
.small { font-size: 12.5px; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 10px; padding: 18px 20px; margin: 14px 0;
  box-shadow: 0 1px 2px rgba(0,0,0,.03); }
.intro { margin-top: 18px; }
.intro p { margin: 0 0 8px; max-width: 88ch; }
.defs { margin: 0; padding-left: 20px; max-width: 88ch; }
.defs li { margin: 3px 0; }
table { border-collapse: collapse; }
table.data { width: 100%; font-size: 13.5px; font-variant-numeric: tabular-nums; margin: 4px 0 8px; }
table.data th, table.data td { padding: 6px 10px; border-bottom: 1px solid var(--line); text-align: left; vertical-align: top; }
table.data thead th { font-weight: 600; color: #374151; background: #f9fafb; border-bottom: 1px solid #d1d5db; white-space: nowrap; }
table.data.compact { width: auto; }
.num { text-align: right !important; }
table.kv { font-size: 13.5px; font-variant-numeric: tabular-nums; }
table.kv th { text-align: left; font-weight: 500; color: var(--muted); padding: 3px 16px 3px 0; white-space: nowrap; vertical-align: top; }
table.kv td { padding: 3px 0; }
.gallery { display: grid; grid-template-columns: repeat(auto-fill, minmax(160px, 1fr)); gap: 16px; }
.g-item img { display: block; border-radius: 4px; border: 1px solid var(--line); max-width: 100%; height: auto; margin: 0 auto; }
.g-item figcaption { font-size: 12px; text-align: center; margin-top: 6px; color: var(--fg); overflow-wrap: anywhere; }
.g-item figcaption .muted { font-size: 11px; }
.run-grid { display: grid; grid-template-columns: 240px 1fr; gap: 22px; align-items: start; }
@media (max-width: 720px) { .gallery { display: grid; grid-template-columns: repeat(auto-fill, minmax(160px, 1fr)); gap: 16px; }
.g-item img { display: block; border-radius: 4px; border: 1px solid var(--line); max-width: 100%; height: auto; margin: 0 auto; }
.g-item figcaption { font-size: 12px; text-align: center; margin-top: 6px; color: var(--fg); overflow-wrap: anywhere; }
.g-item figcaption .muted { font-size: 11px; }
.run-grid { grid-template-columns: 1fr; } }
figure { margin: 0; }
figure.perturbation img { display: block; border-radius: 6px; border: 1px solid var(--line); max-width: 100%; height: auto; }
figure.perturbation figcaption, figure figcaption { font-size: 12px; color: var(--muted); margin-top: 6px; }
img.pixelated { image-rendering: pixelated; image-rendering: crisp-edges; }
.cmd { margin-top: 12px; }
.cmd-title { font-size: 12px; font-weight: 600; color: var(--muted); text-transform: uppercase; letter-spacing: .04em; margin-bottom: 4px; }
pre { margin: 0; padding: 10px 12px; background: #0f172a; color: #e2e8f0; border-radius: 8px; white-space: pre-wrap; word-break: break-all; }
.tag { display: inline-block; padding: 0 7px; border-radius: 999px; font-size: 12px; background: #eef2ff; color: #3730a3; }
.tag.warn { background: #fef3c7; color: #92400e; }
.chart-box { margin: 14px 0 4px; }
.chart-box svg { max-width: 100%; height: auto; display: block; }
.chart-row { display: flex; flex-wrap: wrap; gap: 20px; align-items: flex-start; }
.samples { display: grid; grid-template-columns: repeat(auto-fill, minmax(250px, 1fr)); gap: 12px; }
.sample { border: 1px solid var(--line); border-radius: 8px; padding: 10px; background: #fff; }
.sample.fooled { border-color: #fecaca; }
.pair { display: flex; gap: 10px; justify-content: center; }
.pair img { display: block; border-radius: 4px; max-width: 100%; height: auto; }
.pred { font-size: 13px; font-weight: 600; text-align: center; margin-top: 4px; overflow-wrap: anywhere; max-width: 112px; }
.pred.changed { color: var(--bad); }
.prob { font-weight: 400; color: var(--muted); font-size: 12px; }
.sample figcaption { text-align: center; overflow-wrap: anywhere; }
.scroll { overflow-x: auto; }
table.heatmap { font-size: 13px; font-variant-numeric: tabular-nums; }
table.heatmap th { font-weight: 600; padding: 6px 10px; text-align: left; color: #374151; white-space: nowrap; }
table.heatmap thead th { text-align: center; vertical-align: bottom; }
table.heatmap th.corner { font-weight: 400; color: var(--muted); font-size: 12px; text-align: left; }
table.heatmap td.heat { min-width: 72px; padding: 10px 8px; text-align: center; border: 2px solid #fff; border-radius: 4px; }
table.heatmap td.diag { outline: 2px solid #111827; outline-offset: -3px; }
.heat-legend { display: flex; align-items: center; gap: 8px; font-size: 12px; color: var(--muted); margin-top: 8px; }
.heat-legend .ramp { width: 160px; height: 10px; border-radius: 3px;
  background: linear-gradient(90deg, #fff 0%, rgb(254,215,170) 35%, rgb(248,113,113) 70%, rgb(185,28,28) 100%); border: 1px solid var(--line); }
details.skipped { margin-top: 28px; font-size: 13px; }
footer { margin-top: 24px; }
`;
