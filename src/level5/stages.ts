// Level 5 ("Auto Pilot") in the policy engine: the anomaly, start-up, forecast, ineffective-
// scaling, self-tuning and guard stages, each a small function over one tick's Level 5 context,
// run in that order by `level5Stage`. Pure like the rest of the engine: everything it knows
// comes from its input, and its memory is the JSON `Level5State` the engine persists. The
// stages live below the engine (forecast/, anomaly/, autotune/ here import only src/core).
//
// The engine calls, per tick:
//   1. `level5Targets(spec, state)` before computing the per-metric proposals (SLO-tuned
//      AverageValue targets replace the spec's);
//   2. `level5Stage(input)` with the reactive per-metric results and proposal; it returns a
//      plan (floors, the forecast's count, a cap) that `applyLevel5Plan` applies to any
//      reactive proposal (the acting path's, or the shadow's virtual Level 5 path's), Events,
//      condition hints, status fields, the scale-down window to use, and the next state.
// Scaling actions (for flap, ineffective-scaling and start-up learning) are inferred from the
// target's replica count changing between ticks, so no call is needed after the decision.

import { cloneData } from '../core/clone.ts';
import { fmtNumber as fmt } from '../core/format.ts';
import { averageValueProposal, type Tolerance, tolerancesOf, valueProposal } from '../core/hpa-arithmetic.ts';
import { promqlDurationSeconds } from '../core/promql-duration.ts';
import type {
  DecisionCondition,
  EngineEvent,
  LimitReason,
  MetricForecast,
  MetricObservation,
  MetricResult,
  PolicySpec,
} from '../core/types.ts';
import type { ScalingPolicyStatus } from '../crd/types.generated.ts';
import {
  type AnomalyKind,
  type AnomalyMetricState,
  type AnomalyResult,
  anomalyStage,
} from './anomaly/detector.ts';
import { type IneffectiveState, ineffectiveStage } from './anomaly/ineffective.ts';
import { type FlapState, flapStage } from './autotune/flap.ts';
import { type LullState, lullStage } from './autotune/lull.ts';
import { type SloState, sloStage } from './autotune/slo.ts';
import { learnedStartupSeconds, type StartupState, startupStage } from './autotune/startup.ts';
import { parseDurationSeconds } from './forecast/duration.ts';
import { MIN_ERRORS } from './forecast/headroom.ts';
import {
  type ForecastConfig,
  type ForecastResult,
  type ForecastState,
  forecastStage,
  trainForecast,
} from './forecast/holtwinters.ts';
import { loadOf, proposalAt, type ShadowState } from './shadow.ts';

export interface Level5State {
  v: 1;
  /** Per metric name. */
  anomaly: Record<string, AnomalyMetricState>;
  forecast: Record<string, ForecastState>;
  ineffective?: IneffectiveState;
  flap?: FlapState;
  lull?: LullState;
  slo?: SloState;
  startup?: StartupState;
  /** The shadow evaluation (shadow.ts); kept by the engine, which runs it. */
  shadow?: ShadowState;
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
  /** What Level 5 does to a reactive proposal; `proposal` is this plan applied to the input's. */
  plan: Level5Plan;
  /** The start-up time the forecast's lead uses: the spec's, else the learned one, else 60 s. */
  startupSeconds: number;
  /** What Level 5 changed, main first: 'AnomalyHeld', 'Forecast', 'ScalingIneffective'. Empty when nothing. */
  limitedBy: LimitReason[];
  /** Sentence fragments with the numbers, to append to the decision's reason. */
  reasons: string[];
  /** The fragments about the input guards (anomaly holds): shown whether or not Level 5 acts. */
  guardReasons: string[];
  /** The fragments about the bets outside the plan (the forecast-guarded window): shown while acting. */
  betReasons: string[];
  events: EngineEvent[];
  /** Conditions for the mechanisms that are enabled (absent ones are not the engine's to set). */
  conditions: ConditionHint[];
  status: {
    forecast?: NonNullable<ScalingPolicyStatus['forecast']>;
    tuned?: NonNullable<ScalingPolicyStatus['tuned']>;
  };
  /** The scale-down stabilization window to use this tick (autotune on), else undefined. */
  scaleDownStabilizationSeconds?: number;
  /** The flap-tuned window alone (autotune on), without the forecast's guard shortening it. */
  flapTunedSeconds?: number;
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
    window = Math.max(window, promqlDurationSeconds(m[1] as string));
  }
  return window / 2 + pollingIntervalSeconds / 2;
}

