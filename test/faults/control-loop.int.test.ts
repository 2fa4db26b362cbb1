// Fault injection, part 3: the control loop against other writers and owners
// (issue 11). A kubectl scale between the operator's scale read and its write, a
// second status writer, two owners of one target (another ScalingPolicy, an HPA
// of KEDA's), and a spec change that arrives while a tick runs.
//
// The first two need a write at an exact moment between two of the reconciler's
// requests, so they run a PolicyReconciler in this process against the real API
// server and Prometheus (test/support/inprocess.ts): a hook in its transport
// runs the other writer's real request just before the reconciler's write. The
// others run real operator processes.
import assert from 'node:assert/strict';
import { after, before, describe, it, type TestContext } from 'node:test';
import * as e2e from '../e2e/support.ts';
import * as faults from '../support/faults.ts';
import { inProcessReconciler } from '../support/inprocess.ts';
import { kubectl, sandboxEnv, waitFor } from '../support/sandbox.ts';

const { run, ns } = e2e.testRun('loop');
const SCENARIOS = ['lostwrite', 'status', 'owners', 'hpa', 'respec'] as const;
const policyPath = (n: string, name = 'web') =>
  `/apis/tidemark.dev/v1alpha1/namespaces/${n}/scalingpolicies/${name}`;

describe('the control loop against other writers and owners', {
  skip: e2e.SANDBOX_SKIP,
  timeout: 300_000,
}, () => {
  let op: e2e.OperatorProcess;
  let proxy: faults.PromProxy;

  before(async () => {
    await e2e.prepareNamespaces(SCENARIOS.map(ns));
    proxy = await new faults.PromProxy().start();
    // The operator runs the owner and spec-change scenarios; the first two have no operator.
    op = await e2e.startLeader('loop', ['owners', 'hpa', 'respec'].map(ns), `${run}-loop`, [
      '--allowed-prometheus',
      `${sandboxEnv().prometheusUrl},${proxy.url}`,
    ]);
  });

  after(async () => {
    await op?.kill('SIGTERM');
    await proxy?.close();
    await e2e.cleanupNamespaces(SCENARIOS.map(ns));
  });

  it("a kubectl scale between the scale read and the write: never overwritten unseen, and the decision uses the writer's count", async () => {
    const n = ns('lostwrite');
    await e2e.apply([e2e.deployment(n, 'web', 6, 500), e2e.rpsPolicy(n)]);
    await e2e.promSeesLoad(n, 500);
    const r = inProcessReconciler(`${run}-lostwrite`);
    // After the reconciler read 6 and decided 10, and before its write: someone scales to 8.
    r.beforeWrite(/\/scale$/, () =>
      kubectl(['scale', 'deployment/web', '-n', n, '--replicas=8']).then(() => {}),
    );
    const res = await r.tick(n, 'web');
    assert.equal(
      res.scaled?.from,
      8,
      `the decision that followed was made on the writer's 8: ${JSON.stringify(res.scaled)}`,
    );
    assert.equal(res.scaled?.to, 10);
    assert.equal(await e2e.replicas(n, 'web'), 10);
    const scaled = await faults.scaledEvents(n, 'web');
    assert.deepEqual(
      scaled.map((e) => `${e.from}→${e.to}`),
      ['8→10'],
      'no Scaled Event claims a 6→10 that overwrote the 8',
    );
    const p = await faults.waitForStatus(n, 'web', (x) => x.status?.currentReplicas === 10, 'status at 10');
    assert.deepEqual(
      p.status?.recentDecisions?.map((d) => `${d.from}→${d.to}`),
      ['8→10'],
    );
  });

  it("a second status writer between the operator's status read and its write: the other writer's field is kept", async () => {
    const n = ns('status');
    await e2e.apply([e2e.deployment(n, 'web', 6, 300), e2e.rpsPolicy(n)]);
    await e2e.promSeesLoad(n, 300);
    const r = inProcessReconciler(`${run}-status`);
    const theirs = { scaleDownStabilizationSeconds: 77, reason: 'set by another controller' };
    r.beforeWrite(/\/status$/, async () => {
      await e2e.api()({
        method: 'PATCH',
        path: `${policyPath(n)}/status`,
        body: { status: { tuned: theirs } },
      });
    });
    const res = await r.tick(n, 'web');
    assert.equal(res.statusWritten, true);
    const p = await faults.waitForStatus(
      n,
      'web',
      (x) => x.status?.currentReplicas === 6,
      'the tick wrote its status',
    );
    assert.deepEqual(p.status?.tuned, theirs, 'the concurrent writer was not clobbered');
    assert.ok(faults.hasCondition('Ready', 'True', 'Reconciled')(p));
  });

  it('two ScalingPolicies on one target: the younger never acts and says who owns it; it starts when the older goes', async () => {
    const n = ns('owners');
    await e2e.apply([
      e2e.deployment(n, 'web', 2, 300),
      { ...e2e.rpsPolicy(n), metadata: { name: 'a-older', namespace: n } },
    ]);
    await e2e.waitForReplicas(n, 'web', 6, 30_000);
    await new Promise((r) => setTimeout(r, 1100)); // a later creationTimestamp (second resolution)
    await e2e.apply([{ ...e2e.rpsPolicy(n), metadata: { name: 'b-younger', namespace: n } }]);
    const loser = await faults.waitForStatus(
      n,
      'b-younger',
      faults.hasCondition('AbleToScale', 'False', 'AmbiguousTarget'),
      'AbleToScale=False AmbiguousTarget',
    );
    const able = loser.status?.conditions?.find((c) => c.type === 'AbleToScale');
    assert.match(able?.message ?? '', new RegExp(`ScalingPolicy ${n}/a-older`));
    const warning = await e2e.hasEvent(n, 'b-younger', 'AmbiguousTarget');
    assert.equal(warning.type, 'Warning');
    const older = await faults.waitForStatus(
      n,
      'a-older',
      faults.hasCondition('AbleToScale', 'True'),
      'the older still owns it',
    );
    assert.equal(older.status?.currentReplicas, 6);
    await e2e.setLoad(n, 'web', 400);
    await e2e.waitForReplicas(n, 'web', 8, 30_000);
    assert.equal((await faults.scaledEvents(n, 'b-younger')).length, 0, 'the younger never scaled');

    await kubectl(['delete', 'scalingpolicy', 'a-older', '-n', n, '--wait=true']);
    await e2e.setLoad(n, 'web', 500);
    await e2e.waitForReplicas(n, 'web', 10, 30_000);
    await faults.waitForStatus(
      n,
      'b-younger',
      faults.hasCondition('AbleToScale', 'True'),
      'the younger owns it now',
    );
    await e2e.hasEvent(n, 'b-younger', 'Scaled'); // sent right after the status
    assert.deepEqual(
      (await faults.scaledEvents(n, 'b-younger')).map((e) => `${e.from}→${e.to}`),
      ['8→10'],
    );
  });

  it("an HPA on the target (one that KEDA's ScaledObject made): the policy never acts; it starts when the HPA goes", async () => {
    const n = ns('hpa');
    const hpa = {
      apiVersion: 'autoscaling/v2',
      kind: 'HorizontalPodAutoscaler',
      metadata: { name: 'keda-hpa-web', namespace: n, labels: { 'scaledobject.keda.sh/name': 'web' } },
      spec: {
        scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' },
        // The sandbox has no metrics API: the HPA controller reads nothing and leaves 2 as it is.
        minReplicas: 1,
        maxReplicas: 10,
        metrics: [
          {
            type: 'Resource',
            resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 50 } },
          },
        ],
      },
    };
    await e2e.apply([e2e.deployment(n, 'web', 2, 300), hpa]);
    await e2e.apply([e2e.rpsPolicy(n)]);
    const p = await faults.waitForStatus(
      n,
      'web',
      faults.hasCondition('AbleToScale', 'False', 'AmbiguousTarget'),
      'AbleToScale=False AmbiguousTarget',
    );
    const able = p.status?.conditions?.find((c) => c.type === 'AbleToScale');
    assert.match(
      able?.message ?? '',
      new RegExp(`HorizontalPodAutoscaler ${n}/keda-hpa-web \\(of KEDA ScaledObject web\\)`),
    );
    await e2e.hasEvent(n, 'web', 'AmbiguousTarget');
    await e2e.holdsReplicas(n, 'web', 2, 5_000);
    await kubectl(['delete', 'hpa', 'keda-hpa-web', '-n', n, '--wait=true']);
    await e2e.waitForReplicas(n, 'web', 6, 30_000);
    // Events are sent off the tick's path, so the Scaled Event may follow the scale a moment later.
    await e2e.hasEvent(n, 'web', 'Scaled');
  });

  it('a spec change while the tick runs (300 s interval): a lower maxReplicas, then Paused, take effect at once', async (t: TestContext) => {
    const n = ns('respec');
    await e2e.apply([e2e.deployment(n, 'web', 6, 300)]);
    await e2e.promSeesLoad(n, 300);
    await e2e.apply([e2e.rpsPolicy(n, { pollingIntervalSeconds: 300, prometheus: { address: proxy.url } })]);
    await faults.waitForStatus(
      n,
      'web',
      (p) => p.status?.currentReplicas === 6 && faults.hasCondition('Ready', 'True', 'Reconciled')(p),
      'reconciled at 6',
      30_000,
    );
    // Past the collector's window in which identical queries share one request.
    await faults.sleep(1500);
    const rec = faults.recordReplicas(t, n, 'web');
    // A spec change, once the operator has seen it (the race with the running tick is the point).
    const change = async (spec: Record<string, unknown>) => {
      const p = (await e2e.api()({ method: 'PATCH', path: policyPath(n), body: { spec } })) as {
        metadata: { generation: number };
      };
      const g = p.metadata.generation;
      await waitFor(
        () =>
          op.lines.some((l) => l.msg === 'policy spec changed' && l.namespace === n && l.generation === g),
        { timeoutMs: 10_000, intervalMs: 50, what: `the operator to see generation ${g}` },
      );
    };

    // A first change starts a tick, which is held in its metric query; a second arrives meanwhile.
    proxy.hold();
    const held = proxy.nextRequest();
    await change({ maxReplicas: 4 });
    await faults.within(held, 20_000, 'the tick of the first change to query Prometheus');
    await change({ maxReplicas: 3 });
    proxy.release();
    await e2e.waitForReplicas(n, 'web', 3, 20_000);

    await faults.sleep(1500);
    proxy.hold();
    const held2 = proxy.nextRequest();
    await change({ maxReplicas: 12 });
    await faults.within(held2, 20_000, 'the tick of the third change to query Prometheus');
    await change({ mode: 'Paused' });
    await e2e.setLoad(n, 'web', 500);
    await e2e.promSeesLoad(n, 500);
    proxy.release();
    await faults.waitForStatus(
      n,
      'web',
      faults.hasCondition('Active', 'False', 'Paused'),
      'Paused in the status',
      20_000,
    );
    await e2e.holdsReplicas(n, 'web', 3, 5_000);
    const { sequence } = await rec.stop();
    assert.deepEqual(sequence, [6, 3], 'the superseded ticks wrote nothing: no 4, no 10');
    assert.equal(await faults.sumSamples(op, 'tidemark_scaling_actions_total', { namespace: n }), 1);
  });
});
