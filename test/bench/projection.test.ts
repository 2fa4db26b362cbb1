import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseShardedSpec, project, type ShardedMeasurement } from '../../bench/projection.ts';

test('parseShardedSpec: replicas x policies @ seconds; none or empty is no run', () => {
  assert.deepEqual(parseShardedSpec('3x5000@60'), { replicas: 3, policies: 5000, intervalSeconds: 60 });
  assert.deepEqual(parseShardedSpec(' 2x300@15 '), { replicas: 2, policies: 300, intervalSeconds: 15 });
  assert.equal(parseShardedSpec('none'), undefined);
  assert.equal(parseShardedSpec(''), undefined);
  for (const bad of ['3x5000', '1x5000@60', '0x10@15', '3x0@60', '3x5000@0', 'x5000@60', '3*5000@60']) {
    assert.throws(() => parseShardedSpec(bad), /--sharded/, bad);
  }
});

const measured: ShardedMeasurement = {
  policies: 5000,
  replicas: 3,
  intervalSeconds: 60,
  cpuCoresPerReplica: 0.05,
  peakRssMiBPerReplica: 180,
  apiserverRequestsPerSecond: 40,
  apiserverLeaseRequestsPerSecond: 4,
  prometheusQueriesPerSecond: 84,
};

test('project at the measured interval: the measured policies per replica, load linear in policies', () => {
  const p = project(
    measured,
    { policies: 100_000, intervalSeconds: 60 },
    { miBPerWatched: 0.001, miBPerOwned: 0.01 },
    1,
  );
  assert.equal(p.policiesPerReplica, 1667);
  // 100,000 / (5,000 / 3) is exactly 60: no replica too many from floating point.
  assert.equal(p.replicas, 60);
  assert.equal(p.cpuCoresPerReplica, 0.05);
  assert.equal(p.operatorCpuCores, 3);
  // 3 cores of ticks fit in 3 replicas of 1 core each, not the 60 as loaded as the run's.
  assert.equal(p.replicasAtCpuBudget, 3);
  // 180 MiB + 0.001 MiB for each of the 95,000 more policies every replica watches; it owns as many as measured.
  assert.equal(p.peakRssMiBPerReplica, 275);
  // With 3 replicas each owns 33,333, 31,667 more than measured: + 0.01 MiB each.
  assert.equal(p.peakRssMiBAtCpuBudget, 275 + 317);
  // Non-Lease 36 req/s for 5,000 policies × 20, and 4/3 Lease req/s for each of 60 replicas.
  assert.equal(p.apiserverRequestsPerSecond, 720 + 80);
  assert.equal(p.prometheusQueriesPerSecond, 1680);
});

test('project at a shorter interval: a replica carries fewer policies, the load grows with the tick rate', () => {
  const p = project(measured, { policies: 100_000, intervalSeconds: 15 }, null, 1);
  assert.equal(p.policiesPerReplica, 417);
  assert.equal(p.replicas, 240);
  assert.equal(p.operatorCpuCores, 12);
  assert.equal(p.replicasAtCpuBudget, 12);
  assert.equal(p.peakRssMiBPerReplica, null);
  assert.equal(p.peakRssMiBAtCpuBudget, null);
  assert.equal(p.apiserverRequestsPerSecond, 2880 + 320);
  assert.equal(p.prometheusQueriesPerSecond, 6720);
});

test('project to the measured size gives back the measured figures', () => {
  const p = project(
    measured,
    { policies: 5000, intervalSeconds: 60 },
    { miBPerWatched: 0.001, miBPerOwned: 0.01 },
    1,
  );
  assert.equal(p.replicas, 3);
  // Sharding needs two replicas even when one would do.
  assert.equal(p.replicasAtCpuBudget, 2);
  assert.equal(p.peakRssMiBPerReplica, 180);
  assert.equal(p.apiserverRequestsPerSecond, 40);
  assert.equal(p.prometheusQueriesPerSecond, 84);
});
