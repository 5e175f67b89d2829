// The self-contained HTML report: per scenario, latency-percentile plots (HdrHistogram style: the x axis is
// 1/(1-percentile) on a log scale, so 90 %, 99 %, 99.9 % are evenly spaced; one line per proxy, all rounds merged)
// and throughput bars. Inline SVG and CSS only, no scripts, so the file can be archived or mailed as is.
import type { BenchResults, ScenarioResult } from './results';
import { gateRateIndex, latencyGeneratorLabel, renderTable } from './report-table';
import { createHistogram, decodeHistogram, percentileCurve } from './stats';

const COLORS: Record<string, string> = {
  direct: '#888888',
  nginx: '#009639',
  haproxy: '#1f6fb2',
  'fastify-proxy': '#000000',
  'http-proxy': '#b5651d',
  'gatemesh-uws': '#d62728',
  'gatemesh-native-free': '#9467bd',
  // Policies-off variants (policies scenario only): lighter shades of their base.
  'gatemesh-uws-nopolicy': '#ff9896',
  'gatemesh-native-free-nopolicy': '#c5b0d5',
};
const SPARE = ['#17becf', '#bcbd22', '#e377c2', '#7f7f7f'];

function color(name: string, i: number): string {
  return COLORS[name] ?? SPARE[i % SPARE.length];
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function num(n: number, d = 1): string {
  return n.toFixed(d);
}

/** "paced" / "autocannon" (or both) for a plot's title; the section's text has the long label. */
function generatorsOf(sc: ScenarioResult, rateIndex: number): string {
  const g = new Set(Object.values(sc.proxies).flatMap((p) => (p.latency[rateIndex]?.runs ?? []).map((r) => r.generator ?? 'paced')));
  return [...g].join(' + ') || 'paced';
}

function percentilePlot(sc: ScenarioResult, rateIndex: number): string {
  const W = 640;
  const H = 320;
  const L = 60;
  const R = 150;
  const T = 24;
  const B = 40;
  const series = Object.entries(sc.proxies).map(([name, p], i) => {
    const h = createHistogram();
    for (const run of p.latency[rateIndex]?.runs ?? []) h.add(decodeHistogram(run.histogram));
    return { name, color: color(name, i), points: percentileCurve(h) };
  });
  const all = series.flatMap((s) => s.points);
  if (all.length === 0) return '';
  const xOf = (p: number): number => (p >= 100 ? Infinity : Math.log10(1 / (1 - p / 100)));
  const xMax = Math.max(1, ...all.map((pt) => xOf(pt.percentile)).filter(Number.isFinite)) + 0.3;
  const yMin = Math.max(0.01, Math.min(...all.map((pt) => pt.ms)) * 0.8);
  const yMax = Math.max(...all.map((pt) => pt.ms)) * 1.2;
  const ly = (v: number): number => Math.log10(v);
  const px = (x: number): number => L + ((Math.min(x, xMax) / xMax) * (W - L - R));
  const py = (v: number): number => T + (1 - (ly(Math.max(v, yMin)) - ly(yMin)) / (ly(yMax) - ly(yMin))) * (H - T - B);
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="11">`);
  for (let k = 0; k <= Math.floor(xMax); k++) {
    const label = k === 0 ? '0%' : `${(100 - 100 / 10 ** k).toFixed(Math.max(0, k - 2))}%`;
    parts.push(`<line x1="${px(k)}" y1="${T}" x2="${px(k)}" y2="${H - B}" stroke="#ddd"/>`);
    parts.push(`<text x="${px(k)}" y="${H - B + 14}" text-anchor="middle">${label}</text>`);
  }
  for (let e = Math.floor(ly(yMin)); e <= Math.ceil(ly(yMax)); e++) {
    for (const m of [1, 2, 5]) {
      const v = m * 10 ** e;
      if (v < yMin || v > yMax) continue;
      parts.push(`<line x1="${L}" y1="${num(py(v))}" x2="${W - R}" y2="${num(py(v))}" stroke="#eee"/>`);
      parts.push(`<text x="${L - 4}" y="${num(py(v) + 4)}" text-anchor="end">${v >= 1 ? v : v.toPrecision(1)}</text>`);
    }
  }
  parts.push(`<text x="${(L + W - R) / 2}" y="${H - 6}" text-anchor="middle">percentile (log scale of 1/(1−p))</text>`);
  parts.push(`<text x="12" y="${(T + H - B) / 2}" transform="rotate(-90 12 ${(T + H - B) / 2})" text-anchor="middle">latency, ms (log)</text>`);
  series.forEach((s, i) => {
    const pts = s.points.map((pt) => `${num(px(xOf(pt.percentile) === Infinity ? xMax : xOf(pt.percentile)))},${num(py(pt.ms))}`);
    parts.push(`<polyline fill="none" stroke="${s.color}" stroke-width="1.8" points="${pts.join(' ')}"/>`);
    parts.push(`<rect x="${W - R + 10}" y="${T + i * 16}" width="12" height="3" fill="${s.color}"/>`);
    parts.push(`<text x="${W - R + 26}" y="${T + i * 16 + 5}">${esc(s.name)}</text>`);
  });
  const rate = sc.rates[rateIndex];
  parts.push(`<text x="${L}" y="14" font-weight="bold">latency by percentile at ${rate.pct}% = ${rate.rps} req/s (open loop, ${esc(generatorsOf(sc, rateIndex))})</text>`);
  parts.push('</svg>');
  return parts.join('');
}

function throughputBars(sc: ScenarioResult): string {
  const names = Object.keys(sc.proxies);
  const W = 640;
  const rowH = 22;
  const L = 150;
  const T = 24;
  const H = T + names.length * rowH + 10;
  const max = Math.max(...names.map((n) => sc.proxies[n].throughput.median), 1);
  const parts = [`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="11">`];
  parts.push(`<text x="0" y="14" font-weight="bold">throughput, req/s (closed loop, ${esc(sc.throughputTool)}, median of rounds)</text>`);
  names.forEach((n, i) => {
    const v = sc.proxies[n].throughput.median;
    const w = (v / max) * (W - L - 90);
    const y = T + i * rowH;
    parts.push(`<text x="${L - 6}" y="${y + 14}" text-anchor="end">${esc(n)}</text>`);
    parts.push(`<rect x="${L}" y="${y + 3}" width="${num(w)}" height="${rowH - 6}" fill="${color(n, i)}"/>`);
    parts.push(`<text x="${num(L + w + 4)}" y="${y + 14}">${Math.round(v).toLocaleString('en')}</text>`);
  });
  parts.push('</svg>');
  return parts.join('');
}

export function renderHtml(r: BenchResults): string {
  const sections = r.scenarios.map((sc) => {
    const gi = gateRateIndex(sc);
    const plots = sc.rates.map((_r, i) => percentilePlot(sc, i));
    // The gate's rate first, then the others.
    const ordered = [plots[gi], ...plots.filter((_p, i) => i !== gi)];
    return `<section><h2>${esc(sc.id)} — ${esc(sc.title)}</h2>
<p>${esc(sc.toolNote || `throughput by ${sc.throughputTool}`)}. Latency: ${esc(latencyGeneratorLabel(sc))}${sc.generatorNote ? ` (${esc(sc.generatorNote)})` : ''}.</p>
<div class="row">${throughputBars(sc)}</div>
<div class="row">${ordered.join('')}</div></section>`;
  });
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>gatemesh bench ${esc(r.startedAt)}</title>
<style>
body{font-family:sans-serif;margin:24px;max-width:1400px;color:#222}
pre{background:#f6f6f6;padding:12px;overflow-x:auto;font-size:12px}
.row{display:flex;flex-wrap:wrap;gap:16px;margin:8px 0}
section{border-top:1px solid #ccc;margin-top:24px}
</style></head><body>
<h1>gatemesh bench — ${esc(r.mode)} run, ${esc(r.startedAt)}</h1>
<p>${esc(`${r.machine.cores} cores, ${r.machine.cpuModel}, Node ${r.machine.node}, ${r.machine.platform} ${r.machine.kernel}. ${r.machine.pinning}. Open-loop generator: ${r.settings.openLoopGenerator ?? 'paced'}.`)}</p>
${sections.join('\n')}
<section><h2>Table</h2><pre>${esc(renderTable(r))}</pre></section>
</body></html>
`;
}
