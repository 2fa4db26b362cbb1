// The operator's Prometheus metrics (prom-client) as a tick updates them: the decision's
// gauges and counters, the Level 5 series, the conditions, scaling actions and status writes.
// The reconciler calls it with the facts; the status and Events come from tick-report.ts.
import type { PolicyObservations } from '../collector/index.ts';
import { type OperatorMetrics, observeEvaluation } from '../metrics/registry.ts';
import type { Decision, EngineState, PolicySpec } from '../policy/types.ts';
import type { Condition } from './status.ts';

/** Which policy a tick's metrics are about. */
export interface PolicyLabels {
  namespace: string;
  policy: string;
}

/**
 * Per policy, the engine's anomaly counts last seen: they are totals since its state began, and
 * the counter gets the increase. Kept in the policy's own memory (the reconciler's), so it goes
 * when the policy goes (deleted, moved to another replica), and a policy that counts no
 * anomalies (no Level 5) holds only the shared NO_ANOMALIES marker, not a table of its own.
 */
export interface AnomalyBaseline {
  anomaliesSeen?: Readonly<Record<string, number>>;
}

/** Seen a tick, no anomaly counted yet: a kind that appears later counts from 0. */
const NO_ANOMALIES: Readonly<Record<string, number>> = Object.freeze({});

/** What a tick decided and did, as the metrics need it. */
export interface DecisionFacts {
  spec: Pick<PolicySpec, 'minReplicas' | 'maxReplicas'>;
  decision: Decision;
  state: EngineState;
  observations: PolicyObservations['observations'];
  /** The target's count after the tick: the new one when it scaled. */
  replicas: number;
  scaled: boolean;
  /** From when the tick was due to when it decided, in seconds. */
  tickSeconds: number;
  /** The policy's memory, where its anomaly baseline is kept. */
  baseline: AnomalyBaseline;
}

export class TickMetrics {
  readonly #m: OperatorMetrics;

  constructor(metrics: OperatorMetrics) {
    this.#m = metrics;
  }

  decision(l: PolicyLabels, f: DecisionFacts): void {
    const m = this.#m;
    const { decision } = f;
    m.tickDuration.observe(f.tickSeconds);
    const perNamespace = { namespace: l.namespace, direction: decision.direction };
    m.decisions.inc({ ...perNamespace, limited_by: decision.limitedBy[0] ?? 'None' });
    if (f.scaled) m.scalingActions.inc(perNamespace);
    m.currentReplicas.set(l, f.replicas);
    m.desiredReplicas.set(l, decision.desiredReplicas);
    m.setFallback(l, decision.fallbackActive);
    // The spec's limits and the metrics' own values are per-policy detail (PolicyMetricsLevel).
    if (m.level === 'detailed') this.#detail(l, f);
    for (const o of f.observations) {
      if (!o.ok) m.metricErrors.inc({ ...l, metric: o.name, kind: o.error.kind });
    }
    const tuned = f.state.tunedScaleDownStabilizationSeconds;
    if (typeof tuned === 'number') m.tunedScaleDownStabilization.set(l, tuned);
    this.#level5(l, decision, f.baseline);
  }

  /** An earlier scale write that the target shows applied after its request failed. */
  lateScale(namespace: string, direction: Decision['direction']): void {
    this.#m.scalingActions.inc({ namespace, direction });
  }

  statusWrite(outcome: 'written' | 'failed'): void {
    this.#m.statusWrites.inc({ outcome });
  }

  conditions(l: PolicyLabels, conditions: Condition[]): void {
    for (const c of conditions) this.#m.setCondition(l, c.type, c.status);
  }

  #detail(l: PolicyLabels, f: DecisionFacts): void {
    const m = this.#m;
    m.minReplicas.set(l, f.spec.minReplicas);
    m.maxReplicas.set(l, f.spec.maxReplicas);
    for (const r of f.decision.metrics) {
      const ml = { ...l, metric: r.name };
      if (Number.isFinite(r.target)) m.metricTarget.set(ml, r.target);
      if (r.value !== undefined) m.metricValue.set(ml, r.value);
    }
  }

  #level5(l: PolicyLabels, decision: Decision, baseline: AnomalyBaseline): void {
    const m = this.#m;
    let forecastReplicas: number | undefined;
    for (const f of decision.forecasts ?? []) {
      const fl = { ...l, metric: f.metric };
      m.forecastValue.set({ ...fl, bound: 'point' }, f.value);
      m.forecastValue.set({ ...fl, bound: 'lower' }, f.lower);
      m.forecastValue.set({ ...fl, bound: 'upper' }, f.upper);
      if (f.ready) forecastReplicas = Math.max(forecastReplicas ?? 0, f.replicas);
    }
    if (forecastReplicas !== undefined) m.forecastReplicas.set(l, forecastReplicas);
    observeEvaluation(m, l, decision.evaluation);
    this.#anomalies(l, decision.anomalyCounts, baseline);
  }

  #anomalies(l: PolicyLabels, counts: Decision['anomalyCounts'], baseline: AnomalyBaseline): void {
    // On the policy's first tick in this process its counts (restored from status) are the
    // baseline; after that a kind not seen before counts from 0.
    const known = baseline.anomaliesSeen;
    const metrics = Object.entries(counts ?? {});
    if (metrics.length === 0) {
      baseline.anomaliesSeen = known ?? NO_ANOMALIES;
      return;
    }
    const seen = (known === undefined || known === NO_ANOMALIES ? {} : known) as Record<string, number>;
    for (const [metric, kinds] of metrics) {
      for (const [kind, n] of Object.entries(kinds ?? {})) {
        const k = `${metric}\u0000${kind}`;
        const before = seen[k] ?? (known ? 0 : undefined);
        if (before !== undefined && n > before) this.#m.anomalies.inc({ ...l, metric, kind }, n - before);
        seen[k] = n;
      }
    }
    baseline.anomaliesSeen = seen;
  }
}
