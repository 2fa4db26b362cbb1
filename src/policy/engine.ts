// The policy engine: EngineInput → EngineOutput, pure and deterministic (no clock, no
// randomness, no module state). decide() is a pipeline of small stages over one mutable
// context, so later mechanisms (forecast, anomaly) can be inserted between the proposal and
// the stabilization without touching the HPA-compatible stages:
//
//   [level 5 targets] → metrics → failures/fallback → bounds guard → proposal (+activation) →
//   [level 5] → [hooks] → stabilization → cooldowns → rate limits + clamp → record
//
// Level 5 (src/level5/stages.ts: anomaly hold, forecast, ineffective-scaling cap, flap tuning,
// SLO targets) runs only when spec.predictive/anomaly/autotune is enabled; with all three off
// (the default) no Level 5 code runs and decisions are exactly the HPA-compatible ones.
//
// Where Tidemark differs from the HPA (each deliberate, each covered by a test):
// - Cooldowns (scaleUp/scaleDown.cooldownSeconds) are Tidemark's; the HPA has none.
// - Scale to and from zero: the HPA never acts on a target at 0 replicas ("scaling disabled")
//   and only reaches 0 with an alpha gate. Tidemark, with minReplicas 0, wakes a target at 0
//   when a metric exceeds its activationThreshold (to at least 1, even when the rate policies
//   are Percent-only, which could never leave 0), and allows 0 only when every metric is at or
//   below its activationThreshold.
// - A target at 0 with minReplicas > 0 is raised to minReplicas (the HPA leaves it at 0 as
//   "scaling disabled"); Tidemark has mode Paused for switching a policy off.
// - Value targets multiply by readyReplicas when the caller knows it (the HPA's ready pod
//   count), else by currentReplicas; a readyReplicas of 0 is ignored rather than proposing 0.
// - Metric values are plain floats; the HPA rounds them to milli-units first.
// - When every metric fails, the HPA stops; Tidemark holds the count and, after
//   fallback.failureThreshold failing ticks, applies fallback.replicas (KEDA-like).

import { fmtNumber } from '../core/format.ts';
import {
  averageValueProposal,
  describePolicy,
  INT32_MAX,
  type RatePolicy,
  type ScalingRules,
  scaleDownLimit,
  scaleUpLimit,
  stabilize,
  type Tolerances,
  tolerancesOf,
  valueProposal,
} from '../core/hpa-arithmetic.ts';
import { fmtDuration } from '../level5/forecast/holtwinters.ts';
import { operatingPoints } from '../level5/operating-point.ts';
import { reactiveProposal, type ShadowOutput, shadowStep, type TailState } from '../level5/shadow.ts';
import {
  applyGuards,
  applyLevel5Plan,
  type Level5Output,
  type Level5Plan,
  type Level5State,
  level5Stage,
  level5Targets,
  type PlanAt,
  sizeLoads,
} from '../level5/stages.ts';
import { delayScaleToZero } from './scale-to-zero.ts';
import type {
  Decision,
  EngineEvent,
  EngineInput,
  EngineOutput,
  EngineState,
  LimitReason,
  MetricObservation,
  MetricResult,
  PathScore,
  PolicySpec,
  ShadowScores,
} from './types.ts';

/**
 * The stored state's format (src/reconciler/engine-state.ts). Still 1, the first release's:
 * what changed since (the forecaster's tables left empty, new Level 5 fields) is readable by
 * that release, so a downgrade or an old replica during a rolling upgrade keeps the windows.
 */
export const ENGINE_STATE_VERSION = 1;

/**
 * Larger ok values are failures (too-large), as the collector's default bound classifies them:
 * no real metric reaches it, and the replica arithmetic would only saturate at INT32_MAX.
 */
export const MAX_METRIC_VALUE = 1e15;

/** The scale-down stabilization window in effect: the self-tuned value when set, else the spec's. */
export function effectiveScaleDownWindow(spec: PolicySpec, state: EngineState | undefined): number {
  const tuned = state?.tunedScaleDownStabilizationSeconds;
  if (typeof tuned === 'number' && Number.isFinite(tuned) && tuned >= 0) return tuned;
  return spec.behavior.scaleDown.stabilizationWindowSeconds;
}

export function effectiveScaleUpWindow(spec: PolicySpec, _state: EngineState | undefined): number {
  return spec.behavior.scaleUp.stabilizationWindowSeconds;
}

/** The state a policy starts with: like the HPA's recordInitialRecommendation, the current count is the first recommendation. */
export function initialState(currentReplicas: number, now: number): EngineState {
  return {
    version: ENGINE_STATE_VERSION,
    recommendations: [{ t: now, replicas: currentReplicas }],
    scaleUpEvents: [],
    scaleDownEvents: [],
    consecutiveFailures: 0,
  };
}

