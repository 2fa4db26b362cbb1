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
import { cloneData } from '../core/clone.ts';
import { fmtNumber as fmt } from '../core/format.ts';
import type { AnomalyKind, EngineEvent, MetricObservation } from '../core/types.ts';

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

/**
 * One tick for one metric. `observation` is this tick's collector result for the metric
 * (undefined when the metric was not queried).
 */
export function anomalyStage(
  cfg: AnomalyConfig,
  state: AnomalyMetricState | undefined,
  observation: MetricObservation | undefined,
  now: number,
): { result: AnomalyResult; state: AnomalyMetricState; events: EngineEvent[] } {
  const s: AnomalyMetricState = state ? cloneData(state) : newAnomalyState();
  const events: EngineEvent[] = [];
  const size = cfg.windowSize ?? 30;
  const minHistory = cfg.minHistory ?? 8;
  const name = observation?.name ?? 'metric';
  const confirm = Math.max(0, cfg.confirmationTicks);

  // Missing or stale: no number to judge.
  let missingKind: 'missing' | 'stale' | undefined;
  let detail = '';
  if (!observation) missingKind = 'missing';
  else if (!observation.ok) {
    missingKind = observation.error.kind === 'stale' ? 'stale' : 'missing';
    detail = `${observation.error.kind}: ${observation.error.message}`;
  } else if (
    cfg.staleAfterSeconds !== undefined &&
    observation.sampledAt !== undefined &&
    now - observation.sampledAt > cfg.staleAfterSeconds * 1000
  ) {
    missingKind = 'stale';
    detail = `sample is ${fmt((now - observation.sampledAt) / 1000)}s old`;
  }
  if (missingKind) {
    if (!s.missing) {
      s.missing = { kind: missingKind, since: now, ticks: 0 };
      count(s, missingKind);
      events.push({
        type: 'Warning',
        reason: 'AnomalyDetected',
        message: `${name} ${missingKind}${detail ? ` (${detail})` : ''}: no scale-down from it while it lasts${s.lastGood === undefined ? '' : `; last good value ${fmt(s.lastGood)}`}`,
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
        kind: missingKind,
        dropout: s.dropout !== undefined,
        message: `${name} ${missingKind} for ${s.missing.ticks} tick(s)`,
      },
      state: s,
      events,
    };
  }
  const v = (observation as { value: number }).value;
  if (s.missing) {
    events.push({
      type: 'Normal',
      reason: 'AnomalyCleared',
      message: `${name} back after ${s.missing.ticks} tick(s) ${s.missing.kind}: ${fmt(v)}`,
    });
    delete s.missing;
  }

  // A dropout ends as soon as the value climbs back off the floor.
  let leftDropout = false;
  if (s.dropout && v > ZERO_FRACTION * s.dropout.ref) {
    events.push({
      type: 'Normal',
      reason: 'AnomalyCleared',
      message: `${name} back from near zero: ${fmt(v)} (was ${fmt(s.dropout.ref)} before the collapse)`,
    });
    delete s.dropout;
    leftDropout = true;
  }

  if (s.window.length < minHistory && !s.episode) {
    accept(s, v, size);
    return { result: passThrough(s, v), state: s, events };
  }

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

  if (ep) {
    if (low) {
      ep.ticks++;
      ep.values.push(v);
      if (ep.values.length > size) ep.values.splice(0, ep.values.length - size);
      if (ep.ticks > confirm) {
        // Persisted past the confirmation: it is the new reality; decisions follow it.
        s.window = [...ep.values];
        s.lastGood = v;
        delete s.episode;
        events.push({
          type: 'Normal',
          reason: 'AnomalyCleared',
          message: `${name} drop confirmed over ${confirm} tick(s) (${fmt(ep.ref)} → ${fmt(v)}): now acted on`,
        });
        return { result: passThrough(s, v), state: s, events };
      }
      return {
        result: {
          value: s.lastGood ?? ep.ref,
          observed: v,
          held: true,
          heldTicks: ep.ticks,
          anomalous: true,
          kind: ep.kind,
          dropout: s.dropout !== undefined,
          message: `${name} ${fmt(v)} is ${fmt((ep.ref - v) / ep.scale)} sigmas below its median ${fmt(ep.ref)}: held ${ep.ticks} of ${confirm} tick(s)`,
        },
        state: s,
        events,
      };
    }
    // Back within (or above) the band: a transient, never acted on.
    delete s.episode;
    events.push({
      type: 'Normal',
      reason: 'AnomalyCleared',
      message: `${name} recovered to ${fmt(v)} after a ${ep.ticks}-tick drop that was never acted on`,
    });
  } else if (low && confirm > 0) {
    const kind = v <= ZERO_FRACTION * m ? 'dropToZero' : 'drop';
    count(s, kind);
    if (kind === 'dropToZero') s.dropout = { ref: m, since: now };
    s.episode = { kind, since: now, ticks: 1, ref: m, scale, values: [v] };
    events.push({
      type: 'Warning',
      reason: 'AnomalyDetected',
      message: `${name} fell to ${fmt(v)} from a median of ${fmt(m)} (${fmt((m - v) / scale)} sigmas): held back until confirmed over ${confirm} tick(s)`,
    });
    return {
      result: {
        value: s.lastGood ?? m,
        observed: v,
        held: true,
        heldTicks: 1,
        anomalous: true,
        kind,
        dropout: s.dropout !== undefined,
        message: `${name} ${fmt(v)} is ${fmt((m - v) / scale)} sigmas below its median ${fmt(m)}: held 1 of ${confirm} tick(s)`,
      },
      state: s,
      events,
    };
  } else if (low && v <= ZERO_FRACTION * m) {
    // confirmationTicks 0: nothing is held, but an outage is still marked for the forecaster.
    count(s, 'dropToZero');
    s.dropout = { ref: m, since: now };
  }

  let kind: AnomalyKind | undefined;
  if (high) {
    kind = 'surge';
    if (!s.surging) {
      s.surging = true;
      count(s, 'surge');
      events.push({
        type: 'Normal',
        reason: 'AnomalyDetected',
        message: `${name} surged to ${fmt(v)} from a median of ${fmt(m)} (${fmt((v - m) / scale)} sigmas): acted on at once`,
      });
    }
  } else s.surging = false;
  accept(s, v, size);
  const dropout = s.dropout !== undefined;
  return {
    result: {
      value: v,
      observed: v,
      held: false,
      heldTicks: 0,
      anomalous: dropout,
      ...(kind ? { kind } : {}),
      dropout,
      ...(high ? { message: `${name} surged to ${fmt(v)} (median ${fmt(m)})` } : {}),
    },
    state: s,
    events,
  };
}
