// Robust anomaly detection on one metric's input, tick by tick.
//
// A value far below the rolling median (more than `deviationThreshold` robust sigmas, from
// the median absolute deviation) is held back: the last good value stands in for it until
// the drop has persisted for `confirmationTicks` ticks, so a broken exporter or a scrape
// returning zeros cannot scale the workload down. A value far above the median (a surge) is
// flagged but passes at once: under-provisioning costs more than a brief over-provisioning.
// Missing and stale samples are anomalies too (the engine already refuses to scale down on
// a failed metric; this records them and keeps the forecaster from learning the gap).
//
// Pure: `now` comes from the caller; the state is plain JSON.

import { median, medianAbsoluteDeviation } from 'simple-statistics';
import { cloneData } from '../../core/clone.ts';
import { fmtNumber as fmt } from '../../core/format.ts';
import type { AnomalyKind, EngineEvent, MetricObservation } from '../../core/types.ts';

export type { AnomalyKind };

export interface AnomalyConfig {
  /** Ticks a drop is held back before it is accepted. */
  confirmationTicks: number;
  /** Robust sigmas (1.4826 × MAD) from the rolling median that count as anomalous. */
  deviationThreshold: number;
  /** A sample older than this (by its sampledAt) is stale. Default: no staleness check. */
  staleAfterSeconds?: number;
  /** Rolling window of accepted values. Default 30 ticks. */
  windowSize?: number;
  /** Accepted values needed before anything is flagged. Default 8. */
  minHistory?: number;
  /**
   * Smallest scale, as a fraction of the median: keeps a perfectly flat series (MAD 0) from
   * flagging every wiggle. Default 0.05.
   */
  relativeFloor?: number;
}

export interface AnomalyEpisode {
  kind: 'drop' | 'dropToZero';
  /** epoch ms of the first anomalous tick. */
  since: number;
  /** Consecutive anomalous ticks so far. */
  ticks: number;
  /** The median before the drop: the reference the episode is judged against. */
  ref: number;
  /** The robust scale before the drop. */
  scale: number;
  /** The held values, newest last (become the window when the drop is confirmed). */
  values: number[];
}

export interface AnomalyMetricState {
  window: number[];
  lastGood?: number;
  episode?: AnomalyEpisode;
  /** True while the value sits near zero after a sudden collapse (an outage, not load). */
  dropout?: { ref: number; since: number };
  surging?: boolean;
  missing?: { kind: 'missing' | 'stale'; since: number; ticks: number };
  /** Anomalies detected, by kind (for tidemark_anomalies_total). */
  counts: Partial<Record<AnomalyKind, number>>;
}

export interface AnomalyResult {
  /** The value decisions should use: the observed one, or the last good one while a drop is held. */
  value?: number;
  observed?: number;
  /** True while a drop is held back (the decision must not follow the observed value). */
  held: boolean;
  heldTicks: number;
  /**
   * This tick's sample must not be learned as load (held, missing, stale, or inside a dropout).
   * A surge is real load: it is flagged by `kind` but not here.
   */
  anomalous: boolean;
  kind?: AnomalyKind;
  /** The value is inside a sudden collapse to near zero (confirmed or not). */
  dropout: boolean;
  /** Human-readable account of the current anomaly, for conditions. */
  message?: string;
}

export function newAnomalyState(): AnomalyMetricState {
  return { window: [], counts: {} };
}

const MAD_TO_SIGMA = 1.4826;
/** A drop to at most this fraction of the previous median is a collapse to zero. */
const ZERO_FRACTION = 0.05;

function accept(s: AnomalyMetricState, v: number, size: number): void {
  s.window.push(v);
  if (s.window.length > size) s.window.splice(0, s.window.length - size);
  s.lastGood = v;
}

/** The observation goes through as it is; only an open dropout (a gap) still marks it. */
function passThrough(s: AnomalyMetricState, v: number): AnomalyResult {
  const dropout = s.dropout !== undefined;
  return { value: v, observed: v, held: false, heldTicks: 0, anomalous: dropout, dropout };
}

function count(s: AnomalyMetricState, kind: AnomalyKind): void {
  s.counts[kind] = (s.counts[kind] ?? 0) + 1;
}

type StageOut = { result: AnomalyResult; state: AnomalyMetricState; events: EngineEvent[] };

/** One tick's working set: the metric's next state, its events and the settings. */
interface Tick {
  cfg: AnomalyConfig;
  s: AnomalyMetricState;
  events: EngineEvent[];
  name: string;
  size: number;
  confirm: number;
  now: number;
}

