// Regression: a scale patch whose request failed (timeout, lost connection) but
// that the API server applied anyway, as happens when etcd stalls and catches up
// (test/faults/components.int.test.ts, "etcd frozen"). The action must be
// recorded once, not lost, and not repeated.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { KubeRequest } from '../../src/kube/api-client.ts';
import { KubeApiError } from '../../src/kube/api-client.ts';
import type { FakeKube } from './fake-kube.ts';
import { harness, policy, replicasOf } from './helpers.ts';

/** A transport whose scale patches reach the store but whose answers are lost while `lossy` is set. */
function lossyPatches(kube: () => FakeKube) {
  const mode = { lossy: false, applied: false };
  const transport = async (req: KubeRequest) => {
    const res = await kube().transport(req);
    if (mode.lossy && req.method === 'PUT' && req.path.endsWith('/scale')) {
      throw new KubeApiError(0, 'Transport', `${req.method} ${req.path}: timed out after 10000 ms`);
    }
    return res;
  };
  return { mode, transport };
}

const scaledEvents = (kube: FakeKube) => kube.events.filter((e) => e.reason === 'Scaled');

describe('a scale patch applied although its request failed', () => {
  for (const leadershipLost of [false, true]) {
    it(`is recorded once by the next tick${leadershipLost ? ' after leadership was lost and regained' : ''}`, async () => {
      let kubeRef: FakeKube | undefined;
      const lossy = lossyPatches(() => kubeRef!);
      const h = harness(policy(), 2, { transport: lossy.transport });
      kubeRef = h.kube;
      h.collector.values.rps = 200; // proposes 4
      lossy.mode.lossy = true;
      const r = await h.tick();
      assert.equal(r.outcome, 'scale-failed');
      assert.equal(replicasOf(h), 4, 'the store applied it');
      assert.equal(scaledEvents(h.kube).length, 0);
      lossy.mode.lossy = false;
      if (leadershipLost) h.reconciler.reset();

      await h.tick();
      const events = scaledEvents(h.kube);
      assert.equal(events.length, 1);
      assert.match(events[0]!.message, /2→4: .*\(applied after the request failed\)$/);
      const st = h.kube.policy!.status!;
      assert.equal(st.recentDecisions?.length, 1);
      assert.deepEqual(
        { from: st.recentDecisions?.[0]?.from, to: st.recentDecisions?.[0]?.to },
        { from: 2, to: 4 },
      );
      assert.ok(st.lastScaleTime);
      assert.equal(st.currentReplicas, 4);
      // The rate-limit history has the action, as if the patch had answered.
      assert.equal((st.engineState as { scaleUpEvents: unknown[] }).scaleUpEvents.length, 1);
      assert.equal(
        await h.metrics.registry
          .getSingleMetricAsString('tidemark_scaling_actions_total')
          .then((s) => /direction="Up"[^\n]* 1$/m.test(s)),
        true,
      );

      // Not twice.
      await h.tick();
      await h.tick();
      assert.equal(scaledEvents(h.kube).length, 1);
      assert.equal(h.kube.policy!.status!.recentDecisions?.length, 1);
    });
  }

  it('is not claimed when the patch did not take effect', async () => {
    const h = harness(policy(), 2);
    h.collector.values.rps = 200;
    h.kube.failScaleWrite = true; // a 500: the outcome is unknown, and here it did not apply
    await h.tick();
    h.kube.failScaleWrite = false;
    h.collector.values.rps = 100; // now proposes 2: no action
    await h.tick();
    await h.tick();
    assert.equal(replicasOf(h), 2);
    assert.equal(scaledEvents(h.kube).length, 0);
    assert.equal(h.kube.policy!.status!.recentDecisions?.length ?? 0, 0);
  });

  it('is not claimed when the target reached that count by another hand after another decision was recorded', async () => {
    let kubeRef: FakeKube | undefined;
    const lossy = lossyPatches(() => kubeRef!);
    const h = harness(policy(), 2, { transport: lossy.transport });
    kubeRef = h.kube;
    h.collector.values.rps = 200;
    lossy.mode.lossy = true;
    await h.tick();
    lossy.mode.lossy = false;
    // Another leader recorded a newer action meanwhile (it wrote lastScaleTime after our failed patch).
    h.kube.policy!.status = {
      ...h.kube.policy!.status,
      lastScaleTime: new Date(h.clock.t).toISOString(),
    };
    h.reconciler.reset();
    await h.tick();
    assert.equal(scaledEvents(h.kube).length, 0);
  });
});
