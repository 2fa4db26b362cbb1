// Regression: a status write that gives up (409 conflicts beyond the retries,
// as with another writer racing the operator in
// test/faults/operator.int.test.ts) must not lose what that status recorded:
// the next tick builds on the unwritten status, not on the last written one.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { harness, policy, replicasOf } from './helpers.ts';

describe('a status write that gave up', () => {
  it('keeps the scaling decision it carried for the next write', async () => {
    const h = harness(policy(), 2);
    h.collector.values.rps = 200; // 2→4
    await h.tick(15_000);
    assert.equal(h.kube.policy!.status!.recentDecisions?.length, 1);
    h.collector.values.rps = 400; // 4→8
    h.kube.statusFailures = 50; // every attempt of this tick meets a 409
    const r = await h.tick(15_000);
    assert.equal(replicasOf(h), 8);
    assert.equal(r.statusWritten, false);
    assert.equal(h.kube.policy!.status!.recentDecisions?.length, 1, 'not written yet');
    h.kube.statusFailures = 0;
    await h.tick();
    const st = h.kube.policy!.status!;
    assert.deepEqual(
      st.recentDecisions?.map((d) => `${d.from}→${d.to}`),
      ['4→8', '2→4'],
      'the decision of the failed write is recorded',
    );
    assert.equal(st.currentReplicas, 8);
    assert.ok(
      st.lastScaleTime && Date.parse(st.lastScaleTime) > Date.parse(st.recentDecisions?.[1]?.time ?? ''),
    );
    // And only once.
    await h.tick();
    assert.equal(h.kube.policy!.status!.recentDecisions?.length, 2);
  });

  it('keeps it across a lost and regained leadership when nobody wrote meanwhile', async () => {
    const h = harness(policy(), 2);
    h.collector.values.rps = 200;
    h.kube.statusFailures = 50;
    await h.tick(15_000);
    assert.equal(replicasOf(h), 4);
    assert.equal(h.kube.policy!.status?.recentDecisions?.length ?? 0, 0);
    h.kube.statusFailures = 0;
    h.reconciler.reset(); // onStartedLeading after the outage
    await h.tick();
    assert.deepEqual(
      h.kube.policy!.status!.recentDecisions?.map((d) => `${d.from}→${d.to}`),
      ['2→4'],
    );
  });

  it('drops it when another leader wrote the status meanwhile', async () => {
    const h = harness(policy(), 2);
    h.collector.values.rps = 200;
    h.kube.statusFailures = 50;
    await h.tick(15_000);
    h.kube.statusFailures = 0;
    const other = {
      time: new Date(h.clock.t).toISOString(),
      from: 4,
      to: 5,
      reason: 'theirs',
      limitedBy: '',
    };
    h.kube.policy!.status = { ...h.kube.policy!.status, recentDecisions: [other] };
    h.reconciler.reset();
    await h.tick();
    assert.deepEqual(
      h.kube.policy!.status!.recentDecisions?.map((d) => d.reason),
      ['theirs'],
      "the other leader's record is the truth",
    );
  });

  it('keeps it when the status it is handed after regaining leadership is older than its own write (informer lag)', async () => {
    const h = harness(policy(), 2);
    h.collector.values.rps = 200; // 2→4, written
    const before = structuredClone(h.kube.policy!.status);
    await h.tick(15_000);
    assert.equal(h.kube.policy!.status!.recentDecisions?.length, 1);
    h.collector.values.rps = 400; // 4→8, its status write throttled
    h.kube.statusFailures = 50;
    await h.tick(15_000);
    assert.equal(replicasOf(h), 8);
    h.kube.statusFailures = 0;
    h.reconciler.reset();
    // The informer has not yet delivered the write of 2→4: it hands the status from before it.
    h.kube.policy!.status = before;
    await h.tick();
    assert.deepEqual(
      h.kube.policy!.status!.recentDecisions?.map((d) => `${d.from}→${d.to}`),
      ['4→8', '2→4'],
      'a stale copy is not another leader',
    );
  });
});
