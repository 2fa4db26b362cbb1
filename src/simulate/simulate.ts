// The trace simulator: replays a per-minute request trace through a workload
// model and several scaling strategies in lockstep, and measures each one.
//
// Workload model (docs/architecture.md, "tidemark simulate"):
// - load is constant within each trace minute; each ready replica serves
//   `capacity` requests per minute; a replica becomes ready `startupSeconds`
//   after it is requested; removed replicas go at once (not-ready ones first,
//   as a ReplicaSet deletes them);
// - the metric every strategy sees at time t is what rate(...[1m]) shows: the mean
//   request rate over the 60 s before the last 15 s scrape (at or before t),
//   expressed in requests per minute, so it compares with capacity and target;
// - before the trace starts the load is taken to be the first minute's, and every
//   strategy starts with the replicas that minute needs, all ready.
import type { EngineInput, EngineOutput, PolicySpec } from '../policy/types.ts';
import { defaultHpaBehavior, HpaController } from './hpa-baseline.ts';
import { KedaController } from './keda-baseline.ts';
import { oraclePlan } from './oracle.ts';
import { type ForecastSeries, TidemarkStrategy } from './tidemark.ts';
import { SimulationInputError, type Trace } from './trace.ts';

export const TICK_SECONDS = 15;
export const STRATEGIES = ['tidemark', 'hpa-default', 'keda-default', 'oracle'] as const;
export type StrategyName = (typeof STRATEGIES)[number];

export interface Outage {
  startMinute: number;
  lengthMinutes: number;
}

export interface SimulationOptions {
  trace: Trace;
  /** Shown in the report (the file's base name). */
  traceName: string;
  /** The policy spec with the CRD's defaults applied. */
  spec: PolicySpec;
  capacity: number;
  startupSeconds: number;
  /** Stretches during which the metric query fails for every strategy. */
  outages?: Outage[];
  /**
   * What every metric-driven strategy reads instead of the true metric (faults.ts): given the
   * time, the true value and the true value at any time; undefined is a failed query.
   */
  metricFault?: (t: number, value: number, valueAt: (t: number) => number) => number | undefined;
  /** Epoch ms of the trace's first minute, handed to the engine as `now`. Default 0. */
  startTime?: number;
  /** The policy engine; tests may pass another. Default: src/policy/engine.ts. */
  engine?: (input: EngineInput) => EngineOutput;
  /** Called now and then with the fraction done. */
  onProgress?: (fraction: number) => void;
}

export interface StrategyResult {
  strategy: StrategyName;
  replicaMinutes: number;
  underProvisionedMinutes: number;
  unservedRequests: number;
  scaleEvents: number;
  directionReversals: number;
  peakReplicas: number;
}

export interface Report {
  trace: { file: string; minutes: number };
  model: { capacityPerReplica: number; startupSeconds: number; tickSeconds: number };
  results: StrategyResult[];
  extra: Record<string, unknown>;
  /** What the numbers do not show: a policy the capacity cannot serve, settings not simulated. Optional: other reports (backtest, bench) build Reports too. */
  warnings?: string[];
}

/** Per-minute series for the plot (means over each minute). */
export interface Series {
  requests: Float64Array;
  strategies: Array<{
    strategy: StrategyName;
    replicas: Float32Array;
    ready: Float32Array;
    /** 1 for each under-provisioned minute (absent in hand-made series). */
    under?: Uint8Array;
  }>;
  /** Tidemark's forecast of the metric (requests per minute) per minute it was for, when predictive is on. */
  forecast?: ForecastSeries;
}

export interface SimulationResult {
  report: Report;
  series: Series;
}

/** What a strategy needs to decide; `metric` is undefined when the query failed. */
interface Strategy {
  readonly name: StrategyName;
  due(t: number): boolean;
  decide(t: number, current: number, ready: number, metric: number | undefined, scrapedAt: number): number;
}

interface Cluster {
  strategy: Strategy;
  replicas: number;
  ready: number;
  /** Ready times of requested replicas, oldest first (all have the same start-up delay). */
  pending: number[];
  pendingHead: number;
  replicaSeconds: number;
  unservedRequestSeconds: number;
  underMinutes: number;
  lastUnderMinute: number;
  scaleEvents: number;
  reversals: number;
  lastDirection: number;
  peak: number;
  scaleDownsInOutage: number;
  minuteReplicaSeconds: Float32Array;
  minuteReadySeconds: Float32Array;
  minuteUnder: Uint8Array;
}