/** Missing or stale: no number to judge. The held value stands in while an episode is open. */
function missingInput(t: Tick, observation: MetricObservation | undefined): StageOut | undefined {
  const { s, cfg, now, name } = t;
  let kind: 'missing' | 'stale' | undefined;
  let detail = '';
  if (!observation) kind = 'missing';
  else if (!observation.ok) {
    kind = observation.error.kind === 'stale' ? 'stale' : 'missing';
    detail = `${observation.error.kind}: ${observation.error.message}`;
  } else if (
    cfg.staleAfterSeconds !== undefined &&
    observation.sampledAt !== undefined &&
    now - observation.sampledAt > cfg.staleAfterSeconds * 1000
  ) {
    kind = 'stale';
    detail = `sample is ${fmt((now - observation.sampledAt) / 1000)}s old`;
  }
  if (!kind) return undefined;
  if (!s.missing) {
    s.missing = { kind, since: now, ticks: 0 };
    count(s, kind);
    t.events.push({
      type: 'Warning',
      reason: 'AnomalyDetected',
      message: `${name} ${kind}${detail ? ` (${detail})` : ''}: no scale-down from it while it lasts${s.lastGood === undefined ? '' : `; last good value ${fmt(s.lastGood)}`}`,
    });
  }
  s.missing.ticks++;
  const held = s.episode !== undefined;
  return {
    result: {
      ...(held && s.lastGood !== undefined ? { value: s.lastGood } : {}),
      held,
      heldTicks: s.episode?.ticks ?? 0,
      anomalous: true,
      kind,
      dropout: s.dropout !== undefined,
      message: `${name} ${kind} for ${s.missing.ticks} tick(s)`,
    },
    state: s,
    events: t.events,
  };
}

/** A value again after missing ticks or a collapse; true when a dropout just ended. */
function backAgain(t: Tick, v: number): boolean {
  const { s, name } = t;
  if (s.missing) {
    t.events.push({
      type: 'Normal',
      reason: 'AnomalyCleared',
      message: `${name} back after ${s.missing.ticks} tick(s) ${s.missing.kind}: ${fmt(v)}`,
    });
    delete s.missing;
  }
  // A dropout ends as soon as the value climbs back off the floor.
  if (!s.dropout || v <= ZERO_FRACTION * s.dropout.ref) return false;
  t.events.push({
    type: 'Normal',
    reason: 'AnomalyCleared',
    message: `${name} back from near zero: ${fmt(v)} (was ${fmt(s.dropout.ref)} before the collapse)`,
  });
  delete s.dropout;
  return true;
}

interface Judgement {
  m: number;
  scale: number;
  low: boolean;
  high: boolean;
}

/** Where v sits against the recent median (or the open episode's reference). */
function judge(t: Tick, v: number, leftDropout: boolean): Judgement {
  const { s, cfg } = t;
  const ep = s.episode;
  const m = ep ? ep.ref : median(s.window);
  const scale = ep
    ? ep.scale
    : Math.max(
        MAD_TO_SIGMA * medianAbsoluteDeviation(s.window),
        (cfg.relativeFloor ?? 0.05) * Math.abs(m),
        1e-9,
      );
  // A collapse to near zero is anomalous even on a series too bursty for the deviation test,
  // when it is also far below anything in the recent window and the median sits at least two
  // robust sigmas above zero: an exporter or scrape failure, not the load, is then the likely
  // story. A false alarm costs a few ticks' delay.
  const collapse = ep
    ? ep.kind === 'dropToZero' && v <= ZERO_FRACTION * ep.ref
    : v <= ZERO_FRACTION * m && v < 0.5 * Math.min(...s.window) && m >= 2 * scale;
  const low = v < m - cfg.deviationThreshold * scale || collapse;
  // Coming back from a collapse, or wobbling inside one, is not a surge.
  const high = v > m + cfg.deviationThreshold * scale && !leftDropout && !s.dropout;
  return { m, scale, low, high };
}

/** An open episode: still low (held, or confirmed once past the confirmation ticks) or over. */
function continueEpisode(t: Tick, ep: AnomalyEpisode, v: number, low: boolean): StageOut | undefined {
  const { s, name, confirm } = t;
  if (!low) {
    // Back within (or above) the band: a transient, never acted on.
    delete s.episode;
    t.events.push({
      type: 'Normal',
      reason: 'AnomalyCleared',
      message: `${name} recovered to ${fmt(v)} after a ${ep.ticks}-tick drop that was never acted on`,
    });
    return undefined;
  }
  ep.ticks++;
  ep.values.push(v);
  if (ep.values.length > t.size) ep.values.splice(0, ep.values.length - t.size);
  if (ep.ticks > confirm) {
    // Persisted past the confirmation: it is the new reality; decisions follow it.
    s.window = [...ep.values];
    s.lastGood = v;
    delete s.episode;
    t.events.push({
      type: 'Normal',
      reason: 'AnomalyCleared',
      message: `${name} drop confirmed over ${confirm} tick(s) (${fmt(ep.ref)} → ${fmt(v)}): now acted on`,
    });
    return { result: passThrough(s, v), state: s, events: t.events };
  }
  return held(t, v, ep.kind, ep.ticks, ep.ref, ep.scale);
}

