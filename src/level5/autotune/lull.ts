// Lull holding: the scale-down window of a workload whose load comes back in peaks.
//
// A reversal (a scale-down, then a scale-up minutes later) costs twice: the replicas removed are
// started again cold, and until they are ready the users of the next peak miss. A longer window
// for every lull buys fewer reversals at the price of holding the peak's replicas through every
// lull, long ones too: on a workload whose peaks come every 9 to 15 minutes, halving the
// reversals that way costs about 20 % more replica-minutes. What pays is choosing per lull, as a
// ski-rental does: hold through the lulls the observed period says will end soon, and let the
// replicas go at once after the lulls it says will last (waiting out the spec's window there
// buys nothing but replica-minutes). The replica-minutes saved on the long lulls pay for the
// short ones held.
//
// Peaks and lulls are read from the reactive proposal: a lull begins when the load no longer
// needs the current replicas and two thirds of the peak's at most, and ends (a peak's onset) when the proposal is back more than half
// way from the lull's lowest to the last peak's highest. Pure: `now` comes from the caller.
import { cloneData } from '../../core/clone.ts';

export interface LullConfig {
  /** The spec's scale-down stabilization window: what applies while nothing is learned. */
  baseSeconds: number;
  /** The longest a lull is held (autotune.maxScaleDownStabilizationSeconds). */
  maxSeconds: number;
  /** How long the load must stay low before a lull counts (shorter dips are noise inside a peak). */
  minLullSeconds: number;
  /** The window after a lull the period says will last: long enough to confirm the peak is over. */
  releaseSeconds: number;
  /** Lulls seen before the period is trusted. */
  minSamples: number;
  /** Only peaks this close together count as one workload's rhythm (the flap window). */
  horizonSeconds: number;
}

export interface LullState {
  /** epoch ms the current lull began (the load first below the current count), while in one. */
  lullStart?: number;
  /** The highest proposal since the last onset, and the lowest in the current lull. */
  peak?: number;
  trough?: number;
  /** The last lull's lowest proposal. */
  floor?: number;
  /** epoch ms of the last peak's onset. */
  lastOnset?: number;
  /** Recent onset-to-onset periods in seconds, oldest first. */
  periods: number[];
  /** Until when (epoch ms) the current lull is held; absent while not decided or released. */
  holdUntil?: number;
  /**
   * epoch ms from which the recommendations are held: the first held lull's start, kept through
   * the next peak's ramp (the replicas held must not step down while it climbs back), cleared on
   * a release.
   */
  holdFrom?: number;
  /** Whether the current lull has been decided (held or released). */
  decided?: boolean;
}

export interface LullResult {
  /** The scale-down window this tick, or undefined where the flap tuner's applies. */
  windowSeconds?: number;
  /** The learned period in seconds (the median), once trusted. */
  periodSeconds?: number;
  /** Why, for status.tuned.reason, once the period is trusted. */
  reason?: string;
}

const KEEP = 24;
/**
 * A lull is the load needing at most this share of the peak's replicas: shallower swings cost
 * little to hold and are what the spec's window is for (noise on a flat load crosses any
 * midpoint).
 */
const LULL_SHARE = 2 / 3;

/** The q-quantile of a non-empty list (nearest rank). */
export function quantile(xs: readonly number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))] as number;
}

/** The load is back: a peak's onset if the lull lasted long enough to count, else a dip inside the peak. */
function endLull(s: LullState, cfg: LullConfig, now: number, proposal: number): void {
  if (s.decided) {
    noteOnset(s, cfg, now);
    s.floor = s.trough;
  }
  s.peak = proposal;
  delete s.lullStart;
  delete s.trough;
  delete s.holdUntil;
  delete s.decided;
}

function noteOnset(s: LullState, cfg: LullConfig, now: number): void {
  if (s.lastOnset !== undefined) {
    const period = (now - s.lastOnset) / 1000;
    if (period <= cfg.horizonSeconds) s.periods = [...s.periods, period].slice(-KEEP);
    else s.periods = [];
  }
  s.lastOnset = now;
}

/**
 * Decides a lull once it has lasted `minLullSeconds`: held until the latest onset the period
 * foretells (its upper quartile) when the median period says the next peak comes within the
 * spec's window from now, else released.
 */
function decide(s: LullState, cfg: LullConfig, now: number): void {
  s.decided = true;
  if (s.periods.length < cfg.minSamples || s.lastOnset === undefined) return;
  const dueIn = (s.lastOnset + 1000 * quantile(s.periods, 0.5) - now) / 1000;
  const latest = s.lastOnset + 1000 * quantile(s.periods, 0.75);
  const cap = (s.lullStart as number) + 1000 * cfg.maxSeconds;
  if (dueIn <= cfg.baseSeconds) {
    s.holdUntil = Math.min(latest, cap);
    s.holdFrom = s.lullStart as number;
  } else release(s, now);
}

function release(s: LullState, now: number): void {
  s.holdUntil = now;
  delete s.holdFrom;
}

export function lullStage(
  cfg: LullConfig,
  state: LullState | undefined,
  input: { proposal: number; currentReplicas: number },
  now: number,
): { result: LullResult; state: LullState } {
  const s: LullState = state ? cloneData(state) : { periods: [] };
  const p = input.proposal;
  if (s.lullStart === undefined) {
    s.peak = Math.max(s.peak ?? p, p);
    // Below the midpoint between the last peak and the last lull's lowest: noise inside a peak
    // does not reach that far down.
    const mid = s.floor === undefined ? input.currentReplicas : (s.peak + s.floor) / 2;
    if (p < input.currentReplicas && p < mid && p <= LULL_SHARE * s.peak) {
      s.lullStart = now;
      s.trough = p;
    }
  } else {
    s.trough = Math.min(s.trough ?? p, p);
    if (p > ((s.peak ?? p) + s.trough) / 2) endLull(s, cfg, now, p);
    else if (!s.decided && now - s.lullStart >= cfg.minLullSeconds * 1000) decide(s, cfg, now);
  }
  if (s.holdUntil !== undefined && now >= s.holdUntil) release(s, now);
  if (s.periods.length < cfg.minSamples) {
    delete s.holdFrom;
    return { result: {}, state: s };
  }
  const periodSeconds = quantile(s.periods, 0.5);
  const reason = `peaks every ${Math.round(periodSeconds)}s (median of ${s.periods.length}): lulls due to end within ${cfg.baseSeconds}s are held, longer ones released after ${cfg.releaseSeconds}s`;
  return {
    result: { windowSeconds: windowNow(s, cfg, now), periodSeconds, reason },
    state: s,
  };
}

/**
 * While a lull is held, a window reaching back to its start, so the peak's recommendations keep
 * the replicas (up to the widest window allowed); in a released lull the short release window;
 * else the spec's.
 */
function windowNow(s: LullState, cfg: LullConfig, now: number): number {
  if (s.holdFrom !== undefined)
    return Math.min(
      Math.max(cfg.baseSeconds, cfg.maxSeconds),
      Math.ceil((now - s.holdFrom) / 1000) + cfg.baseSeconds,
    );
  if (s.lullStart !== undefined && s.decided) return cfg.releaseSeconds;
  return cfg.baseSeconds;
}
