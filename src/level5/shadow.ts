// Shadow evaluation: Level 5 proves itself before it acts.
//
// Beside the path that acts on the target, the engine keeps the other one as a virtual
// trajectory: its own replica count, its own ready model (a scale-up is ready a start-up time
// later; a scale-down removes not-ready replicas first) and its own stabilization, cooldown and
// rate-limit history, all driven by the load the metrics observe. While Level 5 acts, the
// virtual one is the HPA-compatible reactive path; while it stands aside, the virtual one is
// Level 5. So both are scored on every tick against the same observed load, whichever acts:
//
//   replica-seconds held, miss ticks (the load per ready replica above what the target allows,
//   tolerance included) and direction reversals,
//
// summed in fixed buckets (the window / 24) over a rolling window (default one day), so the
// state stays small. At each bucket boundary the gate is set for the next bucket:
//
//   Level 5 acts  ⇔  over the window, Level 5's reversals ≤ the reactive path's, and its
//                    miss ticks and replica-seconds are each ≤ the reactive path's, one of them
//                    < (or, with predictive.missCostReplicaSeconds = K, replica-seconds + K ×
//                    misses <),
//                    AND what acting has cost so far in the window (the realized excess of the
//                    acting path over the reactive one) is ≤ 0 by the same rule, AND the window
//                    holds at least one bucket of ticks.
//
// The realized-excess condition makes the bound of docs/autopilot.md hold: the cumulative
// realized excess over the reactive path rises by at most one bucket's worth per window.
import { cloneData } from '../core/clone.ts';
import { averageValueProposal, type Tolerance, tolerancesOf, valueProposal } from '../core/hpa-arithmetic.ts';
import type { MetricResult, PathScore, PolicySpec, ShadowScores } from '../core/types.ts';

/** What the stabilization, cooldown and rate-limit stages remember, per path. */
export interface TailState {
  recommendations: Array<{ t: number; replicas: number }>;
  scaleUpEvents: Array<{ t: number; change: number }>;
  scaleDownEvents: Array<{ t: number; change: number }>;
  lastScaleTime?: number;
}

/** Runs the stabilization, cooldown, rate-limit and bounds stages on one path (the engine's). */
export type TailRunner = (
  tail: TailState,
  proposal: number,
  current: number,
  downWindowSeconds: number,
) => { replicas: number; tail: TailState };

export interface PathState {
  n: number;
  ready: number;
  /** Requested replicas not ready yet: [ready at (epoch ms), count], oldest first. */
  pend: Array<[number, number]>;
  /** Direction of the last change: 1, -1 or 0. */
  dir: number;
  tail: TailState;
}

/** [bucket index, rs reactive, rs level5, miss R, miss L, rev R, rev L, excess rs, excess miss, excess rev, ticks] */
export type Bucket = [number, number, number, number, number, number, number, number, number, number, number];

export interface ShadowState {
  v: 1;
  /** True while Level 5 acts (then `other` is the reactive path), false while it stands aside. */
  acting: boolean;
  other?: PathState;
  buckets: Bucket[];
  lastT?: number;
  /** The actual target's replicas at the last tick and its last direction. */
  prevN?: number;
  dir: number;
  /** The window's scores the gate was last set on (at a bucket boundary): what status and conditions show. */
  decided?: ShadowScores;
}

export interface ShadowInput {
  spec: PolicySpec;
  now: number;
  currentReplicas: number;
  readyReplicas: number;
  /** The engine's per-metric results (value, target, type) this tick. */
  metrics: MetricResult[];
  /** False when a metric failed or was held as anomalous: nothing is scored or learned then. */
  trusted: boolean;
  /** Level 5's adjustment of a reactive proposal (for the virtual Level 5 path). */
  level5Proposal: (reactive: number, current: number) => number;
  /** Scale-down stabilization window Level 5 uses. */
  level5DownWindow: number;
  startupSeconds: number;
  /** The acting path's stabilization/rate-limit memory, copied when the paths swap. */
  actualTail: TailState;
  tail: TailRunner;
  state: ShadowState | undefined;
}

export interface ShadowOutput {
  state: ShadowState;
  acting: boolean;
  /** The window's scores up to this tick (for /metrics). */
  scores: ShadowScores;
  /** The scores the gate was last set on, at a bucket boundary (for status and conditions: they change once a bucket). */
  decided: ShadowScores;
  /** True on the tick the gate changed. */
  switched: boolean;
}

const BUCKETS = 24;

export function windowSecondsOf(spec: PolicySpec): number {
  return spec.predictive?.evaluationWindowSeconds ?? 86400;
}

function bucketSeconds(spec: PolicySpec): number {
  return Math.max(spec.pollingIntervalSeconds, windowSecondsOf(spec) / BUCKETS);
}

