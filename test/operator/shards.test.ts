import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { MemberView, memberGroupLabel, memberLeaseName, ownerOf } from '../../src/operator/shards.ts';

const uids = (n: number, seed = 1) => {
  // Deterministic UUID-shaped strings (the API server's uids are random v4 UUIDs).
  let x = seed;
  const hex = () => {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    return (x >>> 8).toString(16).padStart(6, '0');
  };
  return Array.from(
    { length: n },
    () =>
      `${hex()}${hex().slice(0, 2)}-${hex().slice(0, 4)}-4${hex().slice(0, 3)}-a${hex().slice(0, 3)}-${hex()}${hex()}`,
  );
};

function counts(ids: string[], members: string[]): Map<string, number> {
  const c = new Map(members.map((m) => [m, 0]));
  for (const u of ids) {
    const o = ownerOf(u, members)!;
    c.set(o, (c.get(o) ?? 0) + 1);
  }
  return c;
}

describe('rendezvous hashing', () => {
  const members = [
    'tidemark-7f9c-abcde_1_x1y2z3',
    'tidemark-7f9c-fghij_1_q8w9e0',
    'tidemark-7f9c-klmno_1_r5t6y7',
  ];

  for (const n of [300, 10_000]) {
    it(`balances ${n} policies over 3 members within ±20 %`, () => {
      const c = counts(uids(n), members);
      const fair = n / 3;
      for (const [m, k] of c) {
        assert.ok(Math.abs(k - fair) <= 0.2 * fair, `${m} owns ${k} of ${n} (fair ${fair.toFixed(0)})`);
      }
      console.log(`# ${n} policies over 3 members: ${[...c.values()].join(' / ')}`);
    });
  }

  it('balances random UUIDs and random member names too (property, fixed seed)', () => {
    const seed = 20261202;
    fc.assert(
      fc.property(fc.array(fc.uuid(), { minLength: 3, maxLength: 3 }), fc.integer(), (names, s) => {
        fc.pre(new Set(names).size === 3);
        const c = counts(uids(3000, s), names);
        for (const k of c.values()) if (Math.abs(k - 1000) > 200) return false;
        return true;
      }),
      { seed, numRuns: 50, verbose: true },
    );
  });

  it('a member that joins takes only policies it now owns, about 1/N of them', () => {
    const ids = uids(10_000);
    const before = new Map(ids.map((u) => [u, ownerOf(u, members)]));
    const joined = [...members, 'tidemark-7f9c-pqrst_1_u1i2o3'];
    let moved = 0;
    for (const u of ids) {
      const now = ownerOf(u, joined);
      if (now !== before.get(u)) {
        assert.equal(now, joined[3], 'a moved policy moves to the new member only');
        moved++;
      }
    }
    assert.ok(Math.abs(moved - 2500) <= 0.2 * 2500, `${moved} of 10,000 moved (1/4 expected)`);
  });

  it('a member that leaves gives away only its own policies, spread over the others', () => {
    const ids = uids(10_000);
    const gone = members[1]!;
    const left = members.filter((m) => m !== gone);
    const to = new Map(left.map((m) => [m, 0]));
    for (const u of ids) {
      const was = ownerOf(u, members);
      const now = ownerOf(u, left)!;
      if (was !== gone) assert.equal(now, was, 'a policy of a remaining member stays');
      else to.set(now, to.get(now)! + 1);
    }
    const [a, b] = [...to.values()] as [number, number];
    assert.ok(Math.abs(a - b) <= 0.2 * ((a + b) / 2), `the leaver's policies split ${a} / ${b}`);
  });

  it('is the same on every replica: it depends on the member set, not its order', () => {
    for (const u of uids(200)) {
      assert.equal(ownerOf(u, members), ownerOf(u, [...members].reverse()));
    }
    assert.equal(ownerOf(randomUUID(), []), undefined);
  });
});

describe('MemberView', () => {
  const rec = (name: string, holder: string, renew: string, rv: string, secs = 10) => ({
    name,
    holderIdentity: holder,
    leaseDurationSeconds: secs,
    renewTime: renew,
    resourceVersion: rv,
  });

  it('a member is live while its Lease changes within the lease duration on our clock', () => {
    const v = new MemberView();
    v.observe([rec('a', 'a', 't1', '1'), rec('b', 'b', 't1', '2')], 0);
    assert.deepEqual(v.live(9_999), ['a', 'b']);
    // a renews, b does not.
    v.observe([rec('a', 'a', 't2', '3'), rec('b', 'b', 't1', '2')], 5_000);
    assert.deepEqual(v.live(10_000), ['a'], 'b expired 10 s after its last change was seen');
    assert.deepEqual(v.live(14_999), ['a']);
    assert.deepEqual(v.live(15_000), []);
  });

  it('ignores the renewTime another machine wrote (an hour behind still counts as renewed)', () => {
    const v = new MemberView();
    v.observe([rec('a', 'a', '2020-01-01T00:00:00.000000Z', '1')], 1_000_000);
    assert.deepEqual(v.live(1_000_000), ['a']);
  });

  it('a released Lease (no holder) and a deleted one are gone at once', () => {
    const v = new MemberView();
    v.observe([rec('a', 'a', 't1', '1'), rec('b', 'b', 't1', '2')], 0);
    v.observe([rec('a', '', 't2', '3')], 100);
    assert.deepEqual(v.live(100), []);
  });

  it('stale Leases: released or dead for the given age', () => {
    const v = new MemberView();
    v.observe([rec('a', 'a', 't1', '1'), rec('b', '', 't1', '2', 1)], 0);
    assert.deepEqual(v.stale(99_999, 100_000), []);
    assert.deepEqual(
      v.stale(100_000, 100_000).map((r) => r.name),
      ['a', 'b'],
    );
  });
});

describe('member Lease names', () => {
  it('are DNS labels of at most 63 characters, distinct for distinct identities', () => {
    const a = memberLeaseName('tidemark-leader', 'Tidemark-7f9c-abcde_12_x1y2z3');
    const b = memberLeaseName('tidemark-leader', 'tidemark-7f9c-abcde-12-x1y2z3');
    for (const n of [a, b, memberLeaseName('x'.repeat(80), 'y'.repeat(300))]) {
      assert.match(n, /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/);
    }
    assert.notEqual(a, b);
    assert.match(a, /^tidemark-leader-member-tidemark-7f9c-abcde-12-x1y2z3-/);
  });

  it('group labels are label values', () => {
    assert.equal(memberGroupLabel('tidemark-leader'), 'tidemark-leader');
    assert.match(memberGroupLabel('-'.repeat(70)), /^g[a-z0-9]+$/);
  });
});
