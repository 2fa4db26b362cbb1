// The sharded run: R replicas in one group, figures per replica, and the check that every
// policy is owned by exactly one.
import { ownerOf } from '../../src/operator/shards.ts';
// The storage version: a v1alpha1 write would go through the conversion webhook, which is
// not what a user of this release sends, and would load the sandbox's webhook besides.
import { POLICY_API_VERSION } from '../../src/reconciler/reconciler.ts';
import type { ShardedSpec } from '../projection.ts';
import { kube, log, shardedRunSpec, TARGET } from './config.ts';
import { clusterFigures, delta, round, type TickFigures, tickFigures, windowNotes } from './figures.ts';
import { type HeapFigures, heapFigures } from './heap.ts';
import { type Exporter, withRetries } from './load.ts';
import { type Run, runOnce } from './measure.ts';
import { sum } from './samples.ts';
import { memoryOf } from './size.ts';

export interface ReplicaResult {
  identity: string;
  /** tidemark_shard_policies at the end of the window. */
  ownedPolicies: number;
  /** What the hash gives this identity over the policies' real uids and all the run's members. */
  expectedPolicies: number;
  membersSeen: number;
  cpuCores: number;
  peakRssMiB: number;
  /** At the window's end: V8 heap used and reserved (MiB), and where it went (heap.ts). */
  heapUsedMiB: number | null;
  heapTotalMiB: number | null;
  heap: HeapFigures | null;
  ticks: TickFigures;
  statusWrites: number;
  apiRequestsPerSecond: number;
  prometheusQueriesPerSecond: number;
}

export interface ShardedResult {
  replicas: number;
  policies: number;
  intervalSeconds: number;
  target: string;
  loadAverageBefore: number[];
  createSeconds: number;
  warmupSeconds: number;
  windowSeconds: number;
  perReplica: ReplicaResult[];
  ownership: {
    sum: number;
    /** Every policy owned by exactly one replica: the owned shares sum to N, each is the hash's, each replica sees all. */
    exactlyOnce: boolean;
    fairShare: number;
    min: number;
    max: number;
    minOfFair: number;
    maxOfFair: number;
  };
  totals: {
    operatorCpuCores: number;
    prometheusQueriesPerSecond: number;
    apiserver: ReturnType<typeof clusterFigures>['apiserver'];
    statusWritesWindow: number;
    scalingActions: number;
    ticks: number;
    ticksDue: number;
  };
  sandboxCpuCores: Record<string, number>;
  machineBusyCores: number;
  notes: string[];
}

export async function policyUids(ns: string): Promise<string[]> {
  // After the quiet window the transport's kept-alive socket may have been closed by the server.
  const list = (await withRetries(() =>
    kube({
      method: 'GET',
      path: `/apis/${POLICY_API_VERSION}/namespaces/${ns}/scalingpolicies`,
      timeoutMs: 120_000,
    }),
  )) as { items?: Array<{ metadata?: { uid?: string } }> };
  return (list.items ?? []).flatMap((p) => (p.metadata?.uid ? [p.metadata.uid] : []));
}

export const runSharded = (s: ShardedSpec, exporter: Exporter) =>
  runOnce(shardedRunSpec(s), exporter, async (r) => shardedResult(r, await policyUids(r.spec.ns)));

export function replicaResult(r: Run, i: number, expected: number): ReplicaResult {
  const w = r.window.ops[i]!;
  const owned = sum(w.m1.samples, 'tidemark_shard_policies');
  return {
    identity: r.ops[i]!.identity ?? '',
    ownedPolicies: owned,
    expectedPolicies: expected,
    membersSeen: sum(w.m1.samples, 'tidemark_shard_members'),
    cpuCores: w.cpuCores,
    peakRssMiB: round(w.peakRssKiB / 1024, 0),
    heapUsedMiB: memoryOf(w.m1.samples).heapUsedMiB,
    heapTotalMiB: memoryOf(w.m1.samples).heapTotalMiB,
    heap: heapFigures(r.heap[i]),
    ticks: tickFigures(w, (owned * r.window.seconds) / r.spec.intervalSeconds),
    statusWrites: delta(w, 'tidemark_status_writes_total'),
    apiRequestsPerSecond: round(delta(w, 'tidemark_api_requests_total') / r.window.seconds, 1),
    prometheusQueriesPerSecond: round(
      delta(w, 'tidemark_prometheus_query_duration_seconds_count') / r.window.seconds,
      1,
    ),
  };
}

