// Robust anomaly detection on one metric's input, tick by tick.
//
// A value far below the rolling median (more than `deviationThreshold` robust sigmas, from
// the median absolute deviation) is held back: the last good value stands in for it until
// the drop has persisted for `confirmationTicks` ticks (a collapse to zero, also for
// `zeroHoldSeconds`: scaling a serving fleet down on a broken exporter's zeros is the costly
// mistake, holding replicas through a real stop only costs them), so a broken exporter or a scrape returning
// zeros cannot scale the workload down. A value far above the median (a surge) passes at
// once: under-provisioning costs more than a brief over-provisioning. But a rate over a
// window cannot fall faster than its window lets it, so a rise that falls straight back (a
// counter reset's spike) or jumps down and up (an exporter gone mad) was not load: what it
// proposed is withdrawn from the scale-down window (`retractSince`), the last good value
// stands in while it goes on, and for a while after it a new rise must settle before it is
// acted on. A series that steps to exactly twice its value in one tick and then moves as
// smoothly as before is the same series scraped twice (two exporters after a redeploy):
// halved until it steps back. The same value repeated tick after tick on a series that
// always moves is a frozen exporter (stale). Missing and stale samples are anomalies too
// (the engine already refuses to scale down on a failed metric; this records them and keeps
// the forecaster from learning the gap).
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
  /**
   * A collapse to zero is held at least this long (besides `confirmationTicks`): a broken
   * exporter's zeros outlast a scale-down window. Default 0.
   */
  zeroHoldSeconds?: number;
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

/** An open rise far above the median: followed at once, or held while it is not yet believed. */
export interface AnomalyRise {
  /** epoch ms of the first tick above the band. */
  since: number;
  ticks: number;
  /** The median and robust scale before the rise. */
  ref: number;
  scale: number;
  peak: number;
  prev: number;
  /** The values since the rise (or since it was held), newest last. */
  values: number[];
  /** Held at the last good value (erratic, or right after a fault) instead of followed. */
  held: boolean;
}

