// `tidemark backtest`: a policy's own metric history from Prometheus, replayed
// through the trace simulator (src/simulate/) beside the HPA, KEDA and oracle
// baselines. See docs/backtest.md for how the metric becomes the load.
import type { Collector } from '../collector/index.ts';
import { rangeWindows } from '../crd/promql.ts';
import type { PolicySpec } from '../policy/types.ts';
import { type SimulationResult, simulate } from '../simulate/simulate.ts';
import { SimulationInputError } from '../simulate/trace.ts';
import { type BacktestReport, backtestReport } from './backtest-report.ts';
import { BacktestInputError } from './errors.ts';
import { readHistory } from './history-query.ts';
import { type ReplaySeries, seriesToTrace } from './series.ts';

/** One sample per minute: the simulator's load is per minute. */
export const STEP_SECONDS = 60;

type MetricSpec = PolicySpec['metrics'][number];

export interface BacktestOptions {
  /** The policy's spec with the CRD's defaults applied. */
  spec: PolicySpec;
  namespace: string;
  name: string;
  /** Reads the history; its allow-list and Secret reader are the operator's. */
  collector: Pick<Collector, 'queryRange'>;
  /** The Prometheus to read, replacing the policy's own address. */
  prometheus: string;
  sinceSeconds: number;
  /** Epoch ms the history ends at (rounded down to the minute). */
  nowMs: number;
  /** Which metric to replay; default the first. */
  metric?: string;
  /** Per ready replica, in the metric's units; undefined: judge against the policy's target. */
  capacity?: number;
  startupSeconds: number;
  onReadProgress?: (fraction: number) => void;
  onSimulateProgress?: (fraction: number) => void;
}

export interface BacktestResult {
  report: BacktestReport;
  simulation: SimulationResult;
  replay: ReplaySeries;
  /** Things the user should know that do not stop the run (printed on stderr). */
  notes: string[];
  /** What makes the replay unlike the live run (printed on stderr as warnings). */
  warnings: string[];
}

/** The metric to replay, or why the policy cannot be backtested. */
export function chooseMetric(spec: PolicySpec, wanted?: string): { metric: MetricSpec; notes: string[] } {
  const metric = wanted === undefined ? spec.metrics[0] : spec.metrics.find((m) => m.name === wanted);
  if (!metric) {
    throw new BacktestInputError(
      `the policy has no metric named ${JSON.stringify(wanted)}; it has ${spec.metrics.map((m) => m.name).join(', ')}`,
    );
  }
  if (metric.target.type !== 'AverageValue') {
    // The history of a metric compared as it is (latency, queue per pod, utilisation) was
    // shaped by the replicas that ran then: it is not a load that other replica counts would see.
    throw new BacktestInputError(
      `metric ${metric.name} has a Value target: its history depends on the replicas that were running, so it cannot be replayed as load. Backtest an AverageValue metric whose query returns the total load (e.g. sum(rate(...)))`,
    );
  }
  const notes: string[] = [];
  const others = spec.metrics.filter((m) => m !== metric).map((m) => m.name);
  if (others.length > 0) {
    notes.push(
      `replaying metric ${metric.name} only; not replayed: ${others.join(', ')} (choose one with --metric)`,
    );
  }
  if (/^\s*avg\b/i.test(metric.query)) {
    notes.push(
      `metric ${metric.name}'s query starts with avg: an AverageValue target divides the metric by the replica count, so the query should return the total (sum), not a per-replica average`,
    );
  }
  return { metric, notes };
}

export async function runBacktest(o: BacktestOptions): Promise<BacktestResult> {
  const { metric, notes } = chooseMetric(o.spec, o.metric);
  if (!(o.sinceSeconds >= 2 * STEP_SECONDS)) {
    throw new BacktestInputError(`--since must cover at least 2 minutes, got ${o.sinceSeconds}s`);
  }
  const stepMs = STEP_SECONDS * 1000;
  const endMs = Math.floor(o.nowMs / stepMs) * stepMs;
  // The first sample covers the minute after the range starts.
  const startMs = endMs - o.sinceSeconds * 1000 + stepMs;
  const points = await readHistory({
    collector: o.collector,
    policy: {
      namespace: o.namespace,
      spec: { ...o.spec, prometheus: { ...o.spec.prometheus, address: o.prometheus } },
    },
    query: metric.query,
    startMs,
    endMs,
    stepSeconds: STEP_SECONDS,
    ...(o.onReadProgress ? { onProgress: o.onReadProgress } : {}),
  });
  if (points.length === 0) {
    throw new BacktestInputError(
      `metric ${metric.name} has no samples from ${new Date(startMs - stepMs).toISOString()} to ${new Date(endMs).toISOString()}: check the query and --since (query: ${metric.query})`,
    );
  }
  const replay = seriesToTrace(points, STEP_SECONDS);
  if (replay.missingMinutes > 0) {
    notes.push(
      `${replay.missingMinutes} of ${replay.trace.requests.length} minutes had no sample: replayed as metric outages, the load held at the last value`,
    );
  }
  const target = Number(metric.target.value);
  let simulation: SimulationResult;
  try {
    simulation = simulate({
      trace: replay.trace,
      traceName: `${o.namespace}/${o.name} ${metric.name}`,
      spec: { ...o.spec, metrics: [metric] },
      capacity: o.capacity ?? target,
      startupSeconds: o.startupSeconds,
      startTime: replay.startMs,
      ...(replay.outages.length > 0 ? { outages: replay.outages } : {}),
      ...(o.onSimulateProgress ? { onProgress: o.onSimulateProgress } : {}),
    });
  } catch (err) {
    if (err instanceof SimulationInputError) throw new BacktestInputError(err.message);
    throw err;
  }
  const report = backtestReport(simulation.report, {
    capacity: o.capacity,
    target,
    source: {
      prometheus: o.prometheus,
      policy: `${o.namespace}/${o.name}`,
      metric: metric.name,
      query: metric.query,
      from: new Date(replay.startMs).toISOString(),
      to: new Date(replay.startMs + replay.trace.requests.length * stepMs).toISOString(),
      stepSeconds: STEP_SECONDS,
      samples: points.length,
      missingMinutes: replay.missingMinutes,
    },
  });
  return { report, simulation, replay, notes, warnings: shortWindowWarnings(metric) };
}

/**
 * A window shorter than the step sees only the end of each minute, so the history misses
 * what the live operator, sampling every few seconds, saw and acted on (docs/backtest.md).
 */
export function shortWindowWarnings(metric: MetricSpec): string[] {
  return rangeWindows(metric.query)
    .filter((w) => w.seconds < STEP_SECONDS)
    .map(
      (w) =>
        `metric ${metric.name}'s query reads a [${w.text}] window, shorter than the backtest's ${STEP_SECONDS} s step: each minute's sample sees only its last ${w.text}, so the replay misses peaks the live run saw and acted on (and reports a lower peak); backtest the query with [1m] or longer`,
    );
}