/** Everything a stage reads and writes. `replicas` is the value flowing through the pipeline. */
export interface DecisionContext {
  readonly input: EngineInput;
  readonly spec: PolicySpec;
  readonly now: number;
  readonly current: number;
  /** The next state, already pruned; stages append to its (fresh) arrays. */
  readonly state: EngineState;
  readonly metrics: MetricResult[];
  /** Metric values of the successful observations, by metric index (undefined when failed). */
  readonly values: (number | undefined)[];
  /**
   * This tick's observation of each metric as the engine judged it (stray and duplicate names
   * dropped, a hostile ok value replaced by the failure it was classified as): what Level 5
   * sees, so a NaN or 1e308 reaches its detectors and forecaster exactly as a failure would.
   */
  readonly observations: MetricObservation[];
  /** SLO-tuned AverageValue targets by metric name (Level 5 autotune); empty otherwise. */
  readonly targets: Record<string, number>;
  /** The Level 5 stage's output, when a Level 5 mechanism is enabled. */
  level5?: Level5Output;
  /** The shadow evaluation's output, when predictive is enabled. */
  shadow?: ShadowOutput;
  /** What the metrics propose (max over metrics, after activation); reported as proposedReplicas. */
  proposal: number;
  replicas: number;
  /** Limits in the order they were applied; the last one decided the result. */
  readonly applied: LimitReason[];
  /** Reason fragments, in order. */
  readonly notes: string[];
  readonly events: EngineEvent[];
  fallbackActive: boolean;
  /** Whether this tick's proposal goes into the stabilization history (the HPA skips it on metric errors). */
  recordRecommendation: boolean;
  /** Set by a stage that decided the result outright (fallback, bounds guard, failure hold). */
  done: boolean;
}

/** Extension points for later mechanisms; they run after the proposal and before stabilization. */
export interface EngineHooks {
  afterProposal?: Array<(ctx: DecisionContext) => void>;
}

export function decide(input: EngineInput, hooks?: EngineHooks): EngineOutput {
  const ctx = createContext(input);
  evaluateMetrics(ctx);
  handleTotalFailure(ctx);
  if (!ctx.done) guardBounds(ctx);
  if (!ctx.done) propose(ctx);
  if (!ctx.done) holdScaleDownOnPartialFailure(ctx);
  applyLevel5(ctx);
  if (!ctx.done && hooks?.afterProposal) {
    for (const hook of hooks.afterProposal) {
      hook(ctx);
      if (ctx.done) break;
    }
  }
  if (!ctx.done) applyStabilization(ctx);
  if (!ctx.done) applyCooldowns(ctx);
  if (!ctx.done) applyRateLimitsAndBounds(ctx);
  return finish(ctx);
}

// ---------------------------------------------------------------------------------------------
// Stages

function createContext(input: EngineInput): DecisionContext {
  const { spec, now } = input;
  const current = input.currentReplicas;
  const prev = input.state ?? initialState(current, now);
  const upWindow = effectiveScaleUpWindow(spec, prev);
  const downWindow = effectiveScaleDownWindow(spec, prev);
  // Bounded state: entries older than the longest window/period can never count again.
  const recCutoff = now - Math.max(upWindow, downWindow) * 1000;
  const eventCutoff = now - longestPeriod(spec) * 1000;
  const state: EngineState = {
    ...prev,
    version: ENGINE_STATE_VERSION,
    recommendations: prev.recommendations.filter((r) => r.t > recCutoff),
    scaleUpEvents: prev.scaleUpEvents.filter((e) => e.t > eventCutoff),
    scaleDownEvents: prev.scaleDownEvents.filter((e) => e.t > eventCutoff),
    consecutiveFailures: prev.consecutiveFailures ?? 0,
  };
  return {
    input,
    spec,
    now,
    current,
    state,
    metrics: [],
    values: [],
    observations: [],
    targets: level5Enabled(spec) ? level5Targets(spec, prev.level5 as Level5State | undefined) : {},
    proposal: current,
    replicas: current,
    applied: [],
    notes: [],
    events: [],
    fallbackActive: prev.fallbackActive === true,
    recordRecommendation: true,
    done: false,
  };
}

function longestPeriod(spec: PolicySpec): number {
  let longest = 0;
  for (const p of spec.behavior.scaleUp.policies) if (p.periodSeconds > longest) longest = p.periodSeconds;
  for (const p of spec.behavior.scaleDown.policies) if (p.periodSeconds > longest) longest = p.periodSeconds;
  return longest;
}

/** Parses a CRD decimal (int-or-string). The schema's pattern already rejected anything else. */
export function parseDecimal(v: number | string | undefined, fallback: number): number {
  if (v === undefined) return fallback;
  const n = typeof v === 'number' ? v : Number(v);
  return Number.isFinite(n) ? n : Number.NaN;
}

function findObservation(observations: MetricObservation[], name: string): MetricObservation | undefined {
  for (const o of observations) if (o.name === name) return o;
  return undefined;
}

/**
 * An AverageValue metric's capacity (spec.metrics[].target.capacity): the load per replica at
 * which users feel it. Read through a cast until the CRD's generated types carry the field.
 */
function capacityOf(m: PolicySpec['metrics'][number]): number | undefined {
  if (m.target.type !== 'AverageValue') return undefined;
  const c = parseDecimal(m.target.capacity, Number.NaN);
  return Number.isFinite(c) && c > 0 ? c : undefined;
}

