// PromQL durations (`30s`, `1m30s`, `500ms`), as range selectors and subqueries write their
// windows: read by the validator's PromQL checks (src/crd/promql.ts) and by Level 5's metric
// lag (src/level5/stages.ts). Here, below both, so each reads them the same way.

const UNIT_SECONDS: Record<string, number> = {
  ms: 0.001,
  s: 1,
  m: 60,
  h: 3600,
  d: 86400,
  w: 604800,
  y: 31536000,
};

/** Seconds in a PromQL duration (a bare number is seconds); NaN when the text is none. */
export function promqlDurationSeconds(text: string): number {
  if (/^\d+(\.\d+)?$/.test(text)) return Number(text);
  const parts = [...text.matchAll(/(\d+)(ms|s|m|h|d|w|y)/g)];
  if (parts.length === 0 || parts.map((p) => p[0]).join('') !== text) return Number.NaN;
  return parts.reduce((sum, p) => sum + Number(p[1]) * UNIT_SECONDS[p[2]!]!, 0);
}
