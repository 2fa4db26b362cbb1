// The reactive trade-off line `make bench` compares Level 5 with. Without a forecast, the one
// way to miss fewer minutes is to lower the target (more replicas all the time); running the
// HPA at a few lower targets traces that line, as points (cost ratio, miss ratio) against
// hpa-default at the user's target. A Level 5 run is then read against the line: what lowering
// the target would have cost for the same misses. Pure, so it is unit-tested on its own.

/** A point on a cost/miss plane: replica-minutes and under-provisioned minutes, each ÷ hpa-default. */
export interface TradePoint {
  cost: number;
  miss: number;
}

/**
 * The line's cost at `miss`, linear between the two points around it (sorted by misses). Outside
 * the points' range it is undefined: the line is not extrapolated, a reader gets "n/a".
 */
export function costAtMiss(line: readonly TradePoint[], miss: number): number | undefined {
  const pts = [...line].filter((p) => Number.isFinite(p.cost) && Number.isFinite(p.miss));
  pts.sort((a, b) => a.miss - b.miss);
  if (pts.length === 0 || !Number.isFinite(miss)) return undefined;
  const first = pts[0] as TradePoint;
  const last = pts[pts.length - 1] as TradePoint;
  if (miss < first.miss || miss > last.miss) return undefined;
  for (let i = 1; i < pts.length; i++) {
    const a = pts[i - 1] as TradePoint;
    const b = pts[i] as TradePoint;
    if (miss <= b.miss) {
      if (b.miss === a.miss) return Math.min(a.cost, b.cost);
      return a.cost + ((miss - a.miss) / (b.miss - a.miss)) * (b.cost - a.cost);
    }
  }
  return first.cost;
}

/** Level 5's cost ÷ the line's at Level 5's misses; `atMost` when that is a bound, not a reading. */
export interface AgainstLine {
  ratio: number;
  atMost: boolean;
}

/**
 * How Level 5's point compares with the line at its own misses: its cost ÷ the line's (below 1:
 * it buys those misses cheaper than lowering the target would). Below the line's fewest misses,
 * the line costs at least its last point there (fewer misses never cost fewer replicas on it),
 * so the ratio to that point is an upper bound (`atMost`). Otherwise off the range: undefined.
 */
export function againstLine(line: readonly TradePoint[], p: TradePoint): AgainstLine | undefined {
  const c = costAtMiss(line, p.miss);
  if (c !== undefined) return c > 0 ? { ratio: p.cost / c, atMost: false } : undefined;
  const fewest = [...line]
    .filter((q) => Number.isFinite(q.cost) && Number.isFinite(q.miss) && q.cost > 0)
    .sort((a, b) => a.miss - b.miss || a.cost - b.cost)[0];
  if (fewest === undefined || !(p.miss < fewest.miss)) return undefined;
  return { ratio: p.cost / fewest.cost, atMost: true };
}
