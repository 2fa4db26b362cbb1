// What a replica holds of the policies it watches (src/operator/policy-store.ts): owned ones
// in full, the others as stubs that still answer every ownership question.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ScalingPolicy } from '../../src/crd/types.generated.ts';
import type { KubeRequest } from '../../src/kube/api-client.ts';
import { listPaged } from '../../src/operator/compacting-watch.ts';
import { claimOf, otherOwner } from '../../src/operator/ownership.ts';
import { isStub, PolicyStore, stubOf } from '../../src/operator/policy-store.ts';
import { policy } from '../reconciler/helpers.ts';

function named(name: string, target: string, created: string, generation = 1): ScalingPolicy {
  const p = policy({ targetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: target } }, name);
  p.metadata = { ...p.metadata, creationTimestamp: created, generation, resourceVersion: `${generation}0` };
  return p;
}

/** A store over `cluster` (what the API server holds), owning the uids in `owned`; counts reads. */
function storeOver(cluster: ScalingPolicy[], owned: Set<string>) {
  const calls = { reads: 0, lists: 0 };
  const store = new PolicyStore({
    holdsFull: (uid) => owned.has(uid),
    read: async (ns, name) => {
      calls.reads++;
      return cluster.find((p) => p.metadata.namespace === ns && p.metadata.name === name);
    },
    list: async (keep) => {
      calls.lists++;
      for (const p of cluster) keep(p);
    },
  });
  for (const p of cluster) store.set(p.metadata.uid!, store.admit(p));
  return { store, calls };
}

describe('stubOf', () => {
  it('keeps only what ownership, target conflicts and the timer read', () => {
    const p = named('web', 'web', '2026-01-01T00:00:00Z', 3);
    const s = stubOf(p);
    assert.deepEqual(s.metadata, {
      uid: p.metadata.uid,
      name: 'web',
      namespace: 'shop',
      resourceVersion: '30',
      creationTimestamp: '2026-01-01T00:00:00Z',
      generation: 3,
    });
    assert.deepEqual(s.spec, {
      targetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' },
      pollingIntervalSeconds: 5,
    });
    assert.equal(s.status, undefined);
    assert.ok(isStub(s));
    assert.ok(!isStub(p));
  });

  it('gives the same owner of every target as the full policies', () => {
    const policies = [
      named('b-new', 'shared', '2026-01-03T00:00:00Z'),
      named('a-old', 'shared', '2026-01-01T00:00:00Z'),
      named('a-tie', 'tied', '2026-01-02T00:00:00Z'),
      named('b-tie', 'tied', '2026-01-02T00:00:00Z'),
      named('alone', 'alone', '2026-01-05T00:00:00Z'),
    ];
    const hpas = [
      { metadata: { namespace: 'shop', name: 'h' }, spec: { scaleTargetRef: policies[4]!.spec.targetRef } },
    ];
    const decide = (ps: ScalingPolicy[]) =>
      ps.map((p) =>
        otherOwner(
          claimOf(p),
          ps.map((q) => claimOf(q)),
          hpas,
        ),
      );
    const full = decide(policies);
    assert.deepEqual(full, [
      'ScalingPolicy shop/a-old',
      undefined,
      undefined,
      'ScalingPolicy shop/a-tie',
      'HorizontalPodAutoscaler shop/h',
    ]);
    assert.deepEqual(decide(policies.map(stubOf)), full);
  });
});

