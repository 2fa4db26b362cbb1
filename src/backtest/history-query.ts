// Reads one metric's history from Prometheus for the backtest: range queries
// through the operator's own Collector (allow-list, credentials, TLS, timeouts,
// retries and result classification are all the operator's), one request per
// chunk so that a long history shows progress and stays under Prometheus'
// 11,000 points per series.
import { type Collector, type Point, type PolicyRef, planRangeChunks } from '../collector/index.ts';
import { BacktestInputError } from './errors.ts';

/** Prometheus refuses a range query with more than 11,000 points per series. */
export const MAX_POINTS_PER_REQUEST = 11_000;

export interface HistoryRequest {
  collector: Pick<Collector, 'queryRange'>;
  /** The policy as the collector reads it (its namespace for the Secret, its prometheus block). */
  policy: PolicyRef;
  query: string;
  /** Evaluation times: startMs, startMs + step, ... up to endMs. */
  startMs: number;
  endMs: number;
  stepSeconds: number;
  maxPointsPerRequest?: number;
  /** Called after each request with the fraction done. */
  onProgress?: (fraction: number) => void;
  signal?: AbortSignal;
}

/** The chunks one history read sends, in order. */
export function historyChunks(
  startMs: number,
  endMs: number,
  stepSeconds: number,
  maxPoints = MAX_POINTS_PER_REQUEST,
): Array<{ startMs: number; endMs: number }> {
  return planRangeChunks(startMs, endMs, stepSeconds, Math.min(maxPoints, MAX_POINTS_PER_REQUEST));
}

/**
 * Every sample of the query between start and end, ascending. A failed request,
 * a query Prometheus rejects or one that returns several series is a
 * BacktestInputError naming the query and the time range; an empty history is
 * an empty array (the caller decides what it means).
 */
export async function readHistory(r: HistoryRequest): Promise<Point[]> {
  const chunks = historyChunks(r.startMs, r.endMs, r.stepSeconds, r.maxPointsPerRequest);
  if (chunks.length === 0) {
    throw new BacktestInputError(
      `nothing to read: the range ${iso(r.startMs)} – ${iso(r.endMs)} with a ${r.stepSeconds}s step is empty`,
    );
  }
  const points: Point[] = [];
  for (const [i, ch] of chunks.entries()) {
    const res = await r.collector.queryRange(r.policy, r.query, ch.startMs, ch.endMs, r.stepSeconds, {
      ...(r.signal ? { signal: r.signal } : {}),
    });
    if (!res.ok) {
      throw new BacktestInputError(
        `reading ${JSON.stringify(r.query)} for ${iso(ch.startMs)} – ${iso(ch.endMs)} failed (${res.error.kind}): ${res.error.message}`,
      );
    }
    for (const p of res.points)
      if (points.length === 0 || p[0] > points[points.length - 1]![0]) points.push(p);
    r.onProgress?.((i + 1) / chunks.length);
  }
  return points;
}

function iso(ms: number): string {
  return Number.isFinite(ms) ? new Date(ms).toISOString() : String(ms);
}