function evaluateMetrics(ctx: DecisionContext): void {
  const { spec, current } = ctx;
  const tolerance = tolerancesOf(spec.behavior);
  const ready = ctx.input.readyReplicas;
  const podCount = ready !== undefined && ready > 0 ? ready : current;
  for (const m of spec.metrics) {
    const target = parseDecimal(m.target.value, Number.NaN);
    const result: MetricResult = { name: m.name, target, targetType: m.target.type };
    const capacity = capacityOf(m);
    if (capacity !== undefined && capacity >= target) result.capacity = capacity;
    ctx.metrics.push(result);
    const obs = findObservation(ctx.input.observations, m.name);
    let value: number | undefined;
    let hostile = false;
    if (obs === undefined) {
      result.error = { kind: 'empty', message: 'no observation for this metric' };
    } else if (!obs.ok) {
      result.error = obs.error;
    } else if (Number.isNaN(obs.value)) {
      // Defence in depth: the collector should have caught these; a NaN never becomes a replica count.
      result.error = { kind: 'nan', message: 'value is NaN' };
      hostile = true;
    } else if (!Number.isFinite(obs.value)) {
      result.error = { kind: 'infinite', message: `value is ${obs.value}` };
      hostile = true;
    } else if (obs.value < 0) {
      result.error = { kind: 'negative', message: `value ${obs.value} is negative` };
      hostile = true;
    } else if (obs.value > MAX_METRIC_VALUE) {
      result.error = { kind: 'too-large', message: `value ${obs.value} is above ${MAX_METRIC_VALUE}` };
      hostile = true;
    } else if (!(target > 0)) {
      result.error = {
        kind: 'bad-query',
        message: `target ${String(m.target.value)} is not a positive number`,
      };
    } else {
      // + 0 turns a -0 into 0: JSON has no -0, so a persisted state would read back differently.
      value = obs.value + 0;
      result.value = value;
      const p =
        m.target.type === 'AverageValue'
          ? averageValueProposal(value, target, current, tolerance)
          : valueProposal(value, target, current, podCount, tolerance);
      result.proposedReplicas = p.replicas;
      result.withinTolerance = p.withinTolerance;
    }
    ctx.values.push(value);
    if (obs === undefined) continue;
    if (hostile && result.error) ctx.observations.push({ name: m.name, ok: false, error: result.error });
    else if (obs.ok && Object.is(obs.value, -0)) ctx.observations.push({ ...obs, value: 0 });
    else ctx.observations.push(obs);
  }
}

function okCount(ctx: DecisionContext): number {
  let n = 0;
  for (const v of ctx.values) if (v !== undefined) n++;
  return n;
}

/** Every metric failed: hold, and after failureThreshold ticks apply the fallback. */
function handleTotalFailure(ctx: DecisionContext): void {
  const { spec, state, current } = ctx;
  const ok = okCount(ctx);
  if (ok > 0) {
    state.consecutiveFailures = 0;
    if (ctx.fallbackActive) {
      ctx.fallbackActive = false;
      ctx.events.push({
        type: 'Normal',
        reason: 'FallbackCleared',
        message: `metrics returned (${ok} of ${ctx.metrics.length} ok); fallback no longer applies`,
      });
    }
    return;
  }
  state.consecutiveFailures += 1;
  ctx.done = true;
  ctx.recordRecommendation = false;
  const failures = state.consecutiveFailures;
  const n = ctx.metrics.length;
  const fallback = spec.fallback;
  const failing = `all ${n} metric${n === 1 ? '' : 's'} failing for ${failures} tick${failures === 1 ? '' : 's'}`;
  if (fallback !== undefined && failures >= fallback.failureThreshold) {
    if (!ctx.fallbackActive) {
      ctx.fallbackActive = true;
      ctx.events.push({
        type: 'Warning',
        reason: 'FallbackActivated',
        message:
          fallback.replicas !== undefined
            ? `${failing}; fallback replicas ${fallback.replicas} apply`
            : `${failing}; holding the current ${current} replicas`,
      });
    }
    ctx.replicas = clamp(fallback.replicas ?? current, spec.minReplicas, spec.maxReplicas);
    ctx.proposal = ctx.replicas;
    ctx.applied.push('Fallback');
    ctx.notes.push(
      fallback.replicas !== undefined
        ? `${failing}; fallback replicas ${fallback.replicas} apply`
        : `${failing}; fallback holds ${ctx.replicas}`,
    );
    return;
  }
  ctx.replicas = clamp(current, spec.minReplicas, spec.maxReplicas);
  ctx.proposal = current;
  // The hold is this tick's recommendation: without it an outage longer than the scale-down
  // window empties the window, and the first reading after it (often low: rate() over a
  // series that restarts inside its range) scales down at once. Missing data never does.
  state.recommendations.push({ t: ctx.now, replicas: ctx.replicas });
  ctx.applied.push('MetricsUnavailable');
  const until =
    fallback !== undefined ? ` (fallback after ${fallback.failureThreshold})` : ' (no fallback configured)';
  ctx.notes.push(`${failing}${until}; holding ${ctx.replicas}`);
  if (ctx.replicas !== current) ctx.applied.push(ctx.replicas > current ? 'MinReplicas' : 'MaxReplicas');
}

