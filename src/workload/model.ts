/**
 * The workload model: how offered load is shared among ready pods and how long
 * requests take. Pure functions, no I/O.
 */

/** Latency buckets (seconds) of http_request_duration_seconds; +Inf is implied. */
export const DEFAULT_BUCKETS: readonly number[] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** Splits the offered rate evenly among the ready pods (a round-robin Service). */
export function splitRate(rps: number, readyPods: number): { perPod: number; dropped: number } {
  if (readyPods <= 0) return { perPod: 0, dropped: rps };
  return { perPod: rps / readyPods, dropped: 0 };
}

export interface LatencyModel {
  /** Mean time to serve one request on an idle pod, seconds. */
  serviceTimeSeconds: number;
  /** Requests per second one pod serves at full utilisation. */
  capacityRps: number;
  /** Client timeout: no request is recorded as slower than this, seconds. */
  maxLatencySeconds: number;
}

/**
 * Mean sojourn time of an M/M/1-like queue, S / (1 − ρ) with ρ = rate/capacity,
 * or Infinity when the pod is saturated (ρ ≥ 1) and the queue grows without bound.
 */
export function meanLatency(perPodRps: number, m: LatencyModel): number {
  const rho = Math.max(0, perPodRps) / m.capacityRps;
  if (rho >= 1) return Number.POSITIVE_INFINITY;
  return m.serviceTimeSeconds / (1 - rho);
}

/**
 * Fraction of requests whose latency is ≤ `le`. In an M/M/1 queue the sojourn
 * time is exponential with the mean above; each request's latency is then
 * capped at the timeout, so everything is ≤ the timeout.
 */
export function latencyCdf(le: number, mean: number, maxLatency: number): number {
  if (le >= maxLatency) return 1;
  if (le <= 0) return 0;
  if (!Number.isFinite(mean)) return 0;
  return 1 - Math.exp(-le / mean);
}

/** Mean of the capped latency, E[min(X, cap)] for X exponential with `mean`. */
export function cappedMeanLatency(mean: number, maxLatency: number): number {
  if (!Number.isFinite(mean)) return maxLatency;
  return mean * (1 - Math.exp(-maxLatency / mean));
}

/**
 * Accumulated histogram of one series. `cumulative[i]` counts requests with
 * latency ≤ bounds[i], as Prometheus's `_bucket{le}` does; `count` is the +Inf
 * bucket. Values are fractional: the simulator accounts for expected requests
 * (rate × dt), not sampled ones.
 */
export interface HistogramAccount {
  cumulative: number[];
  sum: number;
  count: number;
}

export function emptyHistogram(bounds: readonly number[]): HistogramAccount {
  return { cumulative: bounds.map(() => 0), sum: 0, count: 0 };
}

/**
 * Records `n` requests at once with the latency distribution of the model.
 *
 * Hand-written rather than prom-client's Histogram.observe(): observe() takes
 * one request at a time, so a few thousand simulated requests per second per
 * pod would cost as many calls every second; weighting each bucket by the
 * distribution's CDF costs one pass over the buckets per pod per tick and gives
 * the exact expected counts.
 */
export function recordRequests(
  h: HistogramAccount,
  bounds: readonly number[],
  n: number,
  mean: number,
  maxLatency: number,
): void {
  if (!(n > 0)) return;
  for (let i = 0; i < bounds.length; i++) {
    h.cumulative[i]! += n * latencyCdf(bounds[i]!, mean, maxLatency);
  }
  h.count += n;
  h.sum += n * cappedMeanLatency(mean, maxLatency);
}
