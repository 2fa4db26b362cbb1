// The metrics collector: PromQL in, typed observations out (docs/architecture.md, "Data flow").
//
// API (everything the operator needs):
//
//   const addressPolicy = new AddressPolicy(['http://prometheus.monitoring.svc:9090']); // throws on a bad entry
//   const collector = new Collector({
//     addressPolicy,
//     readSecret: (ns, name) => core.readNamespacedSecret({ namespace: ns, name }), // V1Secret (base64 `data`);
//                                     // undefined or a 404 error (statusCode/code 404) when missing.
//     observer: { onQuery(e) { ... } },          // optional; one QueryEvent per HTTP request (retries included)
//     logger,                                    // optional; pino-compatible debug/warn
//   });
//   const { observations, problem, insecureTLS } = await collector.observe({ namespace, spec }, { signal });
//   const history = await collector.queryRange({ namespace, spec }, query, startMs, endMs, stepSeconds);
//   collector.close();                           // on shutdown: aborts in-flight requests, closes sockets
//
// observe() never rejects because of Prometheus or a metric:
// - `observations` has one MetricObservation per spec.metrics entry, in order; a
//   failed metric carries an ObservationError (kind + a message safe to show in
//   status and Events), never a number.
// - `problem` is set when the policy cannot be queried at all. `problem.invalidPolicy`
//   true (reasons InvalidAddress, AddressNotAllowed, SecretInvalid): report
//   InvalidPolicy and do not run the engine. false (SecretNotFound, SecretForbidden,
//   SecretUnreadable): may heal by itself; the observations all failed with kind
//   'unreachable', so the engine holds scale-down and counts towards fallback.
// - `insecureTLS`: spec.prometheus.insecureSkipVerify on an https address → condition InsecureTLS.
//
// Semantics:
// - Address allow-list: see address-policy.ts for the rule (normalised origin equal,
//   path at or under the entry's path at a segment boundary, no userinfo/query/fragment,
//   empty list allows nothing). No redirects are followed.
// - Credentials: spec.prometheus.authSecretRef.name, read with readSecret(policy's own
//   namespace, name) and reused for secretTtlMs (10 s). Keys `token` (bearer) or
//   `username` + `password` (basic), optional `ca.crt`. No value ever appears in an
//   error, a log line or an event; messages built from outside text are redacted.
// - TLS: certificates are verified (system CAs plus `ca.crt`) unless insecureSkipVerify.
// - Dedupe: requests with the same (address, credentials identity, TLS setting, timeout,
//   query) share one HTTP request while it is in flight and for dedupeWindowMs (1 s)
//   after it started, so policies ticking a few ms apart send each query once.
// - Timeout: spec.prometheus.timeoutSeconds per attempt, as a wall-clock deadline
//   (a slow-dripping response is cut too). Also sent to Prometheus as `timeout`.
// - Retries: transient failures only (timeout, connection errors, HTTP 5xx and 429),
//   up to 3 attempts, full-jitter exponential backoff from 200 ms capped at 2 s, and
//   never past the policy's polling interval. 400/422 (bad-query), other 4xx, TLS
//   verification failures, oversized responses are not retried.
// - Classification (classify.ts): scalar or one-series vector accepted; empty vector
//   → empty; several series → multiple-series; matrix/string/native histogram →
//   not-scalar; NaN → nan; ±Inf → infinite; < 0 → negative; > maxValue (1e15) →
//   too-large; response over maxResponseBytes (4 MiB) → too-large (aborted while
//   streaming); sample timestamp older than staleAfterMs (default max(2 × polling
//   interval, 30 s)) → stale. An instant query's sample time is its evaluation time,
//   so `stale` catches a Prometheus (or a caching proxy in front of it) answering
//   from the past; a series that stops being scraped drops out after Prometheus' own
//   5 min lookback and shows as `empty`. HTTP: 400/422 → bad-query, other statuses →
//   http-error, Prometheus' own evaluation timeout (503) or our deadline → timeout,
//   connection and TLS failures → unreachable.
// - Range queries (forecaster history): chunks of at most 10,000 points (Prometheus
//   allows 11,000 per series), step-aligned, fetched in order; points are [epoch ms,
//   value]; gaps stay gaps; NaN/±Inf/negative/too-large points are dropped; one series
//   expected (several → multiple-series).
// - Metrics hooks: QueryEvent {type, outcome: 'success'|'error', errorKind?,
//   durationSeconds, attempt, willRetry} per HTTP request. Map it to
//   tidemark_prometheus_query_duration_seconds{outcome} and, for errors,
//   tidemark_prometheus_query_errors_total{kind=errorKind}. Value errors (nan, empty,
//   stale, ...) are per metric, not per query: count them from the observations
//   (tidemark_metric_errors_total).

export { type AddressCheck, AddressPolicy } from './address-policy.ts';
export {
  type Classified,
  type ClassifyOptions,
  classifyInstant,
  classifyRange,
  DEFAULT_MAX_VALUE,
  type Point,
  type RawQueryData,
} from './classify.ts';
export {
  type Connection,
  type PromClient,
  PrometheusQueryClient,
  QueryFailure,
  type RequestOptions,
} from './client.ts';
export {
  Collector,
  type CollectorLogger,
  type CollectorOptions,
  type CollectorSpec,
  type PolicyObservations,
  type PolicyProblem,
  type PolicyRef,
  planRangeChunks,
  type QueryEvent,
  type QueryObserver,
  type RangeResult,
} from './collector.ts';
export type { Credentials, ReadSecret, SecretLike } from './credentials.ts';
