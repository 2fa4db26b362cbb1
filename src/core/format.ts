// The one number formatter for reasons, Events, conditions and status strings: the engine,
// every Level 5 stage and the reconciler write numbers the same way.

/**
 * A metric value or score for a sentence: one decimal from 0.1 to 1e9 (integers from 1,000 as
 * they are), 3 significant digits when tinier or huger, 0 as 0.
 */
export function fmtNumber(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  if (a === 0) return '0';
  if (a >= 0.1 && a < 1e9) return Number.isInteger(v) && a >= 1e3 ? String(v) : v.toFixed(1);
  return v.toPrecision(3);
}