/** Like the HPA: a count outside [min, max] goes straight to the bound, before any metric logic. */
function guardBounds(ctx: DecisionContext): void {
  const { spec, current } = ctx;
  if (current > spec.maxReplicas) {
    ctx.replicas = spec.maxReplicas;
    ctx.applied.push('MaxReplicas');
    ctx.notes.push(`current ${current} is above maxReplicas ${spec.maxReplicas}`);
  } else if (current < spec.minReplicas) {
    ctx.replicas = spec.minReplicas;
    ctx.applied.push('MinReplicas');
    ctx.notes.push(`current ${current} is below minReplicas ${spec.minReplicas}`);
  } else {
    return;
  }
  ctx.proposal = ctx.replicas;
  ctx.recordRecommendation = false;
  ctx.done = true;
}

function propose(ctx: DecisionContext): void {
  const { spec, current } = ctx;
  let proposal = -1;
  let anyWithin = false;
  for (const r of ctx.metrics) {
    if (r.proposedReplicas === undefined) continue;
    if (r.proposedReplicas > proposal) proposal = r.proposedReplicas;
    if (r.withinTolerance) anyWithin = true;
  }
  if (anyWithin && proposal === current) ctx.applied.push('WithinTolerance');
  const metricsProposal = proposal;

  if (spec.minReplicas === 0) {
    // Activation thresholds only matter for the 0 ↔ 1 boundary.
    let anyAbove = false;
    let allAtOrBelow = true;
    for (let i = 0; i < spec.metrics.length; i++) {
      const v = ctx.values[i];
      if (v === undefined) {
        allAtOrBelow = false;
        continue;
      }
      const activation = parseDecimal(spec.metrics[i]?.activationThreshold, 0);
      if (v > activation) {
        anyAbove = true;
        allAtOrBelow = false;
      }
    }
    if (current === 0) {
      if (anyAbove) {
        proposal = Math.max(1, proposal);
        ctx.notes.push('a metric exceeds its activation threshold, waking from 0');
      } else {
        proposal = 0;
        ctx.applied.push('BelowActivation');
        ctx.notes.push('no metric exceeds its activation threshold, staying at 0');
      }
    } else if (allAtOrBelow) {
      if (proposal !== 0) ctx.applied.push('BelowActivation');
      proposal = 0;
      ctx.notes.push('every metric is at or below its activation threshold, proposing 0');
    } else {
      proposal = Math.max(1, proposal);
    }
  }
  // behavior.scaleToZeroDelaySeconds: the step to 0 waits its own delay (scale-to-zero.ts).
  proposal = delayScaleToZero(ctx, metricsProposal, proposal);
  ctx.proposal = proposal;
  ctx.replicas = proposal;
}

/** HPA: with some metrics failing, a lower proposal is an error (no scaling); a higher one proceeds. */
function holdScaleDownOnPartialFailure(ctx: DecisionContext): void {
  const failed = ctx.metrics.length - okCount(ctx);
  if (failed === 0 || ctx.replicas >= ctx.current) return;
  ctx.applied.push('MetricFailureHoldsScaleDown');
  ctx.notes.push(
    `${failed} of ${ctx.metrics.length} metrics failed; holding ${ctx.current} (a failed metric never allows a scale-down)`,
  );
  ctx.replicas = ctx.current;
  ctx.recordRecommendation = false;
  ctx.done = true;
}

export function level5Enabled(spec: PolicySpec): boolean {
  return (
    spec.predictive?.enabled === true || spec.anomaly?.enabled === true || spec.autotune?.enabled === true
  );
}

/**
 * Level 5 on the reactive proposal. It runs on every tick while a mechanism is enabled, also
 * when an earlier stage already decided (metrics failing, bounds guard), so its detectors see
 * every tick. Its input guards (the anomaly hold, the ineffective-scaling cap) are not bets and
 * apply on every tick; its bets (the forecast, the tuned scale-down window, SLO-tuned targets,
 * an operating point above the target) act only while the shadow evaluation shows the variant
 * beating the reactive path on the observed load and worse on nothing (shadow.ts). Standing
 * aside, the tick is the HPA-compatible one with the guards.
 */
function applyLevel5(ctx: DecisionContext): void {
  const { spec, state, input } = ctx;
  if (!level5Enabled(spec)) {
    if (state.level5 !== undefined) {
      // Switched off: forget its memory and hand the window back to the spec.
      delete state.level5;
      delete state.tunedScaleDownStabilizationSeconds;
    }
    return;
  }
  const out = level5Stage({
    spec,
    metrics: ctx.metrics,
    proposal: ctx.replicas,
    observations: ctx.observations,
    currentReplicas: ctx.current,
    ...(input.readyReplicas === undefined ? {} : { readyReplicas: input.readyReplicas }),
    ...(input.latencySeconds === undefined ? {} : { latencySeconds: input.latencySeconds }),
    now: ctx.now,
    state: state.level5 as Level5State | undefined,
  });
  ctx.level5 = out;
  state.level5 = out.state;
  // Recommendations made from values found faulty (a spike, an erratic exporter) are withdrawn.
  const since = out.plan.retractSince;
  if (since !== undefined) state.recommendations = state.recommendations.filter((r) => r.t < since);
  for (const e of out.events) ctx.events.push(e);
  const variants = level5Variants(ctx, out);
  const shadow = runShadow(ctx, out, variants);
  out.state.shadow = shadow.state;
  ctx.shadow = shadow;
  const variant = variants[shadow.acting - 1];
  if (variant === undefined) standAside(ctx, out);
  else actOnLevel5(ctx, out, variant);
}

