// An independent re-implementation of the Kubernetes HPA controller's replica
// algorithm (pkg/controller/podautoscaler: replica calculator for an external
// metric, stabilizeRecommendationWithBehaviors, convertDesiredReplicasWithBehaviorRate,
// the scale-event bookkeeping), used as the simulator's `hpa-default` and
// `keda-default` baselines. It deliberately shares no code with the Tidemark
// policy engine, so that "Tidemark with default behaviour equals the HPA" is a
// real cross-check rather than a comparison of a function with itself.
//
// Upstream works on wall-clock time.Time; here time is simulated seconds. Upstream
// compares timestamps with After/Before (strict), which is kept: with a 15 s sync
// a scale event exactly one period old no longer counts, and a recommendation
// exactly one window old has left the window. The external metric's value is a
// milli-quantity upstream; here it is a float, which only matters for values
// within 0.001 of a tolerance boundary.

export interface HpaRule {
  type: 'Pods' | 'Percent';
  value: number;
  periodSeconds: number;
}

export interface HpaDirectionBehavior {
  stabilizationWindowSeconds: number;
  selectPolicy: 'Max' | 'Min' | 'Disabled';
  policies: HpaRule[];
}

export interface HpaBehavior {
  tolerance: number;
  scaleUp: HpaDirectionBehavior;
  scaleDown: HpaDirectionBehavior;
}

/** autoscaling/v2 defaults (SetDefaults_HorizontalPodAutoscalerBehavior) and the controller's 0.1 tolerance. */
export function defaultHpaBehavior(): HpaBehavior {
  return {
    tolerance: 0.1,
    scaleUp: {
      stabilizationWindowSeconds: 0,
      selectPolicy: 'Max',
      policies: [
        { type: 'Percent', value: 100, periodSeconds: 15 },
        { type: 'Pods', value: 4, periodSeconds: 15 },
      ],
    },
    scaleDown: {
      stabilizationWindowSeconds: 300,
      selectPolicy: 'Max',
      policies: [{ type: 'Percent', value: 100, periodSeconds: 15 }],
    },
  };
}

export interface HpaConfig {
  minReplicas: number;
  maxReplicas: number;
  /** Per replica for AverageValue, total for Value. */
  target: number;
  targetType: 'AverageValue' | 'Value';
  behavior?: HpaBehavior;
}

interface Recommendation {
  t: number;
  replicas: number;
}

interface ScaleEvent {
  t: number;
  change: number;
  outdated: boolean;
}

/** One HorizontalPodAutoscaler object and the controller's in-memory state for it. */
export class HpaController {
  readonly #cfg: HpaConfig;
  readonly #b: HpaBehavior;
  #recommendations: Recommendation[] | undefined;
  readonly #upEvents: ScaleEvent[] = [];
  readonly #downEvents: ScaleEvent[] = [];

  constructor(cfg: HpaConfig) {
    this.#cfg = cfg;
    this.#b = cfg.behavior ?? defaultHpaBehavior();
  }

  /**
   * One sync (reconcileAutoscaler). `metric` is undefined when the metric query
   * failed. Returns the replicas the target should have (the current count when
   * the controller does not rescale). `readyReplicas` is the ready pod count, which a
   * Value target multiplies (getUsageRatioReplicaCount); it defaults to the current count.
   */
  sync(
    now: number,
    currentReplicas: number,
    metric: number | undefined,
    readyReplicas = currentReplicas,
  ): number {
    const { minReplicas, maxReplicas } = this.#cfg;
    if (this.#recommendations === undefined) this.#recommendations = [{ t: now, replicas: currentReplicas }];

    let desired: number;
    if (currentReplicas === 0 && minReplicas !== 0) {
      return currentReplicas; // "scaling is disabled since the replica count of the target is zero"
    } else if (currentReplicas > maxReplicas) {
      desired = maxReplicas;
    } else if (currentReplicas < minReplicas) {
      desired = minReplicas;
    } else {
      // One metric: a failed metric is an error for the whole sync and nothing changes
      // (computeReplicasForMetrics returns an error when every metric is invalid).
      if (metric === undefined) return currentReplicas;
      const proposal = this.#replicasForMetric(currentReplicas, readyReplicas, metric);
      desired = this.#normalize(now, currentReplicas, proposal);
    }
    if (desired !== currentReplicas) this.#storeScaleEvent(now, currentReplicas, desired);
    return desired;
  }

  /** GetExternalPerPodMetricReplicas (AverageValue) and GetExternalMetricReplicas (Value). */
  #replicasForMetric(current: number, ready: number, usage: number): number {
    const { target, targetType } = this.#cfg;
    const tolerance = this.#b.tolerance;
    if (targetType === 'AverageValue') {
      const ratio = usage / (target * current);
      return within(ratio, tolerance) ? current : Math.ceil(usage / target);
    }
    const ratio = usage / target;
    return within(ratio, tolerance) ? current : Math.ceil(ratio * ready);
  }

