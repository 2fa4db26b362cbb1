// Writes the simulation as an SVG chart: the load with each strategy's ready
// capacity on top, each strategy's replicas below. Hand-written SVG because there
// is no well-kept headless chart library for Node that writes a static file without
// a browser or a native canvas; the chart is only lines, areas and text.
//
// 58 days are 84,000 minutes: the series are reduced to at most `buckets` points,
// keeping each bucket's mean for the lines and its min–max for the load envelope,
// so bursts stay visible. `bands` (e.g. a forecast's lower/upper bounds in
// requests per minute) are drawn as shaded areas behind the capacity lines, and
// `outages` (minutes without a metric) as shaded stretches of both panels.
import type { Outage, Series } from './simulate.ts';

export interface Band {
  label: string;
  /** Per minute, same length as the trace; NaN where there is no value. */
  lower: ArrayLike<number>;
  upper: ArrayLike<number>;
  color?: string;
}

export interface PlotOptions {
  title: string;
  capacity: number;
  /** The load's unit: long on the axis, short in the legend. Default requests / minute, req/min. */
  unit?: { axis: string; short: string };
  bands?: Band[];
  /** Minutes in which the metric was missing (simulate --outage, a backtest's gaps). */
  outages?: Outage[];
  width?: number;
  buckets?: number;
}

// Strategies often coincide (tidemark with default behaviour is hpa-default), so
// each has its own dash pattern as well as its colour: overlapping lines stay visible.
const STYLES: Record<string, { color: string; dash: string; width: number }> = {
  tidemark: { color: '#1f77b4', dash: '', width: 2 },
  'hpa-default': { color: '#d62728', dash: '7 4', width: 1.3 },
  'keda-default': { color: '#ff7f0e', dash: '2 3', width: 1.3 },
  oracle: { color: '#2ca02c', dash: '', width: 1.1 },
};

// Lines of other names (a live run's autoscalers) take these in turn, so each stays apart.
const OTHER_STYLES = [
  { color: '#1f77b4', dash: '', width: 2 },
  { color: '#9467bd', dash: '6 3', width: 1.5 },
  { color: '#ff7f0e', dash: '2 3', width: 1.5 },
  { color: '#8c564b', dash: '9 3 2 3', width: 1.3 },
  { color: '#17becf', dash: '', width: 1.3 },
];

interface Reduced {
  mean: number[];
  min: number[];
  max: number[];
}

function reduce(values: ArrayLike<number>, buckets: number): Reduced {
  const n = values.length;
  const out: Reduced = { mean: [], min: [], max: [] };
  for (let b = 0; b < buckets; b++) {
    const from = Math.floor((b * n) / buckets);
    const to = Math.max(from + 1, Math.floor(((b + 1) * n) / buckets));
    let sum = 0;
    let count = 0;
    let lo = Number.POSITIVE_INFINITY;
    let hi = Number.NEGATIVE_INFINITY;
    for (let i = from; i < to; i++) {
      const v = values[i]!;
      if (Number.isNaN(v)) continue;
      sum += v;
      count++;
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    out.mean.push(count ? sum / count : Number.NaN);
    out.min.push(count ? lo : Number.NaN);
    out.max.push(count ? hi : Number.NaN);
  }
  return out;
}

function niceStep(range: number, ticks: number): number {
  const raw = range / ticks;
  const mag = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 2, 5, 10]) if (m * mag >= raw) return m * mag;
  return 10 * mag;
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const num = (x: number) => (Math.round(x * 10) / 10).toString();

/** Where things go on the canvas, and the scales of the two panels. */
interface Layout {
  minutes: number;
  buckets: number;
  width: number;
  height: number;
  left: number;
  plotW: number;
  top1: number;
  h1: number;
  top2: number;
  h2: number;
  x: (b: number) => number;
  y1: (v: number) => number;
  y2: (v: number) => number;
  yMax1: number;
  yMax2: number;
}

interface Prepared {
  load: ReturnType<typeof reduce>;
  strategies: Array<{ name: string; capacity: number[]; replicas: number[] }>;
  bands: Array<NonNullable<PlotOptions['bands']>[number] & { lo: number[]; hi: number[] }>;
}

function prepare(series: Series, opts: PlotOptions, buckets: number): Prepared {
  return {
    load: reduce(series.requests, buckets),
    strategies: series.strategies.map((s) => ({
      name: s.strategy,
      capacity: reduce(
        Array.from(s.ready, (r) => r * opts.capacity),
        buckets,
      ).mean,
      replicas: reduce(s.replicas, buckets).mean,
    })),
    bands: (opts.bands ?? []).map((b) => ({
      ...b,
      lo: reduce(b.lower, buckets).min,
      hi: reduce(b.upper, buckets).max,
    })),
  };
}

