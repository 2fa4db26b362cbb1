import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { ShadowScores } from '../core/types.ts';

/**
 * The operator's own metrics, named as in CONTRIBUTING.md (shared with the
 * dashboards and the alerts). Everything is registered on an injected registry,
 * never prom-client's global one, so tests and several operators in one process
 * do not share state.
 */
/**
 * How much /metrics says per policy. `basic` (the default) keeps what a dashboard needs of
 * every policy at any scale: desired and current replicas, a condition only while it is not
 * healthy, fallback only while active, and a policy's errors and Level 5 series once it has
 * them; about 150 bytes per idle policy. `detailed` adds per policy the limits, each metric's
 * value and target, and every condition in every state (about 1 KB per policy: 10 MB at
 * 10,000 policies), for the per-policy dashboard's metric panel at small scale.
 */
export type PolicyMetricsLevel = 'basic' | 'detailed';

/**
 * Conditions that are healthy when True; every other condition is healthy when False. In
 * `basic`, a condition's series is exported only while it is not healthy.
 */
export const HEALTHY_WHEN_TRUE: readonly string[] = ['Ready', 'AbleToScale', 'Active', 'ForecastReady'];

export interface OperatorMetrics {
  registry: Registry;
  /** See PolicyMetricsLevel. */
  level: PolicyMetricsLevel;
  desiredReplicas: Gauge<'namespace' | 'policy'>;
  currentReplicas: Gauge<'namespace' | 'policy'>;
  minReplicas: Gauge<'namespace' | 'policy'>;
  maxReplicas: Gauge<'namespace' | 'policy'>;
  metricValue: Gauge<'namespace' | 'policy' | 'metric'>;
  metricTarget: Gauge<'namespace' | 'policy' | 'metric'>;
  condition: Gauge<'namespace' | 'policy' | 'condition'>;
  fallbackActive: Gauge<'namespace' | 'policy'>;
  /** Per namespace, not per policy: a counter per policy and outcome was most of /metrics at scale. */
  decisions: Counter<'namespace' | 'direction' | 'limited_by'>;
  scalingActions: Counter<'namespace' | 'direction'>;
  metricErrors: Counter<'namespace' | 'policy' | 'metric' | 'kind'>;
  queryDuration: Histogram<'outcome'>;
  queryErrors: Counter<'kind'>;
  tickDuration: Histogram<string>;
  forecastValue: Gauge<'namespace' | 'policy' | 'metric' | 'bound'>;
  forecastReplicas: Gauge<'namespace' | 'policy'>;
  anomalies: Counter<'namespace' | 'policy' | 'metric' | 'kind'>;
  tunedScaleDownStabilization: Gauge<'namespace' | 'policy'>;
  /** The shadow evaluation's window scores, per path (level5, reactive) and score. */
  autopilotScore: Gauge<'namespace' | 'policy' | 'path' | 'score'>;
  /** 1 while Level 5 acts, 0 while it stands aside as not beneficial. */
  autopilotActing: Gauge<'namespace' | 'policy'>;
  leader: Gauge<string>;
  policiesWatched: Gauge<string>;
  shardPolicies: Gauge<string>;
  shardMembers: Gauge<string>;
  statusWrites: Counter<'outcome'>;
  apiRequests: Counter<'verb' | 'code' | 'resource'>;
  apiThrottleWait: Histogram<'source'>;
  events: Counter<'outcome'>;
  /** Drops every per-policy series of a deleted policy, so /metrics does not keep ghosts. */
  forgetPolicy(namespace: string, policy: string): Promise<void>;
  /** A policy's condition, exported as the level asks (always, or while not healthy). */
  setCondition(labels: PolicyLabels, type: string, status: string): void;
  /** A policy's fallback state, exported as the level asks (always, or while active). */
  setFallback(labels: PolicyLabels, active: boolean): void;
}

export interface PolicyLabels {
  namespace: string;
  policy: string;
}

type Factories = ReturnType<typeof factories>;

function factories(registry: Registry) {
  const registers = [registry];
  return {
    registers,
    gauge: <L extends string>(name: string, help: string, labelNames: readonly L[]) =>
      new Gauge<L>({ name, help, labelNames, registers }),
    counter: <L extends string>(name: string, help: string, labelNames: readonly L[]) =>
      new Counter<L>({ name, help, labelNames, registers }),
  };
}

const pol = ['namespace', 'policy'] as const;
const perMetric = ['namespace', 'policy', 'metric'] as const;

