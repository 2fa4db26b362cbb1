// The number formatters, in one place, one for each kind of reader: fmtNumber for sentences
// (decision reasons, Events, condition messages: the engine, every Level 5 stage and the
// reconciler), statusNumber for the status fields kubectl shows as strings (currentMetrics),
// and tableCell for the simulate/backtest tables.

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

/** A status number as kubectl shows it: a string with at most 4 significant decimals; undefined when not finite. */
export function statusNumber(n: number | undefined): string | undefined {
  if (n === undefined || !Number.isFinite(n)) return undefined;
  if (Number.isInteger(n)) return String(n);
  const abs = Math.abs(n);
  const s = abs >= 1000 ? n.toFixed(1) : abs >= 1 ? n.toFixed(2) : n.toPrecision(3);
  return String(Number(s));
}

/** A cell of the simulate/backtest tables: integers as they are, other numbers with 2 decimals. */
export function tableCell(v: unknown): string {
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : v.toFixed(2);
  return String(v);
}
