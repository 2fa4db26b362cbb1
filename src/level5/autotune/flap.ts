// Flap detection: when the replica count reverses direction `reversalThreshold` times within
// `windowSeconds`, the scale-down stabilization window doubles (up to the maximum), because a
// longer window is exactly what keeps the HPA algorithm from following every dip. When a
// whole window passes without a reversal, it halves back toward the spec's value.
//
// Scaling actions are inferred from the target's replica count changing between ticks.
// Pure: `now` comes from the caller.
import { cloneData } from '../../core/clone.ts';
import type { EngineEvent } from '../../core/types.ts';

export interface FlapConfig {
  /** The spec's scale-down stabilization window: the floor the tuned value decays to. */
  baseSeconds: number;
  maxSeconds: number;
  reversalThreshold: number;
  windowSeconds: number;
  /** The smallest widened window (a base of 0 cannot be doubled). Default 60. */
  minWidenedSeconds?: number;
  /**
   * Only a scale-up this soon after a scale-down counts as a reversal (a regretted scale-down:
   * the replicas removed were needed again). Default: every change of direction counts.
   */
  regretSeconds?: number;
}

export interface FlapState {
  prevReplicas?: number;
  lastDirection?: 1 | -1;
  /** epoch ms of the last scale-down, for regretSeconds. */
  lastDownAt?: number;
  /** epoch ms of recent reversals, oldest first. */
  reversals: number[];
  tunedSeconds?: number;
  changedAt?: number;
  reason?: string;
}

export interface FlapResult {
  scaleDownStabilizationSeconds: number;
  reason?: string;
  reversalsInWindow: number;
}

export function flapStage(
  cfg: FlapConfig,
  state: FlapState | undefined,
  input: { currentReplicas: number },
  now: number,
): { result: FlapResult; state: FlapState; events: EngineEvent[] } {
  const s: FlapState = state ? cloneData(state) : { reversals: [] };
  const events: EngineEvent[] = [];
  const base = Math.max(0, cfg.baseSeconds);
  const max = Math.max(base, cfg.maxSeconds);
  const windowMs = cfg.windowSeconds * 1000;
  let tuned = Math.min(max, Math.max(base, s.tunedSeconds ?? base));

  if (s.prevReplicas !== undefined && input.currentReplicas !== s.prevReplicas) {
    const dir = input.currentReplicas > s.prevReplicas ? 1 : -1;
    if (s.lastDirection !== undefined && dir !== s.lastDirection) {
      // A scale-down after a scale-up is the window doing its job once the load has fallen;
      // what a longer window prevents is removing replicas that are wanted back soon.
      const regret = cfg.regretSeconds;
      if (regret === undefined) s.reversals.push(now);
      else if (dir === 1 && s.lastDownAt !== undefined && now - s.lastDownAt <= regret * 1000)
        s.reversals.push(now);
    }
    s.lastDirection = dir;
    if (dir === -1) s.lastDownAt = now;
  }
  s.prevReplicas = input.currentReplicas;
  s.reversals = s.reversals.filter((t) => now - t < windowMs);

  const change = (to: number, reason: string) => {
    events.push({
      type: 'Normal',
      reason: 'StabilizationTuned',
      message: `scale-down stabilization ${tuned}s → ${to}s: ${reason}`,
    });
    tuned = to;
    s.changedAt = now;
    s.reason = reason;
  };

  if (s.reversals.length >= cfg.reversalThreshold && tuned < max) {
    const to = Math.min(max, Math.max(tuned * 2, cfg.minWidenedSeconds ?? 60));
    change(
      to,
      `widened after ${s.reversals.length} direction reversals within ${cfg.windowSeconds}s (threshold ${cfg.reversalThreshold})`,
    );
    // The next widening needs fresh evidence under the new window.
    s.reversals = [];
  } else if (tuned > base) {
    const quietSince = Math.max(s.changedAt ?? 0, s.reversals[s.reversals.length - 1] ?? 0);
    if (now - quietSince >= windowMs) {
      const half = Math.floor(tuned / 2);
      change(Math.max(base, half), `decayed: no direction reversal for ${cfg.windowSeconds}s`);
    }
  }
  if (tuned === base && s.tunedSeconds !== undefined && s.tunedSeconds !== base && s.changedAt !== now) {
    // The spec's window moved past the tuned value: follow the spec.
    delete s.reason;
  }
  s.tunedSeconds = tuned;
  return {
    result: {
      scaleDownStabilizationSeconds: tuned,
      ...(s.reason ? { reason: s.reason } : {}),
      reversalsInWindow: s.reversals.length,
    },
    state: s,
    events,
  };
}
