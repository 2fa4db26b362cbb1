// Ineffective scaling: after scale-ups the load per ready replica does not fall, so the
// bottleneck is elsewhere (a database, a lock, an upstream quota) and more replicas only
// cost money. After `raiseAfter` such scale-ups in a row the condition is raised, and at
// most `maxIneffectiveScaleUps` further scale-ups are allowed until it clears: when a
// scale-up is seen to work again, or when the load falls back within the target.
//
// Scale-ups are inferred from the target's replica count rising between ticks, so this
// needs no feedback from the rest of the engine. Pure: `now` comes from the caller.
import { cloneData } from '../../core/clone.ts';
import { fmtNumber as fmt } from '../../core/format.ts';
import type { EngineEvent } from '../../core/types.ts';

export interface IneffectiveConfig {
  maxIneffectiveScaleUps: number;
  /** Time after a scale-up before its effect is judged (start-up + metric lag). */
  settleSeconds: number;
  /** Scale-ups in a row without a fall that raise the condition. Default 2. */
  raiseAfter?: number;
  /** A fall smaller than this fraction counts as no fall. Default 0.03. */
  minFall?: number;
}

export interface IneffectiveInput {
  currentReplicas: number;
  readyReplicas?: number;
  /**
   * Load relative to the target (1 = at target), per ready replica for AverageValue metrics:
   * the highest over the policy's metrics. Undefined when no metric has a value.
   */
  utilisation?: number;
  /** The tolerance band: load at or below 1 + tolerance needs no scale-up. */
  tolerance: number;
}

export interface IneffectiveState {
  prevReplicas?: number;
  lastUtilisation?: number;
  /** A scale-up (or several merged) waiting to be judged. */
  pending?: { t: number; from: number; to: number; before: number; count: number };
  /** Scale-ups in a row that did not lower the per-replica load. */
  streak: number;
  raised?: { since: number; scaleUps: number };
  count: number;
}

export interface IneffectiveResult {
  raised: boolean;
  /** When set, the proposal must not exceed this (no further scale-ups). */
  capAt?: number;
  message?: string;
}

export function ineffectiveStage(
  cfg: IneffectiveConfig,
  state: IneffectiveState | undefined,
  input: IneffectiveInput,
  now: number,
): { result: IneffectiveResult; state: IneffectiveState; events: EngineEvent[] } {
  const s: IneffectiveState = state ? cloneData(state) : { streak: 0, count: 0 };
  const events: EngineEvent[] = [];
  const raiseAfter = cfg.raiseAfter ?? 2;
  const minFall = cfg.minFall ?? 0.03;
  const u = input.utilisation;

  const clear = (why: string) => {
    if (s.raised) {
      events.push({ type: 'Normal', reason: 'AnomalyCleared', message: `scaling effective again: ${why}` });
    }
    delete s.raised;
    s.streak = 0;
  };

  if (s.prevReplicas !== undefined && input.currentReplicas > s.prevReplicas) {
    if (s.raised) s.raised.scaleUps++;
    if (s.pending) {
      s.pending.to = input.currentReplicas;
      s.pending.count++;
    } else if (s.lastUtilisation !== undefined) {
      s.pending = {
        t: now,
        from: s.prevReplicas,
        to: input.currentReplicas,
        before: s.lastUtilisation,
        count: 1,
      };
    }
  } else if (s.prevReplicas !== undefined && input.currentReplicas < s.prevReplicas) {
    // A scale-down changes what "before" meant; judge afresh from here.
    delete s.pending;
  }

  const p = s.pending;
  const readyEnough = input.readyReplicas === undefined || input.readyReplicas >= (p?.to ?? 0);
  if (p && u !== undefined && now - p.t >= cfg.settleSeconds * 1000 && readyEnough) {
    delete s.pending;
    if (u < p.before * (1 - minFall)) {
      clear(`load per replica fell from ${fmt(p.before)} to ${fmt(u)} of target after ${p.from}→${p.to}`);
    } else {
      s.streak += p.count;
      if (!s.raised && s.streak >= raiseAfter) {
        s.raised = { since: now, scaleUps: 0 };
        s.count++;
        events.push({
          type: 'Warning',
          reason: 'ScalingIneffective',
          message: `load per replica did not fall across ${s.streak} scale-up(s) (${fmt(p.before)} → ${fmt(u)} of target, ${p.from}→${p.to} replicas): at most ${cfg.maxIneffectiveScaleUps} more scale-up(s) until it does`,
        });
      }
    }
  }
  if (s.raised && u !== undefined && u <= 1 + input.tolerance) {
    clear(`load is back within target (${fmt(u)} of target)`);
  }

  s.prevReplicas = input.currentReplicas;
  if (u !== undefined) s.lastUtilisation = u;
  const result: IneffectiveResult = { raised: s.raised !== undefined };
  if (s.raised) {
    const left = cfg.maxIneffectiveScaleUps - s.raised.scaleUps;
    result.message = `load per replica did not fall across ${s.streak} scale-up(s); ${Math.max(0, left)} more allowed`;
    if (left <= 0) result.capAt = input.currentReplicas;
  }
  return { result, state: s, events };
}
