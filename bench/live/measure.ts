// The live benchmark's measures, from what the API server and Prometheus recorded: pure
// functions of a Deployment's replica history (every change of spec.replicas and
// status.readyReplicas a watch saw, with the time it saw it) and the load's samples.
//
// Time is wall-clock milliseconds; a run with its clocks compressed by `speedup` reports
// minutes of the uncompressed run (one wall second counts `speedup` seconds), so the
// figures compare with the simulator's on the original trace.

/** The Deployment's state from `t` on (until the next point). */
export interface ReplicaPoint {
  t: number;
  /** spec.replicas: what the autoscaler asked for. */
  replicas: number;
  /** status.readyReplicas. */
  ready: number;
}

/** One Prometheus sample of the offered load (requests per second) at `t`. */
export interface LoadSample {
  t: number;
  rps: number;
}

export interface Window {
  from: number;
  to: number;
}

export interface ScaleWrite {
  t: number;
  from: number;
  to: number;
}

export interface Measures {
  replicaMinutes: number;
  underProvisionedMinutes: number;
  scaleWrites: number;
  reversals: number;
  peakReplicas: number;
}

/** The point in force at `t` (the last one at or before it), or undefined before the first. */
export function stateAt(history: readonly ReplicaPoint[], t: number): ReplicaPoint | undefined {
  let lo = 0;
  let hi = history.length - 1;
  let found: ReplicaPoint | undefined;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (history[mid]!.t <= t) {
      found = history[mid];
      lo = mid + 1;
    } else hi = mid - 1;
  }
  return found;
}

/** The changes of spec.replicas: each one a scale write. */
export function scaleWrites(history: readonly ReplicaPoint[], w: Window): ScaleWrite[] {
  const out: ScaleWrite[] = [];
  for (let i = 1; i < history.length; i++) {
    const p = history[i]!;
    const prev = history[i - 1]!;
    if (p.replicas !== prev.replicas && p.t >= w.from && p.t < w.to)
      out.push({ t: p.t, from: prev.replicas, to: p.replicas });
  }
  return out;
}

/** Changes of direction between consecutive scale writes (up then down, or down then up). */
export function reversals(writes: readonly ScaleWrite[]): number {
  let n = 0;
  let last = 0;
  for (const w of writes) {
    const d = Math.sign(w.to - w.from);
    if (last !== 0 && d !== last) n++;
    last = d;
  }
  return n;
}

/** The history cut to the window: its state at `from`, then every point inside. */
function within(history: readonly ReplicaPoint[], w: Window): ReplicaPoint[] {
  const first = stateAt(history, w.from);
  const inside = history.filter((p) => p.t > w.from && p.t < w.to);
  return first ? [{ ...first, t: w.from }, ...inside] : inside;
}

/** ∫ spec.replicas dt over the window, in minutes of the uncompressed run. */
export function replicaMinutes(history: readonly ReplicaPoint[], w: Window, speedup = 1): number {
  const pts = within(history, w);
  let ms = 0;
  for (let i = 0; i < pts.length; i++) {
    const end = i + 1 < pts.length ? pts[i + 1]!.t : w.to;
    ms += pts[i]!.replicas * (end - pts[i]!.t);
  }
  return (ms * speedup) / 60_000;
}

/**
 * Minutes (of the uncompressed run, counted from the window's start) in which the load
 * exceeded ready pods × capacity for some time: the load holds each sample's value until
 * the next sample, the ready count each point's until the next point.
 */
