import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LeaderElector, type LeaseClient, microTime } from '../../src/operator/leader.ts';
import { FakeClock } from './fake-clock.ts';
import { FakeLease } from './fake-lease.ts';

function elector(lease: LeaseClient, identity: string, clock: FakeClock, log: string[] = []) {
  return new LeaderElector({
    client: lease,
    identity,
    clock,
    // The Lease's wall-clock fields follow the fake clock too: with Date.now two renewals in the
    // same millisecond wrote the same renewTime and a CI run failed on it.
    wallNow: () => clock.now(),
    leaseDurationMs: 15_000,
    renewDeadlineMs: 10_000,
    retryPeriodMs: 2_000,
    random: () => 0,
    onStartedLeading: () => log.push(`${identity}:start`),
    onStoppedLeading: () => log.push(`${identity}:stop`),
  });
}

describe('LeaderElector', () => {
  it('creates the lease when there is none and leads', async () => {
    const clock = new FakeClock();
    const lease = new FakeLease();
    const log: string[] = [];
    const a = elector(lease, 'a', clock, log);
    assert.equal(await a.tryAcquireOrRenew(), true);
    assert.equal(a.isLeader(), true);
    assert.equal(lease.record?.holderIdentity, 'a');
    assert.equal(lease.record?.leaseDurationSeconds, 15);
    assert.equal(lease.record?.leaseTransitions, 0);
    assert.match(lease.record?.renewTime ?? '', /\.\d{6}Z$/, 'MicroTime has six fractional digits');
    assert.deepEqual(log, ['a:start']);
  });

  it('a candidate waits for the full lease duration on its own clock before taking over', async () => {
    const clock = new FakeClock();
    const lease = new FakeLease();
    const a = elector(lease, 'a', clock);
    const b = elector(lease, 'b', clock);
    await a.tryAcquireOrRenew();
    assert.equal(await b.tryAcquireOrRenew(), false);
    // a dies (stops renewing). b sees the same record until it expires by b's clock.
    await clock.advance(14_000);
    assert.equal(await b.tryAcquireOrRenew(), false);
    await clock.advance(1_000);
    assert.equal(await b.tryAcquireOrRenew(), true);
    assert.equal(lease.record?.holderIdentity, 'b');
    assert.equal(lease.record?.leaseTransitions, 1);
  });

  it('a renewed lease is never taken over', async () => {
    const clock = new FakeClock();
    const lease = new FakeLease();
    const a = elector(lease, 'a', clock);
    const b = elector(lease, 'b', clock);
    await a.tryAcquireOrRenew();
    for (let i = 0; i < 20; i++) {
      await clock.advance(2_000);
      assert.equal(await a.tryAcquireOrRenew(), true);
      assert.equal(await b.tryAcquireOrRenew(), false);
    }
    assert.equal(lease.record?.holderIdentity, 'a');
  });

  it('ignores the renewTime written by another clock (skew)', async () => {
    const clock = new FakeClock();
    const lease = new FakeLease();
    // A holder whose clock is an hour behind: its renewTime looks ancient, but it keeps changing.
    lease.record = {
      holderIdentity: 'skewed',
      leaseDurationSeconds: 15,
      renewTime: microTime(clock.now() - 3_600_000),
      resourceVersion: '1',
    };
    const b = elector(lease, 'b', clock);
    assert.equal(await b.tryAcquireOrRenew(), false);
    for (let i = 0; i < 10; i++) {
      await clock.advance(5_000);
      lease.record = {
        ...lease.record,
        renewTime: microTime(clock.now() - 3_600_000),
        resourceVersion: String(i + 2),
      };
      assert.equal(await b.tryAcquireOrRenew(), false);
    }
  });

  it('only one of two simultaneous candidates wins (resourceVersion)', async () => {
    const clock = new FakeClock();
    const lease = new FakeLease();
    lease.record = { holderIdentity: '', leaseDurationSeconds: 1, resourceVersion: '7' };
    const a = elector(lease, 'a', clock);
    const b = elector(lease, 'b', clock);
    const [ra, rb] = await Promise.all([a.tryAcquireOrRenew(), b.tryAcquireOrRenew()]);
    assert.equal(Number(ra) + Number(rb), 1);
    assert.equal(a.isLeader() !== b.isLeader(), true);
  });

  it('an empty holder (released lease) is taken at once', async () => {
    const clock = new FakeClock();
    const lease = new FakeLease();
    const a = elector(lease, 'a', clock);
    const b = elector(lease, 'b', clock);
    await a.tryAcquireOrRenew();
    assert.equal(await b.tryAcquireOrRenew(), false);
    await a.stop();
    assert.equal(a.isLeader(), false);
    assert.equal(lease.record?.holderIdentity, '');
    assert.equal(lease.record?.leaseDurationSeconds, 1);
    assert.equal(await b.tryAcquireOrRenew(), true);
  });

  it('a leader that cannot renew stops acting at the renew deadline, before the lease expires', async () => {
    const clock = new FakeClock();
    const lease = new FakeLease();
    const log: string[] = [];
    const a = elector(lease, 'a', clock, log);
    await a.tryAcquireOrRenew();
    lease.down = true;
    await clock.advance(6_000);
    assert.equal(await a.tryAcquireOrRenew(), true, 'still within the deadline');
    await clock.advance(3_999);
    assert.equal(a.isLeader(), true);
    await clock.advance(1);
    // isLeader() turns false by the clock alone, even before the loop runs again.
    assert.equal(a.isLeader(), false);
    assert.equal(await a.tryAcquireOrRenew(), false);
    assert.deepEqual(log, ['a:start', 'a:stop']);
    // Meanwhile nobody else could have taken it: 10 s < 15 s.
    const b = elector(lease, 'b', clock);
    lease.down = false;
    assert.equal(await b.tryAcquireOrRenew(), false);
  });

  it('a leader that sees another holder stops at once', async () => {
    const clock = new FakeClock();
    const lease = new FakeLease();
    const log: string[] = [];
    const a = elector(lease, 'a', clock, log);
    await a.tryAcquireOrRenew();
    lease.record = { ...lease.record!, holderIdentity: 'intruder', resourceVersion: String(++lease.rv) };
    assert.equal(await a.tryAcquireOrRenew(), false);
    assert.equal(a.isLeader(), false);
    assert.deepEqual(log, ['a:start', 'a:stop']);
  });

  it('the loop renews every retry period and stop() releases', async () => {
    const clock = new FakeClock();
    const lease = new FakeLease();
    const a = elector(lease, 'a', clock);
    a.start();
    await clock.advance(0);
    assert.equal(a.isLeader(), true);
    const w = lease.writes;
    await clock.advance(10_000);
    assert.equal(lease.writes - w, 5);
    await a.stop();
    assert.equal(lease.record?.holderIdentity, '');
    await clock.advance(10_000);
    assert.equal(lease.record?.holderIdentity, '', 'no renew after stop');
  });

  it('keeps its acquireTime and transitions while renewing', async () => {
    const clock = new FakeClock();
    const lease = new FakeLease();
    const a = elector(lease, 'a', clock);
    await a.tryAcquireOrRenew();
    const acquired = lease.record?.acquireTime;
    await clock.advance(2000);
    await a.tryAcquireOrRenew();
    assert.equal(lease.record?.acquireTime, acquired);
    assert.notEqual(lease.record?.renewTime, acquired);
    assert.equal(lease.record?.leaseTransitions, 0);
  });

  it('leadingSince: when the unbroken hold began; a renewal after the renew deadline starts a new one', async () => {
    const clock = new FakeClock();
    const lease = new FakeLease();
    const a = elector(lease, 'a', clock);
    assert.equal(a.leadingSince, undefined);
    await a.tryAcquireOrRenew();
    const first = clock.now();
    assert.equal(a.leadingSince, first);
    await clock.advance(2_000);
    await a.tryAcquireOrRenew();
    assert.equal(a.leadingSince, first, 'a renewal in time continues the hold');
    // The renew deadline passes without a renewal (the deadline timer is not run: as if late).
    clock.t += 10_000;
    assert.equal(a.leadingSince, undefined, 'not leading past the deadline');
    await a.tryAcquireOrRenew();
    assert.equal(a.leadingSince, clock.now(), 'a new hold');
  });
});
