// Regression: lease durations were measured with Date.now(), so a step of the
// wall clock (NTP, a VM resumed, an operator fixing the time) moved them: a step
// forward made the leader step down and let a standby take a lease that was
// still valid; a step back kept a cut-off leader "leading" for as long as the
// step. Durations now come from a monotonic clock; the wall clock only writes
// the Lease's informational timestamps.
import assert from 'node:assert/strict';
import { afterEach, describe, it, mock } from 'node:test';
import { LeaderElector } from '../../src/operator/leader.ts';
import { FakeClock } from './fake-clock.ts';
import { FakeLease } from './fake-lease.ts';

const HOUR = 3_600_000;
let wallOffset = 0;

/** Steps Date.now() (the wall clock) by `ms`; the monotonic clock does not move. */
function stepWallClock(ms: number): void {
  if (wallOffset === 0) {
    const real = Date.now.bind(Date);
    mock.method(Date, 'now', () => real() + wallOffset);
  }
  wallOffset += ms;
}
/** Polls until `ok`, timed by the monotonic clock (Date.now is the thing these tests step). */
async function until(ok: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const end = performance.now() + timeoutMs;
  while (!ok()) {
    if (performance.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
afterEach(() => {
  mock.restoreAll();
  wallOffset = 0;
});

/** The elector as the operator builds it: no clock injected. */
const elector = (lease: FakeLease, identity: string, ms: { lease: number; renew: number }) =>
  new LeaderElector({
    client: lease,
    identity,
    leaseDurationMs: ms.lease,
    renewDeadlineMs: ms.renew,
    retryPeriodMs: 100,
    random: () => 0,
  });

describe('LeaderElector under wall-clock steps', () => {
  it('a leader does not step down when the wall clock jumps forward', async () => {
    const lease = new FakeLease();
    const a = elector(lease, 'a', { lease: 90_000, renew: 60_000 });
    assert.equal(await a.tryAcquireOrRenew(), true);
    stepWallClock(HOUR);
    assert.equal(a.isLeader(), true, 'renewed a moment ago by any real measure');
  });

  it('a standby does not take a valid lease when the wall clock jumps forward', async () => {
    const lease = new FakeLease();
    const a = elector(lease, 'a', { lease: 90_000, renew: 60_000 });
    const b = elector(lease, 'b', { lease: 90_000, renew: 60_000 });
    assert.equal(await a.tryAcquireOrRenew(), true);
    assert.equal(await b.tryAcquireOrRenew(), false);
    stepWallClock(HOUR);
    assert.equal(await b.tryAcquireOrRenew(), false, 'the lease was renewed moments ago');
    assert.equal(lease.record?.holderIdentity, 'a');
  });

  it('a cut-off leader still steps down at its real deadline when the wall clock jumps back', async () => {
    const lease = new FakeLease();
    const a = elector(lease, 'a', { lease: 600, renew: 400 });
    a.start();
    await until(() => a.isLeader(), 'a leads');
    lease.hang = true;
    stepWallClock(-HOUR);
    // Generous: the real deadline is 400 ms away; an hour-long step back must not stretch it.
    await until(() => !a.isLeader(), 'a steps down after its renew deadline');
    lease.heal();
    await a.stop();
  });
});

describe('LeaderElector with an injected monotonic clock', () => {
  it('writes wall-clock timestamps but measures on the monotonic clock, across steps both ways', async () => {
    const clock = new FakeClock(0);
    let wall = Date.UTC(2026, 0, 1);
    const lease = new FakeLease();
    const opts = {
      client: lease,
      clock,
      wallNow: () => wall,
      leaseDurationMs: 15_000,
      renewDeadlineMs: 10_000,
    };
    const a = new LeaderElector({ ...opts, identity: 'a' });
    const b = new LeaderElector({ ...opts, identity: 'b' });
    assert.equal(await a.tryAcquireOrRenew(), true);
    assert.equal(lease.record?.renewTime, '2026-01-01T00:00:00.000000Z');
    assert.equal(await b.tryAcquireOrRenew(), false);
    wall += 10 * HOUR;
    await clock.advance(5_000);
    assert.equal(a.isLeader(), true);
    assert.equal(await b.tryAcquireOrRenew(), false, 'b saw the lease 5 s ago, not 10 h');
    wall -= 20 * HOUR;
    await clock.advance(9_000);
    assert.equal(
      a.isLeader(),
      false,
      'a did not renew for 14 s: past its renew deadline, whatever the wall says',
    );
    await clock.advance(1_000);
    assert.equal(await b.tryAcquireOrRenew(), true, 'b waited 15 s on its own clock');
  });

  it('gives a write no more time than the lease has left, and a non-leader none', async () => {
    const clock = new FakeClock(0);
    const lease = new FakeLease();
    const a = new LeaderElector({
      client: lease,
      identity: 'a',
      clock,
      leaseDurationMs: 15_000,
      renewDeadlineMs: 10_000,
    });
    assert.equal(a.writeBudgetMs(), 0, 'not leading yet');
    await a.tryAcquireOrRenew();
    // Anyone else may take the lease 15 s after this renew at the earliest.
    for (let t = 0; t < 10_000; t += 500) {
      clock.t = t;
      const budget = a.writeBudgetMs();
      assert.ok(budget > 0, `at +${t} ms a write may still be sent`);
      assert.ok(
        t + budget < 15_000,
        `a write sent at +${t} ms ends by +${t + budget} ms, before the lease could pass`,
      );
    }
    clock.t = 10_000;
    assert.equal(a.writeBudgetMs(), 0, 'past the renew deadline: no more writes');
  });
});
