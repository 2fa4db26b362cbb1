// Writes the simulation as an SVG chart: the load with each strategy's ready
// capacity on top, each strategy's replicas below. Hand-written SVG because there
// is no well-kept headless chart library for Node that writes a static file without
// a browser or a native canvas; the chart is only lines, areas and text.
//
// 58 days are 84,000 minutes: the series are reduced to at most `buckets` points,
// keeping each bucket's mean for the lines and its min–max for the load envelope,
// so bursts stay visible. `bands` (e.g. a forecast's lower/upper bounds in
// requests per minute) are drawn as shaded areas behind the capacity lines.
import type { Series } from './simulate.ts';

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

export function renderSvg(series: Series, opts: PlotOptions): string {
  const minutes = series.requests.length;
  const buckets = Math.max(1, Math.min(minutes, opts.buckets ?? 1000));
  const width = opts.width ?? 1400;
  const left = 70;
  const right = 170;
  const plotW = width - left - right;
  const top1 = 40;
  const h1 = 300;
  const top2 = top1 + h1 + 50;
  const h2 = 200;
  const height = top2 + h2 + 50;
  const x = (b: number) => left + ((b + 0.5) / buckets) * plotW;

  const load = reduce(series.requests, buckets);
  const strategies = series.strategies.map((s) => ({
    name: s.strategy,
    capacity: reduce(
      Array.from(s.ready, (r) => r * opts.capacity),
      buckets,
    ).mean,
    replicas: reduce(s.replicas, buckets).mean,
  }));
  const bands = (opts.bands ?? []).map((b) => ({
    ...b,
    lo: reduce(b.lower, buckets).min,
    hi: reduce(b.upper, buckets).max,
  }));
  const finite = (xs: number[]) => xs.filter((v) => Number.isFinite(v));
  const yMax1 =
    Math.max(
      1,
      ...finite(load.max),
      ...strategies.flatMap((s) => finite(s.capacity)),
      ...bands.flatMap((b) => finite(b.hi)),
    ) * 1.05;
  const yMax2 = Math.max(1, ...strategies.flatMap((s) => finite(s.replicas))) * 1.1;
  const y1 = (v: number) => top1 + h1 - (v / yMax1) * h1;
  const y2 = (v: number) => top2 + h2 - (v / yMax2) * h2;

  const path = (ys: number[], y: (v: number) => number) => {
    let d = '';
    let pen = false;
    ys.forEach((v, b) => {
      if (!Number.isFinite(v)) {
        pen = false;
        return;
      }
      d += `${pen ? 'L' : 'M'}${num(x(b))},${num(y(v))}`;
      pen = true;
    });
    return d;
  };
  const area = (lo: number[], hi: number[], y: (v: number) => number) => {
    const idx = lo.map((_, b) => b).filter((b) => Number.isFinite(lo[b]!) && Number.isFinite(hi[b]!));
    if (idx.length === 0) return '';
    const upper = idx.map((b, i) => `${i ? 'L' : 'M'}${num(x(b))},${num(y(hi[b]!))}`).join('');
    const lower = [...idx]
      .reverse()
      .map((b) => `L${num(x(b))},${num(y(lo[b]!))}`)
      .join('');
    return `${upper}${lower}Z`;
  };

  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${left}" y="22" font-size="15" font-weight="bold">${esc(opts.title)}</text>`,
  );

  // Time axis in days, hours or minutes, whichever gives a readable number of ticks.
  const unit =
    minutes >= 2 * 1440
      ? { m: 1440, name: 'day' }
      : minutes >= 180
        ? { m: 60, name: 'hour' }
        : { m: 1, name: 'minute' };
  const span = minutes / unit.m;
  const xStep = niceStep(span, 12);
  const xTicks: string[] = [];
  for (let v = 0; v <= span + 1e-9; v += xStep) {
    const px = left + ((v * unit.m) / minutes) * plotW;
    xTicks.push(
      `<line x1="${num(px)}" y1="${top1}" x2="${num(px)}" y2="${top1 + h1}" stroke="#eee"/>`,
      `<line x1="${num(px)}" y1="${top2}" x2="${num(px)}" y2="${top2 + h2}" stroke="#eee"/>`,
      `<text x="${num(px)}" y="${top2 + h2 + 16}" text-anchor="middle">${num(v)}</text>`,
    );
  }
  out.push(
    ...xTicks,
    `<text x="${left + plotW / 2}" y="${top2 + h2 + 36}" text-anchor="middle">time (${unit.name}s)</text>`,
  );

  const yAxis = (top: number, h: number, max: number, y: (v: number) => number, label: string) => {
    const step = niceStep(max, 5);
    for (let v = 0; v <= max; v += step) {
      out.push(
        `<line x1="${left}" y1="${num(y(v))}" x2="${left + plotW}" y2="${num(y(v))}" stroke="#eee"/>`,
        `<text x="${left - 6}" y="${num(y(v) + 4)}" text-anchor="end">${num(v)}</text>`,
      );
    }
    out.push(
      `<rect x="${left}" y="${top}" width="${plotW}" height="${h}" fill="none" stroke="#999"/>`,
      `<text transform="translate(16 ${top + h / 2}) rotate(-90)" text-anchor="middle">${esc(label)}</text>`,
    );
  };
  yAxis(top1, h1, yMax1, y1, opts.unit?.axis ?? 'requests / minute');
  yAxis(top2, h2, yMax2, y2, 'replicas');

  const legend: Array<{ label: string; color: string; kind: 'line' | 'area'; dash?: string }> = [];
  out.push(`<path d="${area(load.min, load.max, y1)}" fill="#bbb" fill-opacity="0.5" stroke="none"/>`);
  out.push(`<path d="${path(load.mean, y1)}" fill="none" stroke="#555" stroke-width="1"/>`);
  legend.push({ label: 'load (mean, min–max)', color: '#777', kind: 'area' });
  for (const b of bands) {
    const color = b.color ?? '#9467bd';
    out.push(`<path d="${area(b.lo, b.hi, y1)}" fill="${color}" fill-opacity="0.25" stroke="none"/>`);
    legend.push({ label: b.label, color, kind: 'area' });
  }
  for (const s of strategies) {
    const st = STYLES[s.name] ?? { color: '#000', dash: '', width: 1.2 };
    const attrs = `fill="none" stroke="${st.color}" stroke-width="${st.width}"${st.dash ? ` stroke-dasharray="${st.dash}"` : ''}`;
    out.push(`<path d="${path(s.capacity, y1)}" ${attrs}/>`);
    out.push(`<path d="${path(s.replicas, y2)}" ${attrs}/>`);
    legend.push({ label: s.name, color: st.color, kind: 'line', dash: st.dash });
  }
  out.push(
    `<text x="${left + plotW + 12}" y="${top2 + 10}" fill="#666">lines: ready capacity</text>`,
    `<text x="${left + plotW + 12}" y="${top2 + 24}" fill="#666">(${esc(opts.unit?.short ?? 'req/min')}, top) and</text>`,
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
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
