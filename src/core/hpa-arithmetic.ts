// The HPA's own arithmetic, as in the Kubernetes controller (pkg/controller/podautoscaler:
// replica_calculator.go and horizontal.go), written for plain numbers and epoch-ms times.
// Kept separate from the pipeline in engine.ts so the conformance tests can pin each
// formula to its upstream counterpart, and so a baseline can reuse them.
//
// Integer behaviour follows Go: the HPA computes in float64 and converts with int32(),
// which truncates toward zero; we do the same with Math.trunc / Math.ceil on the same
// expressions, in the same order, so floating-point rounding matches too.

export const INT32_MAX = 2147483647;

export interface TimedChange {
  /** epoch ms */
  t: number;
  /** replicas added (scale-up events) or removed (scale-down events), always positive */
  change: number;
}

export interface RatePolicy {
  type: 'Pods' | 'Percent';
  value: number;
  periodSeconds: number;
}

export interface ScalingRules {
  selectPolicy: 'Max' | 'Min' | 'Disabled';
  policies: RatePolicy[];
}

/** The HPA's Tolerances (KEP-4951): the band below and above a usage ratio of 1. */
export interface Tolerances {
  scaleDown: number;
  scaleUp: number;
}

/** One number stands for the same band both ways, as before per-direction tolerances. */
export type Tolerance = number | Tolerances;

/** The behaviour's tolerances: each direction's own, else the policy-wide `tolerance` (as the HPA's cluster default). */
export function tolerancesOf(behavior: {
  tolerance: number;
  scaleUp: { tolerance?: number };
  scaleDown: { tolerance?: number };
}): Tolerances {
  return {
    scaleDown: behavior.scaleDown.tolerance ?? behavior.tolerance,
    scaleUp: behavior.scaleUp.tolerance ?? behavior.tolerance,
  };
}

function both(t: Tolerance): Tolerances {
  return typeof t === 'number' ? { scaleDown: t, scaleUp: t } : t;
}

/** HPA Tolerances.isWithin: (1 - scaleDown) <= ratio <= (1 + scaleUp). NaN is never within. */
export function isWithinTolerance(usageRatio: number, tolerance: Tolerance): boolean {
  const t = both(tolerance);
  return 1.0 - t.scaleDown <= usageRatio && usageRatio <= 1.0 + t.scaleUp;
}

function toReplicaCount(x: number): number {
  // The HPA caps at MaxInt32 before converting (getUsageRatioReplicaCount); a huge metric
  // must not become Infinity or an unsafe integer.
  if (!(x < INT32_MAX)) return INT32_MAX;
  return Math.ceil(x);
}

export interface MetricProposal {
  replicas: number;
  usageRatio: number;
  withinTolerance: boolean;
}

/**
 * An AverageValue target, as GetExternalPerPodMetricReplicas / GetObjectPerPodMetricReplicas:
 * ratio = value / (target × current); inside the tolerance the current count, else ceil(value / target).
 * At 0 replicas the ratio is +Inf (or NaN for 0/0), never within tolerance, so the result is ceil(value / target).
 */
export function averageValueProposal(
  value: number,
  target: number,
  currentReplicas: number,
  tolerance: Tolerance,
): MetricProposal {
  const usageRatio = value / (target * currentReplicas);
  if (isWithinTolerance(usageRatio, tolerance)) {
    return { replicas: currentReplicas, usageRatio, withinTolerance: true };
  }
  return { replicas: toReplicaCount(value / target), usageRatio, withinTolerance: false };
}

/**
 * A Value target, as GetExternalMetricReplicas / GetObjectMetricReplicas (getUsageRatioReplicaCount):
 * ratio = value / target; at current ≠ 0, inside the tolerance the current count, else
 * ceil(ratio × ready pods); at current = 0, ceil(ratio).
 * `podCount` is the HPA's ready pod count (the engine passes readyReplicas when known, else current).
 */
export function valueProposal(
  value: number,
  target: number,
  currentReplicas: number,
  podCount: number,
  tolerance: Tolerance,
): MetricProposal {
  const usageRatio = value / target;
  if (currentReplicas !== 0) {
    if (isWithinTolerance(usageRatio, tolerance)) {
      return { replicas: currentReplicas, usageRatio, withinTolerance: true };
    }
    return { replicas: toReplicaCount(usageRatio * podCount), usageRatio, withinTolerance: false };
  }
  return { replicas: toReplicaCount(usageRatio), usageRatio, withinTolerance: false };
}

/** getReplicasChangePerPeriod: the sum of changes strictly after now − period. */
export function replicasChangeInPeriod(
  events: readonly TimedChange[],
  periodSeconds: number,
  now: number,
): number {
  const cutoff = now - periodSeconds * 1000;
  let sum = 0;
  for (const e of events) if (e.t > cutoff) sum += e.change;
  return sum;
}

