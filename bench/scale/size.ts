// One size of the single-replica series: its run and its figures.
import { log, sizeSpec, TARGET } from './config.ts';
import {
  clusterFigures,
  delta,
  nullable,
  round,
  sandboxTotal,
  type TickFigures,
  tickFigures,
  windowNotes,
} from './figures.ts';
import { type HeapFigures, heapFigures } from './heap.ts';
import type { Exporter } from './load.ts';
import { type Run, runOnce } from './measure.ts';
import { histogramDelta, quantile, type Sample, sum } from './samples.ts';

export interface SizeResult {
  policies: number;
  target: string;
  loadAverageBefore: number[];
  createSeconds: number;
  createPerSecond: number;
  warmupSeconds: number;
  windowSeconds: number;
  operator: {
    cpuCores: number;
    peakRssMiB: number;
    rssMiB: number;
    metricsScrapeMs: number;
    metricsBytes: number;
    /** At the window's end: V8 heap used and reserved, and memory outside it (buffers), MiB. */
    heapUsedMiB: number | null;
    heapTotalMiB: number | null;
    externalMiB: number | null;
    spaces: Record<string, string>;
  };
  /** Where its heap went at the window's end (bench/scale/heap.ts); null when no snapshot was taken. */
  heap: HeapFigures | null;
  ticks: TickFigures;
  prometheus: {
    queriesPerSecond: number;
    operatorQueriesPerSecond: number;
    queryErrors: number;
    queryP50Seconds: number | null;
    queryP99Seconds: number | null;
  };
  apiserver: ReturnType<typeof clusterFigures>['apiserver'];
  statusWrites: { warmup: number; window: number };
  /** The operator's own API requests (tidemark_api_requests_total) against its client-side limit. */
  apiClient: {
    qps: number;
    burst: number;
    requestsPerSecond: number;
    warmupRequestsPerSecond: number;
    clientWaits: number;
    clientWaitSeconds: number;
    http429: number;
  };
  scalingActions: number;
  metricErrors: number;
  sandboxCpuCores: Record<string, number>;
  machineBusyCores: number;
  notes: string[];
}

/** The operator's V8 heap and external memory from its /metrics (MiB), null when not exported. */
export function memoryOf(samples: Sample[]) {
  const mib = (name: string) => {
    const v = samples.find((x) => x.name === name)?.value;
    return v === undefined ? null : round(v / 2 ** 20, 0);
  };
  return {
    heapUsedMiB: mib('nodejs_heap_size_used_bytes'),
    heapTotalMiB: mib('nodejs_heap_size_total_bytes'),
    externalMiB: mib('nodejs_external_memory_bytes'),
    /** V8's spaces, reserved / used MiB: which one holds the slack between used and reserved. */
    spaces: Object.fromEntries(
      samples
        .filter((x) => x.name === 'nodejs_heap_space_size_total_bytes' && (x.value ?? 0) > 2 ** 20)
        .map((x) => {
          const space = x.labels.space ?? '?';
          const used = samples.find(
            (u) => u.name === 'nodejs_heap_space_size_used_bytes' && u.labels.space === space,
          )?.value;
          return [space, `${round(x.value / 2 ** 20, 0)} / ${round((used ?? 0) / 2 ** 20, 0)}`];
        }),
    ),
  };
}

export const runSize = (n: number, exporter: Exporter) =>
  runOnce(sizeSpec(n), exporter, async (r) => sizeResult(r));

export function sizeResult(r: Run): SizeResult {
  const { spec, window: w } = r;
  const n = spec.policies;
  const op = w.ops[0]!;
  const d = (name: string, match?: (l: Record<string, string>) => boolean) => delta(op, name, match);
  const queryBuckets = histogramDelta(
    op.m0.samples,
    op.m1.samples,
    'tidemark_prometheus_query_duration_seconds',
  );
  const ticks = tickFigures(op, (n * w.seconds) / spec.intervalSeconds);
  const cluster = clusterFigures(w);
  const result: SizeResult = {
    policies: n,
    target: TARGET,
    loadAverageBefore: r.loadAverageBefore,
    createSeconds: round(r.createSeconds, 1),
    createPerSecond: round((2 * n) / r.createSeconds, 0),
    warmupSeconds: round(r.warmupSeconds, 0),
    windowSeconds: round(w.seconds, 1),
    operator: {
      cpuCores: op.cpuCores,
      peakRssMiB: round(op.peakRssKiB / 1024, 0),
      rssMiB: round(op.rssKiB / 1024, 0),
      metricsScrapeMs: round(op.m1.ms, 0),
      metricsBytes: op.m1.bytes,
      ...memoryOf(op.m1.samples),
    },
    heap: heapFigures(r.heap[0]),
    ticks,
    prometheus: {
      queriesPerSecond: cluster.prometheusQueriesPerSecond,
      operatorQueriesPerSecond: round(d('tidemark_prometheus_query_duration_seconds_count') / w.seconds, 1),
      queryErrors: d('tidemark_prometheus_query_errors_total'),
      queryP50Seconds: nullable(quantile(0.5, queryBuckets), 3),
      queryP99Seconds: nullable(quantile(0.99, queryBuckets), 3),
    },
    apiserver: cluster.apiserver,
    statusWrites: {
      warmup: sum(op.m0.samples, 'tidemark_status_writes_total'),
      window: d('tidemark_status_writes_total'),
    },
    apiClient: {
      ...r.limit,
      requestsPerSecond: round(d('tidemark_api_requests_total') / w.seconds, 1),
      warmupRequestsPerSecond: round(sum(op.m0.samples, 'tidemark_api_requests_total') / r.warmupSeconds, 1),
      clientWaits: d('tidemark_api_throttle_wait_seconds_count', (l) => l.source === 'client'),
      clientWaitSeconds: round(
        d('tidemark_api_throttle_wait_seconds_sum', (l) => l.source === 'client'),
        1,
      ),
      http429: d('tidemark_api_requests_total', (l) => l.code === '429'),
    },
    scalingActions: d('tidemark_scaling_actions_total'),
    metricErrors: d('tidemark_metric_errors_total'),
    sandboxCpuCores: w.sandboxCpuCores,
    machineBusyCores: w.machineBusyCores,
    notes: [...r.notes, ...windowNotes(w, ticks.count, ticks.expected)],
  };
  log(
    `N=${n}: operator ${result.operator.cpuCores} cores, peak ${result.operator.peakRssMiB} MiB; ` +
      `ticks ${ticks.count}/${ticks.expected} p50 ${ticks.p50Seconds} s p99 ${ticks.p99Seconds} s; ` +
      `status writes ${result.statusWrites.window}; sandbox ${sandboxTotal(w)} cores; machine ${w.machineBusyCores} cores busy`,
  );
  return result;
}
