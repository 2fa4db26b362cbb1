// Fault injection, part 1: the sandbox's own components fail under a running
// operator (Prometheus killed or frozen, the API server restarted, etcd frozen).
// These faults hit every client of the shared sandbox, so the scenarios run one
// after the other, and each one repairs its component before it ends, pass or
// fail (injectFault registers the repair).
//
// For each: no scale-down while metrics are missing, no lost or doubled scaling
// action, conditions and Events that tell the truth, and recovery by the same
// operator process, without a restart.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as e2e from '../e2e/support.ts';
import * as faults from '../support/faults.ts';
import { promQuery, sandboxEnv, waitFor } from '../support/sandbox.ts';

const { run: RUN, ns } = e2e.testRun('flt');
const SCENARIOS = ['promkill', 'promfreeze', 'apiserver', 'etcd'] as const;

/** At 300 rps and 50 per replica the policy wants 6, which the Deployment already has. */
function setup(n: string, prometheus?: string) {
  const policy = e2e.rpsPolicy(n, {
    maxReplicas: 12,
    // Scale-down would follow a bad reading at once: the harshest setting for "no scale-down from missing data".
    behavior: { scaleDown: { stabilizationWindowSeconds: 0 } },
    // No fallback replicas: after three failing ticks the current count is held (FallbackActive).
    fallback: { failureThreshold: 3 },
    prometheus: { address: prometheus ?? sandboxEnv().prometheusUrl, timeoutSeconds: 1 },
  });
  return e2e.apply([e2e.deployment(n, 'web', 6, 300), policy]);
}

/** Recovery: the same process scales on the next load change; nothing went down before, every action recorded. */
async function scalesUpAgain(n: string, rec: faults.ReplicaRecorder, why: string): Promise<void> {
  await e2e.setLoad(n, 'web', 500);
  await e2e.waitForReplicas(n, 'web', 10, 30_000);
  await rec.expectSequence([6, 10], why);
  await faults.assertActionsAccountedFor(n, 'web', { loadChanges: 1 });
}

const steady = (n: string) =>
  faults.waitForStatus(
    n,
    'web',
    (p) => p.status?.currentReplicas === 6 && faults.hasCondition('Ready', 'True', 'Reconciled')(p),
    'reconciled at 6 replicas',
    60_000,
  );

