// The CRD's duration strings (`^[0-9]+(s|m|h|d)$`, e.g. `24h`, `7d`). Written by hand because
// the grammar is four units wide and a library (ms, parse-duration) accepts far more than the
// schema allows, which would hide a spec the API server would reject.
const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 };

/** Seconds in a CRD duration string; throws on anything the schema's pattern would reject. */
export function parseDurationSeconds(text: string): number {
  const m = /^([0-9]+)(s|m|h|d)$/.exec(text);
  if (!m) throw new Error(`invalid duration ${JSON.stringify(text)}: expected e.g. 90s, 15m, 24h, 7d`);
  return Number(m[1]) * (UNIT_SECONDS[m[2] as string] as number);
}
