// Several replicas' memberships on one fake clock and one in-memory Lease API:
// at every 100 ms step, no policy is owned by two replicas, and a replica takes
// a policy over only after the previous owner's last write could have ended
// (its write budget), through joins, a partition, a dead replica and a
// graceful stop.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isNotFound } from '../../src/kube/api-client.ts';
import { Membership } from '../../src/operator/membership.ts';
import { FakeClock } from './fake-clock.ts';
import { FakeLeaseServer, type LatencyOf } from './fake-lease-server.ts';

const LD = 6_000;
const RD = 4_000;
const RP = 1_000;
const UIDS = Array.from({ length: 300 }, (_, i) => `0000${i.toString(16)}-uid-${i * 7919}`);

class Cluster {
  readonly clock = new FakeClock(1_000_000);
  readonly server = new FakeLeaseServer(this.clock);
  /** Each replica's request latency (none by default). */
  readonly #latency: (id: string) => LatencyOf;

  constructor(latency: (id: string) => LatencyOf = () => ({})) {
    this.#latency = latency;
  }

  readonly members = new Map<string, { m: Membership; t: ReturnType<FakeLeaseServer['client']> }>();
  /** Per policy: who owned it last and until when its writes could reach the server. */
  readonly fence = new Map<string, { who: string; until: number }>();
  /** Per policy, the longest time nobody owned it. */
  readonly gaps = new Map<string, { since: number; longest: number }>();