/** The per-policy series of every policy: replicas, metrics, conditions, decisions. */
function policyMetrics({ gauge, counter }: Factories) {
  return {
    desiredReplicas: gauge('tidemark_policy_desired_replicas', 'Replicas of the last decision.', pol),
    currentReplicas: gauge('tidemark_policy_current_replicas', "The target's spec.replicas.", pol),
    minReplicas: gauge('tidemark_policy_min_replicas', 'The policy minimum.', pol),
    maxReplicas: gauge('tidemark_policy_max_replicas', 'The policy maximum.', pol),
    metricValue: gauge('tidemark_policy_metric_value', 'Last observed metric value.', perMetric),
    metricTarget: gauge('tidemark_policy_metric_target', 'Metric target value.', perMetric),
    condition: gauge('tidemark_policy_condition', '1 when the condition is True, else 0.', [
      ...pol,
      'condition',
    ] as const),
    fallbackActive: gauge('tidemark_policy_fallback_active', '1 while fallback replicas apply.', pol),
    metricErrors: counter('tidemark_metric_errors_total', 'Failed observations by ObservationErrorKind.', [
      ...perMetric,
      'kind',
    ] as const),
  };
}

/** Counters of every policy's ticks, summed per namespace. */
function namespaceMetrics({ counter }: Factories) {
  return {
    decisions: counter('tidemark_decisions_total', 'Decisions taken, per namespace.', [
      'namespace',
      'direction',
      'limited_by',
    ] as const),
    scalingActions: counter('tidemark_scaling_actions_total', 'Scale patches sent, per namespace.', [
      'namespace',
      'direction',
    ] as const),
  };
}

/** The per-policy series of the Level 5 stages (only for policies that switch them on). */
function level5Metrics({ gauge, counter }: Factories) {
  return {
    forecastValue: gauge('tidemark_forecast_value', 'Forecast of the metric at now + lead time.', [
      ...perMetric,
      'bound',
    ] as const),
    forecastReplicas: gauge('tidemark_forecast_replicas', 'Replicas the forecast proposes.', pol),
    anomalies: counter('tidemark_anomalies_total', 'Anomalies detected.', [...perMetric, 'kind'] as const),
    tunedScaleDownStabilization: gauge(
      'tidemark_tuned_scale_down_stabilization_seconds',
      'Self-tuned scale-down stabilization window.',
      pol,
    ),
    autopilotScore: gauge(
      'tidemark_autopilot_score',
      'Shadow evaluation over its window: replica_seconds, miss_ticks and reversals of the level5 and reactive paths.',
      [...pol, 'path', 'score'] as const,
    ),
    autopilotActing: gauge(
      'tidemark_autopilot_acting',
      '1 while Level 5 acts, 0 while it stands aside (not beneficial).',
      pol,
    ),
  };
}

/** The operator's own series: queries, ticks, leadership, status writes, the API client. */
function processMetrics({ registers, counter }: Factories) {
  return {
    queryDuration: new Histogram<'outcome'>({
      name: 'tidemark_prometheus_query_duration_seconds',
      help: 'PromQL query latency.',
      labelNames: ['outcome'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    }),
    queryErrors: counter('tidemark_prometheus_query_errors_total', 'Failed PromQL queries.', [
      'kind',
    ] as const),
    tickDuration: new Histogram({
      name: 'tidemark_tick_duration_seconds',
      help: "From a policy's due time to its decision.",
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30],
      registers,
    }),
    leader: new Gauge({ name: 'tidemark_leader', help: '1 on the leader.', registers }),
    policiesWatched: new Gauge({
      name: 'tidemark_policies_watched',
      help: 'ScalingPolicies known to this process.',
      registers,
    }),
    shardPolicies: new Gauge({
      name: 'tidemark_shard_policies',
      help: 'Policies this replica acts on (--sharding=on; 0 otherwise).',
      registers,
    }),
    shardMembers: new Gauge({
      name: 'tidemark_shard_members',
      help: 'Live members this replica sees (--sharding=on; 0 otherwise).',
      registers,
    }),
    // Not in the shared table: lets the scale benchmark show that an idle policy writes nothing.
    statusWrites: counter('tidemark_status_writes_total', 'Status subresource writes by outcome.', [
      'outcome',
    ] as const),
    ...apiClientMetrics({ registers, counter }),
  };
}

/**
 * The API client (docs/api-client.md): every attempt by verb and HTTP code (429 = API
 * Priority and Fairness said wait; deadline = abandoned), and the time spent waiting.
 */
function apiClientMetrics({ registers, counter }: Pick<Factories, 'registers' | 'counter'>) {
  return {
    apiRequests: counter(
      'tidemark_api_requests_total',
      'Kubernetes API requests by verb, code and resource (deployments/scale, scalingpolicies/status, ...).',
      ['verb', 'code', 'resource'] as const,
    ),
    apiThrottleWait: new Histogram<'source'>({
      name: 'tidemark_api_throttle_wait_seconds',
      help: 'Waits before an API request: client-side QPS limit (client) or a 429 Retry-After (server).',
      labelNames: ['source'],
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10],
      registers,
    }),
    events: counter(
      'tidemark_events_total',
      'Kubernetes Events by outcome (created, updated, spam_dropped, queue_dropped, failed).',
      ['outcome'] as const,
    ),
  };
}