/** Standing aside: the spec's window (also the one reported) and the input guards only. */
function standAside(ctx: DecisionContext, out: Level5Output): void {
  const { spec, state } = ctx;
  if (out.scaleDownStabilizationSeconds === undefined) delete state.tunedScaleDownStabilizationSeconds;
  else state.tunedScaleDownStabilizationSeconds = spec.behavior.scaleDown.stabilizationWindowSeconds;
  applyGuardPlan(ctx, out);
}

/** The acting variant's scale-down window, recorded while it differs from the spec's or is tuned. */
function setVariantWindow(ctx: DecisionContext, out: Level5Output, v: Variant): void {
  const { spec, state } = ctx;
  if (
    v.window !== spec.behavior.scaleDown.stabilizationWindowSeconds ||
    out.scaleDownStabilizationSeconds !== undefined
  )
    state.tunedScaleDownStabilizationSeconds = v.window;
  else delete state.tunedScaleDownStabilizationSeconds;
}

/** One Level 5 policy the shadow evaluation follows beside the reactive path. */
interface Variant {
  name: string;
  /** AverageValue targets that differ from the spec's (SLO-tuned, or an operating point). */
  targets: Record<string, number>;
  /** Where the forecast is sized, when not at `targets` (an operating point's). */
  forecastTargets?: Record<string, number>;
  forecast: boolean;
  window: number;
}

/**
 * The Level 5 variants: the enabled mechanisms at the spec's (or SLO-tuned) targets, and, for
 * metrics with a capacity, the same at operating points between the target and the capacity.
 * The gate acts with the best one that beats the reactive path and is worse on nothing.
 */
function level5Variants(ctx: DecisionContext, out: Level5Output): Variant[] {
  const { spec } = ctx;
  const forecast = spec.predictive?.enabled === true;
  const window = out.scaleDownStabilizationSeconds ?? spec.behavior.scaleDown.stabilizationWindowSeconds;
  const base: Variant = { name: forecast ? 'forecast' : 'level5', targets: ctx.targets, forecast, window };
  const variants = [base];
  // The self-tuning on its own too, so a forecast that loses does not take a tuning that wins with it.
  if (forecast && out.flapTunedSeconds !== undefined)
    variants.push({ name: 'tuned', targets: ctx.targets, forecast: false, window: out.flapTunedSeconds });
  const capped = ctx.metrics.flatMap((m) =>
    m.capacity !== undefined && m.capacity > m.target
      ? [{ name: m.name, target: m.target, capacity: m.capacity }]
      : [],
  );
  for (const p of operatingPoints(capped, ctx.targets)) {
    const { targets, forecastTargets } = p;
    variants.push({ name: `${base.name}@${p.label}`, targets, forecastTargets, forecast, window });
  }
  return variants;
}

/** A variant's proposal on a path at `current` replicas (`ready` of them ready), from the reactive one there. */
function variantProposal(plan: Level5Plan, v: Variant, reactive: number, at: PlanAt) {
  const allLoads = plan.sizing.metrics.every((m) => plan.loads[m.name] !== undefined);
  const retargeted = Object.keys(v.targets).length > 0 && allLoads;
  const base = retargeted ? (sizeLoads(plan, plan.loads, at) ?? reactive) : reactive;
  const sized = v.forecastTargets ? { ...at, forecastTargets: v.forecastTargets } : at;
  return applyLevel5Plan(v.forecast ? plan : { ...plan, forecast: undefined }, base, sized);
}

/** The input guards (anomaly hold, ineffective-scaling cap) on the acting path's proposal, with their reasons. */
function applyGuardPlan(ctx: DecisionContext, out: Level5Output): void {
  const at: PlanAt = { current: ctx.current, ready: ctx.input.readyReplicas ?? ctx.current };
  const applied = applyLevel5Plan({ ...out.plan, forecast: undefined }, ctx.replicas, at);
  if (ctx.done && !raisesFailureHold(ctx, applied, 'AnomalyHeld')) return;
  ctx.done = false;
  setProposal(ctx, applied.proposal);
  for (let i = applied.limitedBy.length - 1; i >= 0; i--)
    ctx.applied.push(applied.limitedBy[i] as LimitReason);
  for (const r of [...out.guardReasons, ...applied.reasons]) ctx.notes.push(r);
}

/**
 * Whether `why` raises a failure hold (the forecast, or the forecaster's estimate while the
 * metric is blind): the tick then goes on through the rate limits, cooldowns and bounds.
 */
function raisesFailureHold(
  ctx: DecisionContext,
  applied: { proposal: number; limitedBy: LimitReason[] },
  why: LimitReason,
): boolean {
  const last = ctx.applied[ctx.applied.length - 1];
  const failureHold = last === 'MetricsUnavailable' || last === 'MetricFailureHoldsScaleDown';
  return failureHold && applied.limitedBy.includes(why) && applied.proposal > ctx.replicas;
}

