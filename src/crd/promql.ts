// PromQL syntax checked where a policy is checked (tidemark validate, the simulator's and
// backtest's inputs, convert's output), so a query the operator would later fail to run is
// refused up front. The parser is Prometheus's own published grammar (@prometheus-io/lezer-promql):
// a Lezer parser never throws, it recovers and marks what it could not parse with error nodes.
import { parser } from '@prometheus-io/lezer-promql';
import { promqlDurationSeconds } from '../core/promql-duration.ts';

/** Why the query does not parse, or undefined when it does. */
export function promqlSyntaxError(query: string): string | undefined {
  if (query.trim() === '') return 'empty query';
  let at: number | undefined;
  parser.parse(query).iterate({
    enter: (node) => {
      if (at !== undefined) return false;
      if (node.type.isError) at = node.from;
      return undefined;
    },
  });
  if (at === undefined) return undefined;
  if (at >= query.trimEnd().length)
    return 'unexpected end of query (an unclosed bracket or a missing operand?)';
  return `unexpected input at character ${at + 1}: "${query.slice(at, at + 20)}"`;
}

/** The PromQL fields of a ScalingPolicy, by the path the API server would name them with. */
function queries(policy: unknown): Array<{ path: string; query: unknown }> {
  const spec = (policy as { spec?: Record<string, unknown> } | null)?.spec;
  const metrics = Array.isArray(spec?.metrics) ? (spec.metrics as Array<{ query?: unknown }>) : [];
  const out = metrics.map((m, i) => ({ path: `spec.metrics[${i}].query`, query: m?.query }));
  const slo = (spec?.autotune as { slo?: { latencyQuery?: unknown } } | undefined)?.slo;
  if (slo) out.push({ path: 'spec.autotune.slo.latencyQuery', query: slo.latencyQuery });
  return out;
}

/** One issue per query that Prometheus would refuse to parse (validate.ts's ValidationIssue shape). */
export function promqlIssues(policy: unknown): Array<{ path: string; message: string }> {
  const issues: Array<{ path: string; message: string }> = [];
  for (const { path, query } of queries(policy)) {
    if (typeof query !== 'string') continue; // the schema reports a missing or mistyped query
    const error = promqlSyntaxError(query);
    if (error) issues.push({ path, message: `Invalid value: ${JSON.stringify(query)}: PromQL: ${error}` });
  }
  return issues;
}

/**
 * The windows a query reads over (`x[30s]`, a subquery's `[5m:…]`; not a subquery's step),
 * as written and in seconds. Empty for a query that does not parse.
 */
export function rangeWindows(query: string): Array<{ text: string; seconds: number }> {
  const out: Array<{ text: string; seconds: number }> = [];
  if (promqlSyntaxError(query) !== undefined) return out;
  parser.parse(query).iterate({
    enter: (node) => {
      if (node.name !== 'MatrixSelector' && node.name !== 'SubqueryExpr') return;
      const range = node.node.getChild('DurationExpr');
      if (!range) return;
      const text = query.slice(range.from, range.to);
      const seconds = promqlDurationSeconds(text);
      if (Number.isFinite(seconds)) out.push({ text, seconds });
    },
  });
  return out;
}