export function createOperatorMetrics(
  registry: Registry = new Registry(),
  level: PolicyMetricsLevel = 'basic',
): OperatorMetrics {
  const f = factories(registry);
  const perPolicy = { ...policyMetrics(f), ...level5Metrics(f) };
  const detailed = level === 'detailed';
  return {
    registry,
    level,
    ...perPolicy,
    ...namespaceMetrics(f),
    ...processMetrics(f),
    setCondition(labels, type, status) {
      const l = { ...labels, condition: type };
      if (detailed || status !== (HEALTHY_WHEN_TRUE.includes(type) ? 'True' : 'False'))
        perPolicy.condition.set(l, status === 'True' ? 1 : 0);
      else perPolicy.condition.remove(l);
    },
    setFallback(labels, active) {
      if (detailed || active) perPolicy.fallbackActive.set(labels, active ? 1 : 0);
      else perPolicy.fallbackActive.remove(labels);
    },
    async forgetPolicy(namespace, policy) {
      // remove() needs the full label set, so find every series of the policy first.
      for (const metric of Object.values(perPolicy) as Array<Gauge<string>>) {
        const { values } = await metric.get();
        for (const v of values) {
          if (v.labels.namespace === namespace && v.labels.policy === policy) metric.remove(v.labels);
        }
      }
    },
  };
}

/** Sets a policy's shadow-evaluation series from a decision's scores (7 series per policy). */
export function observeEvaluation(
  m: Pick<OperatorMetrics, 'autopilotScore' | 'autopilotActing'>,
  labels: { namespace: string; policy: string },
  e: ShadowScores | undefined,
): void {
  if (!e) return;
  m.autopilotActing.set(labels, e.acting ? 1 : 0);
  for (const path of ['level5', 'reactive'] as const) {
    const p = e[path];
    m.autopilotScore.set({ ...labels, path, score: 'replica_seconds' }, p.replicaSeconds);
    m.autopilotScore.set({ ...labels, path, score: 'miss_ticks' }, p.missTicks);
    m.autopilotScore.set({ ...labels, path, score: 'reversals' }, p.reversals);
  }
}

/** Which of the webhook's certificates an expiry series is about. */
export type WebhookCertificate = 'serving' | 'ca';

/**
 * The conversion webhook's series, on the operator's registry so that they are served on its
 * metrics port (docs/operator.md lists them). Created only where the webhook runs.
 */
export interface WebhookMetrics {
  /** Every request to /convert, by the HTTP code answered (`aborted`: body over the limit). */
  requests: Counter<'code'>;
  /** Objects converted, by the version they came in and the one they went out in. */
  conversions: Counter<'from_version' | 'to_version'>;
  /** Reviews answered Failure: `malformed` (not a usable review), `conversion`, `too_large`. */
  failures: Counter<'reason'>;
  /** From the request's arrival to the end of the answer. */
  duration: Histogram<string>;
  /** The notAfter (ms since the epoch) the expiry series counts down to. */
  setCertificate(certificate: WebhookCertificate, notAfterMs: number): void;
}

export function createWebhookMetrics(registry: Registry, now: () => number = Date.now): WebhookMetrics {
  const { counter, registers } = factories(registry);
  const notAfter = new Map<WebhookCertificate, number>();
  // Seconds left, computed when scraped: a value set at load time would stand still.
  new Gauge<'certificate'>({
    name: 'tidemark_webhook_certificate_expiry_seconds',
    help: "Seconds until the notAfter of the webhook's serving certificate and of the CA that issued it.",
    labelNames: ['certificate'],
    registers,
    collect() {
      for (const [certificate, ms] of notAfter) this.set({ certificate }, (ms - now()) / 1000);
    },
  });
  return {
    requests: counter('tidemark_webhook_requests_total', 'Conversion webhook requests by HTTP code.', [
      'code',
    ] as const),
    conversions: counter(
      'tidemark_webhook_conversions_total',
      'Objects the conversion webhook converted, by from and to version.',
      ['from_version', 'to_version'] as const,
    ),
    failures: counter(
      'tidemark_webhook_failures_total',
      'Conversion requests answered with a Failure, by reason (malformed, conversion, too_large).',
      ['reason'] as const,
    ),
    duration: new Histogram({
      name: 'tidemark_webhook_request_duration_seconds',
      help: 'Conversion webhook request latency, from arrival to the end of the answer.',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    }),
    setCertificate(certificate, ms) {
      notAfter.set(certificate, ms);
    },
  };
}
