// Shared set-up of the backtest's unit tests: a PromClient that answers range
// queries from a function of time (the Collector in front of it is the real one).
import type { PolicyRef, PromClient, RawQueryData } from '../../src/collector/index.ts';
import { runTidemark } from '../support/cli.ts';

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

/** What a backtest's JSON report holds that replaying its series with simulate needs. */
interface ReplayableReport {
  extra: { backtest: { from: string }; outages?: Array<{ startMinute: number; lengthMinutes: number }> };
}

/**
 * `tidemark simulate` on the series a backtest wrote with --trace-out, with the
 * backtest's start time and outages: its JSON report, to compare.
 */
export async function simulateSeries(
  report: ReplayableReport,
  csv: string,
  policyFile: string,
  capacity: number,
  env?: NodeJS.ProcessEnv,
): Promise<{ results: unknown[]; trace: { minutes: number }; model: Record<string, unknown> }> {
  const outages = (report.extra.outages ?? []).flatMap((o) => [
    '--outage',
    `${o.startMinute}:${o.lengthMinutes}`,
  ]);
  const args = ['simulate', '--trace', csv, '--policy', policyFile, '--capacity', String(capacity)];
  args.push('--format', 'json', '--start-time', report.extra.backtest.from, ...outages);
  const s = await runTidemark(args, env ? { env } : {});
  if (s.code !== 0) throw new Error(`simulate exited ${s.code}: ${s.stderr}`);
  return JSON.parse(s.stdout);
}

/** `tidemark backtest ARGS --format json`, which must succeed: its parsed report. */
// biome-ignore lint/suspicious/noExplicitAny: the report is JSON that each test reads its own way
export async function backtestJson(args: string[], env?: NodeJS.ProcessEnv): Promise<any> {
  const b = await runTidemark(['backtest', ...args, '--format', 'json'], env ? { env } : {});
  if (b.code !== 0) throw new Error(`backtest exited ${b.code}: ${b.stderr}`);
  return JSON.parse(b.stdout);
}
