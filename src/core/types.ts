// The policy engine's contract. The engine is pure: the same input always gives
// the same output, with no I/O, no clock and no globals, so the operator, the
// simulator and the tests all run exactly the same decisions.
import type { ScalingPolicySpecDefaulted, ScalingPolicyStatus } from '../crd/types.generated.ts';

/** A policy spec after the CRD's defaults were applied (by the API server or PolicyValidator). */
export type PolicySpec = ScalingPolicySpecDefaulted;

/** Why a metric has no usable value this tick. A failed metric is never a number. */
export type ObservationErrorKind =
  | 'timeout'
  | 'unreachable'
  | 'http-error'
  | 'bad-query'
  | 'empty'
  | 'multiple-series'
  | 'not-scalar'
  | 'nan'
  | 'infinite'
  | 'negative'
  | 'stale'
  | 'too-large';

export interface ObservationError {
  kind: ObservationErrorKind;
  message: string;
}

export type MetricObservation =
  | {
      name: string;
      ok: true;
      value: number;
      /** epoch ms of the sample */
      sampledAt?: number;
    }
  | { name: string; ok: false; error: ObservationError };

/** What limited (or shaped) the decision. A closed set, shown in status and Events. */
export type LimitReason =
  | 'None'
  | 'WithinTolerance'
  | 'ScaleUpStabilization'
  | 'ScaleDownStabilization'
  | 'ScaleUpRateLimit'
  | 'ScaleDownRateLimit'
  | 'ScaleUpCooldown'
  | 'ScaleDownCooldown'
  | 'ScaleUpDisabled'
  | 'ScaleDownDisabled'
  | 'MinReplicas'
  | 'MaxReplicas'
  | 'MetricFailureHoldsScaleDown'
  /** Every metric failed this tick and the fallback threshold is not reached yet: the current count holds. */
  | 'MetricsUnavailable'
  | 'Fallback'
  | 'BelowActivation'
  /** minReplicas 0: every metric is at or below activation, but not yet for behavior.scaleToZeroDelaySeconds. */
  | 'ScaleToZeroDelay'
  | 'Forecast'
  | 'AnomalyHeld'
  | 'ScalingIneffective';

export interface MetricResult {
  name: string;
  /** The observed value, when the metric succeeded. */
  value?: number;
  /** The target value (per replica for AverageValue). */
  target: number;
  /**
   * AverageValue only: the load per replica at which users feel it (≥ target), where a miss
   * starts for the shadow evaluation; Level 5 may run between the target and it.
   */
  capacity?: number;
  targetType: 'AverageValue' | 'Value';
  /** Replicas this metric alone proposes. */
  proposedReplicas?: number;
  /** Why the metric failed, when it did. */
  error?: ObservationError;
  /** True when the usage ratio was inside the tolerance band, so the metric proposed the current count. */
  withinTolerance?: boolean;
}

/** A Kubernetes Event the reconciler should record, decided by the engine so the simulator sees it too. */
export interface EngineEvent {
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
}

/** Kinds of anomalous metric input (tidemark_anomalies_total's `kind` label). */
export type AnomalyKind =
  | 'drop'
  | 'dropToZero'
  | 'surge'
  | 'spike'
  | 'erratic'
  | 'doubled'
  | 'missing'
  | 'stale';

/** A status condition the Level 5 mechanisms own; present only for mechanisms that are enabled. */
export interface DecisionCondition {
  type: 'AnomalyDetected' | 'ScalingIneffective' | 'ForecastReady';
  status: 'True' | 'False';
  /** CamelCase, e.g. InputAnomalous, StandingAside. */
  reason: string;
  message: string;
}

/** One metric's forecast at now + lead time, in the metric's own units. */
export interface MetricForecast {
  metric: string;
  value: number;
  lower: number;
  upper: number;
  /** Replicas this metric's forecast proposes. */
  replicas: number;
  /** False while the forecaster stands aside (too little history, error too high, gap). */
  ready: boolean;
}

/** One path's scores over the shadow evaluation's window (src/level5/shadow.ts). */
export interface PathScore {
  replicaSeconds: number;
  /** Ticks whose load per ready replica was above what the target allows (tolerance included). */
  missTicks: number;
  reversals: number;
}

