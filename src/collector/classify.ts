// Turns what Prometheus answered into a number or a typed error. Pure: no I/O,
// no clock (now is a parameter). Values are parsed from Prometheus' own JSON
// strings rather than from prometheus-query's parsed objects, because its
// parseFloat reads "+Inf" as NaN and it throws on native-histogram samples.
import type { ObservationError, ObservationErrorKind } from '../policy/types.ts';

/** The `data` member of a Prometheus query API response, not yet trusted. */
export interface RawQueryData {
  resultType: unknown;
  result: unknown;
}

export interface ClassifyOptions {
  /** epoch ms */
  now: number;
  /** A sample whose timestamp is older than now minus this is stale. Unset: no staleness check. */
  staleAfterMs?: number;
  /** Values above this are classified too-large. */
  maxValue: number;
}

export type Classified =
  | { ok: true; value: number; sampledAt: number }
  | { ok: false; error: ObservationError };

/**
 * The largest value a metric may have: far above any real rate, utilisation or
 * queue length, and below 2^53 so the value is still an exact integer scale.
 */
export const DEFAULT_MAX_VALUE = 1e15;

const fail = (kind: ObservationErrorKind, message: string): Classified => ({
  ok: false,
  error: { kind, message },
});

/** Prometheus encodes sample values as strings, with NaN, +Inf and -Inf spelt out. */
export function parseSampleValue(s: unknown): number | undefined {
  if (typeof s !== 'string') return undefined;
  switch (s) {
    case 'NaN':
      return Number.NaN;
    case '+Inf':
    case 'Inf':
      return Number.POSITIVE_INFINITY;
    case '-Inf':
      return Number.NEGATIVE_INFINITY;
  }
  if (s.trim() === '') return undefined;
  const n = Number(s);
  return Number.isNaN(n) ? undefined : n;
}

/** A `[unixSeconds, "value"]` pair, or undefined when it is not one. */
export function parseSample(sample: unknown): { t: number; v: number } | undefined {
  if (!Array.isArray(sample) || sample.length !== 2) return undefined;
  const [t, raw] = sample;
  if (typeof t !== 'number' || !Number.isFinite(t)) return undefined;
  const v = parseSampleValue(raw);
  return v === undefined ? undefined : { t: t * 1000, v };
}

function describeLabels(metric: unknown): string {
  if (metric === null || typeof metric !== 'object') return '{}';
  const parts = Object.entries(metric as Record<string, unknown>)
    .slice(0, 6)
    .map(([k, v]) => `${k}="${String(v).slice(0, 40)}"`);
  return `{${parts.join(',')}}`;
}

/** Checks one value against the bounds every metric shares. */
export function checkValue(value: number, maxValue: number): Classified | undefined {
  if (Number.isNaN(value)) return fail('nan', 'query returned NaN');
  if (!Number.isFinite(value)) return fail('infinite', `query returned ${value > 0 ? '+Inf' : '-Inf'}`);
  if (value < 0) return fail('negative', `query returned a negative value (${value})`);
  if (value > maxValue) return fail('too-large', `query returned ${value}, above the bound ${maxValue}`);
  return undefined;
}

/** Classifies the result of an instant query that must yield exactly one sample. */
export function classifyInstant(data: RawQueryData, opts: ClassifyOptions): Classified {
  if (data === null || typeof data !== 'object') return fail('http-error', 'malformed Prometheus response');
  let sample: unknown;
  switch (data.resultType) {
    case 'scalar':
      sample = data.result;
      break;
    case 'vector': {
      if (!Array.isArray(data.result)) return fail('http-error', 'malformed Prometheus response: vector');
      const series = data.result as unknown[];
      if (series.length === 0) return fail('empty', 'query returned no series');
      if (series.length > 1) {
        const shown = series
          .slice(0, 2)
          .map((s) => describeLabels((s as { metric?: unknown } | null)?.metric))
          .join(', ');
        return fail(
          'multiple-series',
          `query returned ${series.length} series where one was expected (${shown}${series.length > 2 ? ', …' : ''}); aggregate it, e.g. sum(...)`,
        );
      }
      const only = series[0] as { value?: unknown; histogram?: unknown } | null;
      if (
        only !== null &&
        typeof only === 'object' &&
        only.value === undefined &&
        only.histogram !== undefined
      ) {
        return fail('not-scalar', 'query returned a native histogram where a number was expected');
      }
      sample = only?.value;
      break;
    }
    case 'matrix':
      return fail(
        'not-scalar',
        'query returned a range vector (matrix) where an instant vector or scalar was expected',
      );
    case 'string':
      return fail('not-scalar', 'query returned a string where an instant vector or scalar was expected');
    default:
      return fail(
        'not-scalar',
        `query returned an unknown result type ${JSON.stringify(String(data.resultType)).slice(0, 40)}`,
      );
  }
  const parsed = parseSample(sample);
  if (parsed === undefined) return fail('http-error', 'malformed Prometheus response: sample');
  const bad = checkValue(parsed.v, opts.maxValue);
  if (bad) return bad;
  if (opts.staleAfterMs !== undefined && opts.now - parsed.t > opts.staleAfterMs) {
    const age = Math.round((opts.now - parsed.t) / 1000);
    return fail('stale', `sample is ${age}s old, older than the ${opts.staleAfterMs / 1000}s bound`);
  }
  // -0 is a valid zero; keep it out of status and arithmetic.
  return { ok: true, value: parsed.v === 0 ? 0 : parsed.v, sampledAt: parsed.t };
}

/** One point of a range query's history: [epoch ms, value]. */
export type Point = [number, number];

/**
 * The points of a range query result expected to hold one series. Values that
 * fail the instant bounds (NaN, ±Inf, negative, too large) are dropped; gaps stay
 * gaps (no point is invented).
 */
export function classifyRange(
  data: RawQueryData,
  maxValue: number,
): { ok: true; points: Point[] } | { ok: false; error: ObservationError } {
  if (data === null || typeof data !== 'object') {
    return { ok: false, error: { kind: 'http-error', message: 'malformed Prometheus response' } };
  }
  if (data.resultType !== 'matrix') {
    return {
      ok: false,
      error: {
        kind: 'not-scalar',
        message: `range query returned ${String(data.resultType).slice(0, 20)}, not a matrix`,
      },
    };
  }
  if (!Array.isArray(data.result)) {
    return { ok: false, error: { kind: 'http-error', message: 'malformed Prometheus response: matrix' } };
  }
  const series = data.result as Array<{ metric?: unknown; values?: unknown } | null>;
  if (series.length === 0) return { ok: true, points: [] };
  if (series.length > 1) {
    return {
      ok: false,
      error: {
        kind: 'multiple-series',
        message: `range query returned ${series.length} series where one was expected; aggregate it, e.g. sum(...)`,
      },
    };
  }
  const values = series[0]?.values;
  if (!Array.isArray(values)) {
    return {
      ok: false,
      error: { kind: 'not-scalar', message: 'range query returned a series without float values' },
    };
  }
  const points: Point[] = [];
  for (const raw of values) {
    const p = parseSample(raw);
    if (p === undefined) {
      return { ok: false, error: { kind: 'http-error', message: 'malformed Prometheus response: sample' } };
    }
    if (checkValue(p.v, maxValue) === undefined) points.push([p.t, p.v === 0 ? 0 : p.v]);
  }
  return { ok: true, points };
}
