// The reconciler's view of the collector, in a file of its own so that the modules the
// reconciler uses (forecast-history.ts) need not import reconciler.ts back.
import type { PolicyObservations, PolicyRef, RangeResult } from '../collector/index.ts';

/** What the reconciler needs from the collector (src/collector's Collector satisfies it). */
export interface ObservationSource {
  observe(policy: PolicyRef, opts?: { signal?: AbortSignal }): Promise<PolicyObservations>;
  /** The forecaster's history; without it, a predictive policy learns from its live ticks only. */
  queryRange?(
    policy: PolicyRef,
    query: string,
    startMs: number,
    endMs: number,
    stepSeconds: number,
  ): Promise<RangeResult>;
}
