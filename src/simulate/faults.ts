// Metric faults as they happen in production, for the fault suite of `make bench`: the metric
// a scaler reads goes wrong while the load does not. Each kind is what a Prometheus query
// through an adapter returns in that case; `undefined` is a failed query (no sample), which
// the HPA holds on, while a value (a zero, a spike) is acted on like any other.
//
// Pure: a fault's values depend only on the tick time and the metric's true value (the
// exporter gone mad draws from a hash of the tick, not from a random stream).

export const FAULT_KINDS = ['counter-reset', 'scrape-gap', 'stale', 'doubled', 'zero', 'mad'] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

/** How long each kind lasts: as long as it typically does before someone or something notices. */
export const FAULT_SECONDS: Record<FaultKind, number> = {
  // A counter reset (a pod restart) that rate() misreads: one minute's window shows a spike.
  'counter-reset': 60,
  // Scrapes failing (a network partition, an overloaded Prometheus): no sample for 10 minutes.
  'scrape-gap': 600,
  // An exporter stuck on its last value for half an hour.
  stale: 1800,
  // The same series twice (two exporters after a redeploy): sum() doubles for half an hour.
  doubled: 1800,
  // A bogus zero: a broken exporter or a relabelling mistake reports 0 for 6 minutes, longer
  // than the HPA's five-minute scale-down window.
  zero: 360,
  // An exporter gone mad: values from 0 to 20 × the true one for 10 minutes.
  mad: 600,
};

export interface Fault {
  kind: FaultKind;
  /** Simulated seconds of the first faulty tick. */
  from: number;
  /** Length in seconds. */
  seconds: number;
}

/** The counter reset's spike: rate() over the reset's window sees the whole counter at once. */
const RESET_SPIKE = 10;
const MAD_MAX = 20;

/** A number in [0, 1) from the tick time: the same tick gives the same value to every strategy. */
function hash01(t: number): number {
  let x = Math.imul((t | 0) ^ 0x9e3779b9, 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
  return ((x ^ (x >>> 16)) >>> 0) / 4294967296;
}

/**
 * The faults of a trace: from `startSeconds`, one every `everySeconds`, the kinds in turn, so
 * each kind meets every time of day over a long trace and no two overlap.
 */
export function faultSchedule(traceSeconds: number, startSeconds: number, everySeconds: number): Fault[] {
  const out: Fault[] = [];
  for (let from = startSeconds, i = 0; ; from += everySeconds, i++) {
    const kind = FAULT_KINDS[i % FAULT_KINDS.length] as FaultKind;
    if (from + FAULT_SECONDS[kind] > traceSeconds) break;
    out.push({ kind, from, seconds: FAULT_SECONDS[kind] });
  }
  return out;
}

/**
 * The metric as a scaler reads it under `faults`: (t, true value, true value at another time)
 * → the value seen, or undefined for a failed query. `valueAt` gives the stale fault the value
 * it froze at.
 */
export function faultedMetric(
  faults: readonly Fault[],
): (t: number, value: number, valueAt: (t: number) => number) => number | undefined {
  const sorted = [...faults].sort((a, b) => a.from - b.from);
  return (t, value, valueAt) => {
    const f = active(sorted, t);
    if (!f) return value;
    switch (f.kind) {
      case 'counter-reset':
        return RESET_SPIKE * value;
      case 'scrape-gap':
        return undefined;
      case 'stale':
        return valueAt(f.from);
      case 'doubled':
        return 2 * value;
      case 'zero':
        return 0;
      case 'mad':
        return MAD_MAX * hash01(t) * value;
    }
  };
}

/** The fault in force at t (binary search: the faults are sorted and do not overlap). */
function active(sorted: readonly Fault[], t: number): Fault | undefined {
  let lo = 0;
  let hi = sorted.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const f = sorted[mid] as Fault;
    if (t < f.from) hi = mid - 1;
    else if (t >= f.from + f.seconds) lo = mid + 1;
    else return f;
  }
  return undefined;
}
