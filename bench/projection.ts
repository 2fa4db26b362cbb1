// The sharded run of `make bench-scale` (bench/scale.ts): its spec, and the projection of its
// per-replica figures to a size no sandbox on this machine can hold (100,000 policies).
// Pure, so that the arithmetic behind a figure the README points at is unit-tested
// (test/bench/projection.test.ts).

/** `3x5000@60`: 3 replicas, 5,000 policies, 60 s polling. */
export interface ShardedSpec {
  replicas: number;
  policies: number;
  intervalSeconds: number;
}

/** The spec of `--sharded`, or undefined for `none` or empty (no sharded run). */
export function parseShardedSpec(text: string): ShardedSpec | undefined {
  const t = text.trim();
  if (t === '' || t === 'none') return undefined;
  const m = /^(\d+)x(\d+)@(\d+)$/.exec(t);
  const [replicas, policies, intervalSeconds] = (m?.slice(1) ?? []).map(Number);
  if (!replicas || !policies || !intervalSeconds || replicas < 2) {
    throw new Error(`--sharded: expected REPLICASxPOLICIES@SECONDS with at least 2 replicas, got "${text}"`);
  }
  return { replicas, policies, intervalSeconds };
}

/** What the sharded run measured, reduced to the figures the projection scales. */
export interface ShardedMeasurement {
  policies: number;
  replicas: number;
  intervalSeconds: number;
  /** Mean over the replicas: each ticked about policies / replicas every interval. */
  cpuCoresPerReplica: number;
  /** The largest of the replicas. */
  peakRssMiBPerReplica: number;
  /** Whole API server, every client, over the window. */
  apiserverRequestsPerSecond: number;
  /** The part of it on Leases: the replicas' member Leases (and the sandbox's own few). */
  apiserverLeaseRequestsPerSecond: number;
  prometheusQueriesPerSecond: number;
}

/**
 * What a replica's memory grows by: MiB per policy it watches (held as a stub when another
 * replica owns it) and what owning one adds (the full object, its tick state and series).
 */
export interface MemoryModel {
  miBPerWatched: number;
  miBPerOwned: number;
}

export interface Projection {
  policies: number;
  intervalSeconds: number;
  policiesPerReplica: number;
  /** At the measured policies per replica: as lightly loaded as the run's replicas were. */
  replicas: number;
  /** Fewest replicas whose CPU, linear in ticks per second, stays within the budget each. */
  replicasAtCpuBudget: number;
  cpuCoresPerReplica: number;
  operatorCpuCores: number;
  /** null when no memory per policy was measured. */
  peakRssMiBPerReplica: number | null;
  /** The same with replicasAtCpuBudget replicas, each owning that many more policies. */
  peakRssMiBAtCpuBudget: number | null;
  apiserverRequestsPerSecond: number;
  prometheusQueriesPerSecond: number;
}

/**
 * The measured sharded run scaled to `policies` at `intervalSeconds`. Assumptions, each stated
 * in scale.md beside the figures:
 * - a replica's work is its ticks per second, so it carries the measured policies per replica
 *   scaled by interval / measured interval (4 × fewer at 15 s than at 60 s), at the measured CPU;
 * - Prometheus queries and the API server's non-Lease requests are linear in policies / interval,
 *   at the measured rate per policy tick (the sandbox's own background traffic is counted as the
 *   operator's, which overstates it);
 * - Lease requests are per replica (renewal and member list every retry period);
 * - a replica's memory is its measured peak RSS plus `memory.miBPerWatched` for each policy
 *   it watches beyond the measured run (every replica watches every policy) and
 *   `memory.miBPerOwned` for each policy it owns beyond the measured share.
 * The measured density says how many replicas as loaded as the run's would do; a run well below
 * a replica's capacity makes that many more than needed, so the fewest within `cpuBudgetCores`
 * each (the CPU linear in ticks per second, a process's idle CPU counted as work) is given too.
 */
export function project(
  m: ShardedMeasurement,
  at: { policies: number; intervalSeconds: number },
  memory: MemoryModel | null,
  cpuBudgetCores: number,
): Projection {
  const measuredTicksPerSecond = m.policies / m.intervalSeconds;
  const ticksPerSecond = at.policies / at.intervalSeconds;
  const policiesPerReplica = (m.policies / m.replicas) * (at.intervalSeconds / m.intervalSeconds);
  // One quotient of products, not policies / policiesPerReplica: 100,000 / (5,000 / 3) is
  // 60.00000000000001 in floating point, and its ceiling a replica too many.
  const replicas = Math.ceil(
    (at.policies * m.replicas * m.intervalSeconds) / (m.policies * at.intervalSeconds),
  );
  const operatorCpuCores = replicas * m.cpuCoresPerReplica;
  const replicasAtCpuBudget = Math.max(2, Math.ceil(operatorCpuCores / cpuBudgetCores));
  const rss = (owned: number) =>
    memory === null
      ? null
      : Math.round(
          m.peakRssMiBPerReplica +
            memory.miBPerWatched * (at.policies - m.policies) +
            memory.miBPerOwned * (owned - m.policies / m.replicas),
        );
  const leasePerReplica = m.apiserverLeaseRequestsPerSecond / m.replicas;
  const apiPerTick =
    (m.apiserverRequestsPerSecond - m.apiserverLeaseRequestsPerSecond) / measuredTicksPerSecond;
  return {
    policies: at.policies,
    intervalSeconds: at.intervalSeconds,
    policiesPerReplica: Math.round(policiesPerReplica),
    replicas,
    replicasAtCpuBudget,
    cpuCoresPerReplica: m.cpuCoresPerReplica,
    operatorCpuCores: round(operatorCpuCores, 2),
    peakRssMiBPerReplica: rss(policiesPerReplica),
    peakRssMiBAtCpuBudget: rss(at.policies / replicasAtCpuBudget),
    apiserverRequestsPerSecond: round(apiPerTick * ticksPerSecond + leasePerReplica * replicas, 1),
    prometheusQueriesPerSecond: round(
      (m.prometheusQueriesPerSecond / measuredTicksPerSecond) * ticksPerSecond,
      1,
    ),
  };
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
