// SLO mode: learn the per-replica load at which the latency objective breaks, and set the
// metric's AverageValue target a safety margin below it, within the user's bounds.
//
// Pairs (load per ready replica, latency) fall into geometric load bins spanning the
// bounds. A bin "breaks" the objective when more than `breachFraction` of its samples are
// above it, i.e. its (1 − breachFraction) latency quantile exceeds the objective; two
// numbers per bin (samples, breaches) give exactly that test, so the state stays small.
// The lowest breaking bin with enough samples sets the target. Counts decay slowly so the
// learned load follows a service whose capacity changes with releases.
//
// Pure: `now` comes from the caller.
import { cloneData } from '../../core/clone.ts';
import { fmtNumber as fmt } from '../../core/format.ts';
import type { EngineEvent } from '../../core/types.ts';

export interface SloConfig {
  objectiveSeconds: number;
  minTarget: number;
  maxTarget: number;
  /** Default 24 bins. */
  bins?: number;
  /** Samples a bin needs before it counts. Default 10. */
  minSamples?: number;
  /** Default 0.1: the bin's 90th percentile latency is what is compared. */
  breachFraction?: number;
  /** The target sits this fraction below the breaking load. Default 0.1. */
  safetyMargin?: number;
  /** Per-sample decay of the counts. Default 0.9995 (half-life ≈ 1,400 samples). */
  decay?: number;
}

export interface SloState {
  /** The bounds the bins were laid out for; other bounds start afresh. */
  key: string;
  samples: number[];
  breaches: number[];
  target?: number;
  reason?: string;
}

export interface SloResult {
  /** The learned target; undefined while learning (the spec's target applies). */
  target?: number;
  reason: string;
}

function layout(cfg: SloConfig): { lo: number; hi: number; n: number } {
  const n = cfg.bins ?? 24;
  // Bins reach below minTarget and above maxTarget so a break just outside is seen too.
  return { lo: cfg.minTarget / 2, hi: cfg.maxTarget * 2, n };
}

function edge(l: { lo: number; hi: number; n: number }, i: number): number {
  return l.lo * (l.hi / l.lo) ** (i / l.n);
}

export function sloStage(
  cfg: SloConfig,
  state: SloState | undefined,
  input: { loadPerReplica?: number; latencySeconds?: number },
  _now: number,
): { result: SloResult; state: SloState; events: EngineEvent[] } {
  const l = layout(cfg);
  const key = `${l.lo}/${l.hi}/${l.n}/${cfg.objectiveSeconds}`;
  const s: SloState =
    state && state.key === key
      ? cloneData(state)
      : { key, samples: new Array(l.n).fill(0), breaches: new Array(l.n).fill(0) };
  const events: EngineEvent[] = [];
  const { loadPerReplica: load, latencySeconds: latency } = input;
  if (
    load !== undefined &&
    latency !== undefined &&
    Number.isFinite(load) &&
    Number.isFinite(latency) &&
    load > 0
  ) {
    const decay = cfg.decay ?? 0.9995;
    for (let i = 0; i < l.n; i++) {
      s.samples[i] = (s.samples[i] as number) * decay;
      s.breaches[i] = (s.breaches[i] as number) * decay;
    }
    const x = Math.log(load / l.lo) / Math.log(l.hi / l.lo);
    const b = Math.max(0, Math.min(l.n - 1, Math.floor(x * l.n)));
    s.samples[b] = (s.samples[b] as number) + 1;
    if (latency > cfg.objectiveSeconds) s.breaches[b] = (s.breaches[b] as number) + 1;
  }

  const minSamples = cfg.minSamples ?? 10;
  const frac = cfg.breachFraction ?? 0.1;
  const margin = cfg.safetyMargin ?? 0.1;
  let target: number | undefined;
  let reason: string;
  let highestGood: number | undefined;
  let breaking: number | undefined;
  for (let i = 0; i < l.n; i++) {
    const n = s.samples[i] as number;
    if (n < minSamples) continue;
    if ((s.breaches[i] as number) / n > frac) {
      breaking = i;
      break;
    }
    highestGood = i;
  }
  if (breaking !== undefined) {
    const breakLoad = edge(l, breaking);
    target = Math.min(cfg.maxTarget, Math.max(cfg.minTarget, breakLoad * (1 - margin)));
    reason = `latency objective ${cfg.objectiveSeconds}s breaks above ${fmt(breakLoad)} per replica (over ${Math.round(frac * 100)}% of samples in ${fmt(breakLoad)}–${fmt(edge(l, breaking + 1))}); target ${fmt(target)} keeps a ${Math.round(margin * 100)}% margin`;
  } else if (highestGood !== undefined && edge(l, highestGood) >= cfg.maxTarget) {
    target = cfg.maxTarget;
    reason = `latency objective ${cfg.objectiveSeconds}s held up to ${fmt(edge(l, highestGood + 1))} per replica: target at maxTarget ${fmt(target)}`;
  } else {
    reason = `learning: no load bin with ${minSamples} samples breaks the ${cfg.objectiveSeconds}s objective yet`;
  }
  if (target !== undefined && (s.target === undefined || Math.abs(target - s.target) > 0.05 * s.target)) {
    events.push({
      type: 'Normal',
      reason: 'TargetTuned',
      message: `target ${s.target === undefined ? 'unset' : fmt(s.target)} → ${fmt(target)}: ${reason}`,
    });
    s.target = target;
  }
  s.reason = reason;
  return { result: { ...(s.target !== undefined ? { target: s.target } : {}), reason }, state: s, events };
}
