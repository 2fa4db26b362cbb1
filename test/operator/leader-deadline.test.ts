// Regression: a leader whose renew request hangs (a network partition that
// black-holes packets, test/faults/operator.int.test.ts) stepped down only when
// that request timed out, so tidemark_leader said 1 for seconds after the
// process had stopped acting. It now steps down, visibly, at the renew deadline.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LeaderElector, type LeaseClient, type LeaseRecord } from '../../src/operator/leader.ts';
import { FakeClock, flush } from './fake-clock.ts';

class HangingLease implements LeaseClient {
  record: LeaseRecord | undefined;
  rv = 0;
  hang = false;
  #never = new Promise<never>(() => {});
  async get() {
    if (this.hang) return this.#never;
    return this.record ? { ...this.record } : undefined;
  }
  async create(r: LeaseRecord) {
    this.record = { ...r, resourceVersion: String(++this.rv) };
    return { ...this.record };
  }
  async update(r: LeaseRecord) {
    if (this.hang) return this.#never;
    this.record = { ...r, resourceVersion: String(++this.rv) };
    return { ...this.record };
  }
}

/** Elector `a` on a hanging-capable Lease (6 s lease, 4 s renew deadline); logs start/stop. */
function leaderA(opts: { start: boolean }) {
  const clock = new FakeClock();
  const lease = new HangingLease();
  const log: string[] = [];
  const a = new LeaderElector({
    client: lease,
    identity: 'a',
    clock,
    leaseDurationMs: 6_000,
    renewDeadlineMs: 4_000,
    retryPeriodMs: 1_000,
    random: () => 0,
    ...(opts.start ? { onStartedLeading: () => log.push('start') } : {}),
    onStoppedLeading: () => log.push('stop'),
  });
  return { clock, lease, log, a };
}

describe('LeaderElector renew deadline', () => {
  it('steps down at the deadline while a renew request hangs', async () => {
    const { clock, lease, log, a } = leaderA({ start: true });
    a.start();
    await flush();
    assert.deepEqual(log, ['start']);
    await clock.advance(2_000); // renewed at +1 s and +2 s
    lease.hang = true;
    await clock.advance(3_900);
    assert.deepEqual(log, ['start'], 'still within the deadline of the last renew');
    await clock.advance(200);
    assert.equal(a.isLeader(), false);
    assert.deepEqual(log, ['start', 'stop'], 'told at the deadline, not when the request gives up');
  });

  it('a renewing leader keeps leading', async () => {
    const { clock, log, a } = leaderA({ start: false });
    a.start();
    await flush();
    await clock.advance(30_000);
    assert.equal(a.isLeader(), true);
    assert.deepEqual(log, []);
    await a.stop();
  });
});