function setProposal(ctx: DecisionContext, proposal: number): void {
  // The forecast's count on extreme metrics (1e15 against a target of 0.1) saturates; a
  // finite integer keeps the recommendation history JSON-stable.
  const proposed = replicaCount(proposal, ctx.replicas);
  if (proposed === ctx.replicas) return;
  ctx.replicas = proposed;
  ctx.proposal = proposed;
}

function actOnLevel5(ctx: DecisionContext, out: Level5Output, v: Variant): void {
  setVariantWindow(ctx, out, v);
  const at: PlanAt = {
    current: ctx.current,
    ready: ctx.input.readyReplicas ?? ctx.current,
    targets: v.targets,
  };
  const applied = variantProposal(out.plan, v, ctx.replicas, at);
  if (ctx.done) {
    if (!raisesFailureHold(ctx, applied, 'Forecast') && !raisesFailureHold(ctx, applied, 'AnomalyHeld'))
      return;
    ctx.done = false;
  }
  setProposal(ctx, applied.proposal);
  for (let i = applied.limitedBy.length - 1; i >= 0; i--)
    ctx.applied.push(applied.limitedBy[i] as LimitReason);
  const retargeted = Object.entries(v.targets).map(([m, t]) => `${m} sized at ${fmtNumber(t)}/replica`);
  if (retargeted.length > 0) ctx.notes.push(`Level 5 (${v.name}): ${retargeted.join(', ')}`);
  for (const r of [...out.guardReasons, ...out.betReasons, ...applied.reasons]) ctx.notes.push(r);
}

/** The shadow evaluation: score the reactive path and every Level 5 variant, and set the gate. */
function runShadow(ctx: DecisionContext, out: Level5Output, variants: Variant[]): ShadowOutput {
  const { spec, state, input } = ctx;
  const trusted =
    ctx.metrics.every((m) => m.value !== undefined) &&
    out.plan.held === undefined &&
    out.plan.standIn === undefined &&
    !ctx.done;
  const l5 = state.level5 as Level5State;
  const tol = tolerancesOf(spec.behavior);
  const pods =
    input.readyReplicas !== undefined && input.readyReplicas > 0 ? input.readyReplicas : ctx.current;
  const reactiveAt = (current: number, ready: number) =>
    reactiveProposal(ctx.metrics, pods, current, ready, tol);
  return shadowStep({
    spec,
    now: ctx.now,
    currentReplicas: ctx.current,
    readyReplicas: input.readyReplicas ?? ctx.current,
    metrics: ctx.metrics,
    trusted,
    names: ['reactive', ...variants.map((v) => v.name)],
    proposals: [
      (current, ready) => applyGuards(out.plan, reactiveAt(current, ready), { current, ready }),
      ...variants.map(
        (v) => (current: number, ready: number) =>
          variantProposal(out.plan, v, reactiveAt(current, ready), { current, ready, targets: v.targets })
            .proposal,
      ),
    ],
    windows: [spec.behavior.scaleDown.stabilizationWindowSeconds, ...variants.map((v) => v.window)],
    // ForecastOnly: the forecast is a dry run; the other bets may still act.
    canAct: [true, ...variants.map((v) => !(v.forecast && spec.predictive?.mode === 'ForecastOnly'))],
    startupSeconds: out.startupSeconds,
    actualTail: tailOf(state),
    tail: (tail, proposal, current, window) => runTail(spec, tail, proposal, current, ctx.now, window),
    state: l5.shadow,
  });
}

function tailOf(s: EngineState): TailState {
  return {
    recommendations: s.recommendations,
    scaleUpEvents: s.scaleUpEvents,
    scaleDownEvents: s.scaleDownEvents,
    ...(s.lastScaleTime === undefined ? {} : { lastScaleTime: s.lastScaleTime }),
  };
}

/**
 * The HPA stages after the proposal (stabilization, cooldowns, rate limits, bounds) on a path
 * of the shadow evaluation: the same code the acting path runs, on that path's own memory.
 */
export function runTail(
  spec: PolicySpec,
  tail: TailState,
  proposal: number,
  current: number,
  now: number,
  downWindowSeconds: number,
): { replicas: number; tail: TailState } {
  const ctx = createContext({
    spec: spec.predictive ? { ...spec, predictive: { ...spec.predictive, enabled: false } } : spec,
    state: {
      version: ENGINE_STATE_VERSION,
      consecutiveFailures: 0,
      ...tail,
      tunedScaleDownStabilizationSeconds: downWindowSeconds,
    },
    observations: [],
    currentReplicas: current,
    now,
  });
  ctx.proposal = proposal;
  ctx.replicas = proposal;
  applyStabilization(ctx);
  applyCooldowns(ctx);
  applyRateLimitsAndBounds(ctx);
  recordAction(ctx);
  return { replicas: ctx.replicas, tail: tailOf(ctx.state) };
}

