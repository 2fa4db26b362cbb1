// End-to-end: one real operator process (`tidemark run`) against the sandbox's
// API server and Prometheus, with the workload simulator producing the load.
// Every scenario has its own namespace and they run concurrently.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { scaledEvents, waitForStatus } from '../support/faults.ts';
import { kubectl, promQuery, sandboxEnv, waitFor } from '../support/sandbox.ts';
import * as e2e from './support.ts';

const { run: RUN, ns } = e2e.testRun('e2e');
/** A Deployment at 1 under 200 rps, and its policy, which scales it to 4. */
async function scaledTo4(n: string): Promise<void> {
  await e2e.apply([e2e.deployment(n, 'web', 1, 200), e2e.rpsPolicy(n)]);
  await e2e.waitForReplicas(n, 'web', 4, 60_000);
}
/** Waits until the policy's condition `type` has `reason`. */
const reasonIs = (n: string, name: string, type: string, reason: string, timeoutMs: number) =>
  waitForStatus(n, name, (p) => e2e.condition(p, type)?.reason === reason, `${type} ${reason}`, timeoutMs);
const SCENARIOS = [
  'updown',
  'dryrun',
  'paused',
  'clamp',
  'custom',
  'promdown',
  'target',
  'deleted',
  'latency',
  'invalid',
] as const;