/**
 * The forecaster's config from the spec. Samples are bucketed per minute (or per polling
 * interval if longer). With `metric`, the config for that metric's forecaster: the same plus
 * the metric's own lag, so the forecast is for the load the new replicas will meet.
 */
export function forecastConfig(
  spec: PolicySpec,
  metric?: string,
  learnedStartup?: number,
): ForecastConfig | undefined {
  const p = spec.predictive;
  if (!p?.enabled) return undefined;
  const query = metric === undefined ? undefined : spec.metrics.find((m) => m.name === metric)?.query;
  return {
    stepSeconds: Math.max(60, spec.pollingIntervalSeconds),
    seasonSeconds: parseDurationSeconds(p.seasonPeriod),
    weekly: p.weeklySeason,
    leadSeconds: startupSecondsOf(spec, learnedStartup) + spec.pollingIntervalSeconds,
    maxErrorPercent: p.maxErrorPercent,
    missBudget: p.targetMissPercent / 100,
    // Replicas removed now are gone at once and a replacement asked for at the next tick is
    // ready only a lead time later, so the replicas must serve every moment until then: the
    // forecast is the highest the model goes over that stretch, not its value at the end.
    horizon: 'max',
    ...(query === undefined ? {} : { lagSeconds: metricLagSeconds(query, spec.pollingIntervalSeconds) }),
  };
}

/** Start-up time used before the first scale-up has been measured. */
export const DEFAULT_STARTUP_SECONDS = 60;

