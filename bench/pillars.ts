// The measurements behind `make bench`'s pillar sections (issue 19): how a fault run differs
// from the clean run, minute by minute, inside each fault's window, and how much of the gain
// perfect foresight reaches Level 5 takes. Pure, so they are unit-tested on small series.
import type { Fault, FaultKind } from '../src/simulate/faults.ts';
import type { AgainstLine } from './frontier.ts';

/** One strategy's per-minute series: mean replicas and 1 for each under-provisioned minute. */
export interface MinuteSeries {
  replicas: ArrayLike<number>;
  under: ArrayLike<number>;
}

/** What the faults cost one strategy against its own fault-free run. */
export interface FaultCost {
  /** Minutes under-provisioned in the faulted run and not in the clean one, inside the fault windows. */
  missedMinutes: number;
  /** Replica-minutes above the clean run's, minute by minute, inside the fault windows. */
  wastedReplicaMinutes: number;
}

/**
 * The cost of each kind of fault against the clean run, over each fault's minutes and the
 * `afterMinutes` that follow (a scale-down window, a start-up and the recovery; the next fault
 * is hours later, so the windows do not overlap): the minutes it made a strategy miss and the
 * replicas it made it hold beyond the clean run's. Only the harm counts: a spike that happens
 * to spare a missed minute is luck, not a saving to set against the replicas it wasted.
 */
export function faultCosts(
  clean: MinuteSeries,
  faulted: MinuteSeries,
  faults: readonly Fault[],
  afterMinutes: number,
): Map<FaultKind, FaultCost> {
  const out = new Map<FaultKind, FaultCost>();
  const n = Math.min(clean.replicas.length, faulted.replicas.length);
  for (const f of faults) {
    const from = Math.floor(f.from / 60);
    const to = Math.min(n, Math.ceil((f.from + f.seconds) / 60) + afterMinutes);
    const c = out.get(f.kind) ?? { missedMinutes: 0, wastedReplicaMinutes: 0 };
    for (let m = from; m < to; m++) {
      c.missedMinutes += Math.max(0, (faulted.under[m] as number) - (clean.under[m] as number));
      c.wastedReplicaMinutes += Math.max(0, (faulted.replicas[m] as number) - (clean.replicas[m] as number));
    }
    out.set(f.kind, c);
  }
  return out;
}

/** The sum over kinds. */
export function totalCost(costs: ReadonlyMap<FaultKind, FaultCost>): FaultCost {
  let missedMinutes = 0;
  let wastedReplicaMinutes = 0;
  for (const c of costs.values()) {
    missedMinutes += c.missedMinutes;
    wastedReplicaMinutes += c.wastedReplicaMinutes;
  }
  return { missedMinutes, wastedReplicaMinutes };
}

/**
 * A fault cost ÷ the HPA's under the same faults. Where the HPA lost nothing, there is no
 * ratio to give: undefined, shown as the two figures instead.
 */
export function costRatio(level5: number, hpa: number): number | undefined {
  return hpa > 0 ? level5 / hpa : undefined;
}

/**
 * The share of the reachable gain taken: (1 − Level 5's frontier ratio) ÷ (1 − foresight's).
 * The frontier ratio is cost ÷ the reactive line's cost at the same misses, so 1 − ratio is the
 * saving against retuning the HPA; undefined when foresight itself saves nothing there or either
 * is off the line.
 */
export function reachableShare(
  level5: AgainstLine | undefined,
  foresight: AgainstLine | undefined,
): number | undefined {
  if (!level5 || !foresight || level5.atMost || !(foresight.ratio < 1)) return undefined;
  return (1 - level5.ratio) / (1 - foresight.ratio);
}

/** On and off phases, each a whole number of minutes drawn from its range (inclusive). */
export interface OnOff {
  onMinutes: [number, number];
  offMinutes: [number, number];
  /** The load during an on phase, × the off phase's. */
  factor: number;
}

/**
 * A second flapping workload for the self-tuning section, of another rhythm than the batches
 * shape: a seeded trace's load switched between on and off phases of random lengths (a service
 * whose callers work in sessions), so the peaks are longer than the batches' and the lulls
 * shorter. `uniform` is a seeded source in [0, 1).
 */
export function onOffLoad(base: ArrayLike<number>, rhythm: OnOff, uniform: () => number): Float64Array {
  const out = Float64Array.from(base as ArrayLike<number>);
  const draw = ([lo, hi]: [number, number]) => lo + Math.floor(uniform() * (hi - lo + 1));
  for (let m = 0; m < out.length; ) {
    const on = draw(rhythm.onMinutes);
    for (let k = 0; k < on && m < out.length; k++, m++) out[m] = (out[m] as number) * rhythm.factor;
    m += draw(rhythm.offMinutes);
  }
  return out;
}
