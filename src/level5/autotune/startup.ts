// Learns how long a scale-up takes to become ready replicas, from what every tick sees anyway:
// the target's replicas and ready replicas. The forecast's lead time is this plus a polling
// interval, so a workload whose pods start in 20 s is not sized 60 s ahead, and one whose
// pods need three minutes is not caught short.
//
// A measurement starts on the first tick that sees the replicas go up (the scale-up happened
// after the previous tick, usually at it: the engine's own patch) and ends on the first tick
// whose ready count reaches the new replicas. Its resolution is one polling interval; the
// estimate is the median of the last few measurements, so one slow image pull or a scale-up
// cut short does not move it far.
import { cloneData } from '../../core/clone.ts';

export interface StartupState {
  /** Recent measurements in seconds, oldest first. */
  samples: number[];
  /** A scale-up being timed: since (epoch ms) and the replicas it asked for. */
  pending?: { since: number; want: number };
  /** The previous tick's time and replicas. */
  prevAt?: number;
  prevReplicas?: number;
}

export interface StartupInput {
  currentReplicas: number;
  readyReplicas?: number;
  /** epoch ms */
  now: number;
}

const KEEP = 7;
/** A measurement longer than this is a stuck rollout, not a start-up time. */
const MAX_SECONDS = 3600;

export function startupStage(prev: StartupState | undefined, input: StartupInput): StartupState {
  const s: StartupState = prev ? cloneData(prev) : { samples: [] };
  const { currentReplicas: n, readyReplicas: ready, now } = input;
  if (ready !== undefined) {
    const p = s.pending;
    if (p && (n < p.want || now - p.since > MAX_SECONDS * 1000)) delete s.pending;
    else if (p && ready >= p.want) {
      s.samples.push(Math.max(0, (now - p.since) / 1000));
      if (s.samples.length > KEEP) s.samples.splice(0, s.samples.length - KEEP);
      delete s.pending;
    }
    const grew = s.prevReplicas !== undefined && n > s.prevReplicas && ready < n;
    if (grew && !s.pending && s.prevAt !== undefined) s.pending = { since: s.prevAt, want: n };
  }
  s.prevAt = now;
  s.prevReplicas = n;
  return s;
}

/** The learned start-up time in whole seconds, once measured. */
export function learnedStartupSeconds(s: StartupState | undefined): number | undefined {
  if (!s || s.samples.length === 0) return undefined;
  const sorted = [...s.samples].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const m =
    sorted.length % 2 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
  return Math.round(m);
}
