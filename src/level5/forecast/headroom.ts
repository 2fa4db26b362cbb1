// Headroom calibrated from the forecaster's own recent errors towards a miss budget: how far
// above its point forecast the replicas must be sized so that the load exceeds the forecast
// plus headroom in about `missBudget` of the checked forecasts.
//
// Split conformal prediction on a rolling calibration set (the recent errors, actual − forecast
// at the lead horizon) gives the quantile; adaptive conformal inference (Gibbs & Candès,
// "Adaptive conformal inference under distribution shift", NeurIPS 2021) moves the quantile
// level with every checked forecast, a little up after a miss and a little down after a hit,
// so the long-run miss rate meets the budget even when the errors drift: a smooth workload
// ends with thin headroom and a noisy one with what it needs, with no constant from any trace.
import { quantile } from 'simple-statistics';

export interface HeadroomState {
  /** The miss level currently aimed at (ACI's α_t); starts at the budget. */
  a: number;
  /** Checked forecasts, and how many the headroom in force missed (for the status). */
  n: number;
  miss: number;
  /** The headroom in force, in the metric's units. */
  q: number;
}

/** Step size of the level's update; Gibbs & Candès use 0.005 to 0.05. */
const GAMMA = 0.005;
/** Errors needed before the quantile means anything. */
export const MIN_ERRORS = 10;

export function newHeadroom(missBudget: number): HeadroomState {
  return { a: missBudget, n: 0, miss: 0, q: 0 };
}

/**
 * One checked forecast: `err` is actual − forecast, `errs` the recent errors including it.
 * Returns the next state (a new object; the input is not changed).
 */
export function updateHeadroom(
  s: HeadroomState,
  missBudget: number,
  err: number,
  errs: readonly number[],
): HeadroomState {
  const missed = s.n > 0 && err > s.q ? 1 : 0;
  const a = Math.min(0.5, Math.max(0.001, s.a + GAMMA * (missBudget - missed)));
  const q = errs.length >= MIN_ERRORS ? quantile(errs as number[], 1 - a) : s.q;
  return { a, n: s.n + 1, miss: s.miss + missed, q };
}

/** The share of checked forecasts the headroom missed, in percent. */
export function headroomMissPercent(s: HeadroomState): number | undefined {
  return s.n > 1 ? (100 * s.miss) / (s.n - 1) : undefined;
}
