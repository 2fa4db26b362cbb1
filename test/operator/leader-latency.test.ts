// The leader elector when Lease requests take time: a candidate must time the
// holder's lease from when it SAW the holder's renewal (its GET's answer), not
// from when it asked, or a GET that was sent before a renewal and answered
// after it makes the candidate take the lease while the holder's writes may
// still run (issue 18, defect 1). The holder times its own fence from before
// it sent its renewal, so a late answer never stretches it.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { isNotFound } from '../../src/kube/api-client.ts';
import { kubeLeaseClient, LeaderElector } from '../../src/operator/leader.ts';
import { FakeClock, flush } from './fake-clock.ts';
import { FakeLeaseServer, type FakeLeaseTransport, type Latency } from './fake-lease-server.ts';

const LEASE = 15_000;
const RENEW = 10_000;
const RETRY = 2_000;

function elector(
  clock: FakeClock,
  t: FakeLeaseTransport,
  identity: string,
  onStartedLeading?: () => void,
): LeaderElector {
  return new LeaderElector({
    ...(onStartedLeading ? { onStartedLeading } : {}),
    client: kubeLeaseClient(t, 'default', 'tidemark', isNotFound),
    identity,
    clock,
    leaseDurationMs: LEASE,
    renewDeadlineMs: RENEW,
    retryPeriodMs: RETRY,
    random: () => 0,
  });
}

/** The latest time a write the elector could start now may still run (now + its budget), or undefined. */
function fenceOf(clock: FakeClock, e: LeaderElector): number | undefined {
  const budget = e.writeBudgetMs();
  return budget > 0 ? clock.now() + budget : undefined;
}

describe('LeaderElector with Lease requests that take time', () => {
  it("a GET sent before the holder's renewal and answered after it: the candidate waits a lease duration from the answer", async () => {
    const clock = new FakeClock(0);
    const server = new FakeLeaseServer(clock);
    const ta = server.client();
    const tb = server.client();
    const a = elector(clock, ta, 'a');
    const b = elector(clock, tb, 'b');
    assert.equal(await a.tryAcquireOrRenew(), true, 'a takes the free lease at 0 s');

    await clock.advance(5_500);
    // b's GET leaves at 5.5 s and reaches the server at 10.1 s, after a's renewal at 10 s.
    tb.setLatency({ requestMs: 4_600 });
    const bFirst = b.tryAcquireOrRenew();
    await clock.advance(4_500);
    assert.equal(clock.now(), 10_000);
    assert.equal(await a.tryAcquireOrRenew(), true, 'a renews at 10 s');
    const fenceA = fenceOf(clock, a);
    assert.equal(fenceA, 22_500, "a's writes may run until 10 s + lease duration - half the margin");
    // a never reaches the server again (it crashed, or its network is cut): its writes already sent
    // may still run until its fence.
    ta.cut();
    await clock.advance(100);
    assert.equal(await bFirst, false, 'b sees the lease a renewed at 10 s');
    tb.setLatency({});

    // b tries every half second from 10.5 s (more often than any retry period) until it wins.
    await clock.advance(400);
    let tookAt: number | undefined;
    while (tookAt === undefined && clock.now() < 60_000) {
      await clock.advance(500);
      if (await b.tryAcquireOrRenew()) tookAt = clock.now();
    }
    assert.notEqual(tookAt, undefined, 'b never took the lease a stopped renewing');
    assert.ok(
      (tookAt ?? 0) >= 22_500,
      `b took the lease at ${tookAt} ms while a's writes may run until ${fenceA} ms: two leaders write at once`,
    );
  });

  it("a renewal whose answer comes late does not stretch the holder's fence", async () => {
    const clock = new FakeClock(0);
    const server = new FakeLeaseServer(clock);
    const ta = server.client();
    const a = elector(clock, ta, 'a');
    assert.equal(await a.tryAcquireOrRenew(), true);
    await clock.advance(RETRY);
    // The renewal (the PUT) lands at once; its answer takes 3 s to come back.
    ta.setLatency((req) => (req.method === 'PUT' ? { responseMs: 3_000 } : {}));
    const renewing = a.tryAcquireOrRenew();
    await flush(); // the GET is answered and the PUT sent before time moves on
    await clock.advance(3_000);
    assert.equal(await renewing, true);
    assert.equal(
      fenceOf(clock, a),
      RETRY + LEASE - (LEASE - RENEW) / 2,
      'the fence counts from when the renewal was sent, not from its answer',
    );
  });

  it('whatever the latencies, a candidate leads only after the last fence of the holder it replaced (fast-check)', async () => {
    // Mostly quick, sometimes slow: a slow GET among quick ones is what a fence must survive.
    const ms = fc.oneof(fc.constant(0), fc.nat({ max: 500 }), fc.nat({ max: 6_000 }));
    const latency = fc.record({ requestMs: ms, responseMs: ms });
    await fc.assert(
      fc.asyncProperty(
        fc.array(latency, { minLength: 1, maxLength: 8 }),
        fc.array(latency, { minLength: 1, maxLength: 8 }),
        fc.integer({ min: 0, max: 3_000 }),
        fc.integer({ min: 1_000, max: 15_000 }),
        async (latA, latB, bStartsAt, aCutAt) => {
          const clock = new FakeClock(0);
          const server = new FakeLeaseServer(clock);
          const cycle = (ls: Latency[]) => {
            let i = 0;
            return () => ls[i++ % ls.length] as Latency;
          };
          const ta = server.client(cycle(latA));
          const tb = server.client(cycle(latB));
          const a = elector(clock, ta, 'a');
          let bLeadsAt: number | undefined;
          const b = elector(clock, tb, 'b', () => {
            bLeadsAt ??= clock.now();
          });
          a.start();
          let fenceA = Number.NEGATIVE_INFINITY;
          // b starts within the first 3 s; a is cut off later and never renews again.
          for (let t = 0; bLeadsAt === undefined && t < aCutAt + 6 * LEASE; t += 100) {
            if (t === bStartsAt - (bStartsAt % 100)) b.start();
            if (t >= aCutAt) ta.cut();
            await clock.advance(100);
            if (bLeadsAt === undefined) fenceA = Math.max(fenceA, fenceOf(clock, a) ?? fenceA);
          }
          assert.notEqual(bLeadsAt, undefined, `b never led after a was cut off at ${aCutAt} ms`);
          assert.ok(
            (bLeadsAt ?? 0) >= fenceA,
            `b leads from ${bLeadsAt} ms while a's writes may run until ${fenceA} ms`,
          );
        },
      ),
      { seed: 1818, numRuns: 100 },
    );
  });
});