function applyStabilization(ctx: DecisionContext): void {
  const { spec, state, now, current } = ctx;
  const upWindow = effectiveScaleUpWindow(spec, state);
  const downWindow = effectiveScaleDownWindow(spec, state);
  const desired = ctx.replicas;
  const s = stabilize(state.recommendations, desired, current, upWindow, downWindow, now);
  // The history keeps the unstabilized recommendation, as the HPA does.
  if (ctx.recordRecommendation) state.recommendations.push({ t: now, replicas: desired });
  if (s.replicas === desired) return;
  ctx.replicas = s.replicas;
  if (desired < current) {
    ctx.applied.push('ScaleDownStabilization');
    ctx.notes.push(
      `held at ${s.replicas} by scale-down stabilization (highest recommendation in ${downWindow}s window is ${s.downRecommendation})`,
    );
  } else {
    ctx.applied.push('ScaleUpStabilization');
    ctx.notes.push(
      `held at ${s.replicas} by scale-up stabilization (lowest recommendation in ${upWindow}s window is ${s.upRecommendation})`,
    );
  }
}

/** Tidemark's addition: no action in a direction until its cooldown has passed since the last scaling action. */
function applyCooldowns(ctx: DecisionContext): void {
  const { spec, state, now, current } = ctx;
  const last = state.lastScaleTime;
  if (last === undefined || ctx.replicas === current) return;
  const up = ctx.replicas > current;
  const cooldown = up ? spec.behavior.scaleUp.cooldownSeconds : spec.behavior.scaleDown.cooldownSeconds;
  const elapsed = now - last;
  if (cooldown <= 0 || elapsed >= cooldown * 1000) return;
  ctx.applied.push(up ? 'ScaleUpCooldown' : 'ScaleDownCooldown');
  ctx.notes.push(
    `scale-${up ? 'up' : 'down'} held at ${current} by ${cooldown}s cooldown (last scaling ${fmtSeconds(elapsed)} ago)`,
  );
  ctx.replicas = current;
}

/** convertDesiredReplicasWithBehaviorRate: the rate bound, never past current, then [min, max]. */
function applyRateLimitsAndBounds(ctx: DecisionContext): void {
  const { spec, state, now, current } = ctx;
  const desired = ctx.replicas;
  if (desired > current) {
    const rules: ScalingRules = spec.behavior.scaleUp;
    const r = scaleUpLimit(current, state.scaleUpEvents, state.scaleDownEvents, rules, now);
    let limit = Math.max(r.limit, current);
    // Tidemark: waking from 0 must reach 1 even under Percent-only policies (100% of 0 is 0).
    if (current === 0 && limit < 1 && rules.selectPolicy !== 'Disabled') limit = 1;
    if (spec.maxReplicas > limit) {
      if (desired > limit) {
        ctx.replicas = limit;
        if (rules.selectPolicy === 'Disabled') {
          ctx.applied.push('ScaleUpDisabled');
          ctx.notes.push(`scale-up disabled (selectPolicy Disabled), holding ${current}`);
        } else {
          ctx.applied.push('ScaleUpRateLimit');
          ctx.notes.push(`scale-up limited to ${limit} by ${rateText(r.policy, r.limit <= current)}`);
        }
      }
    } else if (desired > spec.maxReplicas) {
      ctx.replicas = spec.maxReplicas;
      ctx.applied.push('MaxReplicas');
      ctx.notes.push(`capped at maxReplicas ${spec.maxReplicas}`);
    }
  } else if (desired < current) {
    const rules: ScalingRules = spec.behavior.scaleDown;
    const r = scaleDownLimit(current, state.scaleUpEvents, state.scaleDownEvents, rules, now);
    const limit = Math.min(r.limit, current);
    if (spec.minReplicas < limit) {
      if (desired < limit) {
        ctx.replicas = limit;
        if (rules.selectPolicy === 'Disabled') {
          ctx.applied.push('ScaleDownDisabled');
          ctx.notes.push(`scale-down disabled (selectPolicy Disabled), holding ${current}`);
        } else {
          ctx.applied.push('ScaleDownRateLimit');
          ctx.notes.push(`scale-down limited to ${limit} by ${rateText(r.policy, r.limit >= current)}`);
        }
      }
    } else if (desired < spec.minReplicas) {
      ctx.replicas = spec.minReplicas;
      ctx.applied.push('MinReplicas');
      ctx.notes.push(`raised to minReplicas ${spec.minReplicas}`);
    }
  }
}

function rateText(policy: RatePolicy | undefined, usedUp: boolean): string {
  if (policy === undefined) return 'the rate policies (none defined)';
  const base = `${describePolicy(policy)} policy`;
  return usedUp ? `${base} (earlier scaling used up its period)` : base;
}

/** The engine assumes its decision is carried out (see EngineInput docs in types.ts). */
function recordAction(ctx: DecisionContext): void {
  const { state, now, current } = ctx;
  const desired = ctx.replicas;
  if (desired === current) return;
  if (desired > current) state.scaleUpEvents.push({ t: now, change: desired - current });
  else state.scaleDownEvents.push({ t: now, change: current - desired });
  state.lastScaleTime = now;
}