describe('faults in the sandbox components', { skip: e2e.SANDBOX_SKIP, timeout: 420_000 }, () => {
  let op: e2e.OperatorProcess;
  let proxy: faults.PromProxy;

  before(async () => {
    // A fault test must never start on a sandbox a previous test left broken.
    for (const c of ['etcd', 'kube-apiserver', 'prometheus'] as const) await faults.restoreComponent(c);
    await e2e.prepareNamespaces(SCENARIOS.map(ns));
    proxy = await new faults.PromProxy().start();
    op = await e2e.startLeader('faults-components', SCENARIOS.map(ns), `${RUN}-components`, [
      '--allowed-prometheus',
      `${sandboxEnv().prometheusUrl},${proxy.url}`,
      ...faults.FAST_LEASE,
    ]);
    await Promise.all(SCENARIOS.map((s) => setup(ns(s), s === 'etcd' ? proxy.url : undefined)));
    await Promise.all(SCENARIOS.map((s) => steady(ns(s))));
  });

  after(async () => {
    if (op) {
      const exit = await op.kill('SIGTERM');
      assert.deepEqual(
        exit,
        { code: 0, signal: null },
        'the operator survived every fault and exits cleanly',
      );
    }
    await proxy?.close();
    await e2e.cleanupNamespaces(SCENARIOS.map(ns));
  });

  /** The operator is the same process that started, and leads again. */
  const recovered = async () => {
    assert.equal(op.proc.exitCode, null, 'the operator process never exited');
    await waitFor(() => op.isLeader(), { timeoutMs: 30_000, what: 'the operator to lead again' });
    assert.equal(await op.ready(), 200);
  };

  it('Prometheus killed (SIGKILL) and restarted: replicas held, MetricError and MetricsUnavailable, then recovery', async (t) => {
    const n = ns('promkill');
    const rec = faults.recordReplicas(t, n, 'web');
    const errorsBefore = await faults.sumSamples(op, 'tidemark_metric_errors_total', { namespace: n });
    await faults.injectFault(t, 'kill', 'prometheus');

    await e2e.hasEvent(n, 'web', 'MetricError', /rps failed: (unreachable|timeout)/);
    await faults.waitForStatus(
      n,
      'web',
      faults.hasCondition('Ready', 'False', 'MetricsUnavailable'),
      'Ready=False MetricsUnavailable',
    );
    // Three failing ticks in a row: fallback without fallback replicas holds the current count.
    const held = await faults.waitForStatus(
      n,
      'web',
      faults.hasCondition('FallbackActive', 'True'),
      'FallbackActive=True',
    );
    assert.match(e2e.condition(held, 'FallbackActive')?.message ?? '', /holding the current count/);
    assert.equal(held.status?.currentReplicas, 6);
    assert.ok((await faults.sumSamples(op, 'tidemark_metric_errors_total', { namespace: n })) > errorsBefore);

    await faults.component('start', 'prometheus');
    await faults.component('wait', 'prometheus');
    await e2e.hasEvent(n, 'web', 'MetricRecovered');
    await faults.waitForConditions(n, 'web', [
      ['Ready', 'True', 'Reconciled'],
      ['FallbackActive', 'False'],
    ]);
    // Recovery: the same process scales on the next load change.
    await scalesUpAgain(n, rec, 'no scale-down from missing data');
    await recovered();
  });

  it('Prometheus frozen (SIGSTOP): queries time out, replicas held, then thawed (SIGCONT) and recovered', async (t) => {
    const n = ns('promfreeze');
    const rec = faults.recordReplicas(t, n, 'web');
    const timeoutsBefore = await faults.sumSamples(op, 'tidemark_prometheus_query_errors_total', {
      kind: 'timeout',
    });
    await faults.injectFault(t, 'freeze', 'prometheus');

    await e2e.hasEvent(n, 'web', 'MetricError', /rps failed: timeout/);
    const down = await faults.waitForConditions(n, 'web', [
      ['Ready', 'False', 'MetricsUnavailable'],
      ['FallbackActive', 'True'],
    ]);
    assert.match(down.status?.currentMetrics?.[0]?.error ?? '', /^timeout:/);
    // The operator itself stays responsive while its queries hang.
    assert.ok(
      (await faults.sumSamples(op, 'tidemark_prometheus_query_errors_total', { kind: 'timeout' })) >
        timeoutsBefore,
    );
    assert.equal(await op.ready(), 200);
    await faults.sleep(3_000);

    await faults.component('thaw', 'prometheus');
    await faults.component('wait', 'prometheus');
    await e2e.hasEvent(n, 'web', 'MetricRecovered');
    await faults.waitForStatus(n, 'web', faults.hasCondition('Ready', 'True', 'Reconciled'), 'Ready again');
    await scalesUpAgain(n, rec, 'no scale-down while queries hang');
    await recovered();
  });

  it('kube-apiserver restarted: leadership, watch and scaling resume by themselves', async (t) => {
    const n = ns('apiserver');
    const rec = faults.recordReplicas(t, n, 'web');
    await faults.injectFault(t, 'stop', 'kube-apiserver');
    await waitFor(async () => !(await op.isLeader()), {
      timeoutMs: 15_000,
      what: 'the operator to stop leading without the API server',
    });
    await faults.component('start', 'kube-apiserver');
    await faults.component('wait', 'kube-apiserver');
    await recovered();

    // The edit reaches the operator only through a live watch; the load change only through Prometheus and scale.
    await e2e.api()({
      method: 'PATCH',
      path: `/apis/tidemark.dev/v1alpha1/namespaces/${n}/scalingpolicies/web`,
      body: { spec: { maxReplicas: 9 } },
    });
    await e2e.setLoad(n, 'web', 500);
    await e2e.waitForReplicas(n, 'web', 9, 30_000);
    const p = await faults.waitForStatus(
      n,
      'web',
      (x) =>
        x.status?.observedGeneration === x.metadata.generation &&
        faults.hasCondition('ScalingLimited', 'True', 'MaxReplicas')(x),
      'the edit observed, limited by maxReplicas',
    );
    assert.equal(p.status?.desiredReplicas, 9);
    await rec.expectSequence([6, 9]);
    await faults.assertActionsAccountedFor(n, 'web', { loadChanges: 1 });
  });

  it('etcd frozen (SIGSTOP) for 12 s while a scale patch is in flight, then thawed', async (t) => {
    const n = ns('etcd');
    const rec = faults.recordReplicas(t, n, 'web');
    await e2e.setLoad(n, 'web', 500);
    await waitFor(async () => Number((await promQuery(e2e.offeredQuery(n, 'web')))[0]?.value[1]) === 500, {
      timeoutMs: 20_000,
      what: 'Prometheus to see the new load',
    });
    // Catch the next tick between its scale read and its patch: hold its query, freeze etcd, let it go on.
    proxy.hold();
    await proxy.nextRequest();
    await faults.injectFault(t, 'freeze', 'etcd');
    proxy.release();
    await faults.sleep(12_000);
    assert.equal(await op.isLeader(), false, 'no leader without a store to renew the Lease in');
    await faults.component('thaw', 'etcd');
    await faults.component('wait', 'etcd');
    await faults.component('wait', 'kube-apiserver');
    await recovered();

    await e2e.waitForReplicas(n, 'web', 10, 30_000);
    await faults.waitForStatus(n, 'web', (p) => p.status?.currentReplicas === 10, 'status at 10 replicas');
    // Any late write from before the freeze has landed by now.
    await faults.sleep(4_000);
    await rec.expectSequence([6, 10]);
    await faults.assertActionsAccountedFor(n, 'web', { loadChanges: 1 });
    const p = await e2e.getPolicy(n, 'web');
    assert.equal(p?.status?.desiredReplicas, 10);
  });

  it('after the faults the sandbox is whole: nodes Ready, controllers and KWOK run the scaled pods', async () => {
    // The tests after this file share the sandbox: every component must work again, not only answer.
    for (const c of ['etcd', 'kube-apiserver', 'prometheus'] as const) await faults.component('health', c);
    const nodes = (await e2e.api()({ method: 'GET', path: '/api/v1/nodes' })) as {
      items: Array<{ status?: { conditions?: Array<{ type: string; status: string }> } }>;
    };
    assert.ok(nodes.items.length > 0);
    for (const node of nodes.items) {
      assert.equal(node.status?.conditions?.find((c) => c.type === 'Ready')?.status, 'True');
    }
    await waitFor(
      async () => {
        for (const s of SCENARIOS) {
          const d = (await e2e.api()({
            method: 'GET',
            path: `/apis/apps/v1/namespaces/${ns(s)}/deployments/web`,
          })) as { spec: { replicas: number }; status?: { readyReplicas?: number } };
          if ((d.status?.readyReplicas ?? 0) !== d.spec.replicas) return false;
        }
        return true;
      },
      { timeoutMs: 60_000, what: 'every scaled Deployment to have its pods Ready' },
    );
  });
});
