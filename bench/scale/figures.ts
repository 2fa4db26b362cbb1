// Figures of a window: ticks, the cluster's requests, notes, and rounding for the report.
import os from 'node:os';
import type { Scrape } from './operator.ts';
import { histogramDelta, quantile, type Sample, sum } from './samples.ts';

/** One operator over the window. */
export interface OperatorWindow {
  m0: Scrape;
  m1: Scrape;
  cpuCores: number;
  peakRssKiB: number;
  rssKiB: number;
}

export interface Window {
  seconds: number;
  ops: OperatorWindow[];
  api0: Sample[];
  api1: Sample[];
  prom0: Sample[];
  prom1: Sample[];
  sandboxCpuCores: Record<string, number>;
  machineBusyCores: number;
}

/** The change of an operator's counter over the window. */
export const delta = (w: OperatorWindow, name: string, match?: (l: Record<string, string>) => boolean) =>
  sum(w.m1.samples, name, match) - sum(w.m0.samples, name, match);

export interface TickFigures {
  count: number;
  expected: number;
  p50Seconds: number | null;
  p99Seconds: number | null;
  within2s: number | null;
  maxBucket: string;
}

/** Ticks of one operator that reached a decision in the window, against the `due` it should have run. */
export function tickFigures(w: OperatorWindow, due: number): TickFigures {
  const buckets = histogramDelta(w.m0.samples, w.m1.samples, 'tidemark_tick_duration_seconds');
  const count = delta(w, 'tidemark_tick_duration_seconds_count');
  const within2 = buckets.find((b) => b.le === 2)?.count;
  const maxBucket =
    buckets
      .filter((b, i, all) => b.count > (i > 0 ? (all[i - 1]?.count ?? 0) : 0))
      .map((b) => (Number.isFinite(b.le) ? `≤${b.le}s` : '>30s'))
      .at(-1) ?? 'none';
  return {
    count,
    expected: Math.round(due),
    p50Seconds: nullable(quantile(0.5, buckets), 3),
    p99Seconds: nullable(quantile(0.99, buckets), 3),
    within2s: within2 === undefined || count === 0 ? null : round(within2 / count, 5),
    maxBucket,
  };
}

/** Prometheus and API server load over the window: every client's, the operators' among them. */
export function clusterFigures(w: Window) {
  const promD = (match: (l: Record<string, string>) => boolean) =>
    sum(w.prom1, 'prometheus_http_requests_total', match) -
    sum(w.prom0, 'prometheus_http_requests_total', match);
  const queries = promD((l) => l.handler === '/api/v1/query' || l.handler === '/api/v1/query_range');
  const apiKey = (l: Record<string, string>) => `${l.verb}|${l.resource ?? ''}|${l.subresource ?? ''}`;
  const apiDelta = new Map<string, number>();
  for (const [samples, sign] of [
    [w.api1, 1],
    [w.api0, -1],
  ] as const) {
    for (const s of samples)
      if (s.name === 'apiserver_request_total')
        apiDelta.set(apiKey(s.labels), (apiDelta.get(apiKey(s.labels)) ?? 0) + sign * s.value);
  }
  const byVerb: Record<string, number> = {};
  let apiTotal = 0;
  let leases = 0;
  for (const [k, v] of apiDelta) {
    const [verb = '', resource = ''] = k.split('|');
    byVerb[verb] = (byVerb[verb] ?? 0) + v / w.seconds;
    apiTotal += v;
    if (resource === 'leases') leases += v;
  }
  // Our own two /metrics GETs are in the window's deltas: not the operator's load.
  const top = [...apiDelta]
    .filter(([, v]) => v > 0)
    .sort((a, b) => b[1] - a[1])
    .slice(0, 8)
    .map(([k, v]) => {
      const [verb = '', resource = '', subresource = ''] = k.split('|');
      return { verb, resource, subresource, perSecond: round(v / w.seconds, 2) };
    });
  // Server-side latency of the operator's reads of the targets' scale (excludes the client's queueing).
  const isScaleGet = (l: Record<string, string>) => l.verb === 'GET' && l.subresource === 'scale';
  const scaleBuckets = histogramDelta(w.api0, w.api1, 'apiserver_request_duration_seconds', isScaleGet);
  return {
    prometheusQueriesPerSecond: round(queries / w.seconds, 1),
    apiserver: {
      requestsPerSecond: round(apiTotal / w.seconds, 1),
      leaseRequestsPerSecond: round(leases / w.seconds, 2),
      byVerb: Object.fromEntries(Object.entries(byVerb).map(([k, v]) => [k, round(v, 2)])),
      top,
      getScaleP50Seconds: nullable(quantile(0.5, scaleBuckets), 3),
      getScaleP99Seconds: nullable(quantile(0.99, scaleBuckets), 3),
    },
  };
}

/** Notes on a window the figures should be read with. */
export function windowNotes(w: Window, ticks: number, due: number): string[] {
  const notes: string[] = [];
  if (ticks < 0.95 * due) {
    notes.push(
      `only ${ticks} of ~${Math.round(due)} due ticks reached a decision: ticks were skipped or failed`,
    );
  }
  if (w.machineBusyCores > 0.9 * os.availableParallelism()) {
    notes.push(
      `the machine was saturated (${w.machineBusyCores} of ${os.availableParallelism()} cores busy)`,
    );
  }
  return notes;
}

export const sandboxTotal = (w: { sandboxCpuCores: Record<string, number> }) =>
  round(
    Object.values(w.sandboxCpuCores).reduce((a, b) => a + b, 0),
    2,
  );

export function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
export function nullable(x: number | undefined, digits: number): number | null {
  return x === undefined ? null : round(x, digits);
}

export const row = (cells: Array<string | number | null>) =>
  `| ${cells.map((c) => (c === null ? '–' : String(c))).join(' | ')} |`;