describe('operator end to end', { skip: e2e.SANDBOX_SKIP, concurrency: true, timeout: 300_000 }, () => {
  let op: e2e.OperatorProcess;

  before(async () => {
    await e2e.prepareNamespaces(SCENARIOS.map(ns), {
      file: 'test/e2e/fixtures',
      crd: 'widgets.e2e.tidemark.dev',
    });
    op = await e2e.startLeader('main', SCENARIOS.map(ns), `${RUN}-main`, ['--max-concurrent-ticks', '8']);
  });

  after(async () => {
    if (op) {
      const exit = await op.kill('SIGTERM');
      assert.deepEqual(exit, { code: 0, signal: null }, 'SIGTERM: graceful exit 0');
      const lease = (await e2e.api()({
        method: 'GET',
        path: `/apis/coordination.k8s.io/v1/namespaces/default/leases/${RUN}-main`,
      })) as { spec: { holderIdentity?: string } };
      assert.equal(lease.spec.holderIdentity ?? '', '', 'the lease was released on shutdown');
      // Every policy line names its policy.
      const policyLines = op.lines.filter((l) => l.policy !== undefined);
      assert.ok(policyLines.length > 0);
      assert.ok(policyLines.every((l) => typeof l.namespace === 'string'));
    }
    await e2e.cleanupNamespaces(SCENARIOS.map(ns));
  });

  it('scales up under load, down after the stabilization window; kubectl describe shows the Events', async () => {
    const n = ns('updown');
    await e2e.apply([
      e2e.deployment(n, 'web', 1, 300),
      e2e.scalingPolicy(n, 'web', {
        metrics: [
          { name: 'rps', query: e2e.servedQuery(n, 'web'), target: { type: 'AverageValue', value: '50' } },
        ],
        behavior: { scaleDown: { stabilizationWindowSeconds: 15 } },
      }),
    ]);
    await e2e.waitForReplicas(n, 'web', (r) => (r ?? 0) >= 6, 90_000);
    const high = (await e2e.replicas(n, 'web'))!;
    assert.ok(high <= 7, `300 rps at 50/replica: 6 (7 at most with rate noise), got ${high}`);
    const p = await e2e.getPolicy(n, 'web');
    assert.equal(p?.status?.targetDisplay, 'Deployment/web');
    assert.ok((p?.status?.recentDecisions?.length ?? 0) >= 1);
    assert.equal(e2e.condition(p, 'Ready')?.status, 'True');

    await e2e.setLoad(n, 'web', 40);
    const dropped = Date.now();
    await e2e.waitForReplicas(n, 'web', 1, 120_000);
    assert.ok(Date.now() - dropped >= 15_000, 'not before the 15 s stabilization window');

    // The Event follows the scale write and the status write by milliseconds.
    await e2e.hasEvent(n, 'web', 'Scaled', /→1: /);
    const scaled = (await e2e.events(n, 'web')).filter((e) => e.reason === 'Scaled');
    assert.ok(scaled.every((e) => /^scaled Deployment .+\/web \d+→\d+: rps /.test(e.message)));
    const describe = (await kubectl(['describe', 'scalingpolicy', 'web', '-n', n])).stdout;
    writeFileSync(join(sandboxEnv().dir, 'logs', 'e2e-describe.txt'), describe);
    assert.match(describe, /Events:/);
    assert.match(describe, /Normal\s+Scaled\s+.*scaled Deployment/);
    assert.match(describe, /Deployment\/web/);
  });

  it("exports the process's own memory, heap and CPU series beside its own", async () => {
    for (const name of [
      'process_resident_memory_bytes',
      'nodejs_heap_size_used_bytes',
      'process_cpu_seconds_total',
    ]) {
      assert.ok(((await op.sample(name)) ?? 0) > 0, name);
    }
  });

  it('DryRun records decisions and never patches', async () => {
    const n = ns('dryrun');
    await e2e.apply([e2e.deployment(n, 'web', 1, 300), e2e.rpsPolicy(n, { mode: 'DryRun' })]);
    const p = await waitForStatus(
      n,
      'web',
      (p) => (p?.status?.desiredReplicas ?? 0) > 1,
      'a DryRun decision in status',
      60_000,
    );
    assert.equal(p.status?.currentReplicas, 1);
    assert.ok((p.status?.recentDecisions?.length ?? 0) >= 1);
    await e2e.holdsReplicas(n, 'web', 1, 6_000);
    assert.match((await e2e.hasEvent(n, 'web', 'DryRunDecision')).message, /^would scale Deployment/);
    assert.ok(!(await e2e.events(n, 'web')).some((e) => e.reason === 'Scaled'));
  });

  it('Paused does nothing', async () => {
    const n = ns('paused');
    await e2e.apply([e2e.deployment(n, 'web', 2, 800), e2e.rpsPolicy(n, { mode: 'Paused' })]);
    const p = await reasonIs(n, 'web', 'Active', 'Paused', 30_000);
    assert.equal(e2e.condition(p, 'Active')?.status, 'False');
    await e2e.holdsReplicas(n, 'web', 2, 8_000);
    assert.equal((await e2e.getPolicy(n, 'web'))?.status?.desiredReplicas, undefined);
    assert.deepEqual(await e2e.events(n, 'web'), []);
  });

  it('clamps to maxReplicas and raises to minReplicas', async () => {
    const n = ns('clamp');
    await e2e.apply([
      e2e.deployment(n, 'big', 1, 2000),
      e2e.scalingPolicy(n, 'big', {
        maxReplicas: 3,
        metrics: [
          { name: 'rps', query: e2e.offeredQuery(n, 'big'), target: { type: 'AverageValue', value: '50' } },
        ],
      }),
      e2e.deployment(n, 'small', 1, 0),
      e2e.scalingPolicy(n, 'small', {
        minReplicas: 2,
        metrics: [
          { name: 'rps', query: e2e.offeredQuery(n, 'small'), target: { type: 'AverageValue', value: '50' } },
        ],
      }),
    ]);
    await Promise.all([e2e.waitForReplicas(n, 'big', 3, 60_000), e2e.waitForReplicas(n, 'small', 2, 60_000)]);
    await e2e.holdsReplicas(n, 'big', 3, 5_000);
    const big = await reasonIs(n, 'big', 'ScalingLimited', 'MaxReplicas', 20_000);
    assert.equal(e2e.condition(big, 'ScalingLimited')?.status, 'True');
    assert.ok(
      (await e2e.events(n, 'big')).some((e) => e.reason === 'ScaleLimited' && /MaxReplicas/.test(e.message)),
    );
  });

  it('scales a custom resource through its scale subresource', async () => {
    const n = ns('custom');
    await e2e.apply([
      {
        apiVersion: 'e2e.tidemark.dev/v1',
        kind: 'Widget',
        metadata: { name: 'w', namespace: n },
        spec: { replicas: 1 },
      },
      e2e.scalingPolicy(n, 'w', {
        targetRef: { apiVersion: 'e2e.tidemark.dev/v1', kind: 'Widget', name: 'w' },
        metrics: [{ name: 'constant', query: 'vector(42)', target: { type: 'AverageValue', value: '10' } }],
      }),
    ]);
    await e2e.waitForReplicas(n, 'w', 5, 60_000, 'widgets', 'e2e.tidemark.dev/v1');
    // The tick writes the status after the scale: wait for the status of the tick that scaled.
    const p = await waitForStatus(
      n,
      'w',
      (x) => x.status?.desiredReplicas === 5,
      'the status of the decision of 5',
    );
    assert.equal(p?.status?.targetDisplay, 'Widget/w');
    assert.deepEqual(p?.status?.currentMetrics?.[0], {
      name: 'constant',
      value: '42',
      target: '10',
      proposedReplicas: 5,
    });
  });

  it('Prometheus unreachable: no scale-down, fallback after the threshold, condition and Events, recovery', async () => {
    const n = ns('promdown');
    await e2e.apply([
      e2e.deployment(n, 'web', 4, 100),
      e2e.rpsPolicy(n, {
        prometheus: { address: e2e.DEAD_PROMETHEUS },
        fallback: { failureThreshold: 3, replicas: 2 },
        behavior: { scaleDown: { stabilizationWindowSeconds: 0 } },
      }),
    ]);
    const firstError = await waitFor(
      async () => (await e2e.events(n, 'web')).find((e) => e.reason === 'MetricError'),
      { timeoutMs: 30_000, what: 'a MetricError Event' },
    );
    assert.match(firstError.message, /rps failed: unreachable/);
    await e2e.waitForReplicas(n, 'web', 2, 30_000);
    // Held through the failures before the threshold: the engine says at how many failing
    // ticks it switched (a wall-clock gap between two Events, asserted here before, was a
    // flake on a loaded machine: the first Event can leave its queue late).
    await e2e.hasEvent(n, 'web', 'FallbackActivated');
    const activated = (await e2e.events(n, 'web')).find((e) => e.reason === 'FallbackActivated');
    const failing = Number(/failing for (\d+) ticks?/.exec(activated?.message ?? '')?.[1]);
    assert.ok(failing >= 3, `fallback after the threshold of 3 failing ticks: ${activated?.message}`);
    await e2e.hasEvent(n, 'web', 'Scaled');
    assert.deepEqual(
      (await scaledEvents(n, 'web')).map((e) => `${e.from}→${e.to}×${e.count}`),
      ['4→2×1'],
      'one scaling action, the fallback: nothing scaled down before it',
    );
    const p = await e2e.getPolicy(n, 'web');
    assert.equal(e2e.condition(p, 'FallbackActive')?.status, 'True');
    assert.equal(e2e.condition(p, 'Ready')?.reason, 'MetricsUnavailable');
    assert.equal(
      (await e2e.events(n, 'web')).filter((e) => e.reason === 'MetricError').length,
      1,
      'one Event, not one per tick',
    );

    // Prometheus is back (the policy points at the live one): the metric recovers and scaling resumes.
    await e2e.setLoad(n, 'web', 300);
    await kubectl([
      'patch',
      'scalingpolicy',
      'web',
      '-n',
      n,
      '--type=merge',
      '-p',
      JSON.stringify({ spec: { prometheus: { address: sandboxEnv().prometheusUrl } } }),
    ]);
    await e2e.waitForReplicas(n, 'web', 6, 60_000);
    await e2e.hasEvent(n, 'web', 'MetricRecovered');
    await e2e.hasEvent(n, 'web', 'FallbackCleared');
    assert.equal(e2e.condition(await e2e.getPolicy(n, 'web'), 'FallbackActive')?.status, 'False');
  });

  it('target deleted: condition and Event, no crash; recreated: found again and scaled', async () => {
    const n = ns('target');
    await scaledTo4(n);
    await kubectl(['delete', 'deployment', 'web', '-n', n]);
    const p = await reasonIs(n, 'web', 'AbleToScale', 'TargetNotFound', 30_000);
    assert.equal(e2e.condition(p, 'AbleToScale')?.status, 'False');
    assert.equal((await e2e.hasEvent(n, 'web', 'TargetNotFound')).type, 'Warning');
    assert.equal(op.proc.exitCode, null, 'the operator is still running');
    assert.equal((await fetch(`http://127.0.0.1:${op.port}/healthz`)).status, 200);

    await e2e.apply([e2e.deployment(n, 'web', 1, 200)]);
    await e2e.waitForReplicas(n, 'web', 4, 60_000);
    await e2e.hasEvent(n, 'web', 'TargetFound');
    assert.equal(e2e.condition(await e2e.getPolicy(n, 'web'), 'AbleToScale')?.status, 'True');
  });

  it('policy deleted: scaling stops and the replicas stay as they are', async () => {
    const n = ns('deleted');
    await scaledTo4(n);
    await kubectl(['delete', 'scalingpolicy', 'web', '-n', n]);
    await e2e.holdsReplicas(n, 'web', 4, 3_000);
    // Nothing scales it any more, neither back from a manual change nor with the load.
    await kubectl(['scale', 'deployment', 'web', '-n', n, '--replicas=1']);
    await e2e.setLoad(n, 'web', 600);
    await e2e.holdsReplicas(n, 'web', 1, 10_000);
  });

  it('a Prometheus address off the allow-list is reported InvalidPolicy and never queried', async () => {
    const n = ns('invalid');
    await e2e.apply([
      e2e.deployment(n, 'web', 1, 200),
      e2e.scalingPolicy(n, 'web', {
        prometheus: { address: 'http://203.0.113.7:9090' },
        metrics: [{ name: 'rps', query: 'vector(1000)', target: { type: 'AverageValue', value: '1' } }],
      }),
    ]);
    const p = await reasonIs(n, 'web', 'Ready', 'InvalidPolicy', 30_000);
    assert.match(e2e.condition(p, 'Ready')?.message ?? '', /not on the operator's allow-list/);
    await e2e.hasEvent(n, 'web', 'InvalidPolicy');
    await e2e.holdsReplicas(n, 'web', 1, 4_000);
  });

  it('scales on each load step and records the time from the step visible in Prometheus to the scale patch', async () => {
    const n = ns('latency');
    const interval = 5;
    await e2e.apply([
      e2e.deployment(n, 'web', 1, 40),
      e2e.rpsPolicy(n, { pollingIntervalSeconds: interval, maxReplicas: 20 }),
    ]);
    await waitFor(async () => e2e.condition(await e2e.getPolicy(n, 'web'), 'Ready')?.status === 'True', {
      timeoutMs: 30_000,
      what: 'the policy to be Ready',
    });
    const samples: number[] = [];
    for (const [rps, want] of [
      [200, 4],
      [400, 8],
      [600, 12],
    ] as const) {
      await e2e.setLoad(n, 'web', rps);
      const visible = await waitFor(
        async () => {
          const r = await promQuery(e2e.offeredQuery(n, 'web'));
          return Number(r[0]?.value[1]) >= rps ? Date.now() : undefined;
        },
        { timeoutMs: 30_000, intervalMs: 100, what: `${rps} rps in Prometheus` },
      );
      await e2e.waitForReplicas(n, 'web', want, 30_000);
      // The operator's own log line has the patch time to the millisecond.
      const line = await waitFor(
        () => op.lines.find((l) => l.msg === 'scaled' && l.namespace === n && l.to === want),
        { timeoutMs: 5_000, what: 'the scaled log line' },
      );
      samples.push((line.time as number) - visible);
      // Let the 15 s scale-up rate period pass so the next step is not rate-limited.
      await new Promise((r) => setTimeout(r, 16_000));
    }
    const report = `load step visible in Prometheus → scale patch (polling ${interval}s): ${samples
      .map((s) => `${(s / 1000).toFixed(2)}s`)
      .join(', ')}; max ${(Math.max(...samples) / 1000).toFixed(2)}s`;
    console.log(report);
    writeFileSync(join(sandboxEnv().dir, 'logs', 'e2e-latency.txt'), `${report}\n`);
    // The figure is printed and kept, not bounded: a wall-clock bound flakes on a loaded CI
    // machine. `make bench-live` measures reaction times on a quiet one (issue 22's goal).
    assert.equal(samples.length, 3, 'a scale patch for each of the three steps');
  });
});