/** The load a metric stands for, in target units summed over replicas: what `ready` replicas must carry. */
function overloaded(metrics: MetricResult[], podCount: number, ready: number, tolerance: number): boolean {
  for (const m of metrics) {
    if (m.value === undefined || !(m.target > 0)) continue;
    const load = m.targetType === 'AverageValue' ? m.value : m.value * podCount;
    if (load > ready * m.target * (1 + tolerance)) return true;
  }
  return false;
}

/** The HPA-compatible proposal for a path at `current` replicas with `ready` of them ready. */
export function reactiveProposal(
  metrics: MetricResult[],
  podCount: number,
  current: number,
  ready: number,
  tolerance: Tolerance,
): number {
  let p = -1;
  for (const m of metrics) {
    if (m.value === undefined || !(m.target > 0)) continue;
    // A path at 0 replicas measures a Value metric on no pods: take one, as a wake-up would.
    const pods = ready > 0 ? ready : Math.max(1, current);
    const r =
      m.targetType === 'AverageValue'
        ? averageValueProposal(m.value, m.target, current, tolerance).replicas
        : valueProposal((m.value * podCount) / pods, m.target, current, pods, tolerance).replicas;
    if (Number.isFinite(r) && r > p) p = r;
  }
  return p < 0 ? current : p;
}

function promote(p: PathState, now: number): void {
  while (p.pend.length > 0 && (p.pend[0] as [number, number])[0] <= now) {
    p.ready += (p.pend.shift() as [number, number])[1];
  }
}

function resize(p: PathState, desired: number, readyAt: number): boolean {
  if (desired === p.n) return false;
  const dir = Math.sign(desired - p.n);
  const reversal = p.dir !== 0 && dir !== p.dir;
  p.dir = dir;
  if (desired > p.n) p.pend.push([readyAt, desired - p.n]);
  else {
    let remove = p.n - desired;
    while (remove > 0 && p.pend.length > 0) {
      const last = p.pend[p.pend.length - 1] as [number, number];
      const k = Math.min(remove, last[1]);
      last[1] -= k;
      remove -= k;
      if (last[1] === 0) p.pend.pop();
    }
    p.ready = Math.max(0, p.ready - remove);
  }
  p.n = desired;
  return reversal;
}

function fork(input: ShadowInput, dir: number): PathState {
  const { currentReplicas: n, readyReplicas: ready, now } = input;
  const r = Math.min(ready, n);
  return {
    n,
    ready: r,
    pend: r < n ? [[now + input.startupSeconds * 1000, n - r]] : [],
    dir,
    tail: cloneData(input.actualTail),
  };
}

