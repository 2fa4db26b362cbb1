// Builders shared by the policy tests.
import type { RatePolicy } from '../../src/core/hpa-arithmetic.ts';
import type { EngineState, MetricObservation, PolicySpec } from '../../src/policy/types.ts';

export const T0 = 1_700_000_000_000;

type Behavior = PolicySpec['behavior'];
type Direction = Behavior['scaleUp'];

export interface SpecOptions {
  minReplicas?: number;
  maxReplicas?: number;
  tolerance?: number;
  scaleUp?: Partial<Direction>;
  scaleDown?: Partial<Direction>;
  metrics?: PolicySpec['metrics'];
  fallback?: PolicySpec['fallback'];
}

/** The CRD's defaults (the HPA's): scale-up 100%/15s or 4 pods/15s, scale-down 100%/15s after a 300 s window. */
export function hpaDefaultUp(): Direction {
  return {
    stabilizationWindowSeconds: 0,
    cooldownSeconds: 0,
    selectPolicy: 'Max',
    policies: [
      { type: 'Percent', value: 100, periodSeconds: 15 },
      { type: 'Pods', value: 4, periodSeconds: 15 },
    ],
  };
}

export function hpaDefaultDown(): Direction {
  return {
    stabilizationWindowSeconds: 300,
    cooldownSeconds: 0,
    selectPolicy: 'Max',
    policies: [{ type: 'Percent', value: 100, periodSeconds: 15 }],
  };
}

export function makeSpec(o: SpecOptions = {}): PolicySpec {
  return {
    targetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' },
    minReplicas: o.minReplicas ?? 1,
    maxReplicas: o.maxReplicas ?? 10,
    pollingIntervalSeconds: 15,
    mode: 'Active',
    prometheus: { address: 'http://prometheus:9090', insecureSkipVerify: false, timeoutSeconds: 5 },
    metrics: o.metrics ?? [
      { name: 'rps', query: 'sum(rate(x[1m]))', target: { type: 'AverageValue', value: '50' } },
    ],
    behavior: {
      tolerance: o.tolerance ?? 0.1,
      scaleUp: { ...hpaDefaultUp(), ...o.scaleUp },
      scaleDown: { ...hpaDefaultDown(), ...o.scaleDown },
    },
    ...(o.fallback !== undefined ? { fallback: o.fallback } : {}),
  };
}

/** Upstream generateScalingRules(pods, podsPeriod, percent, percentPeriod, stabilizationWindow), selectPolicy Max. */
export function rules(
  pods: number,
  podsPeriod: number,
  percent: number,
  percentPeriod: number,
  window: number,
): Partial<Direction> {
  const policies: RatePolicy[] = [];
  if (pods !== 0) policies.push({ type: 'Pods', value: pods, periodSeconds: podsPeriod });
  if (percent !== 0) policies.push({ type: 'Percent', value: percent, periodSeconds: percentPeriod });
  return { selectPolicy: 'Max', stabilizationWindowSeconds: window, policies };
}

/** Upstream generateEventsUniformDistribution: events spread over the last periodSeconds, each centred in its segment. */
export function uniformEvents(
  changes: number[],
  periodSeconds: number,
  now = T0,
): Array<{ t: number; change: number }> {
  const seg = periodSeconds / changes.length;
  return changes.map((change, i) => ({ t: now - (periodSeconds - seg * (i + 1) + seg / 2) * 1000, change }));
}

export function emptyState(partial: Partial<EngineState> = {}): EngineState {
  return {
    version: 1,
    recommendations: [],
    scaleUpEvents: [],
    scaleDownEvents: [],
    consecutiveFailures: 0,
    ...partial,
  };
}

export function ok(name: string, value: number): MetricObservation {
  return { name, ok: true, value };
}

export function failed(name: string): MetricObservation {
  return { name, ok: false, error: { kind: 'timeout', message: 'query timed out' } };
}