function checkOptions(opts: SimulationOptions): void {
  const { spec, capacity, startupSeconds } = opts;
  if (!(capacity > 0) || !Number.isFinite(capacity)) {
    throw new SimulationInputError(`capacity must be a positive number, got ${capacity}`);
  }
  if (!Number.isInteger(startupSeconds) || startupSeconds < 0) {
    throw new SimulationInputError(`startup-seconds must be a non-negative integer, got ${startupSeconds}`);
  }
  if (spec.metrics.length !== 1) {
    throw new SimulationInputError(
      `the policy has ${spec.metrics.length} metrics; a trace stands for one request-rate metric, so the simulated policy must have exactly one`,
    );
  }
}

/** The four strategies with their starting replicas, in the report's order. */
function strategiesFor(
  opts: SimulationOptions,
  tidemark: TidemarkStrategy,
  initial: number,
): Array<{ s: Strategy; initial: number }> {
  const { spec, trace, capacity, startupSeconds } = opts;
  const metricSpec = spec.metrics[0]!;
  const target = Number(metricSpec.target.value);
  const targetType = metricSpec.target.type;
  const polling = spec.pollingIntervalSeconds;
  const plan = oraclePlan(trace.requests, {
    capacity,
    startupSeconds,
    tickSeconds: TICK_SECONDS,
    minReplicas: spec.minReplicas,
    maxReplicas: spec.maxReplicas,
  });
  const hpaMin = Math.max(1, spec.minReplicas);
  const everyTick = (t: number) => t % TICK_SECONDS === 0;
  const hpa = new HpaController({
    minReplicas: hpaMin,
    maxReplicas: spec.maxReplicas,
    target,
    targetType,
    behavior: defaultHpaBehavior(),
  });
  const keda = new KedaController({
    minReplicas: spec.minReplicas,
    maxReplicas: spec.maxReplicas,
    target,
    targetType,
    activationThreshold: Number(metricSpec.activationThreshold ?? 0),
  });
  return [
    {
      s: {
        name: 'tidemark',
        due: (t) => t % polling === 0,
        decide: (t, cur, ready, m, at) => tidemark.decide(t, cur, ready, m, at),
      },
      initial,
    },
    // An HPA cannot sit at zero (that disables it), so it starts at its own minimum.
    {
      s: { name: 'hpa-default', due: everyTick, decide: (t, cur, r, m) => hpa.sync(t, cur, m, r) },
      initial: Math.max(hpaMin, initial),
    },
    {
      s: { name: 'keda-default', due: everyTick, decide: (t, cur, r, m) => keda.sync(t, cur, m, r) },
      initial,
    },
    // The oracle knew the future before the trace began too: it starts with what its
    // first tick needs, all ready, so a start-up longer than 45 s cannot trap it.
    { s: { name: 'oracle', due: everyTick, decide: (t) => plan[t / TICK_SECONDS]! }, initial: plan[0]! },
  ];
}

/** rate(...[1m]) at the last scrape at or before t, in requests per minute. */
function metricAt(load: Float64Array, t: number): { value: number; scrapedAt: number } {
  const s = Math.floor(t / TICK_SECONDS) * TICK_SECONDS;
  const from = s - 60;
  const a = Math.floor(from / 60);
  const offset = from - a * 60;
  const la = load[Math.max(0, a)]!;
  if (offset === 0) return { value: la, scrapedAt: s };
  const lb = load[Math.max(0, a + 1)]!;
  return { value: (la * (60 - offset) + lb * offset) / 60, scrapedAt: s };
}

/** Steps every cluster through the trace in lockstep. */
function run(opts: SimulationOptions, clusters: Cluster[], step: number): void {
  const load = opts.trace.requests;
  const outages = (opts.outages ?? []).map((o) => ({
    from: o.startMinute * 60,
    to: (o.startMinute + o.lengthMinutes) * 60,
  }));
  const inOutage = (t: number) => outages.some((o) => t >= o.from && t < o.to);
  const valueAt = (u: number) => metricAt(load, u).value;
  const steps = (load.length * 60) / step;
  const progressEvery = 1 << 13;
  for (let k = 0; k < steps; k++) {
    const t = k * step;
    const minute = Math.floor(t / 60);
    const demand = load[minute]!;
    const failed = inOutage(t);
    let metric: { value: number; scrapedAt: number } | undefined;
    let seen: number | undefined;
    for (const c of clusters) {
      promote(c, t);
      if (c.strategy.due(t)) {
        if (metric === undefined) {
          metric = metricAt(load, t);
          const fault = opts.metricFault;
          seen = failed ? undefined : fault ? fault(t, metric.value, valueAt) : metric.value;
        }
        const desired = c.strategy.decide(t, c.replicas, c.ready, seen, metric.scrapedAt);
        apply(c, desired, t, opts.startupSeconds, failed);
      }
      advance(c, t, t + step, minute, demand, opts.capacity);
    }
    if (opts.onProgress && k % progressEvery === 0) opts.onProgress(k / steps);
  }
  opts.onProgress?.(1);
}

