// From a metric's history to the simulator's per-minute trace (docs/backtest.md,
// "From the metric to the load"). A sample at time T is the metric's value over
// the minute that ends at T, so it becomes the load of that minute, in the
// metric's own units. The history starts at its first sample and ends at its
// last; a minute inside it without a sample (a gap in the series, or a NaN,
// ±Inf or negative value, which the collector drops) keeps the load of the
// minute before and is replayed as a metric outage: every strategy sees the
// query return nothing there, as the operator would have.
import type { Point } from '../collector/index.ts';
import type { Outage } from '../simulate/simulate.ts';
import type { Trace } from '../simulate/trace.ts';
import { BacktestInputError } from './errors.ts';

export interface ReplaySeries {
  trace: Trace;
  /** Epoch ms at which the trace's first minute starts. */
  startMs: number;
  /** Runs of minutes without a sample, in trace minutes. */
  outages: Outage[];
  missingMinutes: number;
}

export function seriesToTrace(points: readonly Point[], stepSeconds = 60): ReplaySeries {
  if (points.length === 0) {
    throw new BacktestInputError('the metric has no samples in the chosen time range');
  }
  const stepMs = stepSeconds * 1000;
  const first = points[0]![0];
  const last = points[points.length - 1]![0];
  // Prometheus answers in float seconds: round to the step grid rather than trust the last digit.
  const minutes = Math.round((last - first) / stepMs) + 1;
  const load = new Float64Array(minutes);
  const seen = new Uint8Array(minutes);
  for (const [t, v] of points) {
    const i = Math.round((t - first) / stepMs);
    if (i < 0 || i >= minutes) continue;
    load[i] = v;
    seen[i] = 1;
  }
  const outages: Outage[] = [];
  let missing = 0;
  for (let i = 1; i < minutes; i++) {
    if (seen[i]) continue;
    load[i] = load[i - 1]!;
    missing++;
    const prev = outages[outages.length - 1];
    if (prev && prev.startMinute + prev.lengthMinutes === i) prev.lengthMinutes++;
    else outages.push({ startMinute: i, lengthMinutes: 1 });
  }
  return {
    trace: { requests: load, firstMinute: 0 },
    startMs: first - stepMs,
    outages,
    missingMinutes: missing,
  };
}

/** The trace as `tidemark simulate` reads it (`minute,requests`), to replay it again or elsewhere. */
export function traceCsv(trace: Trace): string {
  const out = ['minute,requests'];
  trace.requests.forEach((v, i) => {
    out.push(`${trace.firstMinute + i},${v}`);
  });
  return `${out.join('\n')}\n`;
}
