// What an autoscaler did to its Deployment during a metric fault, from the replica history.
import { type ReplicaPoint, type ScaleWrite, scaleWrites, stateAt } from './measure.ts';

export interface FaultWindow {
  name: string;
  what: string;
  from: number;
  /** The fault is over (the component answers again). */
  to: number;
  /** Writes until here still count: an autoscaler may act on the fault's last bad readings. */
  recoverUntil: number;
}

export interface FaultOutcome {
  before: number;
  lowest: number;
  after: number;
  /** Writes from the fault's start until `recoverUntil`, seconds after its start. */
  writes: Array<ScaleWrite & { atSeconds: number }>;
  scaledDown: boolean;
}

export function faultOutcome(history: readonly ReplicaPoint[], f: FaultWindow): FaultOutcome {
  const before = stateAt(history, f.from)?.replicas ?? 0;
  const writes = scaleWrites(history, { from: f.from, to: f.recoverUntil }).map((w) => ({
    ...w,
    atSeconds: Math.round((w.t - f.from) / 100) / 10,
  }));
  const lowest = writes.reduce((m, w) => Math.min(m, w.to), before);
  return {
    before,
    lowest,
    after: stateAt(history, f.recoverUntil)?.replicas ?? before,
    writes,
    scaledDown: writes.some((w) => w.to < w.from),
  };
}
