// Level 5 ("Auto Pilot") as one stage of the policy engine: anomaly handling, ineffective
// scaling, forecasting and self-tuning, applied to the reactive proposal before
// stabilization, rate limits and clamping. Pure like the rest of the engine: everything it
// knows comes from its input, and its memory is the JSON `Level5State` the engine persists.
//
// The engine calls, per tick:
//   1. `level5Targets(spec, state)` before computing the per-metric proposals (SLO-tuned
//      AverageValue targets replace the spec's);
//   2. `level5Stage(input)` with the reactive per-metric results and proposal; it returns the
//      adjusted proposal, extra limit reasons, Events, condition hints, status fields, the
//      scale-down stabilization window to use, and the next state.
// Scaling actions (for flap and ineffective-scaling detection) are inferred from the target's
// replica count changing between ticks, so no call is needed after the decision.

import {
  type AnomalyKind,
  type AnomalyMetricState,
  type AnomalyResult,
  anomalyStage,
} from '../anomaly/detector.ts';
import { type IneffectiveState, ineffectiveStage } from '../anomaly/ineffective.ts';
import { type FlapState, flapStage } from '../autotune/flap.ts';
import { type SloState, sloStage } from '../autotune/slo.ts';
import type { ScalingPolicyStatus } from '../crd/types.generated.ts';
import { parseDurationSeconds } from '../forecast/duration.ts';
import {
  type ForecastConfig,
  type ForecastResult,
  type ForecastState,
  forecastStage,
  trainForecast,
} from '../forecast/holtwinters.ts';
import { cloneData } from './clone.ts';
import { averageValueProposal, valueProposal } from './hpa.ts';
import type {
  DecisionCondition,
  EngineEvent,
  LimitReason,
  MetricForecast,
  MetricObservation,
  MetricResult,
  PolicySpec,
} from './types.ts';

export interface Level5State {
  v: 1;
  /** Per metric name. */
  anomaly: Record<string, AnomalyMetricState>;
  forecast: Record<string, ForecastState>;
  ineffective?: IneffectiveState;
  flap?: FlapState;
  slo?: SloState;
}

export interface Level5Input {
  /** The defaulted spec; its predictive, anomaly and autotune sections switch the mechanisms on. */
  spec: PolicySpec;
  /** The engine's reactive per-metric results (value, target, targetType, proposedReplicas, error). */
  metrics: MetricResult[];
  /** The engine's reactive proposal: the maximum over metrics after failure handling. */
  proposal: number;
  observations: MetricObservation[];
  currentReplicas: number;
  readyReplicas?: number;
  /** This tick's value of autotune.slo.latencyQuery, in seconds, when SLO mode is on. */
  latencySeconds?: number;
  /** epoch ms */
  now: number;
  state: Level5State | undefined;
}

export type ConditionHint = DecisionCondition;
export type { MetricForecast };

export interface Level5Output {
  /** The adjusted proposal, to go on to stabilization, rate limits, cooldowns and clamping. */
  proposal: number;
  /** What Level 5 changed, main first: 'AnomalyHeld', 'Forecast', 'ScalingIneffective'. Empty when nothing. */
  limitedBy: LimitReason[];
  /** Sentence fragments with the numbers, to append to the decision's reason. */
  reasons: string[];
  events: EngineEvent[];
  /** Conditions for the mechanisms that are enabled (absent ones are not the engine's to set). */
  conditions: ConditionHint[];
  status: {
    forecast?: NonNullable<ScalingPolicyStatus['forecast']>;
    tuned?: NonNullable<ScalingPolicyStatus['tuned']>;
  };
  /** The scale-down stabilization window to use this tick (autotune on), else undefined. */
  scaleDownStabilizationSeconds?: number;
  /** SLO-tuned AverageValue targets, by metric name (also what `level5Targets` returns next tick). */
  targets: Record<string, number>;
  /** Per-metric forecasts at now + lead, for the operator's tidemark_forecast_value. */
  forecasts: MetricForecast[];
  /** Anomalies detected so far, per metric and kind, for tidemark_anomalies_total. */
  anomalyCounts: Record<string, Partial<Record<AnomalyKind, number>>>;
  /** Times ScalingIneffective was raised, for tidemark_anomalies_total{kind="ineffective"}. */
  ineffectiveCount: number;
  state: Level5State;
}