function layout(series: Series, opts: PlotOptions, p: Prepared, buckets: number): Layout {
  const width = opts.width ?? 1400;
  const left = 70;
  const plotW = width - left - 170;
  const top1 = 40;
  const h1 = 300;
  const top2 = top1 + h1 + 50;
  const h2 = 200;
  const finite = (xs: number[]) => xs.filter((v) => Number.isFinite(v));
  const yMax1 =
    Math.max(
      1,
      ...finite(p.load.max),
      ...p.strategies.flatMap((s) => finite(s.capacity)),
      ...p.bands.flatMap((b) => finite(b.hi)),
    ) * 1.05;
  const yMax2 = Math.max(1, ...p.strategies.flatMap((s) => finite(s.replicas))) * 1.1;
  return {
    minutes: series.requests.length,
    buckets,
    width,
    height: top2 + h2 + 50,
    left,
    plotW,
    top1,
    h1,
    top2,
    h2,
    x: (b: number) => left + ((b + 0.5) / buckets) * plotW,
    y1: (v: number) => top1 + h1 - (v / yMax1) * h1,
    y2: (v: number) => top2 + h2 - (v / yMax2) * h2,
    yMax1,
    yMax2,
  };
}

function linePath(L: Layout, ys: number[], y: (v: number) => number): string {
  let d = '';
  let pen = false;
  ys.forEach((v, b) => {
    if (!Number.isFinite(v)) {
      pen = false;
      return;
    }
    d += `${pen ? 'L' : 'M'}${num(L.x(b))},${num(y(v))}`;
    pen = true;
  });
  return d;
}

function areaPath(L: Layout, lo: number[], hi: number[], y: (v: number) => number): string {
  const idx = lo.map((_, b) => b).filter((b) => Number.isFinite(lo[b]!) && Number.isFinite(hi[b]!));
  if (idx.length === 0) return '';
  const upper = idx.map((b, i) => `${i ? 'L' : 'M'}${num(L.x(b))},${num(y(hi[b]!))}`).join('');
  const lower = [...idx]
    .reverse()
    .map((b) => `L${num(L.x(b))},${num(y(lo[b]!))}`)
    .join('');
  return `${upper}${lower}Z`;
}

/** Time axis in days, hours or minutes, whichever gives a readable number of ticks. */
function timeAxis(out: string[], L: Layout): void {
  const { minutes, left, plotW, top1, h1, top2, h2 } = L;
  const unit =
    minutes >= 2 * 1440
      ? { m: 1440, name: 'day' }
      : minutes >= 180
        ? { m: 60, name: 'hour' }
        : { m: 1, name: 'minute' };
  const span = minutes / unit.m;
  const xStep = niceStep(span, 12);
  for (let v = 0; v <= span + 1e-9; v += xStep) {
    const px = left + ((v * unit.m) / minutes) * plotW;
    out.push(
      `<line x1="${num(px)}" y1="${top1}" x2="${num(px)}" y2="${top1 + h1}" stroke="#eee"/>`,
      `<line x1="${num(px)}" y1="${top2}" x2="${num(px)}" y2="${top2 + h2}" stroke="#eee"/>`,
      `<text x="${num(px)}" y="${top2 + h2 + 16}" text-anchor="middle">${num(v)}</text>`,
    );
  }
  out.push(
    `<text x="${left + plotW / 2}" y="${top2 + h2 + 36}" text-anchor="middle">time (${unit.name}s)</text>`,
  );
}

function yAxis(
  out: string[],
  L: Layout,
  top: number,
  h: number,
  max: number,
  y: (v: number) => number,
  label: string,
) {
  const step = niceStep(max, 5);
  for (let v = 0; v <= max; v += step) {
    out.push(
      `<line x1="${L.left}" y1="${num(y(v))}" x2="${L.left + L.plotW}" y2="${num(y(v))}" stroke="#eee"/>`,
      `<text x="${L.left - 6}" y="${num(y(v) + 4)}" text-anchor="end">${num(v)}</text>`,
    );
  }
  out.push(
    `<rect x="${L.left}" y="${top}" width="${L.plotW}" height="${h}" fill="none" stroke="#999"/>`,
    `<text transform="translate(16 ${top + h / 2}) rotate(-90)" text-anchor="middle">${esc(label)}</text>`,
  );
}

const OUTAGE_COLOR = '#f4a582';

/**
 * Outages as stretches of both panels, drawn before the series so the lines stay on top.
 * By minute, not by bucket: a 30-minute outage in 58 days is still where it happened.
 */