export interface RateLimit {
  /** The replica bound the rules allow (before the HPA's "not below/above current" fix-up). */
  limit: number;
  /** The policy that set the bound; undefined when scaling is disabled or there are no policies. */
  policy?: RatePolicy;
}

/** Replicas at the start of the policy's period: current, less what was added, plus what was removed in it. */
function periodStartReplicas(
  currentReplicas: number,
  upEvents: readonly TimedChange[],
  downEvents: readonly TimedChange[],
  policy: RatePolicy,
  now: number,
): number {
  const added = replicasChangeInPeriod(upEvents, policy.periodSeconds, now);
  const removed = replicasChangeInPeriod(downEvents, policy.periodSeconds, now);
  return currentReplicas - added + removed;
}

/**
 * calculateScaleUpLimitWithScalingRules: the period start is current − added + removed within
 * each policy's period; Pods adds value, Percent multiplies by (1 + value/100) rounded up;
 * selectPolicy Max takes the largest bound, Min the smallest, Disabled returns current.
 */
export function scaleUpLimit(
  currentReplicas: number,
  upEvents: readonly TimedChange[],
  downEvents: readonly TimedChange[],
  rules: ScalingRules,
  now: number,
): RateLimit {
  if (rules.selectPolicy === 'Disabled') return { limit: currentReplicas };
  const useMin = rules.selectPolicy === 'Min';
  let result = useMin ? Number.POSITIVE_INFINITY : Number.NEGATIVE_INFINITY;
  let chosen: RatePolicy | undefined;
  for (const policy of rules.policies) {
    const periodStart = periodStartReplicas(currentReplicas, upEvents, downEvents, policy, now);
    const proposed =
      policy.type === 'Pods' ? periodStart + policy.value : Math.ceil(periodStart * (1 + policy.value / 100));
    if (useMin ? proposed < result : proposed > result) {
      result = proposed;
      chosen = policy;
    }
  }
  // No policies: the HPA's int32 sentinel stays below current, which then holds current.
  if (chosen === undefined) return { limit: currentReplicas };
  return { limit: result, policy: chosen };
}

/**
 * calculateScaleDownLimitWithBehaviors: Pods subtracts value from the period start, Percent
 * multiplies by (1 − value/100) truncated; selectPolicy Max takes the smallest bound (the
 * largest change), Min the largest, Disabled returns current.
 */
export function scaleDownLimit(
  currentReplicas: number,
  upEvents: readonly TimedChange[],
  downEvents: readonly TimedChange[],
  rules: ScalingRules,
  now: number,
): RateLimit {
  if (rules.selectPolicy === 'Disabled') return { limit: currentReplicas };
  const useMax = rules.selectPolicy === 'Min';
  let result = useMax ? Number.NEGATIVE_INFINITY : Number.POSITIVE_INFINITY;
  let chosen: RatePolicy | undefined;
  for (const policy of rules.policies) {
    const periodStart = periodStartReplicas(currentReplicas, upEvents, downEvents, policy, now);
    const proposed =
      policy.type === 'Pods'
        ? periodStart - policy.value
        : Math.trunc(periodStart * (1 - policy.value / 100));
    if (useMax ? proposed > result : proposed < result) {
      result = proposed;
      chosen = policy;
    }
  }
  if (chosen === undefined) return { limit: currentReplicas };
  return { limit: result, policy: chosen };
}

export interface Stabilized {
  replicas: number;
  /** Lowest recommendation in the scale-up window (including this tick's). */
  upRecommendation: number;
  /** Highest recommendation in the scale-down window (including this tick's). */
  downRecommendation: number;
}

/**
 * stabilizeRecommendationWithBehaviors (the current upstream form): the lowest recommendation
 * in the scale-up window and the highest in the scale-down window bound the current count:
 * the result is current clamped to [upRecommendation, downRecommendation]. A recommendation
 * counts when its time is strictly after now − window.
 */
export function stabilize(
  recommendations: readonly { t: number; replicas: number }[],
  desired: number,
  current: number,
  upWindowSeconds: number,
  downWindowSeconds: number,
  now: number,
): Stabilized {
  const upCutoff = now - upWindowSeconds * 1000;
  const downCutoff = now - downWindowSeconds * 1000;
  let up = desired;
  let down = desired;
  for (const rec of recommendations) {
    if (rec.t > upCutoff && rec.replicas < up) up = rec.replicas;
    if (rec.t > downCutoff && rec.replicas > down) down = rec.replicas;
  }
  let replicas = current;
  if (replicas < up) replicas = up;
  if (replicas > down) replicas = down;
  return { replicas, upRecommendation: up, downRecommendation: down };
}

export function describePolicy(p: RatePolicy): string {
  return p.type === 'Pods' ? `${p.value} pods/${p.periodSeconds}s` : `${p.value}%/${p.periodSeconds}s`;
}
