// Operating points (issue 19): with a metric's capacity stated, Level 5 may run hotter than the
// target while its shadow score shows that beating the reactive path. Each operating point sizes
// the reactive part of a path at one point between the target and the capacity and its forecast
// (plus the calibrated headroom) at the same point or a little hotter: the reactive part keeps
// catching what no forecast sees (one-minute transients, which a hotter reactive part misses),
// while the forecast, an upper quantile already, needs less margin under the capacity.

/** A metric that may run between its target and its capacity. */
export interface CappedMetric {
  name: string;
  target: number;
  capacity: number;
}

/**
 * [reactive part, forecast] as shares of the way from the target to the capacity: at a target of
 * 70 % of the capacity, 75 %, 78/80 %, 78/82 %, 80/82 %, 80/85 % and 85 %. Measured on the bench's
 * traces (bench/results/simulate-suite.md), a forecast sized one or two points hotter than the
 * reactive part cut replica-seconds at fewer misses than one point for both; the gate picks among them.
 */
export const OPERATING_POINTS: ReadonlyArray<readonly [number, number]> = [
  [1 / 6, 1 / 6],
  [4 / 15, 1 / 3],
  [4 / 15, 2 / 5],
  [1 / 3, 2 / 5],
  [1 / 3, 1 / 2],
  [1 / 2, 1 / 2],
];

export interface OperatingPoint {
  /** e.g. "80%" (both parts) or "80/82%" (reactive part / forecast), as shares of the capacity. */
  label: string;
  /** Where the reactive part is sized, by metric name. */
  targets: Record<string, number>;
  /** Where the forecast is sized, by metric name. */
  forecastTargets: Record<string, number>;
}

/**
 * The operating points for the metrics with a capacity above their target (`targets`: the
 * targets in use, SLO-tuned or the spec's, which the points start from). None without one.
 */
export function operatingPoints(capped: CappedMetric[], targets: Record<string, number>): OperatingPoint[] {
  const first = capped[0];
  if (first === undefined) return [];
  const at = (share: number): Record<string, number> => {
    const out: Record<string, number> = { ...targets };
    for (const m of capped) {
      const t = targets[m.name] ?? m.target;
      out[m.name] = t + share * (m.capacity - t);
    }
    return out;
  };
  const pct = (x: Record<string, number>) => Math.round((100 * (x[first.name] ?? 0)) / first.capacity);
  return OPERATING_POINTS.map(([r, f]) => {
    const reactive = at(r);
    const forecast = at(f);
    const label = r === f ? `${pct(reactive)}%` : `${pct(reactive)}/${pct(forecast)}%`;
    return { label, targets: reactive, forecastTargets: forecast };
  });
}