function finish(ctx: DecisionContext): EngineOutput {
  const { state, current } = ctx;
  const desired = ctx.replicas;
  recordAction(ctx);
  if (ctx.fallbackActive) state.fallbackActive = true;
  else delete state.fallbackActive;

  const limitedBy: LimitReason[] = [];
  for (let i = ctx.applied.length - 1; i >= 0; i--) {
    const r = ctx.applied[i] as LimitReason;
    if (!limitedBy.includes(r)) limitedBy.push(r);
  }
  if (limitedBy.length === 0) limitedBy.push('None');

  const decision: Decision = {
    currentReplicas: current,
    desiredReplicas: desired,
    proposedReplicas: ctx.proposal,
    direction: desired > current ? 'Up' : desired < current ? 'Down' : 'None',
    limitedBy,
    reason: reasonSentence(ctx, desired),
    metrics: ctx.metrics,
    fallbackActive: ctx.fallbackActive,
    events: ctx.events,
  };
  const l5 = ctx.level5;
  if (l5) {
    decision.conditions = l5.conditions;
    decision.status = l5.status;
    decision.forecasts = l5.forecasts;
    decision.anomalyCounts = l5.anomalyCounts;
    decision.ineffectiveCount = l5.ineffectiveCount;
    if (ctx.shadow) reportShadow(decision, ctx.shadow, ctx.spec);
  }
  return { decision, state };
}

/** The scores into status.forecast.evaluation, and ForecastReady=False NotBeneficial while standing aside. */
function reportShadow(decision: Decision, shadow: ShadowOutput, spec: PolicySpec): void {
  const scores = shadow.decided;
  decision.evaluation = shadow.scores;
  const f = decision.status?.forecast;
  if (f) {
    f.evaluation = {
      acting: scores.acting,
      windowSeconds: scores.windowSeconds,
      evidenceSeconds: scores.evidenceSeconds,
      level5: { ...scores.level5 },
      reactive: { ...scores.reactive },
    };
  }
  // ForecastOnly never acts: its gate's verdict says whether the forecast would pay if it did.
  if (scores.acting || (spec.predictive?.mode === 'ForecastOnly' && shadow.wouldAct)) return;
  const conditions = decision.conditions ?? [];
  const i = conditions.findIndex((c) => c.type === 'ForecastReady');
  const ready = conditions[i];
  if (ready?.status !== 'True') return;
  conditions[i] = {
    type: 'ForecastReady',
    status: 'False',
    reason: 'NotBeneficial',
    message: `${standAsideText(scores)}; ${ready.message}`,
  };
}

function standAsideText(s: ShadowScores): string {
  const scores = `Level 5 ${scoreText(s.level5)}, the reactive path ${scoreText(s.reactive)}`;
  if (s.evidenceSeconds < s.windowSeconds / 24)
    return `standing aside until scored for ${fmtDuration(s.windowSeconds / 24)} (${fmtDuration(s.evidenceSeconds)} so far): ${scores}`;
  return `standing aside: over the last ${fmtDuration(s.windowSeconds)}, ${scores}; Level 5 acts only while better and no worse`;
}

function scoreText(p: PathScore): string {
  return `${fmtNumber(Math.round(p.replicaSeconds / 60))} replica-minutes, ${p.missTicks} miss ticks, ${p.reversals} reversals`;
}

// ---------------------------------------------------------------------------------------------
// Reason sentence

function reasonSentence(ctx: DecisionContext, desired: number): string {
  const parts: string[] = [];
  for (let i = 0; i < ctx.metrics.length; i++) {
    const r = ctx.metrics[i] as MetricResult;
    const rawTarget = ctx.spec.metrics[i]?.target.value;
    parts.push(metricText(r, rawTarget, tolerancesOf(ctx.spec.behavior)));
  }
  let s = parts.join(', ');
  if (ctx.notes.length > 0) s += `; ${ctx.notes.join('; ')}`;
  const current = ctx.current;
  if (desired !== current) s += `; scaling ${current}→${desired}`;
  else if (ctx.notes.length === 0) s += `; no change at ${current}`;
  return s;
}

function metricText(r: MetricResult, rawTarget: number | string | undefined, tolerance: Tolerances): string {
  if (r.error !== undefined || r.value === undefined) {
    const e = r.error;
    return `${r.name} failed (${e?.kind ?? 'empty'}${e?.message ? `: ${e.message}` : ''})`;
  }
  const target = rawTarget !== undefined ? String(rawTarget) : fmtNumber(r.target);
  const vs = r.targetType === 'AverageValue' ? `${target}/replica` : `${target} total`;
  const within = r.withinTolerance ? ` (within ${toleranceText(tolerance)} tolerance)` : '';
  return `${r.name} ${fmtNumber(r.value)} vs ${vs} proposes ${r.proposedReplicas}${within}`;
}

function toleranceText(t: Tolerances): string {
  const pct = (x: number) => `${Math.round(x * 1000) / 10}%`;
  return t.scaleDown === t.scaleUp ? pct(t.scaleUp) : `-${pct(t.scaleDown)}/+${pct(t.scaleUp)}`;
}

function fmtSeconds(ms: number): string {
  return `${Math.round(ms / 100) / 10}s`;
}

/** A proposal as a replica count in [0, INT32_MAX]; a NaN keeps `otherwise`. */
function replicaCount(v: number, otherwise: number): number {
  if (Number.isNaN(v)) return otherwise;
  return clamp(Math.ceil(v), 0, INT32_MAX);
}

function clamp(v: number, lo: number, hi: number): number {
  return Math.max(lo, Math.min(v, hi));
}