export function shardedResult(r: Run, uids: string[]): ShardedResult {
  const { spec, window: w } = r;
  const identities = r.ops.map((op) => op.identity ?? '');
  const expected = new Map(identities.map((id) => [id, 0]));
  for (const uid of uids) {
    const owner = ownerOf(uid, identities)!;
    expected.set(owner, (expected.get(owner) ?? 0) + 1);
  }
  const perReplica = r.ops.map((op, i) => replicaResult(r, i, expected.get(op.identity ?? '') ?? 0));
  const owned = perReplica.map((p) => p.ownedPolicies);
  const fairShare = spec.policies / spec.replicas;
  const ownedSum = owned.reduce((a, b) => a + b, 0);
  const cluster = clusterFigures(w);
  const ticks = perReplica.reduce((a, p) => a + p.ticks.count, 0);
  const ticksDue = perReplica.reduce((a, p) => a + p.ticks.expected, 0);
  const result: ShardedResult = {
    replicas: spec.replicas,
    policies: spec.policies,
    intervalSeconds: spec.intervalSeconds,
    target: TARGET,
    loadAverageBefore: r.loadAverageBefore,
    createSeconds: round(r.createSeconds, 1),
    warmupSeconds: round(r.warmupSeconds, 0),
    windowSeconds: round(w.seconds, 1),
    perReplica,
    ownership: {
      sum: ownedSum,
      exactlyOnce:
        ownedSum === spec.policies &&
        uids.length === spec.policies &&
        perReplica.every((p) => p.ownedPolicies === p.expectedPolicies && p.membersSeen === spec.replicas),
      fairShare: round(fairShare, 1),
      min: Math.min(...owned),
      max: Math.max(...owned),
      minOfFair: round(Math.min(...owned) / fairShare, 3),
      maxOfFair: round(Math.max(...owned) / fairShare, 3),
    },
    totals: {
      operatorCpuCores: round(
        perReplica.reduce((a, p) => a + p.cpuCores, 0),
        3,
      ),
      prometheusQueriesPerSecond: cluster.prometheusQueriesPerSecond,
      apiserver: cluster.apiserver,
      statusWritesWindow: perReplica.reduce((a, p) => a + p.statusWrites, 0),
      scalingActions: w.ops.reduce((a, o) => a + delta(o, 'tidemark_scaling_actions_total'), 0),
      ticks,
      ticksDue,
    },
    sandboxCpuCores: w.sandboxCpuCores,
    machineBusyCores: w.machineBusyCores,
    notes: [...r.notes, ...windowNotes(w, ticks, ticksDue)],
  };
  if (!result.ownership.exactlyOnce) {
    result.notes.push(
      `ownership is not exactly once: owned ${owned.join('/')} (sum ${ownedSum} of ${spec.policies}), ` +
        `the hash gives ${perReplica.map((p) => p.expectedPolicies).join('/')}, members seen ${perReplica.map((p) => p.membersSeen).join('/')}`,
    );
  }
  log(
    `${spec.label}: owned ${owned.join('/')} of ${spec.policies} (exactly once: ${result.ownership.exactlyOnce}); ` +
      `CPU ${perReplica.map((p) => p.cpuCores).join('/')} cores; peak RSS ${perReplica.map((p) => p.peakRssMiB).join('/')} MiB; ` +
      `ticks ${ticks}/${ticksDue}; Prometheus ${cluster.prometheusQueriesPerSecond} q/s; API server ${cluster.apiserver.requestsPerSecond} req/s; ` +
      `status writes ${result.totals.statusWritesWindow}; machine ${w.machineBusyCores} cores busy`,
  );
  return result;
}
