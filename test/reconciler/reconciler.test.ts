import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createOperatorMetrics } from '../../src/metrics/registry.ts';
import { getCondition } from '../../src/reconciler/status.ts';
import { harness, policy, replicasOf } from './helpers.ts';

const reasons = (h: ReturnType<typeof harness>) => h.kube.events.map((e) => e.reason);
const statusWrites = (h: ReturnType<typeof harness>) => h.kube.count('PATCH', /\/status$/);

describe('PolicyReconciler', () => {
  it('scales up in Active mode: patch, Scaled and ScaleLimited Events with numbers, status', async () => {
    const h = harness(policy(), 2);
    h.collector.values.rps = 450;
    const r = await h.tick();
    assert.equal(r.outcome, 'decided');
    // proposal ceil(450/50)=9; HPA default scale-up limit from 2 is max(100% → 4, +4 → 6).
    assert.equal(replicasOf(h), 6);
    assert.deepEqual(r.scaled && { from: r.scaled.from, to: r.scaled.to }, { from: 2, to: 6 });
    const scaled = h.kube.events.find((e) => e.reason === 'Scaled');
    assert.match(
      scaled?.message ?? '',
      /^scaled Deployment shop\/checkout 2→6: rps 450\.0 vs 50\/replica proposes 9/,
    );
    assert.ok(reasons(h).includes('ScaleLimited'));
    const st = h.kube.policy!.status!;
    assert.equal(st.currentReplicas, 6);
    assert.equal(st.desiredReplicas, 6);
    assert.equal(st.targetDisplay, 'Deployment/checkout');
    assert.equal(st.observedGeneration, 1);
    assert.ok(st.lastScaleTime);
    assert.deepEqual(st.currentMetrics, [{ name: 'rps', value: '450', target: '50', proposedReplicas: 9 }]);
    assert.equal(st.recentDecisions?.length, 1);
    assert.equal(st.recentDecisions?.[0]?.from, 2);
    assert.equal(st.recentDecisions?.[0]?.limitedBy, 'ScaleUpRateLimit');
    assert.equal(getCondition(st, 'ScalingLimited')?.reason, 'ScaleUpRateLimit');
    assert.equal(getCondition(st, 'Ready')?.status, 'True');
    assert.equal(getCondition(st, 'AbleToScale')?.status, 'True');
    assert.ok((st.engineState as { scaleUpEvents: unknown[] }).scaleUpEvents.length === 1);
    // Next tick: reaches 9, the limit no longer applies.
    await h.tick(15_000);
    await h.tick();
    assert.equal(replicasOf(h), 9);
    assert.equal(h.kube.policy!.status!.recentDecisions?.length, 2);
    assert.equal(h.kube.policy!.status!.recentDecisions?.[0]?.to, 9, 'newest first');
  });

  it('an idle policy writes its status once, then never again', async () => {
    const h = harness(policy(), 5);
    for (let i = 0; i < 40; i++) {
      h.collector.values.rps = 250 + (i % 3) - 1; // 249..251: small noise inside the tolerance
      await h.tick();
    }
    assert.equal(statusWrites(h), 1);
    assert.equal(replicasOf(h), 5);
    assert.equal(h.kube.events.length, 0);
  });

  it('a policy killed and restarted mid-window decides exactly as an uninterrupted one', async () => {
    const spec = {
      behavior: { scaleDown: { stabilizationWindowSeconds: 60 } },
    };
    const run = async (restartAtTick?: number) => {
      const h = harness(policy(spec), 2);
      const trace: number[] = [];
      for (let i = 0; i < 50; i++) {
        h.collector.values.rps = i < 10 ? 400 : i < 12 ? 200 : 60;
        if (i === restartAtTick) h.restart();
        await h.tick();
        trace.push(replicasOf(h)!);
      }
      return { trace, writes: statusWrites(h) };
    };
    const straight = await run();
    for (const at of [13, 16, 20, 24]) {
      const restarted = await run(at);
      assert.deepEqual(restarted.trace, straight.trace, `restart before tick ${at}`);
    }
    // Reached 8, held by the 60 s window, then down to 2.
    assert.equal(Math.max(...straight.trace), 8);
    assert.equal(straight.trace.at(-1), 2);
    const firstDown = straight.trace.findIndex((n, i) => i > 10 && n < 8);
    assert.ok(firstDown >= 20, `held at 8 through the window (first scale-down at tick ${firstDown})`);
    assert.ok(straight.writes < 20, `status writes ${straight.writes} stay well below the 50 ticks`);
  });

  it('DryRun decides and records but never patches; one Event per distinct decision', async () => {
    const h = harness(policy({ mode: 'DryRun' }), 2);
    h.collector.values.rps = 200;
    for (let i = 0; i < 5; i++) await h.tick();
    assert.equal(replicasOf(h), 2);
    assert.equal(h.kube.count('PUT', /\/scale$/), 0);
    const dry = h.kube.events.filter((e) => e.reason === 'DryRunDecision');
    assert.equal(dry.length, 1);
    assert.match(dry[0]!.message, /^would scale Deployment shop\/checkout 2→4: /);
    const st = h.kube.policy!.status!;
    assert.equal(st.desiredReplicas, 4);
    assert.equal(st.currentReplicas, 2);
    assert.equal(st.recentDecisions?.length, 1);
    assert.equal(getCondition(st, 'Active')?.reason, 'DryRun');
  });

  it('Paused reads nothing, changes nothing, and says so once', async () => {
    const h = harness(policy({ mode: 'Paused' }), 3);
    h.collector.values.rps = 1000;
    await h.tick();
    await h.tick();
    await h.tick();
    assert.equal(h.collector.calls, 0);
    assert.equal(replicasOf(h), 3);
    assert.equal(h.kube.count('GET', /\/scale$/), 0);
    assert.equal(statusWrites(h), 1);
    const active = getCondition(h.kube.policy!.status, 'Active');
    assert.equal(active?.status, 'False');
    assert.equal(active?.reason, 'Paused');
  });

  it('an address off the allow-list is InvalidPolicy: no query, no target read, one Event', async () => {
    const h = harness(policy({ prometheus: { address: 'http://attacker.example:80' } }), 3);
    await h.tick();
    await h.tick();
    assert.equal(h.collector.calls, 0);
    assert.equal(h.kube.count('GET', /\/scale$/), 0);
    const ready = getCondition(h.kube.policy!.status, 'Ready');
    assert.equal(ready?.status, 'False');
    assert.equal(ready?.reason, 'InvalidPolicy');
    assert.match(ready?.message ?? '', /not on the operator's allow-list/);
    assert.deepEqual(reasons(h), ['InvalidPolicy']);
    assert.equal(h.kube.events[0]!.count, 1);
  });

  it('target deleted: condition and one Warning; recreated: TargetFound and scaling resumes', async () => {
    const h = harness(policy(), undefined);
    h.collector.values.rps = 100;
    for (let i = 0; i < 3; i++) assert.equal((await h.tick()).outcome, 'target-not-found');
    const able = getCondition(h.kube.policy!.status, 'AbleToScale');
    assert.equal(able?.status, 'False');
    assert.equal(able?.reason, 'TargetNotFound');
    assert.deepEqual(reasons(h), ['TargetNotFound']);
    assert.equal(h.collector.calls, 0);
    h.kube.replicas.set('shop/deployments/checkout', 1);
    await h.tick();
    assert.ok(reasons(h).includes('TargetFound'));
    assert.equal(getCondition(h.kube.policy!.status, 'AbleToScale')?.status, 'True');
    assert.equal(replicasOf(h), 2);
  });

  it('a failing metric: one MetricError, never a scale-down, fallback after the threshold, then recovery', async () => {
    const h = harness(policy({ fallback: { failureThreshold: 3, replicas: 4 } }), 6);
    h.collector.values.rps = { kind: 'unreachable', message: 'connect ECONNREFUSED 127.0.0.1:9' };
    const trace: number[] = [];
    for (let i = 0; i < 5; i++) {
      await h.tick();
      trace.push(replicasOf(h)!);
    }
    // Two ticks hold 6; the third reaches the threshold: fallback 4 applies.
    assert.deepEqual(trace, [6, 6, 4, 4, 4]);
    assert.equal(h.kube.events.filter((e) => e.reason === 'MetricError').length, 1);
    assert.match(
      h.kube.events.find((e) => e.reason === 'MetricError')!.message,
      /rps failed: unreachable: connect/,
    );
    assert.equal(h.kube.events.filter((e) => e.reason === 'FallbackActivated').length, 1);
    const st = h.kube.policy!.status!;
    assert.equal(getCondition(st, 'FallbackActive')?.status, 'True');
    assert.equal(getCondition(st, 'Ready')?.reason, 'MetricsUnavailable');
    assert.equal(st.currentMetrics?.[0]?.error?.startsWith('unreachable: '), true);
    h.collector.values.rps = 400;
    await h.tick();
    assert.ok(reasons(h).includes('MetricRecovered'));
    assert.ok(reasons(h).includes('FallbackCleared'));
    assert.equal(getCondition(h.kube.policy!.status, 'FallbackActive')?.status, 'False');
    assert.equal(replicasOf(h), 8);
  });

  it('a failing metric alone never lets the others scale down', async () => {
    const h = harness(
      policy({
        metrics: [
          { name: 'rps', query: 'a', target: { type: 'AverageValue', value: '50' } },
          { name: 'lat', query: 'b', target: { type: 'Value', value: '1' } },
        ],
        behavior: { scaleDown: { stabilizationWindowSeconds: 0 } },
      }),
      8,
    );
    h.collector.values.rps = 50;
    h.collector.values.lat = { kind: 'timeout', message: 'query timed out after 5s' };
    for (let i = 0; i < 4; i++) await h.tick();
    assert.equal(replicasOf(h), 8);
    assert.equal(getCondition(h.kube.policy!.status, 'Ready')?.reason, 'SomeMetricsFailing');
  });

  it('writes status as a merge patch of what the tick changed: a field another writer set is kept', async () => {
    const h = harness(policy(), 2);
    h.collector.values.rps = 200;
    await h.tick(15_000);
    // Another writer (a second controller, kubectl edit --subresource=status) sets a field.
    h.kube.policy!.status = { ...h.kube.policy!.status, tuned: { scaleDownStabilizationSeconds: 42 } };
    h.collector.values.rps = 400;
    const r = await h.tick();
    assert.equal(r.statusWritten, true);
    assert.equal(h.kube.policy!.status?.desiredReplicas, 8);
    assert.deepEqual(h.kube.policy!.status?.tuned, { scaleDownStabilizationSeconds: 42 }, 'not clobbered');
    const last = h.kube.statusPatches.at(-1)!;
    assert.ok(!('targetDisplay' in last), 'an unchanged field is not re-sent');
    assert.equal(last.desiredReplicas, 8);
    assert.equal(
      h.kube.count('GET', /\/scalingpolicies\/checkout$/),
      0,
      'no re-read: a patch meets no conflict',
    );
  });

  it('a status patch of a policy deleted and recreated under the same name fails (uid precondition)', async () => {
    const h = harness(policy(), 2);
    h.collector.values.rps = 200;
    const old = h.kube.informerCopy();
    h.kube.policy!.metadata.uid = 'a-new-uid';
    const r = await h.reconciler.reconcile(old, h.clock.t);
    assert.equal(r.statusWritten, false);
    assert.equal(h.kube.policy!.status, undefined);
  });

  it('writes over a stale informer copy without a conflict, using its own last resourceVersion', async () => {
    const h = harness(policy(), 2);
    h.collector.values.rps = 200;
    const stale = h.kube.informerCopy();
    await h.reconciler.reconcile(stale, h.clock.t);
    h.clock.t += 5000;
    h.collector.values.rps = 400;
    const r = await h.reconciler.reconcile(stale, h.clock.t);
    assert.equal(r.statusWritten, true);
    assert.equal(h.kube.count('GET', /\/scalingpolicies\/checkout$/), 0, 'no conflict, no re-read');
  });

  it('fencing: without the lease nothing is patched, written or recorded', async () => {
    const h = harness(policy(), 2);
    h.collector.values.rps = 400;
    h.allowed.act = false;
    const r = await h.tick();
    assert.equal(r.outcome, 'fenced');
    assert.equal(replicasOf(h), 2);
    assert.equal(statusWrites(h), 0);
    assert.equal(h.kube.events.length, 0);
  });

  it('scales a custom resource through discovery; a kind without scale is InvalidPolicy', async () => {
    const h = harness(policy({ targetRef: { apiVersion: 'example.dev/v1', kind: 'Widget', name: 'w' } }), 1);
    h.collector.values.rps = 100;
    await h.tick();
    assert.equal(replicasOf(h), 2);
    assert.equal(h.kube.policy!.status?.targetDisplay, 'Widget/w');
    const g = harness(policy({ targetRef: { apiVersion: 'example.dev/v1', kind: 'Gadget', name: 'g' } }), 1);
    await g.tick();
    const ready = getCondition(g.kube.policy!.status, 'Ready');
    assert.equal(ready?.reason, 'InvalidPolicy');
    assert.match(ready?.message ?? '', /no scale subresource/);
  });

  it('an unknown kind reads as TargetNotFound (its CRD may come later)', async () => {
    const h = harness(policy({ targetRef: { apiVersion: 'nope.dev/v1', kind: 'Thing', name: 't' } }), 1);
    await h.tick();
    assert.equal(getCondition(h.kube.policy!.status, 'AbleToScale')?.reason, 'TargetNotFound');
    assert.deepEqual(reasons(h), ['TargetNotFound']);
  });

  it('a failed scale patch keeps the old engine state and says so in AbleToScale', async () => {
    const h = harness(policy(), 2);
    h.collector.values.rps = 200;
    h.kube.failScaleWrite = true;
    const r = await h.tick();
    assert.equal(r.outcome, 'scale-failed');
    const st = h.kube.policy!.status!;
    assert.equal(getCondition(st, 'AbleToScale')?.reason, 'FailedUpdateScale');
    assert.equal(st.currentReplicas, 2);
    assert.equal(
      (st.engineState as { scaleUpEvents?: unknown[] } | undefined)?.scaleUpEvents?.length ?? 0,
      0,
    );
    h.kube.failScaleWrite = false;
    await h.tick();
    assert.equal(replicasOf(h), 4);
  });

  it('keeps the state across a spec change (new generation)', async () => {
    const h = harness(policy({ behavior: { scaleDown: { stabilizationWindowSeconds: 60 } } }), 2);
    h.collector.values.rps = 400;
    await h.tick(15_000);
    await h.tick();
    assert.equal(replicasOf(h), 8);
    h.collector.values.rps = 50;
    await h.tick();
    const p = h.kube.policy!;
    p.metadata.generation = 2;
    p.spec.maxReplicas = 30;
    await h.tick();
    assert.equal(replicasOf(h), 8, 'the stabilization window still holds after the edit');
    assert.equal(h.kube.policy!.status?.observedGeneration, 2);
  });

  it('Level 5 on: its conditions and status parts are written, its per-tick history does not force writes', async () => {
    const h = harness(
      policy({ anomaly: { enabled: true }, autotune: { enabled: true }, predictive: { enabled: true } }),
      5,
    );
    for (let i = 0; i < 50; i++) {
      h.collector.values.rps = 250 + (i % 3) - 1;
      await h.tick();
    }
    const st = h.kube.policy!.status!;
    assert.ok(getCondition(st, 'AnomalyDetected'), 'the anomaly mechanism reports its condition');
    assert.ok(getCondition(st, 'ForecastReady'), 'the forecaster reports its condition');
    assert.ok((st.engineState as { level5?: unknown }).level5, 'its state is persisted');
    // 50 ticks over 250 s: the first write, a few as mechanisms warm up, not one per tick.
    assert.ok(statusWrites(h) <= 6, `status writes: ${statusWrites(h)}`);
    assert.equal(replicasOf(h), 5);
  });

  it('updates the operator metrics (basic level: replicas, unhealthy conditions, per-namespace counters)', async () => {
    const h = harness(policy(), 2);
    h.collector.values.rps = 450;
    await h.tick();
    const text = await h.metrics.registry.metrics();
    assert.match(text, /tidemark_policy_desired_replicas\{namespace="shop",policy="checkout"\} 6/);
    assert.match(text, /tidemark_scaling_actions_total\{namespace="shop",direction="Up"\} 1/);
    assert.match(
      text,
      /tidemark_decisions_total\{namespace="shop",direction="Up",limited_by="ScaleUpRateLimit"\} 1/,
    );
    assert.doesNotMatch(text, /tidemark_policy_metric_value\{/, 'metric values are detail');
    assert.doesNotMatch(text, /condition="Ready"/, 'Ready True is healthy: no series');
    assert.match(
      text,
      /tidemark_policy_condition\{namespace="shop",policy="checkout",condition="ScalingLimited"\} 1/,
    );
    assert.doesNotMatch(text, /tidemark_policy_fallback_active\{/, 'no fallback: no series');
    assert.match(text, /tidemark_tick_duration_seconds_count 1/);
    // Once healthy again, the condition's series goes.
    await h.tick(15_000);
    await h.tick();
    assert.doesNotMatch(await h.metrics.registry.metrics(), /condition="ScalingLimited"/);
  });

  it('updates the operator metrics (detailed level: limits, metric values and every condition too)', async () => {
    const metrics = createOperatorMetrics(undefined, 'detailed');
    const h = harness(policy(), 2, { metrics });
    h.collector.values.rps = 200;
    await h.tick();
    const text = await metrics.registry.metrics();
    assert.match(text, /tidemark_policy_metric_value\{namespace="shop",policy="checkout",metric="rps"\} 200/);
    assert.match(text, /tidemark_policy_max_replicas\{namespace="shop",policy="checkout"\} 20/);
    assert.match(text, /tidemark_policy_condition\{namespace="shop",policy="checkout",condition="Ready"\} 1/);
    assert.match(text, /tidemark_policy_fallback_active\{namespace="shop",policy="checkout"\} 0/);
  });
});

describe('PolicyReconciler under concurrency', () => {
  it('a count changed between the scale read and the write is not overwritten: 409, re-read, decided on the new count', async () => {
    const h = harness(policy(), 2);
    h.collector.values.rps = 450; // proposes 9
    // Another writer (kubectl scale) moves the count to 7 after our read.
    h.kube.beforeScaleWrite = (key) => h.kube.replicas.set(key, 7);
    const r = await h.tick();
    assert.equal(r.scaleConflicts, 1);
    assert.deepEqual(r.scaled && { from: r.scaled.from, to: r.scaled.to }, { from: 7, to: 9 });
    assert.equal(replicasOf(h), 9);
    const st = h.kube.policy!.status!;
    assert.deepEqual(
      st.recentDecisions?.map((d) => `${d.from}→${d.to}`),
      ['7→9'],
    );
    assert.match(h.kube.events.find((e) => e.reason === 'Scaled')?.message ?? '', /7→9/);
  });

  it('gives up after a bounded number of conflicts, keeps the engine state and says why', async () => {
    const h = harness(policy(), 2, { scaleConflictRetries: 2 });
    h.collector.values.rps = 450;
    let n = 3;
    const moveAgain = (key: string) => {
      h.kube.replicas.set(key, n++);
      h.kube.beforeScaleWrite = moveAgain;
    };
    h.kube.beforeScaleWrite = moveAgain;
    const r = await h.tick();
    h.kube.beforeScaleWrite = undefined;
    assert.equal(r.outcome, 'scale-failed');
    assert.equal(h.kube.count('PUT', /\/scale$/), 3);
    const able = getCondition(h.kube.policy!.status, 'AbleToScale');
    assert.equal(able?.reason, 'FailedUpdateScale');
    assert.match(able?.message ?? '', /3 conflicts in a row/);
    assert.equal(h.kube.policy!.status?.recentDecisions, undefined);
  });

  it('a target with another owner: no scale write, AbleToScale=False AmbiguousTarget, one Warning; acts once the conflict goes', async () => {
    const owner = { other: 'ScalingPolicy shop/first' as string | undefined };
    const h = harness(policy(), 2, { otherOwner: () => owner.other });
    h.collector.values.rps = 450;
    for (let i = 0; i < 3; i++) assert.equal((await h.tick()).outcome, 'ambiguous-target');
    assert.equal(h.kube.count('PUT', /\/scale$/), 0);
    assert.equal(replicasOf(h), 2);
    const able = getCondition(h.kube.policy!.status, 'AbleToScale');
    assert.equal(able?.status, 'False');
    assert.equal(able?.reason, 'AmbiguousTarget');
    assert.match(able?.message ?? '', /ScalingPolicy shop\/first/);
    assert.equal(getCondition(h.kube.policy!.status, 'Ready')?.reason, 'AmbiguousTarget');
    const warnings = h.kube.events.filter((e) => e.reason === 'AmbiguousTarget');
    assert.equal(warnings.length, 1);
    assert.equal(warnings[0]?.type, 'Warning');
    owner.other = undefined;
    await h.tick();
    assert.equal(replicasOf(h), 6);
    assert.equal(getCondition(h.kube.policy!.status, 'AbleToScale')?.reason, 'SucceededGetScale');
  });

  it('a tick whose spec was superseded while it ran writes nothing to the target', async () => {
    const h = harness(policy(), 2, { isCurrent: () => false });
    h.collector.values.rps = 450;
    const r = await h.tick();
    assert.equal(r.outcome, 'superseded');
    assert.equal(h.kube.count('PUT', /\/scale$/), 0);
    assert.equal(replicasOf(h), 2);
  });
});

it('a policy both invalid and sharing its target reports InvalidPolicy first', async () => {
  const h = harness(policy({ prometheus: { address: 'http://elsewhere:9090' } }), 2, {
    otherOwner: () => 'ScalingPolicy shop/first',
  });
  assert.equal((await h.tick()).outcome, 'invalid-policy');
  assert.equal(getCondition(h.kube.policy!.status, 'Ready')?.reason, 'InvalidPolicy');
});
