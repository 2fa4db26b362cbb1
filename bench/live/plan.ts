// What the live benchmark replays and with which settings: the stretches (a busy afternoon
// of a real trace, a step and a flash crowd), their scale, and every clock compressed by
// one factor. Pure: the trace comes in as numbers.
import {
  defaultHpaBehavior,
  type HpaBehavior,
  type HpaDirectionBehavior,
} from '../../src/simulate/hpa-baseline.ts';

/** The clocks of the uncompressed run (seconds), as the simulator models them. */
export const CLOCKS = {
  /** Prometheus scrape and rule interval; the HPA's sync period; the simulator's tick. */
  scrapeSeconds: 15,
  hpaSyncSeconds: 15,
  /** rate(...[1m]) */
  rateWindowSeconds: 60,
  /** KEDA's default pollingInterval. */
  kedaPollingSeconds: 30,
  podStartupSeconds: 60,
} as const;

export interface Stretch {
  name: string;
  what: string;
  /** Requests per minute of the uncompressed run, warm-up minutes first. */
  perMinute: number[];
  /** Minutes of steady load before the measured window (every autoscaler settles). */
  warmupMinutes: number;
}

/**
 * The busiest `minutes`-long stretch starting between `fromHour` and `toHour` (minute 0 of
 * the trace is midnight), by total requests: a busy afternoon, on any trace of a day rhythm.
 */
export function busyAfternoon(
  perMinute: ArrayLike<number>,
  minutes: number,
  fromHour = 12,
  toHour = 18,
): number {
  let best = -1;
  let bestSum = -1;
  const prefix = new Float64Array(perMinute.length + 1);
  for (let i = 0; i < perMinute.length; i++) prefix[i + 1] = prefix[i]! + perMinute[i]!;
  for (let start = 0; start + minutes <= perMinute.length; start++) {
    const minuteOfDay = start % 1440;
    if (minuteOfDay < fromHour * 60 || minuteOfDay + minutes > toHour * 60) continue;
    const sum = prefix[start + minutes]! - prefix[start]!;
    if (sum > bestSum) {
      bestSum = sum;
      best = start;
    }
  }
  if (best < 0)
    throw new Error(`the trace has no ${minutes}-minute stretch between ${fromHour}:00 and ${toHour}:00`);
  return best;
}

/** `warmup` minutes at the first minute's load, then the values. */
export function withWarmup(values: readonly number[], warmup: number): number[] {
  return [...Array.from({ length: warmup }, () => values[0]!), ...values];
}

/** A step to 4 × the base for 15 minutes, back, then a 3-minute flash crowd at 6 ×. */
export function stepAndFlashCrowd(base: number): number[] {
  const at = (n: number, level: number) => Array.from({ length: n }, () => level);
  return [...at(8, base), ...at(15, 4 * base), ...at(10, base), ...at(3, 6 * base), ...at(12, base)];
}

/** Scales a stretch so that its peak minute needs `peakReplicas` replicas of `capacityRps`. */
export function scaleTo(values: readonly number[], capacityRps: number, peakReplicas: number): number[] {
  const peak = Math.max(...values);
  const factor = (peakReplicas * capacityRps * 60) / peak;
  return values.map((v) => Math.round(v * factor));
}

/** The autoscaling/v2 default behaviour (the simulator's HPA's) with every window and period divided by `speedup`. */
export function defaultBehavior(speedup = 1): HpaBehavior {
  const s = (x: number) => (x === 0 ? 0 : compressSeconds(x, speedup));
  const direction = (d: HpaDirectionBehavior): HpaDirectionBehavior => ({
    ...d,
    stabilizationWindowSeconds: s(d.stabilizationWindowSeconds),
    policies: d.policies.map((p) => ({ ...p, periodSeconds: s(p.periodSeconds) })),
  });
  const b = defaultHpaBehavior();
  return { tolerance: b.tolerance, scaleUp: direction(b.scaleUp), scaleDown: direction(b.scaleDown) };
}

/** A clock of the uncompressed run in the compressed one: whole seconds, at least one. */
export function compressSeconds(seconds: number, speedup: number): number {
  const v = seconds / speedup;
  if (!Number.isInteger(v) || v < 1)
    throw new Error(
      `${seconds} s / ${speedup} is not a whole number of seconds: pick a speedup that divides the clocks`,
    );
  return v;
}

/** Every clock of the live run for a speedup. */
export function liveClocks(speedup: number) {
  return {
    scrapeSeconds: compressSeconds(CLOCKS.scrapeSeconds, speedup),
    hpaSyncSeconds: compressSeconds(CLOCKS.hpaSyncSeconds, speedup),
    rateWindowSeconds: compressSeconds(CLOCKS.rateWindowSeconds, speedup),
    kedaPollingSeconds: compressSeconds(CLOCKS.kedaPollingSeconds, speedup),
    podStartupSeconds: compressSeconds(CLOCKS.podStartupSeconds, speedup),
  };
}