function newBucket(idx: number): Bucket {
  return [idx, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
}

/** Adds this tick's scores of both paths (and the realized excess, while Level 5 acts). */
function score(input: ShadowInput, s: ShadowState, other: PathState, actualRev: boolean): void {
  const { spec, now } = input;
  const bs = bucketSeconds(spec);
  const idx = Math.floor(now / 1000 / bs);
  let b = s.buckets[s.buckets.length - 1];
  if (!b || b[0] !== idx) {
    b = newBucket(idx);
    s.buckets.push(b);
  }
  const dt = Math.min(
    2 * spec.pollingIntervalSeconds,
    s.lastT === undefined ? spec.pollingIntervalSeconds : Math.max(0, (now - s.lastT) / 1000),
  );
  // Overloaded means above the band a scale-up would ignore.
  const tol = tolerancesOf(spec.behavior).scaleUp;
  const pods = input.readyReplicas > 0 ? input.readyReplicas : Math.max(1, input.currentReplicas);
  const actual = [
    input.currentReplicas * dt,
    overloaded(input.metrics, pods, input.readyReplicas, tol) ? 1 : 0,
    actualRev ? 1 : 0,
  ] as const;
  const virt = [other.n * dt, overloaded(input.metrics, pods, other.ready, tol) ? 1 : 0, 0] as const;
  const [r, l] = s.acting ? [virt, actual] : [actual, virt];
  b[1] += r[0];
  b[2] += l[0];
  b[3] += r[1];
  b[4] += l[1];
  b[5] += r[2];
  b[6] += l[2];
  if (s.acting) {
    b[7] += l[0] - r[0];
    b[8] += l[1] - r[1];
  }
  b[10] += 1;
}

/** Window sums, over the buckets after `from` (a bucket index, exclusive). */
export function windowScores(s: ShadowState, spec: PolicySpec, upTo: number): ShadowScores {
  const from = upTo - BUCKETS;
  const sum = newBucket(0);
  for (const b of s.buckets) {
    if (b[0] <= from || b[0] > upTo) continue;
    for (let i = 1; i < b.length; i++) sum[i] = (sum[i] as number) + (b[i] as number);
  }
  const path = (rs: number, miss: number, rev: number): PathScore => ({
    replicaSeconds: Math.round(rs),
    missTicks: miss,
    reversals: rev,
  });
  return {
    acting: s.acting,
    windowSeconds: windowSecondsOf(spec),
    evidenceSeconds: sum[10] * spec.pollingIntervalSeconds,
    reactive: path(sum[1], sum[3], sum[5]),
    level5: path(sum[2], sum[4], sum[6]),
    excess: path(sum[7], sum[8], sum[9]),
  };
}

/**
 * The gate. "No worse" is, per score, Level 5's ≤ the reactive path's, and strictly less on
 * replica-seconds or misses: a tie has shown no gain, and acting on it would risk the excess the
 * bound allows for nothing. With predictive.missCostReplicaSeconds set (K), replica-seconds and
 * misses are one cost instead, replica-seconds + K × miss ticks (strictly less), so fewer misses
 * may pay for more replicas at that rate.
 * Reversals are always compared on their own. Acting must also have cost nothing so far in the
 * window (the realized excess ≤ 0 by the same rule), and the window must hold a bucket of ticks.
 */
export function mayAct(w: ShadowScores, bucketSecs: number, missCost?: number): boolean {
  const { level5: l, reactive: r, excess: x } = w;
  if (w.evidenceSeconds < bucketSecs || l.reversals > r.reversals) return false;
  if (missCost !== undefined)
    return (
      l.replicaSeconds + missCost * l.missTicks < r.replicaSeconds + missCost * r.missTicks &&
      x.replicaSeconds + missCost * x.missTicks <= 0
    );
  return (
    l.missTicks <= r.missTicks &&
    l.replicaSeconds <= r.replicaSeconds &&
    (l.missTicks < r.missTicks || l.replicaSeconds < r.replicaSeconds) &&
    x.missTicks <= 0 &&
    x.replicaSeconds <= 0
  );
}

/** Moves the virtual path one tick: its own proposal through its own pipeline. */
function advanceOther(input: ShadowInput, s: ShadowState, other: PathState): void {
  const { spec, now } = input;
  if (!input.trusted) return;
  const pods = input.readyReplicas > 0 ? input.readyReplicas : Math.max(1, input.currentReplicas);
  const reactive = reactiveProposal(input.metrics, pods, other.n, other.ready, tolerancesOf(spec.behavior));
  const proposal = s.acting ? reactive : input.level5Proposal(reactive, other.n);
  const window = s.acting ? spec.behavior.scaleDown.stabilizationWindowSeconds : input.level5DownWindow;
  const out = input.tail(other.tail, proposal, other.n, window);
  other.tail = out.tail;
  const rev = resize(other, out.replicas, now + input.startupSeconds * 1000);
  if (rev) {
    const b = s.buckets[s.buckets.length - 1] as Bucket;
    b[s.acting ? 5 : 6] += 1;
    if (s.acting) b[9] -= 1;
  }
}

export function shadowStep(input: ShadowInput): ShadowOutput {
  const { spec, now } = input;
  const prev = input.state?.v === 1 ? input.state : undefined;
  const s: ShadowState = prev ? cloneData(prev) : { v: 1, acting: false, buckets: [], dir: 0 };
  const bs = bucketSeconds(spec);
  const idx = Math.floor(now / 1000 / bs);
  let actualRev = false;
  if (s.prevN !== undefined && input.currentReplicas !== s.prevN) {
    const dir = Math.sign(input.currentReplicas - s.prevN);
    actualRev = s.dir !== 0 && dir !== s.dir;
    s.dir = dir;
  }
  s.prevN = input.currentReplicas;
  const other = s.other ?? fork(input, s.dir);
  promote(other, now);
  if (input.trusted) score(input, s, other, actualRev);
  if (actualRev && s.acting && input.trusted) (s.buckets[s.buckets.length - 1] as Bucket)[9] += 1;
  advanceOther(input, s, other);
  s.other = other;
  s.lastT = now;
  s.buckets = s.buckets.filter((b) => b[0] > idx - BUCKETS - 1);
  const closed = prev?.lastT !== undefined && Math.floor(prev.lastT / 1000 / bs) < idx;
  let switched = false;
  if (closed) {
    const w = windowScores(s, spec, idx - 1);
    const act = mayAct(w, bs, spec.predictive?.missCostReplicaSeconds);
    if (act !== s.acting) {
      s.other = fork(input, s.dir);
      s.acting = act;
      switched = true;
    }
    s.decided = { ...w, acting: act };
  }
  return {
    state: s,
    acting: s.acting,
    scores: windowScores(s, spec, idx),
    decided: s.decided ?? { ...windowScores(s, spec, idx), acting: s.acting },
    switched,
  };
}