export function underProvisionedMinutes(
  history: readonly ReplicaPoint[],
  load: readonly LoadSample[],
  w: Window,
  capacityRps: number,
  speedup = 1,
): number {
  const minuteMs = 60_000 / speedup;
  const under = new Set<number>();
  const times = [
    w.from,
    ...history.map((p) => p.t),
    ...load.map((s) => s.t),
    // Minute boundaries split intervals, so each minute is judged on its own share.
    ...Array.from({ length: Math.ceil((w.to - w.from) / minuteMs) }, (_, i) => w.from + i * minuteMs),
  ]
    .filter((t) => t >= w.from && t < w.to)
    .sort((a, b) => a - b);
  for (let i = 0; i < times.length; i++) {
    const t = times[i]!;
    const end = i + 1 < times.length ? times[i + 1]! : w.to;
    if (end <= t) continue;
    const rps = loadAt(load, t);
    const ready = stateAt(history, t)?.ready ?? 0;
    if (rps !== undefined && rps > ready * capacityRps + 1e-9) under.add(Math.floor((t - w.from) / minuteMs));
  }
  return under.size;
}

/** The last load sample at or before t. */
export function loadAt(load: readonly LoadSample[], t: number): number | undefined {
  let v: number | undefined;
  for (const s of load) {
    if (s.t > t) break;
    v = s.rps;
  }
  return v;
}

export function measure(
  history: readonly ReplicaPoint[],
  load: readonly LoadSample[],
  w: Window,
  capacityRps: number,
  speedup = 1,
): Measures {
  const writes = scaleWrites(history, w);
  const pts = within(history, w);
  return {
    replicaMinutes: round2(replicaMinutes(history, w, speedup)),
    underProvisionedMinutes: underProvisionedMinutes(history, load, w, capacityRps, speedup),
    scaleWrites: writes.length,
    reversals: reversals(writes),
    peakReplicas: pts.reduce((m, p) => Math.max(m, p.replicas), 0),
  };
}

/** A rise of the load the benchmark provoked: at `t` the offered rate went from `before` to `after`. */
export interface LoadStep {
  t: number;
  before: number;
  after: number;
}

export interface Reaction {
  step: LoadStep;
  /** First load sample at or past the midpoint between the levels. */
  visibleAt?: number;
  /** First scale-up write after the load was visible. */
  firstWriteAt?: number;
  /** When ready pods first reached the replicas of that write. */
  readyAt?: number;
  /** Seconds (wall) from visible to the first write and to ready. */
  toFirstWriteSeconds?: number;
  toReadySeconds?: number;
}

/** For one step up: load visible → first scale-up write → its pods ready, before `until`. */
export function reaction(
  history: readonly ReplicaPoint[],
  load: readonly LoadSample[],
  step: LoadStep,
  until: number,
): Reaction {
  const mid = (step.before + step.after) / 2;
  const visible = load.find((s) => s.t >= step.t && s.t < until && s.rps >= mid);
  if (!visible) return { step };
  const write = scaleWrites(history, { from: visible.t, to: until }).find((w) => w.to > w.from);
  if (!write) return { step, visibleAt: visible.t };
  const ready = history.find((p) => p.t >= write.t && p.t < until && p.ready >= write.to);
  return {
    step,
    visibleAt: visible.t,
    firstWriteAt: write.t,
    toFirstWriteSeconds: round2((write.t - visible.t) / 1000),
    ...(ready ? { readyAt: ready.t, toReadySeconds: round2((ready.t - visible.t) / 1000) } : {}),
  };
}

/**
 * The steps up of a per-minute load (requests per minute): minutes whose load is at least
 * `rise` times the previous minute's and needs more replicas at `perReplica` than it did.
 * Returned as minute indexes with the levels in the trace's unit.
 */
export function stepsUp(
  perMinute: ArrayLike<number>,
  perReplica: number,
  rise = 1.5,
): Array<{ minute: number; before: number; after: number }> {
  const out: Array<{ minute: number; before: number; after: number }> = [];
  for (let m = 1; m < perMinute.length; m++) {
    const a = perMinute[m - 1]!;
    const b = perMinute[m]!;
    if (b >= rise * a && Math.ceil(b / perReplica) > Math.ceil(a / perReplica))
      out.push({ minute: m, before: a, after: b });
  }
  return out;
}

export function round2(x: number): number {
  return Math.round(x * 100) / 100;
}