/** The start-up time: podStartupSeconds when set, else the learned one, else the default. */
export function startupSecondsOf(spec: PolicySpec, learned?: number): number {
  return spec.predictive?.podStartupSeconds ?? learned ?? DEFAULT_STARTUP_SECONDS;
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

function propose(
  m: MetricResult,
  value: number,
  current: number,
  ready: number,
  tolerance: Tolerance,
): number {
  return m.targetType === 'AverageValue'
    ? averageValueProposal(value, m.target, current, tolerance).replicas
    : valueProposal(value, m.target, current, ready, tolerance).replicas;
}

/**
 * What Level 5 does to a reactive proposal. Loads, not replica counts: each path sizes them at
 * its own count (the tolerance band is around that count) and its own targets, so the virtual
 * Level 5 path is not pulled towards the acting path's count.
 */
export interface Level5Plan {
  /** The metrics as the engine sizes them: type and (spec) target; the tolerance band. */
  sizing: { metrics: PlanMetric[]; tolerance: Tolerance };
  /** This tick's load of each metric that has a value (target units summed over replicas). */
  loads: Record<string, number>;
  /** Anomalous drops held back: the last good load of each held metric (a floor). */
  held?: Record<string, number>;
  /** Values not believed (a spike's aftermath, an erratic exporter, a doubled series): the load to use instead, both ways. */
  standIn?: Record<string, number>;
  /** epoch ms: the recommendations made since came from faulty values and are withdrawn from the windows. */
  retractSince?: number;
  /** The forecast's load of each ready metric: a floor (ScaleUpOnly) or the proposal (Full, unless surprised). */
  forecast?: {
    loads: Record<string, number>;
    mode: 'ScaleUpOnly' | 'Full';
    surprised: boolean;
    line: string;
  };
  /** Scale-ups refused as ineffective: a ceiling. */
  cap?: { at: number; message: string };
}

export interface PlanMetric {
  name: string;
  targetType: 'AverageValue' | 'Value';
  target: number;
}

/** Where a plan is applied: a path's count, its ready replicas, and its targets where they differ from the spec's. */
export interface PlanAt {
  current: number;
  ready: number;
  targets?: Record<string, number>;
  /** Where the forecast is sized, when not at `targets` (an operating point's, operating-point.ts). */
  forecastTargets?: Record<string, number>;
}

/** The count `loads` need at `at` (max over metrics), or undefined when none has a load. */
export function sizeLoads(plan: Level5Plan, loads: Record<string, number>, at: PlanAt): number | undefined {
  let p: number | undefined;
  for (const m of plan.sizing.metrics) {
    const load = loads[m.name];
    const target = at.targets?.[m.name] ?? m.target;
    if (load === undefined || !(target > 0)) continue;
    const r = proposalAt(load, m.targetType, target, at.current, at.ready, plan.sizing.tolerance);
    if (Number.isFinite(r)) p = Math.max(p ?? r, r);
  }
  return p;
}

/** The proposal with the stand-ins in place of the values not believed (undefined when none). */
function standInProposal(plan: Level5Plan, at: PlanAt): number | undefined {
  return plan.standIn ? sizeLoads(plan, { ...plan.loads, ...plan.standIn }, at) : undefined;
}

/** The input guards alone (anomaly hold, ineffective-scaling cap): not bets, so every path has them. */
export function applyGuards(plan: Level5Plan, reactive: number, at: PlanAt): number {
  const base = standInProposal(plan, at) ?? reactive;
  const held = plan.held ? sizeLoads(plan, plan.held, at) : undefined;
  const p = held !== undefined && held > base ? held : base;
  return plan.cap && p > plan.cap.at ? plan.cap.at : p;
}

/** A reactive proposal with the plan applied at `at`, and what changed it (main reason first). */
export function applyLevel5Plan(
  plan: Level5Plan,
  reactive: number,
  at: PlanAt,
): { proposal: number; limitedBy: LimitReason[]; reasons: string[] } {
  const limitedBy: LimitReason[] = [];
  const reasons: string[] = [];
  const standIn = standInProposal(plan, at);
  if (standIn !== undefined && standIn !== reactive) limitedBy.push('AnomalyHeld');
  let p = standIn ?? reactive;
  const held = plan.held ? sizeLoads(plan, plan.held, at) : undefined;
  if (held !== undefined && held > p) {
    p = held;
    if (!limitedBy.includes('AnomalyHeld')) limitedBy.push('AnomalyHeld');
  }
  const f = plan.forecast;
  const fc = f
    ? sizeLoads(plan, f.loads, at.forecastTargets ? { ...at, targets: at.forecastTargets } : at)
    : undefined;
  if (f && fc !== undefined) {
    const target = f.mode === 'ScaleUpOnly' || f.surprised ? Math.max(fc, p) : fc;
    if (target !== p) {
      p = target;
      limitedBy.push('Forecast');
      reasons.push(f.line);
    } else if (f.surprised && f.mode === 'Full')
      reasons.push(`${f.line}; load above the forecast band now, reactive proposal kept`);
  }
  if (plan.cap && p > plan.cap.at) {
    reasons.push(`scale-up to ${p} refused: ${plan.cap.message}`);
    p = plan.cap.at;
    limitedBy.unshift('ScalingIneffective');
  }
  return { proposal: p, limitedBy, reasons };
}

/** One tick's Level 5 context: what the stages read, and what they add to. */
interface Ctx {
  readonly input: Level5Input;
  readonly spec: PolicySpec;
  readonly now: number;
  readonly current: number;
  readonly ready: number;
  /** The engine's pod count for Value targets (readyReplicas, unless 0). */
  readonly podCount: number;
  readonly prev: Level5State;
  readonly state: Level5State;
  readonly obs: Map<string, MetricObservation>;
  readonly anomalies: Map<string, AnomalyResult>;
  readonly events: EngineEvent[];
  readonly conditions: ConditionHint[];
  readonly reasons: string[];
  readonly betReasons: string[];
  readonly status: Level5Output['status'];
  readonly plan: Level5Plan;
  readonly forecasts: MetricForecast[];
  /** The load each metric's forecast is sized for, by metric name. */
  readonly forecastLoads: Record<string, number>;
  readonly targets: Record<string, number>;
  startupSeconds: number;
  /** Whether a ready forecast for every metric now guards scale-downs. */
  forecastGuards: boolean;
  scaleDownStabilizationSeconds?: number;
}

/**
 * The engine's pod count for Value targets. A readyReplicas of 0 (every pod restarting) is
 * ignored, or a ready forecast would propose 0 replicas and Full mode would follow it down.
 */
function podCountOf(input: Level5Input): number {
  return input.readyReplicas !== undefined && input.readyReplicas > 0
    ? input.readyReplicas
    : input.currentReplicas;
}

function newCtx(input: Level5Input): Ctx {
  const prev = input.state?.v === 1 ? input.state : newLevel5State();
  const current = input.currentReplicas;
  return {
    input,
    spec: input.spec,
    now: input.now,
    current,
    ready: input.readyReplicas ?? current,
    podCount: podCountOf(input),
    prev,
    state: { v: 1, anomaly: {}, forecast: {}, ...(prev.shadow ? { shadow: prev.shadow } : {}) },
    obs: new Map(input.observations.map((o) => [o.name, o])),
    anomalies: new Map(),
    events: [],
    conditions: [],
    reasons: [],
    betReasons: [],
    status: {},
    plan: {
      sizing: {
        metrics: input.metrics.map((m) => ({ name: m.name, targetType: m.targetType, target: m.target })),
        tolerance: tolerancesOf(input.spec.behavior),
      },
      loads: Object.fromEntries(
        input.metrics.filter((m) => m.value !== undefined).map((m) => [m.name, loadOf(m, podCountOf(input))]),
      ),
    },
    forecastLoads: {},
    forecasts: [],
    targets: {},
    startupSeconds: DEFAULT_STARTUP_SECONDS,
    forecastGuards: false,
  };
}

/** 1. Anomalous input: held drops stand in with the last good value. */
function anomalyStep(c: Ctx): void {
  const a = c.spec.anomaly;
  if (!a?.enabled) return;
  const cfg = {
    confirmationTicks: a.confirmationTicks,
    deviationThreshold: a.deviationThreshold,
    // Zeros are held through two of the user's scale-down windows: longer than the window a
    // bogus zero must outlast to scale down; a user who scales down at once asked for speed.
    zeroHoldSeconds: 2 * c.spec.behavior.scaleDown.stabilizationWindowSeconds,
    staleAfterSeconds: Math.max(60, 3 * c.spec.pollingIntervalSeconds),
  };
  const notes: string[] = [];
  for (const m of c.input.metrics) {
    const out = anomalyStage(cfg, c.prev.anomaly[m.name], c.obs.get(m.name), c.now, c.podCount);
    c.state.anomaly[m.name] = out.state;
    c.events.push(...out.events);
    c.anomalies.set(m.name, out.result);
    const r = out.result;
    if (r.held && r.value !== undefined) {
      const held = propose(m, r.value, c.current, c.podCount, tolerancesOf(c.spec.behavior));
      c.reasons.push(
        `${m.name} ${fmt(r.observed ?? Number.NaN)} held back as anomalous (${r.heldTicks}/${a.confirmationTicks} ticks), using ${fmt(r.value)} which proposes ${held}`,
      );
      c.plan.held = {
        ...c.plan.held,
        [m.name]: loadOf({ value: r.value, targetType: m.targetType }, c.podCount),
      };
    }
    standIn(c, m, r);
    if (r.message && (r.held || r.replaced || r.kind === 'missing' || r.kind === 'stale'))
      notes.push(r.message);
    else if (r.dropout) notes.push(`${m.name} collapsed to near zero (outage suspected, not learned)`);
  }
  c.conditions.push(
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

/** A value not believed: its stand-in replaces it both ways; what faulty values proposed is withdrawn. */
function standIn(c: Ctx, m: MetricResult, r: AnomalyResult): void {
  if (r.retractSince !== undefined)
    c.plan.retractSince = Math.min(c.plan.retractSince ?? r.retractSince, r.retractSince);
  if (!r.replaced || r.value === undefined) return;
  const load = loadOf({ value: r.value, targetType: m.targetType }, c.podCount);
  c.plan.standIn = { ...c.plan.standIn, [m.name]: load };
  c.reasons.push(
    `${m.name} ${fmt(r.observed ?? Number.NaN)} not believed (${r.kind}), using ${fmt(r.value)} which proposes ${propose(m, r.value, c.current, c.podCount, tolerancesOf(c.spec.behavior))}`,
  );
}

/**
 * A metric with no sample or a frozen one: the last good value holds (no scale-down), and a
 * ready forecaster's estimate of the load now raises it, so a load that climbs while the
 * metric is blind is still met.
 */
function blindFloor(c: Ctx, results: Map<string, ForecastResult>): void {
  for (const m of c.input.metrics) {
    const kind = c.anomalies.get(m.name)?.kind;
    if (kind !== 'missing' && kind !== 'stale') continue;
    const f = results.get(m.name);
    const last = c.state.anomaly[m.name]?.lastGood;
    const now = f?.ready ? f.nowcast?.value : undefined;
    const value = Math.max(last ?? 0, now ?? 0);
    if (!(value > 0)) continue;
    c.plan.held = { ...c.plan.held, [m.name]: loadOf({ value, targetType: m.targetType }, c.podCount) };
    if (now !== undefined && now > (last ?? 0))
      c.reasons.push(
        `${m.name} ${kind}: the forecast puts the load now at ${fmt(now)}, above the last good ${fmt(last ?? 0)}`,
      );
  }
}

/** 2. Start-up time: measured from the target's ready replicas, used when the spec sets none. */
function startupStep(c: Ctx): void {
  if (!c.spec.predictive?.enabled) return;
  c.state.startup = startupStage(c.prev.startup, {
    currentReplicas: c.current,
    ...(c.input.readyReplicas === undefined ? {} : { readyReplicas: c.input.readyReplicas }),
    now: c.now,
  });
  c.startupSeconds = startupSecondsOf(c.spec, learnedStartupSeconds(c.state.startup));
}

/** The forecast of one metric, as replicas sized for forecast plus calibrated headroom. */
function forecastMetric(c: Ctx, m: MetricResult): ForecastResult {
  const obs = c.obs.get(m.name);
  const a = c.anomalies.get(m.name);
  const value = obs?.ok ? obs.value : undefined;
  const trusted = value !== undefined && !(a?.anomalous ?? false) && !(a?.held ?? false);
  const cfg = forecastConfig(c.spec, m.name, learnedStartupSeconds(c.state.startup)) as ForecastConfig;
  const out = forecastStage(
    cfg,
    c.prev.forecast[m.name],
    { ...(value === undefined ? {} : { value }), trusted },
    c.now,
  );
  c.state.forecast[m.name] = out.state;
  c.events.push(...out.events.map((e) => ({ ...e, message: `${m.name}: ${e.message}` })));
  const f = out.result.forecast;
  if (f) {
    // Sized for the highest point over the lead plus the headroom calibrated towards the miss
    // budget; until enough forecasts are checked to calibrate it, for the upper bound.
    const calibrated = (out.state.hr?.n ?? 0) >= MIN_ERRORS;
    const sized = calibrated ? Math.max(0, f.value + out.result.headroom) : f.upper;
    c.forecastLoads[m.name] = loadOf({ value: sized, targetType: m.targetType }, c.podCount);
    c.forecasts.push({
      metric: m.name,
      value: f.value,
      lower: f.lower,
      upper: f.upper,
      replicas: propose(m, sized, c.current, c.podCount, tolerancesOf(c.spec.behavior)),
      ready: out.result.ready,
    });
  }
  return out.result;
}

/** 3. Forecast at now + lead time: the plan's forecast count, status.forecast and ForecastReady. */
function forecastStep(c: Ctx): void {
  const p = c.spec.predictive;
  if (!p?.enabled) return;
  const results = new Map<string, ForecastResult>();
  for (const m of c.input.metrics) results.set(m.name, forecastMetric(c, m));
  if (c.spec.anomaly?.enabled) blindFloor(c, results);
  const readyOnes = c.forecasts.filter((f) => f.ready);
  const allReady = c.input.metrics.length > 0 && readyOnes.length === c.input.metrics.length;
  const driver = readyOnes.reduce<MetricForecast | undefined>(
    (best, f) => (best === undefined || f.replicas > best.replicas ? f : best),
    undefined,
  );
  const lead = c.startupSeconds + c.spec.pollingIntervalSeconds;
  c.forecastGuards = driver !== undefined && allReady && p.mode !== 'ForecastOnly';
  // ForecastOnly never acts on the forecast, but the shadow evaluation scores it as ScaleUpOnly
  // would act, so the status says whether switching it on would pay.
  const mode = p.mode === 'ForecastOnly' ? 'ScaleUpOnly' : p.mode;
  if (driver && (mode === 'ScaleUpOnly' || allReady)) {
    // Unless the load right now is already above what the model thought possible: then the
    // forecast is wrong and the reactive proposal stands.
    const surprised = c.input.metrics.some((m) => {
      const n = results.get(m.name)?.nowcast;
      return m.value !== undefined && n !== undefined && m.value > n.upper;
    });
    c.plan.forecast = {
      loads: Object.fromEntries(readyOnes.map((f) => [f.metric, c.forecastLoads[f.metric] as number])),
      mode,
      surprised,
      line: `forecast ${driver.metric} ${fmt(driver.value)} (${fmt(driver.lower)}–${fmt(driver.upper)}) up to +${lead}s proposes ${driver.replicas}`,
    };
  }
  forecastStatus(c, results, driver, lead);
}

function forecastStatus(
  c: Ctx,
  results: Map<string, ForecastResult>,
  driver: MetricForecast | undefined,
  lead: number,
): void {
  const p = c.spec.predictive as NonNullable<PolicySpec['predictive']>;
  const shown = driver ?? c.forecasts[0];
  const r = shown ? results.get(shown.metric) : results.values().next().value;
  const aside = [...results.entries()]
    .filter(([, x]) => !x.ready)
    .map(([n, x]) => `${n}: ${x.standAsideReason}`);
  const learned = learnedStartupSeconds(c.state.startup);
  if (r) {
    const f = r.forecast;
    const hr = shown ? c.state.forecast[shown.metric]?.hr : undefined;
    c.status.forecast = {
      model: p.weeklySeason ? 'holt-winters-weekly' : 'holt-winters',
      at: new Date(r.at).toISOString(),
      standingAside: driver === undefined,
      ...(shown ? { replicas: shown.replicas } : {}),
      ...(f ? { value: fmt(f.value), lower: fmt(f.lower), upper: fmt(f.upper) } : {}),
      ...(r.errorPercent === undefined ? {} : { errorPercent: fmt(r.errorPercent) }),
      ...(hr && hr.n >= MIN_ERRORS ? { headroom: fmt(hr.q), headroomMissPercent: fmt(missPercent(hr)) } : {}),
      leadSeconds: lead,
      ...(learned === undefined ? {} : { learnedStartupSeconds: learned }),
    };
  }
  const ready = c.forecasts.filter((f) => f.ready);
  c.conditions.push(
    driver
      ? {
          type: 'ForecastReady',
          status: 'True',
          reason: 'Forecasting',
          message: `${p.mode}: ${ready.map((f) => `${f.metric} ${fmt(f.value)} up to +${lead}s proposes ${f.replicas}`).join(', ')}${aside.length > 0 ? `; standing aside for ${aside.join('; ')}` : ''}`,
        }
      : {
          type: 'ForecastReady',
          status: 'False',
          reason: 'StandingAside',
          message: aside.join('; ') || 'no metric to forecast',
        },
  );
}

function missPercent(hr: { n: number; miss: number }): number {
  return hr.n > 1 ? (100 * hr.miss) / (hr.n - 1) : 0;
}

/** 4. Ineffective scaling: cap scale-ups once more replicas stopped helping. */
function ineffectiveStep(c: Ctx): void {
  const a = c.spec.anomaly;
  if (!a?.enabled) return;
  let utilisation: number | undefined;
  for (const m of c.input.metrics) {
    const a = c.anomalies.get(m.name);
    if (m.value === undefined || a?.held || a?.replaced || !(m.target > 0)) continue;
    const u =
      m.targetType === 'AverageValue'
        ? c.ready > 0
          ? m.value / (c.ready * m.target)
          : undefined
        : m.value / m.target;
    if (u !== undefined && Number.isFinite(u)) utilisation = Math.max(utilisation ?? 0, u);
  }
  const out = ineffectiveStage(
    {
      maxIneffectiveScaleUps: a.maxIneffectiveScaleUps,
      settleSeconds: c.startupSeconds + 60 + 2 * c.spec.pollingIntervalSeconds,
    },
    c.prev.ineffective,
    {
      currentReplicas: c.current,
      ...(c.input.readyReplicas === undefined ? {} : { readyReplicas: c.input.readyReplicas }),
      ...(utilisation === undefined ? {} : { utilisation }),
      tolerance: tolerancesOf(c.spec.behavior).scaleUp,
    },
    c.now,
  );
  c.state.ineffective = out.state;
  c.events.push(...out.events);
  const r = out.result;
  if (r.capAt !== undefined) c.plan.cap = { at: r.capAt, message: r.message ?? '' };
  c.conditions.push(
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

/** 5. Self-tuning: the scale-down window against flapping, and the SLO target. */
function tuneStep(c: Ctx): void {
  const at = c.spec.autotune;
  if (!at?.enabled) return;
  const base = c.spec.behavior.scaleDown.stabilizationWindowSeconds;
  const out = flapStage(
    {
      baseSeconds: base,
      maxSeconds: at.maxScaleDownStabilizationSeconds,
      reversalThreshold: at.reversalThreshold,
      windowSeconds: at.windowSeconds,
      // A scale-up within one spec window (plus the time a new pod needs) of a scale-down:
      // a window that long again would have kept the replicas.
      regretSeconds: base + c.startupSeconds + c.spec.pollingIntervalSeconds,
    },
    c.prev.flap,
    { currentReplicas: c.current },
    c.now,
  );
  c.state.flap = out.state;
  c.events.push(...out.events);
  c.scaleDownStabilizationSeconds = out.result.scaleDownStabilizationSeconds;
  const why: string[] = [];
  if (out.result.reason) why.push(out.result.reason);
  c.status.tuned = {
    scaleDownStabilizationSeconds: out.result.scaleDownStabilizationSeconds,
  };
  lullStep(c, base, why);
  if (at.slo) sloStep(c, at.slo, why);
  c.status.tuned.reason = why.join('; ') || 'spec values: no flapping seen';
}

/** Per lull, once the peaks' period is learned: hold through the short ones, release the long ones. */
function lullStep(c: Ctx, base: number, why: string[]): void {
  const at = c.spec.autotune as NonNullable<PolicySpec['autotune']>;
  const lead = c.startupSeconds + c.spec.pollingIntervalSeconds;
  const out = lullStage(
    {
      baseSeconds: base,
      maxSeconds: at.maxScaleDownStabilizationSeconds,
      minLullSeconds: lead,
      releaseSeconds: Math.min(base, 2 * lead),
      minSamples: at.reversalThreshold,
      horizonSeconds: at.windowSeconds,
    },
    c.prev.lull,
    { proposal: c.input.proposal, currentReplicas: c.current },
    c.now,
  );
  c.state.lull = out.state;
  if (out.result.windowSeconds === undefined) return;
  c.scaleDownStabilizationSeconds = out.result.windowSeconds;
  if (out.result.reason) why.push(out.result.reason);
}

function sloStep(c: Ctx, slo: NonNullable<NonNullable<PolicySpec['autotune']>['slo']>, why: string[]): void {
  const m = c.input.metrics.find((x) => x.name === slo.metric);
  const a = c.anomalies.get(slo.metric);
  const held = a?.held || a?.replaced;
  const load = m?.value !== undefined && c.ready > 0 && !held ? m.value / c.ready : undefined;
  const s = sloStage(
    slo,
    c.prev.slo,
    {
      ...(load === undefined ? {} : { loadPerReplica: load }),
      ...(c.input.latencySeconds === undefined ? {} : { latencySeconds: c.input.latencySeconds }),
    },
    c.now,
  );
  c.state.slo = s.state;
  c.events.push(...s.events);
  if (s.result.target !== undefined) {
    c.targets[slo.metric] = s.result.target;
    (c.status.tuned as NonNullable<Level5Output['status']['tuned']>).target = fmt(s.result.target);
  }
  why.push(`${slo.metric} target: ${s.result.reason}`);
}

/**
 * 6. Forecast-guarded scale-down. The scale-down window waits out dips because a reactive
 * scaler cannot tell a dip from a decline; a ready forecast can: its count, sized for the
 * highest point until a replacement pod could be ready plus the calibrated headroom, is a
 * floor under the proposal, so the spec's window is not needed. It drops to two lead times (a
 * replacement could be ready, and the metric has had as long again to confirm the decline,
 * which keeps the count from following noise), or, while the self-tuner has widened it for
 * flapping, to that for each spec window of widening, never above what it was.
 */
function guardStep(c: Ctx): void {
  if (!c.forecastGuards) return;
  const lead = c.startupSeconds + c.spec.pollingIntervalSeconds;
  const specWindow = c.spec.behavior.scaleDown.stabilizationWindowSeconds;
  const window = c.scaleDownStabilizationSeconds ?? specWindow;
  const widening = specWindow > 0 ? window / specWindow : 1;
  const guarded = Math.min(window, Math.ceil(2 * lead * Math.max(1, widening - 1)));
  if (guarded >= window) return;
  c.scaleDownStabilizationSeconds = guarded;
  if (c.input.proposal < c.current)
    c.betReasons.push(
      `scale-down window ${guarded}s instead of ${window}s: the forecast floor guards the next ${lead}s`,
    );
}

export function level5Stage(input: Level5Input): Level5Output {
  const c = newCtx(input);
  anomalyStep(c);
  startupStep(c);
  forecastStep(c);
  ineffectiveStep(c);
  tuneStep(c);
  const flapTuned = c.scaleDownStabilizationSeconds;
  guardStep(c);
  const applied = applyLevel5Plan(c.plan, input.proposal, { current: c.current, ready: c.ready });
  const anomalyCounts: Level5Output['anomalyCounts'] = {};
  for (const [name, s] of Object.entries(c.state.anomaly)) anomalyCounts[name] = { ...s.counts };
  return {
    proposal: applied.proposal,
    plan: c.plan,
    startupSeconds: c.startupSeconds,
    limitedBy: applied.limitedBy,
    reasons: [...c.reasons, ...c.betReasons, ...applied.reasons],
    guardReasons: c.reasons,
    betReasons: c.betReasons,
    events: c.events,
    conditions: c.conditions,
    status: c.status,
    ...(c.scaleDownStabilizationSeconds === undefined
      ? {}
      : { scaleDownStabilizationSeconds: c.scaleDownStabilizationSeconds }),
    ...(flapTuned === undefined ? {} : { flapTunedSeconds: flapTuned }),
    targets: c.targets,
    forecasts: c.forecasts,
    anomalyCounts,
    ineffectiveCount: c.state.ineffective?.count ?? 0,
    state: c.state,
  };
}