export interface AnomalyMetricState {
  window: number[];
  lastGood?: number;
  episode?: AnomalyEpisode;
  /** True while the value sits near zero after a sudden collapse (an outage, not load). */
  dropout?: { ref: number; since: number };
  rise?: AnomalyRise;
  /** Until then (epoch ms) a new rise must settle before it is acted on: a fault just happened. */
  waryUntil?: number;
  /** The last value observed, as observed (before any halving), and the ready replicas then. */
  lastObserved?: number;
  lastReplicas?: number;
  /** How often the value changes from one tick to the next (moving average of 0 or 1). */
  moves?: number;
  /** Identical values in a row, and how often the series moved before they began. */
  repeat?: { ticks: number; moves: number };
  /** A step to twice the value, not yet confirmed as a duplicate series. */
  doubling?: { since: number; ticks: number };
  /** A confirmed duplicate series: the observed value is twice the load's. */
  doubled?: { since: number };
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
  /**
   * True while `value` replaces the observed one both ways (a rise not believed, a duplicate
   * series halved): the decision uses `value` instead of the observed value, even if lower.
   */
  replaced?: boolean;
  /** epoch ms from which the recommendations made were made from faulty values and are withdrawn. */
  retractSince?: number;
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
/** A rise followed this many ticks without falling straight back is load: the median moves to it. */
const SETTLE_TICKS = 8;
/**
 * A fall of more than this share of the rise's height in one tick is faster than a rate window
 * falls (a quarter of the step per tick at a 15 s tick over `[1m]`).
 */
const ABRUPT_SHARE = 0.75;
/** After a spike or an erratic spell, a new rise must settle before it is acted on, for this long. */
const WARY_MS = 300_000;
/** A held rise whose last this-many values agree within SETTLED_RATIO is load. */
const SETTLED_VALUES = 3;
const SETTLED_RATIO = 1.25;
/** A rise is held at most this long: a series this erratic for so long is what the load does. */
const MAX_HELD_MS = 900_000;
/** Ticks a step to twice the value must move as smoothly as the series did to be a duplicate. */
const DOUBLE_CONFIRM_TICKS = 3;
/** A duplicate series is halved at most this long; then the doubled value is taken as load. */
const MAX_DOUBLED_MS = 3_600_000;
/** Tick-to-tick noise (median |log change|) above which a step to twice cannot be told from load. */
const MAX_STEP_NOISE = 0.04;
/** A doubled series ends at a step to about half: looser, as ending early only costs replicas. */
const BACK_TOLERANCE = 0.15;
/** Identical values in a row, on a series that moves nearly every tick, that make it frozen. */
const FROZEN_TICKS = 12;
const MOVING = 0.9;

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
  /** Ready replicas this tick, when known: a metric that doubles with them is not a duplicate. */
  replicas?: number;
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
  if (
    ep.ticks > confirm &&
    (ep.kind !== 'dropToZero' || t.now - ep.since >= 1000 * (t.cfg.zeroHoldSeconds ?? 0))
  ) {
    // Persisted past the confirmation: it is the new reality; decisions follow it.
    s.window = [...ep.values];
    s.lastGood = v;
    delete s.episode;
    t.events.push({
      type: 'Normal',
      reason: 'AnomalyCleared',
      message: `${name} drop confirmed over ${ep.ticks - 1} tick(s) (${fmt(ep.ref)} → ${fmt(v)}): now acted on`,
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

/** A value that is not held: accepted into the window. */
function accepted(t: Tick, v: number): StageOut {
  const { s } = t;
  accept(s, v, t.size);
  return { result: passThrough(s, v), state: s, events: t.events };
}

/** A new rise far above the median: followed at once (a flash crowd), unless a fault just happened. */
function startRise(t: Tick, v: number, j: Judgement): StageOut {
  const { s, name, now } = t;
  const held = s.waryUntil !== undefined && now < s.waryUntil;
  s.rise = {
    since: now,
    ticks: 1,
    ref: j.m,
    scale: j.scale,
    peak: v,
    prev: v,
    values: [v],
    held,
  };
  if (held) {
    t.events.push({
      type: 'Warning',
      reason: 'AnomalyDetected',
      message: `${name} rose to ${fmt(v)} from a median of ${fmt(j.m)} right after a faulty spell: held at ${fmt(s.lastGood ?? j.m)} until it settles`,
    });
    return riseHeld(t, v);
  }
  count(s, 'surge');
  t.events.push({
    type: 'Normal',
    reason: 'AnomalyDetected',
    message: `${name} surged to ${fmt(v)} from a median of ${fmt(j.m)} (${fmt((v - j.m) / j.scale)} sigmas): acted on at once`,
  });
  return following(t, v, j.m);
}

/** A rise followed: the value goes through, but is not yet learned into the median. */
function following(t: Tick, v: number, m: number): StageOut {
  const dropout = t.s.dropout !== undefined;
  return {
    result: {
      value: v,
      observed: v,
      held: false,
      heldTicks: 0,
      anomalous: dropout,
      kind: 'surge',
      dropout,
      message: `${t.name} surged to ${fmt(v)} (median ${fmt(m)})`,
    },
    state: t.s,
    events: t.events,
  };
}

/** A rise not believed: the last good value stands in, both ways. */
function riseHeld(t: Tick, v: number, retractSince?: number): StageOut {
  const { s, name } = t;
  const r = s.rise as AnomalyRise;
  const value = s.lastGood ?? r.ref;
  return {
    result: {
      value,
      observed: v,
      held: false,
      replaced: true,
      heldTicks: r.ticks,
      anomalous: true,
      kind: 'erratic',
      dropout: s.dropout !== undefined,
      message: `${name} ${fmt(v)} not believed (median ${fmt(r.ref)}): ${fmt(value)} stands in`,
      ...(retractSince === undefined ? {} : { retractSince }),
    },
    state: s,
    events: t.events,
  };
}

/** A rise that is load after all: the median moves to it. */
function settle(t: Tick, v: number, r: AnomalyRise): StageOut {
  const { s } = t;
  s.window = r.values.slice(-t.size);
  s.lastGood = v;
  delete s.rise;
  return { result: passThrough(s, v), state: s, events: t.events };
}

/**
 * An open rise, one more tick. Followed: a fall of more than half its height in one tick is
 * faster than a rate over a window falls, so it was not load: back in the band, a spike (what
 * it proposed is withdrawn); still above it, erratic (held from now on). Held: until it is back
 * in the band, or its values agree (load), or it has been held too long. `retract` receives the
 * start of a spike, for the caller to carry on the tick's result.
 */
function continueRise(t: Tick, v: number, retract: { since?: number }): StageOut | undefined {
  const { s, name, now, cfg } = t;
  const r = s.rise as AnomalyRise;
  const high = v > r.ref + cfg.deviationThreshold * r.scale;
  r.ticks++;
  if (!r.held && r.prev - v > ABRUPT_SHARE * (r.peak - r.ref)) {
    s.waryUntil = now + WARY_MS;
    retract.since = r.since;
    const kind = high ? 'erratic' : 'spike';
    count(s, kind);
    t.events.push({
      type: 'Warning',
      reason: 'AnomalyDetected',
      message: `${name} ${kind} to ${fmt(r.peak)} fell straight back to ${fmt(v)} (median ${fmt(r.ref)}): what it proposed is withdrawn${high ? `; ${fmt(s.lastGood ?? r.ref)} stands in until it settles` : ''}`,
    });
    if (!high) {
      delete s.rise;
      return undefined;
    }
    Object.assign(r, { held: true, prev: v, values: [v] });
    return riseHeld(t, v, r.since);
  }
  r.peak = Math.max(r.peak, v);
  r.prev = v;
  r.values.push(v);
  if (r.values.length > t.size) r.values.splice(0, r.values.length - t.size);
  if (!high) {
    delete s.rise;
    if (r.held) s.waryUntil = now + WARY_MS;
    return undefined;
  }
  if (!r.held) return r.ticks >= SETTLE_TICKS ? settle(t, v, r) : following(t, v, r.ref);
  const last = r.values.slice(-SETTLED_VALUES);
  const agree = last.length === SETTLED_VALUES && Math.max(...last) <= SETTLED_RATIO * Math.min(...last);
  if (agree || now - r.since >= MAX_HELD_MS) {
    t.events.push({
      type: 'Normal',
      reason: 'AnomalyCleared',
      message: `${name} rise to ${fmt(v)} ${agree ? 'settled' : `held ${fmt((now - r.since) / 1000)}s`}: now acted on`,
    });
    return settle(t, v, r);
  }
  return riseHeld(t, v);
}

/** |log(a / b)|: how far apart two positive numbers are, as a ratio. */
function logGap(a: number, b: number): number {
  return a > 0 && b > 0 ? Math.abs(Math.log(a / b)) : Number.POSITIVE_INFINITY;
}

/** How close a ratio must be to 2 (or 1) to count: from the series' own tick-to-tick noise. */
function stepTolerance(window: readonly number[]): number | undefined {
  const gaps: number[] = [];
  for (let i = 1; i < window.length; i++) {
    const g = logGap(window[i] as number, window[i - 1] as number);
    if (Number.isFinite(g)) gaps.push(g);
  }
  if (gaps.length < 4) return undefined;
  const noise = median(gaps);
  return noise > MAX_STEP_NOISE ? undefined : Math.max(0.02, 3 * noise);
}

/**
 * The same series scraped twice: a step to twice the value in one tick, after which the series
 * moves as smoothly as it did (a flash crowd through a rate window keeps climbing instead).
 * Returns the value to judge (halved while doubled) and, on confirmation, the step's time.
 */
function duplicate(t: Tick, raw: number): { v: number; replaced: boolean; retractSince?: number } {
  const { s, name, now } = t;
  const prev = s.lastObserved;
  const tol = stepTolerance(s.window);
  if (s.doubled) {
    const back = prev !== undefined && logGap(raw / prev, 0.5) <= Math.max(BACK_TOLERANCE, tol ?? 0);
    if (back || now - s.doubled.since >= MAX_DOUBLED_MS) {
      t.events.push({
        type: 'Normal',
        reason: 'AnomalyCleared',
        message: back
          ? `${name} back to one series: ${fmt(raw)}`
          : `${name} doubled for ${fmt(MAX_DOUBLED_MS / 60_000)} min: taken as load from now on`,
      });
      delete s.doubled;
      return { v: raw, replaced: false };
    }
    return { v: raw / 2, replaced: true };
  }
  if (s.doubling) {
    if (prev === undefined || tol === undefined || logGap(raw, prev) > tol) {
      delete s.doubling;
      return { v: raw, replaced: false };
    }
    if (++s.doubling.ticks < DOUBLE_CONFIRM_TICKS) return { v: raw, replaced: false };
    const since = s.doubling.since;
    s.doubled = { since };
    delete s.doubling;
    delete s.rise;
    count(s, 'doubled');
    t.events.push({
      type: 'Warning',
      reason: 'AnomalyDetected',
      message: `${name} doubled in one tick and moves as before: the same series counted twice, halved to ${fmt(raw / 2)} until it steps back`,
    });
    return { v: raw / 2, replaced: true, retractSince: since };
  }
  const calm = !s.rise && !s.episode && !s.missing && s.window.length >= (t.cfg.minHistory ?? 8);
  // A sum over pods doubles honestly when the replicas change: only a step at a steady count counts.
  const steadyCount = t.replicas === s.lastReplicas;
  if (calm && steadyCount && prev !== undefined && tol !== undefined && logGap(raw / prev, 2) <= tol)
    s.doubling = { since: now, ticks: 0 };
  return { v: raw, replaced: false };
}

/**
 * A series frozen on one value: identical values tick after tick on a series that moves
 * nearly every tick (an exporter stuck on its last value; Prometheus' instant query stamps
 * each answer with the evaluation time, so the timestamp cannot tell). Zero is left alone: an
 * idle series repeats it honestly.
 */
function frozenInput(t: Tick, v: number): StageOut | undefined {
  const { s, name, now } = t;
  const moves = s.moves ?? 0;
  if (v !== s.lastObserved) {
    delete s.repeat;
    s.moves = moves + 0.1 * (1 - moves);
    return undefined;
  }
  s.repeat = s.repeat ? { ...s.repeat, ticks: s.repeat.ticks + 1 } : { ticks: 2, moves };
  s.moves = 0.9 * moves;
  const enough = s.window.length >= (t.cfg.minHistory ?? 8);
  if (v <= 0 || !enough || s.repeat.ticks < FROZEN_TICKS || s.repeat.moves < MOVING) return undefined;
  if (s.missing?.kind !== 'stale') {
    s.missing = { kind: 'stale', since: now, ticks: 0 };
    count(s, 'stale');
    t.events.push({
      type: 'Warning',
      reason: 'AnomalyDetected',
      message: `${name} stale: ${fmt(v)} ${s.repeat.ticks} ticks in a row on a series that moves every tick: no scale-down from it while it lasts`,
    });
  }
  s.missing.ticks++;
  return {
    result: {
      value: s.lastGood ?? v,
      observed: v,
      held: true,
      heldTicks: s.missing.ticks,
      anomalous: true,
      kind: 'stale',
      dropout: s.dropout !== undefined,
      message: `${name} stale (${fmt(v)} repeated) for ${s.missing.ticks} tick(s)`,
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
  replicas?: number,
): StageOut {
  const t: Tick = {
    cfg,
    s: state ? cloneData(state) : newAnomalyState(),
    events: [],
    name: observation?.name ?? 'metric',
    size: cfg.windowSize ?? 30,
    confirm: Math.max(0, cfg.confirmationTicks),
    now,
    ...(replicas === undefined ? {} : { replicas }),
  };
  const missing = missingInput(t, observation);
  if (missing) return missing;
  const raw = (observation as { value: number }).value;
  const frozen = frozenInput(t, raw);
  if (frozen) return frozen;
  const leftDropout = backAgain(t, raw);
  const dup = duplicate(t, raw);
  t.s.lastObserved = raw;
  if (t.replicas !== undefined) t.s.lastReplicas = t.replicas;
  const out = judged(t, dup.v, leftDropout);
  if (!dup.replaced) return out;
  // Halved: the halved value replaces the observed one, and is not learned by the forecaster.
  const r = out.result;
  r.replaced = true;
  r.observed = raw;
  r.anomalous = true;
  r.kind ??= 'doubled';
  r.message ??= `${t.name} ${fmt(raw)} is one series counted twice: ${fmt(dup.v)} stands in`;
  if (dup.retractSince !== undefined)
    r.retractSince = Math.min(r.retractSince ?? dup.retractSince, dup.retractSince);
  return out;
}

/** The value (halved if doubled) against the open rise, the open drop, or the median. */
function judged(t: Tick, v: number, leftDropout: boolean): StageOut {
  const s = t.s;
  if (s.window.length < (t.cfg.minHistory ?? 8) && !s.episode) {
    accept(s, v, t.size);
    return { result: passThrough(s, v), state: s, events: t.events };
  }
  const retract: { since?: number } = {};
  let out = s.rise ? continueRise(t, v, retract) : undefined;
  if (!out) {
    const j = judge(t, v, leftDropout);
    const ep = s.episode;
    out = ep ? continueEpisode(t, ep, v, j.low) : undefined;
    if (!out && !s.episode) out = j.low ? startEpisode(t, v, j) : j.high ? startRise(t, v, j) : undefined;
    out ??= accepted(t, v);
  }
  if (retract.since !== undefined) out.result.retractSince = retract.since;
  return out;
}