export function newLevel5State(): Level5State {
  return { v: 1, anomaly: {}, forecast: {} };
}

const RANGE_SECONDS: Record<string, number> = {
  ms: 0.001,
  s: 1,
  m: 60,
  h: 3600,
  d: 86400,
  w: 604800,
  y: 31536000,
};

/**
 * How far a metric trails the load it measures, from its query: a range selector (`[1m]`,
 * `[5m:30s]`) averages over its window, so the value describes the load about half a window
 * ago; and the sample is read up to a scrape late, taken as half a polling interval on
 * average (Prometheus' scrape interval is not known here; the polling interval stands in).
 * Written by hand: only the range selectors' durations are needed, not a PromQL parser.
 */
export function metricLagSeconds(query: string, pollingIntervalSeconds: number): number {
  let window = 0;
  for (const m of query.matchAll(/\[\s*((?:\d+(?:ms|s|m|h|d|w|y))+)\s*(?::[^\]]*)?\]/g)) {
    let secs = 0;
    for (const part of (m[1] as string).matchAll(/(\d+)(ms|s|m|h|d|w|y)/g))
      secs += Number(part[1]) * (RANGE_SECONDS[part[2] as string] as number);
    window = Math.max(window, secs);
  }
  return window / 2 + pollingIntervalSeconds / 2;
}

/**
 * The forecaster's config from the spec. Samples are bucketed per minute (or per polling
 * interval if longer). With `metric`, the config for that metric's forecaster: the same plus
 * the metric's own lag, so the forecast is for the load the new replicas will meet.
 */
export function forecastConfig(spec: PolicySpec, metric?: string): ForecastConfig | undefined {
  const p = spec.predictive;
  if (!p?.enabled) return undefined;
  const query = metric === undefined ? undefined : spec.metrics.find((m) => m.name === metric)?.query;
  return {
    stepSeconds: Math.max(60, spec.pollingIntervalSeconds),
    seasonSeconds: parseDurationSeconds(p.seasonPeriod),
    weekly: p.weeklySeason,
    leadSeconds: p.podStartupSeconds + spec.pollingIntervalSeconds,
    maxErrorPercent: p.maxErrorPercent,
    // Replicas removed now are gone at once and a replacement asked for at the next tick is
    // ready only a lead time later, so the replicas must serve every moment until then: the
    // forecast is the highest the model goes over that stretch, not its value at the end.
    horizon: 'max',
    ...(query === undefined ? {} : { lagSeconds: metricLagSeconds(query, spec.pollingIntervalSeconds) }),
  };
}

/** SLO-tuned targets to use instead of the spec's, by metric name (empty when SLO mode is off or learning). */
export function level5Targets(spec: PolicySpec, state: Level5State | undefined): Record<string, number> {
  const slo = spec.autotune?.enabled ? spec.autotune.slo : undefined;
  const t = state?.slo?.target;
  if (!slo || t === undefined) return {};
  return { [slo.metric]: Math.min(slo.maxTarget, Math.max(slo.minTarget, t)) };
}

/**
 * Load a metric's history (e.g. from Prometheus range queries: [epoch ms, value], oldest
 * first, with gaps) into its forecaster, when a policy starts.
 */
export function level5TrainForecast(
  spec: PolicySpec,
  state: Level5State | undefined,
  metric: string,
  history: ReadonlyArray<readonly [number, number]>,
): Level5State {
  const cfg = forecastConfig(spec, metric);
  const s = state ? cloneData(state) : newLevel5State();
  if (!cfg) return s;
  s.forecast[metric] = trainForecast(cfg, s.forecast[metric], history);
  return s;
}

function propose(m: MetricResult, value: number, current: number, ready: number, tolerance: number): number {
  return m.targetType === 'AverageValue'
    ? averageValueProposal(value, m.target, current, tolerance).replicas
    : valueProposal(value, m.target, current, ready, tolerance).replicas;
}

function fmt(v: number): string {
  if (Number.isInteger(v)) return String(v);
  return Math.abs(v) >= 100 ? v.toFixed(1) : v.toPrecision(3);
}