  add(id: string): Membership {
    const t = this.server.client(this.#latency(id));
    const m = new Membership({
      transport: t,
      namespace: 'default',
      group: 'tidemark-leader',
      identity: id,
      isNotFound,
      leaseDurationMs: LD,
      renewDeadlineMs: RD,
      retryPeriodMs: RP,
      clock: this.clock,
    });
    this.members.set(id, { m, t });
    m.start();
    return m;
  }

  owners(uid: string): string[] {
    return [...this.members].filter(([, { m }]) => m.owns(uid)).map(([id]) => id);
  }

  /** Advances in 100 ms steps, checking the fencing invariant at each. */
  async run(ms: number): Promise<void> {
    for (let s = 0; s < ms; s += 100) {
      await this.clock.advance(100);
      const now = this.clock.now();
      for (const uid of UIDS) {
        const owners = this.owners(uid);
        assert.ok(owners.length <= 1, `${uid} owned by ${owners} at ${now}`);
        const gap = this.gaps.get(uid) ?? { since: now, longest: 0 };
        this.gaps.set(uid, gap);
        const who = owners[0];
        if (!who) {
          gap.longest = Math.max(gap.longest, now - gap.since);
          continue;
        }
        gap.since = now;
        const prev = this.fence.get(uid);
        if (prev && prev.who !== who) {
          assert.ok(
            now >= prev.until,
            `${who} took ${uid} at ${now}; ${prev.who} could write until ${prev.until}`,
          );
        }
        const budget = this.members.get(who)!.m.writeBudgetMs();
        const until = Math.max(prev?.who === who ? prev.until : 0, now + budget);
        this.fence.set(uid, { who, until });
      }
    }
  }

  share(id: string): number {
    return UIDS.filter((u) => this.members.get(id)!.m.owns(u)).length;
  }

  longestGap(): number {
    return Math.max(...[...this.gaps.values()].map((g) => g.longest));
  }

  resetGaps(): void {
    this.gaps.clear();
  }
}

/** Latencies drawn from a seeded generator (each replica its own), up to `maxMs` each way. */
function jittered(maxMs: number): (id: string) => LatencyOf {
  return (id) => {
    let x = [...id].reduce((h, c) => (h * 31 + c.charCodeAt(0)) >>> 0, 2166136261);
    const next = () => {
      x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
      return Math.floor((x / 2 ** 32) * maxMs);
    };
    return () => ({ requestMs: next(), responseMs: next() });
  };
}

describe('Membership (sharding) on a fake clock', () => {
  it('three replicas split the policies; a new one waits a lease duration, then takes its share', async () => {
    const c = new Cluster();
    for (const id of ['a', 'b', 'c']) c.add(id);
    await c.run(LD - 500);
    assert.equal(c.members.get('a')!.m.acting(), false, 'no replica acts before a lease duration');
    await c.run(2 * RP + 500);
    for (const id of ['a', 'b', 'c']) {
      assert.equal(c.members.get(id)!.m.acting(), true);
      assert.ok(Math.abs(c.share(id) - 100) <= 20, `${id} owns ${c.share(id)}`);
    }
    assert.equal(UIDS.filter((u) => c.owners(u).length === 1).length, 300, 'every policy has an owner');

    const d = c.add('d');
    await c.run(LD - 1_000);
    assert.equal(d.acting(), false);
    assert.equal(c.share('d'), 0);
    await c.run(2 * RP + 1_000);
    assert.equal(d.acting(), true);
    assert.ok(Math.abs(c.share('d') - 75) <= 20, `d owns ${c.share('d')}`);
    assert.equal(UIDS.filter((u) => c.owners(u).length === 1).length, 300);
  });

  it('a partitioned replica stops acting before its policies move; a dead one loses them within a lease duration', async () => {
    const c = new Cluster();
    for (const id of ['a', 'b', 'c']) c.add(id);
    await c.run(LD + 2 * RP);
    c.resetGaps();
    // b's Lease writes fail (its target writes would not: the invariant checks its write budget).
    c.members.get('b')!.t.refuseWrites(true);
    await c.run(LD + 3 * RP);
    assert.equal(c.members.get('b')!.m.acting(), false);
    assert.equal(c.share('b'), 0);
    assert.equal(UIDS.filter((u) => c.owners(u).length === 1).length, 300, 'a and c own them all');
    const gap = c.longestGap();
    assert.ok(gap <= LD + 2 * RP, `b's policies had no owner for ${gap} ms`);

    // c dies: nothing of it answers any more.
    c.resetGaps();
    c.members.get('c')!.t.cut();
    await c.run(LD + 3 * RP);
    assert.equal(c.share('a'), 300);

    // b heals: it rejoins as a new member and waits a lease duration again.
    c.members.get('b')!.t.refuseWrites(false);
    await c.run(2 * RP);
    assert.equal(c.members.get('b')!.m.acting(), false, 'a rejoining replica waits');
    await c.run(LD + RP);
    assert.ok(c.share('b') > 100, `b owns ${c.share('b')} again`);
  });

  it('a replica whose member list fails stops acting before a joiner could start, though its Lease renews', async () => {
    const c = new Cluster();
    for (const id of ['a', 'b']) c.add(id);
    await c.run(LD + 2 * RP);
    const a = c.members.get('a')!;
    assert.equal(a.m.acting(), true);
    a.t.refuseLists(true);
    // A join it cannot see: d must not find a still acting on d's policies when it starts.
    c.add('d');
    // The list's write budget: lease duration less half the margin to the renew deadline.
    await c.run(LD - (LD - RD) / 2);
    assert.equal(a.m.acting(), false, 'a view that may have missed a joiner is not acted on');
    assert.equal(a.m.writeBudgetMs(), 0);
    await c.run(LD);
    assert.equal(c.share('a'), 0);
    a.t.refuseLists(false);
    await c.run(2 * RP);
    assert.ok(c.share('a') > 50, 'a acts again once it lists (its Lease never lapsed)');
  });

  it('with every request taking up to 300 ms each way (a renewal then ends within the renew deadline): one owner per policy, takeovers after the fences', async () => {
    const c = new Cluster(jittered(300));
    for (const id of ['a', 'b', 'c']) c.add(id);
    await c.run(LD + 4 * RP);
    for (const id of ['a', 'b', 'c']) assert.equal(c.members.get(id)!.m.acting(), true, `${id} acts`);
    assert.equal(UIDS.filter((u) => c.owners(u).length === 1).length, 300, 'every policy has an owner');
    // A join, then a dead replica, each checked at every step by run(): never two owners,
    // never a takeover before the previous owner's last write could have ended.
    c.add('d');
    await c.run(LD + 4 * RP);
    assert.ok(c.share('d') > 40, `d owns ${c.share('d')}`);
    c.members.get('b')!.t.cut();
    await c.run(LD + 4 * RP);
    assert.equal(c.share('b'), 0);
    assert.equal(UIDS.filter((u) => c.owners(u).length === 1).length, 300, 'a, c and d own them all');
  });

  it("a list answered late counts from when it was sent: a joiner the list missed acts only after the lister's fence", async () => {
    let slow = false;
    let listSentAt = Number.NEGATIVE_INFINITY;
    const c: Cluster = new Cluster((id) =>
      id !== 'a'
        ? {}
        : (req) => {
            if (!slow || !req.path.includes('?labelSelector=')) return {};
            listSentAt = c.clock.now();
            // Read by the server at once, answered 2.5 s later: the answer is 2.5 s old on arrival.
            return { responseMs: 2_500 };
          },
    );
    for (const id of ['a', 'b']) c.add(id);
    await c.run(LD + 2 * RP);
    slow = true;
    await c.run(4 * RP);
    // d joins right after a's list was read: that list cannot show d, and arrives 2.5 s later.
    while (c.clock.now() - listSentAt > 100) await c.run(100);
    const d = c.add('d');
    // run() asserts at every step that d takes none of a's policies before a's writes could end.
    await c.run(2 * LD + 4 * RP);
    assert.equal(d.acting(), true);
    assert.ok(c.share('d') > 40, `d owns ${c.share('d')}`);
  });

  it('a graceful stop hands over at the next list, and old Leases are deleted', async () => {
    const c = new Cluster();
    for (const id of ['a', 'b']) c.add(id);
    await c.run(LD + 2 * RP);
    const a = c.members.get('a')!.m;
    // The operator drains its ticks before it releases: none of a's writes is in flight.
    for (const [uid, f] of c.fence) if (f.who === 'a') c.fence.set(uid, { who: 'a', until: 0 });
    await a.stop();
    c.members.delete('a');
    await c.run(RP + 100);
    assert.equal(c.share('b'), 300, 'b took them all within one retry period');
    await c.run(10 * LD + RP);
    assert.deepEqual(
      [...c.server.leases.keys()].map((k) => k.split('-member-')[1]?.split('-')[0]),
      ['b'],
      "a's released Lease was collected",
    );
  });
});
