// The simulator's prediction of a live stretch: `tidemark simulate` (as a library) on the
// same per-minute load, settings and uncompressed clocks, measured over the same window.

import { validatedPolicySpec } from '../../src/simulate/policy.ts';
import { type SimulationResult, simulate } from '../../src/simulate/simulate.ts';
import { defaultBehavior, type Stretch } from './plan.ts';

export interface Settings {
  capacityRps: number;
  targetRps: number;
  minReplicas: number;
  maxReplicas: number;
  startupSeconds: number;
}

export interface Predicted {
  replicaMinutes: number;
  underProvisionedMinutes: number;
  /** Over the whole simulated run, warm-up included (the simulator counts no window). */
  reversals: number;
}

/** The policy every Tidemark arm runs, at the uncompressed clocks, in the simulator's units (per minute). */
export function simulatedSpec(s: Settings, pollingSeconds: number) {
  return validatedPolicySpec({
    minReplicas: s.minReplicas,
    maxReplicas: s.maxReplicas,
    pollingIntervalSeconds: pollingSeconds,
    metrics: [
      { name: 'rps', query: 'served', target: { type: 'AverageValue', value: String(s.targetRps * 60) } },
    ],
    behavior: defaultBehavior(1),
  });
}

export function simulateStretch(stretch: Stretch, s: Settings, pollingSeconds: number): SimulationResult {
  return simulate({
    trace: { requests: Float64Array.from(stretch.perMinute), firstMinute: 0 },
    traceName: stretch.name,
    spec: simulatedSpec(s, pollingSeconds),
    capacity: s.capacityRps * 60,
    startupSeconds: s.startupSeconds,
  });
}

/** One strategy's figures over the measured window (the minutes after the warm-up). */
export function windowFigures(r: SimulationResult, strategy: string, warmupMinutes: number): Predicted {
  const series = r.series.strategies.find((x) => x.strategy === strategy);
  const result = r.report.results.find((x) => x.strategy === strategy);
  if (!series || !result) throw new Error(`the simulation has no strategy ${strategy}`);
  let replicaMinutes = 0;
  let under = 0;
  for (let m = warmupMinutes; m < series.replicas.length; m++) {
    replicaMinutes += series.replicas[m]!;
    under += series.under?.[m] ?? 0;
  }
  return {
    replicaMinutes: Math.round(replicaMinutes * 100) / 100,
    underProvisionedMinutes: under,
    reversals: result.directionReversals,
  };
}

export interface Comparison {
  replicaMinutesErrorPercent: number;
  underProvisionedErrorMinutes: number;
  /** Replica-minutes within 5 %; under-provisioned minutes within 10 % or 3 minutes, whichever is larger. */
  replicaMinutesMet: boolean;
  underProvisionedMet: boolean;
}

export function compare(
  live: { replicaMinutes: number; underProvisionedMinutes: number },
  p: Predicted,
): Comparison {
  const rmErr =
    live.replicaMinutes === 0 ? 0 : ((p.replicaMinutes - live.replicaMinutes) / live.replicaMinutes) * 100;
  const upErr = p.underProvisionedMinutes - live.underProvisionedMinutes;
  return {
    replicaMinutesErrorPercent: Math.round(rmErr * 10) / 10,
    underProvisionedErrorMinutes: upErr,
    replicaMinutesMet: Math.abs(rmErr) <= 5,
    underProvisionedMet: Math.abs(upErr) <= Math.max(3, 0.1 * live.underProvisionedMinutes),
  };
}