  /** normalizeDesiredReplicasWithBehaviors. */
  #normalize(now: number, current: number, proposal: number): number {
    const stabilized = this.#stabilize(now, current, proposal);
    return this.#rateLimit(now, current, stabilized);
  }

  /** stabilizeRecommendationWithBehaviors: hold within [min of the up window, max of the down window]. */
  #stabilize(now: number, current: number, proposal: number): number {
    const recs = this.#recommendations!;
    const upCutoff = now - this.#b.scaleUp.stabilizationWindowSeconds;
    const downCutoff = now - this.#b.scaleDown.stabilizationWindowSeconds;
    let up = proposal;
    let down = proposal;
    let oldIndex = -1;
    for (let i = 0; i < recs.length; i++) {
      const r = recs[i]!;
      if (r.t > upCutoff) up = Math.min(r.replicas, up);
      if (r.t > downCutoff) down = Math.max(r.replicas, down);
      if (r.t < upCutoff && r.t < downCutoff) oldIndex = i;
    }
    let recommendation = current;
    if (recommendation < up) recommendation = up;
    if (recommendation > down) recommendation = down;
    // Upstream reuses the last slot that has left both windows instead of growing the list.
    if (oldIndex >= 0) recs[oldIndex] = { t: now, replicas: proposal };
    else recs.push({ t: now, replicas: proposal });
    return recommendation;
  }

  /** convertDesiredReplicasWithBehaviorRate. */
  #rateLimit(now: number, current: number, desired: number): number {
    const { minReplicas, maxReplicas } = this.#cfg;
    if (desired > current) {
      let limit = this.#scaleUpLimit(now, current);
      if (limit < current) limit = current;
      const maxAllowed = Math.min(maxReplicas, limit);
      return Math.min(desired, maxAllowed);
    }
    if (desired < current) {
      let limit = this.#scaleDownLimit(now, current);
      if (limit > current) limit = current;
      const minAllowed = Math.max(minReplicas, limit);
      return Math.max(desired, minAllowed);
    }
    return desired;
  }

  #periodStart(now: number, current: number, periodSeconds: number): number {
    return (
      current -
      changeInPeriod(now, periodSeconds, this.#upEvents) +
      changeInPeriod(now, periodSeconds, this.#downEvents)
    );
  }

  /** calculateScaleUpLimitWithScalingRules. */
  #scaleUpLimit(now: number, current: number): number {
    const rules = this.#b.scaleUp;
    if (rules.selectPolicy === 'Disabled') return current;
    const pick = rules.selectPolicy === 'Min' ? Math.min : Math.max;
    let result = rules.selectPolicy === 'Min' ? Number.MAX_SAFE_INTEGER : Number.MIN_SAFE_INTEGER;
    for (const p of rules.policies) {
      const start = this.#periodStart(now, current, p.periodSeconds);
      const proposed = p.type === 'Pods' ? start + p.value : Math.ceil(start * (1 + p.value / 100));
      result = pick(result, proposed);
    }
    return result;
  }

  /** calculateScaleDownLimitWithBehaviors. */
  #scaleDownLimit(now: number, current: number): number {
    const rules = this.#b.scaleDown;
    if (rules.selectPolicy === 'Disabled') return current;
    const pick = rules.selectPolicy === 'Min' ? Math.max : Math.min;
    let result = rules.selectPolicy === 'Min' ? Number.MIN_SAFE_INTEGER : Number.MAX_SAFE_INTEGER;
    for (const p of rules.policies) {
      const start = this.#periodStart(now, current, p.periodSeconds);
      // Go's int32(float64) truncates toward zero.
      const proposed = p.type === 'Pods' ? start - p.value : Math.trunc(start * (1 - p.value / 100));
      result = pick(result, proposed);
    }
    return result;
  }

  /** storeScaleEvent: mark events older than the longest period outdated and reuse such a slot. */
  #storeScaleEvent(now: number, prev: number, next: number): void {
    const up = next > prev;
    const events = up ? this.#upEvents : this.#downEvents;
    const rules = up ? this.#b.scaleUp : this.#b.scaleDown;
    const longest = rules.policies.reduce((m, p) => Math.max(m, p.periodSeconds), 0);
    let oldIndex = -1;
    for (let i = 0; i < events.length; i++) {
      if (events[i]!.t < now - longest) events[i]!.outdated = true;
      if (events[i]!.outdated) oldIndex = i;
    }
    const event = { t: now, change: Math.abs(next - prev), outdated: false };
    if (oldIndex >= 0) events[oldIndex] = event;
    else events.push(event);
  }
}

/** Tolerances.isWithin: an inclusive band, written as upstream writes it (float rounding at the edges matters). */
function within(ratio: number, tolerance: number): boolean {
  return 1.0 - tolerance <= ratio && ratio <= 1.0 + tolerance;
}

/** getReplicasChangePerPeriod: replicas changed by events strictly inside the last period. */
function changeInPeriod(now: number, periodSeconds: number, events: ScaleEvent[]): number {
  const cutoff = now - periodSeconds;
  let sum = 0;
  for (const e of events) if (e.t > cutoff) sum += e.change;
  return sum;
}