function held(
  t: Tick,
  v: number,
  kind: AnomalyEpisode['kind'],
  ticks: number,
  m: number,
  scale: number,
): StageOut {
  const { s, name } = t;
  return {
    result: {
      value: s.lastGood ?? m,
      observed: v,
      held: true,
      heldTicks: ticks,
      anomalous: true,
      kind,
      dropout: s.dropout !== undefined,
      message: `${name} ${fmt(v)} is ${fmt((m - v) / scale)} sigmas below its median ${fmt(m)}: held ${ticks} of ${t.confirm} tick(s)`,
    },
    state: s,
    events: t.events,
  };
}

/** A new drop: held back until confirmed (or, with no confirmation ticks, only marked). */
function startEpisode(t: Tick, v: number, j: Judgement): StageOut | undefined {
  const { s, name, confirm, now } = t;
  const { m, scale } = j;
  if (confirm === 0) {
    // confirmationTicks 0: nothing is held, but an outage is still marked for the forecaster.
    if (v <= ZERO_FRACTION * m) {
      count(s, 'dropToZero');
      s.dropout = { ref: m, since: now };
    }
    return undefined;
  }
  const kind = v <= ZERO_FRACTION * m ? 'dropToZero' : 'drop';
  count(s, kind);
  if (kind === 'dropToZero') s.dropout = { ref: m, since: now };
  s.episode = { kind, since: now, ticks: 1, ref: m, scale, values: [v] };
  t.events.push({
    type: 'Warning',
    reason: 'AnomalyDetected',
    message: `${name} fell to ${fmt(v)} from a median of ${fmt(m)} (${fmt((m - v) / scale)} sigmas): held back until confirmed over ${confirm} tick(s)`,
  });
  return held(t, v, kind, 1, m, scale);
}

/** A value that is not held: accepted into the window; a surge passes at once, with one event. */
function accepted(t: Tick, v: number, j: Judgement): StageOut {
  const { s, name } = t;
  if (j.high && !s.surging) {
    count(s, 'surge');
    t.events.push({
      type: 'Normal',
      reason: 'AnomalyDetected',
      message: `${name} surged to ${fmt(v)} from a median of ${fmt(j.m)} (${fmt((v - j.m) / j.scale)} sigmas): acted on at once`,
    });
  }
  s.surging = j.high;
  accept(s, v, t.size);
  const dropout = s.dropout !== undefined;
  return {
    result: {
      value: v,
      observed: v,
      held: false,
      heldTicks: 0,
      anomalous: dropout,
      ...(j.high ? { kind: 'surge' as const } : {}),
      dropout,
      ...(j.high ? { message: `${name} surged to ${fmt(v)} (median ${fmt(j.m)})` } : {}),
    },
    state: s,
    events: t.events,
  };
}

/**
 * One tick for one metric. `observation` is this tick's collector result for the metric
 * (undefined when the metric was not queried).
 */
export function anomalyStage(
  cfg: AnomalyConfig,
  state: AnomalyMetricState | undefined,
  observation: MetricObservation | undefined,
  now: number,
): StageOut {
  const t: Tick = {
    cfg,
    s: state ? cloneData(state) : newAnomalyState(),
    events: [],
    name: observation?.name ?? 'metric',
    size: cfg.windowSize ?? 30,
    confirm: Math.max(0, cfg.confirmationTicks),
    now,
  };
  const missing = missingInput(t, observation);
  if (missing) return missing;
  const v = (observation as { value: number }).value;
  const leftDropout = backAgain(t, v);
  if (t.s.window.length < (cfg.minHistory ?? 8) && !t.s.episode) {
    accept(t.s, v, t.size);
    return { result: passThrough(t.s, v), state: t.s, events: t.events };
  }
  const j = judge(t, v, leftDropout);
  const ep = t.s.episode;
  const out = ep ? continueEpisode(t, ep, v, j.low) : j.low ? startEpisode(t, v, j) : undefined;
  return out ?? accepted(t, v, j);
}