export function simulate(opts: SimulationOptions): SimulationResult {
  checkOptions(opts);
  const { trace, spec, capacity, startupSeconds } = opts;
  const metricSpec = spec.metrics[0]!;
  const load = trace.requests;
  const minutes = load.length;
  const polling = spec.pollingIntervalSeconds;
  // Replicas change only at decision times; a step that divides both the 15 s tick and
  // the policy's polling interval (and a minute) keeps every step inside one minute.
  const step = gcd(TICK_SECONDS, polling);
  const initial = clamp(Math.ceil(load[0]! / capacity), spec.minReplicas, spec.maxReplicas);
  const tidemark = new TidemarkStrategy({
    spec,
    startTime: opts.startTime ?? 0,
    minutes,
    ...(opts.engine ? { engine: opts.engine } : {}),
  });
  const clusters = strategiesFor(opts, tidemark, initial).map(({ s, initial }) =>
    newCluster(s, initial, minutes),
  );
  run(opts, clusters, step);

  const extra: Record<string, unknown> = {
    policy: {
      minReplicas: spec.minReplicas,
      maxReplicas: spec.maxReplicas,
      pollingIntervalSeconds: polling,
      metric: metricSpec.name,
      target: { type: metricSpec.target.type, value: Number(metricSpec.target.value) },
    },
    initialReplicas: initial,
    metric: 'mean requests/minute over the 60 s before the last 15 s scrape (rate over [1m])',
    stepSeconds: step,
    tidemark: tidemark.summary(),
  };
  if ((opts.outages ?? []).length > 0) {
    extra.outages = (opts.outages ?? []).map((o) => ({ ...o }));
    // The oracle reads no metric, so only the metric-driven strategies are counted.
    extra.scaleDownsDuringOutage = Object.fromEntries(
      clusters
        .filter((c) => c.strategy.name !== 'oracle')
        .map((c) => [c.strategy.name, c.scaleDownsInOutage]),
    );
  }
  const results = clusters.map(result);
  return {
    report: {
      trace: { file: opts.traceName, minutes },
      model: { capacityPerReplica: capacity, startupSeconds, tickSeconds: TICK_SECONDS },
      results,
      extra,
      warnings: warningsFor(opts, results),
    },
    series: {
      requests: load,
      strategies: clusters.map((c) => ({
        strategy: c.strategy.name,
        replicas: c.minuteReplicaSeconds.map((x) => x / 60),
        ready: c.minuteReadySeconds.map((x) => x / 60),
        under: c.minuteUnder,
      })),
      ...(tidemark.forecast ? { forecast: tidemark.forecast } : {}),
    },
  };
}

/**
 * A policy that every policy-driven strategy leaves under-provisioned most of the time is
 * more likely a wrong target or --capacity than a result; autotune.slo needs latencies,
 * which a trace does not have. Either would otherwise pass without a word.
 */
function warningsFor(opts: SimulationOptions, results: StrategyResult[]): string[] {
  const warnings: string[] = [];
  const driven = results.filter((r) => r.strategy !== 'oracle');
  if (driven.length > 0 && driven.every((r) => r.underProvisionedMinutes >= opts.trace.requests.length / 2)) {
    const names = driven.map((r) => r.strategy);
    const who = names.length > 1 ? `${names.slice(0, -1).join(', ')} and ${names.at(-1)}` : names[0];
    warnings.push(`${who} were under-provisioned for at least half the minutes: ${underServedCause(opts)}`);
  }
  const slo = opts.spec.autotune?.slo;
  if (slo) {
    const tuned = opts.spec.metrics.find((m) => m.name === slo.metric);
    warnings.push(
      `autotune.slo is not simulated (a trace has no latencies): metric ${slo.metric}'s target stays at ${tuned?.target.value ?? '?'} as written`,
    );
  }
  return warnings;
}

function underServedCause({ spec, capacity, trace }: SimulationOptions): string {
  const target = spec.metrics[0]!.target;
  if (target.type === 'AverageValue' && Number(target.value) > capacity) {
    return `the target (AverageValue ${target.value} per replica) is above --capacity ${capacity}, so replicas are sized to carry more than they serve (a target per second against a trace per minute?)`;
  }
  const peak = Math.max(...trace.requests);
  if (spec.maxReplicas * capacity < peak) {
    return `maxReplicas ${spec.maxReplicas} × --capacity ${capacity} = ${spec.maxReplicas * capacity} requests/minute is below the trace's peak of ${peak}`;
  }
  return `the policy's target cannot be served at --capacity ${capacity}: check the target's unit and --capacity`;
}

