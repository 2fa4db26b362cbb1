// How far ahead the forecast must look: a replica asked for now serves only after its
// start-up, the next decision comes a tick later, and the metric itself trails the load it
// measures. A range selector (`rate(x[1m])`, `avg_over_time(x[5m:30s])`) reports its window's
// mean, which describes the load about half a window ago; a sample is also read up to a scrape
// late, taken as half a polling interval on average (the scrape interval is not known here).
import { promqlDurationSeconds } from '../../core/promql-duration.ts';

/** The longest range window in a query, in seconds; undefined when it has none (an instant gauge). */
export function rangeWindowSeconds(query: string): number | undefined {
  let window: number | undefined;
  for (const m of query.matchAll(/\[\s*((?:\d+(?:ms|s|m|h|d|w|y))+)\s*(?::[^\]]*)?\]/g)) {
    window = Math.max(window ?? 0, promqlDurationSeconds(m[1] as string));
  }
  return window;
}

/** How far the query's value trails the load: half its range window (0 without one). */
export function queryLagSeconds(query: string): number {
  return (rangeWindowSeconds(query) ?? 0) / 2;
}

/** The metric's lag as the engine sees it: the query's own, plus half a polling interval of read delay. */
export function metricLagSeconds(query: string, pollingIntervalSeconds: number): number {
  return queryLagSeconds(query) + pollingIntervalSeconds / 2;
}

/** The lead a forecast of the load must look ahead: start-up + one tick + the metric's lag. */
export function forecastLeadSeconds(startupSeconds: number, tickSeconds: number, lagSeconds: number): number {
  return Math.max(0, startupSeconds) + Math.max(0, tickSeconds) + Math.max(0, lagSeconds);
}