/** The shadow evaluation: Level 5 against the HPA-compatible reactive path, on the observed load. */
export interface ShadowScores {
  /** Whether Level 5 acts (it stands aside while it does worse than the reactive path). */
  acting: boolean;
  windowSeconds: number;
  /** Seconds of scored ticks in the window. */
  evidenceSeconds: number;
  level5: PathScore;
  reactive: PathScore;
  /** What acting cost over the reactive path in the window (≤ 0 on each score while it may act). */
  excess: PathScore;
  /** The Level 5 variant these scores are of (e.g. "forecast", "forecast@85%"). */
  variant?: string;
}

export interface Decision {
  currentReplicas: number;
  desiredReplicas: number;
  /** The proposal before stabilization, rate limits, cooldowns and clamping. */
  proposedReplicas: number;
  direction: 'Up' | 'Down' | 'None';
  /** The main limit first; 'None' alone when nothing limited the proposal. */
  limitedBy: LimitReason[];
  /** A sentence with the numbers, e.g. `rps 431.2 vs 50/replica proposes 9 (...)`. */
  reason: string;
  metrics: MetricResult[];
  fallbackActive: boolean;
  events: EngineEvent[];
  // The fields below are set only when a Level 5 mechanism (predictive, anomaly, autotune) is
  // enabled, so a policy without them decides exactly as before.
  /** Conditions of the enabled Level 5 mechanisms, for the status and tidemark_policy_condition. */
  conditions?: DecisionCondition[];
  /** status.forecast (predictive on) and status.tuned (autotune on), ready to write. */
  status?: {
    forecast?: NonNullable<ScalingPolicyStatus['forecast']>;
    tuned?: NonNullable<ScalingPolicyStatus['tuned']>;
  };
  /** Per-metric forecasts, for tidemark_forecast_value{bound} and tidemark_forecast_replicas. */
  forecasts?: MetricForecast[];
  /** Anomalies detected since the state began, per metric and kind (monotonic, for tidemark_anomalies_total). */
  anomalyCounts?: Record<string, Partial<Record<AnomalyKind, number>>>;
  /** Times ScalingIneffective was raised since the state began (monotonic). */
  ineffectiveCount?: number;
  /** The shadow evaluation's scores (predictive on), for status.forecast.evaluation and /metrics. */
  evaluation?: ShadowScores;
}

/**
 * The engine's memory between ticks. Plain JSON (numbers are epoch ms), persisted
 * in the ScalingPolicy status so a restarted operator continues exactly (less what a restart
 * rebuilds: the forecaster's tables, see src/reconciler/engine-state.ts).
 * Later mechanisms (forecast, anomaly, autotune) add optional fields of their own.
 */
export interface EngineState {
  /**
   * The format version (src/reconciler/engine-state.ts lists them). A stored state may carry a
   * newer one than this release's, written by the next release during a rolling upgrade.
   */
  version: number;
  /** Set when a release older than `version` wrote the state: its fields of `version` may be stale. */
  writtenBy?: number;
  /** Recent recommendations, for the stabilization windows. */
  recommendations: Array<{ t: number; replicas: number }>;
  /** Recent scaling actions, for the rate policies' periods. */
  scaleUpEvents: Array<{ t: number; change: number }>;
  scaleDownEvents: Array<{ t: number; change: number }>;
  lastScaleTime?: number;
  consecutiveFailures: number;
  /** True while the fallback replicas apply (so FallbackActivated/FallbackCleared are emitted once). */
  fallbackActive?: boolean;
  /**
   * Overrides spec.behavior.scaleDown.stabilizationWindowSeconds when set (the self-tuning
   * mechanism widens it against flapping). See effectiveScaleDownWindow().
   */
  tunedScaleDownStabilizationSeconds?: number;
  /**
   * With behavior.scaleToZeroDelaySeconds: when the proposal first reached 0 (every metric at or
   * below activation) in the current idle spell; absent otherwise (src/policy/scale-to-zero.ts).
   */
  belowActivationSince?: number;
  /** The Level 5 mechanisms' memory (src/level5/stages.ts Level5State); absent while they are all off. */
  level5?: unknown;
  [extension: string]: unknown;
}

export interface EngineInput {
  spec: PolicySpec;
  /** undefined on a policy's first tick. */
  state: EngineState | undefined;
  observations: MetricObservation[];
  /** spec.replicas of the target's scale subresource. */
  currentReplicas: number;
  /** Ready replicas, when known; used by the Level 5 mechanisms. */
  readyReplicas?: number;
  /** This tick's value of autotune.slo.latencyQuery in seconds, when SLO mode is on. */
  latencySeconds?: number;
  /** epoch ms */
  now: number;
}

export interface EngineOutput {
  decision: Decision;
  state: EngineState;
}