function newCluster(strategy: Strategy, initial: number, minutes: number): Cluster {
  return {
    strategy,
    replicas: initial,
    ready: initial,
    pending: [],
    pendingHead: 0,
    replicaSeconds: 0,
    unservedRequestSeconds: 0,
    underMinutes: 0,
    lastUnderMinute: -1,
    scaleEvents: 0,
    reversals: 0,
    lastDirection: 0,
    peak: initial,
    scaleDownsInOutage: 0,
    minuteReplicaSeconds: new Float32Array(minutes),
    minuteReadySeconds: new Float32Array(minutes),
    minuteUnder: new Uint8Array(minutes),
  };
}

/** A decision at time t: count the event and resize the workload. */
function apply(c: Cluster, desired: number, t: number, startupSeconds: number, failed: boolean): void {
  if (!Number.isInteger(desired) || desired < 0) {
    throw new Error(`${c.strategy.name} returned ${desired} replicas at t=${t}s`);
  }
  if (desired === c.replicas) return;
  const direction = Math.sign(desired - c.replicas);
  if (c.lastDirection !== 0 && direction !== c.lastDirection) c.reversals++;
  c.lastDirection = direction;
  c.scaleEvents++;
  if (direction < 0 && failed) c.scaleDownsInOutage++;
  resize(c, desired, t + startupSeconds);
  promote(c, t);
  if (c.replicas > c.peak) c.peak = c.replicas;
}

/** Integrates [t, end) (inside one minute), split where pending replicas become ready. */
function advance(c: Cluster, t: number, end: number, minute: number, demand: number, capacity: number): void {
  let from = t;
  while (c.pendingHead < c.pending.length && c.pending[c.pendingHead]! < end) {
    const at = c.pending[c.pendingHead]!;
    serve(c, demand, capacity, minute, at - from);
    from = at;
    promote(c, at);
  }
  serve(c, demand, capacity, minute, end - from);
  c.replicaSeconds += c.replicas * (end - t);
  c.minuteReplicaSeconds[minute]! += c.replicas * (end - t);
}

function result(c: Cluster): StrategyResult {
  return {
    strategy: c.strategy.name,
    replicaMinutes: round2(c.replicaSeconds / 60),
    underProvisionedMinutes: c.underMinutes,
    unservedRequests: round2(c.unservedRequestSeconds / 60),
    scaleEvents: c.scaleEvents,
    directionReversals: c.reversals,
    peakReplicas: c.peak,
  };
}

/**
 * Runs one fixed replica schedule (one count per 15 s tick) through the workload
 * model, starting from `initial` ready replicas. For tests of the oracle's minimality.
 */
export function replayPlan(
  requests: Float64Array,
  plan: ArrayLike<number>,
  cfg: { capacity: number; startupSeconds: number; initial: number },
): StrategyResult {
  const c = newCluster(
    { name: 'oracle', due: () => true, decide: (t) => plan[t / TICK_SECONDS]! },
    cfg.initial,
    requests.length,
  );
  for (let t = 0; t < requests.length * 60; t += TICK_SECONDS) {
    promote(c, t);
    apply(c, c.strategy.decide(t, c.replicas, c.ready, undefined, t), t, cfg.startupSeconds, false);
    advance(c, t, t + TICK_SECONDS, Math.floor(t / 60), requests[Math.floor(t / 60)]!, cfg.capacity);
  }
  return result(c);
}

function serve(c: Cluster, demand: number, capacity: number, minute: number, seconds: number): void {
  if (seconds <= 0) return;
  c.minuteReadySeconds[minute]! += c.ready * seconds;
  const short = demand - c.ready * capacity;
  if (short > 0) {
    c.unservedRequestSeconds += short * seconds;
    if (c.lastUnderMinute !== minute) {
      c.lastUnderMinute = minute;
      c.underMinutes++;
      c.minuteUnder[minute] = 1;
    }
  }
}

function promote(c: Cluster, t: number): void {
  while (c.pendingHead < c.pending.length && c.pending[c.pendingHead]! <= t) {
    c.pendingHead++;
    c.ready++;
  }
  if (c.pendingHead > 1024 && c.pendingHead * 2 > c.pending.length) {
    c.pending = c.pending.slice(c.pendingHead);
    c.pendingHead = 0;
  }
}

function resize(c: Cluster, desired: number, readyAt: number): void {
  if (desired > c.replicas) {
    for (let i = c.replicas; i < desired; i++) c.pending.push(readyAt);
  } else {
    let remove = c.replicas - desired;
    // Not-ready replicas go first, newest first (the ReplicaSet controller's order).
    while (remove > 0 && c.pending.length > c.pendingHead) {
      c.pending.pop();
      remove--;
    }
    c.ready -= remove;
  }
  c.replicas = desired;
}

function clamp(x: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, x));
}

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}

function round2(x: number): number {
  return Math.round(x * 100) / 100;
}