describe('PolicyStore', () => {
  it('holds the owned policies in full and the others as stubs', () => {
    const cluster = [
      named('mine', 'a', '2026-01-01T00:00:00Z'),
      named('theirs', 'b', '2026-01-01T00:00:00Z'),
    ];
    const { store } = storeOver(cluster, new Set([cluster[0]!.metadata.uid!]));
    assert.equal(store.get(cluster[0]!.metadata.uid!), cluster[0]);
    assert.ok(isStub(store.get(cluster[1]!.metadata.uid!)!));
    assert.equal(store.fullCount, 1);
    assert.equal(store.size, 2);
  });

  it('reads a policy in full once it becomes owned (a rebalance), once for concurrent ticks', async () => {
    const cluster = [named('moved', 'a', '2026-01-01T00:00:00Z')];
    const uid = cluster[0]!.metadata.uid!;
    const owned = new Set<string>();
    const { store, calls } = storeOver(cluster, owned);
    assert.ok(isStub(store.get(uid)!));
    owned.add(uid);
    const [a, b] = await Promise.all([store.full(uid), store.full(uid)]);
    assert.equal(a, cluster[0]);
    assert.equal(b, cluster[0]);
    assert.equal(calls.reads, 1);
    assert.deepEqual(store.get(uid)!.spec.metrics, cluster[0]!.spec.metrics);
    assert.equal(await store.full(uid), cluster[0]);
    assert.equal(calls.reads, 1);
  });

  it('keeps only the stub again when the policy leaves the share', async () => {
    const cluster = [named('left', 'a', '2026-01-01T00:00:00Z')];
    const uid = cluster[0]!.metadata.uid!;
    const { store } = storeOver(cluster, new Set([uid]));
    store.release(uid);
    assert.ok(isStub(store.get(uid)!));
    assert.equal(store.get(uid)!.metadata.resourceVersion, '10');
  });

  it('reads nothing for a policy deleted, or replaced under its name, meanwhile', async () => {
    const p = named('gone', 'a', '2026-01-01T00:00:00Z');
    const uid = p.metadata.uid!;
    const cluster = [p];
    const owned = new Set<string>();
    const { store } = storeOver(cluster, owned);
    owned.add(uid);
    cluster[0] = { ...p, metadata: { ...p.metadata, uid: 'another' } };
    assert.equal(await store.full(uid), undefined);
    assert.ok(isStub(store.get(uid)!));
    cluster.length = 0;
    assert.equal(await store.full(uid), undefined);
  });

  it('does not take a read older than the stub the watch delivered since', async () => {
    const old = named('edited', 'a', '2026-01-01T00:00:00Z', 1);
    const uid = old.metadata.uid!;
    const owned = new Set<string>();
    const { store } = storeOver([old], owned);
    store.set(uid, stubOf(named('edited', 'a', '2026-01-01T00:00:00Z', 2)));
    owned.add(uid);
    assert.equal(await store.full(uid), undefined);
  });

  it('reads many newly owned policies with one list, the others stay stubs', async () => {
    const cluster = Array.from({ length: 6 }, (_, i) => named(`p${i}`, `t${i}`, '2026-01-01T00:00:00Z'));
    const owned = new Set<string>();
    const { store, calls } = storeOver(cluster, owned);
    for (const p of cluster.slice(0, 3)) owned.add(p.metadata.uid!);
    const refill = store.refill();
    const ticks = await Promise.all(cluster.slice(0, 3).map((p) => store.full(p.metadata.uid!)));
    await refill;
    assert.deepEqual(ticks, cluster.slice(0, 3));
    assert.equal(calls.lists, 1);
    assert.equal(calls.reads, 0);
    assert.equal(store.fullCount, 3);
    for (const p of cluster.slice(3)) assert.ok(isStub(store.get(p.metadata.uid!)!));
  });
});

describe('listPaged', () => {
  it('follows continue, keeps what `keep` returns and the first page’s resourceVersion', async () => {
    const cluster = Array.from({ length: 5 }, (_, i) => named(`p${i}`, `t${i}`, '2026-01-01T00:00:00Z'));
    const paths: string[] = [];
    const transport = async (req: KubeRequest) => {
      paths.push(req.path);
      const url = new URL(req.path, 'http://x');
      const from = Number(url.searchParams.get('continue') ?? 0);
      const limit = Number(url.searchParams.get('limit'));
      const next = from + limit < cluster.length ? String(from + limit) : '';
      return {
        items: cluster.slice(from, from + limit),
        metadata: { resourceVersion: from === 0 ? '100' : '999', continue: next },
      };
    };
    const list = await listPaged(
      transport,
      '/apis/x/scalingpolicies',
      (p) => (p.metadata?.name === 'p1' ? undefined : stubOf(p as ScalingPolicy)),
      2,
    );
    assert.deepEqual(paths, [
      '/apis/x/scalingpolicies?limit=2',
      '/apis/x/scalingpolicies?limit=2&continue=2',
      '/apis/x/scalingpolicies?limit=2&continue=4',
    ]);
    assert.equal(list.resourceVersion, '100');
    assert.deepEqual(
      list.items.map((p) => p.metadata.name),
      ['p0', 'p2', 'p3', 'p4'],
    );
    assert.ok(list.items.every(isStub));
  });
});
