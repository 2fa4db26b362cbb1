// Shadow evaluation: Level 5 proves itself before it acts.
//
// Beside the path that acts on the target, the engine keeps the others as virtual
// trajectories: the HPA-compatible reactive path (with the input guards, which are not bets)
// and each Level 5 variant (the enabled mechanisms, at the spec's target and, for metrics with a
// capacity, at operating points between the target and the capacity). Each has its own replica
// count, its own ready model (a scale-up is ready a start-up time later; a scale-down removes
// not-ready replicas first) and its own stabilization, cooldown and rate-limit history, all
// driven by the load the metrics observe, and each sizes its proposal at its own count. So
// every path is scored on every tick against the same observed load, whichever acts:
//
//   replica-seconds held, miss ticks (the load per ready replica above the metric's capacity,
//   or without one above what the target allows, tolerance included) and direction reversals,
//
// summed in fixed buckets (the window / 24) over a rolling window (default one day), so the
// state stays small. At each bucket boundary the gate is set for the next bucket:
//
//   Level 5 acts with the acting variant while it still passes, else with the passing variant
//   whose worse score is the lowest share of the reactive path's; a variant passes ⇔ over the
//   window its reversals ≤ the reactive path's, and its miss ticks and replica-seconds are
//   each ≤ the reactive path's, one of them < (or, with predictive.missCostReplicaSeconds =
//   K, replica-seconds + K × misses <), AND what acting has cost so far in the window (the
//   realized excess of the acting path over the reactive one) is ≤ 0 by the same rule (bar two
//   minutes' worth of miss ticks, MISS_ALLOWANCE_SECONDS), AND the
//   window holds at least one bucket of ticks. No variant passes: the reactive path acts.
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

/**
 * [bucket index, ticks, excess rs, excess miss, excess rev, then per path (0 = reactive, 1… =
 * the Level 5 variants): rs, miss, rev].
 */
export type Bucket = number[];

const HEAD = 5;

export interface ShadowState {
  v: 2;
  /** The path acting on the target: 0 while Level 5 stands aside, else the variant's index. */
  acting: number;
  /** The paths' names when the state was made: a different set starts the scores afresh. */
  names: string[];
  /** Every path but the acting one, by index. */
  virt: Record<string, PathState>;
  buckets: Bucket[];
  lastT?: number;
  /** The actual target's replicas at the last tick and its last direction. */
  prevN?: number;
  dir: number;
  /** The window's scores the gate was last set on (at a bucket boundary): what status and conditions show. */
  decided?: ShadowScores;
  /** Whether a variant passed the gate then (also where it may not act). */
  verdict?: boolean;
}

export interface ShadowInput {
  spec: PolicySpec;
  now: number;
  currentReplicas: number;
  readyReplicas: number;
  /** The engine's per-metric results (value, target, capacity, type) this tick. */
  metrics: MetricResult[];
  /** False when a metric failed or was held as anomalous: nothing is scored or learned then. */
  trusted: boolean;
  /** Names of the paths: [0] the reactive one, then the Level 5 variants (at least one). */
  names: string[];
  /** Each path's proposal for a path at `current` replicas with `ready` of them ready. */
  proposals: Array<(current: number, ready: number) => number>;
  /** Each path's scale-down stabilization window. */
  windows: number[];
  /** Per path, whether it may act (ForecastOnly's forecast may not): otherwise its verdict is only reported. */
  canAct: boolean[];
  startupSeconds: number;
  /** The acting path's stabilization/rate-limit memory, copied when the paths swap. */
  actualTail: TailState;
  tail: TailRunner;
  state: ShadowState | undefined;
}

