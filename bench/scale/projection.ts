// The sharded run's figures projected to PROJECTED_POLICIES (bench/projection.ts does the
// arithmetic; a projection, not a measurement), and its part of scale.md.
import { type MemoryModel, type Projection, project, type ShardedMeasurement } from '../projection.ts';
import { GOALS, PROJECTED_POLICIES } from './config.ts';
import { round, row } from './figures.ts';
import type { ShardedResult } from './sharded.ts';
import type { SizeResult } from './size.ts';

/** Peak RSS per watched policy from the single-replica series (largest size vs smallest), if it grew. */
export function rssSlope(results: SizeResult[]): { miBPerPolicy: number; from: string } | null {
  const sorted = [...results].sort((a, b) => a.policies - b.policies);
  const a = sorted[0];
  const b = sorted.at(-1);
  if (!a || !b || b.policies === a.policies) return null;
  const slope = (b.operator.peakRssMiB - a.operator.peakRssMiB) / (b.policies - a.policies);
  return slope > 0
    ? {
        miBPerPolicy: round(slope, 5),
        from: `single-replica peak RSS at ${a.policies} and ${b.policies} policies`,
      }
    : null;
}

/**
 * MiB per watched and per owned policy from the sharded replicas' heap snapshots (the mean over
 * the replicas), live heap scaled by the replicas' V8 heap reserved over used at the window's
 * end (the heap V8 keeps for the live bytes); null without snapshots.
 */
export function measuredMemory(s: ShardedResult): (MemoryModel & { heapReservedPerUsed: number }) | null {
  const rs = s.perReplica.filter((p) => p.heap?.perPolicy.watched != null && p.heap.perPolicy.owned != null);
  if (rs.length === 0) return null;
  const mean = (f: (p: (typeof rs)[number]) => number) => rs.reduce((a, p) => a + f(p), 0) / rs.length;
  const ratios = rs.filter((p) => p.heapUsedMiB && p.heapTotalMiB);
  const factor = ratios.length
    ? ratios.reduce((a, p) => a + p.heapTotalMiB! / p.heapUsedMiB!, 0) / ratios.length
    : 1;
  return {
    miBPerWatched: round((mean((p) => p.heap!.perPolicy.watched!) * factor) / 2 ** 20, 6),
    miBPerOwned: round((mean((p) => p.heap!.perPolicy.owned!) * factor) / 2 ** 20, 6),
    heapReservedPerUsed: round(factor, 2),
  };
}

export function projectionOf(s: ShardedResult, results: SizeResult[]) {
  const basis: ShardedMeasurement = {
    policies: s.policies,
    replicas: s.replicas,
    intervalSeconds: s.intervalSeconds,
    cpuCoresPerReplica: round(s.totals.operatorCpuCores / s.replicas, 3),
    peakRssMiBPerReplica: Math.max(...s.perReplica.map((p) => p.peakRssMiB)),
    apiserverRequestsPerSecond: s.totals.apiserver.requestsPerSecond,
    apiserverLeaseRequestsPerSecond: s.totals.apiserver.leaseRequestsPerSecond,
    prometheusQueriesPerSecond: s.totals.prometheusQueriesPerSecond,
  };
  const slope = rssSlope(results);
  const measured = measuredMemory(s);
  // Without snapshots, the old bound: every policy as a single replica holds it (overstates a replica's).
  const memory = measured ?? (slope ? { miBPerWatched: slope.miBPerPolicy, miBPerOwned: 0 } : null);
  const intervals = [...new Set([s.intervalSeconds, 15])];
  return {
    basis,
    rssSlope: slope,
    memory: measured,
    at: intervals.map((intervalSeconds) =>
      project(basis, { policies: PROJECTED_POLICIES, intervalSeconds }, memory, GOALS.cpuCores),
    ),
  };
}

export function projectionMarkdown(p: ReturnType<typeof projectionOf>): string[] {
  const b = p.basis;
  return [
    `## Projection to ${PROJECTED_POLICIES.toLocaleString('en')} policies (a projection, not a measurement)`,
    '',
    `Computed by bench/projection.ts from the sharded run above (${b.replicas} replicas × ${b.policies} policies at ${b.intervalSeconds} s); ` +
      `nothing at this size ran. Assumptions:`,
    '',
    `- a replica's work is its ticks per second: it carries the measured ${round(b.policies / b.replicas, 0)} policies at ${b.intervalSeconds} s, ` +
      `scaled linearly by interval for other intervals (at 15 s, 15/${b.intervalSeconds} of it), at the measured mean CPU of ${b.cpuCoresPerReplica} cores;`,
    `- Prometheus queries and the API server's non-Lease requests grow linearly with policies / interval, at the measured rate per policy tick ` +
      `(the sandbox's own background requests are counted as the operators', which overstates them); Lease requests ` +
      `(${b.apiserverLeaseRequestsPerSecond}/s measured) grow with the replicas;`,
    p.memory
      ? `- every replica watches every policy but holds in full only those it owns: the largest measured peak RSS (${b.peakRssMiBPerReplica} MiB) ` +
        `plus ${p.memory.miBPerWatched} MiB per further watched policy and ${p.memory.miBPerOwned} MiB per further owned one ` +
        `(the sharded replicas' heap snapshots, "Where the bytes go" above: live bytes × ${p.memory.heapReservedPerUsed}, their V8 heap reserved over used); ` +
        `native memory outside the V8 heap is taken as fixed (the measured peak holds it);`
      : p.rssSlope
        ? `- memory, without heap snapshots: the largest measured peak RSS (${b.peakRssMiBPerReplica} MiB) ` +
          `plus ${p.rssSlope.miBPerPolicy} MiB per further policy (the ${p.rssSlope.from}, which holds every policy in full, so it overstates a replica's);`
        : `- memory: neither heap snapshots nor two single-replica sizes, so no RSS projection;`,
    `- replicas within ${GOALS.cpuCores} core each: the operators' CPU, linear in ticks per second, over the goal's ${GOALS.cpuCores} core ` +
      `(at least 2); a replica's idle CPU is counted as work, which overstates it, and its memory must also fit (above);`,
    '- the sandbox here (one API server, one Prometheus, on the machine above) could not serve these rates: they are what a cluster would have to.',
    '',
    row([
      'interval (s)',
      'policies per replica',
      'replicas (measured density)',
      `replicas (${GOALS.cpuCores} core each)`,
      'CPU per replica at measured density (cores)',
      'operators, all (cores)',
      'peak RSS per replica (MiB)',
      `peak RSS per replica at ${GOALS.cpuCores} core each (MiB)`,
      'API server req/s',
      'Prometheus queries/s',
    ]),
    row(Array(10).fill('---')),
    ...p.at.map((x: Projection) =>
      row([
        x.intervalSeconds,
        x.policiesPerReplica,
        x.replicas,
        x.replicasAtCpuBudget,
        x.cpuCoresPerReplica,
        x.operatorCpuCores,
        x.peakRssMiBPerReplica,
        x.peakRssMiBAtCpuBudget,
        x.apiserverRequestsPerSecond,
        x.prometheusQueriesPerSecond,
      ]),
    ),
    '',
  ];
}
