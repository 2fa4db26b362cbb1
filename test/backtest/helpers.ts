// Shared set-up of the backtest's unit tests: a PromClient that answers range
// queries from a function of time (the Collector in front of it is the real one).
import type { PolicyRef, PromClient, RawQueryData } from '../../src/collector/index.ts';

export interface RecordingClient extends PromClient {
  calls: Array<{ query: string; startMs: number; endMs: number; step: number }>;
}

/**
 * Answers every range query with `series` identical series whose value at each
 * step is valueAt(ms): undefined leaves the point out, NaN is sent as "NaN".
 */
export function rangeClient(valueAt: (ms: number) => number | undefined, series = 1): RecordingClient {
  const calls: RecordingClient['calls'] = [];
  return {
    calls,
    instantQuery: () => Promise.reject(new Error('the backtest sends range queries only')),
    rangeQuery(_conn, query, startMs, endMs, step) {
      calls.push({ query, startMs, endMs, step });
      const values: Array<[number, string]> = [];
      for (let t = startMs; t <= endMs; t += step * 1000) {
        const v = valueAt(t);
        if (v !== undefined) values.push([t / 1000, String(v)]);
      }
      const result =
        values.length === 0
          ? []
          : Array.from({ length: series }, (_, i) => ({ metric: { i: `${i}` }, values }));
      return Promise.resolve({ resultType: 'matrix', result } as RawQueryData);
    },
  };
}

export function policyRef(address = 'http://prom:9090'): PolicyRef {
  return {
    namespace: 'shop',
    spec: {
      prometheus: { address, insecureSkipVerify: false, timeoutSeconds: 5 },
      pollingIntervalSeconds: 15,
      metrics: [{ name: 'rps', query: 'q' }],
    },
  };
}