export interface ShadowOutput {
  state: ShadowState;
  /** The acting path: 0 = the reactive one (Level 5 stands aside), else the Level 5 variant's index. */
  acting: number;
  /** The window's scores up to this tick (for /metrics). */
  scores: ShadowScores;
  /** The scores the gate was last set on, at a bucket boundary (for status and conditions: they change once a bucket). */
  decided: ShadowScores;
  /** Whether some variant passed the gate at the last boundary (also where it may not act). */
  wouldAct: boolean;
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

/**
 * Whether `ready` replicas fall short of the load: above the metric's capacity where one is
 * stated (the load per replica users feel), else above what the target allows (tolerance
 * included), so without a capacity nothing may run hotter than the target.
 */
export function overloaded(
  metrics: MetricResult[],
  podCount: number,
  ready: number,
  tolerance: number,
): boolean {
  for (const m of metrics) {
    if (m.value === undefined || !(m.target > 0)) continue;
    const load = loadOf(m, podCount);
    const line = m.capacity !== undefined && m.capacity >= m.target ? m.capacity : m.target * (1 + tolerance);
    if (load > ready * line) return true;
  }
  return false;
}

/** The load a metric stands for, in target units summed over replicas: what the ready replicas must carry. */
export function loadOf(
  m: { value?: number; targetType: 'AverageValue' | 'Value' },
  podCount: number,
): number {
  const v = m.value ?? 0;
  return m.targetType === 'AverageValue' ? v : v * podCount;
}

/** The HPA-compatible count for a load at `target` on a path at `current` replicas with `ready` ready. */
export function proposalAt(
  load: number,
  type: 'AverageValue' | 'Value',
  target: number,
  current: number,
  ready: number,
  tolerance: Tolerance,
): number {
  if (type === 'AverageValue') return averageValueProposal(load, target, current, tolerance).replicas;
  // A path at 0 replicas measures a Value metric on no pods: take one, as a wake-up would.
  const pods = ready > 0 ? ready : Math.max(1, current);
  return valueProposal(load / pods, target, current, pods, tolerance).replicas;
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
    const r = proposalAt(loadOf(m, podCount), m.targetType, m.target, current, ready, tolerance);
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

function newBucket(idx: number, paths: number): Bucket {
  return [idx, ...new Array<number>(HEAD - 1 + 3 * paths).fill(0)];
}

function currentBucket(s: ShadowState, idx: number): Bucket {
  let b = s.buckets[s.buckets.length - 1];
  if (!b || b[0] !== idx) {
    b = newBucket(idx, s.names.length);
    s.buckets.push(b);
  }
  return b;
}

function add(b: Bucket, i: number, v: number): void {
  b[i] = (b[i] as number) + v;
}

/** Adds this tick's scores of every path (and the realized excess, while Level 5 acts). */
function score(input: ShadowInput, s: ShadowState, actualRev: boolean): void {
  const { spec, now } = input;
  const b = currentBucket(s, Math.floor(now / 1000 / bucketSeconds(spec)));
  const dt = Math.min(
    2 * spec.pollingIntervalSeconds,
    s.lastT === undefined ? spec.pollingIntervalSeconds : Math.max(0, (now - s.lastT) / 1000),
  );
  const tol = tolerancesOf(spec.behavior).scaleUp;
  const pods = input.readyReplicas > 0 ? input.readyReplicas : Math.max(1, input.currentReplicas);
  const rows: Array<[number, number, number]> = s.names.map((_, p) => {
    if (p === s.acting)
      return [
        input.currentReplicas * dt,
        overloaded(input.metrics, pods, input.readyReplicas, tol) ? 1 : 0,
        actualRev ? 1 : 0,
      ];
    const v = s.virt[p] as PathState;
    return [v.n * dt, overloaded(input.metrics, pods, v.ready, tol) ? 1 : 0, 0];
  });
  rows.forEach((r, p) => {
    for (let k = 0; k < 3; k++) add(b, HEAD + 3 * p + k, r[k] as number);
  });
  if (s.acting > 0) {
    const a = rows[s.acting] as [number, number, number];
    const r = rows[0] as [number, number, number];
    for (let k = 0; k < 3; k++) add(b, 2 + k, (a[k] as number) - (r[k] as number));
  }
  add(b, 1, 1);
}

/** Window sums of every path, over the buckets in (upTo − BUCKETS, upTo]. */
function windowSums(s: ShadowState, upTo: number): number[] {
  const sum = newBucket(0, s.names.length);
  for (const b of s.buckets) {
    const i0 = b[0] as number;
    if (i0 <= upTo - BUCKETS || i0 > upTo) continue;
    for (let i = 1; i < b.length; i++) add(sum, i, b[i] as number);
  }
  return sum;
}

function pathScore(sum: number[], at: number): PathScore {
  return {
    replicaSeconds: Math.round(sum[at] as number),
    missTicks: sum[at + 1] as number,
    reversals: sum[at + 2] as number,
  };
}

/** One Level 5 variant's window scores against the reactive path's. */
function variantScores(s: ShadowState, spec: PolicySpec, sum: number[], p: number): ShadowScores {
  return {
    acting: s.acting === p,
    windowSeconds: windowSecondsOf(spec),
    evidenceSeconds: (sum[1] as number) * spec.pollingIntervalSeconds,
    reactive: pathScore(sum, HEAD),
    level5: pathScore(sum, HEAD + 3 * p),
    excess: pathScore(sum, 2),
    variant: s.names[p] as string,
  };
}

/** Lower is better: fewer misses first, then fewer replica-seconds, then fewer reversals. */
function better(a: PathScore, b: PathScore): boolean {
  if (a.missTicks !== b.missTicks) return a.missTicks < b.missTicks;
  if (a.replicaSeconds !== b.replicaSeconds) return a.replicaSeconds < b.replicaSeconds;
  return a.reversals < b.reversals;
}

/**
 * How far a variant's worse score lies from the reactive path's: the larger of its
 * replica-seconds and its miss ticks, each as a share of the reactive path's (lower is better).
 * The gate acts with the variant whose margin is widest on both scores at once, not the one with
 * the fewest misses: a variant that wins on misses by holding about the reactive path's replicas
 * passes the window by a hair and loses the realized-excess test on the next unlucky hour.
 */
export function worseShare(w: ShadowScores): number {
  const share = (l: number, r: number) => (r > 0 ? l / r : l > 0 ? Number.POSITIVE_INFINITY : 0);
  return Math.max(
    share(w.level5.replicaSeconds, w.reactive.replicaSeconds),
    share(w.level5.missTicks, w.reactive.missTicks),
  );
}

/** Whether passing variant `a` is the gate's better choice than `b`: the lower worse share, then `better`. */
function preferred(a: ShadowScores, b: ShadowScores): boolean {
  const x = worseShare(a);
  const y = worseShare(b);
  return x !== y ? x < y : better(a.level5, b.level5);
}

/**
 * Miss ticks the realized excess may hold and Level 5 still act: two minutes' worth. Misses are
 * rare events; over a few hours of acting the count differs from the reactive path's by a few
 * ticks either way by chance, and a strict ≤ 0 locked Level 5 out for a day on one unlucky
 * minute (on the bench's real traces, most of the boundaries where some variant passed the
 * window). The bound of docs/autopilot.md grows by this much per window.
 */
export const MISS_ALLOWANCE_SECONDS = 120;

export function missAllowanceTicks(spec: PolicySpec): number {
  return Math.floor(MISS_ALLOWANCE_SECONDS / spec.pollingIntervalSeconds);
}

/**
 * The variants' scores over the window, and the gate's choice: the acting variant while it
 * still passes, else the passing one whose worse score is the lowest share of the reactive
 * path's (`worseShare`), else none (0). `shown` is the chosen one, or the best-scoring one
 * (fewest misses, then replica-seconds) while none passes.
 */
export function choose(
  s: ShadowState,
  spec: PolicySpec,
  upTo: number,
  canAct: (p: number) => boolean = () => true,
): { chosen: number; shown: ShadowScores } {
  const sum = windowSums(s, upTo);
  const bs = bucketSeconds(spec);
  const k = spec.predictive?.missCostReplicaSeconds;
  const allowance = missAllowanceTicks(spec);
  let chosen = 0;
  let best = 1;
  for (let p = 1; p < s.names.length; p++) {
    const w = variantScores(s, spec, sum, p);
    if (better(w.level5, variantScores(s, spec, sum, best).level5)) best = p;
    if (!canAct(p) || !mayAct(w, bs, k, allowance)) continue;
    if (chosen === 0 || preferred(w, variantScores(s, spec, sum, chosen))) chosen = p;
  }
  if (s.acting > 0 && canAct(s.acting) && mayAct(variantScores(s, spec, sum, s.acting), bs, k, allowance))
    chosen = s.acting;
  return {
    chosen,
    shown: variantScores(s, spec, sum, chosen > 0 ? chosen : best),
  };
}

/** The current window's scores as shown between boundaries (the acting variant, else the first). */
export function windowScores(s: ShadowState, spec: PolicySpec, upTo: number): ShadowScores {
  return variantScores(s, spec, windowSums(s, upTo), s.acting > 0 ? s.acting : 1);
}

/**
 * The gate. "No worse" is, per score, Level 5's ≤ the reactive path's, and strictly less on
 * replica-seconds or misses: a tie has shown no gain, and acting on it would risk the excess the
 * bound allows for nothing. With predictive.missCostReplicaSeconds set (K), replica-seconds and
 * misses are one cost instead, replica-seconds + K × miss ticks (strictly less), so fewer misses
 * may pay for more replicas at that rate.
 * Reversals are always compared on their own. Acting must also have cost nothing so far in the
 * window (the realized excess ≤ 0 by the same rule, bar `missAllowance` miss ticks), and the
 * window must hold a bucket of ticks.
 */
export function mayAct(w: ShadowScores, bucketSecs: number, missCost?: number, missAllowance = 0): boolean {
  const { level5: l, reactive: r, excess: x } = w;
  if (w.evidenceSeconds < bucketSecs || l.reversals > r.reversals) return false;
  if (missCost !== undefined)
    return (
      l.replicaSeconds + missCost * l.missTicks < r.replicaSeconds + missCost * r.missTicks &&
      x.replicaSeconds + missCost * (x.missTicks - missAllowance) <= 0
    );
  return (
    l.missTicks <= r.missTicks &&
    l.replicaSeconds <= r.replicaSeconds &&
    (l.missTicks < r.missTicks || l.replicaSeconds < r.replicaSeconds) &&
    x.missTicks <= missAllowance &&
    x.replicaSeconds <= 0
  );
}

/** Moves every virtual path one tick: its own proposal through its own pipeline. */
function advanceVirtual(input: ShadowInput, s: ShadowState): void {
  const { now } = input;
  if (!input.trusted) return;
  for (const [key, v] of Object.entries(s.virt)) {
    const p = Number(key);
    const proposal = (input.proposals[p] as (c: number, r: number) => number)(v.n, v.ready);
    const out = input.tail(v.tail, proposal, v.n, input.windows[p] as number);
    v.tail = out.tail;
    if (!resize(v, out.replicas, now + input.startupSeconds * 1000)) continue;
    const b = s.buckets[s.buckets.length - 1] as Bucket;
    add(b, HEAD + 3 * p + 2, 1);
    if (p === 0 && s.acting > 0) add(b, 4, -1);
  }
}

function freshState(input: ShadowInput): ShadowState {
  return { v: 2, acting: 0, names: [...input.names], virt: {}, buckets: [], dir: 0 };
}

export function shadowStep(input: ShadowInput): ShadowOutput {
  const { spec, now } = input;
  const prev =
    input.state?.v === 2 && input.state.names.join() === input.names.join() ? input.state : undefined;
  const s: ShadowState = prev ? cloneData(prev) : freshState(input);
  if (input.canAct[s.acting] === false) s.acting = 0;
  const bs = bucketSeconds(spec);
  const idx = Math.floor(now / 1000 / bs);
  let actualRev = false;
  if (s.prevN !== undefined && input.currentReplicas !== s.prevN) {
    const dir = Math.sign(input.currentReplicas - s.prevN);
    actualRev = s.dir !== 0 && dir !== s.dir;
    s.dir = dir;
  }
  s.prevN = input.currentReplicas;
  for (let p = 0; p < s.names.length; p++) {
    if (p === s.acting) delete s.virt[p];
    else s.virt[p] ??= fork(input, s.dir);
    const v = s.virt[p];
    if (v) promote(v, now);
  }
  if (input.trusted) score(input, s, actualRev);
  if (actualRev && s.acting > 0 && input.trusted) add(s.buckets[s.buckets.length - 1] as Bucket, 4, 1);
  advanceVirtual(input, s);
  s.lastT = now;
  s.buckets = s.buckets.filter((b) => (b[0] as number) > idx - BUCKETS - 1);
  const closed = prev?.lastT !== undefined && Math.floor(prev.lastT / 1000 / bs) < idx;
  let switched = false;
  let wouldAct = s.verdict === true;
  if (closed) {
    // The verdict over every variant (what status reports), the choice over those that may act.
    wouldAct = choose(s, spec, idx - 1).chosen > 0;
    const { chosen: act, shown } = choose(s, spec, idx - 1, (p) => input.canAct[p] !== false);
    if (act !== s.acting) {
      // The path that acted goes on as a virtual one from the target's present state.
      s.virt[s.acting] = fork(input, s.dir);
      delete s.virt[act];
      s.acting = act;
      switched = true;
    }
    s.decided = { ...shown, acting: act > 0 };
    s.verdict = wouldAct;
  }
  return {
    state: s,
    acting: s.acting,
    scores: windowScores(s, spec, idx),
    decided: s.decided ?? { ...windowScores(s, spec, idx), acting: s.acting > 0 },
    wouldAct,
    switched,
  };
}
