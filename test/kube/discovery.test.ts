import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DiscoveryCache, TargetResolveError } from '../../src/kube/discovery.ts';
import { FakeKube } from '../reconciler/fake-kube.ts';

describe('DiscoveryCache', () => {
  it('resolves the plural and checks for a scale subresource, for any kind', async () => {
    const kube = new FakeKube();
    const d = new DiscoveryCache(kube.transport);
    const dep = await d.resolve('apps/v1', 'Deployment');
    assert.deepEqual(dep, {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      plural: 'deployments',
      namespaced: true,
    });
    assert.equal(
      DiscoveryCache.scalePath(dep, 'shop', 'checkout'),
      '/apis/apps/v1/namespaces/shop/deployments/checkout/scale',
    );
    const w = await d.resolve('example.dev/v1', 'Widget');
    assert.equal(w.plural, 'widgets');
    await assert.rejects(d.resolve('example.dev/v1', 'Gadget'), (e: unknown) => {
      return e instanceof TargetResolveError && e.kind === 'NoScaleSubresource';
    });
    await assert.rejects(d.resolve('apps/v1', 'ControllerRevision'), /no scale subresource/);
    await assert.rejects(d.resolve('none.dev/v1', 'X'), (e: unknown) => {
      return e instanceof TargetResolveError && e.kind === 'UnknownGroupVersion';
    });
  });

  it('the core group lives under /api', () => {
    const p = DiscoveryCache.scalePath(
      { apiVersion: 'v1', kind: 'ReplicationController', plural: 'replicationcontrollers', namespaced: true },
      'a',
      'b',
    );
    assert.equal(p, '/api/v1/namespaces/a/replicationcontrollers/b/scale');
  });

  it('caches per group-version and re-reads on a miss (a CRD installed later)', async () => {
    const kube = new FakeKube();
    let t = 0;
    const d = new DiscoveryCache(kube.transport, { now: () => t, missRefreshMs: 5000 });
    await d.resolve('apps/v1', 'Deployment');
    await d.resolve('apps/v1', 'Deployment');
    assert.equal(kube.count('GET', /^\/apis\/apps\/v1$/), 1);
    await assert.rejects(d.resolve('example.dev/v1', 'Sprocket'), /has no kind Sprocket/);
    kube.discovery['/apis/example.dev/v1']!.push(
      { name: 'sprockets', kind: 'Sprocket', namespaced: true },
      { name: 'sprockets/scale', kind: 'Scale', namespaced: true },
    );
    await assert.rejects(
      d.resolve('example.dev/v1', 'Sprocket'),
      /has no kind/,
      'within missRefreshMs: cached',
    );
    t += 5000;
    assert.equal((await d.resolve('example.dev/v1', 'Sprocket')).plural, 'sprockets');
  });

  it('a transient failure is not cached', async () => {
    const kube = new FakeKube();
    let fail = true;
    const d = new DiscoveryCache(async (req) => {
      if (fail) throw new Error('connection reset');
      return kube.transport(req);
    });
    await assert.rejects(d.resolve('apps/v1', 'Deployment'), /connection reset/);
    fail = false;
    assert.equal((await d.resolve('apps/v1', 'Deployment')).plural, 'deployments');
  });
});
