// Shared set-up for the Level 5 autopilot tests: a validated policy with predictive on, and a
// closed loop through the simulator (src/simulate) so a test reads what a target would see.
import assert from 'node:assert/strict';
import type { PolicySpec } from '../../src/policy/types.ts';
import { validatedPolicySpec } from '../../src/simulate/policy.ts';
import { type SimulationResult, simulate } from '../../src/simulate/simulate.ts';

/** A ScalingPolicy spec through the CRD's validation and defaults; target 10 per replica (AverageValue). */
export function autopilotSpec(extra: Record<string, unknown> = {}, maxReplicas = 50): PolicySpec {
  return validatedPolicySpec({
    maxReplicas,
    metrics: [{ name: 'rps', query: 'sum(rate(x[1m]))', target: { type: 'AverageValue', value: '10' } }],
    ...extra,
  });
}

/** A seeded PRNG (mulberry32), so a constructed series is the same on every run. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A standard normal sample from a uniform source (Box–Muller). */
export function normal(u: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - u())) * Math.cos(2 * Math.PI * u());
}

/**
 * Replays per-minute loads through the simulator with `spec` (capacity = target × (1 +
 * tolerance), so an under-provisioned minute is one where the load per ready replica was above
 * what the target allows, the shadow evaluation's miss), returning tidemark's and hpa-default's
 * results.
 */
export function closedLoop(spec: PolicySpec, loads: number[], startupSeconds = 60): SimulationResult {
  return simulate({
    trace: { requests: Float64Array.from(loads), firstMinute: 0 },
    traceName: 'constructed',
    spec,
    capacity: 10 * (1 + spec.behavior.tolerance),
    startupSeconds,
  });
}

export function resultOf(sim: SimulationResult, strategy: string) {
  const r = sim.report.results.find((x) => x.strategy === strategy);
  assert.ok(r, `no ${strategy} result`);
  return r;
}
