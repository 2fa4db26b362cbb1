// Perfect foresight, the ceiling a forecast can reach: the policy engine with Level 5 off, fed
// instead of the metric the true load over the next `leadSeconds` (its highest minute). A
// forecaster that knew the future exactly could do no better than size for that, so the run
// shows how much of the reachable gain Level 5 takes. Used by `make bench` through the
// simulator's `engine` option: the simulator itself is unchanged.
import { decide } from '../policy/engine.ts';
import type { EngineInput, EngineOutput } from '../policy/types.ts';

/** The highest per-minute load (requests/minute) from second t to t + lead, both minutes included. */
export function loadAhead(requests: ArrayLike<number>, tSeconds: number, leadSeconds: number): number {
  const from = Math.max(0, Math.floor(tSeconds / 60));
  const to = Math.min(requests.length - 1, Math.floor((tSeconds + Math.max(0, leadSeconds)) / 60));
  let max = 0;
  for (let m = from; m <= to; m++) max = Math.max(max, requests[m] as number);
  return max;
}

export interface ForesightConfig {
  requests: ArrayLike<number>;
  leadSeconds: number;
  /** Epoch ms of simulated second 0 (the simulator's startTime). Default 0. */
  startTime?: number;
  /** The engine to wrap. Default: src/policy/engine.ts. */
  engine?: (input: EngineInput) => EngineOutput;
}

/**
 * An engine that sees, in place of every successful observation, the true load over the lead.
 * A failed query stays failed: foresight is about the load, not about a metric that is missing.
 */
export function foresightEngine(cfg: ForesightConfig): (input: EngineInput) => EngineOutput {
  const engine = cfg.engine ?? decide;
  const start = cfg.startTime ?? 0;
  return (input) => {
    const t = (input.now - start) / 1000;
    const value = loadAhead(cfg.requests, t, cfg.leadSeconds);
    return engine({
      ...input,
      observations: input.observations.map((o) => (o.ok ? { ...o, value, sampledAt: input.now } : o)),
    });
  };
}