export function level5Stage(input: Level5Input): Level5Output {
  const { spec, now, currentReplicas } = input;
  const prev = input.state?.v === 1 ? input.state : newLevel5State();
  const state: Level5State = { v: 1, anomaly: {}, forecast: {} };
  const events: EngineEvent[] = [];
  const conditions: ConditionHint[] = [];
  const limitedBy: LimitReason[] = [];
  const reasons: string[] = [];
  const status: Level5Output['status'] = {};
  const tolerance = spec.behavior.tolerance;
  const ready = input.readyReplicas ?? currentReplicas;
  // The engine's pod count for Value targets: a readyReplicas of 0 (every pod restarting) is
  // ignored, or a ready forecast would propose 0 replicas and Full mode would follow it down.
  const podCount =
    input.readyReplicas !== undefined && input.readyReplicas > 0 ? input.readyReplicas : currentReplicas;
  const obsByName = new Map(input.observations.map((o) => [o.name, o]));
  let proposal = input.proposal;

  // 1. Anomalous input: held drops stand in with the last good value.
  const anomalies = new Map<string, AnomalyResult>();
  const anomalyOn = spec.anomaly?.enabled === true;
  if (anomalyOn && spec.anomaly) {
    const cfg = {
      confirmationTicks: spec.anomaly.confirmationTicks,
      deviationThreshold: spec.anomaly.deviationThreshold,
      staleAfterSeconds: Math.max(60, 3 * spec.pollingIntervalSeconds),
    };
    const notes: string[] = [];
    for (const m of input.metrics) {
      const out = anomalyStage(cfg, prev.anomaly[m.name], obsByName.get(m.name), now);
      state.anomaly[m.name] = out.state;
      events.push(...out.events);
      anomalies.set(m.name, out.result);
      const r = out.result;
      if (r.held && r.value !== undefined) {
        const held = propose(m, r.value, currentReplicas, podCount, tolerance);
        reasons.push(
          `${m.name} ${fmt(r.observed ?? Number.NaN)} held back as anomalous (${r.heldTicks}/${spec.anomaly.confirmationTicks} ticks), using ${fmt(r.value)} which proposes ${held}`,
        );
        if (held > proposal) {
          proposal = held;
          if (!limitedBy.includes('AnomalyHeld')) limitedBy.push('AnomalyHeld');
        }
      }
      if (r.message && (r.held || r.kind === 'missing' || r.kind === 'stale')) notes.push(r.message);
      else if (r.dropout) notes.push(`${m.name} collapsed to near zero (outage suspected, not learned)`);
    }
    conditions.push(
      notes.length > 0
        ? { type: 'AnomalyDetected', status: 'True', reason: 'InputAnomalous', message: notes.join('; ') }
        : {
            type: 'AnomalyDetected',
            status: 'False',
            reason: 'InputNormal',
            message: 'no anomalous metric input',
          },
    );
  }

  // 2. Forecast at now + lead time.
  const forecasts: MetricForecast[] = [];
  const fcfg = forecastConfig(spec);
  let forecastGuards = false;
  if (fcfg && spec.predictive) {
    const results = new Map<string, ForecastResult>();
    for (const m of input.metrics) {
      const obs = obsByName.get(m.name);
      const a = anomalies.get(m.name);
      const value = obs?.ok ? obs.value : undefined;
      const trusted = value !== undefined && !(a?.anomalous ?? false) && !(a?.held ?? false);
      const out = forecastStage(
        forecastConfig(spec, m.name) ?? fcfg,
        prev.forecast[m.name],
        { ...(value === undefined ? {} : { value }), trusted },
        now,
      );
      state.forecast[m.name] = out.state;
      events.push(...out.events.map((e) => ({ ...e, message: `${m.name}: ${e.message}` })));
      results.set(m.name, out.result);
      const f = out.result.forecast;
      if (f) {
        forecasts.push({
          metric: m.name,
          value: f.value,
          lower: f.lower,
          upper: f.upper,
          // Sized for the upper bound: a replica started for load that does not come costs a
          // few replica-minutes, a missing one costs requests.
          replicas: propose(m, f.upper, currentReplicas, podCount, tolerance),
          ready: out.result.ready,
        });
      }
    }
    const readyOnes = forecasts.filter((f) => f.ready);
    const allReady = input.metrics.length > 0 && readyOnes.length === input.metrics.length;
    const driver = readyOnes.reduce<MetricForecast | undefined>(
      (best, f) => (best === undefined || f.replicas > best.replicas ? f : best),
      undefined,
    );
    const shown = driver ?? forecasts[0];
    const shownResult = shown ? results.get(shown.metric) : results.values().next().value;
    const asideReasons = [...results.entries()]
      .filter(([, r]) => !r.ready)
      .map(([name, r]) => `${name}: ${r.standAsideReason}`);
    const lead = fcfg.leadSeconds;
    forecastGuards = driver !== undefined && allReady && spec.predictive.mode !== 'ForecastOnly';
    if (driver) {
      const fr = driver.replicas;
      const line = `forecast ${driver.metric} ${fmt(driver.value)} (${fmt(driver.lower)}–${fmt(driver.upper)}) up to +${lead}s proposes ${fr}`;
      if (spec.predictive.mode === 'ScaleUpOnly') {
        if (fr > proposal) {
          proposal = fr;
          limitedBy.push('Forecast');
          reasons.push(line);
        }
      } else if (spec.predictive.mode === 'Full' && allReady) {
        // Follow the forecast both ways, unless the load right now is already above what the
        // model thought possible: then the forecast is wrong and the reactive proposal stands.
        const surprised = input.metrics.some((m) => {
          const r = results.get(m.name);
          return m.value !== undefined && r?.nowcast !== undefined && m.value > r.nowcast.upper;
        });
        const target = surprised ? Math.max(fr, proposal) : fr;
        if (target !== proposal) {
          proposal = target;
          limitedBy.push('Forecast');
          reasons.push(line);
        } else if (surprised)
          reasons.push(`${line}; load above the forecast band now, reactive proposal kept`);
      }
    }
    if (shownResult) {
      const f = shownResult.forecast;
      status.forecast = {
        model: fcfg.weekly ? 'holt-winters-weekly' : 'holt-winters',
        at: new Date(shownResult.at).toISOString(),
        standingAside: driver === undefined,
        ...(driver ? { replicas: driver.replicas } : shown ? { replicas: shown.replicas } : {}),
        ...(f ? { value: fmt(f.value), lower: fmt(f.lower), upper: fmt(f.upper) } : {}),
        ...(shownResult.errorPercent === undefined
          ? {}
          : { errorPercent: shownResult.errorPercent.toFixed(1) }),
      };
    }
    conditions.push(
      driver
        ? {
            type: 'ForecastReady',
            status: 'True',
            reason: 'Forecasting',
            message: `${spec.predictive.mode}: ${readyOnes.map((f) => `${f.metric} ${fmt(f.value)} up to +${lead}s proposes ${f.replicas}`).join(', ')}${asideReasons.length > 0 ? `; standing aside for ${asideReasons.join('; ')}` : ''}`,
          }
        : {
            type: 'ForecastReady',
            status: 'False',
            reason: 'StandingAside',
            message: asideReasons.join('; ') || 'no metric to forecast',
          },
    );
  }

  // 3. Ineffective scaling: cap scale-ups once more replicas stopped helping.
  if (anomalyOn && spec.anomaly) {
    let utilisation: number | undefined;
    for (const m of input.metrics) {
      if (m.value === undefined || anomalies.get(m.name)?.held || !(m.target > 0)) continue;
      const u =
        m.targetType === 'AverageValue'
          ? ready > 0
            ? m.value / (ready * m.target)
            : undefined
          : m.value / m.target;
      if (u !== undefined && Number.isFinite(u)) utilisation = Math.max(utilisation ?? 0, u);
    }
    const out = ineffectiveStage(
      {
        maxIneffectiveScaleUps: spec.anomaly.maxIneffectiveScaleUps,
        settleSeconds: (spec.predictive?.podStartupSeconds ?? 60) + 60 + 2 * spec.pollingIntervalSeconds,
      },
      prev.ineffective,
      {
        currentReplicas,
        ...(input.readyReplicas === undefined ? {} : { readyReplicas: input.readyReplicas }),
        ...(utilisation === undefined ? {} : { utilisation }),
        tolerance,
      },
      now,
    );
    state.ineffective = out.state;
    events.push(...out.events);
    const r = out.result;
    if (r.capAt !== undefined && proposal > r.capAt) {
      reasons.push(`scale-up to ${proposal} refused: ${r.message}`);
      proposal = r.capAt;
      limitedBy.unshift('ScalingIneffective');
    }
    conditions.push(
      r.raised
        ? {
            type: 'ScalingIneffective',
            status: 'True',
            reason: 'LoadPerReplicaNotFalling',
            message: r.message ?? '',
          }
        : {
            type: 'ScalingIneffective',
            status: 'False',
            reason: 'ScalingEffective',
            message: 'scale-ups lower the load per replica',
          },
    );
  }

  // 4. Self-tuning.
  let scaleDownStabilizationSeconds: number | undefined;
  const targets: Record<string, number> = {};
  const at = spec.autotune;
  if (at?.enabled) {
    const out = flapStage(
      {
        baseSeconds: spec.behavior.scaleDown.stabilizationWindowSeconds,
        maxSeconds: at.maxScaleDownStabilizationSeconds,
        reversalThreshold: at.reversalThreshold,
        windowSeconds: at.windowSeconds,
        // A scale-up within one spec window (plus the time a new pod needs) of a scale-down:
        // a window that long again would have kept the replicas.
        regretSeconds:
          spec.behavior.scaleDown.stabilizationWindowSeconds +
          (spec.predictive?.podStartupSeconds ?? 60) +
          spec.pollingIntervalSeconds,
      },
      prev.flap,
      { currentReplicas },
      now,
    );
    state.flap = out.state;
    events.push(...out.events);
    scaleDownStabilizationSeconds = out.result.scaleDownStabilizationSeconds;
    const why: string[] = [];
    if (out.result.reason) why.push(out.result.reason);
    status.tuned = { scaleDownStabilizationSeconds };
    if (at.slo) {
      const m = input.metrics.find((x) => x.name === at.slo?.metric);
      const a = anomalies.get(at.slo.metric);
      const load = m?.value !== undefined && ready > 0 && !a?.held ? m.value / ready : undefined;
      const s = sloStage(
        at.slo,
        prev.slo,
        {
          ...(load === undefined ? {} : { loadPerReplica: load }),
          ...(input.latencySeconds === undefined ? {} : { latencySeconds: input.latencySeconds }),
        },
        now,
      );
      state.slo = s.state;
      events.push(...s.events);
      if (s.result.target !== undefined) {
        targets[at.slo.metric] = s.result.target;
        status.tuned.target = fmt(s.result.target);
      }
      why.push(`${at.slo.metric} target: ${s.result.reason}`);
    }
    status.tuned.reason = why.join('; ') || 'spec values: no flapping seen';
  }

  // 5. Forecast-guarded scale-down. The scale-down window waits out dips because a reactive
  // scaler cannot tell a dip from a decline; a ready forecast (its recent error within
  // maxErrorPercent) can: its upper bound, taken over the whole stretch until a replacement
  // pod could be ready (lead time plus the metric's lag), is already in the proposal, so if
  // the load comes back before a new pod could serve it, the floor has kept the replicas. The
  // window is then not needed: it drops to zero, or, while the self-tuner has widened it for
  // flapping, to the lead time for each spec window of widening, never above what it was.
  if (forecastGuards && fcfg) {
    const specWindow = spec.behavior.scaleDown.stabilizationWindowSeconds;
    const window = scaleDownStabilizationSeconds ?? specWindow;
    const widening = specWindow > 0 ? window / specWindow : 1;
    const guarded = Math.min(window, Math.ceil(fcfg.leadSeconds * Math.max(0, widening - 1)));
    if (guarded < window) {
      scaleDownStabilizationSeconds = guarded;
      if (proposal < currentReplicas)
        reasons.push(
          `scale-down window ${guarded}s instead of ${window}s: the forecast floor guards the next ${fcfg.leadSeconds}s`,
        );
    }
  }

  const anomalyCounts: Level5Output['anomalyCounts'] = {};
  for (const [name, s] of Object.entries(state.anomaly)) anomalyCounts[name] = { ...s.counts };

  return {
    proposal,
    limitedBy,
    reasons,
    events,
    conditions,
    status,
    ...(scaleDownStabilizationSeconds === undefined ? {} : { scaleDownStabilizationSeconds }),
    targets,
    forecasts,
    anomalyCounts,
    ineffectiveCount: state.ineffective?.count ?? 0,
    state,
  };
}