function drawOutages(out: string[], L: Layout, outages: Outage[]): LegendEntry[] {
  const px = (minute: number) => L.left + (Math.min(minute, L.minutes) / L.minutes) * L.plotW;
  for (const o of outages) {
    const x = px(o.startMinute);
    const w = px(o.startMinute + o.lengthMinutes) - x;
    for (const [top, h] of [
      [L.top1, L.h1],
      [L.top2, L.h2],
    ] as const) {
      out.push(
        `<rect class="outage" x="${num(x)}" y="${top}" width="${num(w)}" height="${h}" fill="${OUTAGE_COLOR}" fill-opacity="0.35" stroke="none"/>`,
      );
    }
  }
  return outages.length > 0 ? [{ label: 'metric outage', color: OUTAGE_COLOR, kind: 'area' }] : [];
}

type LegendEntry = { label: string; color: string; kind: 'line' | 'area'; dash?: string };

function drawSeries(out: string[], L: Layout, p: Prepared): LegendEntry[] {
  const legend: LegendEntry[] = [];
  out.push(
    `<path d="${areaPath(L, p.load.min, p.load.max, L.y1)}" fill="#bbb" fill-opacity="0.5" stroke="none"/>`,
  );
  out.push(`<path d="${linePath(L, p.load.mean, L.y1)}" fill="none" stroke="#555" stroke-width="1"/>`);
  legend.push({ label: 'load (mean, min–max)', color: '#777', kind: 'area' });
  for (const b of p.bands) {
    const color = b.color ?? '#9467bd';
    out.push(
      `<path d="${areaPath(L, b.lo, b.hi, L.y1)}" fill="${color}" fill-opacity="0.25" stroke="none"/>`,
    );
    legend.push({ label: b.label, color, kind: 'area' });
  }
  let others = 0;
  for (const s of p.strategies) {
    const st = STYLES[s.name] ?? OTHER_STYLES[others++ % OTHER_STYLES.length]!;
    const attrs = `fill="none" stroke="${st.color}" stroke-width="${st.width}"${st.dash ? ` stroke-dasharray="${st.dash}"` : ''}`;
    out.push(`<path d="${linePath(L, s.capacity, L.y1)}" ${attrs}/>`);
    out.push(`<path d="${linePath(L, s.replicas, L.y2)}" ${attrs}/>`);
    legend.push({ label: s.name, color: st.color, kind: 'line', dash: st.dash });
  }
  return legend;
}

function drawLegend(out: string[], L: Layout, legend: LegendEntry[], unitShort: string): void {
  const { left, plotW, top1, top2, buckets, minutes } = L;
  out.push(
    `<text x="${left + plotW + 12}" y="${top2 + 10}" fill="#666">lines: ready capacity</text>`,
    `<text x="${left + plotW + 12}" y="${top2 + 24}" fill="#666">(${esc(unitShort)}, top) and</text>`,
    `<text x="${left + plotW + 12}" y="${top2 + 38}" fill="#666">replicas (bottom)</text>`,
  );
  out.push(
    `<text x="${left + plotW}" y="${top1 - 6}" text-anchor="end" fill="#555">${buckets < minutes ? `each point: mean of ${num(minutes / buckets)} minutes` : 'per minute'}</text>`,
  );
  legend.forEach((l, i) => {
    const ly = top1 + 10 + i * 30;
    const lx = left + plotW + 12;
    out.push(
      l.kind === 'line'
        ? `<line x1="${lx}" y1="${ly}" x2="${lx + 22}" y2="${ly}" stroke="${l.color}" stroke-width="2"${l.dash ? ` stroke-dasharray="${l.dash}"` : ''}/>`
        : `<rect x="${lx}" y="${ly - 6}" width="18" height="12" fill="${l.color}" fill-opacity="0.5"/>`,
    );
    const [first, ...rest] = l.label.split(' (');
    out.push(`<text x="${lx + 28}" y="${ly + 4}">${esc(first!)}</text>`);
    if (rest.length)
      out.push(`<text x="${lx + 24}" y="${ly + 18}" fill="#666">(${esc(rest.join(' ('))}</text>`);
  });
}

export function renderSvg(series: Series, opts: PlotOptions): string {
  const minutes = series.requests.length;
  const buckets = Math.max(1, Math.min(minutes, opts.buckets ?? 1000));
  const p = prepare(series, opts, buckets);
  const L = layout(series, opts, p, buckets);
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${L.width}" height="${L.height}" viewBox="0 0 ${L.width} ${L.height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${L.left}" y="22" font-size="15" font-weight="bold">${esc(opts.title)}</text>`,
  ];
  timeAxis(out, L);
  yAxis(out, L, L.top1, L.h1, L.yMax1, L.y1, opts.unit?.axis ?? 'requests / minute');
  yAxis(out, L, L.top2, L.h2, L.yMax2, L.y2, 'replicas');
  const shaded = drawOutages(out, L, opts.outages ?? []);
  const legend = [...drawSeries(out, L, p), ...shaded];
  drawLegend(out, L, legend, opts.unit?.short ?? 'req/min');
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
